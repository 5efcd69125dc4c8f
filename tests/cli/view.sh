#!/usr/bin/env bash
# view.sh: what a person sees of a run (issue 19, cases 5 and 6).
#
#  1. prdshm-phase retry takes several ids.
#  2. prdshm-run --plain: a phase whose command waits for a lock held by
#     another process is reported as waiting for it (which lock, held by
#     whom), and its wait is counted apart in the summary.
#  3. A failed run: the actual critical path has only the phases that ran;
#     the summary says how to resume, and doing what it says completes the
#     run; without --keep it says to use --keep.
#  4. Ctrl-C: the summary says how to resume.
#  5. prdshm-inspect: a section selects the JSON members; --watch waits for
#     the segment, shows the new one when the name is created again, and
#     puts the exited agents on one line.
#  6. In tmux (skipped where tmux is missing): prdshm-run's live view names
#     the running phase and the one waiting for a lock, with its holder;
#     prdshm-inspect --watch fits a short terminal, segment and locks first.
#
# Waits are bounded polls on files, outputs and tmux captures.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

RUN_TIMEOUT=60

# ---- 1. prdshm-phase retry with several ids ----------------------------------

# Two phases that fail until $TMP/fixed exists, and one after both.
fail_plan() {
	cat <<EOF
wave_delay_seconds: 0
max_parallel_agents: 2
phases:
  - id: first
    command: "true"
  - id: bad1
    dependencies: [first]
    command: test -e "$TMP/fixed"
  - id: bad2
    dependencies: [first]
    command: test -e "$TMP/fixed"
  - id: never
    dependencies: [bad1]
    estimated_time: 5
    command: "true"
  - id: never2
    dependencies: [never, bad2]
    command: "true"
EOF
}

test_retry_many() {
	shm_name
	fail_plan >"$TMP/fail.yaml"
	rm -f "$TMP/fixed"
	t_rc 1 "retry: a run that fails, kept" timeout "$RUN_TIMEOUT" "$BIN/prdshm-run" \
		-c "$TMP/fail.yaml" --name "$SHM" --plain --keep
	t_rc 0 "retry: two ids at once" "$BIN/prdshm-phase" --name "$SHM" retry bad1 bad2
	t_rc 0 "retry: status" "$BIN/prdshm-phase" --name "$SHM" --json status
	if [ "$(grep -o '"status": "QUEUED"' "$TMP/out" | wc -l)" = 2 ]; then
		ok "retry: both phases are QUEUED"
	else
		not_ok "retry: not both QUEUED"; grep '"status"' "$TMP/out" | sed 's/^/#   /'
	fi
	t_rc 2 "retry: one refused among several: exit 2" "$BIN/prdshm-phase" --name "$SHM" \
		retry nosuch first
	t_grep "$TMP/err" "retry nosuch: no such phase" "retry: the refused id is named"
	t_grep "$TMP/err" "retry first: refused" "retry: each id is tried"
	rm -f "/dev/shm${SHM}"
}

# ---- 2. a phase waiting for a lock -------------------------------------------

# "busy" runs until $TMP/go exists; "needy" takes lock res.x in its command
# (prdshm-lock records PRD_PHASE_ID with it), says so ($TMP/got), and holds
# it until $TMP/go exists.
wait_plan() {
	cat >"$TMP/needy.sh" <<EOF
exec "$BIN/prdshm-lock" --name "\$PRD_SHM_NAME" -w 60 res.x sh -c '$(hold_cmd "$TMP/got" "$TMP/go")'
EOF
	cat <<EOF
wave_delay_seconds: 0
max_parallel_agents: 2
monitoring_update_interval: 1
phases:
  - id: busy
    command: sh -c '$(hold_cmd "$TMP/busy" "$TMP/go")'
  - id: needy
    command: sh "$TMP/needy.sh"
EOF
}

# Hold res.x in $SHM from a test process until $TMP/release exists.
hold_res() {
	rm -f "$TMP/held" "$TMP/release"
	"$BIN/prdshm-lock" --name "$SHM" res.x sh -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
	HOLDER=$!
	BG_PIDS+=("$HOLDER")
	wait_until 20 test -e "$TMP/held" || not_ok "the test process never got res.x"
}

# Let the test process go, and wait for it.
release_res() {
	touch "$TMP/release"
	wait "$HOLDER" 2>/dev/null
}

# The lock table shows a waiter for res.x.
res_waited() {
	"$BIN/prdshm-inspect" --name "$SHM" --json locks | grep -q '"waits_for"'
}

