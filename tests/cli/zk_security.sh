#!/usr/bin/env bash
# zk_security.sh: zookeeper.auth_file on a standalone server started for it
# (tests/zk/server.sh) and stopped afterwards (docs/zookeeper.md,
# "Security").  Skipped with a message when no server can be run or the
# library was built without the ZooKeeper client.
#
#  1. a segment created with credentials A: prdshm-lock and prdshm-inspect
#     with A work; every znode of its tree, read with zkCli while a lock is
#     held, grants nothing to world:anyone (the agent, the resource, the
#     request, the plan), nor after the close (the metrics);
#  2. a client with credentials B, or with none, is refused (77) with a
#     message naming the ACL;
#  3. an auth_file readable by the group, one owned by another user
#     (when run as root), is refused (77) naming the file; a missing or
#     empty one is a configuration error (65) naming it;
#  4. a segment created without credentials (world-open) is refused (77)
#     to a client that has credentials, naming world:anyone; a client
#     without credentials still uses it (the old behaviour).
ROOT=$(pwd)
# shellcheck source=tests/cli/lib.sh
. "$ROOT/tests/cli/lib.sh"

# shellcheck source=tests/zk/cli.sh
. "$ROOT/tests/zk/cli.sh"
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh

zk_cli_start zk_security

export PRD_PARALLEL_BACKEND=zookeeper PRD_PARALLEL_ZOOKEEPER_HOSTS=$HOSTS
export PRD_PARALLEL_ZOOKEEPER_ROOT="/prdshm-sec-$$"
printf 'alice:secret-a\n' >"$TMP/a.auth"
printf 'bob:secret-b\n' >"$TMP/b.auth"
chmod 600 "$TMP/a.auth" "$TMP/b.auth"

# The ACLs of every znode under $1, read with credentials A in one zkCli
# session, into $TMP/acl.
read_acls() {
	local paths
	paths=$(printf 'addauth digest alice:secret-a\nls -R %s\n' "$1" |
		timeout 60 "$ZKCLI" -server "$HOSTS" 2>/dev/null | grep "^$1")
	{
		echo 'addauth digest alice:secret-a'
		for p in $paths; do echo "getAcl $p"; done
	} | timeout 60 "$ZKCLI" -server "$HOSTS" >"$TMP/acl" 2>&1
	echo "$paths" >"$TMP/acl.paths"
}

# No znode of the tree at $1 grants anything to world:anyone, and the
# tree has at least $2 znodes (those of the case, all read).
acls_closed() {
	local what=$1 base=$2 want=$3 n
	if [ ! -x "$ZKCLI" ]; then
		skip "zk_security: $what: no zkCli.sh to read the ACLs"
		return
	fi
	read_acls "$base"
	n=$(grep -c "'digest,'alice:" "$TMP/acl")
	if grep -q "'world,'anyone" "$TMP/acl"; then
		not_ok "zk_security: $what: a znode grants world:anyone"; cat "$TMP/acl.paths"
	elif grep -q "$want" "$TMP/acl.paths" && [ "$n" -ge "$(wc -l <"$TMP/acl.paths")" ]; then
		ok "zk_security: $what: $n znodes, each only alice's"
	else
		not_ok "zk_security: $what: $n ACLs for $(wc -l <"$TMP/acl.paths") znodes, none like $want"
		cat "$TMP/acl.paths"
	fi
}

test_credentials() {
	local base
	shm_name
	base="/prdshm-sec-$$$SHM"
	PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/a.auth" TEST_WRAP= t_rc 0 \
		"zk_security: prdshm-create with credentials A" "$BIN/prdshm-create" --name "$SHM"
	export PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/a.auth"
	TEST_WRAP= t_rc 0 "zk_security: A: prdshm-lock, the ACLs read while it holds" \
		"$BIN/prdshm-lock" --name "$SHM" -x res1 \
		sh -c "cd '$ROOT' && $(declare -f read_acls); ZKCLI=$ZKCLI HOSTS=$HOSTS TMP=$TMP read_acls $base"
	if [ -x "$ZKCLI" ] && grep -q "/locks/res1/write-" "$TMP/acl.paths" &&
		grep -q "/agents/" "$TMP/acl.paths" && ! grep -q "'world,'anyone" "$TMP/acl"; then
		ok "zk_security: A: agent, resource, request and plan grant world:anyone nothing"
	else
		not_ok "zk_security: A: the ACLs while held"; cat "$TMP/acl.paths" "$TMP/acl"
	fi
	acls_closed "A: after the close" "$base" "/metrics"
	TEST_WRAP= t_rc 0 "zk_security: A: prdshm-inspect" "$BIN/prdshm-inspect" --name "$SHM"

	export PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/b.auth"
	TEST_WRAP= t_rc 77 "zk_security: B: prdshm-lock refused" "$BIN/prdshm-lock" --name "$SHM" -x res1 true
	t_grep "$TMP/err" "znode $base's ACL does not let these credentials read it" \
		"zk_security: B: the message names the ACL"
	TEST_WRAP= t_rc 77 "zk_security: B: prdshm-inspect refused" "$BIN/prdshm-inspect" --name "$SHM"
	unset PRD_PARALLEL_ZOOKEEPER_AUTH_FILE
	TEST_WRAP= t_rc 77 "zk_security: none: prdshm-lock refused" "$BIN/prdshm-lock" --name "$SHM" -x res1 true
	t_grep "$TMP/err" "does not let a client without credentials read it" \
		"zk_security: none: the message says so"
}

