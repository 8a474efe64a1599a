#!/bin/sh
# ldabs_bench.sh - LD_ABS/LD_IND socket filter (bench/ldabs_bench.c) under
# PROG_TEST_RUN: kernel (root, JIT) vs bpftime-run (uid 65534, interpreter),
# median of RUNS runs of REPEAT repeats each, and the ratio. Not part of make check.
# Usage: bench/ldabs_bench.sh [BUILDDIR] (env REPEAT, RUNS)
set -eu
B=${1:-${BPFTIME_BUILDDIR:-build}}
REPEAT=${REPEAT:-100000}
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "needs root (kernel side, setpriv)"; exit 1; }
T=$(mktemp -d /tmp/bpftime-ldabs.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cp "$B/bpftime-run" "$B/bench/ldabs_bench" "$T/"
i=0
while [ $i -lt "$RUNS" ]; do
	"$T/ldabs_bench" "$REPEAT" >>"$T/kern"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bpftime-run" --session "ldabs-$$" -- \
		"$T/ldabs_bench" "$REPEAT" >>"$T/emu" 2>/dev/null
	i=$((i + 1))
done
med() { awk '{ print $2 }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
k=$(med "$T/kern")
e=$(med "$T/emu")
echo "ldabs socket filter (7 packet loads), $REPEAT repeats, median of $RUNS: kernel ${k} ns/run," \
	"bpftime ${e} ns/run (bpftime/kernel = $(awk -v a="$e" -v b="$k" 'BEGIN { printf "%.2f", b ? a / b : 0 }'))"
