#!/bin/sh
# One-command setup on a fresh Debian 12 machine: install every build and test
# dependency with apt-get, then configure and build bpftime in ./build.
# Usage: scripts/setup.sh [extra ./configure arguments]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

PKGS="autoconf automake libtool pkg-config make gcc clang llvm-dev
libseccomp-dev libbpf-dev libcap-dev check libcapstone-dev libelf-dev zlib1g-dev
linux-libc-dev bpftool bpftrace bpfcc-tools python3 util-linux strace linux-headers-amd64"
# A Go loader (cilium/ebpf, as Debian packages it) for the Go end-to-end test.
PKGS="$PKGS golang-go golang-github-cilium-ebpf-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages:$missing; run this script as root or install them." >&2
		exit 1
	fi
	echo "setup: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# bcc compiles its programs against /lib/modules/$(uname -r)/build
# (tests/e2e/agent-bcc.sh); a CI kernel is not Debian's, so point it at
# Debian's headers package.
kbuild=/lib/modules/$(uname -r)/build
if [ ! -e "$kbuild" ] && [ "$(id -u)" -eq 0 ]; then
	hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$hdr" ]; then
		mkdir -p "/lib/modules/$(uname -r)"
		ln -s "$hdr" "$kbuild"
	fi
fi

cd "$top"
[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure "$@"
make -j"$(nproc)"
