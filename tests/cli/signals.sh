#!/usr/bin/env bash
# signals.sh: SIGINT, SIGTERM and SIGHUP to a tool that waits leave nothing
# behind (issue 16): the wait is withdrawn, the tool ends with 128 + the
# signal, and prdshm-inspect --check says the segment is healthy.
#
#  1. prdshm-lock waiting for a held lock, each signal: 128 + N, no waiter
#     left, --check 0; the same under timeout(1), as the issue found it;
#     SIGHUP stays ignored under nohup; a signal just before the wait's
#     sleep still ends it (strace, when present).
#  2. prdshm-lock running its command: the signal is passed on, the lock
#     released, the command's status returned (or its death by the signal);
#     Ctrl-C at a terminal (a pseudo-terminal here) reaches the command
#     once, from the terminal, and is not passed on a second time.
#  3. prdshm-agent waiting for an output's lock, each signal: 128 + N, its
#     phase CANCELLED, no waiter left, --check 0.
#  4. A hangup (SIGHUP to the whole process group) of prdshm-run and its
#     agents, one running a phase and one waiting for a phase: 129, the
#     phase CANCELLED, --check 0; prdshm-run sleeps (not spins) while its
#     agents take seconds to stop.
#
# Tools are started with SIGINT and SIGQUIT at their defaults, as a terminal
# starts them (bash ignores them in background jobs).  Waits are bounded
# polls on what the segment or the commands show, never bare sleeps.
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# bg COMMAND...: start it in the background as a terminal would; $! is it.
bg() {
	(
		trap - INT QUIT
		exec "$@"
	) &
	BG_PIDS+=("$!")
}

# The segment's locks, as one line of JSON.
locks_json() {
	"$BIN/prdshm-inspect" --name "$SHM" --json | tr -d ' \n' | grep -o '"locks":\[.*'
}

# waiting PID: the segment shows PID waiting for a lock (each test has at
# most one waiter a lock, so the first waiter's members are enough).
waiting() {
	locks_json | grep -Eq "\"waiters\":\[\{[^]]*\"pid\":$1,"
}

# check_clean "what": --check exits 0 and no lock has a waiter.
check_clean() {
	t_rc 0 "$1: prdshm-inspect --check" "$BIN/prdshm-inspect" --name "$SHM" --check
	if locks_json | grep -q '"waiters":\[{'; then
		not_ok "$1: a waiter is left"
		locks_json | sed 's/^/#   /'
	else
		ok "$1: no waiter left"
	fi
}

# expect_rc PID WANT "what": wait for PID (started with bg) and compare.
expect_rc() {
	local rc
	wait "$1"
	rc=$?
	if [ "$rc" = "$2" ]; then ok "$3 (exit $rc)"; else not_ok "$3: exit $rc, expected $2"; fi
}

signum() {
	kill -l "$1"
}

# ---- 1. prdshm-lock waiting ---------------------------------------------------

# A holder of "res" for the whole section: runs until $TMP/go1 exists.
shm_name
bg "$BIN/prdshm-lock" --name "$SHM" res sh -c "$(hold_cmd "$TMP/held1" "$TMP/go1")"
holder=$!
wait_until 10 test -e "$TMP/held1" || not_ok "holder started"

for sig in INT TERM HUP; do
	bg "$BIN/prdshm-lock" --name "$SHM" -w 60 res true
	pid=$!
	wait_until 10 waiting "$pid" || not_ok "SIG$sig: the waiter never showed"
	kill -s "$sig" "$pid"
	expect_rc "$pid" $((128 + $(signum "$sig"))) "SIG$sig to a waiting prdshm-lock: 128+N"
	check_clean "SIG$sig while waiting"
done

# The issue's case: timeout(1) sends SIGTERM to a waiter.
t_rc 124 "timeout 2 prdshm-lock -x on a held lock" timeout 2 "$BIN/prdshm-lock" --name "$SHM" -x res true
check_clean "timeout(1)"

# nohup leaves SIGHUP ignored, and so does prdshm-lock: the SIGHUP does
# nothing, the SIGTERM after it ends the wait (both may be pending at once:
# the lower number, SIGHUP, comes first).
(
	trap - INT QUIT
	trap '' HUP
	exec "$BIN/prdshm-lock" --name "$SHM" -w 60 res true
) &
pid=$!
BG_PIDS+=("$pid")
wait_until 10 waiting "$pid" || not_ok "nohup: the waiter never showed"
kill -s HUP "$pid"
kill -s TERM "$pid"
expect_rc "$pid" 143 "SIGHUP ignored at start stays ignored (nohup)"
check_clean "nohup"

