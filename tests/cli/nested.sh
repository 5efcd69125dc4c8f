#!/usr/bin/env bash
# nested.sh: locks taken by a command that runs under a held lock
# (PRDSHM_PARENT_SESSION, prdshm.h "Nested locks"), with real processes.
#
#  1. A phase with outputs: [out.txt] whose command runs
#     "prdshm-lock out.txt ..." completes: the command acts for its agent,
#     whose hold covers it (it used to wait lock_timeout_seconds for its
#     own agent and fail).
#  2. "prdshm-lock a -c 'prdshm-lock -w 4 b ...'" beside its mirror image is
#     a deadlock: one inner request fails with the cycle named, the other
#     completes, long before the 4 s timeout says "timed out".
#  3. Reentrant and counted: a nested hold released leaves the outer one;
#     a nested EXCLUSIVE under an outer SHARED waits for its own parent,
#     reported as a deadlock.
#  4. A nested holder SIGKILLed: the outer hold stays (another process still
#     finds it taken, by the live outer holder), the dead record is swept,
#     and once the outer holder ends nothing is left: the lock is free and
#     --check is healthy.
#  5. A Python command under prdshm-lock (the binding opens its sessions
#     through prdshm_session_open(), which honours the variable).
#
# tests/cli/zookeeper.sh runs cases 1-3 again on a ZooKeeper server
# (PRDSHM_TEST_BACKEND=zookeeper, PRDSHM_TEST_ZK_HOSTS, as for the unit
# tests); 4 and 5 look at what only shm has (a nested hold's own record, a
# segment opened by name).
#
# Synchronisation: files the commands create, polled with a bound.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"
# After lib.sh, which clears PRD_PARALLEL_*.
if [ "${PRDSHM_TEST_BACKEND:-shm}" = zookeeper ]; then
	export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$PRDSHM_TEST_ZK_HOSTS
fi

# ---- 1. a phase command locks its own output ------------------------------

shm_name
cat >"$TMP/plan.yaml" <<EOF2
wave_delay_seconds: 0
lock_timeout_seconds: 5
phases:
  - id: write
    outputs: [out.txt]
    command: '"$BIN/prdshm-lock" --name "$SHM" -w 5 out.txt -c "echo written > $TMP/out.txt" && "$BIN/prdshm-lock" --name "$SHM" -s -n out.txt true'
EOF2
t_rc 0 "case 1: create" "$BIN/prdshm-create" -q -c "$TMP/plan.yaml" --name "$SHM"
t_rc 0 "case 1: the phase that locks its own output completes" \
	"$BIN/prdshm-agent" -c "$TMP/plan.yaml" --name "$SHM" --id writer
t_grep "$TMP/out" "write completed" "case 1: the agent says the phase completed"
if [ "$(cat "$TMP/out.txt" 2>/dev/null)" = written ]; then ok "case 1: the command wrote out.txt"
else not_ok "case 1: out.txt not written"; fi
t_rc 0 "case 1: out.txt is free afterwards" "$BIN/prdshm-lock" --name "$SHM" -n out.txt true
t_rc 0 "case 1: healthy" "$BIN/prdshm-inspect" --name "$SHM" --check

# ---- 2. nested locks in a cycle across processes ---------------------------

shm_name
rm -f "$TMP/go"
# $1 outer resource, $2 inner one, $3 tag: hold $1, say so, wait for go,
# then ask for $2 within 4 s.
crossed() {
	"$BIN/prdshm-lock" --name "$SHM" "$1" -c "touch '$TMP/held-$3'; i=0;
		while [ ! -e '$TMP/go' ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i+1)); done;
		'$BIN/prdshm-lock' --name '$SHM' -w 4 '$2' -c 'echo inner-$3'" \
		>"$TMP/out-$3" 2>"$TMP/err-$3"
	echo $? >"$TMP/rc-$3"
}
crossed a b A &
BG_PIDS+=("$!")
crossed b a B &
BG_PIDS+=("$!")
if wait_until 20 test -e "$TMP/held-A" -a -e "$TMP/held-B"; then ok "case 2: both outer locks held"
else not_ok "case 2: the outer locks were never both held"; fi
touch "$TMP/go"
wait_until 20 test -e "$TMP/rc-A" -a -e "$TMP/rc-B"
rcs="$(cat "$TMP/rc-A" 2>/dev/null) $(cat "$TMP/rc-B" 2>/dev/null)"
if [ "$rcs" = "1 0" ] || [ "$rcs" = "0 1" ]; then ok "case 2: one gives up, the other completes ($rcs)"
else not_ok "case 2: exit statuses $rcs, expected one 1 and one 0"
	sed 's/^/#   /' "$TMP"/err-*; fi
cat "$TMP/err-A" "$TMP/err-B" >"$TMP/err"
t_grep "$TMP/err" "deadlock detected waiting for '[ab]': lock-[0-9]+ waits for lock-[0-9]+ waits for its child lock-[0-9]+ waits for lock-[0-9]+ waits for its child lock-[0-9]+" \
	"case 2: reported as a deadlock, the cycle named through the children"
