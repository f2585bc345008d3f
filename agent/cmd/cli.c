// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

enum {
	OPT_LISTEN = 256,
	OPT_PATH,
	OPT_WEB_CONFIG,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_PROFILE_DIR,
	OPT_PROCFS,
	OPT_BUCKETS,
	OPT_PID,
	OPT_EXE,
	OPT_NAME,
	OPT_UID,
	OPT_CGROUP,
	OPT_RECLAIM,
	OPT_MAX_TARGETS,
	OPT_INTERVAL,
	OPT_VERSION,
	OPT_INFLIGHT_AGE,
	OPT_TRACE_TARGET,
	OPT_TRACE_METHOD,
	OPT_TRACE_INTERVAL,
	OPT_TRACE_DURATION,
	OPT_TRACE_SLOW,
	OPT_TRACE_JSON,
};

static const struct option long_options[] = {
    {"web.listen-address", required_argument, NULL, OPT_LISTEN},
    {"web.telemetry-path", required_argument, NULL, OPT_PATH},
    {"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
    {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log.format", required_argument, NULL, OPT_LOG_FORMAT},
    {"profile.dir", required_argument, NULL, OPT_PROFILE_DIR},
    {"path.procfs", required_argument, NULL, OPT_PROCFS},
    {"histogram.buckets", required_argument, NULL, OPT_BUCKETS},
    {"target.pid", required_argument, NULL, OPT_PID},
    {"pid", required_argument, NULL, OPT_PID},
    {"target.exe", required_argument, NULL, OPT_EXE},
    {"target.name", required_argument, NULL, OPT_NAME},
    {"target.uid", required_argument, NULL, OPT_UID},
    {"target.cgroup", required_argument, NULL, OPT_CGROUP},
    {"target.reclaim-after", required_argument, NULL, OPT_RECLAIM},
    {"max-targets", required_argument, NULL, OPT_MAX_TARGETS},
    {"discovery.interval", required_argument, NULL, OPT_INTERVAL},
    {"inflight.max-age", required_argument, NULL, OPT_INFLIGHT_AGE},
    {"target", required_argument, NULL, OPT_TRACE_TARGET},
    {"method", required_argument, NULL, OPT_TRACE_METHOD},
    {"interval", required_argument, NULL, OPT_TRACE_INTERVAL},
    {"duration", required_argument, NULL, OPT_TRACE_DURATION},
    {"slow", required_argument, NULL, OPT_TRACE_SLOW},
    {"json", no_argument, NULL, OPT_TRACE_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

static const double default_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05,
					 0.1,	 0.25,	  0.5,	  1,	 2.5,	5,    10};

void cli_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->command = CMD_RUN;
	cfg->listen_address = ":2112";
	cfg->telemetry_path = "/metrics";
	cfg->log_level = LOG_INFO;
	cfg->log_format = LOG_LOGFMT;
	cfg->procfs = "/proc";
	cfg->nbuckets = (int)(sizeof(default_buckets) / sizeof(default_buckets[0]));
	memcpy(cfg->buckets, default_buckets, sizeof(default_buckets));
	cfg->max_targets = 64;
	cfg->reclaim_after_s = 300;
	cfg->discovery_interval_s = 0.25;
	cfg->inflight_max_age_s = 300;
	cfg->trace_interval_s = 1;
}

void cli_usage(FILE *f)
{
	fputs(
	    "usage: kvscope [flags]                 watch store processes, serve /metrics\n"
	    "       kvscope probes BINARY|--pid PID  list the probe sites kvscope would use\n"
	    "       kvscope check                    what this kernel offers; exit 1 if kvscope "
	    "cannot run\n"
	    "       kvscope trace [--pid PID | --target NAME] [--method M] [--interval 1s]\n"
	    "                     [--duration 30s] [--slow 10ms] [--json]\n"
	    "                                        latency histograms on the terminal\n"
	    "\n"
	    "flags:\n"
	    "  --web.listen-address=\":2112\"   address to serve metrics on\n"
	    "  --web.telemetry-path=\"/metrics\" path under which to expose metrics\n"
	    "  --web.config.file=FILE        TLS and basic auth (exporter web config YAML)\n"
	    "  --log.level=info                debug, info, warn or error\n"
	    "  --log.format=logfmt             logfmt or json\n"
	    "  --profile.dir=DIR               more store profiles (*.yaml)\n"
	    "  --path.procfs=/proc             procfs mount point\n"
	    "  --histogram.buckets=LIST        request latency bounds in seconds, comma-separated\n"
	    "  --target.pid=PID                watch only these processes (repeatable, or a list)\n"
	    "  --target.uid=UID                watch only processes of these owners (repeatable,\n"
	    "                                  or a list; real and effective uid must match)\n"
	    "  --target.exe=GLOB               watch only executables matching GLOB (repeatable)\n"
	    "  --target.cgroup=GLOB            watch only processes whose cgroup matches GLOB\n"
	    "                                  (repeatable; e.g. '/kubepods*' for pods only)\n"
	    "  --target.name=GLOB              watch only targets whose name matches GLOB "
	    "(repeatable)\n"
	    "  --target.reclaim-after=5m       give back a gone target's slot after this long\n"
	    "  --max-targets=64                most targets to watch at once\n"
	    "  --discovery.interval=250ms      how often to look for new and exited processes\n"
	    "  --inflight.max-age=5m           drop a request unfinished this long as stale\n"
	    "  --help                          show this help\n"
	    "  --version                       show the version\n",
	    f);
}

int cli_parse_buckets(const char *s, double *out, int max, int *n)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int count = 0, rc = 0;

	/* strtok_r would skip empty items: "0.1,,0.2" is a typo, not two bounds */
	if (!copy || !*s || *s == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,")) {
		free(copy);
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		double v;

		errno = 0;
		v = strtod(tok, &end);
		if (errno || end == tok || *end || !isfinite(v) || v <= 0 || count == max ||
		    (count > 0 && v <= out[count - 1])) {
			rc = -1;
			break;
		}
		out[count++] = v;
	}
	free(copy);
	if (rc || count == 0)
		return -1;
	*n = count;
	return 0;
}

int cli_parse_duration(const char *s, double *out)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			*out = v * units[i].scale;
			return 0;
		}
	}
	return -1;
}

