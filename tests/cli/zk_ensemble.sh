#!/usr/bin/env bash
# zk_ensemble.sh: locks and the main job on a 3-server ZooKeeper ensemble
# (tests/zk/ensemble.sh, loopback ports, temporary data dirs) whose leader
# is killed -9 in the middle.  Skipped with a message when no server can be
# run or the library was built without the ZooKeeper client.
#
#  1. the ensemble elects a leader with two followers;
#  2. LOCKS: WORKERS processes each take an exclusive lock ROUNDS times
#     with prdshm-lock; the command under the lock creates a marker file
#     with O_EXCL (sh's noclobber) and removes it before the release, so a
#     second holder at the same time fails to create it (a double grant).
#     After KILL_AFTER grants (counted in a file, not timed), the leader is
#     killed -9: the other two elect a new one, the clients reconnect within
#     their 10 s session timeout, every worker completes every round, no
#     grant is doubled, and the grants go on after the kill;
#  3. THE MAIN JOB: prdshm-run on a plan of 9 phases, the leader killed -9
#     once PHASES_BEFORE_KILL phases have started: exit 0, every phase ran
#     exactly once (no double claim).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

ENSEMBLE="bash $ROOT/tests/zk/ensemble.sh"
WORKERS=3
ROUNDS=15
KILL_AFTER=15
PHASES_BEFORE_KILL=3
# Every wait is bounded; the whole script stays well under a minute.
WAIT_SECONDS=40

zk_or_skip zk_ensemble "$ROOT/tests/zk/ensemble.sh"

ZKDIR="$TMP/ensemble"
stop_ensemble() { $ENSEMBLE stop "$ZKDIR"; cli_cleanup; }
trap stop_ensemble EXIT

# ---- 1. the ensemble ----------------------------------------------------------

# Fresh servers for each part: the leader of each is killed.
start_ensemble() {
	if HOSTS=$($ENSEMBLE start "$ZKDIR" 2>"$TMP/zk-start.err"); then
		ok "zk_ensemble: 3 servers, one leader and two followers, at $HOSTS"
	else
		not_ok "zk_ensemble: the ensemble did not start"; cat "$TMP/zk-start.err"
		exit 1
	fi
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
	export PRD_PARALLEL_ZOOKEEPER_ROOT=/prdshm-ens-$$
	# Long enough that the failover (a second or two) expires no session.
	export PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS=10000
}

count() {
	[ -f "$1" ] && wc -l <"$1" || echo 0
}

at_least() {
	[ "$(count "$1")" -ge "$2" ]
}

