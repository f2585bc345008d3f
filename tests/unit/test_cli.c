// SPDX-License-Identifier: Apache-2.0
/*
 * The command line: defaults, both --flag=value and --flag value, every
 * flag, the `probes` command, and the one-line errors a bad flag gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

#define MAX_ARGS 48

/* An argv that outlives the parse: cfg keeps pointers into it. */
struct args {
	char *argv[MAX_ARGS + 2];
	int argc;
};

static void args_init(struct args *a, const char *const *words)
{
	memset(a, 0, sizeof(*a));
	a->argv[a->argc++] = strdup("kvscope");
	for (; *words; words++) {
		assert_true(a->argc < MAX_ARGS);
		a->argv[a->argc++] = strdup(*words);
	}
	for (int i = 0; i < a->argc; i++)
		assert_non_null(a->argv[i]);
}

static void args_free(struct args *a)
{
	/* getopt permutes the pointer array, never the strings: free them all */
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
}

static int parse(struct args *a, const char *const *words, struct config *cfg, char *err,
		 size_t errlen)
{
	args_init(a, words);
	err[0] = '\0';
	return cli_parse(a->argc, a->argv, cfg, err, errlen);
}

/* Durations like 0.001 * 10 are not exact in binary floating point. */
static bool near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void **state)
{
	static const double want[] = {0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05,
				      0.1,    0.25,    0.5,    1,     2.5,   5,	   10};
	struct config cfg;
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, (const char *const[]){NULL}, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_RUN);
	assert_string_equal(cfg.listen_address, ":2112");
	assert_string_equal(cfg.telemetry_path, "/metrics");
	assert_string_equal(cfg.procfs, "/proc");
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.log_format, LOG_LOGFMT);
	assert_null(cfg.profile_dir);
	assert_int_equal(cfg.nexe, 0);
	assert_int_equal(cfg.nname, 0);
	assert_int_equal(cfg.nuids, 0);
	assert_int_equal(cfg.ncgroup, 0);
	assert_null(cfg.target_name);
	assert_true(near(cfg.reclaim_after_s, 300));
	assert_null(cfg.probes_binary);
	assert_int_equal(cfg.npids, 0);
	assert_int_equal(cfg.max_targets, 64);
	assert_true(near(cfg.discovery_interval_s, 0.25));
	assert_int_equal(cfg.nbuckets, 15);
	for (int i = 0; i < 15; i++)
		assert_true(cfg.buckets[i] == want[i]);
	args_free(&a);
}

