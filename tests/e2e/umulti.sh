#!/bin/sh
# umulti.sh - uprobe_multi links (LINK_CREATE with BPF_TRACE_UPROBE_MULTI,
# Linux 6.6; libbpf 1.1 cannot issue it, so tests/e2e/umulti.c makes raw
# bpf() calls). Run unprivileged (uid 65534) under bpftime-run and as root on
# the kernel: the errno of every bad attr, per-cookie hit counts of entry
# and return probes (and the return values), a pid-filtered link firing only
# in a forked child, the link info (path, count, flags, pid, offsets,
# cookies, ENOSPC/ENAMETOOLONG/EINVAL), LINK_DETACH's answer and detach on
# the last close must be identical.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
UM=$B/tests/e2e/umulti
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v setpriv >/dev/null || { echo "1..0 # SKIP no setpriv"; exit 0; }
[ -x "$UM" ] || { echo "1..0 # SKIP $UM not built"; exit 0; }
[ -x "$B/bpftime-run" ] && [ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP bpftime-run or the agent not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-umulti.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$UM" "$T/um" || exit 1
chmod -R a+rX "$T"

timeout 120 "$T/um" >"$T/kern" 2>&1
krc=$?
grep -qx "links: entry ok, return ok, pid ok" "$T/kern" || {
	echo "1..0 # SKIP this kernel has no uprobe_multi links ($(grep '^links' "$T/kern"))"; exit 0; }

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
has() { # DESCRIPTION LINE: $T/emu has LINE exactly
	if grep -qxF -- "$2" "$T/emu"; then ok "$1"; else notok "$1"; sed 's/^/# /' "$T/emu" | head -40; fi
}

timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-umulti-$$ -- "$T/um" >"$T/emu" 2>&1
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "the loader runs on both (kernel, bpftime)"; else notok "the loader runs on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "errnos, hit counts, link info and detach are identical to the kernel's"
else
	notok "errnos, hit counts, link info and detach are identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
# Exact values, whatever the kernel printed: um_f1 called 5 times here and twice in the
# child, um_f2 3 + 2 times here and 4 times in the child; um_f1 returns 2x + 1.
has "entry probes by cookie, return probe count and return values, pid filter" \
	"attached: cookie1=7 cookie2=9 cookie3=7 (ret sum 29) cookie4=4"
has "a bad attr gets the kernel's errno (cnt above 1<<20)" "cnt above 1<<20: E2BIG"
has "a directory is EBADF" "a directory: EBADF"
has "a thread id is not a process: ESRCH" "a thread id, not a process: ESRCH"
has "the pid link reports the live child's pid" \
	"info pid link, child alive: ok info_len=64 type=12 count=1 flags=0 pid=child path=$T/um path_size=$(( ${#T} + 4 )) cookies=4,0 offsets_f1_f2=0,0"
has "link info: offsets and cookies of both probes" \
	"info entry link: ok info_len=64 type=12 count=2 flags=0 pid=0 path=$T/um path_size=$(( ${#T} + 4 )) cookies=1,2 offsets_f1_f2=1,1"
has "closing the last fd detaches" "closed: cookie1=7 cookie2=9 cookie3=7 (ret sum 29) cookie4=4"
echo "1..$n"
[ $fails -eq 0 ]
