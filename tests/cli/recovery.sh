#!/usr/bin/env bash
# recovery.sh: the crash-recovery walk-through of docs/recovery.md, step by
# step: an agent is killed with SIGKILL in the middle of a phase that holds
# an output; prdshm-inspect --check reports it (exit 3); prdshm-cleanup
# reaps it (exit 0); prdshm-phase retry queues the phase again; a new
# prdshm-agent and then prdshm-run --attach finish the plan.  Then a live
# process stopped inside the library: prdshm-cleanup gives up (exit 1).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# build -> package -> publish.  The first attempt of "package" says it is
# ready (with its agent's pid: sh's parent is the agent) and hangs.
cat >"$TMP/plan.yaml" <<EOF
max_parallel_agents: 2
wave_delay_seconds: 0
phases:
  - id: build
    command: echo build >> "$TMP/done.log"
  - id: package
    dependencies: [build]
    outputs: [dist/app.tar]
    command: |
      if [ "\$PRD_PHASE_ATTEMPT" = 1 ]; then
        echo \$PPID > "$TMP/agent.tmp"; mv "$TMP/agent.tmp" "$TMP/agent.pid"
        exec sleep 60
      fi
      echo package >> "$TMP/done.log"
  - id: publish
    dependencies: [package]
    command: echo publish >> "$TMP/done.log"
EOF

shm_name
t_rc 0 "1. create the segment" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"

"$BIN/prdshm-agent" -q -c "$TMP/plan.yaml" --name "$SHM" --id doomed >"$TMP/agent.out" 2>&1 &
agent=$!
BG_PIDS+=("$agent")
if wait_until 20 test -s "$TMP/agent.pid" && [ "$(cat "$TMP/agent.pid")" = "$agent" ]; then
	kill -9 "$agent"
	wait "$agent" 2>/dev/null
	ok "2. the agent running 'package' killed with SIGKILL"
else
	not_ok "2. the agent never reached 'package'"
fi

t_rc 3 "3. prdshm-inspect --check: a dead agent holds a lock and a phase" \
	"$BIN/prdshm-inspect" --name "$SHM" --check
t_grep "$TMP/out" "doomed|dead" "3. the report names the dead agent"
t_rc 0 "3. prdshm-inspect shows the lock still held" "$BIN/prdshm-inspect" --name "$SHM" locks
t_grep "$TMP/out" "dist/app.tar" "3. dist/app.tar is listed"

t_rc 0 "4. prdshm-cleanup reaps the dead agent" "$BIN/prdshm-cleanup" --name "$SHM"
t_rc 0 "4. the segment is healthy again" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 0 "4. the phase is FAILED" "$BIN/prdshm-phase" --name "$SHM" status package
t_grep "$TMP/out" "FAILED" "4. status says FAILED"
t_grep "$TMP/out" "died" "4. with the reason: its agent died"
t_rc 0 "4. no lock is left" "$BIN/prdshm-inspect" --name "$SHM" locks
if grep -q "dist/app.tar" "$TMP/out"; then not_ok "4. dist/app.tar still locked"; else
	ok "4. dist/app.tar is free"; fi

t_rc 0 "5. prdshm-phase retry package" "$BIN/prdshm-phase" --name "$SHM" retry package
t_rc 0 "5. package is QUEUED again" "$BIN/prdshm-phase" --name "$SHM" status package
t_grep "$TMP/out" "QUEUED" "5. status says QUEUED"

# 6a. An agent by hand runs what is left: package (attempt 2) and publish.
t_rc 0 "6a. a new prdshm-agent finishes the plan" timeout 60 \
	"$BIN/prdshm-agent" -q -c "$TMP/plan.yaml" --name "$SHM" --id rescuer
if [ "$(tr '\n' ' ' <"$TMP/done.log")" = "build package publish " ]; then
	ok "6a. build, package, publish each done once, in order"
else
	not_ok "6a. done.log is '$(tr '\n' ' ' <"$TMP/done.log")'"
fi
t_rc 0 "6a. healthy at the end" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 0 "6a. remove the segment" "$BIN/prdshm-cleanup" --name "$SHM" --unlink

# 6b. The same crash, continued with prdshm-run --attach instead.
shm_name
rm -f "$TMP/agent.pid" "$TMP/done.log"
t_rc 0 "6b. create again" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
"$BIN/prdshm-agent" -q -c "$TMP/plan.yaml" --name "$SHM" --id doomed >"$TMP/agent.out" 2>&1 &
agent=$!
BG_PIDS+=("$agent")
if wait_until 20 test -s "$TMP/agent.pid"; then
	kill -9 "$agent"
	wait "$agent" 2>/dev/null
	ok "6b. agent killed mid-phase"
