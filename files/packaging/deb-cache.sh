# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# The cache of the packages that build-module-deb.sh and build-runner-deb.sh make: one
# folder CACHE/KEY per set of inputs, KEY a hash of the inputs, the calling script and this
# file. Sourced by those scripts (bash), which set $me (their name, for messages) first:
#
#   die MESSAGE                 says "$me: MESSAGE" on stderr and exits the script with 1
#   deb_cache_key < LINES       sets $key from lines "LABEL FILE" (one per input file)
#   deb_cache_hit CACHE         a package in CACHE/$key: prints its path, says "cache hit"
#                               on stderr and exits the script with 0; else returns
#   deb_cache_workdir CACHE     sets $work, a new folder in CACHE removed when the script exits
#   deb_cache_store CACHE       moves $work/out (the built .deb) to CACHE/$key, prints the
#                               package's path and says "built PATH" on stderr
#
# The roles read "built " on stderr as "changed".

me=${me:-${0##*/}}

die() {
	echo "$me: $*" >&2
	exit 1
}

deb_cache_key() {
	local label file
	key=$({
		while read -r label file; do
			echo "$label ${file##*/} $(sha256sum < "$file" | cut -d' ' -f1)"
		done
		echo "script $(sha256sum < "$0" | cut -d' ' -f1)"
		echo "cache $(sha256sum < "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
	} | sha256sum | cut -c1-16)
}

deb_cache_package() {
	[ -d "$1/$key" ] && find "$1/$key" -maxdepth 1 -name '*.deb' | head -n 1
}

deb_cache_hit() {
	local found
	found=$(deb_cache_package "$1") || true
	if [ -n "$found" ]; then
		echo "$me: cache hit $found" >&2
		echo "$found"
		exit 0
	fi
}

deb_cache_workdir() {
	mkdir -p "$1"
	work=$(mktemp -d "$1/.work-$key.XXXXXX")
	# shellcheck disable=SC2064  # $work is expanded now, on purpose
	trap "rm -rf '$work'" EXIT
}

deb_cache_store() {
	local found
	rm -rf "${1:?}/$key"
	mv "$work/out" "$1/$key"
	found=$(deb_cache_package "$1")
	echo "$me: built $found" >&2
	echo "$found"
}
