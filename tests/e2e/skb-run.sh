#!/bin/sh
# skb-run.sh - BPF_PROG_TEST_RUN on socket-buffer programs through raw bpf()
# calls (tests/e2e/skb_raw.c): the same binary runs as root against the
# kernel and as uid 65534 under bpftime-run, and every line it prints (one
# per case: errno, retval, sizes, data_out and ctx_out bytes, load results)
# must be the same.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
RAW=$B/tests/e2e/skb_raw
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$RAW" ] || { echo "1..0 # SKIP $RAW not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-skbraw.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
cp "$RAW" "$T/raw.bin" && RAW=$T/raw.bin

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --session "e2e-skbraw-$$" -- "$RAW" >"$T/emu" 2>"$T/emu.err"
erc=$?
"$RAW" >"$T/kern" 2>&1
krc=$?
if [ $erc -eq 0 ]; then ok "the workload ran under bpftime-run"; else notok "the workload under bpftime-run (exit $erc)"; sed 's/^/# /' "$T/emu.err"; fi
if [ $krc -eq 0 ]; then ok "the workload ran against the kernel"; else notok "the workload against the kernel (exit $krc)"; fi
c=$(wc -l <"$T/kern")
if [ "$c" -ge 100 ]; then ok "the kernel side printed $c cases"; else notok "the kernel side printed $c cases (want >= 100)"; fi
# Case by case, so a difference names its case.
while IFS= read -r line; do
	name=${line%%:*}
	emu=$(awk -v n="$name:" 'index($0, n) == 1 { print; exit }' "$T/emu")
	if [ "$emu" = "$line" ]; then
		ok "$name"
	else
		notok "$name"
		echo "#   kernel:  $line" | cut -c1-400
		echo "#   bpftime: $emu" | cut -c1-400
	fi
done <"$T/kern"
echo "1..$n"
[ $fails -eq 0 ]