else
	not_ok "6b. the agent never reached 'package'"
fi
t_rc 3 "6b. --check sees it" "$BIN/prdshm-inspect" --name "$SHM" --check
t_rc 0 "6b. prdshm-cleanup" "$BIN/prdshm-cleanup" --name "$SHM"
t_rc 0 "6b. prdshm-phase retry package" "$BIN/prdshm-phase" --name "$SHM" retry package
t_rc 0 "6b. prdshm-run --attach finishes the plan and removes the segment" timeout 60 \
	"$BIN/prdshm-run" -c "$TMP/plan.yaml" --name "$SHM" --attach --plain
t_grep "$TMP/out" "3 of 3 phases completed" "6b. the summary says 3 of 3"
if [ "$(tr '\n' ' ' <"$TMP/done.log")" = "build package publish " ]; then
	ok "6b. build, package, publish each done once, in order"
else
	not_ok "6b. done.log is '$(tr '\n' ' ' <"$TMP/done.log")'"
fi
if [ ! -e "/dev/shm${SHM}" ]; then ok "6b. segment removed"; else not_ok "6b. segment left"; fi


# 7. No hang on a wedged segment: a live process stopped inside the library
# while holding a lock partition's mutex.  prdshm-cleanup gives up after
# PRDSHM_RECOVER_WAIT_MS (2 s) with exit status 1, naming the mutex and its
# stopped holder; once the holder is killed its mutex is repaired like any
# dead holder's, and cleanup succeeds.  The holder is a small program built
# here against the test build of the library, whose PRDSHM_STOP_AT hook
# stops it with SIGSTOP inside the critical section.
LIBT="$(dirname "$BIN")/libprdshm-hooks.a"
cat >"$TMP/wedge.c" <<'EOF'
#include <stdlib.h>
#include "prdshm.h"
int main(int argc, char **argv)
{
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;

	if (argc != 2 || prdshm_seg_open(argv[1], &seg) != 0 ||
	    prdshm_session_open(seg, "wedged", 0, &s) != 0)
		return 1;
	setenv("PRDSHM_STOP_AT", "slot_alloc", 1);
	return prdshm_lock(s, "stuck", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL) ? 2 : 3;
}
EOF
wedge=""
if [ -e "$LIBT" ]; then
	# The test library may be built with a sanitizer: link the same way.
	for san in "" "-fsanitize=address,undefined" "-fsanitize=undefined"; do
		# shellcheck disable=SC2086
		if ${CC:-cc} -std=c11 -D_GNU_SOURCE -I"$ROOT/lib" $san -o "$TMP/wedge" "$TMP/wedge.c" \
			"$LIBT" -pthread -lyaml -lrt 2>/dev/null; then
			wedge="$TMP/wedge"
			break
		fi
	done
fi
stopped() {
	[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" = T ]
}
shm_name
if [ -z "$wedge" ]; then
	skip "7. no test build of the library ($LIBT) or no C compiler"
else
	t_rc 0 "7. create a segment" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
	"$wedge" "$SHM" &
	holder=$!
	BG_PIDS+=("$holder")
	if wait_until 20 stopped "$holder"; then
		ok "7. a process stopped inside a critical section"
	else
		not_ok "7. the holder never stopped"
	fi
	t_rc 1 "7. prdshm-cleanup gives up instead of hanging" \
		timeout 60 "$BIN/prdshm-cleanup" --name "$SHM"
	t_grep "$TMP/err" "lock partition [0-9]+ mutex still held after [0-9]+ ms by thread $holder \(alive, stopped\)" \
		"7. it names the mutex and the stopped holder"
	t_rc 0 "7. inspection is not blocked either" timeout 60 "$BIN/prdshm-inspect" --name "$SHM" agents
	t_grep "$TMP/out" "wedged" "7. the stopped agent is listed"
	t_rc 2 "7. cleanup --unlink refuses: the stopped agent is alive" \
		timeout 60 "$BIN/prdshm-cleanup" --name "$SHM" --unlink
	kill -9 "$holder"
	wait "$holder" 2>/dev/null
	t_rc 0 "7. once the holder is killed, prdshm-cleanup repairs" \
		timeout 60 "$BIN/prdshm-cleanup" --name "$SHM"
	t_rc 0 "7. healthy" "$BIN/prdshm-inspect" --name "$SHM" --check
	t_rc 0 "7. and removable" "$BIN/prdshm-cleanup" --name "$SHM" --unlink
fi

cli_done
