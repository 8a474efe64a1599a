#!/bin/sh
# sup-bpftool.sh - bpftool, unprivileged (uid 65534) under bpftime-run, against
# the same bpftool commands run as root against the real kernel, in the same
# test: prog load (pinned), prog show, prog run (TEST_RUN with data in and
# out), pins and OBJ_GET, BTF. The kernel side runs in a private mount
# namespace with its own bpffs, so the machine is not disturbed.
# TAP output. When it cannot run here it prints a "1..0 # SKIP" plan and exits 0:
# automake's tap-driver.sh counts that as a skip but reports exit 77 as an ERROR.
set -u
B=${BPFTIME_BUILDDIR:-.}
RUN=$B/bpftime-run
OBJ=$B/tests/e2e/sup_demo.bpf.o
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
for c in bpftool setpriv unshare; do
	command -v $c >/dev/null || { echo "1..0 # SKIP no $c"; exit 0; }
done
[ -f "$OBJ" ] || { echo "1..0 # SKIP $OBJ not built"; exit 0; }

T=$(mktemp -d /tmp/bpftime-e2e.XXXXXX) || exit 1
# uid 65534 must be able to run what it runs, wherever the build tree lives (/root is 0700).
chmod 755 "$T"
cp "$RUN" "$T/bpftime-run" && RUN=$T/bpftime-run
# The agent (found in .libs/ next to bpftime-run) answers /proc/self/fdinfo and fd links.
mkdir "$T/.libs" && cp "$B/.libs/libbpftime-agent.so" "$T/.libs/" && chmod -R a+rX "$T/.libs"
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cp "$OBJ" "$T/prog.o"
# Two 64-byte packets: first byte even (XDP_PASS = 2) and odd (XDP_DROP = 1).
head -c 64 /dev/zero >"$T/even"
{ printf '\001'; head -c 63 /dev/zero; } >"$T/odd"
chmod 644 "$T/prog.o" "$T/even" "$T/odd"
mkdir "$T/out" && chmod 777 "$T/out"

