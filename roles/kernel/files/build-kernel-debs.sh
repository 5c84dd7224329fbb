#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel as Debian packages, once per set of inputs.
#
#   build-kernel-debs.sh key      OPTIONS   print the cache key of these inputs
#   build-kernel-debs.sh build    OPTIONS   build into CACHE/KEY/ unless it is there; print that folder
#   build-kernel-debs.sh progress OPTIONS   one line on how far a running build of these inputs is
#
# OPTIONS
#   --source FILE         kernel source tarball (e.g. /usr/src/linux-source-6.1.tar.xz)
#   --series DIR          patch series folder (holds "series" and the patches)
#   --base BASE           what the fragments are merged on: minimal (allnoconfig +
#                         kvm_guest.config, the default), defconfig (defconfig +
#                         kvm_guest.config), or the path of a whole .config (e.g. a
#                         distribution's /boot/config-RELEASE)
#   --fragment[=]FILE     config fragment merged on the base (repeatable)
#   --localversion STR    prefix of CONFIG_LOCALVERSION (e.g. -oomgs); the build
#                         appends the first 8 characters of its key, so that the
#                         release names the build: 6.1.192-oomgs-adf2fae1
#   --cache DIR           cache root: debs go to DIR/KEY/; the compiler cache is
#                         $CCACHE_DIR (default DIR/../ccache)
#   --jobs N              parallel make jobs (default: nproc)
#
# The key is a hash of the source tarball, the patches, the base, the
# fragments, the local version, the architecture and this script (and check-config.sh beside
# it), so a fleet builds once and a rerun builds nothing. CACHE/KEY/ holds
# linux-image-*.deb, linux-headers-*.deb, build.log and build.env
# (KEY, KERNEL_RELEASE, KERNEL_PKG_VERSION, BUILD_SECONDS); it is renamed into
# place only when complete.
#
# Why the key is in the release: two builds of one release would share
# /lib/modules/RELEASE and /boot/vmlinuz-RELEASE, so installing the second
# would overwrite the running kernel's modules and a device could not tell
# from `uname -r` whether it runs the new build or the old one.  With the key
# in the release, each build installs beside the previous one (which stays as
# the fallback) and `uname -r` names the build that runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
action=${1:-}
shift || true
source_tarball=
series_dir=
fragments=()
base=minimal
localversion=-oomgs
cache_root=
jobs=$(nproc)

while [ $# -gt 0 ]; do
	case $1 in
	--source) source_tarball=$2; shift 2 ;;
	--series) series_dir=$2; shift 2 ;;
	--base) base=$2; shift 2 ;;
	--fragment) fragments+=("$2"); shift 2 ;;
	--fragment=*) fragments+=("${1#--fragment=}"); shift ;;
	--localversion) localversion=$2; shift 2 ;;
	--cache) cache_root=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	*) echo "build-kernel-debs.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

die() { echo "build-kernel-debs.sh: $*" >&2; exit 1; }
case $action in
key | build | progress) ;;
*) die "usage: build-kernel-debs.sh key|build|progress OPTIONS (see its header)" ;;
esac
[ -r "$source_tarball" ] || die "cannot read the source tarball '$source_tarball'"
[ -r "$series_dir/series" ] || die "no series file in '$series_dir'"
[ "${#fragments[@]}" -gt 0 ] || die "give at least one --fragment"
for f in "${fragments[@]}"; do
	[ -r "$f" ] || die "cannot read the config fragment '$f'"
