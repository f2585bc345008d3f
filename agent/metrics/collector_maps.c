// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "metrics/collector_maps.h"

void stat_sum_percpu(struct kvs_stat *sum, const void *percpu, int ncpu, size_t stride)
{
	for (int c = 0; c < ncpu; c++) {
		const struct kvs_stat *v =
		    (const void *)((const char *)percpu + (size_t)c * stride);

		sum->count += v->count;
		sum->sum_ns += v->sum_ns;
		sum->disk_ns += v->disk_ns;
		for (int b = 0; b <= KVS_MAX_BUCKETS; b++)
			sum->buckets[b] += v->buckets[b];
	}
}

int gauge_newest_percpu(const struct kvs_gauge_val *percpu, int ncpu, uint64_t *value)
{
	uint64_t newest = 0;
	int found = 0;

	for (int c = 0; c < ncpu; c++) {
		if (percpu[c].ts_ns && percpu[c].ts_ns >= newest) {
			newest = percpu[c].ts_ns;
			*value = percpu[c].value;
			found = 1;
		}
	}
	return found;
}

static int push_stat(struct map_snapshot *s, size_t *cap, const struct kvs_stat_key *key,
		     const struct kvs_stat *val)
{
	if (s->nstats == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct stat_entry *grown = realloc(s->stats, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->stats = grown;
		*cap = ncap;
	}
	s->stats[s->nstats].key = *key;
	s->stats[s->nstats].val = *val;
	s->nstats++;
	return 0;
}

static int read_stats(struct map_snapshot *s, int fd, int ncpu)
{
	size_t stride = (sizeof(struct kvs_stat) + 7) & ~7ul, cap = 0;
	struct kvs_stat_key key, next;
	void *percpu = calloc((size_t)ncpu, stride);
	int rc = 0;
	void *prev = NULL;

	if (!percpu)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kvs_stat sum = {0};

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, percpu))
			continue; /* deleted meanwhile */
		stat_sum_percpu(&sum, percpu, ncpu, stride);
		rc = push_stat(s, &cap, &key, &sum);
		if (rc)
			break;
	}
	free(percpu);
	return rc;
}

static int read_gauges(struct map_snapshot *s, int fd, int ncpu)
{
	struct kvs_gauge_val *percpu = calloc((size_t)ncpu, sizeof(*percpu));
	struct kvs_gauge_key key, next;
	void *prev = NULL;

	if (!percpu)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		uint64_t v;

		key = next;
		prev = &key;
		if (key.target >= KVS_MAX_TARGETS || key.gauge >= KVS_GAUGE_COUNT)
			continue;
		if (bpf_map_lookup_elem(fd, &key, percpu))
			continue;
		if (gauge_newest_percpu(percpu, ncpu, &v)) {
			s->gauges[key.target][key.gauge] = v;
			s->gauge_seen[key.target][key.gauge] = 1;
		}
	}
	free(percpu);
	return 0;
}

static int read_lost(struct map_snapshot *s, int fd, int ncpu)
{
	uint64_t *percpu = calloc((size_t)ncpu, sizeof(*percpu));

	if (!percpu)
		return -ENOMEM;
	for (uint32_t r = 0; r < KVS_LOST_COUNT; r++) {
		if (bpf_map_lookup_elem(fd, &r, percpu))
			continue;
		for (int c = 0; c < ncpu; c++)
			s->lost[r] += percpu[c];
	}
	free(percpu);
	return 0;
}

int map_snapshot__read(struct map_snapshot *s, int stats_fd, int gauges_fd, int lost_fd)
{
	int ncpu = libbpf_num_possible_cpus();
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (ncpu <= 0)
		return -1;
	rc |= read_stats(s, stats_fd, ncpu);
	rc |= read_gauges(s, gauges_fd, ncpu);
	rc |= read_lost(s, lost_fd, ncpu);
	return rc ? -1 : 0;
}

void map_snapshot__free(struct map_snapshot *s)
{
	free(s->stats);
	s->stats = NULL;
	s->nstats = 0;
}
