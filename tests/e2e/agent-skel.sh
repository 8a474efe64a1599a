#!/bin/sh
# agent-skel.sh - a libbpf 1.1 skeleton of ours (tests/e2e/agent_skel.c and
# agent_skel.bpf.c): a uprobe and a uretprobe attached by function name that
# write ring buffer records, a syscall tracepoint, globals in .rodata/.data/
# .bss, 8 threads. Run unprivileged under bpftime-run (the programs run in
# the loader's own threads through the agent) and as root on the kernel: the
# counters, record counts and sums must be identical and exact (no record
# lost).
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
SKEL=$B/tests/e2e/agent_skel
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$SKEL" ] || { echo "1..0 # SKIP $SKEL not built"; exit 0; }
head -c 2 "$SKEL" | grep -q '#!' && exec "$SKEL"
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-askel.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$SKEL" "$T/skel" || exit 1
chmod -R a+rX "$T"
ARGS="2000 8 3"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

timeout 120 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh "$T/skel" $ARGS >"$T/kern" 2>&1
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-askel-$$ -- "$T/skel" $ARGS >"$T/emu" 2>&1
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "the skeleton runs on both (kernel, bpftime)"; else notok "the skeleton runs on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "counters, ring buffer record counts and sums are identical to the kernel's"
else
	notok "counters, ring buffer record counts and sums are identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
if grep -qx "entries=16000 returns=16000 getpids=24" "$T/emu" && grep -qx "records: entry=16000 return=16000" "$T/emu"; then
	ok "exact counts: 8 threads x 2000 calls, every ring buffer record delivered"
else
	notok "exact counts: 8 threads x 2000 calls, every ring buffer record delivered"
	sed 's/^/# /' "$T/emu"
fi
echo "1..$n"
[ $fails -eq 0 ]