# A signal whose handler runs just before the wait's sleep, not during it,
# does not end the wait (prdshm.h); the tool's SIGALRM a second later does.
# strace makes that window certain: at the waiter's first futex call (its
# first sleep) it sends SIGTERM and skips the call, which then looks like a
# wake-up.  The log must show a sleep after the SIGTERM, then the SIGALRM.
if strace -o /dev/null -e inject=futex:signal=TERM:error=EAGAIN:when=1 true 2>/dev/null; then
	strace -o "$TMP/strace" -e trace=futex -e inject=futex:signal=TERM:error=EAGAIN:when=1 \
		"$BIN/prdshm-lock" --name "$SHM" -w 10 res true
	rc=$?
	if [ "$rc" = 143 ]; then ok "SIGTERM just before the sleep: 143"; else
		not_ok "SIGTERM just before the sleep: exit $rc, expected 143"; fi
	if sed -n '/--- SIGTERM/,$p' "$TMP/strace" | grep -q 'FUTEX_WAIT.*ETIMEDOUT' &&
		grep -q -- '--- SIGALRM' "$TMP/strace"; then
		ok "SIGTERM just before the sleep: the wait went on until SIGALRM"
	else
		not_ok "SIGTERM just before the sleep: not the window meant"
		sed 's/^/#   /' "$TMP/strace" | head -20
	fi
	check_clean "SIGTERM just before the sleep"
else
	skip "SIGTERM just before the sleep: no strace, or it may not trace here"
fi

touch "$TMP/go1"
expect_rc "$holder" 0 "the holder never noticed"

# ---- 2. prdshm-lock running its command --------------------------------------

# The command says which signal it got, then exits 3.
trap_cmd() {
	local s out=$1 started=$2
	for s in INT TERM HUP; do printf "trap 'echo %s > %s; exit 3' %s; " "$s" "$out" "$s"; done
	echo "touch '$started'; i=0; while [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i+1)); done"
}

for sig in INT TERM HUP; do
	rm -f "$TMP/got" "$TMP/started"
	bg "$BIN/prdshm-lock" --name "$SHM" res sh -c "$(trap_cmd "$TMP/got" "$TMP/started")"
	pid=$!
	wait_until 10 test -e "$TMP/started" || not_ok "SIG$sig: the command never started"
	kill -s "$sig" "$pid"
	expect_rc "$pid" 3 "SIG$sig to prdshm-lock running a command: the command's status"
	if [ "$(cat "$TMP/got" 2>/dev/null)" = "$sig" ]; then
		ok "SIG$sig: passed on to the command"
	else
		not_ok "SIG$sig: the command got '$(cat "$TMP/got" 2>/dev/null)'"
	fi
	t_rc 0 "SIG$sig: the lock is free" "$BIN/prdshm-lock" --name "$SHM" -n res true
	check_clean "SIG$sig while running"
done

# A command that dies of the signal: prdshm-lock dies of it too (128 + N).
rm -f "$TMP/started"
bg "$BIN/prdshm-lock" --name "$SHM" res sh -c "$(hold_cmd "$TMP/started" "$TMP/never")"
pid=$!
wait_until 10 test -e "$TMP/started" || not_ok "the command never started"
kill -s TERM "$pid"
expect_rc "$pid" 143 "SIGTERM kills the command: 143"
t_rc 0 "the lock is free" "$BIN/prdshm-lock" --name "$SHM" -n res true
check_clean "the command died of SIGTERM"

# Ctrl-C at a terminal: the line discipline sends SIGINT to the foreground
# process group (si_code SI_KERNEL), prdshm-lock and the command alike.
# prdshm-lock -v says each signal it passes on: none for this one, and one
# for the SIGTERM a process sends it afterwards.  The driver, in Python for
# its pty module, prints what the terminal showed and what the command got.
cat >"$TMP/ctrl-c.py" <<'EOF'
import os, pty, signal, sys, time
lock, shm, started, out = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    cmd = ("trap 'echo INT >> %s' INT; trap 'echo TERM >> %s; exit 3' TERM; "
           "touch %s; i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
           % (out, out, started))
    os.execv(lock, [lock, "-v", "--name", shm, "res", "sh", "-c", cmd])
def wait_for(cond):
    end = time.monotonic() + 10
    while not cond():
        if time.monotonic() > end:
            os.killpg(pid, signal.SIGKILL)
            sys.exit("timed out")
        time.sleep(0.02)
def lines():
    try:
        return open(out).read().split()
    except OSError:
        return []
