#!/usr/bin/env bash
# tools.sh: the command-line contract of the prdshm-* tools: options, exit
# codes, messages, flock(1) behaviour of prdshm-lock, recovery by script.
# The JSON documents are parsed back in tests/test_tools_json.c.
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

TOOLS="create inspect cleanup lock phase agent run"

# ---- common options ------------------------------------------------------
for t in $TOOLS; do
	t_rc 0 "prdshm-$t --help" "$BIN/prdshm-$t" --help
	t_grep "$TMP/out" "^Usage: prdshm-$t" "prdshm-$t --help prints usage on stdout"
	t_grep "$TMP/out" "Exit status" "prdshm-$t --help lists the exit status"
	t_rc 0 "prdshm-$t --version" "$BIN/prdshm-$t" --version
	t_grep "$TMP/out" "^prdshm-$t [0-9]+\.[0-9]+\.[0-9]+" "prdshm-$t --version format"
	t_rc 64 "prdshm-$t --bogus" "$BIN/prdshm-$t" --bogus
	t_grep "$TMP/err" "^prdshm-$t: " "prdshm-$t usage error names the tool"
done

# -h and -V end the parse: what follows is not looked at, nothing is run.
t_rc 0 "-h before a bad option" "$BIN/prdshm-create" -h --bogus
t_rc 64 "a bad option before -h" "$BIN/prdshm-create" --bogus -h
t_rc 0 "-V in a group of short options" "$BIN/prdshm-lock" -nV
shm_name
t_rc 0 "prdshm-run --keep --help" "$BIN/prdshm-run" --keep --name "$SHM" --help
[ ! -e "/dev/shm$SHM" ] && ok "prdshm-run --help runs nothing" ||
	not_ok "prdshm-run --help created $SHM"
t_rc 0 "prdshm-agent -V with a missing segment" "$BIN/prdshm-agent" --name "$SHM" -V
[ ! -s "$TMP/err" ] && ok "prdshm-agent -V opens nothing" || not_ok "prdshm-agent -V: stderr"

# ---- configuration and segment selection ---------------------------------
shm_name
printf 'max_locks: 64\nmax_agents: 8\nmax_phases: 8\nbogus_key: 1\n' >"$TMP/bad.yaml"
t_rc 65 "create with an unknown key" "$BIN/prdshm-create" -c "$TMP/bad.yaml" --name "$SHM"
t_grep "$TMP/err" "^prdshm-create: .*bad\.yaml:4:1: " "config error as file:line:col"
t_rc 65 "create with a missing -c file" "$BIN/prdshm-create" -c "$TMP/none.yaml"
t_rc 65 "invalid --name" "$BIN/prdshm-create" --name "no-slash"
PRD_PARALLEL_MAX_LOCKS=abc t_rc 65 "invalid environment value" "$BIN/prdshm-create" --name "$SHM"
t_grep "$TMP/err" "PRD_PARALLEL_MAX_LOCKS" "environment error names the variable"

cat >"$TMP/plan.yaml" <<EOF
shm_name: /prdshm-cli-$$-from-file
max_locks: 64
max_agents: 8
max_phases: 8
monitoring_update_interval: 1
lock_timeout_seconds: 30
phases:
  - id: a
    outputs: [out/a]
  - id: b
    dependencies: [a]
  - id: c
EOF
PRD_PARALLEL_MAX_AGENTS=6 t_rc 0 "--print-config" "$BIN/prdshm-create" -c "$TMP/plan.yaml" \
	--name "$SHM" --print-config
t_grep "$TMP/out" "^shm_name: $SHM  # command line" "--name wins, origin command line"
t_grep "$TMP/out" "^max_agents: 6  # environment PRD_PARALLEL_MAX_AGENTS" "environment origin"
t_grep "$TMP/out" "^max_locks: 64  # file .*plan\.yaml:2:1" "file origin with line:col"
t_grep "$TMP/out" "^deadlock_timeout_ms: 500  # default" "default origin"
PRD_PARALLEL_SHM_NAME=/prdshm-cli-$$-env t_rc 0 "environment beats the file" \
	"$BIN/prdshm-create" -c "$TMP/plan.yaml" --print-config
