/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What happened in one `kvscope trace` interval: the difference of two
 * snapshots of the cumulative BPF maps, grouped per (target, method) for
 * requests and per (target, syscall, file class) for disk syncs, named
 * through the target table. No BPF here, so it is tested on its own.
 */
#ifndef KVSCOPE_TRACE_ROWS_H
#define KVSCOPE_TRACE_ROWS_H

#include <stddef.h>

#include "metrics/collector_maps.h"
#include "probes/disk.h"
#include "discover/targets.h"
#include "cmd/trace_render.h"

/* HTTP-style status of a code read at a request's end, as the profile maps it. */
int trace_status_of(const struct profile *p, unsigned code);
/* The method label's name; "other" when out of the profile's list. */
const char *trace_method_name(const struct profile *p, unsigned label);

/*
 * Requests counted in `cur` but not yet in `prev`, one row per target and
 * method (only `method` when not NULL, compared without case), sorted by
 * target then method. The caller free()s *out. -1 when out of memory.
 */
int trace_rows__methods(const struct stat_entry *cur, size_t ncur, const struct stat_entry *prev,
			size_t nprev, const struct target_table *t, const char *method,
			struct trace_method_row **out, int *n);
/* Disk syncs (fsync, fdatasync, sync_file_range) in `cur` but not in `prev`. */
int trace_rows__disks(const struct disk_entry *cur, size_t ncur, const struct disk_entry *prev,
		      size_t nprev, const struct target_table *t, const struct disk_ctx *dc,
		      struct trace_disk_row **out, int *n);
/* Remembers a request's exact latency as its row's maximum when it is the largest seen. */
void trace_rows__note_latency(struct trace_method_row *rows, int n, const char *target,
			      const char *method, uint64_t latency_ns);

#endif
