/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/kernel.h>, for parse_unit.c only. */
#ifndef GS_SHIM_LINUX_KERNEL_H
#define GS_SHIM_LINUX_KERNEL_H
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