test_file() {
	shm_name
	export PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/a.auth"
	chmod 640 "$TMP/a.auth"
	TEST_WRAP= t_rc 77 "zk_security: auth_file readable by the group" "$BIN/prdshm-create" --name "$SHM"
	t_grep "$TMP/err" "zookeeper.auth_file $TMP/a.auth is open to group or others \(mode 0640\)" \
		"zk_security: the message names the file and its mode"
	chmod 600 "$TMP/a.auth"
	if [ "$(id -u)" = 0 ]; then
		cp "$TMP/a.auth" "$TMP/n.auth" && chown 65534 "$TMP/n.auth"
		PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/n.auth" TEST_WRAP= t_rc 77 \
			"zk_security: auth_file owned by another user" "$BIN/prdshm-create" --name "$SHM"
		t_grep "$TMP/err" "$TMP/n.auth is owned by uid 65534" "zk_security: the message names the owner"
	else
		skip "zk_security: auth_file owned by another user: needs root to chown"
	fi
	PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/none.auth" TEST_WRAP= t_rc 65 \
		"zk_security: a missing auth_file" "$BIN/prdshm-create" --name "$SHM"
	t_grep "$TMP/err" "zookeeper.auth_file $TMP/none.auth: No such file" "zk_security: named"
	: >"$TMP/e.auth" && chmod 600 "$TMP/e.auth"
	PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/e.auth" TEST_WRAP= t_rc 65 \
		"zk_security: an empty auth_file" "$BIN/prdshm-create" --name "$SHM"
	t_grep "$TMP/err" "zookeeper.auth_file $TMP/e.auth is empty" "zk_security: named, empty"
	unset PRD_PARALLEL_ZOOKEEPER_AUTH_FILE
}

test_open_segment() {
	shm_name
	TEST_WRAP= t_rc 0 "zk_security: prdshm-create without credentials" "$BIN/prdshm-create" --name "$SHM"
	PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/a.auth" TEST_WRAP= t_rc 77 \
		"zk_security: a world-open segment refused with credentials" \
		"$BIN/prdshm-lock" --name "$SHM" -x res1 true
	t_grep "$TMP/err" "segment $SHM on ZooKeeper is not protected: its znode .* has the ACL world:anyone:cdrwa" \
		"zk_security: the message names world:anyone and its rights"
	TEST_WRAP= t_rc 0 "zk_security: without credentials it still works" \
		"$BIN/prdshm-lock" --name "$SHM" -x res1 true
}

# A segment planted by someone else: readable by the world (so a client
# with credentials can read it), all rights to the planter, and children
# the world may write.  Refused, naming the ACL, before anything is read.
test_planted_segment() {
	local base
	if [ ! -x "$ZKCLI" ]; then
		skip "zk_security: planted segment: no zkCli.sh to plant it"
		return
	fi
	shm_name
	base="$PRD_PARALLEL_ZOOKEEPER_ROOT$SHM"
	printf '%s\n' 'addauth digest mallory:secret-m' \
		"create $base 'prdshm zookeeper 1 created=1' world:anyone:r,auth::cdrwa" \
		"create $base/agents '' world:anyone:cdrwa" "create $base/locks '' world:anyone:cdrwa" \
		"create $base/plan 'x' world:anyone:cdrwa" |
		timeout 60 "$ZKCLI" -server "$HOSTS" >"$TMP/plant" 2>&1
	PRD_PARALLEL_ZOOKEEPER_AUTH_FILE="$TMP/a.auth" TEST_WRAP= t_rc 77 \
		"zk_security: a segment planted readable by the world is refused" \
		"$BIN/prdshm-lock" --name "$SHM" -x res1 true
	t_grep "$TMP/err" "its znode $base has the ACL world:anyone:r,digest:mallory:" \
		"zk_security: the message shows the planted ACL"
}

test_credentials
test_file
test_open_segment
test_planted_segment
cli_done