test_lock_wait_plain() {
	local pid
	shm_name
	wait_plan >"$TMP/wait.yaml"
	rm -f "$TMP/go" "$TMP/busy" "$TMP/got"
	t_rc 0 "wait: create" "$BIN/prdshm-create" -q -c "$TMP/wait.yaml" --name "$SHM"
	hold_res
	timeout "$RUN_TIMEOUT" "$BIN/prdshm-run" -c "$TMP/wait.yaml" --name "$SHM" --attach \
		--plain >"$TMP/run.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 20 res_waited || not_ok "wait: needy never waited for res.x"
	wait_until 20 grep -q "needy waiting" "$TMP/run.out"
	release_res
	wait_until 20 test -e "$TMP/got" || not_ok "wait: needy never got res.x"
	wait_until 20 grep -q "needy got lock" "$TMP/run.out"
	touch "$TMP/go"
	wait "$pid"
	cp "$TMP/run.out" "$TMP/out"
	t_grep "$TMP/out" "needy waiting for lock res\.x, held by lock-$HOLDER \(pid $HOLDER\)" \
		"wait: the event names the lock and its holder"
	t_grep "$TMP/out" "needy got lock res\.x: running" "wait: the event says when it got the lock"
	t_grep "$TMP/out" "^needy .* COMPLETED .*[0-9.]+m?s +[0-9.]+m?s +-$" \
		"wait: the summary counts needy's lock wait apart"
	t_grep "$TMP/out" "^busy .* COMPLETED .*[0-9.]+m?s +- +-$" \
		"wait: busy waited for no lock"
	rm -f "/dev/shm${SHM}"
}

# ---- 3. a failed run: critical path, how to resume ---------------------------

test_failed_run() {
	local cmds
	shm_name
	rm -f "$TMP/fixed"
	t_rc 1 "failed: run fails" timeout "$RUN_TIMEOUT" "$BIN/prdshm-run" \
		-c "$TMP/fail.yaml" --name "$SHM" --plain --keep
	if grep "^Critical path, actual" "$TMP/out" | grep -q "never"; then
		not_ok "failed: the actual critical path lists a phase that never ran"
		grep "^Critical path" "$TMP/out" | sed 's/^/#   /'
	else
		ok "failed: the actual critical path lists only phases that ran"
	fi
	t_grep "$TMP/out" "^Critical path, actual: +first > bad[12] \(" \
		"failed: the actual critical path is first > bad"
	t_grep "$TMP/out" "^  prdshm-phase --name $SHM retry bad1 bad2$" \
		"failed: the summary says which phases to retry"
	t_grep "$TMP/out" "^  prdshm-run -c $TMP/fail.yaml --name $SHM --attach$" \
		"failed: the summary says to attach"
	# Do what it says: the run completes.
	touch "$TMP/fixed"
	cmds=$(sed -n 's/^  \(prdshm-[a-z]* .*\)$/\1/p' "$TMP/out")
	t_rc 0 "failed: the suggested commands finish the run" \
		env PATH="$BIN:$PATH" timeout "$RUN_TIMEOUT" sh -c "set -e; ${cmds//$'\n'/; } --plain"
	t_grep "$TMP/out" "5 of 5 phases completed" "failed: resumed, every phase completed"

	shm_name
	rm -f "$TMP/fixed"
	t_rc 1 "failed, not kept: run fails" timeout "$RUN_TIMEOUT" "$BIN/prdshm-run" \
		-c "$TMP/fail.yaml" --name "$SHM" --plain
	t_grep "$TMP/out" "segment is removed: .*--keep" "failed, not kept: the summary suggests --keep"
	rm -f "/dev/shm${SHM}"
}

# ---- 4. Ctrl-C: how to resume ------------------------------------------------

test_interrupted() {
	local pid
	shm_name
	rm -f "$TMP/go" "$TMP/busy" "$TMP/got"
	setsid "$BIN/prdshm-run" -c "$TMP/wait.yaml" --name "$SHM" --plain >"$TMP/out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 20 test -e "$TMP/busy" || not_ok "interrupt: busy never started"
	kill -INT -- "-$pid"
	wait "$pid"
	t_grep "$TMP/out" "^To resume:" "interrupt: the summary says how to resume"
	t_grep "$TMP/out" "^  prdshm-phase --name $SHM retry busy" "interrupt: retry the cancelled"
	t_grep "$TMP/out" "^  prdshm-run -c $TMP/wait.yaml --name $SHM --attach$" \
		"interrupt: then attach"
	rm -f "/dev/shm${SHM}"
}

# ---- 5. prdshm-inspect: JSON sections, --watch -------------------------------

