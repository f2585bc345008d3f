// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probes/attach.h"
#include "kvscope.skel.h"

#define MAX_BINARIES 64

/* The uprobes of one binary. */
struct binary_links {
	dev_t dev;
	ino_t ino;
	struct bpf_link **links;
	int count;
};

struct attach_ctx {
	struct kvscope_bpf *skel;
	int nsites;
	struct binary_links bins[MAX_BINARIES];
	int nbins;
};

int attach__open(const double *bounds_s, int nbounds, struct attach_ctx **out, char *err,
		 size_t errlen)
{
	return attach__open_slow(bounds_s, nbounds, 0, out, err, errlen);
}

int attach__slow_events_fd(const struct attach_ctx *ac)
{
	return bpf_map__fd(ac->skel->maps.slow_events);
}

int attach__open_slow(const double *bounds_s, int nbounds, double slow_s, struct attach_ctx **out,
		      char *err, size_t errlen)
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
	ac->skel->rodata->slow_ns = (uint64_t)(slow_s * 1e9);
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

static void destroy_binary_links(struct binary_links *bl)
{
	for (int i = 0; i < bl->count; i++)
		bpf_link__destroy(bl->links[i]);
	free(bl->links);
	memset(bl, 0, sizeof(*bl));
}

void attach__close(struct attach_ctx *ac)
{
	if (!ac)
		return;
	for (int i = 0; i < ac->nbins; i++)
		destroy_binary_links(&ac->bins[i]);
	kvscope_bpf__destroy(ac->skel);
	free(ac);
}

void attach__maps(const struct attach_ctx *ac, struct bpf_maps *out)
{
	out->stats_fd = bpf_map__fd(ac->skel->maps.stats);
	out->gauges_fd = bpf_map__fd(ac->skel->maps.gauges);
	out->lost_fd = bpf_map__fd(ac->skel->maps.lost);
	out->inflight_fd = bpf_map__fd(ac->skel->maps.inflight);
	out->watched_fd = bpf_map__fd(ac->skel->maps.watched);
}

int attach__share_maps(const struct attach_ctx *ac, struct bpf_map *watched,
		       struct bpf_map *inflight)
{
	int rc = bpf_map__reuse_fd(watched, bpf_map__fd(ac->skel->maps.watched));

	return rc ? rc : bpf_map__reuse_fd(inflight, bpf_map__fd(ac->skel->maps.inflight));
}

int attach__links(const struct attach_ctx *ac)
{
	int n = 0;

	for (int i = 0; i < ac->nbins; i++)
		n += ac->bins[i].count;
	return n;
}

void attach__site_record(const struct profile *p, const struct profile_probe *probe,
			 const struct resolved_site *rs, struct kvs_site *out)
{
	memset(out, 0, sizeof(*out));
	out->role = probe->role;
	out->label = probe->label < 0 ? 0 : (uint16_t)probe->label;
	if (probe->role == KVS_ROLE_REQUEST_START && probe->has_value)
		out->label = (uint16_t)profile__other_method(p); /* unless the name is listed */
	out->task_reg = p->lang == PROFILE_LANG_GO ? KVS_REG_R14 : KVS_REG_NONE;
	out->has_value = rs->has_value;
	out->value = rs->value;
	out->nreads = (uint8_t)rs->nreads;
	memcpy(out->reads, rs->reads, sizeof(out->reads));
}

static int attach_site(struct attach_ctx *ac, const char *path, const struct binary *b,
		       const struct resolved_site *rs, struct binary_links *bl, char *err,
		       size_t errlen)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	struct kvs_site rec;
	int id = ac->nsites;
	struct bpf_link *link;

	if (id >= KVS_MAX_SITES) {
		snprintf(err, errlen, "probe site table full (%d)", KVS_MAX_SITES);
		return -1;
	}
	attach__site_record(b->profile, &b->profile->probes[rs->probe], rs, &rec);
	if (bpf_map_update_elem(bpf_map__fd(ac->skel->maps.sites), &id, &rec, BPF_ANY)) {
		snprintf(err, errlen, "cannot write site %d: %s", id, strerror(errno));
		return -1;
	}
	opts.bpf_cookie = (uint64_t)id;
	opts.retprobe = b->profile->probes[rs->probe].site == PROFILE_SITE_RETURN;
	/* pid -1: one uprobe for every process of the binary, filtered in BPF */
	link = bpf_program__attach_uprobe_opts(ac->skel->progs.kvs_site_hit, -1, path,
					       rs->file_offset, &opts);
	if (!link) {
		snprintf(err, errlen, "uprobe at 0x%llx (%s): %s",
			 (unsigned long long)rs->site.vaddr, rs->function, strerror(errno));
		return -1;
	}
	ac->nsites++;
	bl->links[bl->count++] = link;
	return 0;
}

static struct binary_links *find_binary(struct attach_ctx *ac, const struct binary *b)
{
	for (int i = 0; i < ac->nbins; i++) {
		if (ac->bins[i].dev == b->dev && ac->bins[i].ino == b->ino)
			return &ac->bins[i];
	}
	return NULL;
}

