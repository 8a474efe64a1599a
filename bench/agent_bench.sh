#!/bin/sh
# agent_bench.sh - bench/agent_bench run natively (the kernel's uprobes and
# tracepoints) and unprivileged under bpftime-run (the agent), side by side.
# Needs root (the kernel side). Usage: bench/agent_bench.sh [RUNS]   (default 5)
set -eu
RUNS=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BPFTIME_BUILDDIR:-$top/build}
[ "$(id -u)" = 0 ] || { echo "agent_bench.sh: needs root for the kernel side" >&2; exit 1; }
[ -x "$B/bench/agent_bench" ] || make -C "$B" bench/agent_bench >/dev/null
T=$(mktemp -d /tmp/bpftime-abench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/"; cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/"
cp "$B/bench/agent_bench" "$T/"
chmod -R a+rX "$T"
kern() { unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && exec "$@"' sh "$T/agent_bench" "$@"; }
emu() { setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q -s abench-$$ -- "$T/agent_bench" "$@"; }
for m in probes sys; do
	kern $m "$RUNS" | sed 's/^row /kern /' >>"$T/rows"
	emu $m "$RUNS" | sed 's/^row /emu /' >>"$T/rows"
done
emu startup "$RUNS" | sed 's/^row /emu /' >>"$T/rows"
awk -v runs="$RUNS" '
	{ v[$1 " " $2] = $3; if (!seen[$2]++) order[n++] = $2 }
	END {
		printf "agent_bench: medians of %d runs; kernel = native as root, bpftime = uid 65534 under bpftime-run\n\n", runs
		printf "%-22s %12s %12s %8s\n", "per hit (ns)", "kernel", "bpftime", "ratio"
		for (i = 0; i < n; i++) {
			k = order[i]
			if (k ~ /^startup/ || k ~ /^getpid/) continue
			r = (v["emu " k] > 0) ? v["kern " k] / v["emu " k] : 0
			printf "%-22s %12.1f %12.1f %7.0fx\n", k, v["kern " k], v["emu " k], r
		}
		printf "\n%-22s %12s %12s\n", "getpid (ns per call)", "kernel", "bpftime"
		printf "%-22s %12.1f %12.1f\n", "no tracepoint", v["kern getpid/base"], v["emu getpid/base"]
		printf "%-22s %12.1f %12.1f   (added cost; another syscall traced)\n", "untraced", v["kern getpid/untraced"], v["emu getpid/untraced"]
		printf "%-22s %12.1f %12.1f   (added cost; counting sys_enter_getpid)\n", "traced", v["kern getpid/traced"], v["emu getpid/traced"]
		printf "\n%-36s %10.1f us\n", "fork+exec+exit, agent preloaded", v["emu startup/env-us"]
		printf "%-36s %10.1f us\n", "fork+exec+exit, no agent", v["emu startup/clean-us"]
	}' "$T/rows"