test_json_section() {
	local members
	shm_name
	t_rc 0 "json section: create" "$BIN/prdshm-create" -q --name "$SHM"
	t_rc 0 "json section: locks" "$BIN/prdshm-inspect" --name "$SHM" --json locks
	# Indented by 2: the top-level members, one a line.
	members=$(sed -n 's/^  "\([a-z_]*\)": .*/\1/p' "$TMP/out" | tr '\n' ' ')
	if [ "$members" = "segment locks " ]; then ok "json section: only segment and locks"
	else not_ok "json section: members: $members"; fi
	rm -f "/dev/shm${SHM}"
}

# Start prdshm-inspect --watch on $SHM in the background, output to $TMP/watch.
start_watch() {
	"$BIN/prdshm-inspect" --name "$SHM" --watch "$@" >"$TMP/watch" 2>"$TMP/watch.err" &
	WATCH=$!
	BG_PIDS+=("$WATCH")
}

stop_watch() {
	kill "$WATCH" 2>/dev/null
	wait "$WATCH" 2>/dev/null
}

test_watch_follows() {
	shm_name
	printf 'monitoring_update_interval: 1\n' >"$TMP/mon.yaml"
	cd "$TMP" || return
	cp "$TMP/mon.yaml" prdpar.yaml
	start_watch locks
	wait_until 10 grep -q "waiting for it to be created" "$TMP/watch"
	if kill -0 "$WATCH" 2>/dev/null; then ok "watch: started before the segment, it waits"; else
		not_ok "watch: exited before the segment was created"; cat "$TMP/watch.err"; fi
	t_rc 0 "watch: create" "$BIN/prdshm-create" -q --name "$SHM"
	hold_res
	if wait_until 10 grep -q "^res\.x" "$TMP/watch"; then ok "watch: shows the segment once created"
	else not_ok "watch: the segment never shown"; head -20 "$TMP/watch"; fi
	# A new segment under the name, its holder's old one unlinked under it:
	# made under another name and renamed over it (the same object in
	# /dev/shm), so that the watch never sees the name missing and only its
	# creation time tells them apart.
	t_rc 0 "watch: create the new one" "$BIN/prdshm-create" -q --name "${SHM}x"
	"$BIN/prdshm-lock" --name "${SHM}x" new.res sh -c "$(hold_cmd "$TMP/held2" "$TMP/release2")" &
	BG_PIDS+=("$!")
	wait_until 20 test -e "$TMP/held2" || not_ok "watch: new.res never held"
	mv -f "/dev/shm${SHM}x" "/dev/shm${SHM}"
	if wait_until 10 grep -q "^new\.res" "$TMP/watch"; then ok "watch: follows the new segment"
	else not_ok "watch: still shows the old segment"; tail -8 "$TMP/watch" | sed 's/^/#   /'; fi
	t_grep "$TMP/watch" "segment $SHM was created again" "watch: says the segment is new"
	release_res
	touch "$TMP/release2"
	stop_watch
	cd "$TMP/cwd" || return
	rm -f "/dev/shm${SHM}"
}

test_watch_exited() {
	shm_name
	t_rc 0 "exited: create" "$BIN/prdshm-create" -q --name "$SHM"
	for i in 1 2 3 4 5 6; do "$BIN/prdshm-lock" --name "$SHM" "r$i" true; done
	start_watch -c "$TMP/mon.yaml" agents
	wait_until 10 grep -q "exited agents" "$TMP/watch"
	stop_watch
	t_grep "$TMP/watch" "^\(6 exited agents not listed\)" "exited: six exited agents on one line"
	if grep -q "EXITED" "$TMP/watch"; then not_ok "exited: EXITED rows listed"; else
		ok "exited: no EXITED row"; fi
	rm -f "/dev/shm${SHM}"
}

# ---- 6. in tmux --------------------------------------------------------------

TMUX_SOCK="prdshm-view-$$"

tmx() {
	tmux -L "$TMUX_SOCK" -f /dev/null "$@"
}

# The pane as a person sees it, in $TMP/pane.
capture() {
	tmx capture-pane -p -t view >"$TMP/pane" 2>/dev/null
}

# pane_shows REGEX...: the pane shows every one of them at once.
pane_shows() {
	local re
	capture || return 1
	for re in "$@"; do grep -Eq -- "$re" "$TMP/pane" || return 1; done
}

# tmux_expect SECONDS "description" REGEX...: poll the pane until it shows
# them all, then ok; not_ok with the pane otherwise.
tmux_expect() {
	local limit=$1 what=$2
	shift 2
	if wait_until "$limit" pane_shows "$@"; then ok "$what"; else
		not_ok "$what: the pane shows:"; sed 's/^/#   |/' "$TMP/pane"; fi
}

