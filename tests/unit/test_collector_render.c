// SPDX-License-Identifier: Apache-2.0
/*
 * The whole /metrics page of collector__render against a golden file: a fixed
 * target table (two etcd members, one of them gone, and a Redis), BPF maps
 * filled as the probes would fill them on two CPUs, and a fixed procfs. The
 * maps are real (per-CPU hash and array maps, as the BPF object declares
 * them), so the map snapshot, the per-CPU sums and every family's writer are
 * what is tested. tests/run-unit.sh lints the golden with promtool.
 *
 * After a deliberate change to the exposition, rewrite the golden with
 * KVSCOPE_UPDATE_GOLDEN=1 build/tests/test_collector_render and review the diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "metrics/collector.h"
#include "profile/catalog.h"

#define GOLDEN	      "collector_render.prom"
#define MAX_CPUS_USED 2

static const double bounds[] = {0.001, 0.01, 0.1};
#define NBOUNDS ((int)(sizeof(bounds) / sizeof(bounds[0])))

struct fixture {
	struct catalog cat;
	struct target_table table;
	struct collector c;
	int ncpu;
	char dir[512]; /* tests/unit, where the golden and the fixed procfs live */
	char procfs[600];
};

static const struct profile *profile_named(const struct catalog *cat, const char *name)
{
	for (int i = 0; i < cat->count; i++) {
		if (strcmp(cat->profiles[i]->name, name) == 0)
			return cat->profiles[i];
	}
	fail_msg("no built-in profile %s", name);
	return NULL;
}

static void add_target(struct fixture *f, int slot, const char *profile, const char *name,
		       pid_t pid, bool alive)
{
	struct target *t = &f->table.slots[slot];
	const struct profile *p = profile_named(&f->cat, profile);

	t->used = true;
	t->profile = p;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->version, sizeof(t->version), "%s",
		 strcmp(p->store, "etcd") == 0 ? "3.4.23" : "7.0.15");
	t->exe = strdup(strcmp(p->store, "etcd") == 0 ? "/usr/bin/etcd" : "/usr/bin/redis-server");
	t->pid = pid;
	t->alive = alive;
	t->attached = alive;
}

/* Per-CPU values are 8-byte aligned slots, one per possible CPU. */
static size_t percpu_stride(size_t value_size)
{
	return (value_size + 7) & ~(size_t)7;
}

static int create_map(enum bpf_map_type type, size_t key, size_t value, unsigned entries)
{
	int fd = bpf_map_create(type, NULL, (unsigned)key, (unsigned)value, entries, NULL);

	if (fd < 0)
		fail_msg("bpf_map_create: %s (the unit tests need root)", strerror(errno));
	return fd;
}

/*
 * One request/storage/leader stat on CPUs 0 and 1: the first CPU sees `count`
 * observations in bucket `bucket`, the second one more in the next bucket.
 */
static void put_stat(struct fixture *f, int slot, int kind, int label, int code, uint64_t count,
		     int bucket, uint64_t sum_ns, uint64_t disk_ns)
{
	size_t stride = percpu_stride(sizeof(struct kvs_stat));
	char *values = calloc((size_t)f->ncpu, stride);
	struct kvs_stat_key key = {.target = (uint16_t)slot,
				   .kind = (uint8_t)kind,
				   .label = (uint16_t)label,
				   .code = (uint16_t)code};

	assert_non_null(values);
	for (int cpu = 0; cpu < MAX_CPUS_USED && cpu < f->ncpu; cpu++) {
		struct kvs_stat *v = (struct kvs_stat *)(values + (size_t)cpu * stride);

		v->count = count + (uint64_t)cpu;
		v->sum_ns = sum_ns * (uint64_t)(cpu + 1);
		v->disk_ns = disk_ns * (uint64_t)(cpu + 1);
		v->buckets[bucket] = count;
		if (cpu)
			v->buckets[bucket < NBOUNDS ? bucket + 1 : NBOUNDS] += 1;
	}
	assert_int_equal(bpf_map_update_elem(f->c.maps.stats_fd, &key, values, BPF_ANY), 0);
	free(values);
}

