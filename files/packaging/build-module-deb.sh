#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build an out-of-tree module (the graceful_shutdown module) for one patched kernel
# as a Debian package, on the build host, against that kernel's headers package,
# once per set of inputs.
#
#   build-module-deb.sh build --headers DEB --source DIR --cache DIR
#        -> prints the path of the package; "build-module-deb.sh: built ..." on
#           stderr when it built one (a cache hit says "cache hit")
#
# The module's name, package name and version come from DIR/dkms.conf (the file
# DKMS reads on devices whose kernel is not ours), so both ways install the same
# module. The package is named PACKAGE_NAME-module-RELEASE (one per kernel
# release, versioned PACKAGE_VERSION+KEY), puts the module in
# /lib/modules/RELEASE/updates/oomgs/, and runs depmod for that release. The key
# is a hash of the headers package, the module sources (*.c, *.h, Kbuild,
# Makefile, dkms.conf), this script and deb-cache.sh (next to it, which keeps
# CACHE/KEY/ with the package).
#
# Why on the build host: the module builds there in seconds against the headers
# package of the kernel just built; DKMS on a small device compiles it for
# minutes and needs the headers and a compiler on every device.
set -euo pipefail
me=build-module-deb.sh
# shellcheck source-path=SCRIPTDIR source=deb-cache.sh
. "$(dirname "$0")/deb-cache.sh"

action=${1:-}
shift || true
headers_deb=
source_dir=
cache_root=
while [ $# -gt 0 ]; do
	case $1 in
	--headers) headers_deb=$2; shift 2 ;;
	--source) source_dir=$2; shift 2 ;;
	--cache) cache_root=$2; shift 2 ;;
	*) echo "$me: unknown option $1" >&2; exit 2 ;;
	esac
done

[ "$action" = build ] || die "usage: build-module-deb.sh build --headers DEB --source DIR --cache DIR"
[ -r "$headers_deb" ] || die "cannot read the headers package '$headers_deb'"
[ -r "$source_dir/dkms.conf" ] || die "no dkms.conf in the module source '$source_dir'"
[ -n "$cache_root" ] || die "give --cache DIR"

conf() {
	sed -n "s/^$1=\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}\$/\\1/p" "$source_dir/dkms.conf" | head -n 1
}
package_name=$(conf PACKAGE_NAME)
package_version=$(conf PACKAGE_VERSION)
module_name=$(conf 'BUILT_MODULE_NAME\[0\]')
if [ -z "$package_name" ] || [ -z "$package_version" ] || [ -z "$module_name" ]; then
	die "$source_dir/dkms.conf lacks PACKAGE_NAME, PACKAGE_VERSION or BUILT_MODULE_NAME[0]"
fi

mapfile -t sources < <(cd "$source_dir" && find . -maxdepth 1 -type f \
	\( -name '*.[ch]' -o -name Kbuild -o -name Makefile -o -name dkms.conf \) -printf '%P\n' | LC_ALL=C sort)
deb_cache_key < <(echo "headers $headers_deb"; printf "source $source_dir/%s\n" "${sources[@]}")
deb_cache_hit "$cache_root"
deb_cache_workdir "$cache_root"
dpkg-deb -x "$headers_deb" "$work/headers"
tree=$(find "$work/headers/usr/src" -mindepth 1 -maxdepth 1 -type d -name 'linux-headers-*' | head -n 1)
[ -n "$tree" ] || die "$headers_deb holds no /usr/src/linux-headers-RELEASE"
release=${tree##*/linux-headers-}
mkdir "$work/src"
for f in "${sources[@]}"; do
	cp "$source_dir/$f" "$work/src/$f"
done
if ! make -C "$tree" M="$work/src" modules > "$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "the module did not build against $release"
fi

pkg=$work/pkg
install -D -m 0644 "$work/src/$module_name.ko" "$pkg/lib/modules/$release/updates/oomgs/$module_name.ko"
mkdir -p "$pkg/DEBIAN"
deb_name=$package_name-module-$release
deb_version=$package_version+$key
cat > "$pkg/DEBIAN/control" <<EOF
Package: $deb_name
Version: $deb_version
Architecture: $(dpkg --print-architecture)
Maintainer: oom.graceful_shutdown <root@localhost>
Depends: linux-image-$release
Section: kernel
Priority: optional
Description: $module_name module for Linux $release
 The $module_name kernel module ($package_name $package_version), built
 against the headers of kernel $release on its build host.
EOF
for script in postinst postrm; do
	printf '#!/bin/sh\nset -e\nif [ -d /lib/modules/%s ]; then depmod -a %s; fi\n' "$release" "$release" > "$pkg/DEBIAN/$script"
	chmod 0755 "$pkg/DEBIAN/$script"
done
mkdir "$work/out"
SOURCE_DATE_EPOCH=0 dpkg-deb --root-owner-group --build "$pkg" "$work/out/${deb_name}_${deb_version}_$(dpkg --print-architecture).deb" > /dev/null
deb_cache_store "$cache_root"
