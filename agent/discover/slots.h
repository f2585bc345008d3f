/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The target table. A target is a name and an identity (owner, executable,
 * cgroup scope); its slot numbers its counters in the BPF maps. A process of
 * the same identity coming back under the same name continues the series; a
 * process of another identity never does, whatever name it claims. A slot
 * whose process has been gone for a set time is given back.
 */
#ifndef KVSCOPE_SLOTS_H
#define KVSCOPE_SLOTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/kvscope_types.h"
#include "discover/cgroup.h"
#include "profile/profile.h"

#define TARGET_NAME_LEN 64

enum attach_error {
	ATTACH_ERR_UNSUPPORTED, /* a store version a profile is for, but a probe does not place */
	ATTACH_ERR_VERSION,	/* a store, but no profile is for its version */
	ATTACH_ERR_PROBE,	/* the kernel refused a uprobe */
	ATTACH_ERR_GONE,	/* the process exited before it was attached */
	ATTACH_ERR_LIMIT,	/* --max-targets reached */
	ATTACH_ERR_NAME,	/* its name and its name-PID are both held by others */
	ATTACH_ERR_BUDGET,	/* a binary over its examination budget (once per binary) */
	ATTACH_ERR_COUNT,
};

/* What the selection policy matched: a process differing in any is another target. */
struct target_identity {
	uid_t uid;
	const char *exe;    /* path as the process's mount namespace sees it */
	const char *cgroup; /* policy__cgroup_scope() of its cgroup */
};

struct target {
	bool used;
	char name[TARGET_NAME_LEN]; /* valid UTF-8 */
	uid_t uid;
	char *exe; /* owned; the identity's strings */
	char *cgroup;
	const struct profile *profile;
	char version[64];
	char container_id[CGROUP_ID_LEN + 1]; /* 64 hex digits, or "" for a host process */
	pid_t pid;
	uint64_t start_time;
	uint64_t seen_ns; /* CLOCK_MONOTONIC when it was looked at: older events are stale */
	bool alive;
	bool attached;
	double gone_at; /* CLOCK_MONOTONIC seconds it was seen gone */
};

struct target_table {
	pthread_mutex_t lock; /* held by discovery while it changes, by scrapes while they read */
	struct target slots[KVS_MAX_TARGETS];
	int max_targets;
	uint64_t attach_errors[ATTACH_ERR_COUNT];
	uint64_t stale_requests; /* started by a process that exited before they ended */
	uint64_t inflight_now;	 /* requests in flight at the last sweep */
	uint64_t reclaimed;	 /* slots given back */
	/* processes already reported, so each is reported once */
	struct {
		pid_t pid;
		uint64_t start_time;
	} reported[256];
	int nreported;
};

enum slot_claim {
	CLAIM_NEW,	  /* a free slot */
	CLAIM_RESUMED,	  /* the slot this identity held under this name */
	CLAIM_FULL,	  /* --max-targets slots are used */
	CLAIM_NAME_TAKEN, /* name and name-PID are held by other identities */
};

void target_table__init(struct target_table *t, int max_targets);
/* Frees what the slots own; the table may be initialized again. */
void target_table__free(struct target_table *t);

/* `raw` as a target name: valid UTF-8, cut on a character to fit. */
void slots__name(const char *raw, char out[TARGET_NAME_LEN]);
/* `name` cut on a character so that "-PID" fits, then "-PID". */
void slots__suffixed(const char *name, pid_t pid, char out[TARGET_NAME_LEN]);
bool slots__same_identity(const struct target *tg, const struct target_identity *id);

/*
 * The slot for process `pid` of identity `id` asking for name `raw`: tries
 * the name, then the name with "-PID" (a live process holds the name, or a
 * gone one of another identity), never more. *slot and `name` are set for
 * CLAIM_NEW and CLAIM_RESUMED. Changes nothing.
 */
enum slot_claim slots__claim(const struct target_table *t, const char *raw,
			     const struct target_identity *id, pid_t pid, int *slot,
			     char name[TARGET_NAME_LEN]);

/* Puts a live process in `slot` (caller holds the lock); -1 when out of memory. */
int slots__occupy(struct target_table *t, int slot, const char *name,
		  const struct target_identity *id, pid_t pid, uint64_t start_time);
/* The slot's process is gone (caller holds the lock). */
void slots__gone(struct target_table *t, int slot, double now);
/* A slot whose process has been gone for at least `after` seconds, or -1. */
int slots__expired(const struct target_table *t, double now, double after);
/* Frees the slot (caller holds the lock). */
void slots__release(struct target_table *t, int slot);
/* The used slot of the live process pid, or -1. */
int slots__find_alive(const struct target_table *t, pid_t pid);
/* Slots in use, alive or gone. */
int slots__used(const struct target_table *t);

#endif
