#!/usr/bin/env bash
# stuck.sh: a lock holder stopped with SIGSTOP.  The kernel calls it alive
# (its OFD lock stays), so nothing frees its lock; inspection must say so.
#
#  1. prdshm-inspect shows the holder's process state (running, then
#     STOPPED) and how long it has held the lock, in text and in --json.
#  2. --check exits 5 ("a stopped process holds a lock") once the stopped
#     holder has held it longer than the segment's lock_timeout_seconds
#     (1 s here, set at create through PRD_PARALLEL_LOCK_TIMEOUT_SECONDS),
#     with a warning naming the resource, the pid and the agent; exit 0
#     again once the holder is continued.
#  3. prdshm-agent gives up on an output held by the stopped process after
#     lock_timeout_seconds and fails the phase with a message naming the
#     holder (agent id and pid), in the phase's message and on stderr.
#  4. A holder in another PID namespace (unshare --pid, root only): the pid
#     it recorded (1) names another process here, which does not map the
#     segment: its process state is "unknown", not that process's.
#
# Waits are bounded polls (wait_until), never bare sleeps.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

cat >"$TMP/plan.yaml" <<EOF
wave_delay_seconds: 0
phase_max_attempts: 1
conflict_retry_attempts: 1
phases:
  - id: build
    outputs: [out/x]
    command: "true"
EOF

# --check exits with status $1 (for wait_until).
check_is() {
	"$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --check >/dev/null 2>&1
	[ "$?" = "$1" ]
}

# The locks table shows a row for holder $1 whose PROCESS column is $2.
row_shows() {
	"$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" locks |
		grep -Eq "^ +exclusive +holds +lock-$1 +$1 +yes +- +[0-9.a-z]+ +$2 *\$"
}

shm_name
PRD_PARALLEL_LOCK_TIMEOUT_SECONDS=1 t_rc 0 "create with lock_timeout_seconds 1" \
	"$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
started=$TMP/started go=$TMP/go
"$BIN/prdshm-lock" --name "$SHM" -x out/x sh -c "$(hold_cmd "$started" "$go")" &
holder=$!
BG_PIDS+=("$holder")
wait_until 10 test -e "$started" || not_ok "holder started"

# ---- 1. the process state, running ----------------------------------------
if wait_until 10 row_shows "$holder" running; then ok "1. a running holder shows as running"; else
	not_ok "1. a running holder shows as running"
	"$BIN/prdshm-inspect" --name "$SHM" locks | sed 's/^/#   /'
fi
t_rc 0 "1. --json" "$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --json
t_grep "$TMP/out" '"process": "running"' "1. --json: process running"
t_grep "$TMP/out" '"held_s": [0-9]' "1. --json: held_s"
t_grep "$TMP/out" '"released": false' "1. --json: released"
t_rc 0 "1. --check: a running holder is healthy" \
	"$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --check

# ---- 2. stopped: shown at once, --check warns past lock_timeout_seconds ----
kill -STOP "$holder"
if wait_until 10 row_shows "$holder" STOPPED; then ok "2. a stopped holder shows as STOPPED"; else
	not_ok "2. a stopped holder shows as STOPPED"
	"$BIN/prdshm-inspect" --name "$SHM" locks | sed 's/^/#   /'
fi
if wait_until 10 check_is 5; then ok "2. --check exits 5 past lock_timeout_seconds"; else
	not_ok "2. --check does not exit 5"
	"$BIN/prdshm-inspect" --name "$SHM" --check | sed 's/^/#   /'
fi
t_rc 5 "2. --check" "$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --check
t_grep "$TMP/out" "^warning: lock 'out/x': held for .* by stopped process $holder \(agent lock-$holder\), longer than lock_timeout_seconds \(1 s\)" \
	"2. the warning names the resource, the pid and the agent"
t_grep "$TMP/out" "a stopped process holds a lock" "2. the verdict"
t_rc 5 "2. --check --json" "$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --check --json
t_grep "$TMP/out" '"process": "stopped"' "2. --json: process stopped"
t_grep "$TMP/out" '"alive": true' "2. --json: still alive for the kernel"
t_grep "$TMP/out" '"message": "lock .out/x.: held for .* by stopped process' \
	"2. --json: the warning in problems"
t_rc 0 "2. without --check, inspection succeeds" \
	"$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM"
t_grep "$TMP/out" "^warning +lock 'out/x': held for .* by stopped process $holder" \
	"2. the PROBLEMS table lists it"

# ---- 3. an agent gives up on the stopped holder's output ------------------
timeout 60 "$BIN/prdshm-agent" -c "$TMP/plan.yaml" --name "$SHM" --id ag >"$TMP/agent.out" 2>&1
rc=$?
if [ "$rc" = 1 ]; then ok "3. the agent fails the phase (exit 1)"; else
	not_ok "3. agent exit $rc (want 1)"; sed 's/^/#   /' "$TMP/agent.out"; fi
t_grep "$TMP/agent.out" "build failed in .*: cannot lock output out/x: gave up after lock_timeout_seconds \(1 s\); held by agent lock-$holder \(pid $holder\)" \
	"3. the agent's message names the holder"
t_rc 0 "3. phase status" "$BIN/prdshm-phase" -c "$TMP/plan.yaml" --name "$SHM" status build
t_grep "$TMP/out" "FAILED" "3. the phase is FAILED"
t_grep "$TMP/out" "held by agent lock-$holder \(pid $holder\)" "3. the phase's message names the holder"

# ---- continued: healthy again -----------------------------------------------
kill -CONT "$holder"
if wait_until 10 check_is 0; then ok "continued: --check exits 0 again"; else
	not_ok "continued: --check still fails"; fi
touch "$go"
wait "$holder"
rc=$?
[ "$rc" = 0 ] && ok "the holder ends normally" || not_ok "holder exit $rc"
t_rc 0 "nothing left behind" "$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --check
rm -f "/dev/shm$SHM"

# ---- 4. a holder in another PID namespace -----------------------------------
if unshare --pid --fork --kill-child true 2>/dev/null; then
	shm_name
	t_rc 0 "4. create" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
	started=$TMP/started4 go=$TMP/go4
	unshare --pid --fork --kill-child "$BIN/prdshm-lock" --name "$SHM" -x ns-res \
		sh -c "$(hold_cmd "$started" "$go")" &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 10 test -e "$started" || not_ok "4. holder started"
	t_rc 0 "4. --json" "$BIN/prdshm-inspect" -c "$TMP/plan.yaml" --name "$SHM" --json locks
	t_grep "$TMP/out" '"pid": 1,' "4. the holder recorded its own namespace's pid"
	t_grep "$TMP/out" '"process": "unknown"' "4. its process state is unknown"
	touch "$go"
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] && ok "4. the holder ends normally" || not_ok "4. holder exit $rc"
	rm -f "/dev/shm$SHM"
else
	skip "4. a holder in another PID namespace: unshare --pid not permitted here"
fi
cli_done
