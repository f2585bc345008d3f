// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/collector.h"
#include "metrics/collector_disk.h"
#include "metrics/collector_maps.h"
#include "metrics/collector_process.h"
#include "metrics/selfstats.h"

#define MAX_STATUSES 32

static const char *const gauge_metric[KVS_GAUGE_COUNT] = {
    [KVS_GAUGE_RAFT_TERM] = "kvstore_raft_term",
    [KVS_GAUGE_RAFT_COMMIT_INDEX] = "kvstore_raft_commit_index",
    [KVS_GAUGE_STORAGE_SIZE] = "kvstore_storage_size_bytes",
    [KVS_GAUGE_RAFT_APPLIED_INDEX] = "kvstore_raft_applied_index",
    [KVS_GAUGE_STORAGE_SIZE_IN_USE] = "kvstore_storage_size_in_use_bytes",
};

static const char *const lost_names[KVS_LOST_COUNT] = {
    [KVS_LOST_INFLIGHT_FULL] = "inflight_full",
    [KVS_LOST_READ_FAULT] = "read_fault",
    [KVS_LOST_STALE] = "stale",
    [KVS_LOST_UNMATCHED] = "unmatched_end",
    [KVS_LOST_RING_FULL] = "ring_full",
};

struct render {
	const struct collector *c;
	struct expo *out;
	struct map_snapshot *snap;
};

static int status_of(const struct profile *p, unsigned code)
{
	if (code < KVS_CODE_OTHER && p->status_map[code])
		return p->status_map[code];
	return p->status_default;
}

/* Sums stats of (target, kind, label) by the status each code maps to. */
struct status_sum {
	int status[MAX_STATUSES];
	uint64_t count[MAX_STATUSES];
	int n;
};

static void status_add(struct status_sum *s, int status, uint64_t count)
{
	for (int i = 0; i < s->n; i++) {
		if (s->status[i] == status) {
			s->count[i] += count;
			return;
		}
	}
	if (s->n < MAX_STATUSES) {
		s->status[s->n] = status;
		s->count[s->n++] = count;
	}
}

static bool stat_is(const struct stat_entry *e, int slot, int kind, int label)
{
	return e->key.target == slot && e->key.kind == kind && e->key.label == label;
}

/*
 * Few methods (etcd's unary RPCs) get series from the start, so rate() sees the
 * first request; a store with hundreds of commands shows those it served.
 */
#define ZERO_SERIES_MAX_METHODS 24

static bool method_shown(const struct render *r, int slot, const struct profile *p, int m)
{
	if (p->nmethods <= ZERO_SERIES_MAX_METHODS)
		return true;
	for (size_t i = 0; i < r->snap->nstats; i++) {
		if (stat_is(&r->snap->stats[i], slot, KVS_STAT_REQUEST, m))
			return true;
	}
	return false;
}

static void write_requests(struct render *r, int slot, const struct target *tg)
{
	const struct profile *p = tg->profile;

	for (int m = 0; m < p->nmethods; m++) {
		struct status_sum sums = {0};
		char status[8];

		if (!method_shown(r, slot, p, m))
			continue;
		status_add(&sums, status_of(p, 0),
			   0); /* the success series exists from the start */
		for (size_t i = 0; i < r->snap->nstats; i++) {
			const struct stat_entry *e = &r->snap->stats[i];

			if (stat_is(e, slot, KVS_STAT_REQUEST, m))
				status_add(&sums, status_of(p, e->key.code), e->val.count);
		}
		for (int s = 0; s < sums.n; s++) {
			snprintf(status, sizeof(status), "%d", sums.status[s]);
			struct label l[] = {
			    {"target", tg->name}, {"method", p->methods[m]}, {"status", status}};

			expo__sample_u64(r->out, "kvstore_requests_total", l, 3, sums.count[s]);
		}
	}
}

static void write_durations(struct render *r, int slot, const struct target *tg)
{
	const struct profile *p = tg->profile;
	const struct collector *c = r->c;

	for (int m = 0; m < p->nmethods; m++) {
		uint64_t counts[KVS_MAX_BUCKETS + 1] = {0}, sum_ns = 0;

		if (!method_shown(r, slot, p, m))
			continue;
		for (size_t i = 0; i < r->snap->nstats; i++) {
			const struct stat_entry *e = &r->snap->stats[i];

			if (!stat_is(e, slot, KVS_STAT_REQUEST, m))
				continue;
			for (int b = 0; b <= c->nbounds; b++)
				counts[b] += e->val.buckets[b];
			sum_ns += e->val.sum_ns;
		}
		struct label l[] = {{"target", tg->name}, {"method", p->methods[m]}};

		expo__histogram(r->out, "kvstore_request_duration_seconds", l, 2, c->bounds,
				(size_t)c->nbounds, counts, (double)sum_ns / 1e9);
	}
}

