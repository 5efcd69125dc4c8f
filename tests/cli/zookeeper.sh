#!/usr/bin/env bash
# zookeeper.sh: the lock and phase conformance suites (tests/test_lockconf.c,
# test_lockfaults.c, test_phaseconf.c, test_phaseprocs.c: conffix.h) again, on
# a standalone ZooKeeper server started for it (tests/zk/server.sh) on a
# free loopback port with a temporary data dir, stopped afterwards.  Skipped
# with a message when no server can be run or the library was built
# without the ZooKeeper client.
#
#  1. the server starts and answers within its deadline;
#  2. every test of both suites passes on backend: zookeeper (one "ok" per
#     test), a killed holder's lock freed after the 2 s session timeout,
#     a lock kept and a lock taken through a restart of the server,
#     deadlocks (two, three, two upgraders: one EDEADLK), PRDSHM_EINTR,
#     an expired holder told so on its next call, racing claimers in
#     several processes never sharing a phase, a killed claimer's phase
#     failed by reaping and requeued by the next claim;
#  3. PRD_PARALLEL_BACKEND=zookeeper reaches the server from the tools'
#     configuration: prdshm-create makes the segment's znode (and a second
#     create says it exists, exit 73), prdshm-lock runs a command under a
#     lock, and prdshm-inspect shows the segment (tests/cli/zk_tools.sh
#     tests the tools on ZooKeeper in full);
#  4. nested locks (tests/test_nested.c on ZooKeeper too): a prdshm-lock
#     run by prdshm-lock's command under the same exclusive lock acts for
#     it and gets it at once; without the variable it is busy (-w 0); and
#     tests/cli/nested.sh's cases 1-3 pass on the server (a phase command
#     of prdshm-agent locks its own output; two families crossed, a under
#     b and b under a, are a deadlock named through the children;
#     reentrant; EXCLUSIVE under SHARED a deadlock with one's own parent);
#  5. prdshm-phase steers the phases of a plan kept in ZooKeeper: skip is
#     applied (a second skip is refused, naming both states), a refused
#     retry exits 2, an unknown phase exits 2.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# shellcheck source=tests/zk/cli.sh
. "$ROOT/tests/zk/cli.sh"
SUITE_TIMEOUT=180

zk_cli_start zookeeper

# Not under TEST_WRAP (valgrind): the suite's bounds are for a server on
# the other end, and the client's threads under valgrind would miss them.
test_suite() {
	local suite=$1 log="$TMP/$1.log" rc name
	PRDSHM_TEST_BACKEND=zookeeper PRDSHM_TEST_ZK_HOSTS=$HOSTS \
		PRDSHM_TEST_ZK_HALT="bash $ROOT/tests/zk/server.sh halt $ZKDIR" \
		PRDSHM_TEST_ZK_START="bash $ROOT/tests/zk/server.sh start $ZKDIR $port" \
		timeout -k 5 "$SUITE_TIMEOUT" "$ROOT/$BUILD/tests/test_$suite" >"$log" 2>&1
	rc=$?
	# The client's own log lines (a restart of the server) may come
	# between a test's name and its verdict: a test passed when no
	# FAILED comes before the next test's name.
	while read -r name verdict; do
		if [ "$verdict" = passed ]; then ok "zookeeper: $suite $name"
		else not_ok "zookeeper: $suite $name"; fi
	done < <(awk '/^  Test: test_/ { if (t) print t, v; t = $2; v = "passed" }
		/FAILED/ { v = "FAILED" } END { if (t) print t, v }' "$log")
	if [ "$rc" != 0 ] || grep -q 'FAILED' "$log"; then
		not_ok "zookeeper: $suite on ZooKeeper (exit $rc)"; tail -40 "$log"
	fi
}

test_tools_select() {
	shm_name
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
	TEST_WRAP= t_rc 0 "zookeeper: prdshm-create with PRD_PARALLEL_BACKEND=zookeeper" \
		"$BIN/prdshm-create" --name "$SHM"
	TEST_WRAP= t_rc 73 "zookeeper: the segment is a znode: a second create finds it" \
		"$BIN/prdshm-create" --name "$SHM"
	TEST_WRAP= t_rc 0 "zookeeper: prdshm-lock runs its command under the lock" \
		"$BIN/prdshm-lock" --name "$SHM" -x res true
	TEST_WRAP= t_rc 0 "zookeeper: prdshm-inspect shows the segment" \
		"$BIN/prdshm-inspect" --name "$SHM"
	t_grep "$TMP/out" "^BACKEND zookeeper" "zookeeper: prdshm-inspect names the backend"
	unset PRD_PARALLEL_BACKEND PRD_PARALLEL_ZOOKEEPER_HOSTS
	[ -e "/dev/shm${SHM}" ] && not_ok "zookeeper: nothing in /dev/shm" ||
		ok "zookeeper: nothing in /dev/shm"
}

# A command under `prdshm-lock -x r` locking r again acts for its parent
# (PRDSHM_PARENT_SESSION): granted at once.  Without the variable it is
# an ordinary request, busy while the parent holds r.
test_nested_cli() {
	shm_name
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
	TEST_WRAP= t_rc 0 "zookeeper: nested: create" "$BIN/prdshm-create" --name "$SHM"
	TEST_WRAP= t_rc 0 "zookeeper: nested: a command under -x r gets -x r at once" \
		"$BIN/prdshm-lock" --name "$SHM" -w 20 -x r \
		"$BIN/prdshm-lock" --name "$SHM" -w 10 -x r true
	TEST_WRAP= t_rc 0 "zookeeper: nested: through sh -c, shared under exclusive" \
		"$BIN/prdshm-lock" --name "$SHM" -w 20 -x r sh -c \
		"\"$BIN/prdshm-lock\" --name $SHM -w 10 -s r true"
	TEST_WRAP= t_rc 1 "zookeeper: nested: without the variable the inner one is busy" \
		"$BIN/prdshm-lock" --name "$SHM" -w 20 -x r \
		env -u PRDSHM_PARENT_SESSION "$BIN/prdshm-lock" --name "$SHM" -w 0 -x r true
	t_grep "$TMP/err" "lock is taken" "zookeeper: nested: the inner one says the lock is taken"
	unset PRD_PARALLEL_BACKEND PRD_PARALLEL_ZOOKEEPER_HOSTS
}

# tests/cli/nested.sh on this server: its cases 1-3 (a phase command
# locking its agent's output, crossed families as a deadlock named through
# the children, reentrant and EXCLUSIVE under SHARED), each line relayed.
test_nested_sh() {
	local rc line
	(cd "$ROOT" && TEST_WRAP= PRDSHM_TEST_BACKEND=zookeeper PRDSHM_TEST_ZK_HOSTS=$HOSTS \
		timeout -k 5 "$SUITE_TIMEOUT" bash tests/cli/nested.sh) >"$TMP/nested.log" 2>&1
	rc=$?
	while read -r line; do
		case $line in
		"ok "*) ok "zookeeper: nested.sh ${line#ok * - }" ;;
		"not ok "*) not_ok "zookeeper: nested.sh ${line#not ok * - }" ;;
		esac
	done <"$TMP/nested.log"
	if [ "$rc" != 0 ] || ! grep -q '^ok ' "$TMP/nested.log"; then
		not_ok "zookeeper: nested.sh on ZooKeeper (exit $rc)"; tail -40 "$TMP/nested.log"
	fi
}

