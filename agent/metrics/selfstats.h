/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's own process metrics, as every Prometheus exporter has them.
 */
#ifndef KVSCOPE_SELFSTATS_H
#define KVSCOPE_SELFSTATS_H

#include <stdint.h>

#include "metrics/expo.h"

/*
 * process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds, read from `proc_root`/self (normally "/proc").
 * A file that cannot be read drops its metric, never the scrape.
 */
void selfstats__write(struct expo *out, const char *proc_root);

/* The fields of `/proc/<pid>/stat` the process metrics need. */
struct proc_stat {
	uint64_t utime_ticks;	  /* field 14 */
	uint64_t stime_ticks;	  /* field 15 */
	uint64_t starttime_ticks; /* field 22, since boot */
	uint64_t vsize_bytes;	  /* field 23 */
	uint64_t rss_pages;	  /* field 24 */
};

/* `proc_root`/`who`/stat and the entries of `proc_root`/`who`/fd ("self" or a pid); 0 or -1. */
int selfstats__read_stat(const char *proc_root, const char *who, struct proc_stat *out);
int selfstats__count_fds(const char *proc_root, const char *who, uint64_t *out);

/* Parsers of whole file contents; each returns 0, or -1 on malformed input. */
int selfstats_parse_stat(const char *buf, struct proc_stat *out);
/* The `btime` line of `/proc/stat`: boot time, seconds since the epoch. */
int selfstats_parse_btime(const char *buf, uint64_t *out);
/* The soft limit on the "Max open files" line of `/proc/<pid>/limits`. */
int selfstats_parse_max_fds(const char *buf, uint64_t *out);

#endif