t_grep "$TMP/out" "^shm_name: /prdshm-cli-$$-env  # environment" "PRD_PARALLEL_SHM_NAME used"
t_rc 0 "shm_name from the file" "$BIN/prdshm-create" -c "$TMP/plan.yaml" --print-config
t_grep "$TMP/out" "^shm_name: /prdshm-cli-$$-from-file  # file" "shm_name from -c FILE"

# ---- prdshm-create ---------------------------------------------------------
t_rc 66 "inspect a missing segment" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "^prdshm-inspect: open segment $SHM: " "error names the segment"
t_rc 0 "cleanup a missing segment: nothing to do" "$BIN/prdshm-cleanup" --name "$SHM"
t_rc 66 "phase on a missing segment" "$BIN/prdshm-phase" --name "$SHM" status
t_rc 0 "create" "$BIN/prdshm-create" -c "$TMP/plan.yaml" --name "$SHM"
t_grep "$TMP/out" "^created $SHM: [0-9]+ bytes, max_locks=64 max_phases=8 max_agents=8" \
	"create prints what it made"
t_grep "$TMP/out" "^phases: 3 in 2 waves" "create prints phases and waves"
t_rc 73 "create again" "$BIN/prdshm-create" -c "$TMP/plan.yaml" --name "$SHM"
t_rc 0 "create --force without agents" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM" --force
[ ! -s "$TMP/out" ] && ok "-q prints nothing" || not_ok "-q prints nothing"
t_rc 0 "inspect --check healthy" "$BIN/prdshm-inspect" --name "$SHM" --check
t_grep "$TMP/out" "healthy" "--check says healthy"
t_rc 0 "inspect tables" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/out" "^PHASES" "phases table"
t_grep "$TMP/out" "^b +NOT_STARTED +1 " "phase row with status and wave"
t_rc 0 "inspect --no-lock" "$BIN/prdshm-inspect" --name "$SHM" --no-lock
t_rc 0 "inspect waves section" "$BIN/prdshm-inspect" --name "$SHM" waves
t_grep "$TMP/out" "^WAVES" "section shows its table"
if grep -q "^PHASES" "$TMP/out"; then not_ok "section shows only its table"; else ok "section shows only its table"; fi
t_rc 64 "inspect unknown section" "$BIN/prdshm-inspect" --name "$SHM" nosuch

# ---- prdshm-phase ----------------------------------------------------------
t_rc 0 "phase status" "$BIN/prdshm-phase" --name "$SHM" status
t_rc 0 "phase status a" "$BIN/prdshm-phase" --name "$SHM" status a
t_grep "$TMP/out" "^status +QUEUED" "one phase in detail"
t_rc 2 "phase status of an unknown id" "$BIN/prdshm-phase" --name "$SHM" status zz
t_rc 0 "cancel a queued phase" "$BIN/prdshm-phase" --name "$SHM" cancel a
t_grep "$TMP/out" "^a: QUEUED -> CANCELLED" "transition printed"
t_rc 2 "cancel it again" "$BIN/prdshm-phase" --name "$SHM" cancel a
t_grep "$TMP/err" "refused: .*CANCELLED -> CANCELLED" "refusal names both states"
t_rc 0 "retry a cancelled phase" "$BIN/prdshm-phase" --name "$SHM" retry a
t_rc 2 "retry a queued phase" "$BIN/prdshm-phase" --name "$SHM" retry a
t_grep "$TMP/err" "QUEUED -> QUEUED" "retry refusal names both states"
t_rc 0 "skip a phase" "$BIN/prdshm-phase" --name "$SHM" skip c
t_rc 2 "skip an unknown phase" "$BIN/prdshm-phase" --name "$SHM" skip zz
t_grep "$TMP/err" "no such phase" "unknown phase named"
t_rc 64 "phase without a command" "$BIN/prdshm-phase" --name "$SHM"
t_rc 64 "phase retry without an id" "$BIN/prdshm-phase" --name "$SHM" retry
t_rc 64 "phase unknown command" "$BIN/prdshm-phase" --name "$SHM" frobnicate a

