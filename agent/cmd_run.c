// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "collector.h"
#include "commands.h"
#include "http.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

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

static void sleep_seconds(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) && errno == EINTR && !stop_requested)
		;
}

struct daemon {
	struct catalog catalog;
	struct target_table targets;
	struct attach_ctx *bpf;
	struct binary_cache *binaries;
	struct http_server *http;
	struct collector collector;
	struct discovery discovery;
};

static int start_http(struct daemon *d, const struct config *cfg)
{
	struct http_options opts = {.listen_address = cfg->listen_address,
				    .telemetry_path = cfg->telemetry_path};
	char err[256];

	d->collector = (struct collector){.targets = &d->targets,
					  .bounds = cfg->buckets,
					  .nbounds = cfg->nbuckets,
					  .procfs = cfg->procfs};
	attach__maps(d->bpf, &d->collector.maps);
	if (http_server__start(&opts, collector__render, &d->collector, &d->http, err,
			       sizeof(err))) {
		log_msg(LOG_ERROR, "cannot serve metrics", "err", err, NULL);
		return -1;
	}
	log_msg(LOG_INFO, "listening", "address", cfg->listen_address, "path",
		cfg->telemetry_path, NULL);
	return 0;
}

static int daemon_start(struct daemon *d, const struct config *cfg)
{
	char err[512], n[16];

	if (catalog__load(&d->catalog, cfg->profile_dir, false))
		return -1;
	snprintf(n, sizeof(n), "%d", d->catalog.count);
	log_msg(LOG_INFO, "profiles loaded", "count", n, NULL);
	target_table__init(&d->targets, cfg->max_targets);
	if (attach__open(cfg->buckets, cfg->nbuckets, &d->bpf, err, sizeof(err))) {
		log_msg(LOG_ERROR, "cannot load BPF programs", "err", err, NULL);
		return -1;
	}
	d->binaries = binary_cache__new(&d->catalog);
	if (!d->binaries || start_http(d, cfg))
		return -1;
	d->discovery = (struct discovery){.table = &d->targets,
					  .binaries = d->binaries,
					  .bpf = d->bpf,
					  .procfs = cfg->procfs,
					  .filter = {.pids = cfg->pids,
						     .npids = cfg->npids,
						     .exe_glob = cfg->target_exe,
						     .name_glob = cfg->target_name},
					  .self = getpid()};
	return 0;
}

static void daemon_stop(struct daemon *d)
{
	http_server__stop(d->http);
	binary_cache__free(d->binaries);
	attach__close(d->bpf);
	catalog__free(&d->catalog);
}

int cmd_run(const struct config *cfg)
{
	static struct daemon d;
	int rc = 1;

	install_signals();
	libbpf_set_print(libbpf_log);
	if (daemon_start(&d, cfg) == 0) {
		log_msg(LOG_INFO, "request and Raft probes: uprobes on the store binaries", NULL);
		while (!stop_requested) {
			discovery__scan(&d.discovery);
			sleep_seconds(cfg->discovery_interval_s);
		}
		log_msg(LOG_INFO, "stopping: detaching every probe", NULL);
		rc = 0;
	}
	daemon_stop(&d);
	return rc;
}