if grep -q "timed out" "$TMP/err"; then not_ok "case 2: a request timed out instead"
else ok "case 2: no request waited for its timeout"; fi
cat "$TMP/out-A" "$TMP/out-B" >"$TMP/out"
t_grep "$TMP/out" "^inner-[AB]$" "case 2: the survivor's inner command ran"

# ---- 3. reentrant, counted; EXCLUSIVE under SHARED -------------------------

shm_name
rm -f "$TMP/nested-done" "$TMP/release"
"$BIN/prdshm-lock" --name "$SHM" x -c "'$BIN/prdshm-lock' --name '$SHM' -n x -c true &&
	'$BIN/prdshm-lock' --name '$SHM' -n -s x -c true && touch '$TMP/nested-done';
	$(hold_cmd "$TMP/outer-on" "$TMP/release")" >"$TMP/out-x" 2>"$TMP/err-x" &
outer=$!
BG_PIDS+=("$outer")
wait_until 20 test -e "$TMP/outer-on"
if [ -e "$TMP/nested-done" ]; then ok "case 3: nested EXCLUSIVE and SHARED locks granted at once"
else not_ok "case 3: the nested locks were refused"; sed 's/^/#   /' "$TMP/err-x"; fi
t_rc 1 "case 3: the nested releases left the outer hold" \
	"$BIN/prdshm-lock" --name "$SHM" -n x true
touch "$TMP/release"
wait "$outer"
t_rc 0 "case 3: free once the outer holder ends" "$BIN/prdshm-lock" --name "$SHM" -n x true
t_rc 1 "case 3: EXCLUSIVE under the parent's SHARED" \
	"$BIN/prdshm-lock" --name "$SHM" -s y -c "'$BIN/prdshm-lock' --name '$SHM' -w 10 y true"
t_grep "$TMP/err" "deadlock detected waiting for 'y': lock-[0-9]+ waits for lock-[0-9]+ waits for its child" \
	"case 3: ... is a deadlock with its own parent, not a 10 s wait"

if [ "${PRD_PARALLEL_BACKEND:-shm}" != shm ]; then
	cli_done
	exit
fi

# ---- 4. a nested holder killed -----------------------------------------------

shm_name
rm -f "$TMP/release" "$TMP/inner-on" "$TMP/inner-pid"
# The inner prdshm-lock keeps its session to itself (-o), so SIGKILL ends
# the session; its command is killed too.
"$BIN/prdshm-lock" --name "$SHM" k -c "'$BIN/prdshm-lock' --name '$SHM' -o -n k -c 'sleep 60' &
	echo \$! >'$TMP/inner-pid'; $(hold_cmd "$TMP/outer-on" "$TMP/release")" \
	>"$TMP/out-k" 2>"$TMP/err-k" &
outer=$!
BG_PIDS+=("$outer")
inner_holds() {
	[ "$("$BIN/prdshm-inspect" --name "$SHM" --json | grep -o '"held_s"' | wc -l)" = 2 ]
}
if wait_until 20 test -e "$TMP/outer-on" && wait_until 20 inner_holds; then
	ok "case 4: outer and nested holds of k"
else not_ok "case 4: never both held"; "$BIN/prdshm-inspect" --name "$SHM" | sed 's/^/#   /'; fi
inner=$(cat "$TMP/inner-pid" 2>/dev/null)
pkill -KILL -P "$inner" 2>/dev/null
kill -KILL "$inner" 2>/dev/null
t_rc 1 "case 4: k still taken after the nested holder died" \
	"$BIN/prdshm-lock" --name "$SHM" -n k true
t_grep "$TMP/err" "held by lock-$outer \(pid $outer, exclusive\)$" \
	"case 4: ... by the live outer holder alone (the dead record swept)"
t_rc 0 "case 4: healthy while the outer holder runs" "$BIN/prdshm-inspect" --name "$SHM" --check
touch "$TMP/release"
wait "$outer"
t_rc 0 "case 4: the outer holder exits 0" true
t_rc 0 "case 4: k is free once the outer holder ends" "$BIN/prdshm-lock" --name "$SHM" -n k true
t_rc 0 "case 4: nothing stranded" "$BIN/prdshm-inspect" --name "$SHM" --check

# ---- 5. the Python binding acts for its parent too -------------------------

shm_name
if [ -d "$BIN/../python/prdshm" ] && command -v python3 >/dev/null; then
	t_rc 0 "case 5: a Python command locks what its prdshm-lock holds" \
		env PYTHONPATH="$BIN/../python" "$BIN/prdshm-lock" --name "$SHM" out.txt \
		python3 -c "import prdshm
with prdshm.Segment('$SHM').lock('out.txt', timeout=3):
    print('python holds out.txt')"
	t_grep "$TMP/out" "^python holds out.txt$" "case 5: ... and ran under it"
else
	skip "case 5: the Python binding is not built (make python)"
fi

cli_done