/* Every flag, once as --flag=value and once as --flag value. */
static void check_every_flag(const char *const *words)
{
	struct config cfg;
	struct args a;
	char err[256];

	assert_int_equal(parse(&a, words, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_RUN);
	assert_string_equal(cfg.listen_address, "127.0.0.1:9999");
	assert_string_equal(cfg.telemetry_path, "/m");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(cfg.log_format, LOG_JSON);
	assert_string_equal(cfg.profile_dir, "/etc/kvscope");
	assert_string_equal(cfg.procfs, "/host/proc");
	assert_int_equal(cfg.nbuckets, 3);
	assert_true(cfg.buckets[0] == 0.001 && cfg.buckets[1] == 0.01 && cfg.buckets[2] == 1);
	assert_int_equal(cfg.npids, 3);
	assert_int_equal(cfg.pids[0], 12);
	assert_int_equal(cfg.pids[1], 13);
	assert_int_equal(cfg.pids[2], 77);
	assert_int_equal(cfg.nexe, 2);
	assert_string_equal(cfg.exe_globs[0], "*/etcd");
	assert_string_equal(cfg.exe_globs[1], "/usr/local/bin/*");
	assert_int_equal(cfg.nname, 1);
	assert_string_equal(cfg.name_globs[0], "infra*");
	assert_string_equal(cfg.target_name, "infra*");
	assert_int_equal(cfg.nuids, 3);
	assert_int_equal(cfg.uids[0], 0);
	assert_int_equal(cfg.uids[1], 1001);
	assert_int_equal(cfg.uids[2], 65534);
	assert_int_equal(cfg.ncgroup, 1);
	assert_string_equal(cfg.cgroup_globs[0], "/kubepods*");
	assert_true(near(cfg.reclaim_after_s, 90));
	assert_int_equal(cfg.max_targets, 8);
	assert_true(near(cfg.discovery_interval_s, 2.0));
	args_free(&a);
}

static void test_every_flag_equals_form(void **state)
{
	(void)state;
	check_every_flag(WORDS(
	    "--web.listen-address=127.0.0.1:9999", "--web.telemetry-path=/m", "--log.level=debug",
	    "--log.format=json", "--profile.dir=/etc/kvscope", "--path.procfs=/host/proc",
	    "--histogram.buckets=0.001,0.01,1", "--target.pid=12,13", "--pid=77",
	    "--target.exe=*/etcd", "--target.exe=/usr/local/bin/*", "--target.name=infra*",
	    "--target.uid=0,1001", "--target.uid=65534", "--target.cgroup=/kubepods*",
	    "--target.reclaim-after=1.5m", "--max-targets=8", "--discovery.interval=2s"));
}

static void test_every_flag_separate_form(void **state)
{
	(void)state;
	check_every_flag(WORDS(
	    "--web.listen-address", "127.0.0.1:9999", "--web.telemetry-path", "/m", "--log.level",
	    "debug", "--log.format", "json", "--profile.dir", "/etc/kvscope", "--path.procfs",
	    "/host/proc", "--histogram.buckets", "0.001,0.01,1", "--target.pid", "12",
	    "--target.pid", "13", "--pid", "77", "--target.exe", "*/etcd", "--target.exe",
	    "/usr/local/bin/*", "--target.name", "infra*", "--target.uid", "0,1001", "--target.uid",
	    "65534", "--target.cgroup", "/kubepods*", "--target.reclaim-after", "90s",
	    "--max-targets", "8", "--discovery.interval", "2s"));
}

static void test_limits_accepted(void **state)
{
	struct config cfg;
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(
	    parse(&a, WORDS("--max-targets=256", "--discovery.interval=10ms", "--max-targets=1"),
		  &cfg, err, sizeof(err)),
	    0);
	assert_int_equal(cfg.max_targets, 1);
	assert_true(near(cfg.discovery_interval_s, 0.01));
	args_free(&a);
}

struct bad_case {
	const char *const *words;
	const char *in_message; /* must appear in the error */
};

static void test_bad_flags(void **state)
{
	static char many[1024];
	const struct bad_case cases[] = {
	    {WORDS("--no-such-flag"), "--no-such-flag"},
	    {WORDS("--no-such-flag=1"), "--no-such-flag"},
	    {WORDS("--log.level"), "--log.level"},
	    {WORDS("--web.listen-address"), "--web.listen-address"},
	    {WORDS("--log.level=loud"), "--log.level"},
	    {WORDS("--log.level="), "--log.level"},
	    {WORDS("--log.format=xml"), "--log.format"},
	    {WORDS("--web.telemetry-path=metrics"), "--web.telemetry-path"},
	    {WORDS("--max-targets=0"), "--max-targets"},
	    {WORDS("--max-targets=257"), "--max-targets"},
	    {WORDS("--max-targets=8x"), "--max-targets"},
	    {WORDS("--histogram.buckets=0.1,0.05"), "--histogram.buckets"},
	    {WORDS("--histogram.buckets=0.1,0.1"), "--histogram.buckets"},
	    {WORDS("--histogram.buckets=-1"), "--histogram.buckets"},
	    {WORDS("--histogram.buckets=abc"), "--histogram.buckets"},
	    {WORDS("--histogram.buckets="), "--histogram.buckets"},
	    {WORDS("--histogram.buckets", many), "--histogram.buckets"},
	    {WORDS("--target.pid=12,x"), "--target.pid"},
	    {WORDS("--target.pid=0"), "--target.pid"},
	    {WORDS("--pid=-5"), "--pid"},
	    {WORDS("--discovery.interval=5"), "--discovery.interval"},
	    {WORDS("--discovery.interval=1ms"), "--discovery.interval"},
	    {WORDS("--discovery.interval=soon"), "--discovery.interval"},
	    {WORDS("--target.uid=-1"), "--target.uid"},
	    {WORDS("--target.uid=4294967295"), "--target.uid"},
	    {WORDS("--target.uid=root"), "--target.uid"},
	    {WORDS("--target.uid=1,,2"), "--target.uid"},
	    {WORDS("--target.uid="), "--target.uid"},
	    {WORDS("--target.exe="), "--target.exe"},
	    {WORDS("--target.cgroup="), "--target.cgroup"},
	    {WORDS("--target.name="), "--target.name"},
	    {WORDS("--target.reclaim-after=0s"), "--target.reclaim-after"},
	    {WORDS("--target.reclaim-after=5"), "--target.reclaim-after"},
	    {WORDS("--target.reclaim-after=-1m"), "--target.reclaim-after"},
	    {WORDS("-x"), "-x"},
	    {WORDS("-xh"), "-x"},
	    {WORDS("-hx"), "-x"},
	    {WORDS("stray"), "stray"},
	};
	size_t off = 0;

	(void)state;
	/* KVS_MAX_BUCKETS + 1 ascending bounds */
	for (int i = 1; i <= KVS_MAX_BUCKETS + 1; i++)
		off +=
		    (size_t)snprintf(many + off, sizeof(many) - off, "%s%d", i > 1 ? "," : "", i);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct args a;
		char err[256];

		if (parse(&a, cases[i].words, &cfg, err, sizeof(err)) != -1)
			fail_msg("case %zu (%s) was accepted", i, cases[i].words[0]);
		if (!strstr(err, cases[i].in_message) || strchr(err, '\n'))
			fail_msg("case %zu: error \"%s\" does not name %s", i, err,
				 cases[i].in_message);
		args_free(&a);
	}
}

