// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/caps.h"

/* The capability lines of /proc/self/status, as numbers. */
struct proc_caps {
	uint64_t inh, prm, eff, bnd, amb;
	int no_new_privs;
};

static int read_proc_caps(struct proc_caps *c)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f)) {
		found += sscanf(line, "CapInh: %" SCNx64, &c->inh) == 1;
		found += sscanf(line, "CapPrm: %" SCNx64, &c->prm) == 1;
		found += sscanf(line, "CapEff: %" SCNx64, &c->eff) == 1;
		found += sscanf(line, "CapBnd: %" SCNx64, &c->bnd) == 1;
		found += sscanf(line, "CapAmb: %" SCNx64, &c->amb) == 1;
		found += sscanf(line, "NoNewPrivs: %d", &c->no_new_privs) == 1;
	}
	fclose(f);
	return found == 6 ? 0 : -1;
}

static uint64_t bit(cap_value_t cap)
{
	return UINT64_C(1) << cap;
}

/* What a child saw after dropping: its status lines, and what it could do. */
struct child_report {
	int rc;
	char err[256];
	struct proc_caps caps;
	int setuid_errno; /* setuid(65534) needs CAP_SETUID */
};

/* Drops in a forked child, so this test binary keeps its capabilities. */
static void drop_in_child(const cap_value_t *keep, int n, struct child_report *out)
{
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct child_report r = {0};

		close(fds[0]);
		r.rc = caps__drop_to(keep, n, r.err, sizeof(r.err));
		if (read_proc_caps(&r.caps))
			r.rc = -2;
		r.setuid_errno = setuid(65534) ? errno : 0;
		_exit(write(fds[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], out, sizeof(*out)), sizeof(*out));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int need_caps(void **state)
{
	struct proc_caps c;

	(void)state;
	if (read_proc_caps(&c))
		return -1;
	/* Dropping is only observable with something to drop. */
	if ((c.eff & bit(CAP_SETPCAP)) == 0 || (c.eff & bit(CAP_NET_ADMIN)) == 0)
		skip();
	return 0;
}

static void test_drop_to_a_few(void **state)
{
	const cap_value_t keep[] = {CAP_SYS_PTRACE, CAP_NET_BIND_SERVICE};
	const uint64_t want = bit(CAP_SYS_PTRACE) | bit(CAP_NET_BIND_SERVICE);
	struct child_report r;
	struct proc_caps before, after;

	(void)state;
	assert_int_equal(read_proc_caps(&before), 0);
	drop_in_child(keep, 2, &r);
	if (r.rc)
		fail_msg("drop failed (%d): %s", r.rc, r.err);
	assert_int_equal(r.caps.eff, want);
	assert_int_equal(r.caps.prm, want);
	assert_int_equal(r.caps.bnd, want);
	assert_int_equal(r.caps.inh, 0);
	assert_int_equal(r.caps.amb, 0);
	assert_int_equal(r.caps.no_new_privs, 1);
	assert_int_equal(r.caps.eff & bit(CAP_NET_ADMIN), 0);
	assert_int_equal(r.caps.eff & bit(CAP_SYS_ADMIN), 0);
	/* Not just bits: what CAP_SETUID allowed is now refused. */
	assert_int_equal(r.setuid_errno, EPERM);
	/* The parent is untouched. */
	assert_int_equal(read_proc_caps(&after), 0);
	assert_int_equal(after.eff, before.eff);
	assert_int_equal(after.bnd, before.bnd);
}

static void test_drop_to_required(void **state)
{
	int n;
	const cap_value_t *keep = caps__required(&n);
	struct child_report r;
	struct proc_caps before;
	uint64_t want = 0;

	(void)state;
	assert_int_equal(read_proc_caps(&before), 0);
	for (int i = 0; i < n; i++)
		want |= bit(keep[i]);
	drop_in_child(keep, n, &r);
	if (r.rc)
		fail_msg("drop failed (%d): %s", r.rc, r.err);
	/* What was held of the required set, and nothing else. */
	assert_int_equal(r.caps.eff, want & before.prm);
	assert_int_equal(r.caps.prm, want & before.prm);
	assert_int_equal(r.caps.bnd, want & before.bnd);
	assert_int_equal(r.caps.eff & bit(CAP_NET_ADMIN), 0);
	assert_int_equal(r.caps.eff & bit(CAP_SETPCAP), 0);
	assert_int_equal(r.caps.eff & bit(CAP_SYS_MODULE), 0);
	assert_int_equal(r.caps.no_new_privs, 1);
	assert_int_equal(r.setuid_errno, EPERM);
}

static void test_drop_everything(void **state)
{
	struct child_report r;

	(void)state;
	drop_in_child(NULL, 0, &r);
	if (r.rc)
		fail_msg("drop failed (%d): %s", r.rc, r.err);
	assert_int_equal(r.caps.eff, 0);
	assert_int_equal(r.caps.prm, 0);
	assert_int_equal(r.caps.bnd, 0);
	assert_int_equal(r.setuid_errno, EPERM);
}

/* Asking to keep what is not held is no error: it could not be had anyway. */
static void test_keep_unheld(void **state)
{
	struct proc_caps before;
	struct child_report r;
	cap_value_t unheld = -1;
	const cap_value_t *keep;

	(void)state;
	assert_int_equal(read_proc_caps(&before), 0);
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (!(before.prm & bit(c)))
			unheld = c;
	if (unheld < 0)
		skip();
	keep = (cap_value_t[]){unheld, CAP_KILL};
	drop_in_child(keep, 2, &r);
	if (r.rc)
		fail_msg("drop failed (%d): %s", r.rc, r.err);
	assert_int_equal(r.caps.eff, bit(CAP_KILL));
}

static void test_bad_arguments(void **state)
{
	char err[128] = "";

	(void)state;
	/* Refused before anything changes, so safe to call in the test process. */
	assert_int_equal(caps__drop_to(NULL, 2, err, sizeof(err)), -1);
	assert_string_equal(err, "capabilities: bad list to keep");
	assert_int_equal(caps__drop_to((const cap_value_t[]){CAP_KILL}, -1, err, sizeof(err)), -1);
}

static void test_required_set(void **state)
{
	int n = 0;
	const cap_value_t *req = caps__required(&n);
	uint64_t set = 0;

	(void)state;
	for (int i = 0; i < n; i++)
		set |= bit(req[i]);
	assert_int_equal(n, 5);
	assert_int_equal(set, bit(CAP_SYS_ADMIN) | bit(CAP_BPF) | bit(CAP_PERFMON) |
				  bit(CAP_SYS_PTRACE) | bit(CAP_DAC_READ_SEARCH));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_drop_to_a_few, need_caps),
	    cmocka_unit_test_setup(test_drop_to_required, need_caps),
	    cmocka_unit_test_setup(test_drop_everything, need_caps),
	    cmocka_unit_test_setup(test_keep_unheld, need_caps),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_required_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
