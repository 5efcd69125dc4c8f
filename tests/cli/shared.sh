#!/usr/bin/env bash
# shared.sh: libprdshm.so exports the public API of lib/prdshm.h and nothing
# else, every symbol with the version PRDSHM_1.0 (or, for a function added
# later, its release's node: lib/prdshm.map), and a
# program linked against it works and records that version.
set -u
# lib.sh moves to an empty directory: resolve the paths first.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SO=$(cd "${BUILD:-build}" && pwd)/libprdshm.so
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"

# Name and version of each symbol the library defines (objdump -T: the
# version is the column before the name).  The version node's own symbol,
# PRDSHM_1.0 named PRDSHM_1.0, is not an export.
objdump -T "$SO" | awk '/^[0-9a-f]+ / && !/\*UND\*/ && $NF != $(NF-1) { print $NF, $(NF-1) }' |
	sort >"$TMP/symver"
awk '{ print $1 }' "$TMP/symver" >"$TMP/exported"
grep -qx prdshm_lock "$TMP/exported" && ok "libprdshm.so exports prdshm_lock" ||
	not_ok "no prdshm_lock in the exports of $SO"
grep -q '^prdshm__' "$TMP/exported" &&
	not_ok "internal symbols exported: $(grep '^prdshm__' "$TMP/exported" | head -3 | tr '\n' ' ')" ||
	ok "no internal prdshm__ symbol is exported"
grep -v '^prdshm_[a-z]' "$TMP/exported" | grep -q . &&
	not_ok "other symbols exported: $(grep -v '^prdshm_[a-z]' "$TMP/exported" | head -3 | tr '\n' ' ')" ||
	ok "only prdshm_ symbols are exported"
# The functions added since 1.0 carry the node of their release, and only
# they (lib/prdshm.map).
LATER="prdshm_lock_metrics_get:PRDSHM_1.1 prdshm_session_env:PRDSHM_1.1 prdshm_snapshot_agent_host:PRDSHM_1.1"
unversioned=$(awk -v later="$LATER" '
	BEGIN { n = split(later, l, " "); for (i = 1; i <= n; i++) { split(l[i], p, ":"); v[p[1]] = p[2] } }
	$2 != ($1 in v ? v[$1] : "PRDSHM_1.0") { print $1 " (" $2 ")" }' "$TMP/symver" | head -3 | tr '\n' ' ')
[ -s "$TMP/symver" ] && [ -z "$unversioned" ] &&
	ok "every export carries the version PRDSHM_1.0, or that of its later release" ||
	not_ok "exports without their version (PRDSHM_1.0; $LATER): ${unversioned:-none exported}"
objdump -T "$SO" | grep -Eq '\*ABS\*.*PRDSHM_1\.0 +PRDSHM_1\.0$' &&
	ok "libprdshm.so defines the version node PRDSHM_1.0" ||
	not_ok "no version node PRDSHM_1.0 in $SO"
# Every function the header declares is there (the static inline wrappers,
# prdshm_config_init() and prdshm_config_load(), live in the caller).
grep -v '^static' "$SRC/lib/prdshm.h" | grep -o '^[a-z][a-z_ *]*\bprdshm_[a-z_0-9]*(' |
	sed 's/.*\(prdshm_[a-z_0-9]*\)($/\1/' | sort -u >"$TMP/declared"
[ "$(wc -l <"$TMP/declared")" -gt 40 ] && ok "the header's functions are found" ||
	not_ok "only $(wc -l <"$TMP/declared") functions found in prdshm.h"
missing=$(comm -23 "$TMP/declared" "$TMP/exported")
[ -z "$missing" ] && ok "every function of prdshm.h is exported" ||
	not_ok "declared but not exported: $missing"

# Link a program against the shared library and run it (not for
# sanitizer or coverage builds, whose library needs their runtime).
if nm -D -u "$SO" | grep -Eq '__(asan|tsan|ubsan|gcov)'; then
	skip "a program linked against an instrumented libprdshm.so"
else
	cat >"$TMP/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include "prdshm.h"

#define STR(x) #x
#define XSTR(x) STR(x)

int main(int argc, char **argv)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int r;

	/* The library this program runs with is the one of its header. */
	if (strcmp(prdshm_version(), XSTR(PRDSHM_VERSION_MAJOR) "." XSTR(PRDSHM_VERSION_MINOR) "."
		   XSTR(PRDSHM_VERSION_PATCH)) != 0 ||
	    prdshm_version_number() != PRDSHM_VERSION_NUMBER) {
		fprintf(stderr, "library %s, header %d\n", prdshm_version(), PRDSHM_VERSION_NUMBER);
		return 2;
	}
	prdshm_config_init(&cfg);
	snprintf(cfg.shm_name, sizeof(cfg.shm_name), "%s", argv[1]);
	r = prdshm_seg_create(&cfg, &seg);
	if (r == 0)
		r = prdshm_session_open(seg, "so", 0, &s);
	for (int i = 0; r == 0 && i < 3; i++) {
		r = prdshm_lock(s, "res", PRDSHM_EXCLUSIVE, PRDSHM_TRY, NULL);
		if (r == 0)
			r = prdshm_unlock(s, "res");
	}
	if (r)
		fprintf(stderr, "%s: %s\n", prdshm_strerror(r), prdshm_last_error());
	prdshm_session_close(s);
	prdshm_seg_close(seg);
	prdshm_seg_unlink(cfg.shm_name);
	prdshm_config_free(&cfg);
	return r ? 1 : 0;
}
PROG
	shm_name
	if ${CC:-cc} -o "$TMP/prog" -I"$SRC/lib" "$TMP/prog.c" -L"$(dirname "$SO")" -lprdshm \
		2>"$TMP/cc.err"; then
		ok "a program links against libprdshm.so"
		objdump -T "$TMP/prog" | grep -Eq '\*UND\*.*PRDSHM_1\.0\)? +prdshm_lock$' &&
			ok "the program needs prdshm_lock of version PRDSHM_1.0" ||
			not_ok "the program's prdshm_lock has no version: $(objdump -T "$TMP/prog" | grep prdshm_lock)"
		t_rc 0 "the program locks and unlocks through the shared library" \
			env LD_LIBRARY_PATH="$(dirname "$SO")" "$TMP/prog" "$SHM"
	else
		not_ok "linking against libprdshm.so: $(head -3 "$TMP/cc.err")"
	fi
fi
cli_done