/* cli_parse is called repeatedly (tests, reloads): no getopt state may leak. */
static void test_parse_is_repeatable(void **state)
{
	struct config cfg;
	struct args a, b;
	char err[256];

	(void)state;
	/* an unknown short option in a cluster leaves getopt inside "-xh": the
	 * next parse must not go on to read its "h" */
	assert_int_equal(parse(&a, WORDS("-xh"), &cfg, err, sizeof(err)), -1);
	assert_int_equal(parse(&b, WORDS("--version"), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_VERSION);
	args_free(&b);
	args_free(&a);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(parse(&a, WORDS("--pid", "42", "probes"), &cfg, err, sizeof(err)),
				 0);
		assert_int_equal(cfg.command, CMD_PROBES);
		assert_int_equal(cfg.npids, 1);
		args_free(&a);
	}
}

static void test_probes_command(void **state)
{
	struct config cfg;
	struct args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, WORDS("probes", "/usr/bin/etcd"), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_PROBES);
	assert_string_equal(cfg.probes_binary, "/usr/bin/etcd");
	args_free(&a);

	assert_int_equal(parse(&a, WORDS("probes", "--pid", "42"), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_PROBES);
	assert_null(cfg.probes_binary);
	assert_int_equal(cfg.npids, 1);
	assert_int_equal(cfg.pids[0], 42);
	args_free(&a);

	assert_int_equal(parse(&a, WORDS("--pid", "42", "probes"), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.command, CMD_PROBES);
	assert_int_equal(cfg.pids[0], 42);
	args_free(&a);

	assert_int_equal(
	    parse(&a, WORDS("probes", "--log.level=warn", "/bin/x"), &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.probes_binary, "/bin/x");
	assert_int_equal(cfg.log_level, LOG_WARN);
	args_free(&a);
}

static void test_probes_command_errors(void **state)
{
	const char *const *const bad[] = {
	    WORDS("probes"),
	    WORDS("probes", "a", "b"),
	    WORDS("probes", "--pid=1,2"),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		struct args a;
		char err[256];

		assert_int_equal(parse(&a, bad[i], &cfg, err, sizeof(err)), -1);
		if (!strstr(err, "probes"))
			fail_msg("case %zu: error \"%s\" does not mention probes", i, err);
		args_free(&a);
	}
}

static void test_help_and_version(void **state)
{
	const struct {
		const char *const *words;
		enum cli_command command;
	} cases[] = {
	    {WORDS("--help"), CMD_HELP},
	    {WORDS("-h"), CMD_HELP},
	    {WORDS("--log.level=warn", "--help"), CMD_HELP},
	    {WORDS("--version"), CMD_VERSION},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct args a;
		char err[256];

		assert_int_equal(parse(&a, cases[i].words, &cfg, err, sizeof(err)), 0);
		assert_int_equal(cfg.command, cases[i].command);
		args_free(&a);
	}
}

static void test_usage_names_every_flag(void **state)
{
	static const char *const flags[] = {"--web.listen-address",
					    "--web.telemetry-path",
					    "--log.level",
					    "--log.format",
					    "--profile.dir",
					    "--path.procfs",
					    "--histogram.buckets",
					    "--target.pid",
					    "--target.exe",
					    "--target.name",
					    "--target.uid",
					    "--target.cgroup",
					    "--target.reclaim-after",
					    "--max-targets",
					    "--discovery.interval",
					    "--help",
					    "--version",
					    "probes"};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	cli_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strstr(text, flags[i]))
			fail_msg("usage does not mention %s", flags[i]);
	free(text);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *text;
		int rc;
		double seconds;
	} cases[] = {
	    {"500ms", 0, 0.5}, {"1s", 0, 1},	{"2m", 0, 120},	  {"1.5s", 0, 1.5},
	    {"1h", 0, 3600},   {"0s", 0, 0},	{"", -1, 0},	  {"1x", -1, 0},
	    {"-1s", -1, 0},    {"5", -1, 0},	{"s", -1, 0},	  {"1s ", -1, 0},
	    {"1sec", -1, 0},   {"infs", -1, 0}, {"nanms", -1, 0}, {"1e999s", -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double out = -42;
		int rc = cli_parse_duration(cases[i].text, &out);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && !near(out, cases[i].seconds))
			fail_msg("\"%s\": %g s, want %g s", cases[i].text, out, cases[i].seconds);
	}
}

