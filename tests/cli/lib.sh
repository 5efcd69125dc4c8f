# lib.sh: helpers for the command-line tests (sourced, not run).
#
# Each test prints "ok N - what" or "not ok N - what" (TAP style); the
# script exits non-zero if any failed.  Segments are named
# /prdshm-cli-<pid>-<n> and removed on exit, with any background job.
#   BUILD      build directory (default: build)
#   TEST_WRAP  a checker (valgrind ...) to run the tools under; used only
#              where timing does not matter (t_rc)

# tests/run.sh runs every tests/cli/*.sh, this one too: as a script it has
# nothing to test.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then exit 0; fi

BUILD=${BUILD:-build}
BIN=$(cd "$BUILD/bin" && pwd) || exit 1
TESTS_RUN=0
TESTS_FAILED=0
SHM_SEQ=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prdshm-cli.XXXXXX")
BG_PIDS=()

cli_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -f /dev/shm/prdshm-cli-$$-*
	rm -rf "$TMP"
}
trap cli_cleanup EXIT

# Run in an empty directory with no PRD_PARALLEL_* variables, so that
# neither ./prdpar.yaml nor the caller's environment changes the results.
mkdir -p "$TMP/cwd" && cd "$TMP/cwd" || exit 1
for v in $(env | sed -n 's/^\(PRD_PARALLEL_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

# A fresh segment name.
shm_name() {
	SHM_SEQ=$((SHM_SEQ + 1))
	SHM="/prdshm-cli-$$-$SHM_SEQ"
}

ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - $*"
}

not_ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	TESTS_FAILED=$((TESTS_FAILED + 1))
	echo "not ok $TESTS_RUN - $*"
}

skip() {
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - $* # SKIP"
}

# t_rc EXPECTED "description" command...: run, compare the exit status.
# Output goes to $TMP/out and $TMP/err for later checks.
t_rc() {
	local want=$1 what=$2 rc
	shift 2
	# shellcheck disable=SC2086
	${TEST_WRAP:-} "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" = "$want" ]; then
		ok "$what (exit $rc)"
	else
		not_ok "$what: exit $rc, expected $want"
		sed 's/^/#   out: /' "$TMP/out" | head -20
		sed 's/^/#   err: /' "$TMP/err" | head -20
	fi
}

# t_grep FILE REGEX "description": FILE ($TMP/out or $TMP/err) matches.
t_grep() {
	if grep -Eq -- "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3: no /$2/ in $(basename "$1")"
		sed 's/^/#   /' "$1" | head -20
	fi
}

# wait_until SECONDS command...: poll (every 50 ms) until it succeeds.
wait_until() {
	local limit=$1 i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge $((limit * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

# Milliseconds on a monotonic-enough clock.
now_ms() {
	date +%s%3N
}

# A command for prdshm-lock that says it started (creates $1) and runs until
# $2 exists, at most 60 s.
hold_cmd() {
	echo "touch '$1'; i=0; while [ ! -e '$2' ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i+1)); done"
}

# A plan for prdshm-run and the agents: "hang" says it is ready (its pid
# in $TMP/hang.pid), then runs until killed; "later" depends on it.
hang_plan() {
	cat <<EOF
wave_delay_seconds: 0
phases:
  - id: hang
    outputs: [hang-out]
    command: echo \$\$ > "$TMP/hang.tmp"; mv "$TMP/hang.tmp" "$TMP/hang.pid"; exec sleep 60
  - id: later
    dependencies: [hang]
    command: "true"
EOF
}

# zk_or_skip WHAT SCRIPT: go on only if this build has the ZooKeeper client
# and SCRIPT (tests/zk/server.sh or ensemble.sh) can run servers; else the
# script's one test is a skip saying why, and it exits 0.
zk_or_skip() {
	if ! grep -q 'HAVE_ZK ?= 1' "$ROOT/$BUILD/zk.mk" 2>/dev/null; then
		skip "$1: this build has no ZooKeeper client (libzookeeper-mt-dev)"
		exit 0
	fi
	if ! bash "$2" available; then
		skip "$1: no ZooKeeper server (Debian package zookeeper) or no java"
		exit 0
	fi
}

cli_done() {
	echo "# $TESTS_RUN tests, $TESTS_FAILED failed"
	[ "$TESTS_FAILED" = 0 ]
}
