#!/bin/sh
# sup-raw.sh - a static binary issuing raw bpf() calls, unprivileged under
# bpftime-run, and behaving like a hostile workload (bad pointers, attr
# rewritten mid-call, children killed mid-call). Its own checks must pass
# under bpftime-run and, identically, against the real kernel as root.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0:
# automake's tap-driver.sh counts that as a skip but reports exit 77 as an ERROR.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
RAW=$B/tests/e2e/sup_raw
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$RAW" ] || { echo "1..0 # SKIP $RAW not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-raw.XXXXXX) || exit 1
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
cp "$RAW" "$T/raw.bin" && RAW=$T/raw.bin
trap 'rm -rf "$T"' EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

if readelf -d "$RAW" 2>/dev/null | grep -q NEEDED; then
	notok "the workload is a static binary (libc6-dev's libc.a missing?)"
else
	ok "the workload is a static binary"
fi
if setpriv --reuid=65534 --regid=65534 --clear-groups "$RAW" --kernel-eperm >/dev/null; then
	ok "uid 65534 gets EPERM from the kernel's bpf() (so success below is bpftime's)"
else
	notok "uid 65534 gets EPERM from the kernel's bpf()"
fi
setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --session "e2e-raw-$$" -- "$RAW" >"$T/emu" 2>"$T/emu.err"
erc=$?
"$RAW" >"$T/kern" 2>&1
krc=$?
if [ $erc -eq 0 ]; then ok "all workload checks pass under bpftime-run"; else notok "workload checks under bpftime-run (exit $erc)"; sed 's/^/# /' "$T/emu" "$T/emu.err"; fi
if [ $krc -eq 0 ]; then ok "all workload checks pass against the kernel"; else notok "workload checks against the kernel (exit $krc)"; sed 's/^/# /' "$T/kern"; fi
if cmp -s "$T/emu" "$T/kern"; then ok "bpftime's answers equal the kernel's, check by check"; else notok "bpftime's answers equal the kernel's"; diff "$T/emu" "$T/kern" | sed 's/^/# /'; fi
c=$(grep -c '^ok' "$T/emu")
if [ "$c" -eq 11 ]; then ok "11 workload checks ran"; else notok "11 workload checks ran (got $c)"; fi
echo "1..$n"
[ $fails -eq 0 ]
