#!/bin/sh
# sup_bench.sh - the supervisor's costs, kernel and bpftime side by side in
# one run, medians of RUNS runs (noisy VM: 2 shared cores).
#   1. bpf(MAP_LOOKUP_ELEM) round trip: the kernel's syscall (as root) vs the
#      emulated call under bpftime-run (as uid 65534);
#   2. unrelated syscalls (write, epoll ping-pong, a non-perf ioctl) with and
#      without bpftime-run: they should cost the same (ratio ~1.0).
# Usage: bench/sup_bench.sh [BUILD_DIR]   (root; not part of make check)
set -eu
B=${1:-${BPFTIME_BUILDDIR:-$(dirname "$0")/../build}}
RUN=$B/bpftime-run
RUNS=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "sup_bench: run as root (the kernel side needs it)" >&2; exit 1; }
make -C "$B" bench/sup_rtt bench/sup_syscalls bench/sup_allowall >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$1" '{ print $c }'; }
user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

: >/tmp/sup_bench.k
: >/tmp/sup_bench.e
: >/tmp/sup_bench.sk
: >/tmp/sup_bench.se
: >/tmp/sup_bench.sa
for i in $(seq "$RUNS"); do
	"$B/bench/sup_rtt" >>/tmp/sup_bench.k
	user "$RUN" -q --session "bench-$$" -- "$B/bench/sup_rtt" >>/tmp/sup_bench.e
	"$B/bench/sup_syscalls" >>/tmp/sup_bench.sk
	user "$RUN" -q --session "bench-$$" -- "$B/bench/sup_syscalls" >>/tmp/sup_bench.se
	"$B/bench/sup_allowall" "$B/bench/sup_syscalls" >>/tmp/sup_bench.sa
done
k=$(col 1 </tmp/sup_bench.k | median)
e=$(col 1 </tmp/sup_bench.e | median)
echo "bpf(MAP_LOOKUP_ELEM) round trip, median of $RUNS runs x 20000 calls:"
echo "  kernel:   ${k} ns"
echo "  bpftime:  ${e} ns   (ratio bpftime/kernel: $(awk -v a="$e" -v b="$k" 'BEGIN { printf "%.1f", a / b }'))"
echo "unrelated syscalls (ns/op, median of $RUNS runs; 'allow-all' = a one-instruction seccomp filter, the floor any filter costs):"
for c in 1 2 3; do
	name=$(echo "write epoll-ping-pong ioctl(FIONREAD)" | col $c)
	n=$(col $c </tmp/sup_bench.sk | median)
	s=$(col $c </tmp/sup_bench.se | median)
	a=$(col $c </tmp/sup_bench.sa | median)
	echo "  $name: without ${n}  allow-all ${a}  under bpftime-run ${s}  (ratio to without $(awk -v a="$s" -v b="$n" 'BEGIN { printf "%.2f", a / b }'), to allow-all $(awk -v a="$s" -v b="$a" 'BEGIN { printf "%.2f", a / b }'))"
done
rm -f /tmp/sup_bench.k /tmp/sup_bench.e /tmp/sup_bench.sk /tmp/sup_bench.se /tmp/sup_bench.sa
