#!/usr/bin/env bash
# zk_tools.sh: the tools on backend: zookeeper, against a standalone server
# started for it (tests/zk/server.sh) and stopped afterwards.  Skipped with
# a message when no server can be run or the library was built without the
# ZooKeeper client.
#
#  1. test_zkview on the server: the agent record (heartbeats, the log
#     ring, a malformed record), a held lock and its waiter in a snapshot,
#     the checks of scribbled znodes, the settings in prdshm_seg_info;
#  2. prdshm-inspect, text and --json, while one prdshm-lock holds a lock
#     and another waits for it: the backend and its hosts named, both
#     agents with their pid, the holder and the waiter (waiting for the
#     holder) and each agent's host; --watch --json; --check healthy (0);
#     --metrics lists the locked resource; once both closed, their grants
#     in --metrics (parsed by python3-prometheus-client) and --json;
#  3. prdshm-cleanup: nothing to do on a healthy segment (0), --unlink
#     refused while agents live (2), removes the tree once they are gone
#     (0), after which prdshm-inspect finds no segment (66).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# shellcheck source=tests/zk/cli.sh
. "$ROOT/tests/zk/cli.sh"
PY=/usr/bin/python3

zk_cli_start zk_tools

# Not under TEST_WRAP: the client's threads under valgrind would miss the
# session's bounds.
test_program() {
	local log="$TMP/zkview.log" rc
	PRDSHM_TEST_BACKEND=zookeeper PRDSHM_TEST_ZK_HOSTS=$HOSTS \
		timeout -k 5 120 "$ROOT/$BUILD/tests/test_zkview" >"$log" 2>&1
	rc=$?
	while read -r name verdict; do
		case "$verdict" in
		*passed) ok "zk_tools: zkview $name" ;;
		*) not_ok "zk_tools: zkview $name" ;;
		esac
	done < <(grep -E '^  Test: ' "$log" | sed 's/^  Test: //')
	if [ "$rc" != 0 ] || grep -q 'FAILED' "$log"; then
		not_ok "zk_tools: test_zkview on ZooKeeper (exit $rc)"; tail -40 "$log"
	fi
}

# The JSON document in $TMP/out: the assertions of $1 (Python) on doc.
json_ok() {
	$PY -c "import json, socket, sys; doc = json.load(open('$TMP/out')); $1" 2>"$TMP/py.err"
}

# The lock metrics once the holder and the waiter of test_tools closed:
# their figures moved into <base>/metrics, two grants, the waiter's
# contended (it was seen waiting for seconds before the release), in
# Prometheus text that python3-prometheus-client parses, and in --json.
test_metrics() {
	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect --metrics after the closes" \
		"$BIN/prdshm-inspect" --name "$SHM" --metrics
	cp "$TMP/out" "$TMP/metrics.txt"
	if ! $PY -c 'import prometheus_client.parser' 2>/dev/null; then
		skip "zk_tools: --metrics parsed: python3-prometheus-client missing (make python-deps)"
	elif $PY - "$TMP/metrics.txt" "$SHM" >"$TMP/py.out" 2>&1 <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families

path, shm = sys.argv[1:3]
samples = {}
for fam in text_string_to_metric_families(open(path, encoding="utf-8").read()):
    for s in fam.samples:
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
want = {"acquisitions_total": 2, "contended_total": 1, "timeouts_total": 0,
        "deadlocks_total": 0, "wait_seconds_count": 1}
for m, v in want.items():
    got = samples.get(("prdshm_lock_" + m, (("segment", shm),)))
    assert got == v, "prdshm_lock_%s = %s, want %s" % (m, got, v)
assert samples[("prdshm_lock_wait_seconds_sum", (("segment", shm),))] > 0
assert not [k for k in samples if k[0].startswith("prdshm_resource_")], "resources listed"
print("ok")
PYEOF
	then ok "zk_tools: --metrics parsed by prometheus_client: the closed sessions' grants"
	else not_ok "zk_tools: --metrics figures: $(tail -1 "$TMP/py.out")"; head -20 "$TMP/metrics.txt"; fi
	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect --json after the closes" \
		"$BIN/prdshm-inspect" --name "$SHM" --json
	if json_ok "
m = doc['metrics']['locks']
assert (m['acquisitions'], m['contended'], sum(m['wait_buckets'])) == (2, 1, 1), m
assert doc['metrics']['resources'] == [], doc['metrics']
"; then ok "zk_tools: --json has the metrics"
	else not_ok "zk_tools: --json metrics"; cat "$TMP/py.err"; fi
}

