#!/bin/sh
# sup-session.sh - two bpftime-run of one user share a session, as two
# processes share the kernel: a program loaded and pinned under one is seen,
# shown and run by bpftool under another; --session separates; the state
# goes away with the last bpftime-run of the session.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0:
# automake's tap-driver.sh counts that as a skip but reports exit 77 as an ERROR.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
OBJ=$B/tests/e2e/sup_demo.bpf.o
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for setpriv"; exit 0; fi
command -v bpftool >/dev/null || { echo "1..0 # SKIP no bpftool"; exit 0; }
[ -f "$OBJ" ] || { echo "1..0 # SKIP $OBJ not built"; exit 0; }
T=$(mktemp -d /tmp/bpftime-sess.XXXXXX) || exit 1
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
chmod 777 "$T"
cp "$OBJ" "$T/prog.o"
head -c 64 /dev/zero >"$T/even"
chmod 644 "$T/prog.o" "$T/even"
S=e2e-sess-$$
user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
cleanup() { touch "$T/stop"; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

# The holder: loads and pins, then waits until told to stop.
user "$RUN" --session "$S" -- sh -c '
	bpftool prog load "$1/prog.o" /sys/fs/bpf/shared &&
	bpftool map create /sys/fs/bpf/counts type hash key 4 value 8 entries 16 name counts && echo ready >"$1/ready"
	while [ ! -e "$1/stop" ]; do sleep 0.1; done
	bpftool map dump name counts >"$1/holder.dump"' sh "$T" >"$T/holder.out" 2>&1 &
i=0
while [ ! -e "$T/ready" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "the first bpftime-run loaded and pinned a program" '[ -e "$T/ready" ]'

user "$RUN" --session "$S" -- bpftool prog show pinned /sys/fs/bpf/shared >"$T/show" 2>&1
check "a second bpftime-run of the session sees the pin" 'grep -q "xdp  name sup_demo  tag 4bca76c1976be8c4" "$T/show"'
user "$RUN" --session "$S" -- bpftool prog show >"$T/list" 2>&1
check "and lists the program by id" '[ "$(grep -c "name sup_demo" "$T/list")" = 1 ]'
user "$RUN" --session "$S" -- bpftool prog run pinned /sys/fs/bpf/shared data_in "$T/even" >"$T/run" 2>&1
check "and runs it (PROG_TEST_RUN across bpftime-runs)" 'grep -q "Return value: 2" "$T/run"'
user "$RUN" --session "$S" -- bpftool map update name counts key 1 0 0 0 value 9 0 0 0 0 0 0 0 >"$T/upd" 2>&1
user "$RUN" --session "$S" -- bpftool map lookup name counts key 1 0 0 0 >"$T/lk" 2>&1
check "a map created under one bpftime-run is updated under another and read under a third" 'grep -q "value: 09 00 00 00 00 00 00 00" "$T/lk"'
user "$RUN" --session "other-$S" -- bpftool prog show pinned /sys/fs/bpf/shared >"$T/other" 2>&1
check "another session does not see it" 'grep -q "No such file or directory" "$T/other"'
check "the session state exists while a bpftime-run uses it" '[ -d /dev/shm/bpftime-65534-$S ]'
touch "$T/stop"
wait
check "the creator sees the other bpftime-run's update in its map" 'grep -q "value: 09 00 00 00 00 00 00 00" "$T/holder.dump"'
check "the holder exited cleanly" '[ -e "$T/ready" ] && ! grep -q -i error "$T/holder.out"'
check "the last bpftime-run out removed the session state" '[ ! -e /dev/shm/bpftime-65534-$S ]'
check "the other session's state is gone too" '[ ! -e /dev/shm/bpftime-65534-other-$S ]'
echo "1..$n"
[ $fails -eq 0 ]
