/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scrape-time aggregation: sums the per-CPU BPF maps and writes every metric
 * family of the exposition.
 */
#ifndef KVSCOPE_COLLECTOR_H
#define KVSCOPE_COLLECTOR_H

#include "probes/attach.h"
#include "probes/disk.h"
#include "metrics/expo.h"
#include "discover/targets.h"

struct collector {
	struct target_table *targets;
	struct bpf_maps maps;
	struct disk_ctx *disk; /* NULL when no syscall hook is available */
	const double *bounds;  /* histogram bounds, seconds */
	int nbounds;
	const char *procfs;
};

/* An http_render_fn. */
void collector__render(void *ctx, struct expo *out);

#endif
