#!/bin/sh
# skb_run_bench.sh - per-run cost of a socket-buffer program under
# BPF_PROG_TEST_RUN: the tc classifier of tests/e2e/skb_prog.bpf.c on a
# 64-byte IPv4/TCP frame, "bpftool prog run ... repeat N", on the kernel (as
# root, JIT) and under bpftime-run (uid 65534, interpreter in the
# supervisor's child). Prints the median of the reported average duration
# over RUNS runs for each side and their ratio. Not part of make check.
# Usage: bench/skb_run_bench.sh [BUILDDIR] (env REPEAT, RUNS)
set -eu
B=${1:-${BPFTIME_BUILDDIR:-.}}
REPEAT=${REPEAT:-100000}
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "needs root (kernel side, setpriv)"; exit 1; }
T=$(mktemp -d /tmp/bpftime-skbbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cp "$B/bpftime-run" "$B/tests/e2e/skb_prog.bpf.o" "$T/"
perl -e 'print pack("H*", "0000000000000200000000010800" . "4500003c123440004006" . "0000" . "0a0000010a000002" .
	"303900500000000100000000a002faf000000000" . "0102030405060708090a")' >"$T/frame"
chmod 644 "$T/frame" "$T/skb_prog.bpf.o"
cat >"$T/run.sh" <<'SCRIPT'
T=$1; REPEAT=$2; RUNS=$3
bpftool prog loadall "$T/skb_prog.bpf.o" /sys/fs/bpf/skbbench >/dev/null
i=0
while [ $i -lt "$RUNS" ]; do
	bpftool prog run pinned /sys/fs/bpf/skbbench/skb_tc data_in "$T/frame" repeat "$REPEAT" |
		sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
	i=$((i + 1))
done
SCRIPT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
k=$(unshare -m sh -c 'mount -t bpf bpf /sys/fs/bpf && sh "$1/run.sh" "$1" "$2" "$3"' sh "$T" "$REPEAT" "$RUNS" | median)
e=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bpftime-run" --session "skbbench-$$" -- \
	sh "$T/run.sh" "$T" "$REPEAT" "$RUNS" 2>/dev/null | median)
echo "skb_tc test run, $REPEAT repeats, median of $RUNS: kernel ${k} ns/run, bpftime ${e} ns/run" \
	"(bpftime/kernel = $(awk -v a="$e" -v b="$k" 'BEGIN { printf "%.2f", b ? a / b : 0 }'))"
