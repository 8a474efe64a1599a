#!/bin/sh
# agent-fdinfo.sh - /proc/self/fdinfo/N and readlink(/proc/self/fd/N) of bpf
# fds, as bpftool reads them (tests/e2e/agent_fdinfo.c): a BTF object, eleven
# maps of seven types (one prog array owned by a program), five programs, a
# uprobe perf event, a uprobe and a tracepoint perf link, and two fds that
# are not bpf objects. The client runs as root on the kernel and
# unprivileged under bpftime-run, where the agent answers (hooks/agent_procfs.c
# with the text of emul/fdinfo_text.c). Each object's section is compared line
# by line after masking what cannot be equal:
#   - mnt_id and ino: the kernel shows its anon inode, bpftime the backing file;
#   - ids (btf_id, map_id, prog_id, link_id) and a pipe's inode number;
#   - prog_jited, owner_jited (bpftime reports no native code, as OBJ_GET_INFO_BY_FD says)
#     and verified_insns (no verifier yet: 0, as OBJ_GET_INFO_BY_FD says).
# memlock, flags, types, sizes, tags, frozen and the link's uprobe lines are
# compared exactly.
# TAP output; skips with a "1..0 # SKIP" plan (tap-driver.sh reports exit 77 as ERROR).
set -u
B=${BPFTIME_BUILDDIR:-.}
CLIENT=$B/tests/e2e/agent_fdinfo
if [ "${BPFTIME_UNIT_ONLY:-0}" = 1 ]; then echo "1..0 # SKIP BPFTIME_UNIT_ONLY"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the kernel side and setpriv"; exit 0; fi
[ -f "$B/.libs/libbpftime-agent.so" ] || { echo "1..0 # SKIP the agent is not built"; exit 0; }
command -v unshare >/dev/null || { echo "1..0 # SKIP no unshare"; exit 0; }
[ -x "$CLIENT" ] || { echo "1..0 # SKIP $CLIENT not built"; exit 0; }
[ -r /sys/bus/event_source/devices/uprobe/type ] || { echo "1..0 # SKIP no uprobe PMU"; exit 0; }
T=$(mktemp -d /tmp/bpftime-fdinfo.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin/.libs"
cp "$B/bpftime-run" "$T/bin/" && cp "$B/.libs/libbpftime-agent.so" "$T/bin/.libs/" && cp "$CLIENT" "$T/client" || exit 1
chmod -R a+rX "$T"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }

# The kernel side needs tracefs for the tracepoint's id: mounted in a private mount namespace.
timeout 120 unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && "$1"' sh "$T/client" >"$T/kern.raw" 2>&1
krc=$?
timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-fdinfo-$$ -- "$T/client" >"$T/emu.raw" 2>"$T/emu.err"
erc=$?
if [ $krc -eq 0 ]; then ok "the client runs on the kernel"; else notok "the client runs on the kernel ($krc)"; sed 's/^/# /' "$T/kern.raw"; fi
if [ $erc -eq 0 ]; then ok "the client runs under bpftime-run"; else notok "the client runs under bpftime-run ($erc)"; sed 's/^/# /' "$T/emu.raw" "$T/emu.err"; fi

norm() {
	sed -E -e 's/^(mnt_id|ino|btf_id|map_id|prog_id|link_id):\t[0-9]+$/\1:\tN/' \
		-e 's/^link: pipe:\[[0-9]+\]$/link: pipe:[N]/' \
		-e 's/^(prog_jited|owner_jited|verified_insns):\t[0-9]+$/\1:\tMASKED/' "$1"
}
norm "$T/kern.raw" >"$T/kern"
norm "$T/emu.raw" >"$T/emu"
section() { awk -v s="== $2" '$0 == s { on = 1; next } /^== / { on = 0 } on' "$1"; }

sections=$(grep '^== ' "$T/kern.raw" | sed 's/^== //' | grep -vx misuse)
cnt=$(printf '%s\n' "$sections" | grep -c .)
if [ "$cnt" -eq 21 ]; then ok "21 fds examined"; else notok "21 fds examined (got $cnt)"; fi
# Sections are named with spaces: iterate line by line.
printf '%s\n' "$sections" >"$T/names"
while IFS= read -r s; do
	if [ -n "$s" ] && [ "$(section "$T/emu" "$s")" = "$(section "$T/kern" "$s")" ]; then
		ok "$s: link, fdinfo (fopen, open, openat, /proc/<pid>, /proc/thread-self) as on the kernel"
	else
		notok "$s: as on the kernel"
		section "$T/kern" "$s" >"$T/a"
		section "$T/emu" "$s" >"$T/b"
		diff "$T/a" "$T/b" | sed 's/^/# /'
	fi
done <"$T/names"
if [ "$(section "$T/emu" misuse)" = "$(section "$T/kern" misuse)" ] && [ -n "$(section "$T/kern" misuse)" ]; then
	ok "misuse (write opens, O_DIRECTORY, readlink size 0, write, pread, lseek, closed fds) gives the kernel's results"
else
	notok "misuse gives the kernel's results"
	section "$T/kern" misuse >"$T/a"
	section "$T/emu" misuse >"$T/b"
	diff "$T/a" "$T/b" | sed 's/^/# /'
fi
# Checks that do not depend on the kernel comparison.
c=$(grep -c '^memlock:	[1-9]' "$T/emu.raw")
if [ "$c" -eq 15 ]; then ok "bpftime shows a memlock for 11 maps and 4 programs"; else notok "bpftime shows a memlock for 11 maps and 4 programs (got $c)"; fi
c=$(grep -c ' same: yes$' "$T/emu.raw")
if [ "$c" -eq 105 ]; then ok "every way in gives the same bytes (21 fds x 5)"; else notok "every way in gives the same bytes (got $c of 105)"; fi
if grep -qx 'link: anon_inode:bpf-map' "$T/emu.raw" && grep -qx 'link: anon_inode:bpf-prog' "$T/emu.raw" &&
	grep -qx 'link: anon_inode:bpf_link' "$T/emu.raw" && grep -qx 'link: anon_inode:btf' "$T/emu.raw" &&
	grep -qx 'link: anon_inode:\[perf_event\]' "$T/emu.raw"; then
	ok "fd links name the kernel's anon inodes"
else
	notok "fd links name the kernel's anon inodes"
fi
if section "$T/emu.raw" "map prog_array with owner" | grep -qx 'owner_prog_type:	1'; then ok "a prog array names its owner's type"; else notok "a prog array names its owner's type"; fi
if [ "$(section "$T/emu.raw" /dev/null | sed -n 's/^link: //p')" = /dev/null ]; then ok "a non-bpf fd is untouched"; else notok "a non-bpf fd is untouched"; fi
# /proc/mounts read with open() (grep) and fopen() (awk): the session's /sys/fs/bpf is a bpf mount.
timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$T/bin/bpftime-run" -q --session e2e-fdinfo-m-$$ -- \
	sh -c 'grep " /sys/fs/bpf " /proc/mounts; awk "\$2 == \"/sys/fs/bpf\"" /proc/self/mounts' >"$T/mounts" 2>&1
if [ "$(cat "$T/mounts")" = "$(printf 'bpf /sys/fs/bpf bpf rw,relatime 0 0\nbpf /sys/fs/bpf bpf rw,relatime 0 0')" ]; then
	ok "/proc/mounts shows the session's /sys/fs/bpf as a bpf mount"
else
	notok "/proc/mounts shows the session's /sys/fs/bpf as a bpf mount"
	sed 's/^/# /' "$T/mounts"
fi
echo "1..$n"
[ $fails -eq 0 ]
