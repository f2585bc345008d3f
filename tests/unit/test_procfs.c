// SPDX-License-Identifier: Apache-2.0
/*
 * Process facts from procfs: the pure parsers, a fake procfs tree made in a
 * temporary directory, the real /proc for this process, and the target name
 * a store process gets from its command line or environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover/procfs.h"
#include "profile/profile.h"
#include "discover/targets.h"

#define REAL_EXE "/bin/true"

/* A NUL-separated block from a literal: the size includes the final NUL. */
#define BLOCK(s) (s), sizeof(s)

static void test_parse_flag(void **state)
{
	static const struct {
		const char *buf;
		size_t len;
		const char *flag;
		const char *want; /* NULL: not found */
	} cases[] = {
	    {BLOCK("etcd\0--name\0infra1\0--data-dir\0/d"), "--name", "infra1"},
	    {BLOCK("etcd\0--name=infra2\0--data-dir=/d"), "--name", "infra2"},
	    {BLOCK("etcd\0--data-dir=/d\0--name"), "--name", NULL},
	    {BLOCK("etcd\0--name-other=x\0--name-other\0y"), "--name", NULL},
	    {BLOCK("etcd\0--name-other=x\0--name=real"), "--name", "real"},
	    {BLOCK("etcd\0--nam=x"), "--name", NULL},
	    {BLOCK("etcd\0-name=x"), "--name", NULL},
	    {BLOCK("etcd\0--name=first\0--name=second"), "--name", "first"},
	    {BLOCK("etcd\0--name=a=b"), "--name", "a=b"},
	    {BLOCK("etcd\0--name=\0x"), "--name", ""},
	    {"", 0, "--name", NULL},
	    {BLOCK(""), "--name", NULL},
	    /* no final NUL: the last argument ends at the buffer's end */
	    {"etcd\0--name=tail", 16, "--name", "tail"},
	    {"etcd\0--name\0tail", 16, "--name", "tail"},
	    {"etcd\0--name", 11, "--name", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		/* an exact-size heap copy lets the sanitizer see any over-read */
		char *buf = malloc(cases[i].len ? cases[i].len : 1);
		bool found;

		assert_non_null(buf);
		memcpy(buf, cases[i].buf, cases[i].len);
		strcpy(out, "untouched");
		found = procfs_parse_flag(buf, cases[i].len, cases[i].flag, out, sizeof(out));
		free(buf);
		if (found != (cases[i].want != NULL))
			fail_msg("case %zu: found %d", i, found);
		if (found && strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, out, cases[i].want);
	}
}

static void test_parse_flag_truncates(void **state)
{
	static const char argv[] = "etcd\0--name=abcdefghijkl";
	char out[5];

	(void)state;
	assert_true(procfs_parse_flag(argv, sizeof(argv), "--name", out, sizeof(out)));
	assert_string_equal(out, "abcd");
	assert_true(procfs_parse_flag("x\0--name\0abcdefgh", 18, "--name", out, sizeof(out)));
	assert_string_equal(out, "abcd");
}

static void test_parse_env(void **state)
{
	static const struct {
		const char *buf;
		size_t len;
		const char *var;
		const char *want;
	} cases[] = {
	    {BLOCK("HOME=/root\0ETCD_NAME=m1\0ETCD_NAME=m2"), "ETCD_NAME", "m1"},
	    {BLOCK("ETCD_NAME_X=no\0ETCD_NAMEX=no\0ETCD_NAME=yes"), "ETCD_NAME", "yes"},
	    {BLOCK("ETCD_NAME_X=no\0XETCD_NAME=no"), "ETCD_NAME", NULL},
	    {BLOCK("PATH=/bin"), "ETCD_NAME", NULL},
	    {BLOCK("ETCD_NAME"), "ETCD_NAME", NULL},
	    {BLOCK("ETCD_NAME="), "ETCD_NAME", ""},
	    {BLOCK("ETCD_NAME=a=b"), "ETCD_NAME", "a=b"},
	    {"ETCD_NAME=tail", 14, "ETCD_NAME", "tail"},
	    {"", 0, "ETCD_NAME", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		char *buf = malloc(cases[i].len ? cases[i].len : 1);
		bool found;

		assert_non_null(buf);
		memcpy(buf, cases[i].buf, cases[i].len);
		found = procfs_parse_env(buf, cases[i].len, cases[i].var, out, sizeof(out));
		free(buf);
		if (found != (cases[i].want != NULL))
			fail_msg("case %zu: found %d", i, found);
		if (found && strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, out, cases[i].want);
	}
}

/* A /proc/PID/stat line: fields 4..21 filled, start time in field 22. */
static void format_stat(char *buf, size_t len, int pid, const char *comm, char state,
			unsigned long long start)
{
	snprintf(buf, len,
		 "%d (%s) %c 1 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 %llu 7000000 600 "
		 "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		 pid, comm, state, start);
}

static int parse_stat_copy(const char *text, char *comm, size_t commlen, uint64_t *start)
{
	size_t len = strlen(text) + 1;
	char *buf = malloc(len);
	int rc;

	assert_non_null(buf);
	memcpy(buf, text, len);
	rc = procfs_parse_stat(buf, comm, commlen, start);
	free(buf);
	return rc;
}

static void test_parse_stat(void **state)
{
	static const char *const comms[] = {"etcd", "a) b", "(x) (y)", "with space", ")", ""};
	char line[512], comm[32];
	uint64_t start;

	(void)state;
	for (size_t i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
		format_stat(line, sizeof(line), 1234, comms[i], 'S', 987654321ull + i);
		start = 0;
		assert_int_equal(parse_stat_copy(line, comm, sizeof(comm), &start), 0);
		assert_string_equal(comm, comms[i]);
		assert_int_equal(start, 987654321ull + i);
	}
	/* exactly 22 fields, no newline */
	assert_int_equal(parse_stat_copy("1 (a) b) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 42", comm,
					 sizeof(comm), &start),
			 0);
	assert_string_equal(comm, "a) b");
	assert_int_equal(start, 42);
	/* comm longer than the caller's buffer is cut, not overflowed */
	format_stat(line, sizeof(line), 5, "a-very-long-command-name", 'R', 77);
	assert_int_equal(parse_stat_copy(line, comm, 8, &start), 0);
	assert_string_equal(comm, "a-very-");
	assert_int_equal(start, 77);
}

static void test_parse_stat_rejects(void **state)
{
	static const char *const bad[] = {
	    "1 (a) b) S 0 1 2",
	    "1 (a) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
	    "1 (a) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 x",
	    "1 (a)",
	    "1 (a) ",
	    "1 (a",
	    "1 a) S",
	    "1 )a( S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1",
	    "",
	};
	char comm[32];
	uint64_t start = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_stat_copy(bad[i], comm, sizeof(comm), &start) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	assert_int_equal(start, 99);
}

static void test_parse_uids(void **state)
{
	uid_t r = 7, e = 7;

	(void)state;
	assert_int_equal(procfs_parse_uids("Name:\tetcd\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t"
					   "0\t0\nGid:\t1000\t1000\t1000\t1000\n",
					   &r, &e),
			 0);
	assert_int_equal(r, 1000);
	assert_int_equal(e, 0);
	assert_int_equal(procfs_parse_uids("Uid:\t65534\t65534\t65534\t65534\n", &r, &e), 0);
	assert_int_equal(r, 65534);
	assert_int_equal(e, 65534);
	/* a comm may hold "Uid:" but not at a line start */
	assert_int_equal(procfs_parse_uids("Name:\tUid:\t5\t5\nUid:\t6\t7\t0\t0\n", &r, &e), 0);
	assert_int_equal(r, 6);
	assert_int_equal(e, 7);
	r = e = 9;
	assert_int_equal(procfs_parse_uids("Name:\tx\n", &r, &e), -1);
	assert_int_equal(procfs_parse_uids("Uid:\t1\n", &r, &e), -1);
	assert_int_equal(procfs_parse_uids("Uid:\t-1\t-1\n", &r, &e), -1);
	assert_int_equal(procfs_parse_uids("Uid:\t99999999999\t1\n", &r, &e), -1);
	assert_int_equal(procfs_parse_uids("", &r, &e), -1);
	assert_int_equal(r, 9);
}

static void test_parse_cgroup(void **state)
{
	static const struct {
		const char *text, *want; /* NULL: refused */
	} cases[] = {
	    {"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope\n",
	     "/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope"},
	    /* hybrid: the unified tree unused, systemd's v1 tree holds the path */
	    {"12:memory:/x\n1:name=systemd:/system.slice/etcd.service\n0::/\n",
	     "/system.slice/etcd.service"},
	    {"1:name=systemd:/user.slice/user-1000.slice\n0::/user.slice/user-1000.slice\n",
	     "/user.slice/user-1000.slice"},
	    {"4:memory:/process_api/1\n0::/\n", "/"},
	    {"1:name=systemd:/kubepods/burstable/pod1/c1", "/kubepods/burstable/pod1/c1"},
	    {"0::/a:b\n", "/a:b"},
	    {"12:cpu,cpuacct:/x\n", NULL},
	    {"10::/only-v1-named-nothing\n", NULL},
	    {"garbage", NULL},
	    {"", NULL},
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = procfs_parse_cgroup(cases[i].text, out, sizeof(out));

		if (!cases[i].want) {
			if (rc != -1)
				fail_msg("case %zu accepted: \"%s\"", i, out);
			continue;
		}
		if (rc != 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: rc %d \"%s\"", i, rc, out);
	}
	/* a path longer than the buffer is cut, not overflowed */
	assert_int_equal(procfs_parse_cgroup("0::/0123456789\n", out, 6), 0);
	assert_string_equal(out, "/0123");
}

/* A fake procfs root, removed with its contents at teardown. */
struct fake_proc {
	char root[64];
};

static void write_file(const char *root, int pid, const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void make_pid(const char *root, int pid, const char *comm, char state,
		     unsigned long long start, const char *exe)
{
	char path[256], stat_line[512];

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	format_stat(stat_line, sizeof(stat_line), pid, comm, state, start);
	write_file(root, pid, "stat", stat_line, strlen(stat_line));
	if (exe) {
		snprintf(path, sizeof(path), "%s/%d/exe", root, pid);
		assert_int_equal(symlink(exe, path), 0);
	}
}

static int fake_setup(void **state)
{
	struct fake_proc *fp = calloc(1, sizeof(*fp));
	char path[256];

	if (!fp)
		return -1;
	snprintf(fp->root, sizeof(fp->root), "/tmp/kvscope-procfs-XXXXXX");
	if (!mkdtemp(fp->root))
		return -1;
	make_pid(fp->root, 100, "etcd", 'S', 5000, REAL_EXE);
	make_pid(fp->root, 200, "zombie", 'Z', 6000, REAL_EXE);
	make_pid(fp->root, 300, "kworker/0:1", 'I', 7000, NULL); /* kernel thread: no exe */
	/* entries that are not processes */
	snprintf(path, sizeof(path), "%s/self", fp->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/12abc", fp->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/0", fp->root);
	mkdir(path, 0755);
	*state = fp;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake_proc *fp = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fp->root);
	if (system(cmd) != 0)
		return -1;
	free(fp);
	return 0;
}

static void test_ident_fake(void **state)
{
	struct fake_proc *fp = *state;
	struct proc_ident id;
	struct stat want;
	char link[128];

	assert_int_equal(stat(REAL_EXE, &want), 0);
	assert_int_equal(procfs_ident(fp->root, 100, &id), 0);
	assert_int_equal(id.pid, 100);
	assert_string_equal(id.comm, "etcd");
	assert_int_equal(id.start_time, 5000);
	assert_string_equal(id.exe, REAL_EXE);
	snprintf(link, sizeof(link), "%s/100/exe", fp->root);
	assert_string_equal(id.exe_link, link);
	assert_int_equal(id.exe_dev, want.st_dev);
	assert_int_equal(id.exe_ino, want.st_ino);
}

static void test_ident_fake_failures(void **state)
{
	struct fake_proc *fp = *state;
	struct proc_ident id;

	assert_int_equal(procfs_ident(fp->root, 300, &id), -1); /* no exe link */
	assert_int_equal(procfs_ident(fp->root, 999, &id), -1); /* no such pid */
	assert_int_equal(procfs_ident("/nonexistent-procfs", 100, &id), -1);
}

static void test_alive_fake(void **state)
{
	struct fake_proc *fp = *state;

	assert_true(procfs_alive(fp->root, 100, 5000));
	assert_false(procfs_alive(fp->root, 100, 5001)); /* pid reused */
	assert_false(procfs_alive(fp->root, 200, 6000)); /* zombie */
	assert_true(procfs_alive(fp->root, 300, 7000));
	assert_false(procfs_alive(fp->root, 999, 5000));
}

static void test_alive_dead_state(void **state)
{
	struct fake_proc *fp = *state;

	make_pid(fp->root, 400, "gone", 'X', 8000, REAL_EXE);
	assert_false(procfs_alive(fp->root, 400, 8000));
}

struct pid_list {
	pid_t pids[16];
	int n;
	int stop_after; /* 0: never */
};

static int collect_pid(pid_t pid, void *ctx)
{
	struct pid_list *l = ctx;

	if (l->n < 16)
		l->pids[l->n++] = pid;
	return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

static void test_each_pid_fake(void **state)
{
	struct fake_proc *fp = *state;
	struct pid_list all = {0}, one = {.stop_after = 1};

	assert_int_equal(procfs_each_pid(fp->root, collect_pid, &all), 0);
	qsort(all.pids, (size_t)all.n, sizeof(all.pids[0]), cmp_pid);
	assert_int_equal(all.n, 3);
	assert_int_equal(all.pids[0], 100);
	assert_int_equal(all.pids[1], 200);
	assert_int_equal(all.pids[2], 300);
	/* a nonzero return stops the walk and is passed back */
	assert_int_equal(procfs_each_pid(fp->root, collect_pid, &one), 7);
	assert_int_equal(one.n, 1);
	assert_int_equal(procfs_each_pid("/nonexistent-procfs", collect_pid, &all), -1);
}

static void test_read_fake(void **state)
{
	struct fake_proc *fp = *state;
	char buf[8];

	write_file(fp->root, 100, "cmdline", BLOCK("etcd\0--name\0m1"));
	assert_int_equal(procfs_read(fp->root, 100, "cmdline", buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "etcd\0--", 7);
	assert_int_equal(buf[7], '\0');
	assert_int_equal(procfs_read(fp->root, 100, "cmdline", buf, 1), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(procfs_read(fp->root, 100, "missing", buf, sizeof(buf)), -1);
	/* no room for the NUL: refused, nothing written */
	char *none = malloc(0);

	assert_int_equal(procfs_read(fp->root, 100, "cmdline", none, 0), -1);
	free(none);
}

static void test_real_proc_self(void **state)
{
	struct proc_ident id;
	char exe[4096], comm[64];
	struct stat want;
	FILE *f;
	ssize_t n;

	(void)state;
	assert_int_equal(procfs_ident("/proc", getpid(), &id), 0);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(id.exe, exe);
	assert_int_equal(stat(exe, &want), 0);
	assert_int_equal(id.exe_dev, want.st_dev);
	assert_int_equal(id.exe_ino, want.st_ino);
	f = fopen("/proc/self/comm", "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	assert_string_equal(id.comm, comm);
	assert_true(id.start_time > 0);
	assert_true(procfs_alive("/proc", getpid(), id.start_time));
	assert_false(procfs_alive("/proc", getpid(), id.start_time + 1));
}

static int find_self(pid_t pid, void *ctx)
{
	return pid == getpid() ? (*(int *)ctx = 1) : 0;
}

static void test_real_proc_each_pid(void **state)
{
	int seen = 0;

	(void)state;
	assert_int_equal(procfs_each_pid("/proc", find_self, &seen), 1);
	assert_int_equal(seen, 1);
}

/* Target names, from a profile built here rather than a YAML file. */
static const struct profile name_profile = {
    .name = "test",
    .name_flag = "--name",
    .name_env = "ETCD_NAME",
};

static void name_of(const char *root, const struct profile *p, int pid, const char *comm, char *out,
		    size_t outlen)
{
	struct proc_ident id = {.pid = pid};

	snprintf(id.comm, sizeof(id.comm), "%s", comm);
	target_name_of(root, p, &id, out, outlen);
}

static void test_target_name_sources(void **state)
{
	struct fake_proc *fp = *state;
	const struct profile bare = {.name = "bare"};
	char out[64];

	make_pid(fp->root, 501, "etcd", 'S', 1, REAL_EXE);
	write_file(fp->root, 501, "cmdline", BLOCK("etcd\0--name=flagged\0--x"));
	write_file(fp->root, 501, "environ", BLOCK("ETCD_NAME=from-env"));
	name_of(fp->root, &name_profile, 501, "etcd", out, sizeof(out));
	assert_string_equal(out, "flagged");

	make_pid(fp->root, 502, "etcd", 'S', 1, REAL_EXE);
	write_file(fp->root, 502, "cmdline", BLOCK("etcd\0--name\0spaced\0--x"));
	name_of(fp->root, &name_profile, 502, "etcd", out, sizeof(out));
	assert_string_equal(out, "spaced");

	make_pid(fp->root, 503, "etcd", 'S', 1, REAL_EXE);
	write_file(fp->root, 503, "cmdline", BLOCK("etcd\0--name-prefix=no\0--name"));
	write_file(fp->root, 503, "environ", BLOCK("ETCD_NAME_X=no\0ETCD_NAME=from-env"));
	name_of(fp->root, &name_profile, 503, "etcd", out, sizeof(out));
	assert_string_equal(out, "from-env");

	make_pid(fp->root, 504, "etcd", 'S', 1, REAL_EXE);
	write_file(fp->root, 504, "cmdline", BLOCK("etcd\0--data-dir=/d"));
	write_file(fp->root, 504, "environ", BLOCK("HOME=/root"));
	name_of(fp->root, &name_profile, 504, "etcd", out, sizeof(out));
	assert_string_equal(out, "etcd-504");

	/* unreadable process files and a profile without naming rules */
	name_of(fp->root, &name_profile, 999, "etcd", out, sizeof(out));
	assert_string_equal(out, "etcd-999");
	name_of(fp->root, &bare, 501, "etcd", out, sizeof(out));
	assert_string_equal(out, "etcd-501");
}

static void test_target_name_truncates(void **state)
{
	struct fake_proc *fp = *state;
	char cmdline[600], want[600], out[16];
	size_t n;

	memset(want, 'n', 300);
	want[300] = '\0';
	n = (size_t)snprintf(cmdline, sizeof(cmdline), "etcd%c--name=%s", '\0', want) + 1;
	make_pid(fp->root, 601, "etcd", 'S', 1, REAL_EXE);
	write_file(fp->root, 601, "cmdline", cmdline, n);
	name_of(fp->root, &name_profile, 601, "etcd", out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_memory_equal(out, want, sizeof(out) - 1);
	/* the comm-pid fallback is cut the same way */
	name_of(fp->root, &name_profile, 999, "a-long-command-name", out, sizeof(out));
	assert_string_equal(out, "a-long-command-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_flag),
	    cmocka_unit_test(test_parse_flag_truncates),
	    cmocka_unit_test(test_parse_env),
	    cmocka_unit_test(test_parse_stat),
	    cmocka_unit_test(test_parse_stat_rejects),
	    cmocka_unit_test(test_parse_uids),
	    cmocka_unit_test(test_parse_cgroup),
	    cmocka_unit_test_setup_teardown(test_ident_fake, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_ident_fake_failures, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_alive_fake, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_alive_dead_state, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_each_pid_fake, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_read_fake, fake_setup, fake_teardown),
	    cmocka_unit_test(test_real_proc_self),
	    cmocka_unit_test(test_real_proc_each_pid),
	    cmocka_unit_test_setup_teardown(test_target_name_sources, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_target_name_truncates, fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