test_tools_phases() {
	shm_name
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
	printf 'shm_name: %s\nphases:\n  - id: a\n  - id: b\n    dependencies: [a]\n' \
		"$SHM" >"$TMP/plan.yaml"
	TEST_WRAP= t_rc 0 "zookeeper: prdshm-create loads the plan into the plan znode" \
		"$BIN/prdshm-create" -c "$TMP/plan.yaml"
	TEST_WRAP= t_rc 0 "zookeeper: prdshm-phase skip b" \
		"$BIN/prdshm-phase" -c "$TMP/plan.yaml" skip b
	TEST_WRAP= t_rc 2 "zookeeper: prdshm-phase skip b again is refused" \
		"$BIN/prdshm-phase" -c "$TMP/plan.yaml" skip b
	t_grep "$TMP/err" "SKIPPED -> SKIPPED" "zookeeper: the skip was kept in ZooKeeper"
	TEST_WRAP= t_rc 2 "zookeeper: prdshm-phase retry of a QUEUED phase is refused" \
		"$BIN/prdshm-phase" -c "$TMP/plan.yaml" retry a
	t_grep "$TMP/err" "QUEUED -> QUEUED" "zookeeper: the refusal names both states"
	TEST_WRAP= t_rc 2 "zookeeper: prdshm-phase: no such phase" \
		"$BIN/prdshm-phase" -c "$TMP/plan.yaml" cancel nosuch
	unset PRD_PARALLEL_BACKEND PRD_PARALLEL_ZOOKEEPER_HOSTS
}

# No server behind the hosts: one message of ours, exit 69 (unavailable),
# and the client's own log only when PRDSHM_ZOOKEEPER_LOG asks for it.
test_unreachable() {
	local dead
	dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=127.0.0.1:$dead
	export PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS=2000
	TEST_WRAP= t_rc 69 "zookeeper: no server at the hosts: prdshm-lock exits 69" \
		"$BIN/prdshm-lock" --name /prdshm-unreachable-$$ -x res true
	t_grep "$TMP/err" "cannot reach ZooKeeper at 127.0.0.1:$dead within 2000 ms" \
		"zookeeper: the message names the hosts and the time waited"
	if grep -q ZOO_ERROR "$TMP/err"; then not_ok "zookeeper: the client's own log is off by default"
	else ok "zookeeper: the client's own log is off by default"; fi
	PRDSHM_ZOOKEEPER_LOG=error TEST_WRAP= t_rc 69 "zookeeper: PRDSHM_ZOOKEEPER_LOG=error: exit 69" \
		"$BIN/prdshm-lock" --name /prdshm-unreachable-$$ -x res true
	t_grep "$TMP/err" "ZOO_ERROR" "zookeeper: PRDSHM_ZOOKEEPER_LOG=error shows the client's log"
	unset PRD_PARALLEL_BACKEND PRD_PARALLEL_ZOOKEEPER_HOSTS PRD_PARALLEL_ZOOKEEPER_SESSION_TIMEOUT_MS
}

test_suite lockconf
test_suite lockfaults
test_suite phaseconf
test_suite phaseprocs
test_suite nested
test_tools_select
test_nested_cli
test_nested_sh
test_tools_phases
test_unreachable
cli_done
