#!/bin/sh
# demo-bpftool.sh - bpftool loading, running and inspecting an eBPF program
# as an unprivileged user, with no capability and no kernel eBPF: every
# bpf() call bpftool makes is answered by bpftime-run.
#
# Runs scripts/setup.sh first when ./build is missing. As root it drops to uid
# 65534 (nobody) with setpriv; as any other user it runs as that user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BPFTIME_BUILDDIR:-$top/build}
# One command on a fresh machine: set up and build first when needed.
if [ -z "${BPFTIME_BUILDDIR:-}" ] && [ ! -x "$B/bpftime-run" ] && ! command -v bpftime-run >/dev/null; then
	"$top/scripts/setup.sh" >&2 || exit 1
fi
RUN=$B/bpftime-run
OBJ=$B/tests/e2e/sup_demo.bpf.o
[ -x "$RUN" ] || { echo "demo: $RUN not found; run scripts/setup.sh first" >&2; exit 1; }
[ -f "$OBJ" ] || make -C "$B" tests/e2e/sup_demo.bpf.o >/dev/null
command -v bpftool >/dev/null || { echo "demo: bpftool is not installed (apt-get install bpftool)" >&2; exit 1; }

T=$(mktemp -d /tmp/bpftime-demo.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
# The unprivileged user must be able to run bpftime-run wherever the build tree lives.
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
# The agent beside it answers /proc/self/fdinfo for bpftool (memlock, pins).
if [ -f "$B/.libs/libbpftime-agent.so" ]; then
	mkdir -p "$T/.libs" && cp "$B/.libs/libbpftime-agent.so" "$T/.libs/" && chmod -R a+rX "$T/.libs"
fi
cp "$OBJ" "$T/prog.o"
head -c 64 /dev/zero >"$T/packet"
mkdir "$T/out"
chmod 644 "$T/prog.o" "$T/packet"
chmod 777 "$T/out"

cat >"$T/demo.sh" <<'DEMO'
T=$1
say() { printf '\n$ %s\n' "$*"; }
say "id; cat /proc/self/uid_map   # uid 0 in here is the unprivileged user outside"; id; cat /proc/self/uid_map
say "bpftool prog load prog.o /sys/fs/bpf/sup_demo"
bpftool prog load "$T/prog.o" /sys/fs/bpf/sup_demo && echo "(loaded and pinned)"
say "ls -l /sys/fs/bpf"; ls -l /sys/fs/bpf
say "bpftool prog show pinned /sys/fs/bpf/sup_demo"
bpftool prog show pinned /sys/fs/bpf/sup_demo
say "bpftool prog run pinned /sys/fs/bpf/sup_demo data_in packet data_out out/packet repeat 1000"
bpftool prog run pinned /sys/fs/bpf/sup_demo data_in "$T/packet" data_out "$T/out/packet" repeat 1000
say "bpftool prog dump xlated pinned /sys/fs/bpf/sup_demo"
bpftool prog dump xlated pinned /sys/fs/bpf/sup_demo
say "bpftool btf show"; bpftool btf show
say "bpftool map create /sys/fs/bpf/counts type hash key 4 value 8 entries 16 name counts"
if bpftool map create /sys/fs/bpf/counts type hash key 4 value 8 entries 16 name counts; then
	say "bpftool map update pinned /sys/fs/bpf/counts key 1 0 0 0 value 42 0 0 0 0 0 0 0"
	bpftool map update pinned /sys/fs/bpf/counts key 1 0 0 0 value 42 0 0 0 0 0 0 0
	say "bpftool map lookup pinned /sys/fs/bpf/counts key 1 0 0 0"; bpftool map lookup pinned /sys/fs/bpf/counts key 1 0 0 0
	say "bpftool map dump pinned /sys/fs/bpf/counts"; bpftool map dump pinned /sys/fs/bpf/counts
	say "bpftool map show"; bpftool map show
fi
DEMO

echo "# bpftool under bpftime-run, unprivileged (the kernel would answer EPERM to this user)"
if [ "$(id -u)" = 0 ]; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --session "demo-$$" -- sh "$T/demo.sh" "$T"
else
	"$RUN" --session "demo-$$" -- sh "$T/demo.sh" "$T"
fi
