// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "profile/catalog.h"
#include "probes/disk.h"
#include "common/log.h"
#include "syscalls.skel.h"

struct disk_ctx {
	struct syscalls_bpf *skel;
	enum syscall_hook hook;
	char classes[KVS_MAX_CLASSES][16];
	int nclasses;
	uint32_t nrules;
};

static const char *const syscall_names[KVS_SC_COUNT] = {
    [KVS_SC_FSYNC] = "fsync",
    [KVS_SC_FDATASYNC] = "fdatasync",
    [KVS_SC_SYNC_FILE_RANGE] = "sync_file_range",
    [KVS_SC_WRITE] = "write",
    [KVS_SC_PWRITE64] = "pwrite64",
    [KVS_SC_WRITEV] = "writev",
    [KVS_SC_READ] = "read",
    [KVS_SC_PREAD64] = "pread64",
    [KVS_SC_READV] = "readv",
};

const char *disk__syscall_name(unsigned sc)
{
	return sc < KVS_SC_COUNT ? syscall_names[sc] : "unknown";
}

const char *disk__class_name(const struct disk_ctx *dc, unsigned class_id)
{
	if (!dc || class_id >= (unsigned)dc->nclasses)
		return "other";
	return dc->classes[class_id];
}

/* Programs of a hook kind, by the name prefixes syscalls.bpf.c gives them. */
static bool prog_in_hook(const char *name, enum syscall_hook hook)
{
	switch (hook) {
	case HOOK_FENTRY:
		return (!strncmp(name, "fentry_", 7) || !strncmp(name, "fexit_", 6)) &&
		       strcmp(name, "fentry_trial") != 0;
	case HOOK_KSYSCALL:
		return !strncmp(name, "ksys_", 5) || !strncmp(name, "kretsys_", 8);
	case HOOK_TRACEPOINT:
		return !strncmp(name, "tp_", 3);
	case HOOK_RAW_TP:
		return !strncmp(name, "raw_sys_", 8);
	default:
		return false;
	}
}

int disk__open(struct attach_ctx *ac, enum syscall_hook hook, struct disk_ctx **out, char *err,
	       size_t errlen)
{
	struct disk_ctx *dc = calloc(1, sizeof(*dc));
	struct bpf_program *prog;
	int rc;

	if (!dc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dc->hook = hook;
	snprintf(dc->classes[0], sizeof(dc->classes[0]), "other");
	dc->nclasses = 1;
	dc->skel = syscalls_bpf__open();
	if (!dc->skel) {
		snprintf(err, errlen, "cannot open the syscall probes: %s", strerror(errno));
		goto free_ctx;
	}
	bpf_object__for_each_program(prog, dc->skel->obj)
	    bpf_program__set_autoload(prog, prog_in_hook(bpf_program__name(prog), hook));
	rc = attach__share_maps(ac, dc->skel->maps.watched, dc->skel->maps.inflight);
	if (!rc)
		rc = syscalls_bpf__load(dc->skel);
	if (!rc)
		rc = syscalls_bpf__attach(dc->skel);
	if (rc) {
		snprintf(err, errlen, "syscall probes (%s): %s", hooks__name(hook), strerror(-rc));
		goto destroy_skel;
	}
	*out = dc;
	return 0;
destroy_skel:
	syscalls_bpf__destroy(dc->skel);
free_ctx:
	free(dc);
	return -1;
}

void disk__close(struct disk_ctx *dc)
{
	if (!dc)
		return;
	syscalls_bpf__destroy(dc->skel);
	free(dc);
}

uint64_t disk_hash(const char *s, size_t len)
{
	uint64_t h = KVS_FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = kvs_fnv1a_step(h, (unsigned char)s[i]);
	return h;
}

static bool has_wildcard(const char *s, size_t len)
{
	return memchr(s, '*', len) || memchr(s, '?', len) || memchr(s, '[', len);
}

/* The file-name component: an exact name, or "*.ext". */
static int name_comp(const char *s, size_t len, struct kvs_file_rule_key *out)
{
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		if (len == 2 || has_wildcard(s + 1, len - 1) || memchr(s + 2, '.', len - 2))
			return -1;
		out->kind = KVS_NAME_EXT;
		out->name = disk_hash(s + 1, len - 1);
		return 0;
	}
	if (!len || len > KVS_NAME_TAIL || has_wildcard(s, len))
		return -1;
	out->kind = KVS_NAME_EXACT;
	out->name = disk_hash(s, len);
	return 0;
}

static int dir_comp(const char *s, size_t len, __u64 *out)
{
	if (!len || len > KVS_NAME_TAIL || has_wildcard(s, len))
		return -1;
	*out = disk_hash(s, len);
	return 0;
}

