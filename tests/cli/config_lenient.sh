#!/usr/bin/env bash
# config_lenient.sh: diagnosis and recovery are never blocked by the
# configuration (issue 19, case 4).  prdshm-inspect and prdshm-cleanup go on
# past a broken ./prdpar.yaml or a bad PRD_PARALLEL_* value with a warning;
# a PRD_PARALLEL_* variable that is no setting gets a warning with a "did
# you mean"; modes are explicit octal only.
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

shm_name
"$BIN/prdshm-create" -q --name "$SHM" || not_ok "create $SHM"

# A broken file in the current directory.
echo 'max_locks: [' >prdpar.yaml
t_rc 0 "inspect --name past a broken ./prdpar.yaml" "$BIN/prdshm-inspect" --name "$SHM" agents
t_grep "$TMP/err" "warning: prdpar.yaml:1:12: .*\(ignored\)" "inspect warns that the file is ignored"
t_rc 0 "cleanup --name past a broken ./prdpar.yaml" "$BIN/prdshm-cleanup" --name "$SHM"
t_grep "$TMP/out" "healthy" "cleanup did its work"
t_rc 65 "without --name, a broken file that may name the segment is still an error" \
	"$BIN/prdshm-inspect"
t_grep "$TMP/err" "fix it, or give --name" "the error says how to go on"
rm prdpar.yaml

# A bad value in the environment: that variable is left out, the rest kept.
t_rc 0 "inspect past PRD_PARALLEL_MAX_LOCKS=abc" env PRD_PARALLEL_MAX_LOCKS=abc \
	PRD_PARALLEL_SHM_NAME="$SHM" "$BIN/prdshm-inspect" agents
t_grep "$TMP/err" "warning: PRD_PARALLEL_MAX_LOCKS: max_locks: expected an integer, got 'abc' \(ignored\)" \
	"inspect warns about the bad value"
t_rc 0 "cleanup --unlink past PRD_PARALLEL_MAX_LOCKS=abc" env PRD_PARALLEL_MAX_LOCKS=abc \
	"$BIN/prdshm-cleanup" --unlink --name "$SHM"
[ -e "/dev/shm$SHM" ] && not_ok "the segment is still there" || ok "cleanup removed the segment"
# The tools that act on the configuration still refuse it.
t_rc 65 "prdshm-create still refuses a bad value" env PRD_PARALLEL_MAX_LOCKS=abc \
	"$BIN/prdshm-create" -q --name "$SHM"

# Variables that set nothing.
shm_name
t_rc 0 "a misspelled variable is not an error" env PRD_PARALLEL_MAX_LOCK=100 \
	PRD_PARALLEL_BOGUS=1 "$BIN/prdshm-create" -q --name "$SHM"
t_grep "$TMP/err" "warning: PRD_PARALLEL_MAX_LOCK is not a setting and is ignored \(did you mean PRD_PARALLEL_MAX_LOCKS\?\)" \
	"PRD_PARALLEL_MAX_LOCK: a warning with did-you-mean"
t_grep "$TMP/err" "warning: PRD_PARALLEL_BOGUS is not a setting and is ignored$" \
	"PRD_PARALLEL_BOGUS: a warning"
t_rc 0 "the tools that run warn as well" env PRD_PARALLEL_MAX_LOCK=100 \
	"$BIN/prdshm-lock" --name "$SHM" r true
t_grep "$TMP/err" "did you mean PRD_PARALLEL_MAX_LOCKS" "prdshm-lock warns"
"$BIN/prdshm-cleanup" -q --unlink --name "$SHM"

# Modes: explicit octal only.
shm_name
printf 'shm_mode: 777\n' >"$TMP/m.yaml"
t_rc 65 "shm_mode: 777 is refused" "$BIN/prdshm-create" -q -c "$TMP/m.yaml" --name "$SHM"
t_grep "$TMP/err" "shm_mode: write the mode in octal with a leading 0, such as 0777, not '777'" \
	"the message says how to write it"
t_rc 65 "PRD_PARALLEL_SHM_MODE=600 is refused" env PRD_PARALLEL_SHM_MODE=600 \
	"$BIN/prdshm-create" -q --name "$SHM"
printf 'shm_mode: "0600"\n' >"$TMP/m.yaml"
t_rc 0 'shm_mode: "0600" is accepted' "$BIN/prdshm-create" -q -c "$TMP/m.yaml" --name "$SHM"
"$BIN/prdshm-cleanup" -q --unlink --name "$SHM"

cli_done
