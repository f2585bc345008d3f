// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/expo.h"
#include "metrics/selfstats.h"

/* A real line, shape-wise: tty_nr and the like may be negative. */
static const char stat_line[] =
    "4242 (etcd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 50 0 0 20 0 12 0 "
    "500 734003200 2560 18446744073709551615 4194304 16000000 140737 0 0 0 0 0 "
    "2143420159 0 0 0 17 1 0 0 0 0 0\n";

static void test_parse_stat_plain(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(selfstats_parse_stat(stat_line, &st), 0);
	assert_int_equal(st.utime_ticks, 150);
	assert_int_equal(st.stime_ticks, 50);
	assert_int_equal(st.starttime_ticks, 500);
	assert_int_equal(st.vsize_bytes, 734003200);
	assert_int_equal(st.rss_pages, 2560);
}

static void test_parse_stat_awkward_comm(void **state)
{
	struct proc_stat st;

	(void)state;
	/* A comm of ") 1 2 (x" must not shift the fields after it. */
	assert_int_equal(selfstats_parse_stat("7 (a) 1 2 (x)) R 1 7 7 0 -1 0 0 0 0 0 "
					      "11 22 0 0 20 0 1 0 33 44 55 0\n",
					      &st),
			 0);
	assert_int_equal(st.utime_ticks, 11);
	assert_int_equal(st.stime_ticks, 22);
	assert_int_equal(st.starttime_ticks, 33);
	assert_int_equal(st.vsize_bytes, 44);
	assert_int_equal(st.rss_pages, 55);
	/* Nothing after rss is needed. */
	assert_int_equal(
	    selfstats_parse_stat("7 (sh) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 5", &st), 0);
	assert_int_equal(st.rss_pages, 5);
}

static void test_parse_stat_rejects_garbage(void **state)
{
	static const char *const bad[] = {
	    "",
	    "garbage",
	    "7 sh R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 5",    /* no parentheses */
	    "7 )sh( R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 5",  /* reversed */
	    "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4",    /* truncated */
	    "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 x 2 0 0 20 0 1 0 3 4 5",  /* utime */
	    "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 -5", /* rss < 0 */
	    "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4x 5", /* vsize */
	    "7 (sh)R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 5",   /* no blank */
	    "7 (sh) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 99999999999999999999999 5",
	};
	struct proc_stat st = {.utime_ticks = 77};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (selfstats_parse_stat(bad[i], &st) != -1)
			fail_msg("accepted bad stat line %zu: \"%s\"", i, bad[i]);
	}
	assert_int_equal(st.utime_ticks, 77); /* untouched on failure */
}

