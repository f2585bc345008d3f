// SPDX-License-Identifier: Apache-2.0
/*
 * Binaries examined in a child process: the same verdict and sites as an
 * examination in the agent's own process, from a child that held no
 * capability; a child that dies gets the binary refused, and the agent
 * goes on.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probes/binary.h"
#include "probes/examiner.h"
#include "profile/catalog.h"

#define ETCD_PATH "/usr/bin/etcd"

static void test_same_sites_as_in_process(void **state)
{
	struct binary here = {.fd = -1}, child = {.fd = -1};
	struct catalog cat;
	int fd;

	(void)state;
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	fd = open(ETCD_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("%s is not installed (make deps)", ETCD_PATH);
	binary__examine_fd(&here, &cat, fd, NULL);
	examiner__run_forked(&child, &cat, fd);
	close(fd);
	assert_int_equal(here.verdict, BINARY_READY);
	assert_int_equal(child.verdict, BINARY_READY);
	assert_ptr_equal(child.profile, here.profile);
	assert_string_equal(child.version, here.version);
	assert_string_equal(child.go_version, here.go_version);
	assert_int_equal(child.res.nsites, here.res.nsites);
	for (int i = 0; i < here.res.nsites; i++) {
		assert_int_equal(child.res.sites[i].probe, here.res.sites[i].probe);
		assert_int_equal(child.res.sites[i].file_offset, here.res.sites[i].file_offset);
		assert_string_equal(child.res.sites[i].site.insn, here.res.sites[i].site.insn);
	}
	/* the child gave up every capability before it parsed */
	assert_false(child.caps_held);
	resolution__free(&here.res);
	resolution__free(&child.res);
	catalog__free(&cat);
}

static void die(void)
{
	raise(SIGKILL);
}

static void test_a_dying_examiner_refuses_the_binary(void **state)
{
	struct binary b = {.fd = -1};
	struct catalog cat;
	int fd;

	(void)state;
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	fd = open(ETCD_PATH, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	examiner__child_hook = die;
	examiner__run_forked(&b, &cat, fd);
	examiner__child_hook = NULL;
	close(fd);
	assert_int_equal(b.verdict, BINARY_REFUSED);
	assert_null(b.profile);
	assert_int_equal(b.res.nsites, 0);
	assert_non_null(strstr(b.reason, "examination failed: the examining process was killed "
					 "by signal 9"));
	catalog__free(&cat);
}

/* Not an ELF file: the child says so, as the agent itself would. */
static void test_not_a_binary(void **state)
{
	struct binary b = {.fd = -1};
	struct catalog cat;

	(void)state;
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	binary__examine(&b, &cat, "/etc/hostname");
	assert_int_equal(b.verdict, BINARY_NOT_A_STORE);
	assert_non_null(strstr(b.reason, "too short") ? b.reason : strstr(b.reason, "ELF"));
	catalog__free(&cat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_sites_as_in_process),
	    cmocka_unit_test(test_a_dying_examiner_refuses_the_binary),
	    cmocka_unit_test(test_not_a_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
