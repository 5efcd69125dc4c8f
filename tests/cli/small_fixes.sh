#!/usr/bin/env bash
# small_fixes.sh: the smaller items of issue 19 (case 7), one or two checks
# each: the .pc follows PREFIX; prdshm-lock -w inf waits forever, -w 1e10
# gets the right hint, a long --phase is refused, -c FILE.yaml says to use
# --config, --path makes one lock of a file's spellings; a missing segment
# gets a hint and prdshm-inspect --json an error document; prdshm-cleanup
# without a segment exits 0; --unlink --force and create --force say what
# they do.  (The C API naming the holder: tests/test_last_error.c.)
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# ---- the .pc is rebuilt when PREFIX changes ---------------------------------
# A make of its own: not the settings of a make check that runs this.
pc_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" BUILD="$TMP/pc" "$@" \
		"$TMP/pc/prdshm.pc" >/dev/null 2>&1
}
if command -v make >/dev/null; then
	mkdir -p "$TMP/pc"
	pc_make PREFIX=/opt/a
	pc_make PREFIX=/opt/b
	if grep -q '^prefix=/opt/b$' "$TMP/pc/prdshm.pc" 2>/dev/null; then
		ok "prdshm.pc follows PREFIX"
	else
		not_ok "prdshm.pc still says $(grep '^prefix=' "$TMP/pc/prdshm.pc" 2>/dev/null)"
	fi
else
	skip "prdshm.pc follows PREFIX (no make)"
fi

# ---- prdshm-lock -w --------------------------------------------------------
shm_name
export PRD_PARALLEL_SHM_NAME=$SHM
t_rc 64 "-w 1e10 is refused" "$BIN/prdshm-lock" -w 1e10 r true
t_grep "$TMP/err" "timeout '1e10' is too long \(at most 1e9 seconds; -w inf waits forever\)" \
	"-w 1e10: the hint says what is allowed"
# Too large for a double: infinite with ERANGE, which is not "inf" (the
# arguments fuzzer found it taken as wait forever).
t_rc 64 "-w 2e400 is refused" "$BIN/prdshm-lock" -w 2e400 r true
t_grep "$TMP/err" "timeout '2e400' is too long" "-w 2e400: too long, not forever"
t_rc 64 "-w abc is refused" "$BIN/prdshm-lock" -w abc r true
t_grep "$TMP/err" "or inf to wait forever" "-w abc: the hint names inf"

# -w inf outlives lock_timeout_seconds (1 s here), as flock(1) without -w.
"$BIN/prdshm-lock" r -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
BG_PIDS+=($!)
holder=$!
wait_until 10 test -e "$TMP/held" || not_ok "the holder did not start"
PRD_PARALLEL_LOCK_TIMEOUT_SECONDS=1 "$BIN/prdshm-lock" -w inf r touch "$TMP/got" &
waiter=$!
BG_PIDS+=("$waiter")
if wait_until 10 sh -c "'$BIN/prdshm-inspect' --json locks | grep -q '\"waits_for\"'"; then
	sleep 1.5 # past lock_timeout_seconds
	kill -0 "$waiter" 2>/dev/null && ok "-w inf still waits after lock_timeout_seconds" ||
		not_ok "-w inf gave up"
else
	not_ok "-w inf did not queue"
fi
touch "$TMP/release"
wait "$holder"
wait "$waiter"
rc=$?
[ "$rc" = 0 ] && [ -e "$TMP/got" ] && ok "-w inf got the lock once released" ||
	not_ok "-w inf: exit $rc"

# ---- --phase, -c -------------------------------------------------------------
long=$(printf 'p%.0s' $(seq 64))
t_rc 64 "--phase over 63 bytes is refused" "$BIN/prdshm-lock" --phase "$long" r true
t_grep "$TMP/err" "--phase: 'p+\.\.\.' is longer than 63 bytes" "and the message says why"
t_rc 0 "--phase of 63 bytes is taken" "$BIN/prdshm-lock" --phase "${long:1}" r true
t_rc 64 "-c FILE.yaml in prdshm-lock" "$BIN/prdshm-lock" -c prdpar.yaml r true
t_grep "$TMP/err" "-c is the command in prdshm-lock, as in flock\(1\).*give it with --config" \
	"says -c is the command and --config the file"
