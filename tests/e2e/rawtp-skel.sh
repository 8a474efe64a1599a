#!/bin/sh
# rawtp-skel.sh - raw tracepoints: a libbpf 1.1 skeleton of ours
# (tests/e2e/rawtp_skel.c, rawtp_skel.bpf.c) with SEC("raw_tp/sys_enter") and
# SEC("raw_tp/sys_exit") programs reading the syscall's pt_regs through
# args[0] (BPF_CORE_READ, bpf_probe_read_kernel), plus a link opened by hand
# with a BPF cookie. Run unprivileged (uid 65534) under bpftime-run and as
# root on the kernel: getpid and write counts, argument and return value
# sums, in the loader and in an exec'd target, the link info, LINK_GET_NEXT_ID,
# LINK_DETACH's answer and detach on the last close must be identical.
# bpftrace 0.17 has no rawtracepoint: probe ("Invalid probe type"), so there
# is no bpftrace comparison.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
SKEL=$B/tests/e2e/rawtp_skel
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
command -v setpriv >/dev/null || { echo "1..0 # SKIP no setpriv"; exit 0; }
[ -x "$SKEL" ] || { echo "1..0 # SKIP $SKEL not built"; exit 0; }
head -c 2 "$SKEL" | grep -q '#!' && exec "$SKEL"
[ -x "$B/bpftime-run" ] && [ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP bpftime-run or the agent not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-rawtp.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$SKEL" "$T/skel" || exit 1
chmod -R a+rX "$T"
ARGS="4 100 20"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
has() { # DESCRIPTION LINE: $T/emu has LINE exactly
	if grep -qxF -- "$2" "$T/emu"; then ok "$1"; else notok "$1"; sed 's/^/# /' "$T/emu" "$T/emu.err" | head -24; fi
}

timeout 120 "$T/skel" $ARGS >"$T/kern" 2>"$T/kern.err"
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-rawtp-$$ -- "$T/skel" $ARGS >"$T/emu" 2>"$T/emu.err"
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "the skeleton runs on both (kernel, bpftime)"; else notok "the skeleton runs on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "every counter, the link info and the errnos are identical to the kernel's"
else
	notok "every counter, the link info and the errnos are identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
	sed 's/^/# kernel stderr: /' "$T/kern.err"
	sed 's/^/# bpftime stderr: /' "$T/emu.err"
fi
# Exact values, whatever the kernel printed: 4 threads x 100 getpids, writes of 1..20 bytes.
has "sys_enter/sys_exit count every getpid of the loader" "attached: enter_getpid=400 exit_getpid=400 getpid_ret_sum_is_n_pids=1"
has "write: fd read from regs->di at entry and exit, length from regs->dx, return values" "attached: enter_write=80 len_sum=840 exit_write=80 ret_sum=840"
has "args[1] is orig_ax at entry and ax at exit" "attached: ctx/regs mismatches enter=0 exit=0"
has "the cookie given to RAW_TRACEPOINT_OPEN is bpf_get_attach_cookie()" "attached: cookie_hits=400 cookie_seen=0xc00c1e5eed"
has "the same in an exec'd target process" "target: enter_getpid=400 exit_getpid=400 getpid_ret_sum_is_n_pids=1"
has "OBJ_GET_INFO_BY_FD reports a raw_tracepoint link" "link info: err=0 type=1 tp_name=sys_enter tp_name_len=10 cookie=0xc00c1e5eed prog_id_matches=1"
has "LINK_GET_NEXT_ID lists the link" "LINK_GET_NEXT_ID lists it: 1"
has "closing the last fd detaches" "after the last close: counters unchanged=1"
echo "1..$n"
[ $fails -eq 0 ]