static void test_parse_btime(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(selfstats_parse_btime("cpu  1 2 3\nintr 5 6\nctxt 9\nbtime 1700000000\n"
					       "processes 12\n",
					       &v),
			 0);
	assert_int_equal(v, 1700000000);
	assert_int_equal(selfstats_parse_btime("btime 42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(selfstats_parse_btime("cpu 1\nctxt 9\n", &v), -1);
	assert_int_equal(selfstats_parse_btime("xbtime 5\n", &v), -1);
	assert_int_equal(selfstats_parse_btime("btime soon\n", &v), -1);
	assert_int_equal(selfstats_parse_btime("btime \n", &v), -1);
	assert_int_equal(selfstats_parse_btime("btime 99999999999999999999999\n", &v), -1);
	assert_int_equal(selfstats_parse_btime("", &v), -1);
}

static void test_parse_max_fds(void **state)
{
	static const char limits[] =
	    "Limit                     Soft Limit           Hard Limit           Units     \n"
	    "Max cpu time              unlimited            unlimited            seconds   \n"
	    "Max open files            1024                 524288               files     \n"
	    "Max locked memory         8388608              8388608              bytes     \n";
	uint64_t v = 0;

	(void)state;
	assert_int_equal(selfstats_parse_max_fds(limits, &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(selfstats_parse_max_fds("Max open files unlimited unlimited files\n", &v),
			 -1);
	assert_int_equal(selfstats_parse_max_fds("Max cpu time 5 5 seconds\n", &v), -1);
	assert_int_equal(selfstats_parse_max_fds("Max open files\n", &v), -1);
	assert_int_equal(selfstats_parse_max_fds("", &v), -1);
}

/* The value of the unlabelled sample `name`, or -1 when it is absent. */
static int sample_value(const char *text, const char *name, double *out)
{
	size_t namelen = strlen(name);
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, name, namelen) == 0 && line[namelen] == ' ') {
			*out = strtod(line + namelen + 1, NULL);
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

static void burn_cpu(void)
{
	volatile uint64_t sink = 0;

	while (clock() < CLOCKS_PER_SEC / 20)
		for (int i = 0; i < 100000; i++)
			sink += (uint64_t)i;
}

static void test_write_real_proc(void **state)
{
	static const char *const names[] = {
	    "process_cpu_seconds_total",
	    "process_virtual_memory_bytes",
	    "process_resident_memory_bytes",
	    "process_start_time_seconds",
	    "process_open_fds",
	    "process_max_fds",
	};
	struct expo *e = expo__new();
	const char *text;
	double v;
	size_t i;

	(void)state;
	assert_non_null(e);
	burn_cpu();
	selfstats__write(e, "/proc");
	assert_false(expo__failed(e));
	text = expo__data(e, NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (sample_value(text, names[i], &v) != 0)
			fail_msg("%s missing from:\n%s", names[i], text);
		if (!(v > 0))
			fail_msg("%s is %g", names[i], v);
	}
	assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(text, "# TYPE process_open_fds gauge\n"));
	assert_int_equal(sample_value(text, "process_start_time_seconds", &v), 0);
	assert_true(v <= (double)time(NULL) + 1);
	expo__free(e);
}

struct fake_proc {
	char root[64];
};

static void write_file(const char *root, const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *root, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int fake_proc_setup(void **state)
{
	struct fake_proc *fp = calloc(1, sizeof(*fp));

	if (!fp)
		return -1;
	strcpy(fp->root, "/tmp/kvscope-proc-XXXXXX");
	if (!mkdtemp(fp->root)) {
		free(fp);
		return -1;
	}
	*state = fp;
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fake_proc_teardown(void **state)
{
	struct fake_proc *fp = *state;

	nftw(fp->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fp);
	return 0;
}

static void test_write_fake_proc(void **state)
{
	struct fake_proc *fp = *state;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char stat[256];
	struct expo *e = expo__new();
	const char *text;
	double v;

	assert_non_null(e);
	/* utime + stime = 3 s; started 5 s after boot. */
	snprintf(stat, sizeof(stat),
		 "99 (fake (kv) store) S 1 99 99 0 -1 0 0 0 0 0 %ld %ld 0 0 20 0 1 0 %ld "
		 "4096000 10 0\n",
		 2 * ticks, ticks, 5 * ticks);
	make_dir(fp->root, "self");
	make_dir(fp->root, "self/fd");
	write_file(fp->root, "self/stat", stat);
	write_file(fp->root, "self/fd/0", "");
	write_file(fp->root, "self/fd/1", "");
	write_file(fp->root, "self/fd/2", "");
	write_file(fp->root, "self/limits", "Max open files 4321 8000 files\n");
	write_file(fp->root, "stat", "cpu 1 2 3\nbtime 1000000000\n");

	selfstats__write(e, fp->root);
	text = expo__data(e, NULL);
	assert_int_equal(sample_value(text, "process_cpu_seconds_total", &v), 0);
	assert_true(v == 3);
	assert_int_equal(sample_value(text, "process_virtual_memory_bytes", &v), 0);
	assert_true(v == 4096000);
	assert_int_equal(sample_value(text, "process_resident_memory_bytes", &v), 0);
	assert_true(v == 10.0 * (double)page);
	assert_int_equal(sample_value(text, "process_start_time_seconds", &v), 0);
	assert_true(v == 1000000005);
	assert_int_equal(sample_value(text, "process_open_fds", &v), 0);
	assert_true(v == 3);
	assert_int_equal(sample_value(text, "process_max_fds", &v), 0);
	assert_true(v == 4321);
	expo__free(e);
}

static void test_write_fake_proc_garbage(void **state)
{
	struct fake_proc *fp = *state;
	struct expo *e = expo__new();
	const char *text;
	size_t len;
	double v;

	assert_non_null(e);
	make_dir(fp->root, "self");
	write_file(fp->root, "self/stat", "not a stat line (at all");
	write_file(fp->root, "self/limits", "Max open files lots\n");
	/* No /stat, no self/fd: those metrics go, the rest stays. */
	selfstats__write(e, fp->root);
	assert_false(expo__failed(e));
	assert_string_equal(expo__data(e, &len), "");
	assert_int_equal(len, 0);

	/* A good stat but no boot time: everything but the start time. */
	write_file(fp->root, "self/stat",
		   "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 8192 2 0\n");
	write_file(fp->root, "self/limits", "Max open files 64 64 files\n");
	write_file(fp->root, "stat", "btime\n");
	selfstats__write(e, fp->root);
	text = expo__data(e, NULL);
	assert_int_equal(sample_value(text, "process_cpu_seconds_total", &v), 0);
	assert_true(v == 0);
	assert_int_equal(sample_value(text, "process_virtual_memory_bytes", &v), 0);
	assert_true(v == 8192);
	assert_int_equal(sample_value(text, "process_max_fds", &v), 0);
	assert_true(v == 64);
	assert_int_equal(sample_value(text, "process_start_time_seconds", &v), -1);
	assert_int_equal(sample_value(text, "process_open_fds", &v), -1);
	assert_null(strstr(text, "process_start_time_seconds"));
	expo__free(e);
}

static void test_write_missing_root(void **state)
{
	struct expo *e = expo__new();

	(void)state;
	assert_non_null(e);
	selfstats__write(e, "/nonexistent/kvscope-proc");
	assert_string_equal(expo__data(e, NULL), "");
	selfstats__write(NULL, "/proc");
	expo__free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_stat_plain),
	    cmocka_unit_test(test_parse_stat_awkward_comm),
	    cmocka_unit_test(test_parse_stat_rejects_garbage),
	    cmocka_unit_test(test_parse_btime),
	    cmocka_unit_test(test_parse_max_fds),
	    cmocka_unit_test(test_write_real_proc),
	    cmocka_unit_test_setup_teardown(test_write_fake_proc, fake_proc_setup,
					    fake_proc_teardown),
	    cmocka_unit_test_setup_teardown(test_write_fake_proc_garbage, fake_proc_setup,
					    fake_proc_teardown),
	    cmocka_unit_test(test_write_missing_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
