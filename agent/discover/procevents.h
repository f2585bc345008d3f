/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec/exit notifications from the scheduler's tracepoints, through a BPF
 * ring buffer: discovery waits on them instead of polling /proc.
 */
#ifndef KVSCOPE_PROCEVENTS_H
#define KVSCOPE_PROCEVENTS_H

struct procevents;

int procevents__open(struct procevents **out, char *err, unsigned long errlen);
void procevents__close(struct procevents *pe);
/* Waits up to timeout_ms; returns how many events arrived (0 on timeout), -1 on error. */
int procevents__wait(struct procevents *pe, int timeout_ms);

#endif
