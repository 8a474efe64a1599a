#!/bin/sh
# agent-vec.sh - xmm/ymm/zmm and opmask registers survive BPF programs that
# call helpers (map update, ring buffer output, probe_read_user_str,
# snprintf) on a uprobe and on a syscall tracepoint of the traced process
# (tests/e2e/agent_vec.c). Run as root on the kernel and unprivileged under
# bpftime-run, where the programs run inside the process through the agent
# and vector registers are saved lazily (hooks/xstate.c): the output must be
# identical, every round's registers intact, the helpers' results and the
# run count exact.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
VEC=$B/tests/e2e/agent_vec
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$VEC" ] || { echo "1..0 # SKIP $VEC not built"; exit 0; }
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-avec.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$VEC" "$T/vec" || exit 1
chmod -R a+rX "$T"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

timeout 120 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh "$T/vec" >"$T/kern" 2>"$T/kern.err"
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-avec-$$ -- "$T/vec" >"$T/emu" 2>"$T/emu.err"
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then
	ok "the program runs on both (kernel, bpftime)"
else
	notok "the program runs on both (kernel $krc, bpftime $erc)"
	sed 's/^/# kernel: /' "$T/kern.err"
	sed 's/^/# bpftime: /' "$T/emu.err"
fi
if grep -qx "probed call: regs ok 200/200" "$T/emu" && grep -qx "traced getpid: regs ok 200/200" "$T/emu"; then
	ok "vector registers intact across 200 probed calls and 200 traced syscalls"
else
	notok "vector registers intact across 200 probed calls and 200 traced syscalls"
	sed 's/^/# /' "$T/emu" "$T/emu.err"
fi
# ringbuf_output 0, probe_read_user_str strlen+1 = 30, snprintf "n=7 s=hello from the probed process" + NUL = 36, 400 runs.
if grep -qx "helper 1 returned 0" "$T/emu" && grep -qx "helper 2 returned 30" "$T/emu" &&
	grep -qx "helper 3 returned 36" "$T/emu" && grep -qx "runs 400" "$T/emu"; then
	ok "helpers ran with the expected results, 400 runs"
else
	notok "helpers ran with the expected results, 400 runs"
	sed 's/^/# /' "$T/emu"
fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "output identical to the kernel's"
else
	notok "output identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
echo "1..$n"
[ $fails -eq 0 ]
