/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/types.h>, for parse_unit.c only. */
#ifndef GS_SHIM_LINUX_TYPES_H
#define GS_SHIM_LINUX_TYPES_H
#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
typedef uint32_t u32;
typedef uint64_t u64;
#endif
