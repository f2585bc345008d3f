// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/trace_rows.h"

int trace_status_of(const struct profile *p, unsigned code)
{
	if (code < KVS_CODE_OTHER && p->status_map[code])
		return p->status_map[code];
	return p->status_default;
}

const char *trace_method_name(const struct profile *p, unsigned label)
{
	return label < (unsigned)p->nmethods ? p->methods[label] : "other";
}

static const struct stat_entry *find_stat(const struct stat_entry *e, size_t n,
					  const struct kvs_stat_key *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!memcmp(&e[i].key, key, sizeof(*key)))
			return &e[i];
	}
	return NULL;
}

static const struct target *named_target(const struct target_table *t, unsigned slot)
{
	if (slot >= KVS_MAX_TARGETS || !t->slots[slot].used || !t->slots[slot].profile)
		return NULL;
	return &t->slots[slot];
}

/* Grows the array by one zeroed element when full. */
static void *grow(void *arr, int n, int *cap, size_t size)
{
	if (n < *cap)
		return arr;
	int ncap = *cap ? *cap * 2 : 16;
	char *bigger = realloc(arr, (size_t)ncap * size);

	if (!bigger)
		return NULL;
	memset(bigger + (size_t)*cap * size, 0, (size_t)(ncap - *cap) * size);
	*cap = ncap;
	return bigger;
}

static struct trace_method_row *method_row(struct trace_method_row **rows, int *n, int *cap,
					   const char *target, const char *method)
{
	struct trace_method_row *r;

	for (int i = 0; i < *n; i++) {
		if (!strcmp((*rows)[i].target, target) && !strcmp((*rows)[i].method, method))
			return &(*rows)[i];
	}
	r = grow(*rows, *n, cap, sizeof(**rows));
	if (!r)
		return NULL;
	*rows = r;
	r = &(*rows)[(*n)++];
	snprintf(r->target, sizeof(r->target), "%s", target);
	snprintf(r->method, sizeof(r->method), "%s", method);
	return r;
}

static void add_delta(struct trace_method_row *r, const struct kvs_stat *cur,
		      const struct kvs_stat *prev, int status)
{
	uint64_t count = cur->count - (prev ? prev->count : 0);

	r->count += count;
	r->sum_ns += cur->sum_ns - (prev ? prev->sum_ns : 0);
	r->disk_ns += cur->disk_ns - (prev ? prev->disk_ns : 0);
	for (int b = 0; b <= KVS_MAX_BUCKETS; b++)
		r->buckets[b] += cur->buckets[b] - (prev ? prev->buckets[b] : 0);
	trace_row_add_status(r, status, count);
}

static int compare_rows(const void *a, const void *b)
{
	const struct trace_method_row *x = a, *y = b;
	int c = strcmp(x->target, y->target);

	return c ? c : strcmp(x->method, y->method);
}

int trace_rows__methods(const struct stat_entry *cur, size_t ncur, const struct stat_entry *prev,
			size_t nprev, const struct target_table *t, const char *method,
			struct trace_method_row **out, int *n)
{
	struct trace_method_row *rows = NULL, *r;
	int cap = 0;

	*n = 0;
	for (size_t i = 0; i < ncur; i++) {
		const struct stat_entry *e = &cur[i], *old;
		const struct target *tg = named_target(t, e->key.target);

		if (e->key.kind != KVS_STAT_REQUEST || !tg)
			continue;
		const char *name = trace_method_name(tg->profile, e->key.label);

		old = find_stat(prev, nprev, &e->key);
		if ((method && strcasecmp(method, name)) || (old && old->val.count == e->val.count))
			continue;
		r = method_row(&rows, n, &cap, tg->name, name);
		if (!r) {
			free(rows);
			return -1;
		}
		add_delta(r, &e->val, old ? &old->val : NULL,
			  trace_status_of(tg->profile, e->key.code));
	}
	if (*n > 1)
		qsort(rows, (size_t)*n, sizeof(*rows), compare_rows);
	*out = rows;
	return 0;
}

static const struct disk_entry *find_disk(const struct disk_entry *e, size_t n,
					  const struct kvs_disk_key *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!memcmp(&e[i].key, key, sizeof(*key)))
			return &e[i];
	}
	return NULL;
}

static void disk_delta(struct trace_disk_row *d, const struct kvs_disk_stat *cur,
		       const struct kvs_disk_stat *prev)
{
	d->count = cur->count - (prev ? prev->count : 0);
	d->sum_ns = cur->sum_ns - (prev ? prev->sum_ns : 0);
	for (int b = 0; b <= KVS_DISK_BUCKETS; b++)
		d->buckets[b] = cur->buckets[b] - (prev ? prev->buckets[b] : 0);
}

static int compare_disks(const void *a, const void *b)
{
	const struct trace_disk_row *x = a, *y = b;
	int c = strcmp(x->target, y->target);

	if (!c)
		c = strcmp(x->syscall, y->syscall);
	return c ? c : strcmp(x->class, y->class);
}

int trace_rows__disks(const struct disk_entry *cur, size_t ncur, const struct disk_entry *prev,
		      size_t nprev, const struct target_table *t, const struct disk_ctx *dc,
		      struct trace_disk_row **out, int *n)
{
	struct trace_disk_row *rows = NULL;
	int cap = 0;

	*n = 0;
	for (size_t i = 0; i < ncur; i++) {
		const struct disk_entry *e = &cur[i], *old = find_disk(prev, nprev, &e->key);
		const struct target *tg = named_target(t, e->key.target);

		if (!tg || !KVS_SC_IS_SYNC(e->key.syscall) ||
		    (old && old->val.count == e->val.count))
			continue;
		struct trace_disk_row *grown = grow(rows, *n, &cap, sizeof(*rows));

		if (!grown) {
			free(rows);
			return -1;
		}
		rows = grown;
		struct trace_disk_row *d = &rows[(*n)++];

		snprintf(d->target, sizeof(d->target), "%s", tg->name);
		d->syscall = disk__syscall_name(e->key.syscall);
		d->class = disk__class_name(dc, e->key.class);
		disk_delta(d, &e->val, old ? &old->val : NULL);
	}
	if (*n > 1)
		qsort(rows, (size_t)*n, sizeof(*rows), compare_disks);
	*out = rows;
	return 0;
}

void trace_rows__note_latency(struct trace_method_row *rows, int n, const char *target,
			      const char *method, uint64_t latency_ns)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(rows[i].target, target) && !strcmp(rows[i].method, method)) {
			if (latency_ns > rows[i].max_ns)
				rows[i].max_ns = latency_ns;
			return;
		}
	}
}