# ---- prdshm-lock: basics ---------------------------------------------------
t_rc 3 "lock runs the command, exits with its status" "$BIN/prdshm-lock" --name "$SHM" r sh -c 'exit 3'
t_rc 0 "lock -c form after RESOURCE" "$BIN/prdshm-lock" --name "$SHM" r -c 'echo hi "$0"'
t_grep "$TMP/out" "^hi sh" "-c runs through sh"
t_rc 0 "options after RESOURCE belong to the command" "$BIN/prdshm-lock" --name "$SHM" r ls -d /
t_rc 137 "command killed by SIGKILL gives 128+9" "$BIN/prdshm-lock" --name "$SHM" r sh -c 'kill -9 $$'
t_rc 127 "command not found" "$BIN/prdshm-lock" --name "$SHM" r /nonexistent/cmd
t_rc 64 "lock without a command" "$BIN/prdshm-lock" --name "$SHM" r
t_rc 64 "lock -c with two arguments" "$BIN/prdshm-lock" --name "$SHM" r -c a b
t_rc 64 "bad -w" "$BIN/prdshm-lock" --name "$SHM" -w abc r true
t_rc 64 "bad -E" "$BIN/prdshm-lock" --name "$SHM" -E 300 r true
shm_name
t_rc 66 "lock --no-create on a missing segment" "$BIN/prdshm-lock" --name "$SHM" --no-create r true
# -c is the command in prdshm-lock: the configuration is --config.
t_rc 0 "lock creates a missing segment" "$BIN/prdshm-lock" --config "$TMP/plan.yaml" --name "$SHM" r true
t_rc 0 "the segment exists now" "$BIN/prdshm-inspect" --name "$SHM" --check

# ---- prdshm-lock: conflicts --------------------------------------------------
started=$TMP/started1 go=$TMP/go1
"$BIN/prdshm-lock" --name "$SHM" --phase build res sh -c "$(hold_cmd "$started" "$go")" &
holder=$!
BG_PIDS+=("$holder")
if wait_until 10 test -e "$started"; then ok "holder started"; else not_ok "holder started"; fi
t_rc 1 "-n conflicts" "$BIN/prdshm-lock" --name "$SHM" -n res true
t_grep "$TMP/err" "^prdshm-lock: res: lock is taken; held by lock-$holder \(pid $holder, phase build, exclusive\)" \
	"conflict message names the holder"
t_rc 1 "-w 0 is -n" "$BIN/prdshm-lock" --name "$SHM" -w 0 res true
t_rc 7 "-E sets the conflict code" "$BIN/prdshm-lock" --name "$SHM" -n -E 7 res true
t_rc 1 "-s conflicts with an exclusive holder" "$BIN/prdshm-lock" --name "$SHM" -s -n res true
t_rc 1 "-q silences the conflict" "$BIN/prdshm-lock" --name "$SHM" -q -n res true
[ ! -s "$TMP/err" ] && ok "-q: nothing on stderr" || not_ok "-q: nothing on stderr"
t_rc 0 "another resource is free" "$BIN/prdshm-lock" --name "$SHM" -n other true
t0=$(now_ms)
"$BIN/prdshm-lock" --name "$SHM" -w 1 res true 2>/dev/null
rc=$?
dt=$(($(now_ms) - t0))
if [ "$rc" = 1 ] && [ "$dt" -ge 900 ] && [ "$dt" -lt 3000 ]; then
	ok "-w 1 times out after ${dt} ms with exit 1"
else
	not_ok "-w 1: exit $rc after ${dt} ms (want 1 after 900..3000 ms)"
fi
# A waiter shows up in inspect, with whom it waits for.
"$BIN/prdshm-lock" --name "$SHM" -s -w 30 res true &
waiter=$!
BG_PIDS+=("$waiter")
# (The row, not the header's "WAITS FOR" column title.)
if wait_until 10 sh -c "'$BIN/prdshm-inspect' --name '$SHM' locks | grep -Eq 'WAITS +lock-'"; then
	ok "waiter visible"
