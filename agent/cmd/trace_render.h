/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `kvscope trace` prints: per-interval latency histograms in
 * power-of-two rows, quantiles interpolated inside a bucket as Prometheus'
 * histogram_quantile() does, disk syncs, and slow requests one per line;
 * as text for a terminal or as one JSON object per line for scripts.
 * Pure: everything is written to the FILE given.
 */
#ifndef KVSCOPE_TRACE_RENDER_H
#define KVSCOPE_TRACE_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/kvscope_types.h"
#include "kvscope_disk.h"

#define TRACE_BAR_WIDTH	  40
#define TRACE_MAX_STATUS  8
#define TRACE_POW2_BOUNDS 25 /* 1 us .. 2^24 us (16.8 s) */

struct trace_status_count {
	int status;
	uint64_t count;
};

/* One target's requests of one method in one interval. */
struct trace_method_row {
	char target[64];
	char method[48];
	uint64_t count;
	uint64_t sum_ns;
	uint64_t disk_ns;
	uint64_t buckets[KVS_MAX_BUCKETS + 1]; /* (bound[i-1], bound[i]] in us; last +Inf */
	struct trace_status_count status[TRACE_MAX_STATUS];
	int nstatus;
	uint64_t max_ns; /* exact slowest request, from slow events; 0 when unknown */
};

/* One target's syncs of one syscall on one file class in one interval. */
struct trace_disk_row {
	char target[64];
	const char *syscall;
	const char *class;
	uint64_t count;
	uint64_t sum_ns;
	uint64_t buckets[KVS_DISK_BUCKETS + 1];
};

struct trace_interval {
	double wall_s;		 /* end of the interval, seconds since the epoch */
	double length_s;	 /* how long it was */
	const double *bounds_us; /* request histogram bounds */
	int nbounds;
	struct trace_method_row *methods;
	int nmethods;
	struct trace_disk_row *disks;
	int ndisks;
};

struct trace_slow {
	double wall_s;
	char target[64];
	int pid;
	char method[48];
	int status;
	uint64_t latency_ns;
	uint64_t disk_ns;
	uint64_t offcpu_ns;
	bool offcpu_known; /* thread-keyed stores only */
};

/* The power-of-two bounds 1, 2, 4, ... 2^(n-1) (microseconds). */
void trace_pow2_bounds(double *out, int n);

/*
 * The q-quantile of non-cumulative counts[0..nbounds] (the last is +Inf):
 * linear inside its bucket, the first bucket starting at 0, the highest
 * finite bound when it falls in +Inf. -1 when there are no observations.
 */
double trace_quantile(const uint64_t *counts, const double *bounds, int nbounds, double q);
/* Index of the highest non-empty bucket, -1 when all are empty. */
int trace_highest_bucket(const uint64_t *counts, int nbuckets);
/* The largest a request of the row can have taken (us), and whether it is exact. */
double trace_row_max_us(const struct trace_method_row *r, const double *bounds, int nbounds,
			bool *exact);
/* Adds `n` requests of `status` to the row's status counts (the last slot folds the rest). */
void trace_row_add_status(struct trace_method_row *r, int status, uint64_t n);

/* `width` columns of '*' proportional to count/max, padded with spaces. */
void trace_bar(char *out, size_t outlen, uint64_t count, uint64_t max, int width);
/* The rows of a histogram from its first to its last non-empty bucket. */
void trace_print_hist(FILE *f, const char *unit, const uint64_t *counts, const double *bounds,
		      int nbounds);
/* `s` as a JSON string, quotes included. */
void trace_json_string(FILE *f, const char *s);
/* A latency for people: "512us", "1.25ms", "2.10s". */
void trace_format_duration(char *out, size_t outlen, double us);

void trace_render_interval_text(FILE *f, const struct trace_interval *iv);
void trace_render_interval_json(FILE *f, const struct trace_interval *iv);
void trace_render_slow_header(FILE *f);
void trace_render_slow_text(FILE *f, const struct trace_slow *s);
void trace_render_slow_json(FILE *f, const struct trace_slow *s);

#endif
