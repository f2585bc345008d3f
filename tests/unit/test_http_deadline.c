// SPDX-License-Identifier: Apache-2.0
/* The per-connection request deadline behind the slow-client defence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "http/deadline.h"

static void test_overdue_connection_is_shut_down(void **state)
{
	struct http_deadlines *d = http_deadlines__new(1);
	void *slot = NULL;
	int sv[2];
	char c;

	(void)state;
	assert_non_null(d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	http_deadlines__opened(d, sv[0], &slot);
	assert_non_null(slot);
	/* the peer sees the end of the stream once the deadline passed */
	assert_int_equal(read(sv[1], &c, 1), 0);
	assert_int_equal(http_deadlines__expired(d), 1);
	http_deadlines__closed(d, &slot);
	assert_null(slot);
	http_deadlines__free(d);
	close(sv[0]);
	close(sv[1]);
}

static void test_served_connection_gets_more_time(void **state)
{
	struct http_deadlines *d = http_deadlines__new(2);
	void *slot = NULL;
	int sv[2];

	(void)state;
	assert_non_null(d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	http_deadlines__opened(d, sv[0], &slot);
	for (int i = 0; i < 3; i++) {
		usleep(1200 * 1000); /* each wait alone is within the 2 s deadline */
		http_deadlines__served(d, slot);
	}
	assert_int_equal(http_deadlines__expired(d), 0);
	assert_int_equal(write(sv[0], "x", 1), 1); /* still open */
	http_deadlines__closed(d, &slot);
	http_deadlines__free(d);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_overdue_connection_is_shut_down),
	    cmocka_unit_test(test_served_connection_gets_more_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
