#!/bin/sh
# plugin.sh - drive bpftime-conformance-plugin the way bpf_conformance_runner
# does (shared/conformance/README.md §4): program as hex on stdin, memory as
# one argument of hex pairs, r0 in hex on stdout; errors on stderr with a
# non-zero exit. Every conformance vector, assembled by bpftime-asm, is run
# this way; then malformed input must be refused with a sentence.
# TAP output; a skip plan ("1..0 # SKIP", exit 0: tap-driver.sh turns
# exit 77 into an ERROR) when shared/ is absent.
set -u
B=${BPFTIME_BUILDDIR:-.}
PLUGIN=$B/bpftime-conformance-plugin
ASM=$B/bpftime-asm
SHARED=${BPFTIME_SHARED:-${BPFTIME_SRCDIR:-..}/../shared}
T=$SHARED/conformance/tests
N=$SHARED/conformance/negative
if [ ! -d "$T" ]; then
	echo "1..0 # SKIP shared/conformance not found"
	exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

# section FILE NAME: the lines of "-- NAME", comments removed.
section() {
	awk -v want="$2" '/--/ { on = index($0, want) > 0; next } on { sub(/#.*/, ""); print }' "$1"
}

for f in "$T"/*.data; do
	v=$(basename "$f")
	section "$T/$v" asm > "$tmp/prog.s"
	want=$(section "$T/$v" result | tr -d ' \t' | grep . | head -n 1)
	# The runner passes memory as one argument, pairs separated by spaces.
	mem=$(section "$T/$v" mem | tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//')
	if ! "$ASM" --hex "$tmp/prog.s" > "$tmp/prog.hex" 2> "$tmp/err"; then
		notok "$v: bpftime-asm failed: $(cat "$tmp/err")"
		continue
	fi
	if [ -n "$mem" ]; then
		"$PLUGIN" "$mem" < "$tmp/prog.hex" > "$tmp/out" 2> "$tmp/err"
	else
		"$PLUGIN" < "$tmp/prog.hex" > "$tmp/out" 2> "$tmp/err"
	fi
	rc=$?
	got=$(cat "$tmp/out")
	# Compare as 64-bit numbers: the runner accepts r0 with or without 0x.
	if [ $rc -eq 0 ] && [ "$(printf '%u' "0x$got")" = "$(printf '%u' "$want")" ]; then
		ok "$v: r0 = 0x$got"
	else
		notok "$v: exit $rc, r0 '$got', expected $want; stderr: $(cat "$tmp/err")"
	fi
done

# A malformed program (exit with imm 1): refused, reason on stderr, non-zero exit.
section "$N/unused-exit-imm.data" raw | tr -s ' \t\n' ' ' > "$tmp/bad.hex"
if "$PLUGIN" < "$tmp/bad.hex" > "$tmp/out" 2> "$tmp/err"; then
	notok "unused-exit-imm accepted: $(cat "$tmp/out")"
elif grep -q '^insn 0: exit: reserved field imm must be 0, is 1$' "$tmp/err" && [ ! -s "$tmp/out" ]; then
	ok "unused-exit-imm refused: $(cat "$tmp/err")"
else
	notok "unused-exit-imm: unexpected stderr '$(cat "$tmp/err")' stdout '$(cat "$tmp/out")'"
fi

# Not hex, and a cut instruction: clear errors.
if echo "zz 00" | "$PLUGIN" > /dev/null 2> "$tmp/err"; then
	notok "non-hex program accepted"
else
	ok "non-hex program refused: $(cat "$tmp/err")"
fi
if echo "95 00 00 00" | "$PLUGIN" > /dev/null 2> "$tmp/err"; then
	notok "4-byte program accepted"
else
	ok "4-byte program refused: $(cat "$tmp/err")"
fi
# --elf is refused with a sentence, not misread as memory.
if echo "95 00 00 00 00 00 00 00" | "$PLUGIN" --elf > /dev/null 2> "$tmp/err"; then
	notok "--elf accepted"
else
	ok "--elf refused: $(cat "$tmp/err")"
fi
echo "1..$n"
[ $fails -eq 0 ]
