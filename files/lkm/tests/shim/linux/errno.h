/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/errno.h>, for parse_unit.c only. */
#include_next <linux/errno.h>
