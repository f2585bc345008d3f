// SPDX-License-Identifier: Apache-2.0
/* kvscope trace's output: quantiles, bars, histogram rows, JSON, interval deltas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/trace_render.h"
#include "cmd/trace_rows.h"

static double bounds[TRACE_POW2_BOUNDS];

static int setup(void **state)
{
	(void)state;
	trace_pow2_bounds(bounds, TRACE_POW2_BOUNDS);
	return 0;
}

/* Everything a render function writes, as a string the caller frees. */
struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *capture_open(struct capture *c)
{
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

static char *capture_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static void test_pow2_bounds(void **state)
{
	(void)state;
	assert_true(bounds[0] == 1);
	assert_true(bounds[10] == 1024);
	assert_true(bounds[TRACE_POW2_BOUNDS - 1] == 16777216);
}

static void test_quantile_interpolates_in_bucket(void **state)
{
	uint64_t counts[KVS_MAX_BUCKETS + 1] = {0};

	(void)state;
	counts[2] = 4; /* 4 requests in (2, 4] us */
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.5) == 3.0);
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 1.0) == 4.0);
	counts[10] = 4; /* 4 more in (512, 1024] */
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.5) == 4.0);
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.75) == 768.0);
}

static void test_quantile_edges(void **state)
{
	uint64_t counts[KVS_MAX_BUCKETS + 1] = {0};

	(void)state;
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.5) == -1);
	counts[0] = 2; /* the first bucket starts at 0 */
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.5) == 0.5);
	counts[0] = 0;
	counts[TRACE_POW2_BOUNDS] = 3; /* only +Inf: the highest finite bound */
	assert_true(trace_quantile(counts, bounds, TRACE_POW2_BOUNDS, 0.99) == 16777216);
	assert_true(trace_quantile(counts, bounds, 0, 0.5) == -1);
}

static void test_highest_bucket(void **state)
{
	uint64_t counts[KVS_MAX_BUCKETS + 1] = {0};

	(void)state;
	assert_int_equal(trace_highest_bucket(counts, KVS_MAX_BUCKETS + 1), -1);
	counts[3] = 1;
	counts[7] = 1;
	assert_int_equal(trace_highest_bucket(counts, KVS_MAX_BUCKETS + 1), 7);
}

static void test_row_max(void **state)
{
	struct trace_method_row r = {0};
	bool exact;

	(void)state;
	assert_true(trace_row_max_us(&r, bounds, TRACE_POW2_BOUNDS, &exact) == -1);
	r.buckets[10] = 2; /* (512, 1024] us */
	assert_true(trace_row_max_us(&r, bounds, TRACE_POW2_BOUNDS, &exact) == 1024);
	assert_false(exact);
	r.max_ns = 700000; /* a slow event in that bucket: the exact maximum */
	assert_true(trace_row_max_us(&r, bounds, TRACE_POW2_BOUNDS, &exact) == 700);
	assert_true(exact);
	r.max_ns = 300000; /* in a lower bucket: not the slowest request */
	assert_true(trace_row_max_us(&r, bounds, TRACE_POW2_BOUNDS, &exact) == 1024);
	assert_false(exact);
}

static void test_row_status_folds(void **state)
{
	struct trace_method_row r = {0};

	(void)state;
	trace_row_add_status(&r, 200, 3);
	trace_row_add_status(&r, 400, 1);
	trace_row_add_status(&r, 200, 2);
	assert_int_equal(r.nstatus, 2);
	assert_int_equal(r.status[0].count, 5);
	for (int s = 500; s < 520; s++)
		trace_row_add_status(&r, s, 1);
	assert_int_equal(r.nstatus, TRACE_MAX_STATUS);
	assert_int_equal(r.status[TRACE_MAX_STATUS - 1].count, 1 + 20 - (TRACE_MAX_STATUS - 2));
}

static void test_bar(void **state)
{
	char bar[TRACE_BAR_WIDTH + 1], small[5];

	(void)state;
	trace_bar(bar, sizeof(bar), 10, 10, TRACE_BAR_WIDTH);
	assert_int_equal(strspn(bar, "*"), 40);
	trace_bar(bar, sizeof(bar), 5, 10, TRACE_BAR_WIDTH);
	assert_int_equal(strspn(bar, "*"), 20);
	assert_int_equal(strlen(bar), 40);
	trace_bar(bar, sizeof(bar), 0, 10, TRACE_BAR_WIDTH);
	assert_int_equal(strspn(bar, " "), 40);
	trace_bar(small, sizeof(small), 10, 10, TRACE_BAR_WIDTH);
	assert_string_equal(small, "****");
}

