#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the registration CLI, its library and its units as a Debian package, on the
# controller, once per set of inputs.
#
#   build-registrations-deb.sh build --source-root DIR --cache DIR
#        -> prints the path of the package; "build-registrations-deb.sh: built ..." on stderr
#           when it built one (a cache hit says "cache hit")
#
# DIR is the collection's root (a checkout, or the collection as ansible-galaxy installed it).
# The package oomgs-registrations (Architecture: all, Depends: python3) holds
#   /usr/sbin/oomgs-register                        roles/registrations/files/oomgs-register
#   /usr/lib/oomgs/oomgs_registry/registry*.py      plugins/module_utils/registry*.py, unchanged
#                                                   (a namespace package: no __init__.py)
#   /usr/lib/systemd/system/oomgs-registrations.service and .timer
#                                                   roles/registrations/files/, static (every 15s)
# and a prerm that removes the __pycache__ Python writes beside the library (it belongs to no
# package; and the library's files all have the mtime 0, so a cache left over an upgrade could be
# taken for the new files'). No maintainer script enables or starts a unit: the role
# oom.graceful_shutdown.registrations does, and writes the timer's interval drop-in.
#
# Its version is VERSION+KEY: VERSION the collection's (galaxy.yml's version:, or MANIFEST.json's
# in an installed collection, which has no galaxy.yml; a SemVer pre-release 1.0.0-rc.1 becomes
# 1.0.0~rc.1), KEY a hash of VERSION, every packaged file, this script and deb-cache.sh: a changed
# file makes a new version, which apt installs over the old one; the same files make the same
# package (SOURCE_DATE_EPOCH=0, owner root, files in a fixed order), which apt leaves alone.
# CACHE/KEY/ holds the package (deb-cache.sh).
set -euo pipefail
umask 022  # the modes of the folders in the package
me=build-registrations-deb.sh
# shellcheck source-path=SCRIPTDIR source=deb-cache.sh
. "$(dirname "$0")/deb-cache.sh"

action=${1:-}
shift || true
root=
cache_root=
while [ $# -gt 0 ]; do
	case $1 in
	--source-root) root=$2; shift 2 ;;
	--cache) cache_root=$2; shift 2 ;;
	*) echo "$me: unknown option $1" >&2; exit 2 ;;
	esac
done

[ "$action" = build ] || die "usage: build-registrations-deb.sh build --source-root DIR --cache DIR"
[ -n "$root" ] || die "give --source-root DIR (the collection's root)"
[ -n "$cache_root" ] || die "give --cache DIR"
files=$root/roles/registrations/files
cli=$files/oomgs-register
units=(oomgs-registrations.service oomgs-registrations.timer)
for f in "$cli" "${units[@]/#/$files/}"; do
	[ -r "$f" ] || die "$f is missing: is '$root' the collection's root?"
done
mapfile -t library < <(cd "$root/plugins/module_utils" && find . -maxdepth 1 -type f -name 'registry*.py' \
	-printf '%P\n' | LC_ALL=C sort)
[ "${#library[@]}" -gt 0 ] || die "no registry*.py in $root/plugins/module_utils"

if [ -r "$root/galaxy.yml" ]; then
	version=$(sed -n "s/^version:[[:space:]]*[\"']\{0,1\}\([^\"' ]*\)[\"']\{0,1\}[[:space:]]*\$/\1/p" "$root/galaxy.yml")
	from=galaxy.yml
elif [ -r "$root/MANIFEST.json" ]; then
	version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
		"$root/MANIFEST.json") || version=
	from=MANIFEST.json
else
	die "neither galaxy.yml nor MANIFEST.json in '$root': cannot tell the collection's version"
fi
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]] || die "$root/$from: no version: N.N.N (found '$version')"
version=${version/-/\~}
command -v dpkg-deb > /dev/null || die "the controller lacks dpkg-deb: install dpkg (apt-get install dpkg)"

# The version is an input of its own (its label, as the file /dev/null's hash says nothing).
deb_cache_key < <(
	echo "version=$version /dev/null"
	echo "cli $cli"
	printf "unit $files/%s\n" "${units[@]}"
	printf "library $root/plugins/module_utils/%s\n" "${library[@]}"
)
deb_cache_hit "$cache_root"
deb_cache_workdir "$cache_root"

pkg=$work/pkg
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/usr/lib/oomgs/oomgs_registry" "$pkg/usr/lib/systemd/system"
install -m 0755 "$cli" "$pkg/usr/sbin/oomgs-register"
for f in "${library[@]}"; do
	install -m 0644 "$root/plugins/module_utils/$f" "$pkg/usr/lib/oomgs/oomgs_registry/$f"
done
for f in "${units[@]}"; do
	install -m 0644 "$files/$f" "$pkg/usr/lib/systemd/system/$f"
done
cat > "$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# Python writes __pycache__ beside the library when oomgs-register runs; it belongs to no package.
set -e
rm -rf /usr/lib/oomgs/oomgs_registry/__pycache__
EOF
chmod 0755 "$pkg/DEBIAN/prerm"
(cd "$pkg" && find usr -type f | LC_ALL=C sort | xargs md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"
installed_size=$(du -sk --apparent-size "$pkg/usr" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOF
Package: oomgs-registrations
Version: $version+$key
Architecture: all
Maintainer: oom.graceful_shutdown <root@localhost>
Installed-Size: $installed_size
Depends: python3
Section: admin
Priority: optional
Description: registration CLI of oom.graceful_shutdown
 oomgs-register applies the graceful-shutdown registrations declared in
 /etc/graceful_shutdown/registrations.d to /proc/graceful_shutdown: from a
 service's ExecStartPost drop-in, at boot (oomgs-registrations.service) and
 from a timer (oomgs-registrations.timer). With its library oomgs_registry,
 the same code as the collection's Ansible modules. The role
 oom.graceful_shutdown.registrations enables the units.
EOF
mkdir "$work/out"
SOURCE_DATE_EPOCH=0 dpkg-deb --root-owner-group --build "$pkg" \
	"$work/out/oomgs-registrations_$version+${key}_all.deb" > /dev/null
deb_cache_store "$cache_root"