static void write_disk_wait(struct render *r, int slot, const struct target *tg)
{
	const struct profile *p = tg->profile;

	for (int m = 0; m < p->nmethods; m++) {
		uint64_t ns = 0;

		if (!method_shown(r, slot, p, m))
			continue;
		for (size_t i = 0; i < r->snap->nstats; i++) {
			if (stat_is(&r->snap->stats[i], slot, KVS_STAT_REQUEST, m))
				ns += r->snap->stats[i].val.disk_ns;
		}
		struct label l[] = {{"target", tg->name}, {"method", p->methods[m]}};

		expo__sample(r->out, "kvstore_request_disk_wait_seconds_total", l, 2,
			     (double)ns / 1e9);
	}
}

static void write_storage_ops(struct render *r, int slot, const struct target *tg)
{
	const struct profile *p = tg->profile;
	static const char *const status[] = {"ok", "error"};

	for (int op = 0; op < p->noperations; op++) {
		uint64_t counts[2] = {0};

		for (size_t i = 0; i < r->snap->nstats; i++) {
			const struct stat_entry *e = &r->snap->stats[i];

			if (stat_is(e, slot, KVS_STAT_STORAGE, op))
				counts[e->key.code ? 1 : 0] += e->val.count;
		}
		for (int s = 0; s < 2; s++) {
			struct label l[] = {{"target", tg->name},
					    {"operation", p->operations[op]},
					    {"status", status[s]}};

			expo__sample_u64(r->out, "kvstore_storage_operations_total", l, 3,
					 counts[s]);
		}
	}
}

static void write_elections(struct render *r, int slot, const struct target *tg)
{
	uint64_t n = 0;

	if (!tg->profile->has_raft)
		return;
	for (size_t i = 0; i < r->snap->nstats; i++) {
		if (stat_is(&r->snap->stats[i], slot, KVS_STAT_LEADER_CHANGE, 0))
			n += r->snap->stats[i].val.count;
	}
	struct label l[] = {{"target", tg->name}};

	expo__sample_u64(r->out, "kvstore_raft_leader_elections_total", l, 1, n);
}

