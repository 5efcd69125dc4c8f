#!/usr/bin/env bash
# run.sh: prdshm-run and prdshm-agent end to end.
#
#  1. The default plan (prdpar.yaml) with 3 agents: every phase completed
#     exactly once, dependencies respected, never more than
#     max_parallel_agents commands at once, phases that share an output
#     never run at the same time (from the trace the plan's commands
#     write), the segment removed at the end.
#  2. A leftover segment: prdshm-run refuses with 73; --attach finishes it.
#  3. An agent SIGKILLed mid-phase: the run goes on to the end with a
#     replacement agent; the phase fails (phase_max_attempts: 1) or runs
#     again (2); nothing stays locked; the command died with its agent.
#  4. SIGTERM to an agent and SIGINT to prdshm-run: the running phase is
#     CANCELLED, its command terminated, the segment kept and healthy.
#
# Waits are bounded polls on files the commands create, never bare sleeps.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

RUN_TIMEOUT=60

# ---- 1. the default plan ---------------------------------------------------

# The ids, dependencies and outputs of prdpar.yaml's plan, one phase a line:
# "id|dep dep|out out".  Good enough for the file's own layout.
plan_table() {
	awk '
	function flush() { if (id != "") print id "|" deps "|" outs; id = ""; deps = ""; outs = "" }
	function list(s) { sub(/^[^[]*\[/, "", s); sub(/\].*$/, "", s); gsub(/,/, " ", s); gsub(/  +/, " ", s); return s }
	/^  - id: / { flush(); id = $3 }
	/^    dependencies: / { deps = list($0) }
	/^    outputs: / { outs = list($0) }
	END { flush() }' "$1"
}

# Checks over trace.log: "start|end <id> <ns> <agent> <deps...>".
check_trace() {
	local trace=$1 table=$2 max=$3
	awk -v max="$max" '
	NR == FNR { split($0, f, "|"); ids[f[1]] = 1; deps[f[1]] = f[2]; outs[f[1]] = f[3]; next }
	$1 == "start" { s[$2] = $3; ns[$2]++ }
	$1 == "end" { e[$2] = $3 }
	END {
		bad = 0
		for (id in ids) {
			if (ns[id] != 1) { print "# " id " started " ns[id] + 0 " times"; bad = 1; continue }
			k = split(deps[id], d, " ")
			for (j = 1; j <= k; j++)
				if (!(d[j] in e) || e[d[j]] >= s[id]) { print "# " id " started before " d[j] " ended"; bad = 1 }
		}
		for (a in ids) for (b in ids) if (a < b) {
			ka = split(outs[a], oa, " "); kb = split(outs[b], ob, " ")
			for (x = 1; x <= ka; x++) for (y = 1; y <= kb; y++)
				if (oa[x] == ob[y] && s[a] < e[b] && s[b] < e[a]) {
					print "# " a " and " b " wrote " oa[x] " at the same time"; bad = 1 }
		}
		exit bad
	}' "$table" "$trace" || return 1
	# Most commands in progress at once: ends sort before starts.
	awk '$1 == "start" { print $3, 1 } $1 == "end" { print $3, 0 }' "$trace" | sort -n -k1,1 -k2,2 |
		awk -v max="$max" '{ cur += $2 ? 1 : -1; if (cur > top) top = cur }
			END { print "# at most " top " commands at once"; exit !(top <= max && top >= 2) }'
}

test_default_plan() {
	local table="$TMP/table" ids n max
	shm_name
	mkdir -p "$TMP/plan1" && cd "$TMP/plan1" || return
	max=$(sed -n 's/^max_parallel_agents: *//p' "$ROOT/prdpar.yaml")
	plan_table "$ROOT/prdpar.yaml" >"$table"
	n=$(wc -l <"$table")
	PRD_PARALLEL_WAVE_DELAY_SECONDS=0 timeout "$RUN_TIMEOUT" \
		"$BIN/prdshm-run" -c "$ROOT/prdpar.yaml" --name "$SHM" -j 3 --plain \
		>"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ "$rc" = 0 ]; then ok "default plan: prdshm-run exits 0"; else
		not_ok "default plan: prdshm-run exit $rc"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | tail -30; fi
	t_grep "$TMP/out" "^$SHM: $n of $n phases completed" "default plan: the summary counts $n of $n"
	ids=$(cut -d'|' -f1 "$table" | sort)
	if [ "$(cut -d' ' -f1 build/plan-out/phases.log | sort)" = "$ids" ]; then
		ok "default plan: each of the $n phases ran exactly once"
	else
		not_ok "default plan: phases.log does not list each phase once"
		sed 's/^/#   /' build/plan-out/phases.log
	fi
	if check_trace build/plan-out/trace.log "$table" "$max"; then
		ok "default plan: order, parallelism (<= $max) and shared outputs respected"
	else
		not_ok "default plan: the trace breaks a rule"
	fi
	if [ -z "$(find build/plan-out -name '*.writing')" ] && [ "$(grep -c '^- ' build/plan-out/CHANGELOG.md)" = 5 ]; then
		ok "default plan: CHANGELOG.md has all 5 entries and no writer left inside"
	else
		not_ok "default plan: CHANGELOG.md incomplete"
	fi
	t_grep "$TMP/out" "Critical path, estimated: foundation > .* > integration" \
		"default plan: the summary shows the estimated critical path"
	if [ ! -e "/dev/shm${SHM}" ]; then ok "default plan: segment removed at the end"; else
		not_ok "default plan: segment left behind"; fi
	cd "$TMP/cwd" || return
}

# ---- 2. a leftover segment ---------------------------------------------------

# A tiny plan: "a" then "b", writing under $TMP.
small_plan() {
	cat <<EOF
max_parallel_agents: 2
wave_delay_seconds: 0
phases:
  - id: a
    command: echo a >> "$TMP/small.log"
  - id: b
    dependencies: [a]
    command: echo b >> "$TMP/small.log"
EOF
}

test_leftover() {
	shm_name
	small_plan >"$TMP/small.yaml"
	t_rc 0 "create a segment by hand" "$BIN/prdshm-create" -q -c "$TMP/small.yaml" --name "$SHM"
	t_rc 73 "prdshm-run refuses an existing segment" \
		"$BIN/prdshm-run" -c "$TMP/small.yaml" --name "$SHM" --plain
	t_grep "$TMP/err" "already exists.*" "the refusal says the segment exists"
	t_grep "$TMP/err" "prdshm-cleanup --unlink" "the refusal suggests prdshm-cleanup --unlink"
	t_rc 0 "prdshm-run --attach runs it to the end" timeout "$RUN_TIMEOUT" \
		"$BIN/prdshm-run" -c "$TMP/small.yaml" --name "$SHM" --attach --plain
	if [ "$(cat "$TMP/small.log" 2>/dev/null | tr '\n' ' ')" = "a b " ]; then
		ok "attached run executed a then b"
	else
		not_ok "attached run: small.log is '$(cat "$TMP/small.log" 2>/dev/null)'"
	fi
	t_rc 66 "--attach to a missing segment" "$BIN/prdshm-run" --name "$SHM" --attach --plain
	t_rc 64 "-j 0 is a usage error" "$BIN/prdshm-run" -j 0
}

# ---- 3. an agent killed mid-phase ---------------------------------------------

# first -> victim -> after-victim; "other" does not depend on the victim.
# The victim's first attempt records its agent ($PPID: sh's parent is the
# agent) and its own pid, says it is ready, then hangs; a later attempt
# completes.
kill_plan() {
	cat <<EOF
max_parallel_agents: 2
wave_delay_seconds: 0
phase_max_attempts: $1
phases:
  - id: first
    command: echo first >> "$TMP/kill.log"
  - id: victim
    dependencies: [first]
    outputs: [kill-shared]
    command: |
      if [ "\$PRD_PHASE_ATTEMPT" = 1 ]; then
        echo \$\$ > "$TMP/victim.cmd"; echo \$PPID > "$TMP/victim.tmp"
        mv "$TMP/victim.tmp" "$TMP/victim.agent"
        exec sleep 60
      fi
      echo victim >> "$TMP/kill.log"
  - id: after-victim
    dependencies: [victim]
    command: echo after-victim >> "$TMP/kill.log"
  - id: other
    dependencies: [first]
    command: sleep 0.2; echo other >> "$TMP/kill.log"
EOF
}

# gone PID: no such process, or only a zombie waiting for its reaper.
gone() {
	! kill -0 "$1" 2>/dev/null || case $(ps -o stat= -p "$1") in Z*) true ;; *) false ;; esac
}

