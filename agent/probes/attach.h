/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loaded BPF object and its uprobes. Sites are attached once per binary
 * (inode) for every process that runs it; the `watched` map says which
 * processes count and under which target. So a process joins or leaves in
 * one map update, while removing a uprobe costs a grace period (~90 ms).
 */
#ifndef KVSCOPE_ATTACH_H
#define KVSCOPE_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include "probes/binary.h"

struct bpf_maps {
	int stats_fd;
	int gauges_fd;
	int lost_fd;
	int inflight_fd;
	int watched_fd;
};

struct attach_ctx;

/* Loads the BPF object with the histogram bounds (seconds, ascending). */
int attach__open(const double *bounds_s, int nbounds, struct attach_ctx **out, char *err,
		 size_t errlen);
/* The same, also sending requests slower than slow_s to the slow_events ring buffer. */
int attach__open_slow(const double *bounds_s, int nbounds, double slow_s, struct attach_ctx **out,
		      char *err, size_t errlen);
/* The slow_events ring buffer's map fd (for ring_buffer__new). */
int attach__slow_events_fd(const struct attach_ctx *ac);
/* Removes every uprobe and unloads. */
void attach__close(struct attach_ctx *ac);
void attach__maps(const struct attach_ctx *ac, struct bpf_maps *out);

/*
 * Counts process `pid` under target `slot`: attaches the sites of its binary
 * `b` (opened through `binary_path`) unless that binary already has them.
 */
int attach__target(struct attach_ctx *ac, uint16_t slot, uint16_t profile_id, pid_t pid,
		   const char *binary_path, const struct binary *b, char *err, size_t errlen);
/* Stops counting `pid`; drops its unfinished requests. Returns how many were dropped. */
int attach__untarget(struct attach_ctx *ac, pid_t pid);
/*
 * Deletes requests in flight for more than max_age_ns (a goroutine or thread
 * that died mid-request); returns how many, and how many remain.
 */
int attach__sweep(struct attach_ctx *ac, uint64_t max_age_ns, int *remaining);
/* Number of uprobes in place. */
int attach__links(const struct attach_ctx *ac);

struct bpf_map;

/* Makes another object's `watched` and `inflight` these maps (before it loads). */
int attach__share_maps(const struct attach_ctx *ac, struct bpf_map *watched,
		       struct bpf_map *inflight);

/* Hashes of the profile's method names and error words, for run-time names. */
int attach__labels(struct attach_ctx *ac, uint16_t profile_id, const struct profile *p);
/* The same for every profile of a catalog, numbered by their place in it. */
int attach__catalog_labels(struct attach_ctx *ac, const struct catalog *cat);

/* The site record a probe becomes at one resolved site (exposed for tests). */
void attach__site_record(const struct profile *p, const struct profile_probe *probe,
			 const struct resolved_site *rs, struct kvs_site *out);

#endif