/* Bytes of a regular file, or of the regular files directly inside a directory. */
static int path_size(int dirfd, const char *rel, uint64_t *total)
{
	struct stat st;
	int fd;

	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW))
		return -1;
	if (S_ISREG(st.st_mode)) {
		*total += (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return -1;
	fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (struct dirent *de; (de = readdir(dir));) {
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			*total += (uint64_t)st.st_size;
	}
	closedir(dir);
	return 0;
}

/*
 * Sums the profile's storage files below the process's working directory,
 * opened through /proc/PID/cwd so a container's files resolve in its own
 * mount namespace; symlinks are not followed, so nothing outside is read.
 */
static int storage_files_size(const char *procfs, const struct target *tg, uint64_t *size)
{
	char cwd[64];
	int dirfd, found = 0;

	snprintf(cwd, sizeof(cwd), "%s/%d/cwd", procfs, (int)tg->pid);
	dirfd = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -1;
	*size = 0;
	for (int i = 0; i < tg->profile->nsize_files; i++)
		found += path_size(dirfd, tg->profile->size_files[i], size) == 0;
	close(dirfd);
	return found ? 0 : -1;
}

static void write_gauge(struct render *r, int slot, const struct target *tg, int gauge)
{
	struct label l[] = {{"target", tg->name}};
	uint64_t size;

	if (gauge == KVS_GAUGE_STORAGE_SIZE && tg->profile->nsize_files) {
		/* a store that keeps no size in memory: its files, seen from its cwd */
		if (tg->alive && storage_files_size(r->c->procfs, tg, &size) == 0)
			expo__sample_u64(r->out, gauge_metric[gauge], l, 1, size);
		return;
	}
	if (!r->snap->gauge_seen[slot][gauge] || !tg->alive)
		return; /* unknown is absent, never a made-up zero */
	expo__sample_u64(r->out, gauge_metric[gauge], l, 1, r->snap->gauges[slot][gauge]);
}

static void write_leader(struct render *r, int slot, const struct target *tg)
{
	struct label l[] = {{"target", tg->name}};
	uint64_t state = r->snap->gauges[slot][KVS_GAUGE_RAFT_STATE];

	if (!tg->profile->has_raft || !tg->alive ||
	    !r->snap->gauge_seen[slot][KVS_GAUGE_RAFT_STATE])
		return;
	expo__sample_u64(r->out, "kvstore_raft_leader", l, 1,
			 state == tg->profile->raft_leader_state);
}

/* etcd's has_leader: the member knows a leader (raft.None is 0). */
static void write_has_leader(struct render *r, int slot, const struct target *tg)
{
	struct label l[] = {{"target", tg->name}};

	if (!tg->profile->has_raft || !tg->alive || !r->snap->gauge_seen[slot][KVS_GAUGE_RAFT_LEAD])
		return;
	expo__sample_u64(r->out, "kvstore_raft_has_leader", l, 1,
			 r->snap->gauges[slot][KVS_GAUGE_RAFT_LEAD] != 0);
}

/*
 * The cluster label is the store's cluster ID in hex, once a probe has read it;
 * container_id names the container the process runs in, absent for a host process.
 */
static void write_info(struct render *r, int slot, const struct target *tg)
{
	char pid[16], cluster[24];

	snprintf(pid, sizeof(pid), "%d", (int)tg->pid);
	struct label l[8] = {{"target", tg->name},
			     {"pid", pid},
			     {"exe", tg->exe},
			     {"version", tg->version},
			     {"store", tg->profile->store},
			     {"profile", tg->profile->name}};
	size_t n = 6;

	if (r->snap->gauge_seen[slot][KVS_GAUGE_CLUSTER_ID]) {
		snprintf(cluster, sizeof(cluster), "%" PRIx64,
			 (uint64_t)r->snap->gauges[slot][KVS_GAUGE_CLUSTER_ID]);
		l[n++] = (struct label){"cluster", cluster};
	}
	if (tg->container_id[0])
		l[n++] = (struct label){"container_id", tg->container_id};
	expo__sample_u64(r->out, "kvstore_target_info", l, n, 1);
}

static void write_up(struct render *r, int slot, const struct target *tg)
{
	struct label l[] = {{"target", tg->name}};

	(void)slot;
	expo__sample_u64(r->out, "kvstore_target_up", l, 1, tg->alive);
}

static void write_attached(struct render *r, int slot, const struct target *tg)
{
	struct label l[] = {{"target", tg->name}};

	(void)slot;
	expo__sample_u64(r->out, "kvscope_target_attached", l, 1, tg->attached);
}

typedef void (*target_writer)(struct render *r, int slot, const struct target *tg);

/* One family across all targets: the text format wants a family's samples together. */
static void each_target(struct render *r, target_writer fn)
{
	const struct target_table *t = r->c->targets;

	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (t->slots[i].used && t->slots[i].profile)
			fn(r, i, &t->slots[i]);
	}
}

static void gauge_writer_term(struct render *r, int s, const struct target *tg)
{
	write_gauge(r, s, tg, KVS_GAUGE_RAFT_TERM);
}

static void gauge_writer_commit(struct render *r, int s, const struct target *tg)
{
	write_gauge(r, s, tg, KVS_GAUGE_RAFT_COMMIT_INDEX);
}

static void gauge_writer_in_use(struct render *r, int s, const struct target *tg)
{
	write_gauge(r, s, tg, KVS_GAUGE_STORAGE_SIZE_IN_USE);
}

static void gauge_writer_applied(struct render *r, int s, const struct target *tg)
{
	write_gauge(r, s, tg, KVS_GAUGE_RAFT_APPLIED_INDEX);
}

static void gauge_writer_size(struct render *r, int s, const struct target *tg)
{
	write_gauge(r, s, tg, KVS_GAUGE_STORAGE_SIZE);
}

static const struct family {
	const char *name, *type, *help;
	target_writer fn;
} target_families[] = {
    {"kvstore_requests_total", "counter", "Client requests handled, by method and status.",
     write_requests},
    {"kvstore_request_duration_seconds", "histogram",
     "Time the store took to handle a request, in seconds.", write_durations},
    {"kvstore_request_disk_wait_seconds_total", "counter",
     "Time requests spent waiting for disk syncs on their own task, in seconds.", write_disk_wait},
    {"kvstore_storage_operations_total", "counter", "Storage operations, by operation and status.",
     write_storage_ops},
    {"kvstore_storage_size_bytes", "gauge", "Size of the backend database, in bytes.",
     gauge_writer_size},
    {"kvstore_storage_size_in_use_bytes", "gauge",
     "Bytes of the backend database in use (its size less free pages).", gauge_writer_in_use},
    {"kvstore_raft_term", "gauge", "Current Raft term of the member.", gauge_writer_term},
    {"kvstore_raft_commit_index", "gauge", "Raft commit index of the member.", gauge_writer_commit},
    {"kvstore_raft_leader_elections_total", "counter", "Leader changes this member has seen.",
     write_elections},
    {"kvstore_raft_applied_index", "gauge", "Raft index of the last entry this member applied.",
     gauge_writer_applied},
    {"kvstore_raft_leader", "gauge", "1 while this member is the Raft leader.", write_leader},
    {"kvstore_raft_has_leader", "gauge", "1 while this member knows a Raft leader.",
     write_has_leader},
    {"kvstore_target_info", "gauge", "What each watched store process is.", write_info},
    {"kvstore_target_up", "gauge", "1 while the watched store process runs.", write_up},
    {"kvscope_target_attached", "gauge", "1 while kvscope's probes are attached to the target.",
     write_attached},
};