# run_and_kill ATTEMPTS: start prdshm-run --keep, kill the victim's agent.
run_and_kill() {
	rm -f "$TMP/victim.agent" "$TMP/victim.cmd" "$TMP/kill.log"
	kill_plan "$1" >"$TMP/kill.yaml"
	timeout "$RUN_TIMEOUT" "$BIN/prdshm-run" -c "$TMP/kill.yaml" --name "$SHM" --keep --plain \
		>"$TMP/out" 2>"$TMP/err" &
	local run=$!
	BG_PIDS+=("$run")
	if wait_until 20 test -s "$TMP/victim.agent"; then
		kill -9 "$(cat "$TMP/victim.agent")"
		ok "attempts=$1: the victim's agent killed mid-phase"
	else
		not_ok "attempts=$1: the victim never started"
	fi
	wait "$run"
	RC=$?
}

test_killed_agent() {
	shm_name
	run_and_kill 1
	if [ "$RC" = 1 ]; then ok "attempts=1: prdshm-run ends, exit 1"; else
		not_ok "attempts=1: exit $RC, expected 1"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | tail -30; fi
	t_grep "$TMP/out" "agent-[0-9]+ \(pid [0-9]+\) killed by signal 9" "attempts=1: the death is reported"
	t_grep "$TMP/out" "agent-3 started" "attempts=1: a replacement agent is started"
	t_grep "$TMP/out" "victim: FAILED on agent-[0-9]+, exit -1: agent agent-[0-9]+ died" \
		"attempts=1: the victim is FAILED with the reason"
	t_grep "$TMP/out" "after-victim: BLOCKED" "attempts=1: its dependant is BLOCKED"
	if grep -qx other "$TMP/kill.log"; then ok "attempts=1: the independent phase completed"; else
		not_ok "attempts=1: 'other' did not run"; fi
	if wait_until 5 gone "$(cat "$TMP/victim.cmd" 2>/dev/null || echo 0)"; then
		ok "attempts=1: the victim's command died with its agent"
	else
		not_ok "attempts=1: the victim's command outlived its agent"
	fi
	t_rc 0 "attempts=1: nothing left locked or held (prdshm-inspect --check)" \
		"$BIN/prdshm-inspect" --name "$SHM" --check
	rm -f "/dev/shm${SHM}"

	shm_name
	run_and_kill 2
	if [ "$RC" = 0 ]; then ok "attempts=2: the victim ran again, prdshm-run exits 0"; else
		not_ok "attempts=2: exit $RC, expected 0"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | tail -30; fi
	t_grep "$TMP/out" "victim +[0-9]+ COMPLETED +agent-[0-9]+ +2 " "attempts=2: the victim COMPLETED on attempt 2"
	if [ "$(sort "$TMP/kill.log" | tr '\n' ' ')" = "after-victim first other victim " ]; then
		ok "attempts=2: every phase ran once to completion"
	else
		not_ok "attempts=2: kill.log is '$(tr '\n' ' ' <"$TMP/kill.log")'"
	fi
	t_rc 0 "attempts=2: nothing left locked or held (prdshm-inspect --check)" \
		"$BIN/prdshm-inspect" --name "$SHM" --check
	rm -f "/dev/shm${SHM}"
}

