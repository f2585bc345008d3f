// SPDX-License-Identifier: Apache-2.0
/*
 * kvscope trace: the daemon's discovery and probes, loaded as a second,
 * private set of BPF objects (its own maps and `watched` filter, so a
 * daemon on the same host keeps exact counts), with power-of-two
 * histogram bounds. Every interval the summed maps are diffed and printed;
 * requests over --slow arrive one by one through a ring buffer.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "cmd/commands.h"
#include "cmd/pipeline.h"
#include "common/log.h"
#include "cmd/stopsig.h"
#include "probes/offcpu.h"
#include "discover/targets.h"
#include "cmd/trace_rows.h"

#define MAX_SLOWEST 512

static int libbpf_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The slowest reported request of a (target, method) in an interval. */
struct slowest {
	uint16_t target, method;
	uint64_t ns;
};

struct slowest_table {
	struct slowest e[MAX_SLOWEST];
	int n;
};

struct tracer {
	const struct config *cfg;
	struct pipeline pipe;
	struct offcpu_ctx *offcpu;
	struct ring_buffer *slow_rb;
	double bounds_us[TRACE_POW2_BOUNDS];
	struct map_snapshot prev;
	struct disk_entry *prev_disk;
	size_t nprev_disk;
	double interval_start;
	/* events that ended after this (ktime ns) belong to the next interval */
	uint64_t cutoff_ns;
	struct slowest_table slowest[2]; /* this interval, the next */
};

static void slowest_note(struct slowest_table *t, uint16_t target, uint16_t method, uint64_t ns)
{
	for (int i = 0; i < t->n; i++) {
		if (t->e[i].target == target && t->e[i].method == method) {
			t->e[i].ns = ns > t->e[i].ns ? ns : t->e[i].ns;
			return;
		}
	}
	if (t->n < MAX_SLOWEST)
		t->e[t->n++] = (struct slowest){target, method, ns};
}

static void slow_from_event(const struct tracer *tr, const struct kvs_slow_event *e,
			    const struct target *tg, struct trace_slow *out)
{
	double mono = clock_s(CLOCK_MONOTONIC);

	memset(out, 0, sizeof(*out));
	out->wall_s = clock_s(CLOCK_REALTIME) - (mono - (double)e->end_ns / 1e9);
	snprintf(out->target, sizeof(out->target), "%s", tg->name);
	out->pid = (int)e->tgid;
	snprintf(out->method, sizeof(out->method), "%s", trace_method_name(tg->profile, e->method));
	out->status = trace_status_of(tg->profile, e->code);
	out->latency_ns = e->latency_ns;
	out->disk_ns = e->disk_ns;
	out->offcpu_ns = e->offcpu_ns;
	/* a goroutine moves between threads: only thread-keyed requests have it */
	out->offcpu_known = tr->offcpu && tg->profile->lang == PROFILE_LANG_C;
}

static int on_slow_event(void *ctx, void *data, size_t size)
{
	struct tracer *tr = ctx;
	const struct kvs_slow_event *e = data;
	const struct target *tg;
	struct trace_slow s;

	if (size < sizeof(*e) || e->target >= KVS_MAX_TARGETS)
		return 0;
	tg = &tr->pipe.targets.slots[e->target];
	if (!tg->used || !tg->profile)
		return 0;
	if (tr->cfg->trace_method &&
	    strcasecmp(tr->cfg->trace_method, trace_method_name(tg->profile, e->method)))
		return 0;
	slowest_note(&tr->slowest[e->end_ns > tr->cutoff_ns], e->target, e->method, e->latency_ns);
	slow_from_event(tr, e, tg, &s);
	if (tr->cfg->trace_json)
		trace_render_slow_json(stdout, &s);
	else
		trace_render_slow_text(stdout, &s);
	fflush(stdout);
	return 0;
}

/* Disk syncs on the hook cmd_run would use; tracing goes on without them. */
static void open_disk(struct tracer *tr)
{
	struct kernel_features f;
	enum syscall_hook hook;
	char err[256];

	if (pipeline__open_disk(&tr->pipe, &f, &hook, err, sizeof(err)))
		fprintf(stderr, "kvscope trace: no disk sync latency: %s\n", err);
}

static bool any_thread_keyed(const struct target_table *t)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (t->slots[i].attached && t->slots[i].profile->lang == PROFILE_LANG_C)
			return true;
	}
	return false;
}

