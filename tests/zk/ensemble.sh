#!/usr/bin/env bash
# ensemble.sh: a 3-server ZooKeeper ensemble for the tests, on loopback
# ports, each server in DIR/<n> (n = 1, 2, 3) with its own zoo.cfg, data
# dir and myid.  The servers are the Debian package's, run as server.sh runs
# its standalone one (its functions: sourced, not copied).
#
#   bash tests/zk/ensemble.sh available       exit 0 if servers can be run
#   bash tests/zk/ensemble.sh start DIR       start the three; prints the
#                                             client connect string
#   bash tests/zk/ensemble.sh leader DIR      prints n of the leader
#   bash tests/zk/ensemble.sh kill DIR N      kill -9 server N
#   bash tests/zk/ensemble.sh quorum DIR      wait until the running servers
#                                             have one leader again
#   bash tests/zk/ensemble.sh stop DIR        stop all, remove DIR's data
#
# start picks 9 free loopback ports (client, peer, election per server) and
# waits, at most ZK_START_SECONDS (default 60), until "srvr" says one server
# is the leader and the two others its followers; on failure it prints the
# end of each server's log, stops them and exits 1.  quorum waits the same
# way for one leader and the other running servers following it (after a
# kill: one leader, one follower).  Each JVM gets -Xmx64m (ZK_HEAP).
set -u
# shellcheck source=tests/zk/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"
N=3
: "${ZK_HEAP:=64m}"

# The ensemble's servers, as "server.n=..." lines for every zoo.cfg.
ensemble_lines() {
	local dir=$1 n
	for n in $(seq $N); do
		echo "server.$n=127.0.0.1:$(cat "$dir/$n/peer"):$(cat "$dir/$n/election")"
	done
}

# Server n's zoo.cfg.  tickTime 200 ms as server.sh's, so sessions of a few
# seconds are allowed; initLimit and syncLimit (in ticks) give a follower
# 4 s to join and 2 s of silence before the leader drops it.
write_cfg() {
	local dir=$1 n=$2
	cat >"$dir/$n/zoo.cfg" <<CFG
tickTime=200
initLimit=20
syncLimit=10
minSessionTimeout=400
maxSessionTimeout=60000
dataDir=$dir/$n/data
clientPort=$(cat "$dir/$n/port")
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,stat
$(ensemble_lines "$dir")
CFG
}

# The modes of the servers still running, "n mode" per line ("-" for one
# that does not serve).
modes() {
	local dir=$1 n m
	for n in $(seq $N); do
		[ -f "$dir/$n/pid" ] || continue
		m=$(mode "$(cat "$dir/$n/port")")
		echo "$n ${m:--}"
	done
}

# One leader, and every other running server its follower.
settled() {
	local dir=$1 m
	m=$(modes "$dir")
	[ "$(grep -c ' leader$' <<<"$m")" = 1 ] && ! grep -qv -e ' leader$' -e ' follower$' <<<"$m"
}

quorum() {
	local dir=$1 deadline=$((SECONDS + START_SECONDS)) n
	while ! settled "$dir"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "ensemble.sh: no leader with followers within ${START_SECONDS}s:" >&2
			modes "$dir" >&2
			for n in $(seq $N); do
				echo "--- server $n:" >&2
				tail -15 "$dir/$n/server.log" >&2
			done
			return 1
		fi
		sleep 0.2
	done
}

leader() {
	modes "$1" | sed -n 's/ leader$//p'
}

start_all() {
	local dir=$1 n hosts=
	available || { echo "ensemble.sh: no ZooKeeper ($JAR) or no java" >&2; return 1; }
	for n in $(seq $N); do
		mkdir -p "$dir/$n/data" || return 1
		echo "$n" >"$dir/$n/data/myid"
		free_port >"$dir/$n/port" && free_port >"$dir/$n/peer" &&
			free_port >"$dir/$n/election" || return 1
	done
	for n in $(seq $N); do
		write_cfg "$dir" "$n"
		launch "$dir/$n" org.apache.zookeeper.server.quorum.QuorumPeerMain
		hosts=$hosts${hosts:+,}127.0.0.1:$(cat "$dir/$n/port")
	done
	if ! quorum "$dir"; then
		stop_all "$dir"
		return 1
	fi
	echo "$hosts"
}

# kill -9: the server gets no chance to tell its peers or its clients.
kill_server() {
	local dir=$1 n=$2 pid i
	[ -f "$dir/$n/pid" ] || { echo "ensemble.sh: server $n is not running" >&2; return 1; }
	pid=$(cat "$dir/$n/pid")
	kill -9 "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$dir/$n/pid"
}

stop_all() {
	local dir=$1 n
	for n in $(seq $N); do
		[ -d "$dir/$n" ] || continue
		stop_process "$dir/$n" &
	done
	wait
	for n in $(seq $N); do rm -rf "$dir/$n/data"; done
	return 0
}

usage() {
	echo "usage: ensemble.sh available | start DIR | leader DIR | kill DIR N | quorum DIR | stop DIR" >&2
	exit 2
}

case "${1:-}" in
available) available ;;
start) [ $# -ge 2 ] || usage; start_all "$2" ;;
leader) [ $# -ge 2 ] || usage; leader "$2" | grep . ;;
kill) [ $# -ge 3 ] || usage; kill_server "$2" "$3" ;;
quorum) [ $# -ge 2 ] || usage; quorum "$2" ;;
stop) [ $# -ge 2 ] || usage; stop_all "$2" ;;
*) usage ;;
esac
