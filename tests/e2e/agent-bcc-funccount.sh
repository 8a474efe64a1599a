#!/bin/sh
# agent-bcc-funccount.sh - bcc 0.26's funccount-bpfcc counting uprobe hits,
# unprivileged (uid 65534) under bpftime-run and as root on the kernel, in
# this test. funccount attaches one program per matched function (each
# counts into its slot of an ARRAY with atomic_increment) and reads the
# array when it gets SIGINT.
#   a. a wildcard, tgt:fc_probe_* (3 functions; fc_other must not match),
#      every process: exact counts N, 2N, 3N, the same as the kernel's;
#   b. -p PID on one function while a second copy of the target makes the
#      same calls: only the first one's calls count (the pid filter in the
#      perf event and funccount's own tgid check in the program).
# No sleep decides a result: the target waits for a marker the test creates
# once funccount says "Tracing", and for its own probed bytes to change
# (tests/e2e/agent_fc_target.c); funccount prints when it gets SIGINT after
# the targets have exited.
# bcc compiles against /lib/modules/$(uname -r)/build: skipped without it
# (scripts/setup.sh installs linux-headers-amd64 and links it).
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
SRC=${BPFTIME_SRCDIR:-..}
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v funccount-bpfcc >/dev/null 2>&1 || { echo "1..0 # SKIP funccount-bpfcc (bpfcc-tools) is not installed"; exit 0; }
[ -e "/lib/modules/$(uname -r)/build/include" ] || { echo "1..0 # SKIP no kernel headers at /lib/modules/$(uname -r)/build"; exit 0; }
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-afc.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" || exit 1
cc -O0 -fno-omit-frame-pointer -o "$T/tgt" "$SRC/tests/e2e/agent_fc_target.c" || { echo "1..0 # SKIP cannot build the target"; exit 0; }
chmod -R a+rX "$T"
chmod 1777 "$T"
N=1000

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

# run.sh T TAG MODE: MODE "wild" or "pid". Targets first (they wait for
# $T/go.TAG), then funccount; once it prints "Tracing", the marker; once the
# targets are done, SIGINT. A background job of a non-interactive shell starts
# with SIGINT ignored, which Python keeps: env --default-signal restores it.
cat >"$T/run.sh" <<'EOS'
T=$1 tag=$2 mode=$3 N=$4
rm -f "$T/go.$tag"
if [ "$mode" = wild ]; then
	"$T/tgt" $N "$T/go.$tag" abc >"$T/$tag.tgt" 2>&1 &
	t1=$!
	t2=
	set -- "$T/tgt:fc_probe_*"
else
	"$T/tgt" $N "$T/go.$tag" a >"$T/$tag.tgt" 2>&1 &
	t1=$!
	# Not traced, so its bytes never change: it waits for the marker only.
	"$T/tgt" $N "$T/go.$tag" >"$T/$tag.tgt2" 2>&1 &
	t2=$!
	set -- -p $t1 "$T/tgt:fc_probe_a"
fi
PYTHONUNBUFFERED=1 env --default-signal=INT funccount-bpfcc "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
fp=$!
i=0
while ! grep -q '^Tracing' "$T/$tag.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 900 ] || ! kill -0 $fp 2>/dev/null; then
		echo "funccount did not start" >>"$T/$tag.err"
		kill $fp $t1 $t2 2>/dev/null
		exit 1
	fi
	sleep 0.2
done
touch "$T/go.$tag"
wait $t1
[ -n "$t2" ] && wait $t2
kill -INT $fp
i=0
while kill -0 $fp 2>/dev/null; do i=$((i + 1)); [ $i -gt 300 ] && { kill $fp; break; }; sleep 0.1; done
wait $fp
EOS

kern() { # MODE
	timeout 300 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; mount -t debugfs nodev /sys/kernel/debug 2>/dev/null; exec sh "$@"' sh "$T/run.sh" "$T" "kern-$1" "$1" $N
}
emu() { # MODE
	timeout 300 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-afc-$$ -- sh "$T/run.sh" "$T" "emu-$1" "$1" $N
}
# The FUNC/COUNT table, sorted by name.
table() { awk 'f && NF == 2 { print $1, $2 } /^FUNC/ { f = 1 }' "$1" | sort; }
check() { # MODE WANT DESCRIPTION
	mode=$1 want=$2 what=$3
	kern "$mode"
	krc=$?
	emu "$mode"
	erc=$?
	if [ $krc -eq 0 ] && [ $erc -eq 0 ] && grep -q '^Detaching' "$T/emu-$mode.out" && grep -q '^Detaching' "$T/kern-$mode.out"; then
		ok "$what: funccount runs to the end on both (kernel, bpftime)"
	else
		notok "$what: funccount runs to the end on both (kernel $krc, bpftime $erc)"
		sed 's/^/# bpftime: /' "$T/emu-$mode.out" "$T/emu-$mode.err" | head -30
		sed 's/^/# kernel: /' "$T/kern-$mode.out" "$T/kern-$mode.err" | head -10
	fi
	if [ "$(table "$T/emu-$mode.out")" = "$want" ]; then
		ok "$what: exact counts under bpftime"
	else
		notok "$what: exact counts under bpftime"
		sed 's/^/# bpftime: /' "$T/emu-$mode.out" "$T/emu-$mode.err" | head -30
	fi
	if [ "$(table "$T/kern-$mode.out")" = "$(table "$T/emu-$mode.out")" ] &&
	   [ "$(grep '^Tracing' "$T/kern-$mode.out")" = "$(grep '^Tracing' "$T/emu-$mode.out")" ]; then
		ok "$what: the same output as the kernel's"
	else
		notok "$what: the same output as the kernel's"
		sed 's/^/# kernel: /' "$T/kern-$mode.out" | head -20
	fi
	sum=$(awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) s += 7 * i + 18; print s }')
	good=1
	for f in "$T/emu-$mode.tgt" "$T/kern-$mode.tgt" $( [ "$mode" = pid ] && echo "$T/emu-$mode.tgt2" "$T/kern-$mode.tgt2"); do
		[ "$(tail -n 1 "$f" 2>/dev/null)" = "$sum" ] || good=0
	done
	if [ $good = 1 ]; then ok "$what: the traced programs ran correctly"; else notok "$what: the traced programs ran correctly"; fi
}

check wild "$(printf 'fc_probe_a %d\nfc_probe_b %d\nfc_probe_c %d\n' $N $((2 * N)) $((3 * N)))" "wildcard tgt:fc_probe_*"
check pid "fc_probe_a $N" "-p PID with a second process making the same calls"
echo "1..$n"
[ $fails -eq 0 ]