/* A gauge written on CPU 0 long ago and on CPU 1 last: CPU 1's value is the one. */
static void put_gauge(struct fixture *f, int slot, int gauge, uint64_t value)
{
	size_t stride = percpu_stride(sizeof(struct kvs_gauge_val));
	char *values = calloc((size_t)f->ncpu, stride);
	struct kvs_gauge_key key = {.target = (uint16_t)slot, .gauge = (uint16_t)gauge};
	int last = f->ncpu > 1 ? 1 : 0;

	assert_non_null(values);
	*(struct kvs_gauge_val *)values = (struct kvs_gauge_val){.value = 999999, .ts_ns = 1};
	((struct kvs_gauge_val *)(values + (size_t)last * stride))->value = value;
	((struct kvs_gauge_val *)(values + (size_t)last * stride))->ts_ns = 2;
	assert_int_equal(bpf_map_update_elem(f->c.maps.gauges_fd, &key, values, BPF_ANY), 0);
	free(values);
}

static void put_lost(struct fixture *f, uint32_t reason, uint64_t per_cpu)
{
	uint64_t *values = calloc((size_t)f->ncpu, sizeof(uint64_t));

	assert_non_null(values);
	for (int cpu = 0; cpu < MAX_CPUS_USED && cpu < f->ncpu; cpu++)
		values[cpu] = per_cpu;
	assert_int_equal(bpf_map_update_elem(f->c.maps.lost_fd, &reason, values, BPF_ANY), 0);
	free(values);
}

static int method(struct fixture *f, int slot, const char *name)
{
	int m = profile__method(f->table.slots[slot].profile, name);

	assert_true(m >= 0);
	return m;
}

static int operation(struct fixture *f, int slot, const char *name)
{
	int op = profile__operation(f->table.slots[slot].profile, name);

	assert_true(op >= 0);
	return op;
}

/* etcd-1 is the live leader; etcd-2 exited (its gauges must not show). */
static void fill_etcd(struct fixture *f)
{
	add_target(f, 0, "etcd-3.4", "etcd-1", 4242, true);
	add_target(f, 2, "etcd-3.4", "etcd-2", 4244, false);
	put_stat(f, 0, KVS_STAT_REQUEST, method(f, 0, "Put"), 0, 3, 1, 4500000, 1000000);
	put_stat(f, 0, KVS_STAT_REQUEST, method(f, 0, "Range"), 0, 10, 0, 2000000, 0);
	/* InvalidArgument and OutOfRange both map to 400: one series */
	put_stat(f, 0, KVS_STAT_REQUEST, method(f, 0, "Range"), 3, 1, 0, 100000, 0);
	put_stat(f, 0, KVS_STAT_REQUEST, method(f, 0, "Range"), 11, 1, 0, 100000, 0);
	/* a code the profile does not map: the default status */
	put_stat(f, 0, KVS_STAT_REQUEST, method(f, 0, "Txn"), KVS_CODE_OTHER, 1, NBOUNDS, 300000000,
		 0);
	put_stat(f, 0, KVS_STAT_STORAGE, operation(f, 0, "wal_sync"), 0, 5, 0, 0, 0);
	put_stat(f, 0, KVS_STAT_STORAGE, operation(f, 0, "wal_sync"), 1, 1, 0, 0, 0);
	put_stat(f, 0, KVS_STAT_LEADER_CHANGE, 0, 0, 2, 0, 0, 0);
	put_gauge(f, 0, KVS_GAUGE_RAFT_TERM, 7);
	put_gauge(f, 0, KVS_GAUGE_RAFT_COMMIT_INDEX, 1234);
	put_gauge(f, 0, KVS_GAUGE_RAFT_STATE, f->table.slots[0].profile->raft_leader_state);
	put_gauge(f, 0, KVS_GAUGE_STORAGE_SIZE, 20480);
	put_stat(f, 2, KVS_STAT_REQUEST, method(f, 2, "Put"), 0, 1, 0, 500000, 0);
	put_gauge(f, 2, KVS_GAUGE_RAFT_TERM, 6);
}

/*
 * A Redis with hundreds of commands, in a container: only the commands it
 * served get series, and its info names the container (the etcd members are
 * host processes, without the label).
 */
