#!/bin/sh
# agent-bpftrace-usdt.sh - bpftrace 0.17 on a USDT probe guarded by a
# semaphore (<sys/sdt.h> with _SDT_HAS_SEMAPHORES, an is-enabled check),
# unprivileged (uid 65534) under bpftime-run and as root on the kernel, in
# this test. bpftrace creates the uprobe with the semaphore's file offset in
# config[63:32] (ref_ctr_offset); the kernel, and the agent
# (hooks/attach.c), increment the 16-bit counter while the probe is
# attached and decrement it at detach.
#   a. every process that maps the target (no -p);
#   b. -p PID.
# Each checks: @c and @s exact (N rounds, arg0 = 0..N-1) and equal to the
# kernel's; @o counts tgt:odd, a probe (without is-enabled check) that even
# rounds branch over, landing on the byte after its 1-byte nop while it is
# attached (bpftime patches such a site with an int3, as the kernel does,
# not with a 5-byte jmp that would cover that byte); @f and @g count and sum
# tgt:safe, a probe in every round that nothing branches near: bpftime
# patches it with a jmp (hooks/site_check.c), which the target sees while
# attached ("safe site e9" after the rounds; the kernel's int3 shows as cc);
# the target saw the semaphore set in every round ("enabled N of
# N"; a probe whose semaphore stays 0 is never reached) and back to 0 after
# bpftrace exited.
# No sleep decides a result: the target starts its rounds once the test has
# seen bpftrace's BEGIN output (all probes attached) and the semaphore is
# set, fires tgt:done (bpftrace exits there) and then waits for the test's
# second marker and a zero semaphore (tests/e2e/agent_usdt_target.c).
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
SRC=${BPFTIME_SRCDIR:-..}
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v bpftrace >/dev/null 2>&1 || { echo "1..0 # SKIP no bpftrace"; exit 0; }
command -v setpriv >/dev/null 2>&1 || { echo "1..0 # SKIP no setpriv"; exit 0; }
[ -x "$B/bpftime-run" ] && [ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP bpftime-run or the agent not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-ausdt.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" || exit 1
# -O2, as real programs with USDT probes are built: the is-enabled check
# branches over the probe's nop.
cc -O2 -g -o "$T/tgt" "$SRC/tests/e2e/agent_usdt_target.c" 2>"$T/cc.err" || {
	echo "1..0 # SKIP cannot build the USDT target (sys/sdt.h from systemtap-sdt-dev?)"; exit 0; }
chmod -R a+rX "$T"
chmod 1777 "$T"
N=2000

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

# run.sh T TAG MODE N: MODE "all" or "pid".
cat >"$T/run.sh" <<'EOS'
T=$1 tag=$2 mode=$3 N=$4
rm -f "$T/go.$tag" "$T/done.$tag"
"$T/tgt" $N "$T/go.$tag" "$T/done.$tag" >"$T/$tag.tgt" 2>&1 &
tp=$!
if [ "$mode" = pid ]; then set -- -p $tp; else set --; fi
bpftrace "$@" -e "BEGIN { printf(\"attached\\n\"); } usdt:$T/tgt:tgt:round { @c = count(); @s = sum(arg0); } usdt:$T/tgt:tgt:odd { @o = count(); } usdt:$T/tgt:tgt:safe { @f = count(); @g = sum(arg0); } usdt:$T/tgt:tgt:done { exit(); }" >"$T/$tag.out" 2>"$T/$tag.err" &
bp=$!
i=0
while ! grep -q '^attached' "$T/$tag.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 900 ] || ! kill -0 $bp 2>/dev/null; then
		echo "bpftrace did not attach" >>"$T/$tag.err"
		kill $bp $tp 2>/dev/null
		exit 1
	fi
	sleep 0.2
done
touch "$T/go.$tag"
wait $bp
brc=$?
touch "$T/done.$tag"
wait $tp
exit $brc
EOS

kern() { # MODE
	timeout 300 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec sh "$@"' sh "$T/run.sh" "$T" "kern-$1" "$1" $N
}
emu() { # MODE
	timeout 300 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-ausdt-$$ -- sh "$T/run.sh" "$T" "emu-$1" "$1" $N
}
maps() { grep '^@' "$1"; }
check() { # MODE DESCRIPTION
	mode=$1 what=$2
	kern "$mode"
	krc=$?
	emu "$mode"
	erc=$?
	if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then
		ok "$what: bpftrace runs to the end on both (kernel, bpftime)"
	else
		notok "$what: bpftrace runs to the end on both (kernel $krc, bpftime $erc)"
		sed 's/^/# bpftime: /' "$T/emu-$mode.out" "$T/emu-$mode.err" "$T/emu-$mode.tgt" | head -30
		sed 's/^/# kernel: /' "$T/kern-$mode.out" "$T/kern-$mode.err" "$T/kern-$mode.tgt" | head -10
	fi
	want=$(printf '@c: %d\n@f: %d\n@g: %d\n@o: %d\n@s: %d' $N $N $((N * (N - 1) / 2)) $((N / 2)) $((N * (N - 1) / 2)))
	if [ "$(maps "$T/emu-$mode.out" | sort)" = "$want" ]; then
		ok "$what: exact @c, @s, @o, @f and @g under bpftime"
	else
		notok "$what: exact @c, @s, @o, @f and @g under bpftime"
		sed 's/^/# bpftime: /' "$T/emu-$mode.out" "$T/emu-$mode.err" | head -30
	fi
	if [ "$(maps "$T/kern-$mode.out")" = "$(maps "$T/emu-$mode.out")" ]; then
		ok "$what: the same maps as the kernel's"
	else
		notok "$what: the same maps as the kernel's"
		sed 's/^/# kernel: /' "$T/kern-$mode.out" | head -20
	fi
	# The nop of tgt:safe is the first byte of safe_probe() at -O2 ("safe site 90"
	# before the rounds); another compiler may put something else first.
	sites=$(grep '^safe site' "$T/emu-$mode.tgt" | tr '\n' ' ')
	case $sites in
	"safe site 90 safe site e9 ") ok "$what: bpftime patched tgt:safe with a jmp" ;;
	"safe site 90 "*) notok "$what: bpftime patched tgt:safe with a jmp ($sites)" ;;
	*) ok "$what: bpftime patched tgt:safe with a jmp # SKIP the target does not start safe_probe() with the nop ($sites)" ;;
	esac
	for side in emu kern; do
		if grep -qx "enabled $N of $N" "$T/$side-$mode.tgt"; then
			ok "$what: $side: the semaphore was set in every round"
		else
			notok "$what: $side: the semaphore was set in every round"
			sed "s/^/# $side: /" "$T/$side-$mode.tgt"
		fi
		if grep -qx "semaphore after detach 0" "$T/$side-$mode.tgt"; then
			ok "$what: $side: the semaphore is 0 again after detach"
		else
			notok "$what: $side: the semaphore is 0 again after detach"
			sed "s/^/# $side: /" "$T/$side-$mode.tgt"
		fi
	done
}

check all "usdt:tgt:tgt:round with a semaphore, every process"
check pid "usdt:tgt:tgt:round with a semaphore, -p PID"
echo "1..$n"
[ $fails -eq 0 ]
