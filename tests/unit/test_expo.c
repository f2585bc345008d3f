// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/expo.h"

#define PROMTOOL "/usr/bin/promtool"

static const double latency_bounds[] = {0.0001, 0.00025, 0.005, 0.1, 1, 2.5, 10};
#define NBOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

/* A small exposition covering every writer, with awkward label values. */
static void write_sample_exposition(struct expo *e)
{
	const struct label op_get[] = {{"op", "get"}, {"store", "etcd"}};
	const struct label escaped[] = {{"path", "C:\\dir \"x\"\nnext"}};
	const struct label op_put[] = {{"op", "put"}};
	const uint64_t counts[NBOUNDS + 1] = {1, 2, 0, 3, 0, 0, 1, 2};

	expo__family(e, "kvscope_requests_total", "counter", "Requests seen.");
	expo__sample_u64(e, "kvscope_requests_total", op_get, 2, 18446744073709551615ULL);
	expo__sample_u64(e, "kvscope_requests_total", op_put, 1, 7);
	expo__family(e, "kvscope_temperature_celsius", "gauge", "Back\\slash and\nnewline.");
	expo__sample(e, "kvscope_temperature_celsius", escaped, 1, -0.5);
	expo__sample(e, "kvscope_temperature_celsius", NULL, 0, 21);
	expo__family(e, "kvscope_request_duration_seconds", "histogram", "Request latency.");
	expo__histogram(e, "kvscope_request_duration_seconds", op_put, 1, latency_bounds, NBOUNDS,
			counts, 12.75);
}

static char *read_golden(const char *name, size_t *len)
{
	char path[512];
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 1;
	FILE *f;
	char *buf;
	long size;

	snprintf(path, sizeof(path), "%.*s/golden/%s", dirlen, slash ? __FILE__ : ".", name);
	f = fopen(path, "rb");
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
	*len = (size_t)size;
	return buf;
}

static void test_golden_exposition(void **state)
{
	struct expo *e = expo__new();
	size_t len, golden_len;
	const char *data;
	char *golden;

	(void)state;
	assert_non_null(e);
	write_sample_exposition(e);
	assert_false(expo__failed(e));
	data = expo__data(e, &len);
	golden = read_golden("expo_basic.prom", &golden_len);
	assert_string_equal(data, golden);
	assert_int_equal(len, golden_len);
	free(golden);
	expo__free(e);
}

static void assert_value_renders(double v, const char *want)
{
	struct expo *e = expo__new();
	char line[128];

	assert_non_null(e);
	expo__sample(e, "m", NULL, 0, v);
	snprintf(line, sizeof(line), "m %s\n", want);
	assert_string_equal(expo__data(e, NULL), line);
	expo__free(e);
}

static void test_value_formatting(void **state)
{
	(void)state;
	assert_value_renders(0, "0");
	assert_value_renders(-0.0, "0");
	assert_value_renders(1, "1");
	assert_value_renders(-3, "-3");
	assert_value_renders(9007199254740991.0, "9007199254740991");
	assert_value_renders(9007199254740992.0, "9007199254740992");
	assert_value_renders(1e20, "1e+20");
	assert_value_renders(0.1, "0.1");
	assert_value_renders(0.00025, "0.00025");
	assert_value_renders(2.5, "2.5");
	assert_value_renders(1.0 / 3, "0.3333333333333333");
	assert_value_renders(1e300, "1e+300");
	assert_value_renders(INFINITY, "+Inf");
	assert_value_renders(-INFINITY, "-Inf");
	assert_value_renders(NAN, "NaN");
}

static void test_u64_exact(void **state)
{
	struct expo *e = expo__new();

	(void)state;
	assert_non_null(e);
	expo__sample_u64(e, "big", NULL, 0, 18446744073709551615ULL);
	expo__sample_u64(e, "odd", NULL, 0, 9007199254740993ULL);
	assert_string_equal(expo__data(e, NULL),
			    "big 18446744073709551615\nodd 9007199254740993\n");
	expo__free(e);
}

static void test_histogram_without_labels(void **state)
{
	const double bounds[] = {1};
	const uint64_t counts[] = {2, 3};
	struct expo *e = expo__new();

	(void)state;
	assert_non_null(e);
	expo__histogram(e, "h", NULL, 0, bounds, 1, counts, 0.5);
	assert_string_equal(expo__data(e, NULL), "h_bucket{le=\"1\"} 2\n"
						 "h_bucket{le=\"+Inf\"} 5\n"
						 "h_sum 0.5\n"
						 "h_count 5\n");
	expo__free(e);
}

