#!/usr/bin/env bash
# interrupt.sh: a signal that does not stop prdshm-agent (SIGCHLD: its
# handler runs, the lock wait returns PRDSHM_EINTR) must not fail the phase
# whose outputs it waits for: the agent waits again and runs it.
#
# Synchronisation: files the holder's command creates and the agent's
# waiting record in prdshm-inspect --json, polled with a bound.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

agent_waits() {
	"$BIN/prdshm-inspect" --name "$SHM" --json | grep -q '"waits_for"'
}

shm_name
cat >"$TMP/plan.yaml" <<EOF2
wave_delay_seconds: 0
lock_timeout_seconds: 60
phases:
  - id: writer
    outputs: [shared-out]
    command: touch "$TMP/ran"
EOF2
t_rc 0 "create" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
"$BIN/prdshm-lock" --name "$SHM" shared-out sh -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
BG_PIDS+=("$!")
wait_until 20 test -e "$TMP/held" || not_ok "the holder never got the lock"
"$BIN/prdshm-agent" -q -c "$TMP/plan.yaml" --name "$SHM" --id waiter >"$TMP/agent.out" 2>&1 &
agent=$!
BG_PIDS+=("$agent")
if wait_until 20 agent_waits; then ok "the agent waits for its output"; else
	not_ok "the agent never waited"; fi
for _ in 1 2 3 4 5; do kill -CHLD "$agent" 2>/dev/null; sleep 0.05; done
if agent_waits; then ok "SIGCHLD: the agent still waits"; else
	not_ok "SIGCHLD ended the wait"; sed 's/^/#   /' "$TMP/agent.out"; fi
touch "$TMP/release"
wait "$agent"
rc=$?
if [ "$rc" = 0 ]; then ok "the agent exits 0"; else
	not_ok "the agent exits $rc"; sed 's/^/#   /' "$TMP/agent.out"; fi
if [ -e "$TMP/ran" ]; then ok "the phase ran once its output was free"; else
	not_ok "the phase never ran"; fi
t_rc 0 "phase status" "$BIN/prdshm-phase" --name "$SHM" status writer
t_grep "$TMP/out" "COMPLETED" "the phase is COMPLETED"
rm -f "/dev/shm${SHM}"
cli_done
