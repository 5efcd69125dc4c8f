#!/usr/bin/env bash
# seg_default.sh: the default segment, shared by prdshm-lock and
# prdshm-run (issue 19, case 3).  prdshm-lock creates a segment that holds
# locks only, even beside a prdpar.yaml with a plan; prdshm-run replaces
# such a segment when nobody uses it, refuses (73) while someone does, and
# --attach refuses it (2) rather than run "0 of 0 phases".
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# The README's directory: a prdpar.yaml with a plan, where prdshm-lock runs.
cat >prdpar.yaml <<EOF2
wave_delay_seconds: 0
max_parallel_agents: 2
phases:
  - id: one
    command: "true"
  - id: two
    dependencies: [one]
    command: "true"
EOF2

shm_name
export PRD_PARALLEL_SHM_NAME=$SHM
t_rc 0 "prdshm-lock creates the default segment" "$BIN/prdshm-lock" out.txt -c true
t_rc 0 "it holds locks only: no phases" "$BIN/prdshm-inspect" --json
t_grep "$TMP/out" '"phases": 0' "the segment prdshm-lock made holds no plan"

t_rc 2 "prdshm-run --attach refuses a segment without a plan" "$BIN/prdshm-run" --attach --plain
t_grep "$TMP/err" "holds no plan.*without --attach" "--attach says what to run instead"
[ -e "/dev/shm${SHM}" ] && ok "--attach left the segment" || not_ok "--attach removed the segment"

# In use: a prdshm-lock holds a lock in it while prdshm-run starts.
"$BIN/prdshm-lock" out.txt -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
BG_PIDS+=($!)
wait_until 10 test -e "$TMP/held" || not_ok "the holder did not start"
t_rc 73 "prdshm-run refuses a lock-only segment in use" "$BIN/prdshm-run" --plain
t_grep "$TMP/err" "holds locks only.*in use by lock-" "the refusal names the user"
touch "$TMP/release"
wait

t_rc 0 "then prdshm-run replaces it and runs the plan (make run)" "$BIN/prdshm-run" --plain
t_grep "$TMP/out" "2 of 2 phases completed" "the plan of prdpar.yaml ran"
unset PRD_PARALLEL_SHM_NAME

cli_done