else
	not_ok "waiter visible"
fi
t_rc 0 "inspect locks" "$BIN/prdshm-inspect" --name "$SHM" locks
t_grep "$TMP/out" "^ +exclusive +holds +lock-$holder +$holder +yes +build " "holder row"
t_grep "$TMP/out" "^ +shared +WAITS +lock-$waiter .* lock-$holder\$" "waiter waits for the holder"
t_rc 0 "cleanup leaves live holders alone" "$BIN/prdshm-cleanup" --name "$SHM"
t_grep "$TMP/out" "nothing to do" "nothing to do with live agents"
t_rc 2 "cleanup --unlink refused with live agents" "$BIN/prdshm-cleanup" --name "$SHM" --unlink
t_grep "$TMP/err" "live agent" "refusal lists the live agents"
t_rc 73 "create --force refused with live agents" "$BIN/prdshm-create" --name "$SHM" --force
t_grep "$TMP/err" "lock-$holder \(pid $holder\)" "create --force lists the live agents"
touch "$go"
wait "$holder"
rc=$?
[ "$rc" = 0 ] && ok "holder exits with its command's status" || not_ok "holder exit $rc"
wait "$waiter"
rc=$?
[ "$rc" = 0 ] && ok "waiter got the lock after the holder" || not_ok "waiter exit $rc"

# ---- prdshm-lock killed: -o frees the lock, the default keeps it -------------
started=$TMP/started2 go=$TMP/go2
"$BIN/prdshm-lock" --name "$SHM" -o res sh -c "$(hold_cmd "$started" "$go")" &
pid=$!
BG_PIDS+=("$pid")
wait_until 10 test -e "$started" || not_ok "-o holder started"
t_rc 1 "-o holder holds the lock" "$BIN/prdshm-lock" --name "$SHM" -n res true
kill -9 "$pid"
wait "$pid" 2>/dev/null
if wait_until 10 "$BIN/prdshm-lock" --name "$SHM" -n res true; then
	ok "-o: lock free once prdshm-lock is killed, command still running"
else
	not_ok "-o: lock still held after prdshm-lock was killed"
fi
# The dead session's records count as dead holders until reaped.
touch "$go"

started=$TMP/started3 go=$TMP/go3
"$BIN/prdshm-lock" --name "$SHM" res sh -c "$(hold_cmd "$started" "$go")" &
pid=$!
BG_PIDS+=("$pid")
wait_until 10 test -e "$started" || not_ok "holder started"
kill -9 "$pid"
wait "$pid" 2>/dev/null
t_rc 1 "default: lock still held while the command runs" "$BIN/prdshm-lock" --name "$SHM" -n res true
touch "$go"
if wait_until 10 "$BIN/prdshm-lock" --name "$SHM" -n res true; then
	ok "default: lock free once the command ends"
else
	not_ok "default: lock still held after the command ended"
fi

# ---- scripted recovery: a dead holder ---------------------------------------
shm_name
"$BIN/prdshm-create" -q --name "$SHM" -c "$TMP/plan.yaml"
started=$TMP/started4 go=$TMP/go4
"$BIN/prdshm-lock" --name "$SHM" -o res1 sh -c "$(hold_cmd "$started" "$go")" &
pid=$!
BG_PIDS+=("$pid")
wait_until 10 test -e "$started" || not_ok "holder started"
kill -9 "$pid"
wait "$pid" 2>/dev/null
touch "$go"
t_rc 3 "--check: dead holder is recoverable" "$BIN/prdshm-inspect" --name "$SHM" --check
t_grep "$TMP/out" "dead agent lock-$pid" "--check names the dead agent"
t_rc 3 "cleanup --dry-run reports" "$BIN/prdshm-cleanup" --name "$SHM" --dry-run
t_grep "$TMP/out" "^would repair: " "dry run lists what it would do"
t_rc 3 "dry run changed nothing" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 70 "--save-before that cannot be written" "$BIN/prdshm-cleanup" --name "$SHM" \
	--save-before "$TMP/nodir/evidence.json"
