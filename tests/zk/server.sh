#!/usr/bin/env bash
# server.sh: a standalone ZooKeeper server for the tests, from the Debian
# package (java and /usr/share/java/zookeeper.jar, whose manifest names the
# jars it needs), on a loopback port with its data in a directory of ours.
# tests/zk/ensemble.sh sources it for its functions (three servers).
#
#   bash tests/zk/server.sh available          exit 0 if a server can be run
#   bash tests/zk/server.sh start DIR [PORT]   start it; prints the port
#   bash tests/zk/server.sh stop DIR           stop it, remove DIR's data
#   bash tests/zk/server.sh halt DIR           stop it, keep its data (to be
#                                              started again on DIR/port)
#
# start picks a free loopback port when PORT is not given, writes DIR/zoo.cfg,
# and waits (at most ZK_START_SECONDS, default 60) until the server answers
# the four-letter word "srvr" as serving; on failure it prints the end of the
# server's log, stops it and exits 1.  stop sends SIGTERM to the pid in
# DIR/pid, then SIGKILL after 10 s.
set -u
JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
JAVA=${JAVA:-java}
START_SECONDS=${ZK_START_SECONDS:-60}

available() {
	[ -r "$JAR" ] && command -v "$JAVA" >/dev/null 2>&1
}

# A port nobody listens on: bind port 0 and read what the kernel gave.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# "srvr" through bash's /dev/tcp: the answer names the server's mode once
# it serves ("Mode: standalone", "leader", "follower"); a server still
# starting says "not currently serving" or refuses the connection.  Prints
# the mode, or nothing.
mode() {
	local port=$1 reply
	reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf srvr >&3 && timeout 2 cat <&3) 2>/dev/null)
	sed -n 's/^Mode: //p' <<<"$reply"
}

answers() {
	[ -n "$(mode "$1")" ]
}

# Run the server of DIR/zoo.cfg in the background (its own session, so that
# the tests' signals do not reach it), its pid in DIR/pid.  CLASS is the
# server's main class: standalone, or a member of an ensemble.  The
# server's own log goes to DIR/server.log; -Xmx keeps it small beside the
# tests (ZK_HEAP, default 128m).
launch() {
	local dir=$1 class=$2
	setsid "$JAVA" "-Xmx${ZK_HEAP:-128m}" -Dzookeeper.log.dir="$dir" \
		-Dzookeeper.root.logger=INFO,CONSOLE \
		-cp "$JAR:/etc/zookeeper/conf" "$class" \
		"$dir/zoo.cfg" >"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
}

start() {
	local dir=$1 port=${2:-} deadline pid
	available || { echo "server.sh: no ZooKeeper ($JAR) or no java" >&2; return 1; }
	mkdir -p "$dir/data" || return 1
	[ -n "$port" ] || port=$(free_port) || return 1
	cat >"$dir/zoo.cfg" <<CFG
tickTime=200
minSessionTimeout=400
maxSessionTimeout=60000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,stat
CFG
	launch "$dir" org.apache.zookeeper.server.ZooKeeperServerMain
	pid=$(cat "$dir/pid")
	echo "$port" >"$dir/port"
	deadline=$((SECONDS + START_SECONDS))
	while ! answers "$port"; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			echo "server.sh: ZooKeeper did not answer on 127.0.0.1:$port within ${START_SECONDS}s; its log:" >&2
			tail -30 "$dir/server.log" >&2
			stop "$dir"
			return 1
		fi
		sleep 0.2
	done
	echo "$port"
}

# The server's process, gone within 10 s (SIGTERM, then SIGKILL).
stop_process() {
	local dir=$1 pid i
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$dir/pid"
}

stop() {
	stop_process "$1"
	rm -rf "$1/data"
	return 0
}

# Stop the server but keep its data and port: "start DIR PORT" again
# brings back the sessions it had, whose clients reconnect within their
# timeout.
halt() {
	stop_process "$1"
}

# Sourced (tests/zk/ensemble.sh): the functions only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

case "${1:-}" in
available) available ;;
start) [ $# -ge 2 ] || { echo "usage: server.sh start DIR [PORT]" >&2; exit 2; }; start "$2" "${3:-}" ;;
stop) [ $# -ge 2 ] || { echo "usage: server.sh stop DIR" >&2; exit 2; }; stop "$2" ;;
halt) [ $# -ge 2 ] || { echo "usage: server.sh halt DIR" >&2; exit 2; }; halt "$2" ;;
*) echo "usage: server.sh available | start DIR [PORT] | stop DIR | halt DIR" >&2; exit 2 ;;
esac
