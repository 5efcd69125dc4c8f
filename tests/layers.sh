#!/usr/bin/env bash
# layers.sh: the architecture of lib/ as rules a build can check
# (docs/design.md, "Layers").
#
#   bash tests/layers.sh [SRC [OBJ]]
#
# SRC is the source tree (default: .), OBJ the directory of the library's
# object files, SRC's lib/ compiled (default: build/lib).  Checks:
#   1. no source file of lib/ or tools/ is longer than MAX_LINES (700),
#      the public header lib/prdshm.h excepted;
#   2. every call and data reference between files of lib/ (from nm) goes
#      down the layers, or stays in its folder;
#   3. no two files of lib/ depend on each other, directly or through
#      others (no cycle in the file graph);
#   4. every #include "folder/x.h" in lib/ names a header of the same
#      folder or of a lower layer.
# Prints one line per violation and exits 1 if there is any, else prints
# a summary and exits 0.
set -u
SRC=$(cd "${1:-.}" && pwd) || exit 1
OBJ=$(cd "${2:-build/lib}" 2>/dev/null && pwd) || { echo "layers: no directory ${2:-build/lib}: build first"; exit 1; }
MAX_LINES=${MAX_LINES:-700}

# The layers, lowest first.  Folders on one line are side by side: neither
# may use the other.
LAYERS='base
graph
config shm
session
lock plan
ops zk
api'

bad=0
fail() { echo "layers: $*"; bad=1; }

rank_table() {
	awk '{ for (i = 1; i <= NF; i++) print $i, NR }' <<<"$LAYERS"
}

# ---- 1. file sizes ----------------------------------------------------------
while read -r n f; do
	[ "$f" = total ] && continue
	[ "$n" -gt "$MAX_LINES" ] && fail "$f: $n lines, more than $MAX_LINES: split it by concept"
done < <(cd "$SRC" && find lib tools -name '*.[ch]' ! -path lib/prdshm.h -exec wc -l {} + 2>/dev/null)

# ---- 2 and 3. calls between files --------------------------------------------
# Only the objects of sources that exist: a build directory keeps those of
# files since moved or removed.
objs=$(cd "$OBJ" 2>/dev/null && find . -name '*.o' | sed 's|^\./||' | sort |
	while read -r o; do [ -e "$SRC/lib/${o%.o}.c" ] && echo "$o"; done)
[ -n "$objs" ] || { echo "layers: no object files under $OBJ: build first"; exit 1; }

# "file symbol" for each definition, "file U symbol" for each use.
syms=$(cd "$OBJ" && for o in $objs; do
	nm "$o" | awk -v f="${o%.o}" '$1 == "U" { print f, "U", $2 }
		NF == 3 && $2 ~ /^[TDBRGSV]$/ { print f, $3 }'
done)

# Edges "from to symbol", one per pair of files (the first symbol seen).
edges=$(awk 'NF == 2 { def[$2] = $1; next }
	{ use[++n] = $1 " " $3 }
	END {
		for (i = 1; i <= n; i++) {
			split(use[i], u, " ")
			if (!(u[2] in def) || def[u[2]] == u[1]) continue
			k = u[1] " " def[u[2]]
			if (!(k in seen)) { seen[k] = 1; print k, u[2] }
		}
	}' <<<"$syms" | sort)

# Folder of a file: its first path component.
while read -r from to sym; do
	[ -n "$from" ] || continue
	ff=${from%%/*} tf=${to%%/*}
	[ "$ff" = "$tf" ] && continue
	fr=$(rank_table | awk -v d="$ff" '$1 == d { print $2 }')
	tr=$(rank_table | awk -v d="$tf" '$1 == d { print $2 }')
	if [ -z "$fr" ] || [ -z "$tr" ]; then
		fail "lib/$from or lib/$to is in no layer: add its folder to LAYERS and docs/design.md"
	elif [ "$tr" -ge "$fr" ]; then
		fail "lib/$from.c uses $sym of lib/$to.c: $ff may not call $tf (layers call only downward)"
	fi
done <<<"$edges"

# A cycle: depth-first search over the file graph, reporting each back edge
# with the path that closes it.
cycles=$(awk '{ adj[$1] = adj[$1] " " $2; node[$1] = 1; node[$2] = 1 }
	function dfs(v,   i, n, w, a) {
		state[v] = 1; path[++depth] = v
		n = split(adj[v], a, " ")
		for (i = 1; i <= n; i++) {
			w = a[i]
			if (state[w] == 1) { report(w) }
			else if (!state[w]) dfs(w)
		}
		depth--; state[v] = 2
	}
	function report(w,   i, s, on) {
		s = ""
		for (i = 1; i <= depth; i++) {
			if (path[i] == w) on = 1
			if (on) s = s "lib/" path[i] ".c -> "
		}
		print s "lib/" w ".c"
	}
	END { for (v in node) if (!state[v]) dfs(v) }' <<<"$edges")
while read -r c; do
	[ -n "$c" ] && fail "cycle: $c"
done <<<"$cycles"

# ---- 4. includes ---------------------------------------------------------------
while IFS=: read -r file inc; do
	ff=$(basename "$(dirname "$file")")
	tf=${inc%%/*}
	[ "$ff" = "$tf" ] && continue
	fr=$(rank_table | awk -v d="$ff" '$1 == d { print $2 }')
	tr=$(rank_table | awk -v d="$tf" '$1 == d { print $2 }')
	if [ -n "$fr" ] && [ -n "$tr" ] && [ "$tr" -ge "$fr" ]; then
		fail "$file includes $inc: $ff may not depend on $tf"
	fi
done < <(cd "$SRC" && grep -o '^#include "[a-z_]*/[a-z_]*\.h"' lib/*/*.[ch] 2>/dev/null |
	sed 's/#include "//; s/"$//')

if [ "$bad" = 0 ]; then
	echo "layers: $(wc -l <<<"$objs") files, $(grep -c . <<<"$edges") dependencies between" \
	     "files, all downward, no cycle; no file over $MAX_LINES lines"
fi
exit "$bad"
