#!/bin/sh
# demo.sh - the README's demo: real eBPF tools, unprivileged, through bpftime.
#
# Part 1 (scripts/demo-bpftool.sh): bpftool loads, pins, runs, dumps and
# inspects a program and a map; every bpf() call is answered by bpftime-run.
#
# Part 2: bpftrace tracing a real program. bpftrace's bpf() and perf calls are
# answered by bpftime-run, and its uprobes run inside the traced program (the
# preloaded agent), with no capability, no kernel eBPF and no kernel uprobe.
#
#   1. a small server runs under bpftime-run, calling bt_target(i) every 5 ms;
#   2. bpftrace, under bpftime-run in the same session, attaches to it and
#      prints the first calls with their argument;
#   3. bpftrace runs a program of its own (-c) and counts its calls exactly.
#
# Runs scripts/setup.sh first when ./build is missing (fresh machine, as root),
# or uses an installed bpftime.
# As root it drops to uid 65534 (nobody) with setpriv; as any other user it
# runs as that user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BPFTIME_BUILDDIR:-$top/build}
# One command on a fresh machine: set up and build first when needed.
if [ -z "${BPFTIME_BUILDDIR:-}" ] && [ ! -x "$B/bpftime-run" ] && ! command -v bpftime-run >/dev/null; then
	"$top/scripts/setup.sh" >&2 || exit 1
fi
if [ -x "$B/bpftime-run" ] && [ -f "$B/.libs/libbpftime-agent.so" ]; then
	RUN_SRC=$B/bpftime-run
	AGENT_SRC=$B/.libs/libbpftime-agent.so
elif command -v bpftime-run >/dev/null; then
	RUN_SRC=$(command -v bpftime-run)
	AGENT_SRC=
else
	echo "demo: bpftime-run not found; run scripts/setup.sh first" >&2
	exit 1
fi
command -v bpftrace >/dev/null || { echo "demo: bpftrace is not installed (apt-get install bpftrace)" >&2; exit 1; }
command -v cc >/dev/null || { echo "demo: no C compiler (apt-get install gcc)" >&2; exit 1; }

if [ -x "$B/bpftime-run" ]; then
	printf '=== Part 1: bpftool, unprivileged ===\n'
	BPFTIME_BUILDDIR=$B "$top/scripts/demo-bpftool.sh"
else
	echo "demo: part 1 (bpftool) needs the build tree's test program; skipped with an installed bpftime" >&2
fi
printf '\n=== Part 2: bpftrace tracing a running program, unprivileged ===\n'

T=$(mktemp -d /tmp/bpftime-demo.XXXXXX)
SRV=
cleanup() {
	touch "$T/stop" 2>/dev/null || true
	[ -n "$SRV" ] && wait "$SRV" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
# A copy the unprivileged user can read (the build tree may be root's).
mkdir -p "$T/bin/.libs"
cp "$RUN_SRC" "$T/bin/bpftime-run"
[ -n "$AGENT_SRC" ] && cp "$AGENT_SRC" "$T/bin/.libs/"
cc -O0 -fno-omit-frame-pointer -pthread -o "$T/server" "$top/tests/e2e/agent_target.c"
chmod -R a+rX "$T"
chmod a+rwx "$T"
RUN=$T/bin/bpftime-run
S=demo-$$

as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	else
		"$@"
	fi
}
say() { printf '\n$ %s\n' "$*"; }

say "bpftime-run -- ./server &      # as $( [ "$(id -u)" = 0 ] && echo 'uid 65534 (nobody)' || id -un)"
as_user "$RUN" -q --session "$S" -- "$T/server" 0 0 0 1 "$T/stop" >"$T/server.out" 2>&1 &
SRV=$!
for _ in $(seq 1 300); do grep -q serving "$T/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$T/server.out"

# bpftrace's "couldn't set RLIMIT_MEMLOCK" line is filtered out: an unprivileged
# user may not raise that limit, and nothing in bpftime depends on it (README).
P1="uprobe:$T/server:bt_target { printf(\"bt_target(%d) in pid %d\\n\", arg0, pid); @n++; if (@n == 5) { exit(); } } END { clear(@n); }"
say "bpftrace -e 'uprobe:./server:bt_target { printf(\"bt_target(%d) in pid %d\\n\", arg0, pid); @n++; if (@n == 5) { exit(); } } END { clear(@n); }'"
as_user "$RUN" -q --session "$S" -- bpftrace -e "$P1" 2>&1 | grep -v "RLIMIT_MEMLOCK"

touch "$T/stop"
wait "$SRV" || true
SRV=

P2="uprobe:$T/server:bt_target { @calls = count(); } uretprobe:$T/server:bt_target { @ret = hist(retval); }"
say "bpftrace -e 'uprobe:./server:bt_target { @calls = count(); } uretprobe:./server:bt_target { @ret = hist(retval); }' -c './server 1000 0 0'"
as_user "$RUN" -q --session "$S" -- bpftrace -e "$P2" -c "$T/server 1000 0 0" 2>&1 | grep -v "RLIMIT_MEMLOCK"