static void test_hist_rows(void **state)
{
	uint64_t counts[KVS_MAX_BUCKETS + 1] = {0};
	struct capture c;
	char *out;

	(void)state;
	counts[2] = 2;
	counts[4] = 4;
	trace_print_hist(capture_open(&c), "usecs", counts, bounds, TRACE_POW2_BOUNDS);
	out = capture_close(&c);
	assert_non_null(strstr(out, "usecs"));
	assert_non_null(strstr(out, "count    distribution"));
	assert_non_null(strstr(out, "         2 -> 4          : 2        |********************  "));
	assert_non_null(strstr(out, "         4 -> 8          : 0        |      "));
	assert_non_null(strstr(out, "         8 -> 16         : 4        |*****************"
				    "***********************|\n"));
	assert_null(strstr(out, " 1 -> 2 ")); /* leading empty rows are left out */
	assert_null(strstr(out, "16 -> 32"));
	free(out);
}

static void test_hist_inf_row(void **state)
{
	uint64_t counts[KVS_MAX_BUCKETS + 1] = {0};
	struct capture c;
	char *out;

	(void)state;
	counts[TRACE_POW2_BOUNDS] = 1;
	trace_print_hist(capture_open(&c), "usecs", counts, bounds, TRACE_POW2_BOUNDS);
	out = capture_close(&c);
	assert_non_null(strstr(out, "16777216 -> inf"));
	free(out);
	memset(counts, 0, sizeof(counts));
	trace_print_hist(capture_open(&c), "usecs", counts, bounds, TRACE_POW2_BOUNDS);
	out = capture_close(&c);
	assert_string_equal(out, "");
	free(out);
}

static void test_json_string_escapes(void **state)
{
	struct capture c;
	char *out;

	(void)state;
	trace_json_string(capture_open(&c), "a\"b\\c\nd\te\x01");
	out = capture_close(&c);
	assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
	free(out);
}

static void test_duration_format(void **state)
{
	char s[32];

	(void)state;
	trace_format_duration(s, sizeof(s), 512);
	assert_string_equal(s, "512us");
	trace_format_duration(s, sizeof(s), 1250);
	assert_string_equal(s, "1.25ms");
	trace_format_duration(s, sizeof(s), 2.1e6);
	assert_string_equal(s, "2.10s");
	trace_format_duration(s, sizeof(s), -1);
	assert_string_equal(s, "-");
}

static struct trace_method_row sample_row(void)
{
	struct trace_method_row r = {
	    .target = "m\"1", .method = "Put", .count = 3, .sum_ns = 3000000, .disk_ns = 1500000};

	r.buckets[9] = 1;  /* (256, 512] */
	r.buckets[10] = 2; /* (512, 1024] */
	trace_row_add_status(&r, 200, 2);
	trace_row_add_status(&r, 400, 1);
	r.max_ns = 600000;
	return r;
}

static void test_interval_json(void **state)
{
	struct trace_method_row r = sample_row();
	struct trace_disk_row d = {
	    .target = "m1", .syscall = "fdatasync", .class = "wal", .count = 2, .sum_ns = 300000};
	struct trace_interval iv = {.wall_s = 1700000000.5,
				    .length_s = 1,
				    .bounds_us = bounds,
				    .nbounds = TRACE_POW2_BOUNDS,
				    .methods = &r,
				    .nmethods = 1,
				    .disks = &d,
				    .ndisks = 1};
	struct capture c;
	char *out;

	(void)state;
	d.buckets[1] = 2; /* (100, 250] us */
	trace_render_interval_json(capture_open(&c), &iv);
	out = capture_close(&c);
	assert_non_null(strstr(out, "{\"type\":\"interval\",\"time\":1700000000.500,"));
	assert_non_null(strstr(out, "\"target\":\"m\\\"1\",\"method\":\"Put\",\"count\":3,"
				    "\"status\":{\"200\":2,\"400\":1}"));
	/* p99 would interpolate to 1019 us, past the exact maximum: capped there */
	assert_non_null(strstr(out, "\"p99_us\":600.000,\"max_us\":600.000,\"max_exact\":true"));
	assert_non_null(strstr(out, "\"p50_us\":600.000"));
	assert_non_null(strstr(out, "\"buckets\":[{\"le_us\":512,\"count\":1},"
				    "{\"le_us\":1024,\"count\":2}]"));
	assert_non_null(strstr(out, "\"disk\":[{\"target\":\"m1\",\"syscall\":\"fdatasync\","
				    "\"class\":\"wal\",\"count\":2,\"sum_us\":300.000,"
				    "\"p99_us\":248.500}]"));
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
	free(out);
}

