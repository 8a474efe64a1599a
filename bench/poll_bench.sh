#!/bin/sh
# poll_bench.sh - poll() cost, kernel vs under bpftime-run (agent interposer),
# median of 5 runs each. Usage: bench/poll_bench.sh [builddir] [calls]
# Run as root (the kernel side opens a BPF output perf event).
B=${1:-build}
N=${2:-200000}
T=$(mktemp -d /tmp/bpftime-pbench.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
for i in 1 2 3 4 5; do
	"$B/bench/poll_bench" "$N" >>"$T/kern"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$B/bpftime-run" -q --session pbench-$$ -- "$B/bench/poll_bench" "$N" >>"$T/emu"
done
med() { grep "^$1 " "$2" | awk '{ print $2 }' | sort -n | sed -n 3p; }
printf '%-18s %10s %10s %7s\n' case kernel_ns bpftime_ns ratio
for c in pipe_no_rings pipe_rings_exist empty_ring; do
	k=$(med $c "$T/kern"); e=$(med $c "$T/emu")
	printf '%-18s %10s %10s %7s\n' $c "$k" "$e" "$(awk -v k="$k" -v e="$e" 'BEGIN { printf "%.2f", e / k }')"
done
