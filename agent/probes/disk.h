/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syscall probes: disk syncs, reads and writes of watched processes, by
 * file class. Loaded with the hook hooks__choose() picked; shares the
 * `watched` and `inflight` maps of the request probes.
 */
#ifndef KVSCOPE_DISK_H_AGENT
#define KVSCOPE_DISK_H_AGENT

#include <stddef.h>
#include <stdint.h>

#include "probes/attach.h"
#include "probes/hooks.h"
#include "common/kvscope_types.h"
#include "kvscope_disk.h"
#include "profile/profile.h"

struct disk_ctx;

struct disk_entry {
	struct kvs_disk_key key;
	struct kvs_disk_stat val;
};

int disk__open(struct attach_ctx *ac, enum syscall_hook hook, struct disk_ctx **out, char *err,
	       size_t errlen);
void disk__close(struct disk_ctx *dc);

struct catalog;

/*
 * The disk probes on the best hook this kernel offers (*hook says which),
 * with every catalog profile's file rules. *out stays NULL when the kernel
 * offers none; -1 with a reason when loading failed.
 */
int disk__open_best(struct attach_ctx *ac, const struct catalog *cat, struct kernel_features *f,
		    enum syscall_hook *hook, struct disk_ctx **out, char *err, size_t errlen);

/* Loads a profile's file rules under `profile_id`; returns rules skipped (unsupported globs). */
int disk__add_rules(struct disk_ctx *dc, uint16_t profile_id, const struct profile *p);
const char *disk__class_name(const struct disk_ctx *dc, unsigned class_id);
const char *disk__syscall_name(unsigned sc);

/* Deletes every disk counter of a target slot, so the slot starts from zero. */
void disk__forget_target(struct disk_ctx *dc, uint16_t target);

/* Per-CPU sums of every disk counter; free() the array. */
int disk__snapshot(const struct disk_ctx *dc, struct disk_entry **out, size_t *n);

/*
 * The lookup key of a glob like member/wal/ then *.wal: up to three
 * components, the last exact or "*.ext", the others exact. -1 for any other
 * shape (wildcards elsewhere, empty components, more than three).
 */
int disk_rule_from_glob(const char *glob, uint16_t profile, struct kvs_file_rule_key *out);
/* FNV-1a of a whole string, as the BPF side hashes path components. */
uint64_t disk_hash(const char *s, size_t len);

#endif
