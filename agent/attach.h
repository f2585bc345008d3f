/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loaded BPF object and the uprobes of each target. Each site of a
 * target gets a slot in the `sites` map; its index is the uprobe's cookie.
 */
#ifndef KVSCOPE_ATTACH_H
#define KVSCOPE_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include "binary.h"

struct bpf_link;

struct target_links {
	struct bpf_link **links;
	uint32_t *site_ids;
	int count;
};

struct bpf_maps {
	int stats_fd;
	int gauges_fd;
	int lost_fd;
	int inflight_fd;
};

struct attach_ctx;

/* Loads the BPF object with the histogram bounds (seconds, ascending). */
int attach__open(const double *bounds_s, int nbounds, struct attach_ctx **out, char *err,
		 size_t errlen);
void attach__close(struct attach_ctx *ac);
void attach__maps(const struct attach_ctx *ac, struct bpf_maps *out);

/* Attaches every resolved site of `b` in process `pid`, counted under `slot`. */
int attach__target(struct attach_ctx *ac, uint16_t slot, pid_t pid, const char *binary_path,
		   const struct binary *b, struct target_links *out, char *err, size_t errlen);
void attach__detach(struct attach_ctx *ac, struct target_links *links);

/* The site record a probe becomes for a target (exposed for tests). */
void attach__site_record(const struct profile *p, const struct profile_probe *probe,
			 uint16_t slot, struct kvs_site *out);

#endif