# FILE has N lines, or process PID (if given) has ended.
reached() {
	at_least "$1" "$2" || { [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; }
}

find_leader() {
	LEADER_KILLED=$($ENSEMBLE leader "$ZKDIR")
	[ -n "$LEADER_KILLED" ]
}

# Kill the leader -9 once FILE has N lines (or give up when PID, if given,
# ends first); LEADER_KILLED and AT_KILL (the lines then) tell what
# happened.  @return 1 if the moment never came.
kill_leader_after() {
	local file=$1 n=$2 pid=${3:-}
	LEADER_KILLED=
	AT_KILL=
	if ! wait_until "$WAIT_SECONDS" reached "$file" "$n" "$pid" || ! at_least "$file" "$n"; then
		not_ok "zk_ensemble: $(basename "$file") never reached $n lines"
		return 1
	fi
	# A srvr answer can be slow on a loaded machine: ask for a few seconds.
	wait_until 10 find_leader
	AT_KILL=$(count "$file")
	if [ -n "$LEADER_KILLED" ] && $ENSEMBLE kill "$ZKDIR" "$LEADER_KILLED"; then
		ok "zk_ensemble: leader (server $LEADER_KILLED) killed -9 after $AT_KILL lines of $(basename "$file")"
	else
		not_ok "zk_ensemble: no leader to kill ('$LEADER_KILLED')"
		return 1
	fi
}

# The two left elect another leader.
check_new_leader() {
	local now
	if $ENSEMBLE quorum "$ZKDIR" 2>"$TMP/quorum.err" &&
		now=$($ENSEMBLE leader "$ZKDIR") && [ "$now" != "$LEADER_KILLED" ]; then
		ok "zk_ensemble: server $now leads the two left"
	else
		not_ok "zk_ensemble: no new leader"; cat "$TMP/quorum.err"
	fi
}

# ---- 2. locks ------------------------------------------------------------------

# The command run under the lock: the marker made with O_EXCL (set -C), or a
# line in "double"; a line in "grants"; the marker removed before release.
# The short pause keeps the lock held long enough for a second holder to
# meet the marker.  The redirection is in a subshell: a failed one on ":"
# (a special built-in) would end sh itself before it could say why.
UNDER_LOCK='set -C
if ! (: >"$1/marker") 2>/dev/null; then echo "$2" >>"$1/double"; exit 3; fi
echo "$2" >>"$1/grants"
sleep 0.02
rm -f "$1/marker"'

# Worker $1: ROUNDS exclusive locks, each a fresh prdshm-lock process (its
# own ZooKeeper session); a round that fails is written to "failed".
lock_worker() {
	local w=$1 r rc
	for r in $(seq "$ROUNDS"); do
		"$BIN/prdshm-lock" --name "$SHM" -x -w 30 res sh -c "$UNDER_LOCK" sh "$TMP/locks" "$w.$r" \
			2>>"$TMP/locks/worker-$w.err"
		rc=$?
		[ "$rc" = 0 ] || echo "worker $w round $r: exit $rc" >>"$TMP/locks/failed"
	done
}

test_locks() {
	local w pids=() total=$((WORKERS * ROUNDS)) left
	start_ensemble
	shm_name
	mkdir -p "$TMP/locks"
	TEST_WRAP= t_rc 0 "zk_ensemble: prdshm-create on the ensemble" "$BIN/prdshm-create" --name "$SHM"
	# PRD_PARALLEL_ZOOKEEPER_* are settings: no tool warns about them.
	if grep -q "is not a setting" "$TMP/err"; then
		not_ok "zk_ensemble: PRD_PARALLEL_ZOOKEEPER_* taken for unknown variables"
		sed 's/^/#   /' "$TMP/err"
	else
		ok "zk_ensemble: PRD_PARALLEL_ZOOKEEPER_* are known settings (no warning)"
	fi
	for w in $(seq "$WORKERS"); do
		lock_worker "$w" &
		pids+=($!)
		BG_PIDS+=($!)
	done
	kill_leader_after "$TMP/locks/grants" "$KILL_AFTER" && check_new_leader
	# Bounded: a worker still running after WAIT_SECONDS is killed.
	wait_until "$WAIT_SECONDS" bash -c "! kill -0 ${pids[*]} 2>/dev/null"
	left=$(for w in "${pids[@]}"; do kill -0 "$w" 2>/dev/null && echo "$w"; done)
	if [ -n "$left" ]; then
		not_ok "zk_ensemble: workers still running after ${WAIT_SECONDS}s: $left"
		kill -9 $left 2>/dev/null
	fi
	wait "${pids[@]}" 2>/dev/null
	if [ ! -s "$TMP/locks/double" ]; then
		ok "zk_ensemble: no double grant in $(count "$TMP/locks/grants") grants"
	else
		not_ok "zk_ensemble: double grants (the marker was there): $(tr '\n' ' ' <"$TMP/locks/double")"
	fi
	if [ ! -s "$TMP/locks/failed" ] && [ "$(count "$TMP/locks/grants")" = "$total" ]; then
		ok "zk_ensemble: all $WORKERS workers completed their $ROUNDS rounds ($total grants)"
	else
		not_ok "zk_ensemble: $(count "$TMP/locks/grants") of $total grants"
		sed 's/^/#   /' "$TMP/locks/failed" "$TMP"/locks/worker-*.err 2>/dev/null | tail -20
	fi
	if [ -n "${AT_KILL:-}" ] && [ "$AT_KILL" -lt "$total" ]; then
		ok "zk_ensemble: the kill came mid-run ($AT_KILL of $total grants before it)"
	else
		not_ok "zk_ensemble: the leader was not killed mid-run (${AT_KILL:-never})"
	fi
	$ENSEMBLE stop "$ZKDIR"
}

# ---- 3. the main job -------------------------------------------------------------

# 9 phases in three waves of three; each command says it started, runs a
# little (so that the kill finds phases running) and says it ended.
plan() {
	local a b
	cat <<EOF
max_parallel_agents: 3
wave_delay_seconds: 0
scheduling: eager
phase_max_attempts: 1
phases:
EOF
	for a in a b c; do
		for b in 1 2 3; do
			echo "  - id: $a$b"
			case $a in
			b) echo "    dependencies: [a1, a2, a3]" ;;
			c) echo "    dependencies: [b$b]" ;;
			esac
			echo "    command: echo $a$b >> \"$TMP/run/started\"; sleep 0.3; echo $a$b >> \"$TMP/run/ended\""
		done
	done
}

test_main_job() {
	local pid rc want
	start_ensemble
	mkdir -p "$TMP/run"
	plan >"$TMP/run.yaml"
	shm_name
	timeout "$WAIT_SECONDS" "$BIN/prdshm-run" -c "$TMP/run.yaml" --name "$SHM" --plain \
		>"$TMP/run/out" 2>"$TMP/run/err" &
	pid=$!
	BG_PIDS+=($pid)
	kill_leader_after "$TMP/run/started" "$PHASES_BEFORE_KILL" "$pid" && check_new_leader
	wait "$pid"
	rc=$?
	if [ "$rc" = 0 ]; then ok "zk_ensemble: the main job: prdshm-run exits 0 through the failover"; else
		not_ok "zk_ensemble: the main job: prdshm-run exit $rc"
		sed 's/^/#   /' "$TMP/run/out" "$TMP/run/err" | tail -30
	fi
	want=$(printf '%s\n' a1 a2 a3 b1 b2 b3 c1 c2 c3)
	if [ "$(sort "$TMP/run/started" 2>/dev/null)" = "$want" ] &&
		[ "$(sort "$TMP/run/ended" 2>/dev/null)" = "$want" ]; then
		ok "zk_ensemble: the main job: each of the 9 phases ran exactly once (no double claim)"
	else
		not_ok "zk_ensemble: the main job: phases started: $(sort "$TMP/run/started" 2>/dev/null | tr '\n' ' ')"
	fi
	if [ -n "${AT_KILL:-}" ] && [ "$AT_KILL" -lt 9 ]; then
		ok "zk_ensemble: the main job: the kill came mid-run ($AT_KILL of 9 phases started)"
	else
		not_ok "zk_ensemble: the main job: the leader was not killed mid-run (${AT_KILL:-never})"
	fi
	$ENSEMBLE stop "$ZKDIR"
}

test_locks
test_main_job
cli_done
