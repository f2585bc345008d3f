/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline every command sets up the same way: profiles, the target
 * table, the BPF objects, the binary cache and discovery, torn down in
 * reverse. run and trace add what only they need (HTTP, slow events) on top.
 */
#ifndef KVSCOPE_PIPELINE_H
#define KVSCOPE_PIPELINE_H

#include "cmd/cli.h"
#include "discover/targets.h"
#include "probes/disk.h"
#include "probes/hooks.h"

struct pipeline {
	struct catalog catalog;
	struct target_table targets;
	struct attach_ctx *bpf;
	struct disk_ctx *disk;
	struct binary_cache *binaries;
	struct discovery discovery;
};

/* Histogram bounds for the BPF objects; slow_s > 0 also reports slower requests. */
struct pipeline_opts {
	const double *bounds_s;
	int nbounds;
	double slow_s;
};

/* Everything but the disk probes; fills err with one line on failure. */
int pipeline__open(struct pipeline *p, const struct config *cfg, const struct pipeline_opts *o,
		   char *err, size_t errlen);

/* Disk syscall probes on the best hook this kernel has; the pipeline runs on without. */
int pipeline__open_disk(struct pipeline *p, struct kernel_features *f, enum syscall_hook *hook,
			char *err, size_t errlen);

/* Accepts a pipeline that was never opened, or opened in part. */
void pipeline__close(struct pipeline *p);

#endif
