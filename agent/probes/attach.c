// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/errmsg.h"
#include "probes/attach.h"
#include "kvscope.skel.h"

/* Profiles whose site records are in the map at once; each takes nprobes ids. */
#define MAX_BINARIES 256

/*
 * A set of uprobes on one binary: shared by every process that runs it
 * (pid 0: one uprobe per site, the `watched` map picks who counts), or for
 * one process only (a stacked binary, whose real inode is not known).
 */
struct link_set {
	pid_t pid;
	dev_t dev;
	ino_t ino;
	struct bpf_link **links;
	int count;
};

/* A watched process and the set that counts it. */
struct watch {
	pid_t pid;
	dev_t dev;
	ino_t ino;
};

/* Site ids of one binary (dev/ino): resolved site i's record is at base + i. */
struct binary_sites {
	dev_t dev;
	ino_t ino;
	int base;
};

struct attach_ctx {
	struct kvscope_bpf *skel;
	int nsites; /* site ids handed out */
	struct binary_sites binaries[MAX_BINARIES];
	int nbinaries;
	struct link_set *sets;
	int nsets, sets_cap;
	struct watch *watches;
	int nwatches, watches_cap;
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

/* Each removal waits for a grace period: about 45 ms on Linux 6.18, one after another. */
static void destroy_links(struct link_set *ls)
{
	for (int i = 0; i < ls->count; i++)
		bpf_link__destroy(ls->links[i]);
	free(ls->links);
	memset(ls, 0, sizeof(*ls));
}

void attach__close(struct attach_ctx *ac)
{
	if (!ac)
		return;
	for (int i = 0; i < ac->nsets; i++)
		destroy_links(&ac->sets[i]);
	free(ac->sets);
	free(ac->watches);
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

	for (int i = 0; i < ac->nsets; i++)
		n += ac->sets[i].count;
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

/*
 * The site ids of b: its resolved sites' records are written once, the
 * first time the file is attached, and shared by every process of it after
 * (where a value is read depends on the build, so records are per file).
 * The table holds one record per site of each distinct binary, however
 * many processes come and go.
 */
static int binary_base(struct attach_ctx *ac, const struct binary *b, char *err, size_t errlen)
{
	struct kvs_site rec;

	for (int i = 0; i < ac->nbinaries; i++)
		if (ac->binaries[i].dev == b->dev && ac->binaries[i].ino == b->ino)
			return ac->binaries[i].base;
	if (ac->nbinaries == MAX_BINARIES || ac->nsites + b->res.nsites > KVS_MAX_SITES)
		return errmsg(err, errlen, "probe site table full (%d binaries, %d sites)",
			      ac->nbinaries, ac->nsites);
	for (int i = 0; i < b->res.nsites; i++) {
		const struct resolved_site *rs = &b->res.sites[i];
		int id = ac->nsites + i;

		attach__site_record(b->profile, &b->profile->probes[rs->probe], rs, &rec);
		if (bpf_map_update_elem(bpf_map__fd(ac->skel->maps.sites), &id, &rec, BPF_ANY))
			return errmsg(err, errlen, "cannot write site %d: %s", id, strerror(errno));
	}
	ac->binaries[ac->nbinaries++] = (struct binary_sites){b->dev, b->ino, ac->nsites};
	ac->nsites += b->res.nsites;
	return ac->binaries[ac->nbinaries - 1].base;
}

/* One uprobe at one site: for `pid` only, or for every process of the file (pid -1). */
static int attach_site(struct attach_ctx *ac, pid_t pid, const char *path, int id,
		       const struct binary *b, const struct resolved_site *rs, struct link_set *ls,
		       char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	const struct profile_probe *probe = &b->profile->probes[rs->probe];
	struct bpf_link *link;

	opts.bpf_cookie = (uint64_t)id;
	opts.retprobe = probe->site == PROFILE_SITE_RETURN;
	link = bpf_program__attach_uprobe_opts(ac->skel->progs.kvs_site_hit, pid, path,
					       rs->file_offset, &opts);
	if (!link)
		return errmsg(err, errlen, "uprobe at 0x%llx (%s): %s",
			      (unsigned long long)rs->site.vaddr, rs->function, strerror(errno));
	ls->links[ls->count++] = link;
	return 0;
}

static void *grow(void *arr, int *cap, size_t size)
{
	int n = *cap ? *cap * 2 : 16;
	void *grown = realloc(arr, (size_t)n * size);

	if (grown)
		*cap = n;
	return grown;
}

/* The set counting `pid` for b: its own when b is stacked, else the shared one. */
static struct link_set *find_set(struct attach_ctx *ac, pid_t pid, dev_t dev, ino_t ino)
{
	for (int i = 0; i < ac->nsets; i++) {
		struct link_set *ls = &ac->sets[i];

		if (ls->pid == pid && ls->dev == dev && ls->ino == ino)
			return ls;
	}
	return NULL;
}

static void forget_set(struct attach_ctx *ac, struct link_set *ls)
{
	destroy_links(ls);
	*ls = ac->sets[--ac->nsets];
}

/*
 * Whether the process behind exe_link still runs the file b holds open, as
 * it was examined. Checked before and after attaching: a process that
 * exec'd in between is not counted.
 */
static int check_identity(const char *exe_link, const struct binary *b, char *err, size_t errlen)
{
	struct stat st;

	if (stat(exe_link, &st) != 0)
		return errmsg(err, errlen, "%s: %s", exe_link, strerror(errno));
	if (st.st_dev != b->dev || st.st_ino != b->ino)
		return errmsg(err, errlen, "the process no longer runs the binary examined");
	if (!binary__unchanged(b))
		return errmsg(err, errlen, "the binary changed after it was examined");
	return 0;
}

/*
 * Every site of b through b's pinned descriptor, so the uprobes land on
 * the file that was examined whatever its path means now; for `pid` only
 * (pid > 0) or for every process of the file (pid -1).
 */
static struct link_set *attach_set(struct attach_ctx *ac, pid_t pid, const struct binary *b,
				   char *err, size_t errlen)
{
	struct link_set *ls;
	char path[64];
	int base = binary_base(ac, b, err, errlen);

	if (base < 0)
		return NULL;
	if (ac->nsets == ac->sets_cap) {
		struct link_set *grown = grow(ac->sets, &ac->sets_cap, sizeof(*grown));

		if (!grown) {
			errmsg(err, errlen, "out of memory");
			return NULL;
		}
		ac->sets = grown;
	}
	ls = &ac->sets[ac->nsets++];
	*ls = (struct link_set){.pid = pid > 0 ? pid : 0, .dev = b->dev, .ino = b->ino};
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	ls->links = calloc((size_t)b->res.nsites, sizeof(*ls->links));
	if (!ls->links) {
		errmsg(err, errlen, "out of memory");
		goto forget;
	}
	for (int i = 0; i < b->res.nsites; i++)
		if (attach_site(ac, pid, path, base + i, b, &b->res.sites[i], ls, err, errlen))
			goto forget;
	return ls;
forget:
	forget_set(ac, ls);
	return NULL;
}

static struct watch *find_watch(struct attach_ctx *ac, pid_t pid)
{
	for (int i = 0; i < ac->nwatches; i++)
		if (ac->watches[i].pid == pid)
			return &ac->watches[i];
	return NULL;
}

/* Forgets pid's watch; a set of its own goes with it. */
static void unwatch(struct attach_ctx *ac, pid_t pid)
{
	struct watch *w = find_watch(ac, pid);
	struct link_set *own;

	if (!w)
		return;
	own = find_set(ac, pid, w->dev, w->ino);
	if (own)
		forget_set(ac, own);
	*w = ac->watches[--ac->nwatches];
}

static int add_watch(struct attach_ctx *ac, pid_t pid, const struct binary *b)
{
	if (ac->nwatches == ac->watches_cap) {
		struct watch *grown = grow(ac->watches, &ac->watches_cap, sizeof(*grown));

		if (!grown)
			return -1;
		ac->watches = grown;
	}
	ac->watches[ac->nwatches++] = (struct watch){pid, b->dev, b->ino};
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
	pid_t owner = b->stacked ? pid : 0;

	if (b->fd < 0)
		return errmsg(err, errlen, "the binary is not held open");
	unwatch(ac, pid); /* the same pid again (it exec'd): what it had goes */
	if (check_identity(binary_path, b, err, errlen))
		return -1;
	if (!find_set(ac, owner, b->dev, b->ino) &&
	    !attach_set(ac, b->stacked ? pid : -1, b, err, errlen))
		return -1;
	if (add_watch(ac, pid, b)) {
		errmsg(err, errlen, "out of memory");
		goto unwatch;
	}
	if (check_identity(binary_path, b, err, errlen))
		goto unwatch;
	if (bpf_map_update_elem(bpf_map__fd(ac->skel->maps.watched), &tgid, &w, BPF_ANY)) {
		errmsg(err, errlen, "cannot watch pid %d: %s", (int)pid, strerror(errno));
		goto unwatch;
	}
	return 0;
unwatch:
	/* a stacked binary's set is pid's own; a shared one stays for the others */
	if (b->stacked && !find_watch(ac, pid)) {
		struct link_set *own = find_set(ac, pid, b->dev, b->ino);

		if (own)
			forget_set(ac, own);
	}
	unwatch(ac, pid);
	return -1;
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
	unwatch(ac, pid);
	return drop_inflight(ac, tgid);
}
