/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watched store processes. A target is a stable name (the member name, or
 * comm-pid); its slot numbers its counters in the BPF maps, so a member that
 * restarts under the same name continues its series.
 */
#ifndef KVSCOPE_TARGETS_H
#define KVSCOPE_TARGETS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probes/attach.h"
#include "probes/binary.h"
#include "discover/cgroup.h"
#include "discover/procfs.h"

enum attach_error {
	ATTACH_ERR_UNSUPPORTED, /* a store version a profile is for, but a probe does not place */
	ATTACH_ERR_VERSION,	/* a store, but no profile is for its version */
	ATTACH_ERR_PROBE,	/* the kernel refused a uprobe */
	ATTACH_ERR_GONE,	/* the process exited before it was attached */
	ATTACH_ERR_LIMIT,	/* --max-targets reached */
	ATTACH_ERR_BUDGET,	/* a binary over its examination budget (once per binary) */
	ATTACH_ERR_COUNT,
};

struct target {
	bool used;
	char name[64];
	const struct profile *profile;
	char version[64];
	char exe[256];
	char container_id[CGROUP_ID_LEN + 1]; /* 64 hex digits, or "" for a host process */
	pid_t pid;
	uint64_t start_time;
	bool alive;
	bool attached;
};

struct target_filter {
	const pid_t *pids; /* only these pids, when npids > 0 */
	int npids;
	const char *exe_glob;  /* fnmatch on the executable's path */
	const char *name_glob; /* fnmatch on the target name */
};

struct target_table {
	pthread_mutex_t lock; /* held by discovery while it changes, by scrapes while they read */
	struct target slots[KVS_MAX_TARGETS];
	int max_targets;
	uint64_t attach_errors[ATTACH_ERR_COUNT];
	uint64_t stale_requests; /* started by a process that exited before they ended */
	uint64_t inflight_now;	 /* requests in flight at the last sweep */
	/* processes already reported as unsupported, so each is reported once */
	struct {
		pid_t pid;
		uint64_t start_time;
	} reported[256];
	int nreported;
};

struct discovery {
	struct target_table *table;
	const struct catalog *catalog;
	struct binary_cache *binaries;
	struct attach_ctx *bpf;
	const char *procfs;
	struct target_filter filter;
	pid_t self;
};

const char *attach_error_name(enum attach_error e);

void target_table__init(struct target_table *t, int max_targets);

/* Discovery over the procfs at `procfs`, narrowed by `filter` (copied; its strings are not). */
void discovery__init(struct discovery *d, struct target_table *t, const struct catalog *cat,
		     struct binary_cache *bc, struct attach_ctx *bpf, const char *procfs,
		     const struct target_filter *filter);

/* One pass: notices exits, attaches new store processes. */
void discovery__scan(struct discovery *d);
/* Drops requests in flight for longer than max_age_s (their task is gone). */
void discovery__sweep(struct discovery *d, double max_age_s);

/* The target name a process gets: profile flag, then environment, else comm-pid. */
void target_name_of(const char *procfs, const struct profile *p, const struct proc_ident *id,
		    char *out, size_t outlen);

#endif
