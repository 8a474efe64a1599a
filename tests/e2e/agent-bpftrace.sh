#!/bin/sh
# agent-bpftrace.sh - bpftrace 0.17 tracing a real program through the
# in-process agent, unprivileged (uid 65534) under bpftime-run, each output
# compared with the same script run by root on the kernel, in this test:
#   - uprobe count (exact), printf of an integer and a string argument,
#     uretprobe hist(retval); probes on functions shorter than a jmp;
#   - syscall tracepoints: sys_enter_openat filtered on the file name (the
#     context's filename pointer read with str()), raw_syscalls:sys_enter
#     filtered on args->id;
#   - BEGIN { printf; exit() }, a uprobe that exits bpftrace, BEGIN/END with
#     interval;
#   - 8 threads under a uprobe: the exact count;
#   - attach to a running server, detach, attach again.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0
# (automake's tap-driver.sh reports exit 77 as an ERROR).
set -u
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v bpftrace >/dev/null || { echo "1..0 # SKIP no bpftrace"; exit 0; }
command -v setpriv >/dev/null || { echo "1..0 # SKIP no setpriv"; exit 0; }
B=${BPFTIME_BUILDDIR:-.}
SRC=${BPFTIME_SRCDIR:-..}
[ -x "$B/bpftime-run" ] && [ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP bpftime-run or the agent not built"; exit 0; }

T=$(mktemp -d /tmp/bpftime-agent.XXXXXX) || exit 1
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
# Everything uid 65534 runs must be readable by it: copy it out of the build tree.
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" || exit 1
cc -O0 -fno-omit-frame-pointer -pthread -o "$T/tgt" "$SRC/tests/e2e/agent_target.c" || {
	echo "1..0 # SKIP cannot build the target"; exit 0; }
chmod -R a+rX "$T"
RUN=$T/bin/bpftime-run
TGT=$T/tgt
S=e2e-agent-$$
TO=120

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
# bpftrace prints this under bpftime (prlimit64 is refused in the user namespace); the
# kernel run as root does not. A served target's own "serving" line may land
# before or after bpftrace's first lines, on either side: not what is compared.
norm() { grep -v -e "couldn't set RLIMIT_MEMLOCK" -e '^serving$' "$1"; }
cmp_out() { # DESCRIPTION: compare $T/emu with $T/kern
	norm "$T/emu" >"$T/emu.n"
	norm "$T/kern" >"$T/kern.n"
	if cmp -s "$T/emu.n" "$T/kern.n"; then
		ok "$1"
	else
		notok "$1"
		diff "$T/kern.n" "$T/emu.n" | sed 's/^/# /' | head -40
	fi
}
has() { # DESCRIPTION LINE: $T/emu has LINE exactly
	if grep -qxF -- "$2" "$T/emu"; then ok "$1"; else notok "$1"; sed 's/^/# /' "$T/emu" | head -20; fi
}
# The kernel side needs tracefs (bpftrace reads uprobe_events at detach); mount it privately.
kern() { timeout $TO unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh bpftrace "$@" >"$T/kern" 2>&1; }
emu() { timeout $TO setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "$S" -- bpftrace "$@" >"$T/emu" 2>&1; }
both() { kern "$@"; emu "$@"; }

# a. uprobe count: exact.
both -e "uprobe:$TGT:bt_target { @c = count(); }" -c "$TGT 5 0 0"
cmp_out "uprobe count matches the kernel"
has "uprobe fired exactly 5 times" "@c: 5"

# c. printf of arguments (perf buffer) and uretprobe hist(retval).
both -e "uprobe:$TGT:bt_target { printf(\"arg %d\\n\", arg0); } uprobe:$TGT:bt_greet { printf(\"hello %s\\n\", str(arg0)); } uretprobe:$TGT:bt_target { @h = hist(retval); }" -c "$TGT 7 0 0"
cmp_out "printf of integer and string arguments and uretprobe hist(retval) match the kernel"
has "string argument read from the process" "hello bpftime"

# c. Functions shorter than a jmp (3 and 4 bytes, back to back): int3 sites, exact
# counts and return values.
both -e "uprobe:$TGT:bt_tiny { @t = count(); } uprobe:$TGT:bt_tiny2 { @u = count(); @a = sum(arg0); } uretprobe:$TGT:bt_tiny { @z = sum(retval); } uretprobe:$TGT:bt_tiny2 { @r = sum(retval); }" -c "$TGT 5 0 0"
cmp_out "uprobes and uretprobes on 3- and 4-byte functions match the kernel"
has "4-byte function: 5 returns, sum of retval 15" "@r: 15"

# d. syscall tracepoints.
both -e "tracepoint:syscalls:sys_enter_openat /pid == cpid && str(args->filename) == \"/etc/hostname\"/ { @o = count(); }" -c "$TGT 0 3 0"
cmp_out "tracepoint:syscalls:sys_enter_openat count matches the kernel"
has "openat of /etc/hostname counted 3 times" "@o: 3"
both -e "tracepoint:raw_syscalls:sys_enter /pid == cpid && args->id == 39/ { @g = count(); } tracepoint:syscalls:sys_exit_getpid /pid == cpid/ { @r = count(); @ok = sum(args->ret == cpid); }" -c "$TGT 0 0 4"
cmp_out "raw_syscalls:sys_enter and sys_exit_getpid counts match the kernel"
has "raw_syscalls:sys_enter saw 4 getpid" "@g: 4"

# b. BEGIN (a uprobe on bpftrace's own BEGIN_trigger, or a test run) and exit() from a uprobe.
both -e 'BEGIN { printf("hello\n"); exit(); }'
cmp_out "BEGIN printf and exit() match the kernel"
# The target keeps serving (bpftrace stops it at exit), so the exit() action
# never races with the child's own exit.
both -e "BEGIN { printf(\"start\\n\"); } uprobe:$TGT:bt_target /arg0 == 2/ { printf(\"two\\n\"); exit(); } END { printf(\"end\\n\"); }" -c "$TGT 0 0 0 1 $T/never"
cmp_out "BEGIN, a uprobe calling exit(), and END match the kernel"

# b. BEGIN, END and interval (a cpu-clock sampling event the tool's own agent runs on a timer).
both -e 'BEGIN { printf("begin\n"); } interval:ms:50 { @i++; printf("tick %d\n", @i); if (@i == 3) { exit(); } } END { printf("end %d\n", @i); clear(@i); }'
cmp_out "BEGIN, interval:ms:50 three times, exit() and END match the kernel"

# f. 8 threads: exact count.
both -e "uprobe:$TGT:bt_target { @c = count(); } uretprobe:$TGT:bt_target { @r = count(); }" -c "$TGT 5000 0 0 8"
cmp_out "8 threads x 5000 calls: uprobe and uretprobe counts match the kernel"
has "8 threads x 5000 calls counted exactly" "@c: 40000"

# f. A running server: attach, detach, attach again (the server is under bpftime-run on
# our side, started natively for the kernel). bpftrace exits from the probe.
srv_run() { # WRAPPER...: start the server, wait for it to serve
	rm -f "$T/stop" "$T/srv.out"
	"$@" "$TGT" 0 0 0 1 "$T/stop" >"$T/srv.out" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 600); do grep -q serving "$T/srv.out" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
srv_stop() { touch "$T/stop"; chmod a+r "$T/stop"; wait "$SERVER_PID"; SERVER_PID=; }
prog="uprobe:$TGT:bt_target { @n++; if (@n == 3) { printf(\"three\\n\"); exit(); } } END { clear(@n); }"
srv_run env
kern -e "$prog"; cp "$T/kern" "$T/kern1"; kern -e "$prog"; cat "$T/kern1" "$T/kern" >"$T/kern2"
srv_stop
chmod a+rwx "$T"
if srv_run timeout $TO setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "$S" --; then
	emu -e "$prog"; cp "$T/emu" "$T/emu1"; emu -e "$prog"; cat "$T/emu1" "$T/emu" >"$T/emu2"
	srv_stop
	mv "$T/emu2" "$T/emu"; mv "$T/kern2" "$T/kern"
	cmp_out "attach to a running server, detach, attach again: same output as the kernel"
	has "the second attachment fired" "three"
else
	srv_stop
	notok "the server started under bpftime-run"
fi
echo "1..$n"
[ $fails -eq 0 ]