int disk_rule_from_glob(const char *glob, uint16_t profile, struct kvs_file_rule_key *out)
{
	const char *comps[3], *p = glob;
	size_t lens[3];
	int n = 0;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 3 || len == 0)
			return -1;
		comps[n] = p;
		lens[n++] = len;
		p += len + (slash ? 1 : 0);
		if (slash && !*p)
			return -1; /* a trailing slash names no file */
	}
	if (!n || name_comp(comps[n - 1], lens[n - 1], out))
		return -1;
	if (n >= 2 && dir_comp(comps[n - 2], lens[n - 2], &out->parent))
		return -1;
	if (n == 3 && dir_comp(comps[0], lens[0], &out->grand))
		return -1;
	out->profile = profile;
	out->ncomp = (uint8_t)n;
	return 0;
}

static int class_id(struct disk_ctx *dc, const char *name)
{
	for (int i = 0; i < dc->nclasses; i++) {
		if (strcmp(dc->classes[i], name) == 0)
			return i;
	}
	if (dc->nclasses == KVS_MAX_CLASSES || strlen(name) >= sizeof(dc->classes[0]))
		return -1;
	snprintf(dc->classes[dc->nclasses], sizeof(dc->classes[0]), "%s", name);
	return dc->nclasses++;
}

int disk__add_rules(struct disk_ctx *dc, uint16_t profile_id, const struct profile *p)
{
	int fd = bpf_map__fd(dc->skel->maps.file_rules), skipped = 0;

	for (int i = 0; i < p->nfiles; i++) {
		struct kvs_file_rule_key key;
		int cls = class_id(dc, p->files[i].class);
		uint8_t value;

		if (cls < 0 || dc->nrules == KVS_MAX_FILE_RULES ||
		    disk_rule_from_glob(p->files[i].glob, profile_id, &key)) {
			log_msg(LOG_WARN, "file rule skipped", "profile", p->name, "glob",
				p->files[i].glob, NULL);
			skipped++;
			continue;
		}
		value = (uint8_t)cls;
		if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) == 0)
			dc->nrules++;
	}
	return skipped;
}

int disk__open_best(struct attach_ctx *ac, const struct catalog *cat, struct kernel_features *f,
		    enum syscall_hook *hook, struct disk_ctx **out, char *err, size_t errlen)
{
	*out = NULL;
	hooks__probe(f);
	*hook = hooks__choose(f);
	if (*hook == HOOK_NONE)
		return 0;
	if (disk__open(ac, *hook, out, err, errlen))
		return -1;
	for (int i = 0; i < cat->count; i++)
		disk__add_rules(*out, (uint16_t)i, cat->profiles[i]);
	return 0;
}

int disk__snapshot(const struct disk_ctx *dc, struct disk_entry **out, size_t *n)
{
	int fd = bpf_map__fd(dc->skel->maps.disk_stats), ncpu = libbpf_num_possible_cpus();
	size_t stride = (sizeof(struct kvs_disk_stat) + 7) & ~7ul, cap = 0;
	struct kvs_disk_key key, next;
	struct disk_entry *arr = NULL;
	void *percpu, *prev = NULL;

	*out = NULL;
	*n = 0;
	if (ncpu <= 0 || !(percpu = calloc((size_t)ncpu, stride)))
		return -1;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, percpu))
			continue;
		if (*n == cap) {
			struct disk_entry *grown =
			    realloc(arr, (cap = cap ? cap * 2 : 32) * sizeof(*arr));

			if (!grown)
				break;
			arr = grown;
		}
		struct disk_entry *e = &arr[(*n)++];

		memset(e, 0, sizeof(*e));
		e->key = key;
		for (int c = 0; c < ncpu; c++) {
			const struct kvs_disk_stat *v =
			    (const void *)((char *)percpu + (size_t)c * stride);

			e->val.count += v->count;
			e->val.sum_ns += v->sum_ns;
			e->val.bytes += v->bytes;
			for (int b = 0; b <= KVS_DISK_BUCKETS; b++)
				e->val.buckets[b] += v->buckets[b];
		}
	}
	free(percpu);
	*out = arr;
	return 0;
}

void disk__forget_target(struct disk_ctx *dc, uint16_t target)
{
	int fd = bpf_map__fd(dc->skel->maps.disk_stats);
	struct kvs_disk_key key, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		if (key.target == target && bpf_map_delete_elem(fd, &key) == 0)
			continue; /* a deleted `prev` restarts the walk from the top */
		prev = &key;
	}
}
