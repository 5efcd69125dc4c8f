#!/usr/bin/env bash
# zookeeper.sh: the lock conformance suite (tests/test_lockconf.c) again,
# on a standalone ZooKeeper server started for it (tests/zk/server.sh) on a
# free loopback port with a temporary data dir, stopped afterwards.  Skipped
# with a message when no server can be run or the library was built
# without the ZooKeeper client.
#
#  1. the server starts and answers within its deadline;
#  2. every test of the suite passes on backend: zookeeper (one "ok" per
#     test), a killed holder's lock freed after the 2 s session timeout,
#     a lock kept and a lock taken through a restart of the server,
#     deadlocks (two, three, two upgraders: one EDEADLK), PRDSHM_EINTR,
#     an expired holder told so on its next call;
#  3. PRD_PARALLEL_BACKEND=zookeeper reaches the server from the tools'
#     configuration: prdshm-create makes the segment's znode (and a second
#     create says it exists, exit 73), prdshm-lock runs a command under a
#     lock, and prdshm-inspect shows the segment (tests/cli/zk_tools.sh
#     tests the tools on ZooKeeper in full).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# shellcheck source=tests/zk/cli.sh
. "$ROOT/tests/zk/cli.sh"
PROG="$ROOT/$BUILD/tests/test_lockconf"
SUITE_TIMEOUT=180

zk_cli_start zookeeper

# Not under TEST_WRAP (valgrind): the suite's bounds are for a server on
# the other end, and the client's threads under valgrind would miss them.
test_suite() {
	local log="$TMP/lockconf.log" rc name
	PRDSHM_TEST_BACKEND=zookeeper PRDSHM_TEST_ZK_HOSTS=$HOSTS \
		PRDSHM_TEST_ZK_HALT="bash $ROOT/tests/zk/server.sh halt $ZKDIR" \
		PRDSHM_TEST_ZK_START="bash $ROOT/tests/zk/server.sh start $ZKDIR $port" \
		timeout -k 5 "$SUITE_TIMEOUT" "$PROG" >"$log" 2>&1
	rc=$?
	# The client's own log lines (a restart of the server) may come
	# between a test's name and its verdict: a test passed when no
	# FAILED comes before the next test's name.
	while read -r name verdict; do
		if [ "$verdict" = passed ]; then ok "zookeeper: lockconf $name"
		else not_ok "zookeeper: lockconf $name"; fi
	done < <(awk '/^  Test: test_/ { if (t) print t, v; t = $2; v = "passed" }
		/FAILED/ { v = "FAILED" } END { if (t) print t, v }' "$log")
	if [ "$rc" != 0 ] || grep -q 'FAILED' "$log"; then
		not_ok "zookeeper: lockconf on ZooKeeper (exit $rc)"; tail -40 "$log"
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

test_suite
test_tools_select
cli_done
