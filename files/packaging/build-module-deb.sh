#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the graceful_shutdown module as a Debian package, on the build host, once
# per set of inputs, in one of two forms:
#
#   build-module-deb.sh build --headers DEB --source DIR --cache DIR
#        the module built for one patched kernel, against that kernel's headers
#        package: PACKAGE_NAME-module-RELEASE, the module in
#        /lib/modules/RELEASE/updates/oomgs/, depmod for that release
#   build-module-deb.sh dkms --source DIR --cache DIR
#        the module's source for DKMS, for the kernels that are not ours (a
#        distribution kernel and its updates): PACKAGE_NAME-dkms, the source in
#        /usr/src/PACKAGE_NAME-PACKAGE_VERSION/; its postinst hands it to DKMS,
#        which builds it for the running and the newest kernel with headers and,
#        through DKMS's own kernel hooks, for every kernel installed later with its
#        headers; its prerm removes DKMS's builds (upgrade, removal)
#
# Both print the path of the package; "build-module-deb.sh: built ..." on stderr
# when they built one (a cache hit says "cache hit").
#
# The module's name, package name and version come from DIR/dkms.conf (the file
# DKMS reads), so both forms install the same module. A package is versioned
# PACKAGE_VERSION+KEY. The key is a hash of the module sources (*.c, *.h, Kbuild,
# Makefile, dkms.conf), the headers package (build), this script and deb-cache.sh
# (next to it, which keeps CACHE/KEY/ with the package).
#
# Why on the build host: the module builds there in seconds against the headers
# package of the kernel just built; DKMS on a small device compiles it for
# minutes and needs the headers and a compiler on every device. Distribution
# kernels change under the fleet (apt upgrade), so there DKMS builds it.
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

case $action in
build) [ -r "$headers_deb" ] || die "cannot read the headers package '$headers_deb'" ;;
dkms) ;;
*) die "usage: build-module-deb.sh build --headers DEB --source DIR --cache DIR | dkms --source DIR --cache DIR" ;;
esac
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

# The source package for DKMS: the maintainer scripts are those that Debian's
# dh_dkms writes (common.postinst removes an older build of the same version first).
build_dkms_package() {
	local pkg=$work/pkg deb_name=$package_name-dkms f
	for f in "${sources[@]}"; do
		install -D -m 0644 "$source_dir/$f" "$pkg/usr/src/$package_name-$package_version/$f"
	done
	mkdir -p "$pkg/DEBIAN"
	cat > "$pkg/DEBIAN/control" <<-EOF
	Package: $deb_name
	Version: $package_version+$key
	Architecture: all
	Maintainer: oom.graceful_shutdown <root@localhost>
	Depends: dkms
	Section: kernel
	Priority: optional
	Description: $module_name module source for DKMS
	 The $module_name kernel module ($package_name $package_version) as source
	 for DKMS, which builds it for distribution kernels, and again for each
	 kernel update that comes with its headers.
	EOF
	cat > "$pkg/DEBIAN/postinst" <<-EOF
	#!/bin/sh
	set -e
	if [ "\$1" = configure ]; then
	    /usr/lib/dkms/common.postinst $package_name $package_version /usr/share/$deb_name "" "\$2"
	fi
	EOF
	cat > "$pkg/DEBIAN/prerm" <<-EOF
	#!/bin/sh
	set -e
	case "\$1" in
	remove | upgrade | deconfigure)
	    if [ -n "\$(dkms status -m $package_name -v $package_version)" ]; then
	        dkms remove -m $package_name -v $package_version --all
	    fi
	    ;;
	esac
	EOF
	chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm"
	SOURCE_DATE_EPOCH=0 dpkg-deb --root-owner-group --build "$pkg" \
		"$work/out/${deb_name}_$package_version+${key}_all.deb" > /dev/null
}

mapfile -t sources < <(cd "$source_dir" && find . -maxdepth 1 -type f \
	\( -name '*.[ch]' -o -name Kbuild -o -name Makefile -o -name dkms.conf \) -printf '%P\n' | LC_ALL=C sort)
deb_cache_key < <(if [ "$action" = build ]; then echo "headers $headers_deb"; fi
	printf "source $source_dir/%s\n" "${sources[@]}")
deb_cache_hit "$cache_root"
deb_cache_workdir "$cache_root"
mkdir "$work/out"
if [ "$action" = dkms ]; then
	build_dkms_package
	deb_cache_store "$cache_root"
	exit 0
fi
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
SOURCE_DATE_EPOCH=0 dpkg-deb --root-owner-group --build "$pkg" "$work/out/${deb_name}_${deb_version}_$(dpkg --print-architecture).deb" > /dev/null
deb_cache_store "$cache_root"
