#!/usr/bin/env bash
# layers.sh: the library keeps its architecture (tests/layers.sh: file
# sizes, calls only downward, no cycle, includes only downward), and the
# checker catches each kind of breakage in a small tree made to break it.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OBJ=$(cd "${BUILD:-build}/lib" && pwd)
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"

if out=$(bash "$SRC/tests/layers.sh" "$SRC" "$OBJ" 2>&1); then
	ok "lib/ keeps its layers: ${out#layers: }"
else
	not_ok "lib/ breaks its layers:"
	sed 's/^/#   /' <<<"$out"
fi

# tree NAME: an empty source tree $TMP/NAME with lib/ and tools/.
tree() {
	T="$TMP/$1"
	mkdir -p "$T/lib/base" "$T/lib/lock" "$T/lib/plan" "$T/tools" "$T/obj/base" \
		"$T/obj/lock" "$T/obj/plan"
}
# unit FOLDER/FILE BODY: a C file of the tree, compiled to its object.
unit() {
	printf '%s\n' "$2" >"$T/lib/$1.c"
	${CC:-cc} -c -o "$T/obj/$1.o" "$T/lib/$1.c" || not_ok "cc $1.c"
}
# t_breaks WHAT REGEX: the checker fails on tree $T, saying REGEX.
t_breaks() {
	if out=$(bash "$SRC/tests/layers.sh" "$T" "$T/obj" 2>&1); then
		not_ok "$1: not reported"
	elif grep -Eq -- "$2" <<<"$out"; then
		ok "$1: reported"
	else
		not_ok "$1: no /$2/ in: $out"
	fi
}

tree sound
unit base/a 'int a(void) { return 1; }'
unit lock/b 'int a(void); int b(void) { return a(); }'
unit plan/c 'int a(void); int c(void) { return a(); }'
bash "$SRC/tests/layers.sh" "$T" "$T/obj" >/dev/null &&
	ok "a tree that keeps the layers passes" || not_ok "a sound tree fails"

tree cycle
unit lock/a 'int b(void); int a(int n) { return n ? b() : 0; }'
unit lock/b 'int a(int); int b(void) { return a(0); }'
t_breaks "two files calling each other" 'cycle: lib/lock/(a|b)\.c -> lib/lock/(a|b)\.c -> '

tree upward
unit base/a 'int b(void); int a(void) { return b(); }'
unit lock/b 'int b(void) { return 2; }'
t_breaks "a call up the layers" 'lib/base/a\.c uses b of lib/lock/b\.c: base may not call lock'

tree sideways
unit lock/a 'int b(void); int a(void) { return b(); }'
unit plan/b 'int b(void) { return 2; }'
t_breaks "a call between side-by-side layers" 'lock may not call plan'

tree long
unit base/a 'int a(void) { return 1; }'
for i in $(seq 701); do echo "/* $i */"; done >"$T/tools/long.c"
t_breaks "a file over 700 lines" 'tools/long\.c: 701 lines'

tree include
unit base/a 'int a(void) { return 1; }'
printf '#include "lock/x.h"\n' >"$T/lib/base/b.h"
t_breaks "an include up the layers" 'lib/base/b\.h includes lock/x\.h'

cli_done