static void test_interval_text(void **state)
{
	struct trace_method_row r = sample_row();
	struct trace_interval iv = {.wall_s = 1700000000.5,
				    .length_s = 1,
				    .bounds_us = bounds,
				    .nbounds = TRACE_POW2_BOUNDS,
				    .methods = &r,
				    .nmethods = 1};
	struct capture c;
	char *out;

	(void)state;
	r.max_ns = 0; /* unknown: the bound of the top bucket, marked <= */
	trace_render_interval_text(capture_open(&c), &iv);
	out = capture_close(&c);
	assert_non_null(strstr(out, "interval 1.00s"));
	assert_non_null(strstr(out, "m\"1 Put: count 3 (status 200:2 400:1)  p50 640us"));
	assert_non_null(strstr(out, "max <=1.02ms"));
	assert_non_null(strstr(out, "in disk syncs 50%"));
	assert_non_null(strstr(out, "       256 -> 512        : 1        |"));
	free(out);
	iv.nmethods = 0;
	trace_render_interval_text(capture_open(&c), &iv);
	out = capture_close(&c);
	assert_non_null(strstr(out, "no requests"));
	free(out);
}

static void test_slow_lines(void **state)
{
	struct trace_slow s = {.wall_s = 1700000000,
			       .target = "redis-1",
			       .pid = 42,
			       .method = "get",
			       .status = 400,
			       .latency_ns = 2500000,
			       .disk_ns = 1000000,
			       .offcpu_ns = 700000,
			       .offcpu_known = true};
	struct capture c;
	char *out;

	(void)state;
	trace_render_slow_json(capture_open(&c), &s);
	out = capture_close(&c);
	assert_string_equal(out, "{\"type\":\"slow\",\"time\":1700000000.000000,\"target\":"
				 "\"redis-1\",\"pid\":42,\"method\":\"get\",\"status\":400,"
				 "\"latency_us\":2500.000,\"disk_us\":1000.000,"
				 "\"offcpu_us\":700.000}\n");
	free(out);
	s.offcpu_known = false;
	trace_render_slow_json(capture_open(&c), &s);
	out = capture_close(&c);
	assert_non_null(strstr(out, "\"offcpu_us\":null}"));
	free(out);
	trace_render_slow_text(capture_open(&c), &s);
	out = capture_close(&c);
	assert_non_null(strstr(out, " redis-1 "));
	assert_non_null(strstr(out, "2.50ms     1.00ms          -\n"));
	free(out);
}

/* A target table with two targets of a two-method profile. */
static char *methods[] = {"Range", "Put", "other"};
static struct profile prof = {.methods = methods, .nmethods = 3, .status_default = 500};
static struct target_table table;

static void fill_table(void)
{
	memset(&table, 0, sizeof(table));
	prof.status_map[0] = 200;
	prof.status_map[3] = 400;
	for (int i = 0; i < 2; i++) {
		table.slots[i].used = true;
		table.slots[i].profile = &prof;
		snprintf(table.slots[i].name, sizeof(table.slots[i].name), "m%d", 2 - i);
	}
}

static struct stat_entry stat_of(uint16_t target, uint16_t label, uint16_t code, uint64_t count,
				 int bucket)
{
	struct stat_entry e = {
	    .key = {.target = target, .kind = KVS_STAT_REQUEST, .label = label, .code = code},
	    .val = {.count = count, .sum_ns = count * 1000}};

	e.val.buckets[bucket] = count;
	return e;
}

