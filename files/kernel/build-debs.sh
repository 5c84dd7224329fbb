#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# build-debs.sh: unpack a kernel source, apply the oom.graceful_shutdown
# series, configure it for the test VM and build it (by default Debian
# packages with bindeb-pkg). The commands the kernel role runs, in one place.
#
# usage: build-debs.sh SERIES SOURCE_TARBALL WORKDIR [MAKE_TARGET...]
#   SERIES          6.1, 6.12: directory next to this script holding the
#                   patches and their "series" file
#   SOURCE_TARBALL  e.g. /usr/src/linux-source-6.1.tar.xz (one top directory)
#   WORKDIR         created if missing; the tree is unpacked into
#                   WORKDIR/src (removed first), the .debs land in WORKDIR
#   MAKE_TARGET     default: bindeb-pkg
# environment:
#   LOCALVERSION    default -oomgs
#   FRAGMENTS       default "config/test-vm.fragment config/debug.fragment"
#                   (relative to this script's directory, or absolute)
#   JOBS            default 2
#   CCACHE_DIR      when set and ccache is installed, builds with CC="ccache gcc"

set -eu

if [ "$#" -lt 3 ]; then
	sed -n '4,21p' "$0" >&2
	exit 2
fi
series=$1
tarball=$2
workdir=$3
shift 3
[ "$#" -gt 0 ] || set -- bindeb-pkg

here=$(cd "$(dirname "$0")" && pwd)
: "${LOCALVERSION:=-oomgs}"
: "${FRAGMENTS:=config/test-vm.fragment config/debug.fragment}"
: "${JOBS:=2}"

frags=
for f in $FRAGMENTS; do
	case $f in
	/*) ;;
	*) f=$here/$f ;;
	esac
	[ -r "$f" ] || { echo "missing fragment $f" >&2; exit 2; }
	frags="$frags $f"
done

mkdir -p "$workdir"
rm -rf "$workdir/src"
mkdir "$workdir/src"
tar -C "$workdir/src" --strip-components=1 -xf "$tarball"
cd "$workdir/src"

while read -r patch; do
	case $patch in
	''|'#'*) continue ;;
	esac
	patch -p1 --fuzz=0 --no-backup-if-mismatch < "$here/$series/$patch"
done < "$here/$series/series"

make defconfig kvm_guest.config
# shellcheck disable=SC2086
scripts/kconfig/merge_config.sh -m .config $frags
make olddefconfig
# shellcheck disable=SC2086
"$here/check-config.sh" .config $frags

cc=gcc
if [ -n "${CCACHE_DIR:-}" ] && command -v ccache >/dev/null; then
	cc="ccache gcc"
fi
start=$(date +%s)
nice -n 19 make -j"$JOBS" CC="$cc" LOCALVERSION="$LOCALVERSION" "$@"
echo "build of $series ($*) took $(($(date +%s) - start)) s"
