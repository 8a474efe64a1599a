#!/bin/sh
# agent-poll.sh - poll()/ppoll() on BPF output perf buffers, as bcc 0.26
# waits for them (tests/e2e/agent_poll.c): the client is run as root on the
# kernel and unprivileged under bpftime-run, where the agent answers poll()
# for the ring fds (hooks/agent_poll.c). The outputs must be identical: the
# idle poll times out without spinning (CPU time < 1/4 of the wait), poll(-1)
# blocks until a record arrives and reports POLLIN for that CPU's fd only,
# the records read are exact, a pipe in the same set still wakes it; the
# same for a BPF_MAP_TYPE_RINGBUF map fd.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
SRC=${BPFTIME_SRCDIR:-..}
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-apoll.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" || exit 1
cc -O2 -pthread -o "$T/client" "$SRC/tests/e2e/agent_poll.c" || { echo "1..0 # SKIP cannot build the client"; exit 0; }
chmod -R a+rX "$T"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check <description> <line that must be in the bpftime output>
	if grep -qxF "$2" "$T/emu"; then ok "$1"; else notok "$1 (want: $2)"; fi
}

timeout 120 "$T/client" >"$T/kern" 2>"$T/kern.err"
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-apoll-$$ -- "$T/client" >"$T/emu" 2>"$T/emu.err"
erc=$?
if [ $krc -eq 0 ] && [ $erc -eq 0 ]; then ok "the client runs on both (kernel, bpftime)"; else notok "the client runs on both (kernel $krc, bpftime $erc)"; fi
if cmp -s "$T/kern" "$T/emu"; then
	ok "poll results, revents and records are identical to the kernel's"
else
	notok "poll results, revents and records are identical to the kernel's"
	diff "$T/kern" "$T/emu" | sed 's/^/# /'
	sed 's/^/# stderr: /' "$T/emu.err"
fi
last=$(($(getconf _NPROCESSORS_CONF) - 1))
[ $last -gt 63 ] && last=63
check "idle poll(400) returns 0" "idle poll(400): returned 0 ready="
check "idle poll waits its full timeout" "idle poll waited its timeout: yes"
check "idle poll does not spin (CPU time < 1/4 of the wait)" "idle poll did not spin: yes"
check "poll(-1) returns POLLIN for the right CPU's fd only" "wake poll(-1): returned 1 ready=[$last:0x1]"
check "poll(-1) blocks until the record arrives" "wake poll blocked until the record: yes"
check "the record read after the wake-up is exact" "record ring=$last type=9 size=24 raw=12 value=0x1234567890abcdef"
check "a drained ring is no longer ready" "after reading poll(0): returned 0 ready="
check "a ring with unread records is ready at once" "pending poll(-1): returned 1 ready=[0:0x1]"
check "a pipe in the same set still wakes poll(-1)" "pipe poll(-1): returned 1 ready=[$((last + 1)):0x1]"
check "idle ppoll returns 0 after its timeout" "idle ppoll(200ms): returned 0 ready="
check "ppoll(NULL timeout, mask) wakes on a record" "wake ppoll(NULL): returned 1 ready=[0:0x1]"
check "ringbuf: idle poll(100) returns 0" "ringbuf idle poll(100): returned 0 ready="
check "ringbuf: poll(-1) wakes with POLLIN on the map fd" "ringbuf wake poll(-1): returned 1 ready=[0:0x1]"
check "ringbuf: the record read is exact" "ringbuf record: len=8 value=0xfeedfacecafebeef bytes=16"
check "ringbuf: a drained ring is no longer ready" "ringbuf after reading poll(0): returned 0 ready="
if [ "$(grep -c '^record ' "$T/emu")" = 4 ]; then ok "exactly 4 records read"; else notok "exactly 4 records read"; fi
echo "1..$n"
[ $fails -eq 0 ]