wait_for(lambda: os.path.exists(started))
os.write(fd, b"\x03")
wait_for(lambda: "INT" in lines())
os.kill(pid, signal.SIGTERM)
done = []
wait_for(lambda: done.append(os.waitpid(pid, os.WNOHANG)) or done[-1][0] == pid)
st = done[-1][1]
tty = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    tty += b
sys.stdout.write(tty.decode(errors="replace"))
print("exit", os.waitstatus_to_exitcode(st), "got", " ".join(lines()))
EOF
if command -v python3 >/dev/null && [ -e /dev/ptmx ]; then
	rm -f "$TMP/started" "$TMP/got"
	python3 "$TMP/ctrl-c.py" "$BIN/prdshm-lock" "$SHM" "$TMP/started" "$TMP/got" >"$TMP/tty" 2>&1
	t_grep "$TMP/tty" "^exit 3 got INT TERM" "Ctrl-C reaches the command once; a SIGTERM after it, passed on"
	if grep -q "passed signal $(signum INT) " "$TMP/tty"; then
		not_ok "Ctrl-C was passed on a second time"
		sed 's/^/#   /' "$TMP/tty"
	else
		ok "Ctrl-C is not passed on a second time"
	fi
	t_grep "$TMP/tty" "passed signal $(signum TERM) .* on to the command" "a SIGTERM from a process is passed on"
	check_clean "Ctrl-C"
else
	skip "Ctrl-C at a terminal: no python3 or no /dev/ptmx"
fi

# ---- 3. prdshm-agent waiting for an output's lock ----------------------------

cat >"$TMP/out.yaml" <<EOF
wave_delay_seconds: 0
phases:
  - id: writer
    outputs: [out-a]
    command: "true"
EOF

for sig in INT TERM HUP; do
	shm_name
	rm -f "$TMP/held3" "$TMP/go3"
	t_rc 0 "SIG$sig: create" "$BIN/prdshm-create" -q -c "$TMP/out.yaml" --name "$SHM"
	bg "$BIN/prdshm-lock" --name "$SHM" out-a sh -c "$(hold_cmd "$TMP/held3" "$TMP/go3")"
	holder=$!
	wait_until 10 test -e "$TMP/held3" || not_ok "SIG$sig: the holder never started"
	bg "$BIN/prdshm-agent" -q -c "$TMP/out.yaml" --name "$SHM" --id waiter
	pid=$!
	wait_until 10 waiting "$pid" || not_ok "SIG$sig: the agent never waited"
	kill -s "$sig" "$pid"
	expect_rc "$pid" $((128 + $(signum "$sig"))) "SIG$sig to an agent waiting for a lock: 128+N"
	t_rc 0 "SIG$sig: phase status" "$BIN/prdshm-phase" --name "$SHM" status writer
	t_grep "$TMP/out" "CANCELLED" "SIG$sig: the phase is CANCELLED"
	check_clean "SIG$sig to a waiting agent"
	touch "$TMP/go3"
	expect_rc "$holder" 0 "SIG$sig: the holder is unaffected"
	rm -f "/dev/shm${SHM}"
done

# ---- 4. a hangup of prdshm-run and its agents ---------------------------------

# "hang" runs until killed, and ignores SIGTERM so that its agent takes the
# grace period (5 s) to stop; "later" waits for it: with two agents, one
# runs "hang" and the other waits for a phase.
cat >"$TMP/hang.yaml" <<EOF
wave_delay_seconds: 0
phases:
  - id: hang
    outputs: [hang-out]
    command: trap '' TERM; echo \$\$ > "$TMP/hang.tmp"; mv "$TMP/hang.tmp" "$TMP/hang.pid"; exec sleep 60
  - id: later
    dependencies: [hang]
    command: "true"
EOF
shm_name
rm -f "$TMP/hang.pid"
(
	trap - INT QUIT
	exec setsid "$BIN/prdshm-run" -j 2 -c "$TMP/hang.yaml" --name "$SHM" --plain >"$TMP/run.out" 2>&1
) &
pid=$!
BG_PIDS+=("$pid")
wait_until 20 test -s "$TMP/hang.pid" || not_ok "hangup: the phase never started"
# The other agent is IDLE: it waits for a phase.
wait_until 10 sh -c "'$BIN/prdshm-inspect' --name '$SHM' --json | grep -q '\"status\": *\"IDLE\"'" ||
	not_ok "hangup: the second agent never showed"
# prdshm-run's CPU time (utime + stime, in clock ticks) from the hangup
# until it exits.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null
}
t0=$(cpu_ticks "$pid")
kill -s HUP -- "-$pid" # as a hangup does: the whole process group
ticks=0
while t=$(cpu_ticks "$pid"); do
	ticks=$((t - t0))
	sleep 0.05
done
expect_rc "$pid" 129 "hangup: prdshm-run exits 129"
# Spinning through the 5 s grace costs seconds of CPU; sleeping, almost
# nothing.  The bound is loose (half a second) on purpose.
if [ "$ticks" -lt $(($(getconf CLK_TCK) / 2)) ]; then
	ok "hangup: prdshm-run slept while the agents stopped ($ticks ticks)"
else
	not_ok "hangup: prdshm-run used $ticks clock ticks of CPU while the agents stopped"
fi
t_grep "$TMP/run.out" "hang: CANCELLED" "hangup: the running phase is CANCELLED"
t_grep "$TMP/run.out" "hung up: stopping the agents" "hangup: prdshm-run says why"
check_clean "hangup"
rm -f "/dev/shm${SHM}"

cli_done
