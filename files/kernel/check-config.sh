#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# check-config.sh CONFIG FRAGMENT [FRAGMENT...]
#
# Checks that every setting of the fragments survived "make olddefconfig"
# in the kernel .config CONFIG:
#   CONFIG_FOO=value         CONFIG must contain exactly this line
#   # CONFIG_FOO is not set  CONFIG must not set CONFIG_FOO (absent is fine)
# Lists every mismatch (wanted, then what CONFIG has) and exits 1 if there is
# any, 2 on usage errors, 0 when all settings are in CONFIG.

set -u

if [ "$#" -lt 2 ]; then
	echo "usage: $0 CONFIG FRAGMENT [FRAGMENT...]" >&2
	exit 2
fi
config=$1
shift
if [ ! -r "$config" ]; then
	echo "$0: cannot read $config" >&2
	exit 2
fi

bad=0
for fragment in "$@"; do
	if [ ! -r "$fragment" ]; then
		echo "$0: cannot read $fragment" >&2
		exit 2
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		CONFIG_*=*)
			sym=${line%%=*}
			if ! grep -qxF -- "$line" "$config"; then
				have=$(grep -E "^($sym=|# $sym is not set)" "$config")
				echo "MISSING: $line (${have:-absent}) [$fragment]"
				bad=1
			fi
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			have=$(grep -E "^$sym=" "$config")
			if [ -n "$have" ]; then
				echo "MISSING: $line ($have) [$fragment]"
				bad=1
			fi
			;;
		esac
	done < "$fragment"
done

if [ "$bad" -ne 0 ]; then
	echo "$config does not match the fragments" >&2
	exit 1
fi
echo "$config: all fragment settings present"
