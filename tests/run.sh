#!/usr/bin/env bash
# Run the test programs given as arguments, then the command-line tests in
# tests/cli/, and print one closing line "tests: N passed, N failed".
#   TEST_WRAP    a command to run each program under (valgrind ...)
#   TEST_FILTER  space-separated program names to run (default: all)
#   TEST_TIMEOUT seconds allowed per program (default 900)
set -u
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
BUILD=${BUILD:-build}
timeout_s=${TEST_TIMEOUT:-900}
passed=0; failed=0; failures=()

for prog in "$@"; do
  name=$(basename "$prog")
  if [ -n "${TEST_FILTER:-}" ] && ! [[ " $TEST_FILTER " == *" $name "* ]]; then continue; fi
  log="$BUILD/tests/$name.log"
  echo "== $name"
  # shellcheck disable=SC2086
  # TU_WRAPPED tells a test it runs under a checker (some cannot: setuid).
  TU_WRAPPED=${TEST_WRAP:+1} timeout -k 10 "$timeout_s" ${TEST_WRAP:-} "$prog" >"$log" 2>&1
  rc=$?
  res=$(grep -E '^RESULT ' "$log" | tail -1)
  p=$(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$res"); f=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$res")
  p=${p:-0}; f=${f:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" != 0 ]; then
    failures+=("$name")
    echo "-- $name failed (exit $rc); its log:"; tail -60 "$log"
  else
    echo "   $p passed"
  fi
done

if [ "$unit_only" = 0 ] && [ -z "${TEST_FILTER:-}" ] && [ -d tests/cli ]; then
  for t in tests/cli/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    log="$BUILD/tests/cli-$name.log"
    mkdir -p "$BUILD/tests"
    echo "== cli/$name"
    BUILD=$BUILD TEST_WRAP="${CLI_WRAP:-${TEST_WRAP:-}}" timeout -k 10 "$timeout_s" bash "$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" != 0 ]; then failures+=("cli/$name"); echo "-- cli/$name failed (exit $rc):"; grep -v '^ok ' "$log" | tail -60
    else echo "   $p passed"; fi
  done
fi

# The Python binding's pytest suite (make check passes PYTHON when the
# binding is built: not under a checker or a sanitizer).  Each pytest test
# counts as a test; exit status 5 (no tests collected) is a failure.
if [ "$unit_only" = 0 ] && [ -n "${PYTHON:-}" ] &&
   { [ -z "${TEST_FILTER:-}" ] || [[ " $TEST_FILTER " == *" pytest "* ]]; }; then
  log="$BUILD/tests/pytest.log"
  mkdir -p "$BUILD/tests"
  echo "== pytest"
  PYTHONPATH="$BUILD/python" PRDSHM_BUILD="$BUILD" PYTHONDONTWRITEBYTECODE=1 \
    timeout -k 10 "$timeout_s" "$PYTHON" -m pytest -q -p no:cacheprovider python/tests >"$log" 2>&1
  rc=$?
  sum=$(tail -1 "$log")
  p=$(grep -o '[0-9]* passed' <<<"$sum" | cut -d' ' -f1); p=${p:-0}
  f=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$sum" | awk '{n += $1} END {print n + 0}')
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" != 0 ]; then failures+=("pytest"); echo "-- pytest failed (exit $rc):"; tail -60 "$log"
  else echo "   $p passed"; fi
fi

# The bounded crash torture (make check passes TORTURE_BIN): one test.  Not
# under a checker (TEST_WRAP: valgrind would take hours) nor when a filter
# leaves it out.
if [ "$unit_only" = 0 ] && [ -n "${TORTURE_BIN:-}" ] && [ -x "$TORTURE_BIN" ] &&
   [ -z "${TEST_WRAP:-}" ] &&
   { [ -z "${TEST_FILTER:-}" ] || [[ " $TEST_FILTER " == *" prdshm-torture "* ]]; }; then
  log="$BUILD/tests/torture.log"
  mkdir -p "$BUILD/tests"
  echo "== torture"
  # shellcheck disable=SC2086
  timeout -k 10 "$timeout_s" "$TORTURE_BIN" ${TORTURE_ARGS:---seconds 40} >"$log" 2>&1
  rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    grep -E '^torture: (kills|dead holder)' "$log" | sed 's/^/   /'
  else
    failed=$((failed + 1)); failures+=("torture")
    echo "-- torture failed (exit $rc):"; grep -v '^torture:   check warning' "$log" | tail -40
  fi
fi

if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ ${#failures[@]} = 0 ]
