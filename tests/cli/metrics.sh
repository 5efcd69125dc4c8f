#!/usr/bin/env bash
# metrics.sh: prdshm-inspect --metrics, parsed by a real Prometheus parser
# (python3-prometheus-client with /usr/bin/python3, installed by the
# build), with the figures of contention made here by real processes; the
# same figures under --json, and the hottest resources of --watch.
set -u
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
# Quotes, a backslash and UTF-8: the label value must be escaped.
NAME='we"ird\res é'
shm_name
t_rc 0 "create" "$BIN/prdshm-create" --name "$SHM"

# A chain of holders: each next one queues (and waits) behind the current
# one, which then lets go: 3 contended grants of 4, and the resource never
# leaves the table, so its own figures stay.
start_holder() { # N [prdshm-lock options]
	local n=$1
	shift
	"$BIN/prdshm-lock" --name "$SHM" "$@" "$NAME" sh -c "$(hold_cmd "$TMP/s$n" "$TMP/g$n")" &
	BG_PIDS+=("$!")
}
start_holder 0
wait_until 10 test -e "$TMP/s0" && ok "first holder started" || not_ok "first holder started"
for n in 1 2 3; do
	start_holder "$n" -w 30
	if wait_until 10 sh -c "'$BIN/prdshm-inspect' --name '$SHM' locks | grep -q WAITS"; then
		ok "holder $n queued"
	else
		not_ok "holder $n queued"
	fi
	touch "$TMP/g$((n - 1))"
	wait_until 10 test -e "$TMP/s$n" && ok "holder $n granted" || not_ok "holder $n granted"
done
t_rc 1 "a timed request gives up" "$BIN/prdshm-lock" --name "$SHM" -w 0.2 "$NAME" true

t_rc 0 "inspect --metrics" "$BIN/prdshm-inspect" --name "$SHM" --metrics
cp "$TMP/out" "$TMP/metrics.txt"
t_grep "$TMP/metrics.txt" '^# TYPE prdshm_lock_wait_seconds histogram$' "histogram TYPE line"
t_grep "$TMP/metrics.txt" '^# HELP prdshm_lock_acquisitions_total ' "counter HELP line"

cat >"$TMP/check.py" <<'PYEOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families

path, shm, name = sys.argv[1:4]
types, samples = {}, {}
for fam in text_string_to_metric_families(open(path, encoding="utf-8").read()):
    for s in fam.samples:
        types[s.name] = fam.type
        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

def get(metric, **labels):
    labels["segment"] = shm
    key = (metric, tuple(sorted(labels.items())))
    if key not in samples:
        sys.exit("no sample %s %s" % key)
    return samples[key]

want = {
    "acquisitions_total": 4, "contended_total": 3, "timeouts_total": 1,
    "deadlocks_total": 0, "wait_seconds_count": 3,
}
for prefix, labels in (("prdshm_lock", {}), ("prdshm_resource", {"resource": name})):
    for m, v in want.items():
        got = get(prefix + "_" + m, **labels)
        if got != v:
            sys.exit("%s_%s%s = %s, want %s" % (prefix, m, labels, got, v))
    if get(prefix + "_wait_seconds_bucket", le="+Inf", **labels) != 3:
        sys.exit(prefix + ": +Inf bucket is not the count")
    if get(prefix + "_wait_seconds_sum", **labels) <= 0:
        sys.exit(prefix + ": no wait time")
    if types[prefix + "_acquisitions_total"] != "counter":
        sys.exit(prefix + "_acquisitions_total is not a counter")
    if types[prefix + "_wait_seconds_bucket"] != "histogram":
        sys.exit(prefix + "_wait_seconds is not a histogram")
print("ok")
PYEOF
if ! $PY -c 'import prometheus_client.parser' 2>/dev/null; then
	skip "--metrics parsed by prometheus_client: python3-prometheus-client missing (make python-deps)"
elif $PY "$TMP/check.py" "$TMP/metrics.txt" "$SHM" "$NAME" >"$TMP/py.out" 2>&1; then
	ok "--metrics parsed by prometheus_client, with the figures made here"
else
	not_ok "--metrics parsed by prometheus_client: $(cat "$TMP/py.out")"
	sed 's/^/#   /' "$TMP/metrics.txt" | head -40
fi

t_rc 0 "inspect --json" "$BIN/prdshm-inspect" --name "$SHM" --json
if $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))["metrics"]
r = [x for x in d["resources"] if x["resource"] == sys.argv[2]]
assert d["locks"]["contended"] == 3 and d["locks"]["timeouts"] == 1, d["locks"]
assert len(r) == 1 and r[0]["acquisitions"] == 4 and sum(r[0]["wait_buckets"]) == 3, r
assert len(d["wait_bucket_le_seconds"]) == 8 and d["wait_bucket_le_seconds"][7] is None
' "$TMP/out" "$NAME" 2>"$TMP/py.out"; then
	ok "--json has the same figures"
else
	not_ok "--json figures: $(tail -1 "$TMP/py.out")"
fi

t_rc 0 "--watch until interrupted" timeout --preserve-status -s INT 2 \
	"$BIN/prdshm-inspect" --name "$SHM" --watch
t_grep "$TMP/out" '^Hottest resources' "--watch shows the hottest resources"
t_grep "$TMP/out" '^  we"ird\\x5cres \\xc3\\xa9 +3 +4 ' "--watch names the hot resource"
t_rc 64 "--metrics with --json" "$BIN/prdshm-inspect" --name "$SHM" --metrics --json

# The resource leaves the table with its last holder: the totals keep it.
touch "$TMP/g3"
wait_until 10 sh -c "! '$BIN/prdshm-inspect' --name '$SHM' locks | grep -q exclusive" ||
	not_ok "last holder gone"
t_rc 0 "inspect --metrics after" "$BIN/prdshm-inspect" --name "$SHM" --metrics
t_grep "$TMP/out" '^prdshm_lock_contended_total\{segment="[^"]*"\} 3$' "totals kept"
grep -q '^prdshm_resource_acquisitions_total{' "$TMP/out" &&
	not_ok "the resource is still listed" || ok "the resource left the list"
# The phases' run times: one phase that runs at least 0.3 s.
shm_name
cat >"$TMP/plan.yaml" <<EOF2
wave_delay_seconds: 0
phases:
  - id: slow
    outputs: [slow-out]
    command: sleep 0.3
  - id: never
    dependencies: [slow]
    command: "false"
EOF2
t_rc 0 "create with a plan" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
t_rc 1 "an agent runs the phases" "$BIN/prdshm-agent" -q -c "$TMP/plan.yaml" --name "$SHM"
t_rc 0 "inspect --metrics with phases" "$BIN/prdshm-inspect" --name "$SHM" --metrics
if $PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
runs = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == "prdshm_phase_run_seconds":
            assert fam.type == "gauge", fam.type
            runs[(s.labels["phase"], s.labels["status"])] = s.value
assert runs[("slow", "COMPLETED")] >= 0.3, runs
assert ("never", "FAILED") in runs, runs
' "$TMP/out" 2>"$TMP/py.out"; then
	ok "--metrics: the phases' run times"
else
	not_ok "--metrics phases: $(tail -1 "$TMP/py.out")"
	sed 's/^/#   /' "$TMP/out" | grep phase
fi
cli_done
