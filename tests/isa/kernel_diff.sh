#!/bin/sh
# kernel_diff.sh - the benchmark programs (C compiled with clang -target bpf,
# bench/*.bpf.c) run once in bpftime's interpreter and once in the kernel
# (BPF_PROG_TEST_RUN), and must return the same r0 (low 32 bits, which is
# what the kernel reports). Needs root for the kernel side; skips
# otherwise and under BPFTIME_UNIT_ONLY=1 (a TAP skip plan and exit 0:
# tap-driver.sh reports exit 77 as an ERROR).
set -u
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then
	echo "1..0 # SKIP BPFTIME_UNIT_ONLY=1"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for BPF_PROG_TEST_RUN"
	exit 0
fi
B=${BPFTIME_BUILDDIR:-.}
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
n=0
fails=0
# Only the compute programs of bench_isa (other bench objects, e.g. the maps
# benchmark's, are not self-contained); make check exports their list.
set --
for o in ${BENCH_ISA_OBJS:-$(cd "$B" && ls bench/*.bpf.o)}; do set -- "$@" "$B/$o"; done
objs=$#
"$B/bench/bench_isa" -R -n 1 -r 1 "$@" > "$out" 2>&1
rc=$?
while read -r name insns interp kernel ratio verdict r0; do
	# Result rows only: the second column is the instruction count.
	case "$insns" in "" | *[!0-9]*) continue ;; esac
	n=$((n + 1))
	if [ "$verdict" = same ] && [ "$kernel" != - ] && [ "$interp" != - ]; then
		echo "ok $n - $name: interpreter and kernel agree on r0 $r0"
	else
		fails=$((fails + 1))
		echo "not ok $n - $name: $interp $kernel $verdict $r0"
	fi
done < "$out"
if [ $rc -ne 0 ] || [ $n -lt 1 ] || [ $n -ne "$objs" ]; then
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - bench_isa exit $rc, $((n - 1)) rows for $objs objects: $(tail -n 5 "$out" | tr '\n' ' ')"
fi
echo "1..$n"
[ $fails -eq 0 ]