static void fill_redis(struct fixture *f)
{
	add_target(f, 3, "redis-7.0", "redis-server-4343", 4343, true);
	snprintf(f->table.slots[3].container_id, sizeof(f->table.slots[3].container_id), "%s",
		 "3f1c0a9e5b7d2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e");
	put_stat(f, 3, KVS_STAT_REQUEST, method(f, 3, "get"), 0, 4, 0, 40000, 0);
	put_stat(f, 3, KVS_STAT_REQUEST, method(f, 3, "set"), 0, 2, 1, 30000, 2000000);
	put_stat(f, 3, KVS_STAT_STORAGE, operation(f, 3, "rdb_save"), 0, 1, 0, 0, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *slash = strrchr(__FILE__, '/');

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%.*s", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".");
	snprintf(f->procfs, sizeof(f->procfs), "%s/golden/procfs", f->dir);
	assert_int_equal(catalog__load(&f->cat, NULL, false), 0);
	target_table__init(&f->table, 8);
	f->ncpu = libbpf_num_possible_cpus();
	assert_true(f->ncpu > 0);
	f->c = (struct collector){.targets = &f->table,
				  .bounds = bounds,
				  .nbounds = NBOUNDS,
				  .procfs = f->procfs,
				  .maps = {.inflight_fd = -1, .watched_fd = -1}};
	f->c.maps.stats_fd = create_map(BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct kvs_stat_key),
					sizeof(struct kvs_stat), 64);
	f->c.maps.gauges_fd = create_map(BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct kvs_gauge_key),
					 sizeof(struct kvs_gauge_val), 64);
	f->c.maps.lost_fd = create_map(BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
				       sizeof(uint64_t), KVS_LOST_COUNT);
	fill_etcd(f);
	fill_redis(f);
	put_lost(f, KVS_LOST_INFLIGHT_FULL, 1);
	put_lost(f, KVS_LOST_STALE, 2);
	f->table.attach_errors[ATTACH_ERR_UNSUPPORTED] = 1;
	f->table.stale_requests = 4;
	f->table.inflight_now = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < KVS_MAX_TARGETS; i++)
		free(f->table.slots[i].exe);
	close(f->c.maps.stats_fd);
	close(f->c.maps.gauges_fd);
	close(f->c.maps.lost_fd);
	catalog__free(&f->cat);
	pthread_mutex_destroy(&f->table.lock);
	free(f);
	return 0;
}

/*
 * Replaces what follows `prefix` on its line, up to `stop`, by `with`: the
 * first such line of s (of capacity cap).
 */
static void replace_after(char *s, size_t cap, const char *prefix, char stop, const char *with)
{
	char *at = strstr(s, prefix), *end;
	size_t with_len = strlen(with);

	assert_non_null(at);
	at += strlen(prefix);
	end = strchr(at, stop);
	assert_non_null(end);
	assert_true(strlen(s) - (size_t)(end - at) + with_len < cap);
	memmove(at + with_len, end, strlen(end) + 1);
	memcpy(at, with, with_len);
}

/*
 * The page with what legitimately changes from build to build and scrape to
 * scrape fixed: the build's version and revision, the scrape's duration.
 */
static char *normalized(const struct expo *e)
{
	size_t len;
	const char *data = expo__data(e, &len);
	size_t cap = len + 256;
	char *s = malloc(cap);

	assert_non_null(s);
	memcpy(s, data, len + 1);
	replace_after(s, cap, "\nkvscope_build_info{", '}',
		      "version=\"VERSION\",revision=\"REVISION\"");
	replace_after(s, cap, "\nkvscope_scrape_duration_seconds ", '\n', "0");
	return s;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_render_matches_golden(void **state)
{
	struct fixture *f = *state;
	struct expo *e = expo__new();
	char path[700];
	char *got, *want;

	assert_non_null(e);
	collector__render(&f->c, e);
	assert_false(expo__failed(e));
	got = normalized(e);
	snprintf(path, sizeof(path), "%s/golden/%s", f->dir, GOLDEN);
	if (getenv("KVSCOPE_UPDATE_GOLDEN"))
		write_file(path, got);
	want = read_file(path);
	assert_string_equal(got, want);
	free(want);
	free(got);
	expo__free(e);
}

/* Rendering reads the maps and changes nothing: a second page is the same. */
static void test_render_is_repeatable(void **state)
{
	struct fixture *f = *state;
	struct expo *a = expo__new(), *b = expo__new();
	char *first, *second;

	assert_non_null(a);
	assert_non_null(b);
	collector__render(&f->c, a);
	collector__render(&f->c, b);
	first = normalized(a);
	second = normalized(b);
	assert_string_equal(first, second);
	free(first);
	free(second);
	expo__free(a);
	expo__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_render_matches_golden, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_render_is_repeatable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
