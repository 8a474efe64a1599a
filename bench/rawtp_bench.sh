#!/bin/sh
# rawtp_bench.sh - cost of a syscall with raw tracepoint programs attached
# (sys_enter: two programs, sys_exit: one; tests/e2e/rawtp_skel), on the
# kernel (root) and under bpftime-run (uid 65534), one thread making N
# getpid syscalls; prints the median of RUNS runs of each and the ratio.
# The programs read orig_ax/ax/di through args[0] (BPF_CORE_READ) and count
# with atomic adds; RAWTP_BENCH=1 drops the test's per-thread comm check.
# Not run by make check.   usage: bench/rawtp_bench.sh [N [RUNS]]   (from the build dir)
set -eu
N=${1:-200000}
RUNS=${2:-5}
B=${BPFTIME_BUILDDIR:-.}
[ "$(id -u)" = 0 ] || { echo "needs root (kernel side, setpriv)"; exit 1; }
T=$(mktemp -d /tmp/bpftime-rawtp-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/"; cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/"; cp "$B/tests/e2e/rawtp_skel" "$T/skel"
chmod -R a+rX "$T"
each() { sed -n 's/^bench: .* ns, \([0-9.]*\) ns each$/\1/p' "$1"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: >"$T/k"; : >"$T/e"
for i in $(seq "$RUNS"); do
	RAWTP_BENCH=1 "$T/skel" 1 "$N" 0 >/dev/null 2>"$T/err" && each "$T/err" >>"$T/k"
	RAWTP_BENCH=1 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q \
		--session rawtp-bench-$$ -- "$T/skel" 1 "$N" 0 >/dev/null 2>"$T/err" && each "$T/err" >>"$T/e"
done
k=$(median <"$T/k"); e=$(median <"$T/e")
echo "getpid with raw_tp sys_enter (2 programs) + sys_exit (1), median of $RUNS x $N:"
echo "  kernel   $k ns/syscall"
echo "  bpftime  $e ns/syscall"
awk -v k="$k" -v e="$e" 'BEGIN { printf "  bpftime/kernel = %.2f\n", e / k }'