# A lock held by one prdshm-lock and waited for by another, in the tools.
test_tools() {
	local holder waiter
	shm_name
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
	export PRD_PARALLEL_ZOOKEEPER_ROOT="/prdshm-cli-$$"
	PRD_PARALLEL_MAX_LOCKS=77 TEST_WRAP= t_rc 0 "zk_tools: prdshm-create" "$BIN/prdshm-create" --name "$SHM"
	t_grep "$TMP/out" "^created $SHM on ZooKeeper $HOSTS \(root /prdshm-cli-$$\): max_locks=77 " \
		"zk_tools: prdshm-create says where, with the settings stored"
	if grep -q 'not a setting' "$TMP/err"; then not_ok "zk_tools: the variables are settings"
	else ok "zk_tools: the variables are settings"; fi

	"$BIN/prdshm-lock" --name "$SHM" -x res1 sh -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
	holder=$!
	BG_PIDS+=("$holder")
	wait_until 20 test -e "$TMP/held" || not_ok "zk_tools: the holder did not start"
	"$BIN/prdshm-lock" --name "$SHM" -s -w 30 res1 true &
	waiter=$!
	BG_PIDS+=("$waiter")
	waiting() {
		"$BIN/prdshm-inspect" --name "$SHM" --json >"$TMP/out" 2>/dev/null &&
			json_ok "assert len(doc['locks'][0]['waiters']) == 1"
	}
	wait_until 20 waiting || not_ok "zk_tools: the waiter never showed"

	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect" "$BIN/prdshm-inspect" --name "$SHM"
	t_grep "$TMP/out" "^BACKEND zookeeper  hosts $HOSTS  root /prdshm-cli-$$" \
		"zk_tools: the text names the backend, its hosts and root"
	t_grep "$TMP/out" "exclusive holds +lock-$holder +$holder yes" \
		"zk_tools: the text shows the holder with its pid"
	t_grep "$TMP/out" "shared +WAITS +lock-$waiter +$waiter yes .*lock-$holder" \
		"zk_tools: the text shows the waiter waiting for the holder"

	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect --json" "$BIN/prdshm-inspect" --name "$SHM" --json
	if json_ok "
s = doc['segment']
assert s['backend'] == 'zookeeper', s
assert s['zookeeper'] == {'hosts': '$HOSTS', 'root': '/prdshm-cli-$$'}, s
assert s['name'] == '$SHM' and s['config']['lock_timeout_seconds'] == 300, s
assert s['limits']['max_locks'] == 77 and s['limits']['partitions'] == 0, s
agents = {a['pid']: a for a in doc['agents']}
for pid in ($holder, $waiter):
    assert agents[pid]['id'] == 'lock-%d' % pid and agents[pid]['alive'], agents
    assert agents[pid]['status'] == 'IDLE' and agents[pid]['start'], agents
    assert agents[pid]['host'] == socket.gethostname(), agents
(lock,) = doc['locks']
assert lock['resource'] == 'res1' and lock['mode'] == 'exclusive', lock
(h,) = lock['holders']
assert (h['agent'], h['pid'], h['mode'], h['alive']) == ('lock-$holder', $holder, 'exclusive', True), h
(w,) = lock['waiters']
assert (w['agent'], w['pid'], w['mode']) == ('lock-$waiter', $waiter, 'shared'), w
assert w['waits_for'] == ['lock-$holder'], w
assert doc['phases'] == [] and doc['problems'] == [], doc
"; then ok "zk_tools: --json: backend, agents with pids, holder and waiter"
	else not_ok "zk_tools: --json document"; cat "$TMP/py.err" "$TMP/out"; fi

	# --watch --json: one compact document per refresh, until interrupted.
	timeout -s INT 5 "$BIN/prdshm-inspect" --name "$SHM" --watch --json >"$TMP/watch" 2>&1
	if head -1 "$TMP/watch" | $PY -c "import json, sys; d = json.loads(sys.stdin.readline()); assert d['segment']['backend'] == 'zookeeper' and len(d['locks'][0]['waiters']) == 1" 2>"$TMP/py.err"
	then ok "zk_tools: --watch --json follows the segment"
	else not_ok "zk_tools: --watch --json"; cat "$TMP/py.err" "$TMP/watch" | head; fi

	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect --check: healthy" \
		"$BIN/prdshm-inspect" --name "$SHM" --check
	t_grep "$TMP/out" "$SHM: healthy" "zk_tools: --check says healthy"
	# The lock metrics: res1, locked now, is listed; its figures are not
	# written yet (a session writes them with its record: prdshm-lock at
	# its close).
	TEST_WRAP= t_rc 0 "zk_tools: prdshm-inspect --metrics" \
		"$BIN/prdshm-inspect" --name "$SHM" --metrics
	t_grep "$TMP/out" "^prdshm_resource_acquisitions_total{segment=\"$SHM\",resource=\"res1\"} 0\$" \
		"zk_tools: --metrics lists the resource locked now"
	TEST_WRAP= t_rc 0 "zk_tools: prdshm-cleanup on a healthy segment" \
		"$BIN/prdshm-cleanup" --name "$SHM"
	t_grep "$TMP/out" "healthy" "zk_tools: prdshm-cleanup says healthy"
	TEST_WRAP= t_rc 2 "zk_tools: prdshm-cleanup --unlink refused while agents live" \
		"$BIN/prdshm-cleanup" --name "$SHM" --unlink
	TEST_WRAP= t_rc 2 "zk_tools: --unlink --force refused too (no forced removal)" \
		"$BIN/prdshm-cleanup" --name "$SHM" --unlink --force

	touch "$TMP/release"
	wait "$holder"; wait "$waiter"
	test_metrics
	TEST_WRAP= t_rc 0 "zk_tools: prdshm-cleanup --unlink once they are gone" \
		"$BIN/prdshm-cleanup" --name "$SHM" --unlink
	TEST_WRAP= t_rc 66 "zk_tools: the segment is gone" "$BIN/prdshm-inspect" --name "$SHM"
	unset PRD_PARALLEL_BACKEND PRD_PARALLEL_ZOOKEEPER_HOSTS PRD_PARALLEL_ZOOKEEPER_ROOT
}

test_program
test_tools
cli_done
