#!/usr/bin/env bash
# security.sh: a segment another user made, or may write, is never trusted
# (docs/reliability.md, "Threat model").  The attack: in /dev/shm, writable
# by everyone, a user creates the predictable name first, lets everybody
# write it, and plants a plan whose command the next agent runs with its own
# privileges.  Every tool must refuse such a segment with exit 77, and the
# planted command must never run.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

PWNED="$TMP/pwned"
cat >"$TMP/planted.yaml" <<YAML
phases:
  - id: planted
    name: planted
    command: touch $PWNED
YAML

# Every tool that attaches, on the segment $SHM: exit 77, the reason named.
refused_by_all() {
	local why=$1 what=$2
	t_rc 77 "$what: prdshm-lock refuses it" "$BIN/prdshm-lock" --name "$SHM" -n r true
	t_grep "$TMP/err" "$why" "$what: the message says why"
	t_rc 77 "$what: prdshm-agent refuses it" "$BIN/prdshm-agent" --name "$SHM" --id a1
	t_rc 77 "$what: prdshm-run --attach refuses it" "$BIN/prdshm-run" --name "$SHM" --attach -q
	t_rc 77 "$what: prdshm-inspect refuses it" "$BIN/prdshm-inspect" --name "$SHM"
	t_rc 77 "$what: prdshm-phase refuses it" "$BIN/prdshm-phase" --name "$SHM" status
	t_rc 77 "$what: prdshm-cleanup refuses it" "$BIN/prdshm-cleanup" --name "$SHM"
	if [ -e "$PWNED" ]; then not_ok "$what: the planted command ran"; else
		ok "$what: the planted command did not run"; fi
}

# ---- writable by every user: refused, even for its owner -------------------
shm_name
"$BIN/prdshm-create" -q --name "$SHM" -c "$TMP/planted.yaml"
chmod 0666 "/dev/shm$SHM"
refused_by_all "any user may write it" "a mode-0666 segment"
chmod 0600 "/dev/shm$SHM"
t_rc 0 "once chmod 0600 by its owner it opens again" "$BIN/prdshm-inspect" --name "$SHM" --check
chmod 0644 "/dev/shm$SHM"
t_rc 77 "readable by every user: refused too" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "any user may open it" "and the message says why"
t_rc 0 "create --force replaces its owner's untrusted object" \
	"$BIN/prdshm-create" -q --name "$SHM" --force
t_grep "$TMP/err" "replacing .*not a usable segment: .*mode 0644" "saying what it replaced"
[ "$(stat -c %a "/dev/shm$SHM")" = 600 ] && ok "the new segment is 0600" || not_ok "mode $(stat -c %a "/dev/shm$SHM")"

# ---- writable by the group: only when shm_group names that group -----------
chmod 0660 "/dev/shm$SHM"
t_rc 77 "a group-writable segment without shm_group is refused" \
	"$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "no shm_group is configured" "and the message names shm_group"
grp=$(stat -c %G "/dev/shm$SHM")
t_rc 0 "with shm_group naming its group it opens" \
	env PRD_PARALLEL_SHM_GROUP="$grp" "$BIN/prdshm-inspect" --name "$SHM"
rm -f "/dev/shm$SHM"

# ---- configuration: modes that let others write are refused at create ------
shm_name
t_rc 65 "create with shm_mode 0666 is refused" \
	env PRD_PARALLEL_SHM_MODE=0666 "$BIN/prdshm-create" --name "$SHM"
t_grep "$TMP/err" "lets every user write" "and says why"
t_rc 65 "create with shm_mode 0660 and no shm_group is refused" \
	env PRD_PARALLEL_SHM_MODE=0660 "$BIN/prdshm-create" --name "$SHM"
[ -e "/dev/shm$SHM" ] && not_ok "a refused create left an object" || ok "nothing was created"
t_rc 0 "create with shm_mode 0660 and shm_group gives the segment to the group" \
	env PRD_PARALLEL_SHM_MODE=0660 PRD_PARALLEL_SHM_GROUP="$(id -gn)" \
	"$BIN/prdshm-create" -q --name "$SHM"