# ---- 4. SIGTERM to an agent, SIGINT to prdshm-run ----------------------------

# The plan: hang_plan (lib.sh).

test_signals() {
	local pid rc
	hang_plan >"$TMP/hang.yaml"
	shm_name
	rm -f "$TMP/hang.pid"
	t_rc 0 "SIGTERM: create" "$BIN/prdshm-create" -q -c "$TMP/hang.yaml" --name "$SHM"
	"$BIN/prdshm-agent" -q -c "$TMP/hang.yaml" --name "$SHM" --id termed >"$TMP/agent.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 20 test -s "$TMP/hang.pid" || not_ok "SIGTERM: the phase never started"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	if [ "$rc" = 143 ]; then ok "SIGTERM: the agent exits 143"; else not_ok "SIGTERM: exit $rc"; fi
	if wait_until 5 gone "$(cat "$TMP/hang.pid")"; then ok "SIGTERM: its command was terminated"; else
		not_ok "SIGTERM: the command still runs"; fi
	t_rc 0 "SIGTERM: phase status" "$BIN/prdshm-phase" --name "$SHM" status hang
	t_grep "$TMP/out" "CANCELLED" "SIGTERM: the phase is CANCELLED"
	t_rc 0 "SIGTERM: nothing held (prdshm-inspect --check)" "$BIN/prdshm-inspect" --name "$SHM" --check
	rm -f "/dev/shm${SHM}"

	shm_name
	rm -f "$TMP/hang.pid"
	setsid "$BIN/prdshm-run" -c "$TMP/hang.yaml" --name "$SHM" --plain >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 20 test -s "$TMP/hang.pid" || not_ok "SIGINT: the phase never started"
	kill -INT -- "-$pid" # as Ctrl-C does: the whole process group
	wait "$pid"
	rc=$?
	if [ "$rc" = 130 ]; then ok "SIGINT: prdshm-run exits 130"; else
		not_ok "SIGINT: exit $rc"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | tail -20; fi
	t_grep "$TMP/out" "hang: CANCELLED" "SIGINT: the running phase is CANCELLED"
	t_grep "$TMP/out" "kept for inspection" "SIGINT: the segment is kept"
	t_rc 0 "SIGINT: the kept segment is healthy" "$BIN/prdshm-inspect" --name "$SHM" --check
	rm -f "/dev/shm${SHM}"
}

test_default_plan
test_leftover
test_killed_agent
test_signals
cli_done
