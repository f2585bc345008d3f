/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loaded BPF object and its uprobes, always placed through the examined
 * binary's pinned descriptor, so they land on the file that was parsed.
 * A binary on an ordinary file system gets one set for every process that
 * runs it (its dev/ino is the inode uprobes bind to), and the `watched` map
 * says which processes count, under which target. A binary seen through
 * overlayfs gets a set per process, armed in that process alone: uprobes
 * bind to the layer's file underneath, which containers of one image
 * share, so a shared set per overlay inode would count each of them once
 * per container. Site records are per profile probe, shared by all.
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
 * Counts process `pid` under target `slot`, attaching b's sites unless its
 * set is in place. `binary_path` (the process's /proc/PID/exe) must still
 * lead to b's file, unchanged, before and after; otherwise pid is not
 * counted.
 */
int attach__target(struct attach_ctx *ac, uint16_t slot, uint16_t profile_id, pid_t pid,
		   const char *binary_path, const struct binary *b, char *err, size_t errlen);
/*
 * Stops counting `pid`, removing the uprobes it had of its own (each
 * removal waits about 45 ms for a grace period), and drops its unfinished
 * requests. Returns how many were dropped.
 */
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
