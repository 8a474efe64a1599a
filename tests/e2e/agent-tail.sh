#!/bin/sh
# agent-tail.sh - bpf_tail_call() through a BPF_MAP_TYPE_PROG_ARRAY from a
# uprobe program running in the traced process (hooks/agent_tail.c), with a
# libbpf 1.1 skeleton of ours (tests/e2e/agent_tail.c, agent_tail.bpf.c)
# that fills the array with prog fds. Run unprivileged under bpftime-run and
# as root on the kernel: every line must be identical. Checks the kernel's
# semantics: the selected program runs with the ctx passed on (it reads the
# probed function's argument), an empty slot or an index past max_entries
# falls through, a program that tail-calls itself stops after 33 tail calls,
# an updated slot runs the new program from the next call on (also while
# another thread keeps calling), a deleted slot falls through, and the
# errnos of bad updates and deletes.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
PROG=$B/tests/e2e/agent_tail
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -x "$PROG" ] || { echo "1..0 # SKIP $PROG not built"; exit 0; }
head -c 2 "$PROG" | grep -q '#!' && exec "$PROG"
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-atail.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$PROG" "$T/prog" || exit 1
chmod -R a+rX "$T"
N=1000

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

timeout 120 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec "$@"' sh "$T/prog" $N >"$T/kern" 2>&1
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-atail-$$ -- "$T/prog" $N >"$T/emu" 2>&1
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "the loader runs on both (kernel, bpftime)"; else notok "the loader runs on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "every counter and errno is identical to the kernel's"
else
	notok "every counter and errno is identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
has() { # DESCRIPTION LINE
	if grep -qxF -- "$2" "$T/emu"; then ok "$1"; else notok "$1"; sed 's/^/# /' "$T/emu"; fi
}
sa=$((N * (N - 1) / 2)) sb=$((2 * N * (2 * N - 1) / 2))
has "tail calls by index, ctx passed on, empty slot and index past the end fall through" \
	"phase 1: entries=$((5 * N)) fallthrough=$((2 * N)) a=$N b=$((2 * N)) sum_a=$sa sum_b=$sb loop=0 loop_end=0"
has "an updated slot runs the new program" \
	"phase 2: entries=$((6 * N)) fallthrough=$((2 * N)) a=$N b=$((3 * N)) sum_a=$sa sum_b=$((sb + N)) loop=0 loop_end=0"
has "a deleted slot falls through" \
	"phase 3: entries=$((7 * N)) fallthrough=$((3 * N)) a=$N b=$((3 * N)) sum_a=$sa sum_b=$((sb + N)) loop=0 loop_end=0"
has "bad updates and deletes: the kernel's errnos" "$(printf 'delete of an empty slot: -2')"
has "updating the slot while another thread calls: each call runs one program, old before, new after" \
	"phase 4: every call ran one program: yes; tail_b ran before the update: yes; tail_a after: yes"
has "a program put in the array after attach runs; 33 tail calls at most" \
	"phase 5: a program entered after attach ran: yes; 3 more calls: loop=99 loop_end=3"

# The probed calls in another process than the loader's: its agent opens the
# prog array and loads the programs it names (remote.sh: target first, then
# the loader; markers order the phases, tests/e2e/agent_tail.c).
cat >"$T/remote.sh" <<'EOS'
T=$1 tag=$2 N=$3
rm -rf "$T/$tag.d"; mkdir -p "$T/$tag.d"
"$T/prog" target $N "$T/$tag.d" >"$T/$tag.tgt" 2>&1 &
tp=$!
# The target reads its unprobed first byte before "ready": an attach before
# that would leave it waiting for a change that already happened.
i=0
until grep -q ready "$T/$tag.tgt" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 600 ] && break
	sleep 0.1
done
"$T/prog" loader $N "$T/$tag.d" "$T/prog"
lrc=$?
wait $tp
trc=$?
[ $lrc -eq 0 ] && [ $trc -eq 0 ] && exit 0
echo "remote: loader exit $lrc, target exit $trc; target said: $(cat "$T/$tag.tgt")" >&2
exit 1
EOS
chmod 1777 "$T"
timeout 200 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec sh "$@"' sh "$T/remote.sh" "$T" kern-r $N >"$T/kern" 2>&1
krc=$?
timeout 200 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-atail-$$ -- sh "$T/remote.sh" "$T" emu-r $N >"$T/emu" 2>&1
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "another process: loader and target run on both (kernel, bpftime)"; else notok "another process: loader and target run on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "another process: counters identical to the kernel's"
else
	notok "another process: counters identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
fi
has "another process: tail calls by index, empty slot, ctx" \
	"remote 1: entries=$((4 * N)) fallthrough=$N a=$N b=$((2 * N)) sum_a=$sa sum_b=$sb loop=0 loop_end=0"
has "another process: a slot updated while it runs" \
	"remote 2: entries=$((5 * N)) fallthrough=$N a=$N b=$((3 * N)) sum_a=$sa sum_b=$((sb + N)) loop=0 loop_end=0"
echo "1..$n"
[ $fails -eq 0 ]
