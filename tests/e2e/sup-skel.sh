#!/bin/sh
# sup-skel.sh - a libbpf 1.1 skeleton (tests/e2e/sup_skel.c: .rodata set
# before load and frozen, .data/.bss through the skeleton's mmap, a hash map
# with BTF, a ring buffer read through mmap and epoll, a program run with
# PROG_TEST_RUN, a tracepoint and a uprobe
# attached through perf events and BPF_LINK_CREATE) unprivileged under bpftime-run,
# and the same binary as root against the kernel: every check passes on
# both and the outputs are identical.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0:
# automake's tap-driver.sh counts that as a skip but reports exit 77 as an ERROR.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
SKEL=$B/tests/e2e/sup_skel
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$SKEL" ] || { echo "1..0 # SKIP $SKEL not built"; exit 0; }
command -v unshare >/dev/null || { echo "1..0 # SKIP no unshare"; exit 0; }
T=$(mktemp -d /tmp/bpftime-skel.XXXXXX) || exit 1
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
cp "$SKEL" "$T/skel.bin" && SKEL=$T/skel.bin
trap 'rm -rf "$T"' EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" -q --session "e2e-skel-$$" -- "$SKEL" >"$T/emu" 2>&1
erc=$?
# The kernel side needs tracefs for the tracepoint id (private mount: the host is left alone).
unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && exec "$1"' sh "$SKEL" >"$T/kern" 2>&1
krc=$?
if [ $erc -eq 0 ]; then ok "the skeleton's checks pass under bpftime-run"; else notok "the skeleton's checks under bpftime-run (exit $erc)"; sed 's/^/# /' "$T/emu"; fi
if [ $krc -eq 0 ]; then ok "the skeleton's checks pass against the kernel"; else notok "the skeleton's checks against the kernel (exit $krc)"; sed 's/^/# /' "$T/kern"; fi
if cmp -s "$T/emu" "$T/kern"; then ok "the outputs are identical"; else notok "the outputs are identical"; diff "$T/kern" "$T/emu" | sed 's/^/# /'; fi
c=$(grep -c '^ok' "$T/emu")
if [ "$c" -eq 12 ]; then ok "12 skeleton checks ran"; else notok "12 skeleton checks ran (got $c)"; fi
echo "1..$n"
[ $fails -eq 0 ]
