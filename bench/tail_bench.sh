#!/bin/sh
# tail_bench.sh - the cost of a uprobe hit whose program tail-calls into
# another (and of one whose prog array slot is empty), kernel vs bpftime,
# with the libbpf skeleton of tests/e2e/agent-tail.sh in bench mode:
# natively as root (the kernel's uprobe) and as uid 65534 under bpftime-run
# (the agent). Each side prints the median of RUNS runs of CALLS calls; this
# script prints both and the ratio. Not run by make check.
# Usage: bench/tail_bench.sh [CALLS [RUNS]]   (defaults 200000 5); needs root.
set -eu
CALLS=${1:-200000}
RUNS=${2:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BPFTIME_BUILDDIR:-$top/build}
[ "$(id -u)" = 0 ] || { echo "tail_bench.sh: needs root for the kernel side" >&2; exit 1; }
[ -x "$B/tests/e2e/agent_tail" ] || make -C "$B" tests/e2e/agent_tail >/dev/null
T=$(mktemp -d /tmp/bpftime-tbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/"; cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/"
cp "$B/tests/e2e/agent_tail" "$T/prog"
chmod -R a+rX "$T"
unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh "$T/prog" bench "$CALLS" "$RUNS" |
	sed 's/^row /kern /' >>"$T/rows"
setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q -s tbench-$$ -- "$T/prog" bench "$CALLS" "$RUNS" |
	sed 's/^row /emu /' >>"$T/rows"
awk -v runs="$RUNS" -v calls="$CALLS" '
	{ v[$1 " " $2] = $3; if (!seen[$2]++) order[n++] = $2 }
	END {
		printf "tail_bench: medians of %d runs of %d calls; kernel = native as root, bpftime = uid 65534 under bpftime-run\n\n", runs, calls
		printf "%-28s %10s %10s %8s\n", "uprobe hit (ns per call)", "kernel", "bpftime", "ratio"
		for (i = 0; i < n; i++) {
			k = order[i]
			r = (v["emu " k] > 0) ? v["kern " k] / v["emu " k] : 0
			printf "%-28s %10.1f %10.1f %7.1fx\n", k, v["kern " k], v["emu " k], r
		}
	}' "$T/rows"