static int attach_binary(struct attach_ctx *ac, const char *path, const struct binary *b, char *err,
			 size_t errlen)
{
	struct binary_links *bl;

	if (ac->nbins == MAX_BINARIES) {
		snprintf(err, errlen, "too many distinct store binaries (%d)", MAX_BINARIES);
		return -1;
	}
	bl = &ac->bins[ac->nbins];
	bl->links = calloc((size_t)b->res.nsites, sizeof(*bl->links));
	if (!bl->links) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < b->res.nsites; i++) {
		if (attach_site(ac, path, b, &b->res.sites[i], bl, err, errlen)) {
			destroy_binary_links(bl);
			return -1;
		}
	}
	bl->dev = b->dev;
	bl->ino = b->ino;
	ac->nbins++;
	return 0;
}

int attach__target(struct attach_ctx *ac, uint16_t slot, uint16_t profile_id, pid_t pid,
		   const char *binary_path, const struct binary *b, char *err, size_t errlen)
{
	struct kvs_watch w = {
	    .target = slot,
	    .profile = profile_id,
	    .task_reg = b->profile->lang == PROFILE_LANG_GO ? KVS_REG_R14 : KVS_REG_NONE,
	};
	uint32_t tgid = (uint32_t)pid;

	if (!find_binary(ac, b) && attach_binary(ac, binary_path, b, err, errlen))
		return -1;
	if (bpf_map_update_elem(bpf_map__fd(ac->skel->maps.watched), &tgid, &w, BPF_ANY)) {
		snprintf(err, errlen, "cannot watch pid %d: %s", (int)pid, strerror(errno));
		return -1;
	}
	return 0;
}

static void fnv_step(uint64_t *h, unsigned char c)
{
	*h = (*h ^ c) * 0x100000001b3ull;
}

/* As hash_string() in kvscope.bpf.c hashes what the store holds. */
static uint64_t label_hash(const char *s, bool lower)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; s[i] && i < KVS_STRING_MAX; i++)
		fnv_step(&h, (unsigned char)(lower ? tolower((unsigned char)s[i]) : s[i]));
	return h;
}

static bool lowercases_methods(const struct profile *p)
{
	for (int i = 0; i < p->nprobes; i++) {
		const struct profile_probe *pr = &p->probes[i];

		if (pr->role == KVS_ROLE_REQUEST_START && (pr->value.flags & KVS_READ_LOWER))
			return true;
	}
	return false;
}

static int put_label(int fd, uint16_t profile, uint8_t kind, uint64_t hash, uint16_t id)
{
	struct kvs_label_key key = {.profile = profile, .kind = kind, .hash = hash};

	return bpf_map_update_elem(fd, &key, &id, BPF_ANY);
}

int attach__labels(struct attach_ctx *ac, uint16_t profile_id, const struct profile *p)
{
	int fd = bpf_map__fd(ac->skel->maps.labels), rc = 0;
	bool lower = lowercases_methods(p);

	for (int i = 0; i < p->nmethods; i++)
		rc |= put_label(fd, profile_id, KVS_LABEL_METHOD, label_hash(p->methods[i], lower),
				(uint16_t)i);
	for (int i = 0; i < p->nstatus_words; i++)
		rc |= put_label(fd, profile_id, KVS_LABEL_ERROR,
				label_hash(p->status_words[i], false), (uint16_t)(i + 1));
	/* an error reply without a word hashes to 0 */
	if (p->bare_error_code)
		rc |= put_label(fd, profile_id, KVS_LABEL_ERROR, 0, (uint16_t)p->bare_error_code);
	return rc ? -1 : 0;
}

int attach__catalog_labels(struct attach_ctx *ac, const struct catalog *cat)
{
	int rc = 0;

	for (int i = 0; i < cat->count; i++)
		rc |= attach__labels(ac, (uint16_t)i, cat->profiles[i]);
	return rc ? -1 : 0;
}

/* Requests a dead process started will never end: remove them. */
static int drop_inflight(struct attach_ctx *ac, uint32_t tgid)
{
	int fd = bpf_map__fd(ac->skel->maps.inflight), dropped = 0;
	struct kvs_inflight_key key, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		if (key.tgid == tgid && bpf_map_delete_elem(fd, &key) == 0) {
			dropped++;
			continue; /* `prev` still names a live key, or restart from the top */
		}
		prev = &key;
	}
	return dropped;
}

int attach__sweep(struct attach_ctx *ac, uint64_t max_age_ns, int *remaining)
{
	int fd = bpf_map__fd(ac->skel->maps.inflight), dropped = 0;
	struct kvs_inflight_key key, next;
	struct kvs_inflight val;
	struct timespec ts;
	void *prev = NULL;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	*remaining = 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &val) == 0 && now > val.start_ns &&
		    now - val.start_ns > max_age_ns && bpf_map_delete_elem(fd, &key) == 0) {
			dropped++;
			continue;
		}
		(*remaining)++;
		prev = &key;
	}
	return dropped;
}

int attach__untarget(struct attach_ctx *ac, pid_t pid)
{
	uint32_t tgid = (uint32_t)pid;

	bpf_map_delete_elem(bpf_map__fd(ac->skel->maps.watched), &tgid);
	return drop_inflight(ac, tgid);
}
