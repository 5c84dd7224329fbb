/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/string.h>, for parse_unit.c only. */
#include <string.h>
