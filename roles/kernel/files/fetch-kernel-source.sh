#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch a kernel source tarball from another suite of the build host's own
# Debian mirror, without touching the host's apt sources or installing
# anything: for series the host's release does not ship (linux-source-7.2 is in
# trixie-backports and testing; a Debian 12 build host has 6.1 and 6.12).
#
#   fetch-kernel-source.sh SUITE PACKAGE CACHE_DIR
#
# Reads the mirror from the host's apt sources (the first URI that is not a
# security one), writes a private apt list for SUITE under CACHE_DIR/apt-SUITE/
# (signatures checked with the host's Debian archive keyring), downloads the
# newest PACKAGE of SUITE and unpacks its tarball to
# CACHE_DIR/PACKAGE_VERSION/linux-source-X.Y.tar.xz, once per version.
# Prints that path (the last line). Exits non-zero, saying why, when the suite
# or the package cannot be had.
set -euo pipefail

die() {
	echo "fetch-kernel-source.sh: $*" >&2
	exit 1
}

[ $# -eq 3 ] || die "usage: fetch-kernel-source.sh SUITE PACKAGE CACHE_DIR"
suite=$1
package=$2
cache=$3
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "not a Debian suite name: '$suite'"
[[ $package =~ ^linux-source-[0-9]+\.[0-9]+$ ]] || die "not a kernel source package: '$package'"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring is missing (install debian-archive-keyring)"

mirror=
for f in /etc/apt/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
	[ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || die "no Debian mirror found in the host's apt sources"

state=$cache/apt-$suite
mkdir -p "$state/lists/partial" "$state/archives/partial"
echo "deb [signed-by=$keyring] $mirror $suite main" > "$state/sources.list"
apt_opts=(
	-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state" -o Dir::State::status=/dev/null
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root
)
apt-get -q "${apt_opts[@]}" update >&2 || die "apt-get update of suite $suite failed"
version=$({ apt-cache "${apt_opts[@]}" show "$package" 2>/dev/null || true; } |
	awk '/^Version:/ {print $2}' | sort -V | tail -n 1)
[ -n "$version" ] || die "suite $suite has no package $package"

series=${package#linux-source-}
dest=$cache/${package}_$version
tarball=$dest/linux-source-$series.tar.xz
if [ ! -r "$tarball" ]; then
	work=$(mktemp -d "$cache/.fetch-XXXXXX")
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && apt-get -q "${apt_opts[@]}" download "$package=$version" >&2) ||
		die "download of $package $version from $suite failed"
	dpkg-deb -x "$work"/*.deb "$work/root"
	[ -r "$work/root/usr/src/linux-source-$series.tar.xz" ] ||
		die "$package $version has no usr/src/linux-source-$series.tar.xz"
	mkdir -p "$work/out"
	mv "$work/root/usr/src/linux-source-$series.tar.xz" "$work/out/"
	rm -rf "$dest"
	mv "$work/out" "$dest"
	echo "fetch-kernel-source.sh: $package $version from $suite" >&2
fi
echo "$tarball"