t_rc 64 "RESOURCE -c FILE.yml too" "$BIN/prdshm-lock" r -c plan.yml
printf 'lock_timeout_seconds: 7\n' >"$TMP/c.yaml"
t_rc 0 "--config works in prdshm-lock" "$BIN/prdshm-lock" --config "$TMP/c.yaml" r -c true

# ---- --path ------------------------------------------------------------------
rm -f "$TMP/held" "$TMP/release"
"$BIN/prdshm-lock" --path out.txt -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
holder=$!
BG_PIDS+=("$holder")
wait_until 10 test -e "$TMP/held" || not_ok "the --path holder did not start"
t_rc 1 "--path ./out.txt is the same lock" "$BIN/prdshm-lock" --path -n ./out.txt true
t_grep "$TMP/err" "^prdshm-lock: $PWD/out.txt: lock is taken" "named by its absolute path"
t_rc 1 "--path \$PWD/out.txt is the same lock" "$BIN/prdshm-lock" --path -n "$PWD/out.txt" true
mkdir -p sub
t_rc 1 "--path sub/../out.txt is the same lock" "$BIN/prdshm-lock" --path -n sub/../out.txt true
t_rc 0 "without --path, ./out.txt is another name" "$BIN/prdshm-lock" -n ./out.txt true
touch "$TMP/release"
wait "$holder"
"$BIN/prdshm-cleanup" -q --unlink
unset PRD_PARALLEL_SHM_NAME

# ---- no segment ----------------------------------------------------------------
shm_name
t_rc 66 "inspect: no segment" "$BIN/prdshm-inspect" --name "$SHM"
t_grep "$TMP/err" "hint: no run has created $SHM: start one with prdshm-run" \
	"the message has a hint"
t_rc 66 "inspect --json: no segment" "$BIN/prdshm-inspect" --json --name "$SHM"
t_grep "$TMP/out" '"exit": 66' "--json prints an error document on stdout"
t_grep "$TMP/out" "\"message\": \"open segment $SHM: " "with the message"
t_rc 0 "cleanup: no segment is nothing to do" "$BIN/prdshm-cleanup" --name "$SHM"
t_grep "$TMP/out" "no segment $SHM: nothing to do" "and says so"
t_rc 0 "prdshm-inspect --check || prdshm-cleanup (the README's line)" \
	sh -c "'$BIN/prdshm-inspect' -q --check --name '$SHM' || '$BIN/prdshm-cleanup' --name '$SHM'"
t_rc 0 "cleanup --json: no segment" "$BIN/prdshm-cleanup" --json --name "$SHM"
t_grep "$TMP/out" '"exists": false' "the document says there was none"

# ---- cleanup --unlink --force with a live holder --------------------------------
shm_name
rm -f "$TMP/held" "$TMP/release"
"$BIN/prdshm-lock" --name "$SHM" r -c "$(hold_cmd "$TMP/held" "$TMP/release")" &
holder=$!
BG_PIDS+=("$holder")
wait_until 10 test -e "$TMP/held" || not_ok "the holder did not start"
t_rc 2 "--unlink refused with a live holder" "$BIN/prdshm-cleanup" --unlink --name "$SHM"
t_grep "$TMP/err" "their locks no longer exclude anyone" "the refusal says what --force means"
t_rc 0 "--unlink --force" "$BIN/prdshm-cleanup" --unlink --force --name "$SHM"
t_grep "$TMP/err" "warning: .*the same lock can be taken twice" "--force says plainly what it did"
touch "$TMP/release"
wait "$holder"

# ---- create --force over a foreign object ---------------------------------------
shm_name
(umask 077 && echo "my precious data" >"/dev/shm$SHM")
t_rc 0 "create --force over a foreign object" "$BIN/prdshm-create" -q --force --name "$SHM"
t_grep "$TMP/err" "not a prdshm segment at all but 17 bytes starting \"my precious data\"" \
	"says what it replaces"
"$BIN/prdshm-cleanup" -q --unlink --name "$SHM"

cli_done