# The same command script on both sides; its output is compared after
# normalising what legitimately differs: ids and btf ids (the kernel's are
# global), load times, the uid (65534 vs 0), and the JIT fields (bpftime does
# not report native code: "not jited", as OBJ_GET_INFO_BY_FD says). memlock is
# compared exactly: bpftime computes it the kernel's way (emul/fdinfo_text.c)
# and the agent serves it through /proc/self/fdinfo (hooks/agent_procfs.c).
cat >"$T/script.sh" <<'SCRIPT'
T=$1
exec 2>&1
echo "== load"; bpftool prog load "$T/prog.o" /sys/fs/bpf/sup_demo && echo loaded
# DIVERGES: a kernel with CONFIG_BPF_PRELOAD shows maps.debug and progs.debug on a fresh bpffs.
echo "== ls"; ls /sys/fs/bpf | grep -v '^\(maps\|progs\)\.debug$'
echo "== show"; bpftool prog show pinned /sys/fs/bpf/sup_demo
echo "== json"; bpftool -j prog show pinned /sys/fs/bpf/sup_demo; echo
echo "== run even"; bpftool prog run pinned /sys/fs/bpf/sup_demo data_in "$T/even" data_out "$T/out/$2" repeat 3
cmp "$T/even" "$T/out/$2" && echo "data out equals data in"
echo "== run odd"; bpftool prog run pinned /sys/fs/bpf/sup_demo data_in "$T/odd" repeat 1
echo "== run short"; bpftool prog run pinned /sys/fs/bpf/sup_demo data_in /dev/null
echo "== pin again"; bpftool prog pin pinned /sys/fs/bpf/sup_demo /sys/fs/bpf/again && bpftool prog show pinned /sys/fs/bpf/again | head -1
# -f: bpftool walks the bpf mounts of /proc/mounts, opens every pin and keeps those whose
# readlink(/proc/self/fd/N) names the wanted kind (get_fd_type()); under bpftime-run the agent
# answers both (hooks/agent_procfs.c). Sorted: readdir order differs between bpffs and tmpfs.
echo "== pinned list"; bpftool -f prog show pinned /sys/fs/bpf/sup_demo | sort
echo "== pin exists"; bpftool prog pin pinned /sys/fs/bpf/sup_demo /sys/fs/bpf/again
echo "== get missing"; bpftool prog show pinned /sys/fs/bpf/missing
echo "== btf"; bpftool btf show | grep -c vmlinux
echo "== map create"; bpftool map create /sys/fs/bpf/counts type hash key 4 value 8 entries 16 name counts && echo created
echo "== map update"; bpftool map update pinned /sys/fs/bpf/counts key 1 0 0 0 value 42 0 0 0 0 0 0 0 && bpftool map update pinned /sys/fs/bpf/counts key 2 0 0 0 value 7 0 0 0 0 0 0 0 && echo updated
echo "== map update noexist"; bpftool map update pinned /sys/fs/bpf/counts key 1 0 0 0 value 1 0 0 0 0 0 0 0 noexist
echo "== map lookup"; bpftool map lookup pinned /sys/fs/bpf/counts key 1 0 0 0
echo "== map lookup missing"; bpftool map lookup pinned /sys/fs/bpf/counts key 9 0 0 0
echo "== map dump"; bpftool map dump pinned /sys/fs/bpf/counts | sort
echo "== map delete"; bpftool map delete pinned /sys/fs/bpf/counts key 2 0 0 0 && bpftool map dump pinned /sys/fs/bpf/counts
echo "== map show"; bpftool map show pinned /sys/fs/bpf/counts
echo "== map json"; bpftool -j map show pinned /sys/fs/bpf/counts; echo
echo "== map pinned list"; bpftool -f map show pinned /sys/fs/bpf/counts | sort
# BPF_F_NO_PREALLOC: the kernel's memlock grows with the elements present (htab_map_mem_usage()).
echo "== map noprealloc"; bpftool map create /sys/fs/bpf/np type hash key 4 value 8 entries 16 name np flags 1 &&
	bpftool map show pinned /sys/fs/bpf/np | grep -o "memlock [0-9]*B" &&
	bpftool map update pinned /sys/fs/bpf/np key 1 0 0 0 value 1 0 0 0 0 0 0 0 &&
	bpftool map update pinned /sys/fs/bpf/np key 2 0 0 0 value 1 0 0 0 0 0 0 0 &&
	bpftool map show pinned /sys/fs/bpf/np | grep -o "memlock [0-9]*B" && rm /sys/fs/bpf/np
echo "== array"; bpftool map create /sys/fs/bpf/arr type array key 4 value 4 entries 2 name arr && bpftool map update pinned /sys/fs/bpf/arr key 1 0 0 0 value 5 0 0 0 && bpftool map dump pinned /sys/fs/bpf/arr
echo "== array delete"; bpftool map delete pinned /sys/fs/bpf/arr key 1 0 0 0
echo "== unpin"; rm /sys/fs/bpf/sup_demo /sys/fs/bpf/again && bpftool prog show | grep -c sup_demo
echo "== done"
SCRIPT

setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --session "e2e-bpftool-$$" -- sh "$T/script.sh" "$T" emu >"$T/emu.raw"
erc=$?
unshare -m sh -c 'mount -t bpf bpf /sys/fs/bpf && sh "$1/script.sh" "$1" kern' sh "$T" >"$T/kern.raw"
krc=$?

