#!/bin/sh
# procfs_bench.sh - cost of open/fopen/readlink with the agent's procfs
# interposers (hooks/agent_procfs.c) vs without (the kernel), median of 5 runs.
# Usage: bench/procfs_bench.sh [builddir] [calls]. Run as root (the kernel side creates a map).
B=${1:-build}
N=${2:-20000}
T=$(mktemp -d /tmp/bpftime-prbench.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs" && cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" &&
	cp "$B/bench/procfs_bench" "$T/" && chmod -R a+rX "$T" || exit 1
for i in 1 2 3 4 5; do
	"$T/procfs_bench" "$N" >>"$T/kern"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session prbench-$$ -- "$T/procfs_bench" "$N" >>"$T/emu"
done
med() { grep "^$1 " "$2" | awk '{ print $2 }' | sort -n | sed -n 3p; }
printf '%-18s %10s %10s %7s\n' case kernel_ns bpftime_ns ratio
for c in open_close fopen_fclose readlink_exe readlink_file_fd fdinfo_file_fd readlink_map_fd fdinfo_map_fd; do
	k=$(med $c "$T/kern"); e=$(med $c "$T/emu")
	printf '%-18s %10s %10s %7s\n' $c "$k" "$e" "$(awk -v k="$k" -v e="$e" 'BEGIN { printf "%.2f", e / k }')"
done
