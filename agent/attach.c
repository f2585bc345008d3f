// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "kvscope.skel.h"

struct attach_ctx {
	struct kvscope_bpf *skel;
	uint8_t site_used[KVS_MAX_SITES];
};

int attach__open(const double *bounds_s, int nbounds, struct attach_ctx **out, char *err,
		 size_t errlen)
{
	struct attach_ctx *ac = calloc(1, sizeof(*ac));
	int rc;

	if (!ac || nbounds > KVS_MAX_BUCKETS) {
		snprintf(err, errlen, "%s", ac ? "too many histogram buckets" : "out of memory");
		free(ac);
		return -1;
	}
	ac->skel = kvscope_bpf__open();
	if (!ac->skel) {
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		goto free_ctx;
	}
	for (int i = 0; i < nbounds; i++)
		ac->skel->rodata->bucket_bounds_ns[i] = (uint64_t)(bounds_s[i] * 1e9 + 0.5);
	ac->skel->rodata->bucket_count = (uint32_t)nbounds;
	rc = kvscope_bpf__load(ac->skel);
	if (rc) {
		snprintf(err, errlen, "cannot load the BPF object: %s", strerror(-rc));
		goto destroy_skel;
	}
	*out = ac;
	return 0;
destroy_skel:
	kvscope_bpf__destroy(ac->skel);
free_ctx:
	free(ac);
	return -1;
}

void attach__close(struct attach_ctx *ac)
{
	if (!ac)
		return;
	kvscope_bpf__destroy(ac->skel);
	free(ac);
}

void attach__maps(const struct attach_ctx *ac, struct bpf_maps *out)
{
	out->stats_fd = bpf_map__fd(ac->skel->maps.stats);
	out->gauges_fd = bpf_map__fd(ac->skel->maps.gauges);
	out->lost_fd = bpf_map__fd(ac->skel->maps.lost);
	out->inflight_fd = bpf_map__fd(ac->skel->maps.inflight);
}

void attach__site_record(const struct profile *p, const struct profile_probe *probe,
			 uint16_t slot, struct kvs_site *out)
{
	memset(out, 0, sizeof(*out));
	out->role = probe->role;
	out->target = slot;
	out->label = probe->label < 0 ? 0 : (uint16_t)probe->label;
	out->task_reg = p->lang == PROFILE_LANG_GO ? KVS_REG_R14 : KVS_REG_NONE;
	out->has_value = probe->has_value;
	out->value = probe->value;
	out->nreads = (uint8_t)probe->nreads;
	memcpy(out->reads, probe->reads, sizeof(out->reads));
}

static int alloc_site(struct attach_ctx *ac)
{
	for (int i = 0; i < KVS_MAX_SITES; i++) {
		if (!ac->site_used[i]) {
			ac->site_used[i] = 1;
			return i;
		}
	}
	return -1;
}

static int attach_site(struct attach_ctx *ac, uint16_t slot, pid_t pid, const char *path,
		       const struct binary *b, const struct resolved_site *rs,
		       struct target_links *out, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	struct kvs_site rec;
	int id = alloc_site(ac);
	struct bpf_link *link;

	if (id < 0) {
		snprintf(err, errlen, "probe site table full (%d)", KVS_MAX_SITES);
		return -1;
	}
	attach__site_record(b->profile, &b->profile->probes[rs->probe], slot, &rec);
	if (bpf_map_update_elem(bpf_map__fd(ac->skel->maps.sites), &id, &rec, BPF_ANY)) {
		ac->site_used[id] = 0;
		snprintf(err, errlen, "cannot write site %d: %s", id, strerror(errno));
		return -1;
	}
	opts.bpf_cookie = (uint64_t)id;
	link = bpf_program__attach_uprobe_opts(ac->skel->progs.kvs_site_hit, pid, path,
					       rs->file_offset, &opts);
	if (!link) {
		ac->site_used[id] = 0;
		snprintf(err, errlen, "uprobe at 0x%llx: %s", (unsigned long long)rs->site.vaddr,
			 strerror(errno));
		return -1;
	}
	out->links[out->count] = link;
	out->site_ids[out->count] = (uint32_t)id;
	out->count++;
	return 0;
}

int attach__target(struct attach_ctx *ac, uint16_t slot, pid_t pid, const char *binary_path,
		   const struct binary *b, struct target_links *out, char *err, size_t errlen)
{
	int n = b->res.nsites;

	memset(out, 0, sizeof(*out));
	out->links = calloc((size_t)n, sizeof(*out->links));
	out->site_ids = calloc((size_t)n, sizeof(*out->site_ids));
	if (!out->links || !out->site_ids) {
		snprintf(err, errlen, "out of memory");
		goto undo;
	}
	for (int i = 0; i < n; i++) {
		if (attach_site(ac, slot, pid, binary_path, b, &b->res.sites[i], out, err, errlen)) {
			const char *fn = b->profile->probes[b->res.sites[i].probe].function;
			size_t used = strlen(err);

			snprintf(err + used, errlen - used, " (%s)", fn);
			goto undo;
		}
	}
	return 0;
undo:
	attach__detach(ac, out);
	return -1;
}

void attach__detach(struct attach_ctx *ac, struct target_links *links)
{
	for (int i = 0; i < links->count; i++) {
		bpf_link__destroy(links->links[i]);
		if (links->site_ids[i] < KVS_MAX_SITES)
			ac->site_used[links->site_ids[i]] = 0;
	}
	free(links->links);
	free(links->site_ids);
	memset(links, 0, sizeof(*links));
}