norm() {
	sed -E -e 's/^[0-9]+: /ID: /' -e 's/loaded_at [^ ]+/loaded_at TIME/' -e 's/uid [0-9]+/uid UID/' \
		-e 's/  jited [0-9]+B//; s/  not jited//; s/[[:space:]]+$//' \
		-e 's/btf_id [0-9]+/btf_id N/' -e 's/duration( \(average\))?: [0-9]+ns/duration N/' \
		-e 's/"id":[0-9]+/"id":N/; s/"loaded_at":[0-9]+/"loaded_at":N/; s/"uid":[0-9]+/"uid":N/' \
		-e 's/,"jited":(true|false)//; s/,"bytes_jited":[0-9]+//; s/"btf_id":[0-9]+/"btf_id":N/' \
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
	fi
}

check "bpftime-run exits with the script's status (0)" '[ $erc -eq 0 ]'
check "kernel side ran" '[ $krc -eq 0 ]'
check "bpftool loaded and pinned the program unprivileged" 'section "$T/emu" load | grep -qx loaded'
same load "prog load output matches the kernel"
same ls "the pin is listed in /sys/fs/bpf as on bpffs"
same show "prog show matches the kernel (type, name, tag, gpl, btf)"
check "prog show reports the program's tag from the kernel's hash" 'section "$T/emu" show | grep -q "tag 4bca76c1976be8c4"'
same json "prog show -j matches the kernel"
same "run even" "prog run (XDP_PASS) matches the kernel: return value and data out"
check "prog run wrote the packet back" 'section "$T/emu" "run even" | grep -q "data out equals data in"'
same "run odd" "prog run (XDP_DROP) matches the kernel"
same "run short" "prog run with too little data fails as on the kernel"
same "pin again" "a second pin of the same program"
same "pinned list" "prog show -f lists both pins, as on the kernel (bpf mount in /proc/mounts, fd type by readlink)"
check "prog show -f found the pins at all" '[ "$(section "$T/emu" "pinned list" | grep -c "pinned /sys/fs/bpf/")" = 2 ]'
same "pin exists" "pinning over an existing pin fails as on the kernel"
same "get missing" "a missing pin fails as on the kernel"
same btf "kernel BTF is visible as vmlinux"
same "map create" "map create (pinned) as on the kernel; the map commands below reach it through the pin, as other tests may create kernel maps with the same name"
same "map update" "map update as on the kernel"
same "map update noexist" "map update noexist on an existing key fails as on the kernel"
same "map lookup" "map lookup as on the kernel"
same "map lookup missing" "map lookup of a missing key fails as on the kernel"
same "map dump" "map dump as on the kernel"
same "map delete" "map delete then dump as on the kernel"
same "map show" "map show as on the kernel"
same "map json" "map show -j as on the kernel"
same "map pinned list" "map show -f lists the pin as on the kernel"
check "map show -f found the pin at all" 'section "$T/emu" "map pinned list" | grep -qx "[[:space:]]*pinned /sys/fs/bpf/counts"'
same "map noprealloc" "memlock of a BPF_F_NO_PREALLOC hash, empty and with 2 elements, as on the kernel"
check "prog show reports memlock (read from /proc/self/fdinfo)" 'section "$T/emu" show | grep -q "memlock [1-9][0-9]*B"'
check "map show reports memlock (read from /proc/self/fdinfo)" 'section "$T/emu" "map show" | grep -q "memlock [1-9][0-9]*B"'
same array "array map update and dump as on the kernel"
same "array delete" "array elements cannot be deleted, as on the kernel"
check "the map holds what bpftool wrote" 'section "$T/emu" "map lookup" | grep -q "value: 2a 00 00 00 00 00 00 00"' 
# (Not compared: the kernel frees the program from a work queue, a moment later.)
check "removing both pins unloads the program" '[ "$(section "$T/emu" unpin)" = 0 ]'
check "the workload's pins live in the session, not on the host" '[ ! -e /sys/fs/bpf/sup_demo ]'
check "the session directory is gone after the last bpftime-run" '[ ! -e /dev/shm/bpftime-65534-e2e-bpftool-$$ ]'
echo "1..$n"
[ $fails -eq 0 ]
