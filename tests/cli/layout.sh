#!/usr/bin/env bash
# layout.sh: a segment made by another build of prdshm is refused with exit 4
# (PRDSHM_EVERSION) and a message that says so, both ways, though the two
# builds' structs have the same sizes.  The other builds (Makefile, "Two
# builds whose segments..."; the hash is described in lib/shm/layout.h):
#   layout-swap  PRDSHM_TEST_LAYOUT_SWAP declares the lock slot's shared and
#                exclusive hold counts in the other order: let in, it would
#                read a shared hold as exclusive;
#   libc-other   another C library tag, as a musl build has: same sizes, but
#                another lock-word protocol inside every mutex.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
VARIANTS=$(cd "${BUILD:-build}" && pwd) || exit 1
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"

MSG='layout hash [0-9a-f]{8}, this build [0-9a-f]{8}: made by another build of prdshm, C library or architecture$'

# The layout hash in the prdshm-inspect --json document in $TMP/out, in hex.
stored_hash() {
	printf '%08x' "$(sed -n 's/^ *"layout_hash": \([0-9]*\),$/\1/p' "$TMP/out")"
}

shm_name
REAL=$SHM
t_rc 0 "the real build creates a segment" "$BIN/prdshm-create" -q --name "$REAL"
t_rc 0 "the real build opens it" "$BIN/prdshm-inspect" --name "$REAL" --json
real_hash=$(stored_hash)

for v in layout-swap libc-other; do
	VBIN=$VARIANTS/$v/bin
	# A segment of the real build, opened by the variant.
	t_rc 4 "$v refuses the real build's segment" "$VBIN/prdshm-inspect" --name "$REAL"
	t_grep "$TMP/err" "^prdshm-inspect: open segment $REAL: $REAL: $MSG" \
		"$v: the refusal says what differs"
	t_grep "$TMP/err" "layout hash $real_hash, " "$v: the refusal names the segment's hash"
	t_rc 0 "the real build still opens its segment after $v" "$BIN/prdshm-inspect" --name "$REAL" --check

	# And the other way round.
	shm_name
	t_rc 0 "$v creates a segment" "$VBIN/prdshm-create" -q --name "$SHM"
	t_rc 0 "$v opens its own" "$VBIN/prdshm-inspect" --name "$SHM" --json
	other_hash=$(stored_hash)
	t_rc 4 "the real build refuses the segment of $v" "$BIN/prdshm-inspect" --name "$SHM"
	t_grep "$TMP/err" "^prdshm-inspect: open segment $SHM: $SHM: $MSG" \
		"$v: the refusal says what differs"
	t_grep "$TMP/err" "layout hash $other_hash, this build $real_hash: " \
		"$v: the refusal names both hashes"
	# prdshm-lock opens or creates: its open path refuses too, and runs
	# nothing.
	t_rc 4 "prdshm-lock of the real build refuses the segment of $v" \
		"$BIN/prdshm-lock" --name "$SHM" -n res touch "$TMP/ran-$v"
	[ ! -e "$TMP/ran-$v" ] && ok "$v: the command did not run" ||
		not_ok "$v: the command ran"
done

# ---- the field lists are complete, or the build stops ----------------------
# Compile the real shared-struct headers, as they are and with one edit each
# that leaves a field out of the layout hash: every such edit must fail.
printf '#include "plan/phases.h"\n#include "lock/region.h"\n#include "session/region.h"\nint layout_probe;\n' >"$TMP/probe.c"

# compile_headers: compile probe.c against the headers in $TMP/inc.
compile_headers() {
	${CC:-cc} -std=c11 -D_GNU_SOURCE -I"$TMP/inc" -I"$SRC/lib" -c -o "$TMP/probe.o" \
		"$TMP/probe.c" 2>"$TMP/cc.err"
}

# copy_headers: the internal headers of lib/ into $TMP/inc, folders kept.
copy_headers() {
	rm -rf "$TMP/inc" && mkdir -p "$TMP/inc"
	(cd "$SRC/lib" && find . -mindepth 2 -name '*.h' -exec cp --parents {} "$TMP/inc/" \;)
}

# t_edit WHAT FILE SED-SCRIPT ERROR-REGEX: with the edit, the compiler stops
# with ERROR-REGEX.
t_edit() {
	copy_headers
	sed -i "$3" "$TMP/inc/$2"
	if cmp -s "$TMP/inc/$2" "$SRC/lib/$2"; then
		not_ok "$1: the edit did not apply to $2"
	elif compile_headers; then
		not_ok "$1: the headers still compile"
	elif grep -Eq -- "$4" "$TMP/cc.err"; then
		ok "$1: the build stops"
	else
		not_ok "$1: no /$4/ in the compiler's errors"
		sed 's/^/#   /' "$TMP/cc.err" | head -10
	fi
}

copy_headers
compile_headers && ok "the shared-struct headers compile" ||
	not_ok "the shared-struct headers do not compile: $(head -3 "$TMP/cc.err")"
LISTED='its field list must name every field'
t_edit "a field left out of its list" lock/region.h 's/ F(S, nexcl)//' "prdshm__slot: $LISTED"
t_edit "a field added without listing it" lock/region.h \
	's/^\tchar pad_\[40\];        /\tuint32_t added_; char pad_[36];/' "prdshm__part: $LISTED"
t_edit "a field listed twice" plan/phases.h 's/F(S, nopen) F(S, minw)/F(S, minw) F(S, minw)/' \
	'prdshm__listed_prdshm__phase_region_minw'
t_edit "implicit padding" shm/segment.h '/^\tuint32_t pad_;$/d; s/ F(S, pad_) F(S, regions)/ F(S, regions)/' \
	"prdshm__hdr: $LISTED"

cli_done
