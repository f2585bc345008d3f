/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: which processes become targets. An exec event names the pid to
 * look at, a target's exit event the pid to let go; a periodic scan of /proc
 * is only the safety net for lost events, and does no work for pids it has
 * already seen. The target table itself is in slots.h.
 */
#ifndef KVSCOPE_TARGETS_H
#define KVSCOPE_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probes/attach.h"
#include "probes/binary.h"
#include "probes/disk.h"
#include "discover/pidset.h"
#include "discover/policy.h"
#include "discover/procevents.h"
#include "discover/procfs.h"
#include "discover/slots.h"

struct discovery {
	struct target_table *table;
	const struct catalog *catalog;
	struct binary_cache *binaries;
	struct attach_ctx *bpf;
	struct disk_ctx *disk;	   /* NULL until the disk probes load, or without them */
	struct procevents *events; /* NULL: no events, /proc is polled */
	const char *procfs;
	struct target_policy policy;
	struct pidset seen; /* pids looked at since their last exec */
	uint64_t lost_seen; /* events lost, as of the last scan */
	unsigned scans;
	pid_t self;
};

const char *attach_error_name(enum attach_error e);

/* Discovery over the procfs at `procfs` for the processes `policy` admits (copied; its lists are
 * not). */
void discovery__init(struct discovery *d, struct target_table *t, const struct catalog *cat,
		     struct binary_cache *bc, struct attach_ctx *bpf, const char *procfs,
		     const struct target_policy *policy);
void discovery__close(struct discovery *d);
void discovery__set_events(struct discovery *d, struct procevents *events);
void discovery__set_disk(struct discovery *d, struct disk_ctx *disk);

/* The safety net: notices exits, looks at pids not seen before. */
void discovery__scan(struct discovery *d);
/* Waits up to timeout_ms for process events and acts on each; -1 without events. */
int discovery__wait_events(struct discovery *d, int timeout_ms);
/* What an exec / exit event says (exposed for tests; ts_ns 0 means now). */
void discovery__exec(struct discovery *d, const struct kvs_proc_event *e);
void discovery__exit(struct discovery *d, pid_t pid, uint64_t ts_ns);
/* Drops requests in flight for longer than max_age_s (their task is gone). */
void discovery__sweep(struct discovery *d, double max_age_s);
/* Gives back the slots of targets gone for `after` seconds; returns how many. */
int discovery__reclaim(struct discovery *d, double now, double after);

/* The target name a process asks for: profile flag, then environment, else comm-pid. */
void target_name_of(const char *procfs, const struct profile *p, const struct proc_ident *id,
		    char *out, size_t outlen);

/* CLOCK_MONOTONIC in seconds. */
double discovery_now(void);

#endif