static void test_rows_delta(void **state)
{
	struct stat_entry prev[] = {stat_of(0, 1, 0, 5, 10), stat_of(1, 0, 0, 2, 3)};
	struct stat_entry cur[] = {
	    stat_of(0, 1, 0, 8, 10),
	    stat_of(1, 0, 0, 2, 3),
	    stat_of(0, 1, 3, 1, 12),
	    stat_of(1, 1, 0, 4, 5),
	    {.key = {.target = 0, .kind = KVS_STAT_STORAGE}, .val = {.count = 9}},
	    stat_of(7, 1, 0, 4, 5) /* no such target */};
	struct trace_method_row *rows;
	int n;

	(void)state;
	fill_table();
	assert_int_equal(trace_rows__methods(cur, 6, prev, 2, &table, NULL, &rows, &n), 0);
	assert_int_equal(n, 2);			   /* m1's Range did not move: no row */
	assert_string_equal(rows[0].target, "m1"); /* sorted by target name */
	assert_string_equal(rows[0].method, "Put");
	assert_int_equal(rows[0].count, 4);
	assert_string_equal(rows[1].target, "m2");
	assert_int_equal(rows[1].count, 4); /* 3 more 200s and one 400 */
	assert_int_equal(rows[1].buckets[10], 3);
	assert_int_equal(rows[1].buckets[12], 1);
	assert_int_equal(rows[1].sum_ns, 4000);
	assert_int_equal(rows[1].nstatus, 2);
	assert_int_equal(rows[1].status[1].status, 400);
	trace_rows__note_latency(rows, n, "m2", "Put", 5000);
	trace_rows__note_latency(rows, n, "m2", "Put", 3000);
	assert_int_equal(rows[1].max_ns, 5000);
	free(rows);
	assert_int_equal(trace_rows__methods(cur, 6, prev, 2, &table, "range", &rows, &n), 0);
	assert_int_equal(n, 0);
	free(rows);
	assert_int_equal(trace_rows__methods(cur, 6, NULL, 0, &table, "range", &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].count, 2);
	free(rows);
}

static void test_rows_disks(void **state)
{
	struct disk_entry prev[] = {{.key = {.target = 0, .syscall = KVS_SC_FDATASYNC, .class = 1},
				     .val = {.count = 2, .sum_ns = 200}}};
	struct disk_entry cur[] = {
	    {.key = {.target = 0, .syscall = KVS_SC_FDATASYNC, .class = 1},
	     .val = {.count = 5, .sum_ns = 500}},
	    {.key = {.target = 0, .syscall = KVS_SC_WRITE}, .val = {.count = 50, .bytes = 4096}}};
	struct trace_disk_row *rows;
	int n;

	(void)state;
	fill_table();
	cur[0].val.buckets[2] = 3;
	assert_int_equal(trace_rows__disks(cur, 2, prev, 1, &table, NULL, &rows, &n), 0);
	assert_int_equal(n, 1); /* writes are not syncs */
	assert_string_equal(rows[0].target, "m2");
	assert_string_equal(rows[0].syscall, "fdatasync");
	assert_string_equal(rows[0].class, "other");
	assert_int_equal(rows[0].count, 3);
	assert_int_equal(rows[0].sum_ns, 300);
	assert_int_equal(rows[0].buckets[2], 3);
	free(rows);
}

static void test_status_and_method_names(void **state)
{
	(void)state;
	fill_table();
	assert_int_equal(trace_status_of(&prof, 0), 200);
	assert_int_equal(trace_status_of(&prof, 3), 400);
	assert_int_equal(trace_status_of(&prof, 9), 500);
	assert_int_equal(trace_status_of(&prof, KVS_CODE_OTHER), 500);
	assert_string_equal(trace_method_name(&prof, 1), "Put");
	assert_string_equal(trace_method_name(&prof, 300), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pow2_bounds),
	    cmocka_unit_test(test_quantile_interpolates_in_bucket),
	    cmocka_unit_test(test_quantile_edges),
	    cmocka_unit_test(test_highest_bucket),
	    cmocka_unit_test(test_row_max),
	    cmocka_unit_test(test_row_status_folds),
	    cmocka_unit_test(test_bar),
	    cmocka_unit_test(test_hist_rows),
	    cmocka_unit_test(test_hist_inf_row),
	    cmocka_unit_test(test_json_string_escapes),
	    cmocka_unit_test(test_duration_format),
	    cmocka_unit_test(test_interval_json),
	    cmocka_unit_test(test_interval_text),
	    cmocka_unit_test(test_slow_lines),
	    cmocka_unit_test(test_rows_delta),
	    cmocka_unit_test(test_rows_disks),
	    cmocka_unit_test(test_status_and_method_names),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
