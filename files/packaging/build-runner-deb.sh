#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the handler runner (oomgs-runner) as a Debian package, on the controller, once
# per set of inputs.
#
#   build-runner-deb.sh build --source DIR --cache DIR
#        -> prints the path of the package; "build-runner-deb.sh: built ..." on stderr
#           when it built one (a cache hit says "cache hit")
#
# The package oomgs-runner puts the binary in /usr/sbin/oomgs-runner and depends on the
# C library it was linked against (dpkg-shlibdeps), so that apt refuses it, with a
# clear message, on a device whose release is older than the build host's. Its version is
# VERSION+KEY, VERSION from the Makefile, KEY a hash of the sources (*.c, *.h, Makefile),
# this script and deb-cache.sh: a changed source makes a new version, which apt installs
# over the old one; the same sources make the same package, which apt leaves alone.
# CACHE/KEY/ holds the package (deb-cache.sh).
#
# Why on the controller: the runner builds there in seconds; on a small device it needs
# a compiler and minutes of apt first.
set -euo pipefail
me=build-runner-deb.sh
# shellcheck source-path=SCRIPTDIR source=deb-cache.sh
. "$(dirname "$0")/deb-cache.sh"

action=${1:-}
shift || true
source_dir=
cache_root=
while [ $# -gt 0 ]; do
	case $1 in
	--source) source_dir=$2; shift 2 ;;
	--cache) cache_root=$2; shift 2 ;;
	*) echo "$me: unknown option $1" >&2; exit 2 ;;
	esac
done

[ "$action" = build ] || die "usage: build-runner-deb.sh build --source DIR --cache DIR"
[ -r "$source_dir/Makefile" ] || die "no Makefile in the runner source '$source_dir'"
version=$(sed -n 's/^VERSION = \([0-9][0-9A-Za-z.~+-]*\)$/\1/p' "$source_dir/Makefile")
[ -n "$version" ] || die "$source_dir/Makefile sets no VERSION = N.N.N"
[ -n "$cache_root" ] || die "give --cache DIR"
missing=
for tool in make cc dpkg-deb dpkg-shlibdeps; do
	command -v "$tool" > /dev/null || missing="$missing $tool"
done
[ -z "$missing" ] || die "the controller lacks${missing}: install build-essential and dpkg-dev (apt-get install build-essential dpkg-dev)"

mapfile -t sources < <(cd "$source_dir" && find . -maxdepth 1 -type f \
	\( -name '*.[ch]' -o -name Makefile \) -printf '%P\n' | LC_ALL=C sort)
deb_cache_key < <(printf "source $source_dir/%s\n" "${sources[@]}")
deb_cache_hit "$cache_root"
deb_cache_workdir "$cache_root"
mkdir "$work/src"
for f in "${sources[@]}"; do
	cp "$source_dir/$f" "$work/src/$f"
done
if ! make -C "$work/src" oomgs-runner > "$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "the runner did not build"
fi

pkg=$work/pkg
install -D -m 0755 "$work/src/oomgs-runner" "$pkg/usr/sbin/oomgs-runner"
# dpkg-shlibdeps reads the package's name from debian/control in the folder it runs in.
mkdir "$work/debian"
printf 'Source: oomgs-runner\n\nPackage: oomgs-runner\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O pkg/usr/sbin/oomgs-runner 2> "$work/shlibdeps.log") \
	|| { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
depends=${depends#shlibs:Depends=}
arch=$(dpkg --print-architecture)
mkdir -p "$pkg/DEBIAN"
cat > "$pkg/DEBIAN/control" <<EOF
Package: oomgs-runner
Version: $version+$key
Architecture: $arch
Maintainer: oom.graceful_shutdown <root@localhost>
Depends: $depends
Section: admin
Priority: optional
Description: handler runner of oom.graceful_shutdown
 Runs the handlers that processes registered in /proc/graceful_shutdown
 for their out-of-memory kill, bounded in time and memory. The service unit
 comes from the Ansible role oom.graceful_shutdown.daemon.
EOF
mkdir "$work/out"
SOURCE_DATE_EPOCH=0 dpkg-deb --root-owner-group --build "$pkg" "$work/out/oomgs-runner_$version+${key}_$arch.deb" > /dev/null
deb_cache_store "$cache_root"
