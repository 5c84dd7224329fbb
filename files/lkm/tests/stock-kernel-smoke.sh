#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The module on Debian's own kernel, without a VM image: the stock kernel of this host's
# release (the one linux-image-amd64 depends on now) and its headers come from apt (kept in
# CACHE/stock-kernel/ABI/), the module is built against the headers (W=1, warnings are
# errors), and qemu-smoke.sh boots that kernel with it in a busybox initramfs: every check of
# run-tests.sh with --oom-global (real memcg and global OOMs), unload-test.sh, no kernel
# warning. The module must pick its notify backend there (a stock kernel has no hook).
#
#   files/lkm/tests/stock-kernel-smoke.sh [CACHE]    CACHE: default $OOMGS_CACHE_DIR or
#                                                    /var/cache/oom-graceful-shutdown
# Needs apt, dpkg-deb, make, gcc and what qemu-smoke.sh needs. Exit 0 if everything passed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${OOMGS_CACHE_DIR:-/var/cache/oom-graceful-shutdown}}/stock-kernel
say() { echo "stock-kernel-smoke: $*" >&2; }

depends_of() { apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \([^<> ]*\)$/\1/p'; }
# the ABI of the kernel linux-image-amd64 depends on now (6.1.0-57-amd64)
current_abi() { depends_of linux-image-amd64 | sed -n 's/^linux-image-//p' | head -n 1; }
abi=$(current_abi)
if [ -z "$abi" ]; then
	apt-get update -qq
	abi=$(current_abi)
fi
[ -n "$abi" ] || { say "apt knows no linux-image-amd64"; exit 2; }
root=$cache/$abi

if [ ! -e "$root/.complete" ]; then
	# the headers, their common part and the kbuild tools they depend on
	debs="linux-image-$abi linux-headers-$abi $(depends_of "linux-headers-$abi" | grep -E '^linux-(headers|kbuild)-' | tr '\n' ' ')"
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/.work-XXXXXX")
	trap 'rm -rf "$work"' EXIT
	say "downloading $debs"
	# shellcheck disable=SC2086  # one word per package
	(cd "$work" && apt-get download $debs >/dev/null 2>&1) ||
		(apt-get update -qq && cd "$work" && apt-get download $debs >/dev/null)
	for deb in "$work"/*.deb; do
		dpkg-deb -x "$deb" "$work/root"
	done
	# Debian's flavour Makefile includes the common part by its absolute path under /usr/src.
	sed -i "s|/usr/src/|$root/usr/src/|" "$work/root/usr/src/linux-headers-$abi/Makefile"
	touch "$work/root/.complete"
	rm -rf "$root"
	mv "$work/root" "$root"
	rm -rf "$work"
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp "$here"/../*.c "$here"/../*.h "$here/../Kbuild" "$here/../Makefile" "$build/"
say "building the module against linux-headers-$abi"
make -s -C "$build" KDIR="$root/usr/src/linux-headers-$abi" W=1 KCFLAGS=-Werror modules

out=$("$here/qemu-smoke.sh" "$root/boot/vmlinuz-$abi" "$build/graceful_shutdown.ko" --oom-global) && rc=0 || rc=$?
echo "$out"
if ! echo "$out" | grep -q "^# oom: backend=notify "; then
	say "not ok: the module did not start its notify backend on $abi"
	exit 1
fi
[ "$rc" -eq 0 ] || say "not ok: qemu-smoke.sh failed on $abi"
exit "$rc"