static int parse_pids(const char *s, struct config *cfg)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long pid;

		errno = 0;
		pid = strtol(tok, &end, 10);
		if (errno || *end || end == tok || pid <= 0 || pid > 0x3fffffff ||
		    cfg->npids == CLI_MAX_PIDS)
			rc = -1;
		else
			cfg->pids[cfg->npids++] = (pid_t)pid;
	}
	free(copy);
	return rc;
}

static int parse_uids(const char *s, struct config *cfg)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int rc = 0;

	/* strtok_r would skip empty items: "0,,1000" is a typo */
	if (!copy || !*s || *s == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,")) {
		free(copy);
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long uid;

		errno = 0;
		uid = strtoul(tok, &end, 10);
		/* (uid_t)-1 means "no uid" to the kernel: never an owner */
		if (errno || *end || end == tok || tok[0] == '-' || uid >= UINT32_MAX ||
		    cfg->nuids == CLI_MAX_UIDS)
			rc = -1;
		else
			cfg->uids[cfg->nuids++] = (uid_t)uid;
	}
	free(copy);
	return rc;
}

/* One more glob of a repeatable flag; an empty one is a mistake. */
static int add_glob(const char *arg, const char **list, int *n)
{
	if (!arg[0] || *n == CLI_MAX_GLOBS)
		return -1;
	list[(*n)++] = arg;
	return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int apply_option(int opt, const char *arg, struct config *cfg)
{
	switch (opt) {
	case OPT_LISTEN:
		cfg->listen_address = arg;
		return 0;
	case OPT_PATH:
		cfg->telemetry_path = arg;
		return arg[0] == '/' ? 0 : -1;
	case OPT_WEB_CONFIG:
		cfg->web_config_file = arg;
		return 0;
	case OPT_LOG_LEVEL:
		return log_parse_level(arg, &cfg->log_level);
	case OPT_LOG_FORMAT:
		return log_parse_format(arg, &cfg->log_format);
	case OPT_PROFILE_DIR:
		cfg->profile_dir = arg;
		return 0;
	case OPT_PROCFS:
		cfg->procfs = arg;
		return 0;
	case OPT_BUCKETS:
		return cli_parse_buckets(arg, cfg->buckets, KVS_MAX_BUCKETS, &cfg->nbuckets);
	case OPT_PID:
		return parse_pids(arg, cfg);
	case OPT_EXE:
		return add_glob(arg, cfg->exe_globs, &cfg->nexe);
	case OPT_NAME:
	case OPT_TRACE_TARGET:
		if (!cfg->target_name)
			cfg->target_name = arg;
		return add_glob(arg, cfg->name_globs, &cfg->nname);
	case OPT_UID:
		return parse_uids(arg, cfg);
	case OPT_CGROUP:
		return add_glob(arg, cfg->cgroup_globs, &cfg->ncgroup);
	case OPT_RECLAIM:
		return cli_parse_duration(arg, &cfg->reclaim_after_s) || cfg->reclaim_after_s < 1
			   ? -1
			   : 0;
	case OPT_MAX_TARGETS:
		return parse_int(arg, 1, KVS_MAX_TARGETS, &cfg->max_targets);
	case OPT_INTERVAL:
		return cli_parse_duration(arg, &cfg->discovery_interval_s) ||
			       cfg->discovery_interval_s < 0.01
			   ? -1
			   : 0;
	case OPT_INFLIGHT_AGE:
		return cli_parse_duration(arg, &cfg->inflight_max_age_s) ||
			       cfg->inflight_max_age_s < 1
			   ? -1
			   : 0;
	case OPT_TRACE_METHOD:
		cfg->trace_method = arg;
		return 0;
	case OPT_TRACE_INTERVAL:
		return cli_parse_duration(arg, &cfg->trace_interval_s) ||
			       cfg->trace_interval_s < 0.05
			   ? -1
			   : 0;
	case OPT_TRACE_DURATION:
		return cli_parse_duration(arg, &cfg->trace_duration_s);
	case OPT_TRACE_SLOW:
		return cli_parse_duration(arg, &cfg->trace_slow_s);
	case OPT_TRACE_JSON:
		cfg->trace_json = true;
		return 0;
	case 'h':
		cfg->command = CMD_HELP;
		return 0;
	case OPT_VERSION:
		cfg->command = CMD_VERSION;
		return 0;
	}
	return -1;
}

static int parse_command(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	if (optind >= argc)
		return 0;
	if (strcmp(argv[optind], "check") == 0 && cfg->command == CMD_RUN && optind + 1 == argc) {
		cfg->command = CMD_CHECK;
		return 0;
	}
	if (strcmp(argv[optind], "trace") == 0 && cfg->command == CMD_RUN && optind + 1 == argc) {
		cfg->command = CMD_TRACE;
		return 0;
	}
	if (strcmp(argv[optind], "probes") == 0 && cfg->command == CMD_RUN) {
		cfg->command = CMD_PROBES;
		if (optind + 1 < argc)
			cfg->probes_binary = argv[optind + 1];
		if (optind + 2 < argc || (!cfg->probes_binary && cfg->npids != 1)) {
			snprintf(err, errlen, "probes takes one BINARY or one --pid PID");
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* optopt holds an unknown short option; a long one is the argument just read */
static void flag_error(char **argv, char *err, size_t errlen)
{
	if (optopt > 0 && optopt < 256)
		snprintf(err, errlen, "unknown flag: -%c", optopt);
	else
		snprintf(err, errlen, "unknown flag or missing value: %s",
			 optind > 0 && argv[optind - 1] ? argv[optind - 1] : "?");
}

int cli_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	int opt, idx = 0;

	/* GNU getopt moves operands last, so flags may follow `probes` too */
	cli_defaults(cfg);
	/* 0, not 1: glibc then also forgets a parse that stopped inside "-xh" */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", long_options, &idx)) != -1) {
		if (opt == '?' || opt == ':') {
			flag_error(argv, err, errlen);
			return -1;
		}
		if (apply_option(opt, optarg, cfg)) {
			snprintf(err, errlen, "invalid value for --%s: '%s'",
				 long_options[idx].name, optarg ? optarg : "");
			return -1;
		}
	}
	return parse_command(argc, argv, cfg, err, errlen);
}