static void test_reset_and_growth(void **state)
{
	const struct label l[] = {{"i", "some-fairly-long-label-value-to-fill-the-buffer"}};
	struct expo *e = expo__new();
	size_t len = 1;
	int i;

	(void)state;
	assert_non_null(e);
	assert_string_equal(expo__data(e, &len), "");
	assert_int_equal(len, 0);
	for (i = 0; i < 20000; i++)
		expo__sample_u64(e, "kvscope_fill", l, 1, (uint64_t)i);
	assert_false(expo__failed(e));
	const char *data = expo__data(e, &len);
	assert_int_equal(strlen(data), len);
	assert_true(len > 20000 * 60);
	assert_string_equal(data + len - strlen("} 19999\n"), "} 19999\n");
	expo__reset(e);
	assert_string_equal(expo__data(e, &len), "");
	assert_int_equal(len, 0);
	expo__sample_u64(e, "after", NULL, 0, 1);
	assert_string_equal(expo__data(e, NULL), "after 1\n");
	expo__free(e);
}

static void test_null_is_harmless(void **state)
{
	size_t len = 5;

	(void)state;
	expo__free(NULL);
	expo__reset(NULL);
	expo__sample(NULL, "m", NULL, 0, 1);
	assert_true(expo__failed(NULL));
	assert_string_equal(expo__data(NULL, &len), "");
	assert_int_equal(len, 0);
}

/* Any bytes a tenant chose reach a label value valid and bounded. */
static void test_label_values_valid_and_capped(void **state)
{
	struct expo *e = expo__new();
	char huge[1000], want[400];
	const char *data;

	(void)state;
	assert_non_null(e);
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	const struct label l[] = {{"target", "bad\xffname"},
				  {"exe", "/tmp/\xc0\xaf\"q\"\\"},
				  {"huge", huge},
				  {"ok", "caf\xc3\xa9"}};

	expo__sample_u64(e, "m", l, 4, 1);
	data = expo__data(e, NULL);
	memset(want, 'a', 256);
	want[256] = '\0';
	char line[1400];

	snprintf(line, sizeof(line),
		 "m{target=\"bad\xef\xbf\xbdname\",exe=\"/tmp/\xef\xbf\xbd\\\"q\\\"\\\\\","
		 "huge=\"%s\",ok=\"caf\xc3\xa9\"} 1\n",
		 want);
	assert_string_equal(data, line);
	/* a value cut at the cap never ends inside a character */
	char euros[400] = "";

	while (strlen(euros) + 3 < sizeof(euros))
		strcat(euros, "\xe2\x82\xac");
	expo__reset(e);
	const struct label l2[] = {{"v", euros}};

	expo__sample_u64(e, "m", l2, 1, 2);
	data = expo__data(e, NULL);
	assert_int_equal(strlen(data), strlen("m{v=\"\"} 2\n") + 255);
	expo__free(e);
}

/* Feeds `data` to `promtool check metrics`; returns its exit status and output. */
static int run_promtool(const char *data, size_t len, char *out, size_t outlen)
{
	char tmpl[] = "/tmp/kvscope-promtool-XXXXXX";
	char cmd[256];
	int fd = mkstemp(tmpl);
	FILE *p, *f;
	size_t n;
	int status;

	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s check metrics > %s 2>&1", PROMTOOL, tmpl);
	p = popen(cmd, "w");
	assert_non_null(p);
	assert_int_equal(fwrite(data, 1, len, p), len);
	status = pclose(p);
	f = fopen(tmpl, "r");
	assert_non_null(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(tmpl);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_promtool_accepts_output(void **state)
{
	struct expo *e;
	char output[4096];
	size_t len;
	const char *data;

	(void)state;
	if (access(PROMTOOL, X_OK) != 0) {
		print_message("skipped: %s not found\n", PROMTOOL);
		skip();
	}
	e = expo__new();
	assert_non_null(e);
	write_sample_exposition(e);
	data = expo__data(e, &len);
	assert_int_equal(run_promtool(data, len, output, sizeof(output)), 0);
	assert_string_equal(output, "");
	/* The check must be able to fail: a counter without _total is linted. */
	assert_int_not_equal(
	    run_promtool("# HELP bad x\n# TYPE bad counter\nbad 1\n", 38, output, sizeof(output)),
	    0);
	expo__free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_exposition),
	    cmocka_unit_test(test_value_formatting),
	    cmocka_unit_test(test_u64_exact),
	    cmocka_unit_test(test_histogram_without_labels),
	    cmocka_unit_test(test_reset_and_growth),
	    cmocka_unit_test(test_null_is_harmless),
	    cmocka_unit_test(test_label_values_valid_and_capped),
	    cmocka_unit_test(test_promtool_accepts_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
