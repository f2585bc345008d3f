/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec/exit events from the scheduler's tracepoints, through a BPF ring
 * buffer: an exec names the pid to look at, a target's exit the pid to let
 * go. Discovery tells the kernel side which executables are no store (their
 * execs then send nothing) and which pids are targets (only their exits are
 * sent).
 */
#ifndef KVSCOPE_PROCEVENTS_H
#define KVSCOPE_PROCEVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvscope_proc.h"

struct procevents;

typedef void (*procevents_fn)(void *ctx, const struct kvs_proc_event *e);

int procevents__open(struct procevents **out, char *err, unsigned long errlen);
void procevents__close(struct procevents *pe);
/*
 * Waits up to timeout_ms and calls fn for each event that arrived; returns
 * how many (0 on timeout), -1 on error.
 */
int procevents__poll(struct procevents *pe, int timeout_ms, procevents_fn fn, void *ctx);
/* Execs of this executable send nothing from now on. */
void procevents__ignore(struct procevents *pe, const struct kvs_exe_key *exe);
/* Sends the exit of pid (a target), or stops sending it. */
void procevents__track(struct procevents *pe, pid_t pid, bool on);
/* Events lost so far because the ring buffer was full. */
uint64_t procevents__lost(const struct procevents *pe);

/* True when the kernel's key and stat()'s st_dev/st_ino name the same file. */
bool procevents__same_file(const struct kvs_exe_key *exe, dev_t st_dev, ino_t st_ino);

#endif
