/* SPDX-License-Identifier: GPL-2.0 */
/* The runner's log: one line on stderr (the journal) with a syslog priority prefix. */
#ifndef OOMGS_SAY_H
#define OOMGS_SAY_H

void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
