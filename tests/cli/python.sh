#!/usr/bin/env bash
# python.sh: prdshm-run with Python agents (examples/agent.py through
# --agent-cmd), end to end.
#
#  1. The default plan (prdpar.yaml) with 3 Python agents: exit 0, every
#     phase completed exactly once, the shared CHANGELOG.md written by all
#     five of its writers with no writer left inside, the segment removed.
#  2. SIGINT to prdshm-run (the whole process group, as Ctrl-C): the Python
#     agent cancels its running phase and terminates the command; exit 130;
#     the kept segment is healthy.
#  3. SIGTERM to a Python agent waiting for an output another process holds:
#     it exits 143 within seconds, the phase CANCELLED, nothing left behind.
#
# Needs the binding in $BUILD/python (make python; not built for sanitizer
# runs, where this is skipped).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

RUN_TIMEOUT=90
PY=${PYTHON:-/usr/bin/python3}
AGENT="$PY $ROOT/examples/agent.py"
export PYTHONPATH="$ROOT/$BUILD/python"

test_default_plan() {
	local n
	shm_name
	mkdir -p "$TMP/plan1" && cd "$TMP/plan1" || return
	n=$(grep -c '^  - id:' "$ROOT/prdpar.yaml")
	PRD_PARALLEL_WAVE_DELAY_SECONDS=0 timeout "$RUN_TIMEOUT" \
		"$BIN/prdshm-run" -c "$ROOT/prdpar.yaml" --name "$SHM" -j 3 --plain \
		--log "$TMP/agents.log" --agent-cmd "$AGENT" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ "$rc" = 0 ]; then ok "python agents: prdshm-run exits 0"; else
		not_ok "python agents: prdshm-run exit $rc"; sed 's/^/#   /' "$TMP/out" "$TMP/err" "$TMP/agents.log" | tail -30; fi
	t_grep "$TMP/out" "^$SHM: $n of $n phases completed" "python agents: $n of $n phases completed"
	# At least one: under load the run may end before a third agent
	# says hello.
	if [ "$(grep -c 'python agent (prdshm' "$TMP/agents.log")" -ge 1 ]; then
		ok "python agents: the agents were examples/agent.py"
	else
		not_ok "python agents: no Python agent in the log"
		sed 's/^/#   /' "$TMP/agents.log" | head -20
	fi
	if [ "$(cut -d' ' -f1 build/plan-out/phases.log | sort -u | wc -l)" = "$n" ] &&
	   [ "$(wc -l <build/plan-out/phases.log)" = "$n" ]; then
		ok "python agents: each of the $n phases ran exactly once"
	else
		not_ok "python agents: phases.log does not list each phase once"
		sed 's/^/#   /' build/plan-out/phases.log
	fi
	if [ -z "$(find build/plan-out -name '*.writing')" ] &&
	   [ "$(grep -c '^- ' build/plan-out/CHANGELOG.md)" = 5 ]; then
		ok "python agents: CHANGELOG.md has all 5 entries and no writer left inside"
	else
		not_ok "python agents: CHANGELOG.md incomplete"
	fi
	if [ ! -e "/dev/shm${SHM}" ]; then ok "python agents: segment removed"; else
		not_ok "python agents: segment left behind"; fi
	cd "$TMP/cwd" || return
}

test_sigint() {
	local pid rc
	hang_plan >"$TMP/hang.yaml"
	shm_name
	rm -f "$TMP/hang.pid"
	setsid "$BIN/prdshm-run" -c "$TMP/hang.yaml" --name "$SHM" --plain --agent-cmd "$AGENT" \
		>"$TMP/out" 2>"$TMP/err" &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 30 test -s "$TMP/hang.pid" || not_ok "SIGINT: the phase never started"
	kill -INT -- "-$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" = 130 ]; then ok "SIGINT: prdshm-run exits 130"; else
		not_ok "SIGINT: exit $rc"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | tail -20; fi
	t_grep "$TMP/out" "hang: CANCELLED" "SIGINT: the Python agent cancelled its phase"
	if ! kill -0 "$(cat "$TMP/hang.pid")" 2>/dev/null; then ok "SIGINT: the command was terminated"
	else not_ok "SIGINT: the command still runs"; fi
	t_rc 0 "SIGINT: the kept segment is healthy" "$BIN/prdshm-inspect" --name "$SHM" --check
	rm -f "/dev/shm${SHM}"
}

agent_waits() {
	"$BIN/prdshm-inspect" --name "$SHM" --json | grep -q '"waits_for"'
}

# SIGTERM while the Python agent waits for an output another process holds:
# the agent notices within its one-second slices, cancels the phase, exits.
test_sigterm_while_waiting() {
	local agent holder rc i
	shm_name
	cat >"$TMP/out.yaml" <<EOF2
wave_delay_seconds: 0
lock_timeout_seconds: 60
phases:
  - id: writer
    outputs: [busy-out]
    command: touch "$TMP/writer-ran"
EOF2
	t_rc 0 "SIGTERM: create" "$BIN/prdshm-create" -q -c "$TMP/out.yaml" --name "$SHM"
	"$BIN/prdshm-lock" --name "$SHM" busy-out sh -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
	holder=$!
	BG_PIDS+=("$holder")
	wait_until 20 test -e "$TMP/held" || not_ok "SIGTERM: the holder never got the lock"
	$AGENT --name "$SHM" --id py-waiter >"$TMP/agent.out" 2>&1 &
	agent=$!
	BG_PIDS+=("$agent")
	if wait_until 20 agent_waits; then
		ok "SIGTERM: the Python agent waits for its output"
	else
		not_ok "SIGTERM: the agent never waited"; fi
	kill -TERM "$agent"
	for i in $(seq 100); do kill -0 "$agent" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$agent" 2>/dev/null; then
		not_ok "SIGTERM: the agent still waits 5 s later"; kill -9 "$agent"; fi
	wait "$agent"
	rc=$?
	if [ "$rc" = 143 ]; then ok "SIGTERM: the agent exits 143"; else
		not_ok "SIGTERM: exit $rc"; sed 's/^/#   /' "$TMP/agent.out"; fi
	t_rc 0 "SIGTERM: phase status" "$BIN/prdshm-phase" --name "$SHM" status writer
	t_grep "$TMP/out" "CANCELLED" "SIGTERM: the phase is CANCELLED"
	touch "$TMP/release"
	wait "$holder"
	t_rc 0 "SIGTERM: nothing left behind (prdshm-inspect --check)" \
		"$BIN/prdshm-inspect" --name "$SHM" --check
	if [ ! -e "$TMP/writer-ran" ]; then ok "SIGTERM: the command never ran"; else
		not_ok "SIGTERM: the command ran"; fi
	rm -f "/dev/shm${SHM}"
}

if [ ! -d "$ROOT/$BUILD/python/prdshm" ]; then
	skip "python agents: the binding is not built ($BUILD/python)"
else
	test_default_plan
	test_sigint
	test_sigterm_while_waiting
fi
cli_done
