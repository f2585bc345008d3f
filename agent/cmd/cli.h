/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command line, in the manner of the Prometheus exporters: --flag=value or
 * --flag value; a bad flag is an error that the caller turns into exit 2.
 */
#ifndef KVSCOPE_CLI_H
#define KVSCOPE_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/kvscope_types.h"
#include "common/log.h"

#define CLI_MAX_PIDS  64
#define CLI_MAX_UIDS  64
#define CLI_MAX_GLOBS 16

enum cli_command { CMD_RUN, CMD_PROBES, CMD_CHECK, CMD_TRACE, CMD_HELP, CMD_VERSION };

struct config {
	enum cli_command command;
	const char *listen_address;
	const char *telemetry_path;
	const char *web_config_file; /* --web.config.file: TLS and basic auth */
	enum log_level log_level;
	enum log_format log_format;
	const char *profile_dir;
	const char *procfs;
	double buckets[KVS_MAX_BUCKETS];
	int nbuckets;
	/* the selection policy: each list that is given must match */
	pid_t pids[CLI_MAX_PIDS];
	int npids;
	uid_t uids[CLI_MAX_UIDS];
	int nuids;
	const char *exe_globs[CLI_MAX_GLOBS];
	int nexe;
	const char *cgroup_globs[CLI_MAX_GLOBS];
	int ncgroup;
	const char *name_globs[CLI_MAX_GLOBS];
	int nname;
	const char *target_name; /* the first name glob (trace's --target), for messages */
	double reclaim_after_s;	 /* a target gone this long gives its slot back */
	int max_targets;
	double discovery_interval_s;
	double inflight_max_age_s; /* a request unfinished for this long is dropped as stale */
	const char *probes_binary; /* `probes BINARY` */
	/* `trace` */
	const char *trace_method; /* only this method */
	double trace_interval_s;
	double trace_duration_s; /* 0: until Ctrl-C */
	double trace_slow_s;	 /* print requests at least this slow; 0: none */
	bool trace_json;
};

void cli_defaults(struct config *cfg);
/* 0 on success; -1 with a one-line reason in err. */
int cli_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen);
void cli_usage(FILE *f);

/* "0.0001,0.001,1" into ascending bounds; -1 when not strictly ascending positive numbers. */
int cli_parse_buckets(const char *s, double *out, int max, int *n);
/* "500ms", "1s", "2m", "1.5s" into seconds; -1 when malformed. */
int cli_parse_duration(const char *s, double *out);

#endif
