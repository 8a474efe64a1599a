#!/bin/sh
# ring_wake_bench.sh - wake-up latency of a ring consumer, kernel and bpftime
# side by side in one run: a uprobe program puts a timestamped record into a
# ring buffer or a perf buffer; the consumer sleeps in epoll_wait
# (ring_buffer__poll / perf_buffer__poll) or in poll() (bcc's way), or in a
# poll() whose set also holds a pipe (mixed: hooks/agent_poll_waker.c). Prints,
# per mode, the median over RUNS runs (default 3) of each run's median over N
# records (default 100), and the ratio bpftime/kernel.
# Usage: bench/ring_wake_bench.sh [BUILD_DIR]   (root; not part of make check)
set -eu
B=${1:-${BPFTIME_BUILDDIR:-$(dirname "$0")/../build}}
RUNS=${RUNS:-3}
N=${N:-100}
[ "$(id -u)" = 0 ] || { echo "ring_wake_bench: run as root (the kernel side needs it)" >&2; exit 1; }
make -C "$B" bench/ring_wake_bench bench/ring_wake.bpf.o >/dev/null
T=$(mktemp -d /tmp/bpftime-rwbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cp "$B/bench/ring_wake_bench" "$B/bench/ring_wake.bpf.o" "$T/"
user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for i in $(seq "$RUNS"); do
	for m in rb-epoll rb-poll rb-mixed pb-epoll pb-poll pb-mixed; do
		"$T/ring_wake_bench" "$T/ring_wake.bpf.o" $m "$N" >>"$T/k.$m" || echo "$m 0 0 0 0" >>"$T/k.$m"
		user "$B/bpftime-run" -q --session "rwbench-$$" -- "$T/ring_wake_bench" "$T/ring_wake.bpf.o" $m "$N" \
			>>"$T/e.$m" || echo "$m 0 0 0 0" >>"$T/e.$m"
	done
done
echo "ring wake-up latency, record produced -> consumer callback (ns; median of $RUNS runs x $N records),"
echo "and the consumer thread's CPU time per record (us; it waits ~3 ms for each: ~0 means it slept):"
printf '  %-9s %10s %10s %7s %12s %12s\n' mode kernel bpftime ratio cpu_kernel cpu_bpftime
for m in rb-epoll rb-poll rb-mixed pb-epoll pb-poll pb-mixed; do
	k=$(awk '{ print $2 }' "$T/k.$m" | median)
	e=$(awk '{ print $2 }' "$T/e.$m" | median)
	ck=$(awk '{ print $5 }' "$T/k.$m" | median)
	ce=$(awk '{ print $5 }' "$T/e.$m" | median)
	printf '  %-9s %10s %10s %7s %12s %12s\n' $m "$k" "$e" "$(awk -v a="$e" -v b="$k" 'BEGIN { printf "%.1f", b ? a / b : 0 }')" "$ck" "$ce"
done
