# cli.sh: the start of a command-line test on a ZooKeeper server (sourced
# after tests/cli/lib.sh, not run).  zk_cli_start NAME skips the test
# (exit 0) when the build has no ZooKeeper client or no server can be run;
# else it starts a standalone server (tests/zk/server.sh) in $TMP/zk,
# stopped on exit, and sets SERVER, ZKDIR, port and HOSTS.
SERVER="bash $ROOT/tests/zk/server.sh"

zk_cli_start() {
	local name=$1
	zk_or_skip "$name" "$ROOT/tests/zk/server.sh"
	ZKDIR="$TMP/zk"
	trap '$SERVER stop "$ZKDIR"; cli_cleanup' EXIT
	if port=$($SERVER start "$ZKDIR" 2>"$TMP/zk-start.err"); then
		ok "$name: a standalone server answers on 127.0.0.1:$port"
	else
		not_ok "$name: the server did not start"; cat "$TMP/zk-start.err"
		exit 1
	fi
	HOSTS="127.0.0.1:$port"
}
