#!/bin/sh
# skb-bpftool.sh - bpftool prog run (BPF_PROG_TEST_RUN) on a tc classifier
# and a socket filter (tests/e2e/skb_prog.bpf.c), unprivileged (uid 65534)
# under bpftime-run, against the same commands run as root on the kernel in
# the same test: the return value, the data_out and ctx_out bytes and the
# map the programs count into must be identical for IPv4/TCP, IPv4/UDP,
# IPv4 with TTL 1, IPv6 and ARP frames, and a short frame must fail the same
# way. Only the duration is masked.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
OBJ=$B/tests/e2e/skb_prog.bpf.o
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
for c in bpftool setpriv unshare perl od; do
	command -v $c >/dev/null || { echo "1..0 # SKIP no $c"; exit 0; }
done
[ -f "$OBJ" ] || { echo "1..0 # SKIP $OBJ not built"; exit 0; }

T=$(mktemp -d /tmp/bpftime-skb.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
cp "$OBJ" "$T/prog.o"
bin() { perl -e 'print pack("H*", join("", @ARGV))' "$@"; }
ETH4=000000000000020000000001 # dst = the loopback's (zero) address, src 02:..:01
IP4=4500003c123440004006 # ..., TTL 64, TCP; checksum, addresses follow
bin $ETH4 0800 $IP4 0000 0a000001 0a000002 303900500000000100000000a002faf000000000 0102030405060708090a >"$T/v4tcp"
bin $ETH4 0800 4500002012344000 4011 0000 0a000001 0a000002 30390009000c0000 6869 >"$T/v4udp9"
bin $ETH4 0800 4500002012344000 0111 0000 0a000001 0a000002 30390035000c0000 6869 >"$T/v4ttl1"
bin ffffffffffff 020000000001 86dd 6000000000081140 00000000000000000000000000000001 00000000000000000000000000000002 303900350008ffff >"$T/v6"
bin 01005e000001 020000000001 0806 0001080006040001 020000000001 0a000001 000000000000 0a000002 >"$T/arp"
bin 0000000000000200 >"$T/short"
# ctx_in: mark 5, priority 3, cb[4] 7; the other bytes must be zero.
perl -e '$c = "\0" x 192; substr($c, 8, 4) = pack("V", 5); substr($c, 32, 4) = pack("V", 3);
	substr($c, 64, 4) = pack("V", 7); print $c' >"$T/ctx"
[ "$(wc -c <"$T/ctx")" = 192 ] || { echo "1..0 # SKIP ctx file is not 192 bytes"; exit 0; }
chmod 644 "$T/prog.o" "$T/ctx" "$T/v4tcp" "$T/v4udp9" "$T/v4ttl1" "$T/v6" "$T/arp" "$T/short"
mkdir "$T/out" && chmod 777 "$T/out"

cat >"$T/script.sh" <<'SCRIPT'
T=$1
O=$T/out/$2
exec 2>&1
echo "== load"; bpftool prog loadall "$T/prog.o" /sys/fs/bpf/skb pinmaps /sys/fs/bpf/skbmaps && echo loaded
echo "== show"; bpftool prog show pinned /sys/fs/bpf/skb/skb_tc | head -1 | sed 's/^[0-9]*: //'
for f in v4tcp v4udp9 v4ttl1 v6 arp; do
	echo "== tc $f"
	bpftool prog run pinned /sys/fs/bpf/skb/skb_tc data_in "$T/$f" data_out "$O.tc.$f" ctx_in "$T/ctx" ctx_out "$O.tc.$f.ctx"
	od -An -tx1 -v "$O.tc.$f"; echo ctx; od -An -tx1 -v "$O.tc.$f.ctx"
	echo "== sock $f"
	bpftool prog run pinned /sys/fs/bpf/skb/skb_sock data_in "$T/$f" data_out "$O.sock.$f"
	od -An -tx1 -v "$O.sock.$f"
done
echo "== tc repeat"
bpftool prog run pinned /sys/fs/bpf/skb/skb_tc data_in "$T/v4tcp" data_out "$O.rep" ctx_in "$T/ctx" ctx_out "$O.rep.ctx" repeat 3
od -An -tx1 -v "$O.rep"; echo ctx; od -An -tx1 -v "$O.rep.ctx"
echo "== tc short"; bpftool prog run pinned /sys/fs/bpf/skb/skb_tc data_in "$T/short"
echo "== sock short"; bpftool prog run pinned /sys/fs/bpf/skb/skb_sock data_in "$T/short"
echo "== counts"; bpftool map dump pinned /sys/fs/bpf/skbmaps/counts
echo "== done"
SCRIPT

setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --session "e2e-skb-$$" -- sh "$T/script.sh" "$T" emu >"$T/emu.raw" 2>"$T/emu.err"
erc=$?
unshare -m sh -c 'mount -t bpf bpf /sys/fs/bpf && sh "$1/script.sh" "$1" kern' sh "$T" >"$T/kern.raw"
krc=$?
norm() {
	sed -E -e 's/duration( \(average\))?: [0-9]+ns/duration N/' -e 's/loaded_at [^ ]+/loaded_at TIME/' \
		-e 's/uid [0-9]+/uid UID/; s/(  )?jited [0-9]+B//; s/not jited//; s/  memlock [0-9]+B//' \
		-e 's/btf_id [0-9]+/btf_id N/; s/map_ids [0-9,]+/map_ids N/; s/[[:space:]]+$//' \
		-e '/^Warning: bpftool is now running in libbpf strict mode/,/^$/d' -e '/^If it used to work/d' "$1"
}
norm "$T/emu.raw" >"$T/emu"
norm "$T/kern.raw" >"$T/kern"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
section() { awk -v s="== $2" '$0 == s { on = 1; next } /^== / { on = 0 } on' "$1"; }
same() { # same SECTION DESCRIPTION
	if [ "$(section "$T/emu" "$1")" = "$(section "$T/kern" "$1")" ]; then
		ok "$2"
	else
		notok "$2"
		echo "# bpftime:"; section "$T/emu" "$1" | sed 's/^/#   /'
		echo "# kernel:"; section "$T/kern" "$1" | sed 's/^/#   /'
		sed 's/^/# stderr: /' "$T/emu.err"
	fi
}

check "bpftime-run exits with the script's status (0)" '[ $erc -eq 0 ]'
check "kernel side ran" '[ $krc -eq 0 ]'
check "bpftool loaded both programs unprivileged" 'section "$T/emu" load | grep -qx loaded'
same load "prog loadall output matches the kernel"
same show "the tc program shows as sched_cls, as on the kernel"
for f in v4tcp v4udp9 v4ttl1 v6 arp; do
	same "tc $f" "tc program on $f: return value, data_out and ctx_out as on the kernel"
	same "sock $f" "socket filter on $f: return value and data_out as on the kernel"
done
check "the tc program returned TC_ACT_OK (0) for IPv4/TCP" 'section "$T/emu" "tc v4tcp" | grep -q "Return value: 0,"'
check "the tc program returned TC_ACT_SHOT (2) for UDP to port 9" 'section "$T/emu" "tc v4udp9" | grep -q "Return value: 2,"'
check "the socket filter kept the 50 bytes of the TCP packet" 'section "$T/emu" "sock v4tcp" | grep -q "Return value: 50,"'
same "tc repeat" "repeat 3 runs the program three times on the same skb, as on the kernel"
same "tc short" "a frame shorter than an Ethernet header fails as on the kernel (tc)"
same "sock short" "a frame shorter than an Ethernet header fails as on the kernel (socket)"
same counts "the programs' map counts match the kernel's"
check "the counts map saw every run" '[ "$(section "$T/emu" counts | grep -c "value")" -eq 4 ]'
echo "1..$n"
[ $fails -eq 0 ]