static void write_self(struct render *r)
{
	const struct target_table *t = r->c->targets;

	expo__family(r->out, "kvscope_build_info", "gauge", "kvscope's version and revision.");
	struct label b[] = {{"version", KVSCOPE_VERSION}, {"revision", KVSCOPE_REVISION}};

	expo__sample_u64(r->out, "kvscope_build_info", b, 2, 1);
	expo__family(r->out, "kvscope_attach_errors_total", "counter",
		     "Store processes kvscope could not attach to, by reason.");
	for (int e = 0; e < ATTACH_ERR_COUNT; e++) {
		struct label l[] = {{"reason", attach_error_name((enum attach_error)e)}};

		expo__sample_u64(r->out, "kvscope_attach_errors_total", l, 1, t->attach_errors[e]);
	}
	expo__family(r->out, "kvscope_targets_reclaimed_total", "counter",
		     "Target slots given back after their process was gone for "
		     "--target.reclaim-after.");
	expo__sample_u64(r->out, "kvscope_targets_reclaimed_total", NULL, 0, t->reclaimed);
	expo__family(r->out, "kvscope_inflight_requests", "gauge",
		     "Requests started and not yet ended, as of the last sweep.");
	expo__sample_u64(r->out, "kvscope_inflight_requests", NULL, 0, t->inflight_now);
	expo__family(r->out, "kvscope_events_lost_total", "counter",
		     "Probe events that could not be counted, by reason.");
	for (int e = 0; e < KVS_LOST_COUNT; e++) {
		struct label l[] = {{"reason", lost_names[e]}};

		uint64_t n = r->snap->lost[e] + (e == KVS_LOST_STALE ? t->stale_requests : 0);

		expo__sample_u64(r->out, "kvscope_events_lost_total", l, 1, n);
	}
}

static double elapsed_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sample lines so far: every line that is not a comment. */
static uint64_t count_series(const struct expo *out)
{
	size_t len;
	const char *text = expo__data(out, &len);
	uint64_t n = 0;
	bool line_start = true;

	for (size_t i = 0; i < len; i++) {
		if (line_start && text[i] != '#')
			n++;
		line_start = text[i] == '\n';
	}
	return n;
}

void collector__render(void *ctx, struct expo *out)
{
	const struct collector *c = ctx;
	struct map_snapshot *snap = calloc(1, sizeof(*snap));
	struct render r = {.c = c, .out = out, .snap = snap};
	struct timespec t0;
	int snap_rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!snap)
		return;
	/* under the lock: a slot reclaimed and given to another target meanwhile
	 * would otherwise show the old target's counts under the new name */
	pthread_mutex_lock(&c->targets->lock);
	snap_rc = map_snapshot__read(snap, c->maps.stats_fd, c->maps.gauges_fd, c->maps.lost_fd);
	for (size_t f = 0; f < sizeof(target_families) / sizeof(target_families[0]); f++) {
		expo__family(out, target_families[f].name, target_families[f].type,
			     target_families[f].help);
		each_target(&r, target_families[f].fn);
	}
	collector_disk__write(c, out);
	collector_process__write(c, out);
	write_self(&r);
	pthread_mutex_unlock(&c->targets->lock);
	selfstats__write(out, c->procfs);
	expo__family(out, "kvscope_scrape_success", "gauge",
		     "1 when every BPF map was read for this scrape.");
	expo__sample_u64(out, "kvscope_scrape_success", NULL, 0, snap_rc == 0);
	expo__family(out, "kvscope_series", "gauge",
		     "Series in this exposition, this one included.");
	expo__sample_u64(out, "kvscope_series", NULL, 0, count_series(out) + 2);
	expo__family(out, "kvscope_scrape_duration_seconds", "gauge",
		     "Time this scrape took to collect, in seconds.");
	expo__sample(out, "kvscope_scrape_duration_seconds", NULL, 0, elapsed_since(&t0));
	map_snapshot__free(snap);
	free(snap);
}
