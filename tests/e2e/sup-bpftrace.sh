#!/bin/sh
# sup-bpftrace.sh - bpftrace 0.17, unprivileged (uid 65534) under bpftime-run,
# against the same bpftrace run as root on the kernel in the same test:
#   - bpftrace --info: its feature probes (helpers found from PROG_LOAD's
#     errno and log text, map types, map batch, instruction limit from the
#     verifier log, kprobe_multi's EOPNOTSUPP, raw_tp_special) must see a
#     capable kernel;
#   - BEGIN/END probes, which bpftrace runs with PROG_TEST_RUN on raw
#     tracepoint programs and which print through a perf buffer (perf_event_open
#     of BPF_OUTPUT events, mmap, epoll, PERF_EVENT_ARRAY updates), and a map
#     printed at exit.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0:
# automake's tap-driver.sh counts that as a skip but reports exit 77 as an ERROR.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v bpftrace >/dev/null || { echo "1..0 # SKIP no bpftrace"; exit 0; }
T=$(mktemp -d /tmp/bpftime-bt.XXXXXX) || exit 1
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
trap 'rm -rf "$T"' EXIT
S=e2e-bpftrace-$$
user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
cmp_out() { # DESCRIPTION: compare $T/emu and $T/kern
	if cmp -s "$T/emu" "$T/kern"; then ok "$1"; else notok "$1"; diff "$T/kern" "$T/emu" | sed 's/^/# /'; fi
}

# DIVERGES: STACK_TRACE maps are not implemented by bpftime's maps module yet.
bpftrace --info 2>&1 | grep -v 'stack_trace:' >"$T/kern"
user "$RUN" -q --session "$S" -- bpftrace --info 2>&1 | grep -v 'stack_trace:' >"$T/emu"
cmp_out "bpftrace --info lists the kernel's features"
if grep -q 'probe_read_kernel: yes' "$T/emu" && grep -q 'Instruction limit: 1000000' "$T/emu"; then
	ok "helper probes and the instruction limit are detected"
else
	notok "helper probes and the instruction limit are detected"
fi

prog='BEGIN { @n = count(); printf("hi %d %s\n", 42, "there"); exit(); } END { printf("bye\n"); }'
timeout 60 bpftrace -e "$prog" >"$T/kern" 2>&1
krc=$?
timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "$S" -- bpftrace -e "$prog" >"$T/emu" 2>&1
erc=$?
if [ $erc -eq 0 ] && [ $krc -eq 0 ]; then ok "bpftrace exits 0 on both"; else notok "bpftrace exits 0 on both (bpftime $erc, kernel $krc)"; fi
cmp_out "BEGIN/END printf and the map printed at exit match the kernel"
if grep -q '^hi 42 there$' "$T/emu" && grep -q '^bye$' "$T/emu" && grep -q '^@n: 1$' "$T/emu"; then
	ok "output has the BEGIN line, the END line and @n: 1"
else
	notok "output has the BEGIN line, the END line and @n: 1"
	sed 's/^/# /' "$T/emu"
fi
# Tracepoints: the tracefs files bpftime-run serves (ids and formats of this kernel).
unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && bpftrace -l "tracepoint:syscalls:sys_enter_open*" && bpftrace -lv tracepoint:syscalls:sys_enter_openat' >"$T/kern" 2>&1
setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "$S" -- sh -c 'bpftrace -l "tracepoint:syscalls:sys_enter_open*" && bpftrace -lv tracepoint:syscalls:sys_enter_openat' >"$T/emu" 2>&1
cmp_out "bpftrace -l / -lv of syscall tracepoints match the kernel's tracefs"
# Attaching uprobes, uretprobes and tracepoints works (they fire once the agent runs in the target).
cat >"$T/tgt.c" <<'TGT'
__attribute__((noinline)) int target(int x) { __asm__ volatile(""); return x + 1; }
int main(void) { int s = 0; for (int i = 0; i < 5; i++) s += target(i); return s == 15 ? 0 : 1; }
TGT
if cc -O2 -o "$T/tgt" "$T/tgt.c" 2>/dev/null; then
	chmod 755 "$T" "$T/tgt"
	timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "$S" -- \
		bpftrace -e "uprobe:$T/tgt:target { @c = count(); } uretprobe:$T/tgt:target { @r = count(); } tracepoint:syscalls:sys_enter_getpid { @g = count(); }" \
		-c "$T/tgt" >"$T/emu" 2>&1
	erc=$?
	if [ $erc -eq 0 ] && grep -q '^Attaching 3 probes' "$T/emu"; then
		ok "bpftrace attaches a uprobe, a uretprobe and a tracepoint and runs the target"
	else
		notok "bpftrace attaches a uprobe, a uretprobe and a tracepoint (exit $erc)"
		sed 's/^/# /' "$T/emu"
	fi
fi
echo "1..$n"
[ $fails -eq 0 ]
