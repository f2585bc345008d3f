/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of the BPF maps, summed over CPUs.
 */
#ifndef KVSCOPE_COLLECTOR_MAPS_H
#define KVSCOPE_COLLECTOR_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "kvscope.h"

struct stat_entry {
	struct kvs_stat_key key;
	struct kvs_stat val;
};

struct map_snapshot {
	struct stat_entry *stats;
	size_t nstats;
	uint64_t gauges[KVS_MAX_TARGETS][KVS_GAUGE_COUNT];
	uint8_t gauge_seen[KVS_MAX_TARGETS][KVS_GAUGE_COUNT];
	uint64_t lost[KVS_LOST_COUNT];
};

/* Fills a snapshot; returns -1 when a map could not be read (partial snapshot). */
int map_snapshot__read(struct map_snapshot *s, int stats_fd, int gauges_fd, int lost_fd);
void map_snapshot__free(struct map_snapshot *s);

/* Adds the per-CPU values in `percpu` (ncpu entries of `stride` bytes). */
void stat_sum_percpu(struct kvs_stat *sum, const void *percpu, int ncpu, size_t stride);
/* The value with the newest timestamp among ncpu per-CPU gauge values; 0 if none set. */
int gauge_newest_percpu(const struct kvs_gauge_val *percpu, int ncpu, uint64_t *value);

#endif
