#!/bin/sh
# site_check_bench.sh [FILE] - attach-time cost of the jmp-or-int3 decision
# (hooks/site_check.c) on every USDT probe of FILE (default: python3, 6.8 MB,
# 9 probes), through bench/site_check_bench. Run from the build directory.
# The probe addresses come from the .note.stapsdt notes (readelf -n), turned
# into file offsets with the PT_LOAD headers (readelf -l), as bpftrace does.
set -eu
F=$(readlink -f "${1:-/usr/bin/python3}")
offs=$(readelf -n "$F" | awk '/Location:/ { sub(",", "", $2); print $2 }' | sort -u)
[ -n "$offs" ] || { echo "no USDT probes in $F"; exit 1; }
loads=$(readelf -lW "$F" | awk '$1 == "LOAD" { print $2, $3, $5 }')
args=
for v in $offs; do
	o=$(echo "$loads" | while read -r off vaddr filesz; do
		if [ $((v)) -ge $((vaddr)) ] && [ $((v)) -lt $((vaddr + filesz)) ]; then
			printf '%#x\n' $((v - vaddr + off)); break
		fi
	done)
	args="$args $o"
done
echo "$F: $(stat -c %s "$F") bytes, USDT probes at$args"
exec ./bench/site_check_bench "$F" $args