done
case $base in
minimal | defconfig) ;;
/*) [ -r "$base" ] || die "cannot read the base config '$base'" ;;
*) die "--base must be minimal, defconfig or an absolute path of a .config (got '$base')" ;;
esac
[[ $localversion =~ ^-[a-z0-9.+-]+$ ]] || die "--localversion must start with '-' and use only [a-z0-9.+-] (got '$localversion')"

mapfile -t patches < <(grep -v -e '^#' -e '^[[:space:]]*$' "$series_dir/series")

compute_key() {
	{
		echo "source $(sha256sum < "$source_tarball" | cut -d' ' -f1)"
		for p in "${patches[@]}"; do
			echo "patch $p $(sha256sum < "$series_dir/$p" | cut -d' ' -f1)"
		done
		case $base in
		/*) echo "base file $(sha256sum < "$base" | cut -d' ' -f1)" ;;
		*) echo "base $base" ;;
		esac
		for f in "${fragments[@]}"; do
			echo "fragment $(basename "$f") $(sha256sum < "$f" | cut -d' ' -f1)"
		done
		echo "localversion $localversion"
		echo "arch $(dpkg --print-architecture)"
		echo "script $(sha256sum < "$0" | cut -d' ' -f1)"
		echo "check-config $(sha256sum < "$here/check-config.sh" | cut -d' ' -f1)"
	} | sha256sum | cut -c1-16
}

key=$(compute_key)
if [ "$action" = key ]; then
	echo "$key"
	exit 0
fi

[ -n "$cache_root" ] || die "give --cache DIR"
# How many files a build of this source on this base compiles, from the last finished one.
count_file=$cache_root/.compiled-$(basename "$source_tarball" .tar.xz)-$(basename "$base")

if [ "$action" = progress ]; then
	log=$cache_root/.work-$key/build.log
	if [ -r "$cache_root/$key/build.env" ]; then
		echo "finished"
	elif [ ! -r "$log" ]; then
		echo "starting"
	else
		compiled=$(grep -c '^  CC ' "$log" || true)
		expected=$(cat "$count_file" 2>/dev/null || true)
		share=
		if [ -n "$expected" ] && [ "$expected" -gt 0 ]; then
			share=" of about $expected ($((compiled * 100 / expected))%)"
		fi
		echo "$compiled files compiled$share; last: $(tail -n 1 "$log" | sed 's/^ *//')"
	fi
	exit 0
fi

mkdir -p "$cache_root"
dest=$cache_root/$key
if [ -r "$dest/build.env" ]; then
	echo "build-kernel-debs.sh: cache hit $dest" >&2
	echo "$dest"
	exit 0
fi

exec 9>"$cache_root/.build.lock"
flock 9
if [ -r "$dest/build.env" ]; then
	echo "$dest"
	exit 0
fi

work=$cache_root/.work-$key
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
log=$work/build.log
started=$(date +%s)
step() { echo "build-kernel-debs.sh: [$(($(date +%s) - started)) s] $*" | tee -a "$log" >&2; }

step "unpacking $(basename "$source_tarball")"
tar -C "$work" -xf "$source_tarball"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
cd "$src"
for p in "${patches[@]}"; do
	step "applying $p"
	patch -p1 --fuzz=0 --no-backup-if-mismatch --quiet < "$series_dir/$p" >> "$log"
done

step "configuring: base $base + ${fragments[*]}"
{
	case $base in
	minimal) make allnoconfig kvm_guest.config ;;
	defconfig) make defconfig kvm_guest.config ;;
	*)
		cp "$base" .config
		# A distribution's config names its own signing certificates, which
		# the source package does not ship: build unsigned.
		scripts/config --set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
			--disable MODULE_SIG_ALL
		make olddefconfig
		;;
	esac
	scripts/kconfig/merge_config.sh -m .config "${fragments[@]}"
	make olddefconfig
} >> "$log" 2>&1
"$here/check-config.sh" .config "${fragments[@]}" >> "$log"
scripts/config --set-str LOCALVERSION "$localversion-${key:0:8}" --disable LOCALVERSION_AUTO
make olddefconfig >> "$log" 2>&1

kernel_version=$(make -s kernelversion)
pkg_version="$kernel_version-$(date -u +%Y%m%d%H%M)+$key"
export CCACHE_DIR=${CCACHE_DIR:-$cache_root/../ccache}
export KDEB_PKGVERSION=$pkg_version KBUILD_BUILD_USER=oomgs KBUILD_BUILD_HOST=build
step "make -j$jobs bindeb-pkg (version $pkg_version; log: $log)"
if ! nice -n 10 make -j"$jobs" CC="ccache gcc" bindeb-pkg >> "$log" 2>&1; then
	tail -n 40 "$log" >&2
	cp "$log" "$cache_root/failed-$key.log"
	die "kernel build failed; full log in $cache_root/failed-$key.log"
fi
release=$(make -s kernelrelease)
grep -c '^  CC ' "$log" > "$count_file" || true
cd "$work"
mkdir "$work/out"
mv linux-image-"$release"_*.deb linux-headers-"$release"_*.deb "$work/out/"
mv "$log" "$work/out/build.log"
cat > "$work/out/build.env" <<EOV
KEY=$key
KERNEL_RELEASE=$release
KERNEL_PKG_VERSION=$pkg_version
BUILD_SECONDS=$(($(date +%s) - started))
EOV
mv "$work/out" "$dest"
echo "build-kernel-debs.sh: built $release in $(($(date +%s) - started)) s" >&2
echo "$dest"