test_tmux_run() {
	shm_name
	rm -f "$TMP/go" "$TMP/busy" "$TMP/got"
	t_rc 0 "tmux run: create" "$BIN/prdshm-create" -q -c "$TMP/wait.yaml" --name "$SHM"
	hold_res
	tmx new-session -d -s view -x 110 -y 24 \
		"TERM=xterm timeout $RUN_TIMEOUT '$BIN/prdshm-run' -c '$TMP/wait.yaml' --name '$SHM' --attach; echo RUN-EXITED \$?; sleep 60"
	tmux_expect 20 "tmux run: the live view shows busy running and needy waiting for res.x, held by the test process" \
		"^\[\.+\] 0/2 .* 1 running +1 waiting" "^  running  busy +agent-[12] " \
		"^  waiting  needy +agent-[12] +[0-9.]+m?s +for lock res\.x, held by lock-$HOLDER \(pid $HOLDER\)"
	release_res
	tmux_expect 20 "tmux run: once the lock is free, needy runs" \
		"^\[.+\] 0/2 .* 2 running +0 waiting" "^  running  busy " "^  running  needy "
	touch "$TMP/go"
	tmux_expect 20 "tmux run: the summary" "2 of 2 phases completed" "^RUN-EXITED 0"
	if grep -q "^\[.*\] [0-9]/2" "$TMP/pane"; then
		not_ok "tmux run: the live view was left on the screen"; else
		ok "tmux run: the live view is erased at the end"; fi
	tmx kill-session -t view
	rm -f "/dev/shm${SHM}"
}

# Eight phases at once in a pane of 7 rows: the live view keeps to the
# screen (erasing it moves up one row per line), the rest counted.
test_tmux_run_short() {
	local i
	shm_name
	rm -f "$TMP/go"
	# hold_cmd with its two files as arguments.
	cat >"$TMP/hold.sh" <<'EOF'
touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
EOF
	{
		printf 'wave_delay_seconds: 0\nmax_parallel_agents: 8\nmonitoring_update_interval: 1\nphases:\n'
		for i in $(seq 1 8); do
			printf '  - id: p%d\n    command: sh %s %s %s\n' "$i" "$TMP/hold.sh" "$TMP/s$i" "$TMP/go"
		done
	} >"$TMP/eight.yaml"
	tmx new-session -d -s view -x 80 -y 7 \
		"TERM=xterm timeout $RUN_TIMEOUT '$BIN/prdshm-run' -c '$TMP/eight.yaml' --name '$SHM'; sleep 60"
	tmux_expect 20 "tmux run, 7 rows: the bar, some running phases and '... N more'" \
		"^\[\.+\] 0/8 .* 8 running" "^  running  p[0-9] " "^  \.\.\. [0-9] more$"
	if [ "$(grep -c "^  running  " "$TMP/pane")" -le 4 ]; then ok "tmux run, 7 rows: at most 4 phase lines"
	else not_ok "tmux run, 7 rows: $(grep -c "^  running  " "$TMP/pane") phase lines"; fi
	touch "$TMP/go"
	tmux_expect 20 "tmux run, 7 rows: the run ends" "^Critical path, actual: "
	tmx kill-session -t view
	rm -f "/dev/shm${SHM}"
}

# Many phases, one lock held: in 22 rows, the segment and the lock come
# first and the phases are cut.
test_tmux_watch() {
	local i
	shm_name
	{
		printf 'monitoring_update_interval: 1\nphases:\n'
		for i in $(seq 1 40); do printf '  - id: phase%02d\n    command: "true"\n' "$i"; done
	} >"$TMP/many.yaml"
	t_rc 0 "tmux watch: create" "$BIN/prdshm-create" -q -c "$TMP/many.yaml" --name "$SHM"
	hold_res
	tmx new-session -d -s view -x 100 -y 22 \
		"TERM=xterm '$BIN/prdshm-inspect' -c '$TMP/many.yaml' --name '$SHM' --watch; sleep 60"
	tmux_expect 20 "tmux watch: segment, the held lock and the cut phases fit 22 rows" \
		"^SEGMENT $SHM " "^LOCKS" "^res\.x" "holds +lock-$HOLDER" "^PHASES" \
		"^\.\.\. [0-9]+ more"
	if head -1 "$TMP/pane" | grep -q "^SEGMENT"; then ok "tmux watch: the header is the first line"
	else not_ok "tmux watch: the first line is: $(head -1 "$TMP/pane")"; fi
	release_res
	tmx kill-session -t view
	rm -f "/dev/shm${SHM}"
}

test_retry_many
test_lock_wait_plain
test_failed_run
test_interrupted
test_json_section
test_watch_follows
test_watch_exited
if command -v tmux >/dev/null 2>&1; then
	trap 'tmx kill-server 2>/dev/null; cli_cleanup' EXIT
	test_tmux_run
	test_tmux_run_short
	test_tmux_watch
else
	skip "tmux tests: tmux is not installed (apt-get install tmux)"
fi
cli_done