t_rc 3 "no repair without the evidence" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 0 "cleanup --save-before" "$BIN/prdshm-cleanup" --name "$SHM" --save-before "$TMP/evidence.json"
t_grep "$TMP/out" "lock-$pid" "cleanup prints each action"
t_grep "$TMP/evidence.json" "\"resource\": \"res1\"" "evidence saved before the repair"
t_rc 0 "--check healthy after cleanup" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 0 "cleanup again: nothing to do" "$BIN/prdshm-cleanup" --name "$SHM"
t_rc 0 "cleanup --unlink" "$BIN/prdshm-cleanup" --name "$SHM" --unlink
t_rc 66 "segment removed" "$BIN/prdshm-inspect" --name "$SHM"

# ---- corrupt or foreign segments: 4 ----------------------------------------------
shm_name
# Not zeros: an all-zero object looks like one being initialised, and
# openers wait a few seconds for its creator.
yes garbage | head -c 65536 >"/dev/shm${SHM}"
chmod 0600 "/dev/shm${SHM}" # else refused for its mode first (security.sh)
t_rc 4 "inspect a foreign object" "$BIN/prdshm-inspect" --name "$SHM"
t_rc 4 "--check a foreign object" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 4 "cleanup a foreign object" "$BIN/prdshm-cleanup" --name "$SHM"
t_rc 4 "lock on a foreign object" "$BIN/prdshm-lock" --name "$SHM" r true
t_rc 73 "create over it without --force" "$BIN/prdshm-create" --name "$SHM"
t_rc 4 "cleanup --unlink of an unreadable object needs --force" "$BIN/prdshm-cleanup" --name "$SHM" --unlink
t_rc 0 "create --force replaces it" "$BIN/prdshm-create" --name "$SHM" --force -c "$TMP/plan.yaml"
t_rc 0 "and it is healthy" "$BIN/prdshm-inspect" --name "$SHM" --check

# ---- permission denied: 77 (not as root, who bypasses the mode) ---------------
# As root, the tools run as nobody through setpriv (root would bypass it).
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if [ "$(id -u)" = 0 ]; then
	shm_name
	"$BIN/prdshm-create" -q --name "$SHM"
	if ! "${as_nobody[@]}" test -x "$BIN/prdshm-inspect" 2>/dev/null; then
		skip "permission denied (nobody cannot run the tools from $BIN)"
	else
		t_rc 77 "inspect as another user without permission" \
			"${as_nobody[@]}" "$BIN/prdshm-inspect" --name "$SHM"
		t_rc 77 "lock as another user without permission" \
			"${as_nobody[@]}" "$BIN/prdshm-lock" --name "$SHM" r true
		t_rc 0 "and the segment is intact for its owner" \
			"$BIN/prdshm-inspect" --name "$SHM" --check
	fi
	"$BIN/prdshm-cleanup" -q --name "$SHM" --unlink >/dev/null 2>&1
else
	shm_name
	"$BIN/prdshm-create" -q --name "$SHM"
	chmod 000 "/dev/shm${SHM}"
	t_rc 77 "inspect without permission" "$BIN/prdshm-inspect" --name "$SHM"
	t_rc 77 "lock without permission" "$BIN/prdshm-lock" --name "$SHM" r true
fi

# ---- --watch ---------------------------------------------------------------
shm_name
"$BIN/prdshm-create" -q --name "$SHM" -c "$TMP/plan.yaml"
"$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --watch >"$TMP/watch" 2>&1 &
pid=$!
BG_PIDS+=("$pid")
if wait_until 10 sh -c "[ \$(grep -c '^SEGMENT' '$TMP/watch') -ge 2 ]"; then
	ok "--watch redraws"
else
	not_ok "--watch redraws"
fi
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok "--watch exits 0 when interrupted" || not_ok "--watch exit $rc after SIGINT"

cli_done
