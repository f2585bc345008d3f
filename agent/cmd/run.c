// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <pthread.h>

#include "common/caps.h"
#include "metrics/collector.h"
#include "cmd/commands.h"
#include "cmd/pipeline.h"
#include "http/server.h"
#include "common/log.h"
#include "cmd/stopsig.h"
#include "http/webconfig.h"
#include "discover/procevents.h"

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_WARN : LOG_INFO, "libbpf", "detail", line, NULL);
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	nanosleep(&ts, NULL); /* EINTR ends it early: the loop checks for a stop */
}

struct daemon {
	struct pipeline pipe;
	struct procevents *events;
	struct http_server *http;
	struct collector collector;
	struct web_config web;
};

static int start_http(struct daemon *d, const struct config *cfg)
{
	struct http_options opts = {.listen_address = cfg->listen_address,
				    .telemetry_path = cfg->telemetry_path,
				    .web = cfg->web_config_file ? &d->web : NULL};
	char err[256];

	d->collector = (struct collector){.targets = &d->pipe.targets,
					  .disk = d->pipe.disk,
					  .bounds = cfg->buckets,
					  .nbounds = cfg->nbuckets,
					  .procfs = cfg->procfs};
	attach__maps(d->pipe.bpf, &d->collector.maps);
	if (http_server__start(&opts, collector__render, &d->collector, &d->http, err,
			       sizeof(err))) {
		log_msg(LOG_ERROR, "cannot serve metrics", "err", err, NULL);
		return -1;
	}
	log_msg(LOG_INFO, "listening", "address", cfg->listen_address, "path", cfg->telemetry_path,
		NULL);
	return 0;
}

/* Disk syscall probes on the best hook this kernel has; kvscope runs on without. */
static void start_disk(struct daemon *d)
{
	struct kernel_features f;
	enum syscall_hook hook;
	char err[256];
	int rc = pipeline__open_disk(&d->pipe, &f, &hook, err, sizeof(err));

	log_msg(LOG_INFO, "syscall hook chosen", "hook", hooks__name(hook), "kernel", f.release,
		NULL);
	if (rc)
		log_msg(LOG_WARN, "disk metrics off", "err", err, NULL);
	else if (d->pipe.disk)
		log_msg(LOG_INFO, "disk probes attached", "hook", hooks__name(hook), NULL);
}

static void start_events(struct daemon *d)
{
	char err[256];

	if (procevents__open(&d->events, err, sizeof(err))) {
		log_msg(LOG_WARN, "process events unavailable, polling /proc", "err", err, NULL);
		return;
	}
	discovery__set_events(&d->pipe.discovery, d->events);
	log_msg(LOG_INFO, "process events: sched_process_exec/exit tracepoints", NULL);
}

static int load_web_config(struct daemon *d, const struct config *cfg)
{
	char err[512];

	if (!cfg->web_config_file)
		return 0;
	if (webconfig__load(cfg->web_config_file, &d->web, err, sizeof(err))) {
		log_msg(LOG_ERROR, "cannot load web config", "err", err, NULL);
		return -1;
	}
	log_msg(LOG_INFO, "web config loaded", "file", cfg->web_config_file, "tls",
		d->web.tls ? "true" : "false", "basic_auth", d->web.nusers ? "true" : "false",
		NULL);
	return 0;
}

/* The BPF objects are loaded: keep only what attaching to new targets needs. */
static int drop_privileges(const struct config *cfg)
{
	cap_value_t keep[8];
	int n;
	const cap_value_t *req = caps__required(&n);
	char err[256], host[256];
	unsigned port = 0;

	memcpy(keep, req, (size_t)n * sizeof(*keep));
	if (http_parse_listen_address(cfg->listen_address, host, sizeof(host), &port) == 0 &&
	    port < 1024)
		keep[n++] = CAP_NET_BIND_SERVICE;
	if (caps__drop_to(keep, n, err, sizeof(err))) {
		log_msg(LOG_ERROR, "cannot drop privileges", "err", err, NULL);
		return -1;
	}
	return 0;
}

static int daemon_start(struct daemon *d, const struct config *cfg)
{
	struct pipeline_opts opts = {.bounds_s = cfg->buckets, .nbounds = cfg->nbuckets};
	char err[512], n[16];

	if (load_web_config(d, cfg))
		return -1;
	if (pipeline__open(&d->pipe, cfg, &opts, err, sizeof(err))) {
		log_msg(LOG_ERROR, "cannot start", "err", err, NULL);
		return -1;
	}
	snprintf(n, sizeof(n), "%d", d->pipe.catalog.count);
	log_msg(LOG_INFO, "profiles loaded", "count", n, NULL);
	start_events(d);
	/* Before the HTTP server's threads: capabilities are per thread. */
	if (drop_privileges(cfg) || start_http(d, cfg))
		return -1;
	/* targets first: verifying the syscall programs takes a second or two */
	discovery__scan(&d->pipe.discovery);
	http_server__set_ready(d->http);
	if (!stopsig__requested())
		start_disk(d);
	pthread_mutex_lock(&d->pipe.targets.lock); /* scrapes read it under this lock */
	d->collector.disk = d->pipe.disk;
	pthread_mutex_unlock(&d->pipe.targets.lock);
	discovery__set_disk(&d->pipe.discovery, d->pipe.disk);
	return 0;
}

static void daemon_stop(struct daemon *d)
{
	http_server__stop(d->http);
	webconfig__free(&d->web);
	procevents__close(d->events);
	pipeline__close(&d->pipe);
}

/*
 * Discovery acts on each exec/exit event as it comes (the event names the
 * pid); the /proc scan every `fallback` seconds only catches what lost
 * events missed, and costs nothing for pids already seen. Without events it
 * polls. Once a second, gone targets past --target.reclaim-after give their
 * slots back; every 5 s, stale in-flight requests are dropped.
 */
static void discovery_loop(struct daemon *d, const struct config *cfg)
{
	struct discovery *disc = &d->pipe.discovery;
	double fallback = d->events ? 2.0 : cfg->discovery_interval_s;
	double next = 0, next_sweep = 0, next_reclaim = 0;

	while (!stopsig__requested()) {
		double now = now_seconds();

		if (now >= next) {
			discovery__scan(disc);
			next = now + fallback;
		}
		if (now >= next_sweep) {
			discovery__sweep(disc, cfg->inflight_max_age_s);
			next_sweep = now + 5;
		}
		if (now >= next_reclaim) {
			discovery__reclaim(disc, now, cfg->reclaim_after_s);
			next_reclaim = now + 1;
		}
		double until = next < next_reclaim ? next : next_reclaim;
		int wait_ms = (int)((until - now) * 1000) + 1;

		if (discovery__wait_events(disc, wait_ms) < 0)
			sleep_seconds((double)wait_ms / 1000);
	}
}

int cmd_run(const struct config *cfg)
{
	static struct daemon d;
	int rc = 1;

	stopsig__install();
	libbpf_set_print(libbpf_log);
	stopsig__block(true);
	if (daemon_start(&d, cfg) == 0) {
		stopsig__block(false);
		log_msg(LOG_INFO, "request and Raft probes: uprobes on the store binaries", NULL);
		discovery_loop(&d, cfg);
		log_msg(LOG_INFO, "stopping: detaching every probe", NULL);
		rc = 0;
	}
	daemon_stop(&d);
	return rc;
}
