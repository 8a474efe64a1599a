#!/bin/sh
# agent-go.sh - a Go loader built on cilium/ebpf (Debian's
# golang-github-cilium-ebpf-dev): a static binary that makes its bpf() and
# perf_event_open() calls with raw syscalls, probes features its own way and
# reads its ring and perf buffers through epoll. It loads
# tests/e2e/go_loader.bpf.o, attaches a uprobe and a uretprobe to
# agent_target's bt_target and a program to syscalls:sys_enter_getpid, starts
# the target and reads records while it runs (tests/e2e/go_loader/main.go).
# Run as uid 65534 under bpftime-run and as root on the kernel: the map
# counts, record counts and sums must be identical and exact.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
S=${BPFTIME_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
OBJ=$B/tests/e2e/go_loader.bpf.o
GOPATH_DEB=/usr/share/gocode
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v go >/dev/null || { echo "1..0 # SKIP no Go toolchain (apt-get install golang-go)"; exit 0; }
[ -d "$GOPATH_DEB/src/github.com/cilium/ebpf" ] ||
	{ echo "1..0 # SKIP cilium/ebpf is not installed (apt-get install golang-github-cilium-ebpf-dev)"; exit 0; }
[ -f "$OBJ" ] || { echo "1..0 # SKIP $OBJ not built"; exit 0; }
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-ago.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$OBJ" "$T/prog.o" || exit 1

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

# Debian packages Go libraries as GOPATH sources; build offline, static (CGO off).
if GO111MODULE=off GOPATH=$GOPATH_DEB GOCACHE=$T/gocache GOFLAGS= CGO_ENABLED=0 \
	go build -o "$T/go_loader" "$S/tests/e2e/go_loader/main.go" >"$T/build.log" 2>&1; then
	ok "the Go loader builds against Debian's cilium/ebpf"
else
	notok "the Go loader builds against Debian's cilium/ebpf"
	sed 's/^/# /' "$T/build.log" | head -20
	echo "1..$n"
	exit 1
fi
cc -O0 -fno-omit-frame-pointer -pthread -o "$T/ago_target" "$S/tests/e2e/agent_target.c" || exit 1
rm -rf "$T/gocache"
chmod -R a+rX "$T"
CALLS=3000
GETPIDS=200
LOAD="$T/go_loader $T/prog.o $T/ago_target $CALLS $GETPIDS"

# cilium/ebpf 0.9 finds tracefs under debugfs only; mount it in a private namespace.
timeout 120 unshare -m sh -c 'mount -t debugfs nodev /sys/kernel/debug 2>/dev/null; exec "$@"' sh $LOAD >"$T/kern" 2>"$T/kern.err"
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" --session e2e-ago-$$ -- $LOAD >"$T/emu" 2>"$T/emu.err"
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then
	ok "the loader runs on both (kernel, bpftime)"
else
	notok "the loader runs on both (kernel $krc, bpftime $erc)"
	sed 's/^/# kernel: /' "$T/kern.err" | head -5
	sed 's/^/# bpftime: /' "$T/emu.err" | head -5
fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "map counts, ring buffer records and sums are identical to the kernel's"
else
	notok "map counts, ring buffer records and sums are identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
if grep -qx "map: entries=$CALLS returns=$CALLS keys=3" "$T/emu" &&
	grep -qx "ring: entries=$CALLS returns=$CALLS arg_sum=$((CALLS * (CALLS - 1) / 2)) ret_sum=$((CALLS * CALLS))" "$T/emu" &&
	grep -qx "program: name=go_entry type=Kprobe" "$T/emu"; then
	ok "exact counts: $CALLS entries and returns, every record delivered while the target ran"
else
	notok "exact counts: $CALLS entries and returns, every record delivered while the target ran"
	sed 's/^/# /' "$T/emu"
fi
if grep -qx "tracepoint: getpid=$GETPIDS perf_records=$GETPIDS lost=0 other_pids=0" "$T/emu"; then
	ok "syscall tracepoint: $GETPIDS getpid calls counted, each sent through the perf buffer with the target's pid"
else
	notok "syscall tracepoint: $GETPIDS getpid calls counted, each sent through the perf buffer with the target's pid"
	sed 's/^/# /' "$T/emu"
fi
# The loader itself is static: bpftime-run serves its calls and says that
# probes cannot fire inside it (they fire in the dynamically linked target).
if grep -q "go_loader' is statically linked" "$T/emu.err"; then
	ok "bpftime-run names the static loader and the limitation"
else
	notok "bpftime-run names the static loader and the limitation"
	sed 's/^/# /' "$T/emu.err" | head -5
fi
# What bpftime-run stands in for: the same user without it is refused by the kernel.
if timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups $LOAD >"$T/plain" 2>&1; then
	notok "without bpftime-run the kernel refuses the unprivileged loader"
else
	if grep -q "operation not permitted" "$T/plain"; then
		ok "without bpftime-run the kernel refuses the unprivileged loader"
	else
		notok "without bpftime-run the kernel refuses the unprivileged loader"
		sed 's/^/# /' "$T/plain" | head -5
	fi
fi
echo "1..$n"
[ $fails -eq 0 ]