/* Off-CPU time costs a lookup per context switch: only for stores that can use it. */
static void open_offcpu(struct tracer *tr)
{
	char err[256];

	if (!any_thread_keyed(&tr->pipe.targets))
		return;
	if (offcpu__open(tr->pipe.bpf, &tr->offcpu, err, sizeof(err)))
		fprintf(stderr, "kvscope trace: no off-CPU time: %s\n", err);
}

static int open_slow_events(struct tracer *tr)
{
	if (tr->cfg->trace_slow_s <= 0)
		return 0;
	tr->slow_rb =
	    ring_buffer__new(attach__slow_events_fd(tr->pipe.bpf), on_slow_event, tr, NULL);
	if (!tr->slow_rb) {
		fprintf(stderr, "kvscope trace: cannot read slow requests: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int attached_targets(const struct target_table *t, char *names, size_t len)
{
	int n = 0;
	size_t used = 0;

	names[0] = '\0';
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (!t->slots[i].attached)
			continue;
		int w = snprintf(names + used, len - used, "%s%s", n ? ", " : "", t->slots[i].name);

		used = w > 0 && (size_t)w < len - used ? used + (size_t)w : used;
		n++;
	}
	return n;
}

static int load_probes(struct tracer *tr)
{
	double bounds_s[TRACE_POW2_BOUNDS];
	struct pipeline_opts opts = {
	    .bounds_s = bounds_s, .nbounds = TRACE_POW2_BOUNDS, .slow_s = tr->cfg->trace_slow_s};
	char err[512];

	trace_pow2_bounds(tr->bounds_us, TRACE_POW2_BOUNDS);
	for (int i = 0; i < TRACE_POW2_BOUNDS; i++)
		bounds_s[i] = tr->bounds_us[i] / 1e6;
	if (pipeline__open(&tr->pipe, tr->cfg, &opts, err, sizeof(err))) {
		fprintf(stderr, "kvscope trace: %s\n", err);
		return -1;
	}
	return 0;
}

static int find_targets(struct tracer *tr)
{
	const struct config *cfg = tr->cfg;
	char names[8];

	discovery__scan(&tr->pipe.discovery);
	if (!attached_targets(&tr->pipe.targets, names, sizeof(names))) {
		fprintf(stderr, "kvscope trace: no store process to trace%s\n",
			cfg->npids || cfg->target_name ? " matches --pid/--target" : "");
		return -1;
	}
	return 0;
}

/* On stderr, once everything is in place: scripts wait for this line. */
static void announce(const struct tracer *tr)
{
	char names[1024];
	int n = attached_targets(&tr->pipe.targets, names, sizeof(names));

	fprintf(stderr, "kvscope trace: tracing %d target%s (%s); Ctrl-C ends\n", n,
		n == 1 ? "" : "s", names);
	if (!tr->cfg->trace_json)
		printf(
		    "Latency in power-of-two buckets; p50/p90/p99 interpolated inside a bucket;\n"
		    "max exact when the slowest request was reported by --slow, else \"<=\" the\n"
		    "bound of its bucket. OFFCPU only for thread-keyed stores (C), \"-\" for "
		    "Go.\n");
	if (!tr->cfg->trace_json && tr->cfg->trace_slow_s > 0) {
		printf("requests slower than %gms, as they end:\n", tr->cfg->trace_slow_s * 1e3);
		trace_render_slow_header(stdout);
	}
	fflush(stdout);
}

static int take_snapshot(struct tracer *tr, struct map_snapshot *s, struct disk_entry **disk,
			 size_t *ndisk)
{
	struct bpf_maps maps;

	attach__maps(tr->pipe.bpf, &maps);
	*disk = NULL;
	*ndisk = 0;
	if (tr->pipe.disk && disk__snapshot(tr->pipe.disk, disk, ndisk)) {
		*disk = NULL;
		*ndisk = 0;
	}
	return map_snapshot__read(s, maps.stats_fd, maps.gauges_fd, maps.lost_fd);
}

static void apply_slowest(struct tracer *tr, struct trace_method_row *rows, int n, bool lost)
{
	const struct slowest_table *t = &tr->slowest[0];

	for (int i = 0; !lost && i < t->n; i++) {
		const struct target *tg = &tr->pipe.targets.slots[t->e[i].target];

		if (tg->used && tg->profile)
			trace_rows__note_latency(rows, n, tg->name,
						 trace_method_name(tg->profile, t->e[i].method),
						 t->e[i].ns);
	}
	tr->slowest[0] = tr->slowest[1];
	tr->slowest[1].n = 0;
}

static void render(struct tracer *tr, struct trace_interval *iv)
{
	if (tr->cfg->trace_json)
		trace_render_interval_json(stdout, iv);
	else
		trace_render_interval_text(stdout, iv);
	fflush(stdout);
}

/* The interval that ends now: diff the maps, print, keep the new snapshot. */
static int tick(struct tracer *tr)
{
	struct map_snapshot cur;
	struct disk_entry *disk;
	size_t ndisk;
	struct trace_interval iv = {.bounds_us = tr->bounds_us, .nbounds = TRACE_POW2_BOUNDS};
	double now = clock_s(CLOCK_MONOTONIC);
	int rc = 0;

	tr->cutoff_ns = (uint64_t)(now * 1e9);
	take_snapshot(tr, &cur, &disk, &ndisk);
	if (tr->slow_rb)
		ring_buffer__consume(tr->slow_rb);
	tr->cutoff_ns = UINT64_MAX;
	iv.wall_s = clock_s(CLOCK_REALTIME);
	iv.length_s = now - tr->interval_start;
	if (trace_rows__methods(cur.stats, cur.nstats, tr->prev.stats, tr->prev.nstats,
				&tr->pipe.targets, tr->cfg->trace_method, &iv.methods,
				&iv.nmethods) ||
	    trace_rows__disks(disk, ndisk, tr->prev_disk, tr->nprev_disk, &tr->pipe.targets,
			      tr->pipe.disk, &iv.disks, &iv.ndisks))
		rc = -1;
	/* a slow event that found the ring buffer full: the maxima may be wrong */
	apply_slowest(tr, iv.methods, iv.nmethods,
		      cur.lost[KVS_LOST_INFLIGHT_FULL] != tr->prev.lost[KVS_LOST_INFLIGHT_FULL]);
	if (!rc)
		render(tr, &iv);
	free(iv.methods);
	free(iv.disks);
	map_snapshot__free(&tr->prev);
	free(tr->prev_disk);
	tr->prev = cur;
	tr->prev_disk = disk;
	tr->nprev_disk = ndisk;
	tr->interval_start = now;
	return rc;
}

static void wait_until(struct tracer *tr, double deadline)
{
	double left = deadline - clock_s(CLOCK_MONOTONIC);

	if (left <= 0)
		return;
	if (tr->slow_rb) {
		ring_buffer__poll(tr->slow_rb, (int)(left * 1000) + 1);
		return;
	}
	struct timespec ts = {.tv_sec = (time_t)left,
			      .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};

	nanosleep(&ts, NULL);
}

static void trace_loop(struct tracer *tr)
{
	const struct config *cfg = tr->cfg;
	double start = clock_s(CLOCK_MONOTONIC);
	double end = cfg->trace_duration_s > 0 ? start + cfg->trace_duration_s : INFINITY;
	double next = start + cfg->trace_interval_s;

	tr->interval_start = start;
	while (!stopsig__requested()) {
		double now = clock_s(CLOCK_MONOTONIC);

		if (now >= end)
			break;
		if (now >= next) {
			tick(tr);
			discovery__scan(
			    &tr->pipe.discovery); /* members that (re)started meanwhile */
			next += cfg->trace_interval_s;
			continue;
		}
		wait_until(tr, next < end ? next : end);
	}
	tick(tr); /* the last, maybe shorter, interval: every request is shown once */
}

static void tracer_close(struct tracer *tr)
{
	ring_buffer__free(tr->slow_rb);
	offcpu__close(tr->offcpu);
	pipeline__close(&tr->pipe);
	map_snapshot__free(&tr->prev);
	free(tr->prev_disk);
}

int cmd_trace(const struct config *cfg)
{
	static struct tracer tr;
	int rc = 1;

	tr.cfg = cfg;
	tr.cutoff_ns = UINT64_MAX;
	stopsig__install();
	libbpf_set_print(libbpf_warnings);
	if (load_probes(&tr) || find_targets(&tr))
		goto close;
	open_disk(&tr);
	open_offcpu(&tr);
	if (open_slow_events(&tr))
		goto close;
	take_snapshot(&tr, &tr.prev, &tr.prev_disk, &tr.nprev_disk);
	announce(&tr);
	trace_loop(&tr);
	rc = 0;
close:
	tracer_close(&tr);
	return rc;
}