[ "$(stat -c '%a %G' "/dev/shm$SHM")" = "660 $(id -gn)" ] && ok "mode 0660, group $(id -gn)" ||
	not_ok "created as $(stat -c '%a %G' "/dev/shm$SHM")"
rm -f "/dev/shm$SHM"

# ---- not a regular file, or a symbolic link --------------------------------
shm_name
"$BIN/prdshm-create" -q --name "$SHM"
ln -s "/dev/shm$SHM" "/dev/shm$SHM-link"
SHM_REAL=$SHM
SHM="$SHM-link"
t_rc 77 "a symbolic link in /dev/shm is refused" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "symbolic link" "and the message says so"
SHM=$SHM_REAL
rm -f "/dev/shm$SHM-link" "/dev/shm$SHM"
shm_name
mkfifo "/dev/shm$SHM"
t_rc 77 "a FIFO in /dev/shm is refused" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "is a FIFO, not a segment" "and the message says what it is"
rm -f "/dev/shm$SHM"

# ---- another user's segment (needs root to give the object away) -----------
if [ "$(id -u)" != 0 ]; then
	skip "another user's segment: needs root to chown the object (CI runs as root)"
	cli_done
	exit
fi
# The measured attack: nobody owns /dev/shm/<name>, mode 0666, with a planted
# command; root runs prdshm-lock and prdshm-agent on it.
shm_name
"$BIN/prdshm-create" -q --name "$SHM" -c "$TMP/planted.yaml"
chown 65534:65534 "/dev/shm$SHM"
chmod 0666 "/dev/shm$SHM"
refused_by_all "owned by nobody" "nobody's mode-0666 segment"
# Not writable by others, but another user's all the same.
chmod 0600 "/dev/shm$SHM"
refused_by_all "owned by nobody .uid 65534., and this process runs as root" \
	"nobody's mode-0600 segment"
t_rc 77 "create --force does not replace another user's segment" \
	"$BIN/prdshm-create" --name "$SHM" --force
t_rc 77 "cleanup --unlink --force does not remove another user's segment" \
	"$BIN/prdshm-cleanup" --name "$SHM" --unlink --force
[ "$(stat -c %U "/dev/shm$SHM")" = nobody ] && ok "nobody's object is still there" ||
	not_ok "nobody's object was removed or replaced"
t_rc 77 "even with a shm_group, only the caller's or root's segment is trusted" \
	env PRD_PARALLEL_SHM_GROUP=nogroup "$BIN/prdshm-inspect" --name "$SHM"
rm -f "/dev/shm$SHM"

# Root's segment shared with a group: its members attach, others do not.
shm_name
env PRD_PARALLEL_SHM_MODE=0660 PRD_PARALLEL_SHM_GROUP=nogroup \
	"$BIN/prdshm-create" -q --name "$SHM" -c "$TMP/planted.yaml"
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if ! "${as_nobody[@]}" test -x "$BIN/prdshm-inspect" 2>/dev/null; then
	skip "a group member attaches: nobody cannot run the tools from $BIN"
else
	t_rc 0 "a member of shm_group attaches to root's shared segment" \
		"${as_nobody[@]}" env PRD_PARALLEL_SHM_GROUP=nogroup \
		"$BIN/prdshm-inspect" --name "$SHM"
	t_rc 77 "without shm_group configured the same user refuses it" \
		"${as_nobody[@]}" "$BIN/prdshm-inspect" --name "$SHM"
fi
# Its owner replaces and removes it the safe way (checking for live agents).
t_rc 0 "create --force replaces a shared segment of its owner" \
	env PRD_PARALLEL_SHM_MODE=0660 PRD_PARALLEL_SHM_GROUP=nogroup \
	"$BIN/prdshm-create" -q --name "$SHM" --force
t_rc 0 "cleanup --unlink removes it" \
	env PRD_PARALLEL_SHM_GROUP=nogroup "$BIN/prdshm-cleanup" -q --name "$SHM" --unlink
[ -e "/dev/shm$SHM" ] && not_ok "the shared segment is still there" || ok "and it is gone"
rm -f "/dev/shm$SHM"
if [ -e "$PWNED" ]; then not_ok "the planted command ran at some point"; else
	ok "the planted command never ran"; fi

cli_done
