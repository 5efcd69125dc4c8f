#!/usr/bin/env bash
# Line and branch coverage of lib/ after `make coverage` ran the tests in a
# --coverage build.
#   tests/coverage.sh [BUILD_DIR]     (default build-cov)
#   COVERAGE_MIN   minimum line coverage of lib/, percent (default 90)
# Uses gcovr, installed with apt-get when missing (root or passwordless
# sudo, as the Makefile's deps rule does); without it, plain gcov over the
# test build of the library.  Writes BUILD_DIR/coverage.txt (per file, with
# the missing lines) and, with gcovr, prints each file's figure, weakest
# first.
set -u
dir=${1:-build-cov}
min=${COVERAGE_MIN:-90}
gcovr_used=0

ensure_gcovr() {
  command -v gcovr >/dev/null 2>&1 && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || return 1
    sudo="sudo -n"
  fi
  echo "coverage: installing gcovr"
  $sudo apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gcovr >/dev/null
}

# Prints "lines PCT" and "branches PCT" for lib/.
with_gcovr() {
  # Both the tools' build (BUILD_DIR/lib) and the tests' build
  # (BUILD_DIR/hooks/lib) compile lib/*/*.c: gcovr merges them.
  gcovr -r . --object-directory "$dir" -f 'lib/' --txt "$dir/coverage.txt" \
    --print-summary 2>/dev/null |
    sed -n 's/^lines: *\([0-9.]*\)%.*/lines \1/p; s/^branches: *\([0-9.]*\)%.*/branches \1/p'
}

# Fallback: gcov's own summary of the tests' build of the library.
with_gcov() {
  local objdir="$dir/hooks/lib"
  [ -d "$objdir" ] || objdir="$dir/lib"
  gcov -b -n -o "$objdir" lib/*/*.c 2>/dev/null >"$dir/coverage.txt"
  awk '
    /^File .lib\// { on = 1; next }
    /^File / { on = 0 }
    on && /^Lines executed:/ { split($2, a, "%"); sub("executed:", "", a[1]);
      lt += $4; lc += a[1] * $4 / 100 }
    on && /^Taken at least once:/ { split($4, b, "%"); sub("once:", "", b[1]);
      bt += $6; bc += b[1] * $6 / 100 }
    END { if (lt) printf "lines %.1f\n", 100 * lc / lt;
          if (bt) printf "branches %.1f\n", 100 * bc / bt }' "$dir/coverage.txt"
}

if ensure_gcovr; then
  summary=$(with_gcovr)
  gcovr_used=1
else
  echo "coverage: gcovr unavailable, using gcov"
  summary=$(with_gcov)
fi
lines=$(sed -n 's/^lines //p' <<<"$summary")
branches=$(sed -n 's/^branches //p' <<<"$summary")
if [ -z "$lines" ]; then
  echo "coverage: no data under $dir (did the tests run with --coverage?)"
  exit 1
fi
echo "coverage: lib/ lines ${lines}%, branches ${branches:-?}% (per file: $dir/coverage.txt)"
# Per file, weakest first: where the next test is most useful.
if [ "$gcovr_used" = 1 ]; then
  awk '/^lib\/[^ ]*\.c / && NF >= 4 { print $4 + 0, $1, $2 }' "$dir/coverage.txt" |
    sort -n | awk '{ printf "coverage:   %-18s %3d%% of %4d lines\n", $2, $1, $3 }'
fi
if awk -v l="$lines" -v m="$min" 'BEGIN { exit !(l < m) }'; then
  echo "coverage: line coverage of lib/ ${lines}% is below ${min}%"
  exit 1
fi