static void test_parse_buckets(void **state)
{
	static const struct {
		const char *text;
		int max;
		int n; /* -1: rejected */
		double want[4];
	} cases[] = {
	    {"0.0001,0.001,1", 8, 3, {0.0001, 0.001, 1}},
	    {"5", 8, 1, {5}},
	    {"1e-3,2.5e-1", 8, 2, {0.001, 0.25}},
	    {"1,2,3,4", 4, 4, {1, 2, 3, 4}},
	    {"1,2,3,4,5", 4, -1, {0}},
	    {"0.1,0.05", 8, -1, {0}},
	    {"1,1", 8, -1, {0}},
	    {"0", 8, -1, {0}},
	    {"-1", 8, -1, {0}},
	    {"abc", 8, -1, {0}},
	    {"1,abc", 8, -1, {0}},
	    {"1x", 8, -1, {0}},
	    {"", 8, -1, {0}},
	    {",", 8, -1, {0}},
	    {"inf", 8, -1, {0}},
	    {"nan", 8, -1, {0}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double out[8];
		int n = -7;
		int rc = cli_parse_buckets(cases[i].text, out, cases[i].max, &n);

		if (cases[i].n < 0) {
			if (rc != -1)
				fail_msg("\"%s\" was accepted", cases[i].text);
			assert_int_equal(n, -7); /* untouched on error */
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\" was rejected", cases[i].text);
		assert_int_equal(n, cases[i].n);
		for (int j = 0; j < n; j++)
			assert_true(out[j] == cases[i].want[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_flag_equals_form),
	    cmocka_unit_test(test_every_flag_separate_form),
	    cmocka_unit_test(test_limits_accepted),
	    cmocka_unit_test(test_bad_flags),
	    cmocka_unit_test(test_parse_is_repeatable),
	    cmocka_unit_test(test_probes_command),
	    cmocka_unit_test(test_probes_command_errors),
	    cmocka_unit_test(test_help_and_version),
	    cmocka_unit_test(test_usage_names_every_flag),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
