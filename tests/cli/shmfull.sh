#!/usr/bin/env bash
# shmfull.sh: creating a segment on a /dev/shm without room for it is a clear
# error with its own exit status (74), leaves nothing behind, and never a
# SIGBUS (exit 135) in the creator or a later user.  The small /dev/shm is a
# 256 KiB tmpfs mounted in a private mount namespace (unshare -m, root).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# The commands are shell functions run in another mount namespace, which a
# checker (TEST_WRAP) cannot wrap: the tools run as they are here.
TEST_WRAP=

if ! unshare -m true 2>/dev/null; then
	skip "a full /dev/shm: needs root for a private mount namespace (unshare -m; CI runs as root)"
	cli_done
	exit
fi

# Run "$@" with a 256 KiB /dev/shm of its own; afterwards list what is left
# there into $TMP/left.
with_small_shm() {
	unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs /dev/shm || exit 99
		"$@"; rc=$?; ls -A /dev/shm >"$LEFT"; exit $rc' sh "$@"
}
export LEFT="$TMP/left"

shm_name
t_rc 74 "create on a full /dev/shm exits 74" with_small_shm "$BIN/prdshm-create" --name "$SHM"
t_grep "$TMP/err" "needs [0-9]+ KiB, and /dev/shm has [0-9]+ KiB free of 256 KiB" \
	"the message gives the size needed and the room left"
[ -s "$LEFT" ] && not_ok "objects left in /dev/shm: $(cat "$LEFT")" || ok "nothing left in /dev/shm"
t_rc 74 "prdshm-run on a full /dev/shm exits 74" with_small_shm "$BIN/prdshm-run" --name "$SHM"
[ -s "$LEFT" ] && not_ok "objects left in /dev/shm: $(cat "$LEFT")" || ok "nothing left in /dev/shm"
t_rc 74 "prdshm-lock creating a segment on a full /dev/shm exits 74" \
	with_small_shm "$BIN/prdshm-lock" --name "$SHM" r true
# Limits that fit: created, and the whole segment usable.
t_rc 0 "with smaller limits it fits" with_small_shm env PRD_PARALLEL_MAX_LOCKS=16 \
	PRD_PARALLEL_MAX_PHASES=4 PRD_PARALLEL_MAX_AGENTS=4 PRD_PARALLEL_MAX_PARALLEL_AGENTS=2 \
	sh -c '"$1"/prdshm-create -q --name "$2" && "$1"/prdshm-lock --name "$2" r true &&
		"$1"/prdshm-inspect --name "$2" --check' sh "$BIN" "$SHM"

cli_done
