#!/usr/bin/env bash
# shared.sh: libprdshm.so exports the public API of lib/prdshm.h and nothing
# else (lib/prdshm.map), and a program linked against it works.
set -u
# lib.sh moves to an empty directory: resolve the paths first.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SO=$(cd "${BUILD:-build}" && pwd)/libprdshm.so
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"

nm -D --defined-only "$SO" | awk '{print $3}' | sort >"$TMP/exported"
grep -qx prdshm_lock "$TMP/exported" && ok "libprdshm.so exports prdshm_lock" ||
	not_ok "no prdshm_lock in the exports of $SO"
grep -q '^prdshm__' "$TMP/exported" &&
	not_ok "internal symbols exported: $(grep '^prdshm__' "$TMP/exported" | head -3 | tr '\n' ' ')" ||
	ok "no internal prdshm__ symbol is exported"
grep -v '^prdshm_[a-z]' "$TMP/exported" | grep -q . &&
	not_ok "other symbols exported: $(grep -v '^prdshm_[a-z]' "$TMP/exported" | head -3 | tr '\n' ' ')" ||
	ok "only prdshm_ symbols are exported"
# Every function the header declares is there.
grep -o '^[a-z][a-z_ *]*\bprdshm_[a-z_0-9]*(' "$SRC/lib/prdshm.h" |
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
#include "prdshm.h"

int main(int argc, char **argv)
{
	prdshm_config cfg;
	prdshm_seg *seg = NULL;
	prdshm_session *s = NULL;
	int r;

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
		t_rc 0 "the program locks and unlocks through the shared library" \
			env LD_LIBRARY_PATH="$(dirname "$SO")" "$TMP/prog" "$SHM"
	else
		not_ok "linking against libprdshm.so: $(head -3 "$TMP/cc.err")"
	fi
fi
cli_done
