// SPDX-License-Identifier: Apache-2.0
/* The bucket search the BPF program runs on every request, checked here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/kvscope_types.h"
#include "kvscope_buckets.h"

/* The default bounds in ns: 0.1ms 0.25ms 0.5ms 1ms, then Prometheus' DefBuckets. */
static const __u64 defaults_ns[] = {100000,    250000,	   500000,     1000000,	   5000000,
				    10000000,  25000000,   50000000,   100000000,  250000000,
				    500000000, 1000000000, 2500000000, 5000000000, 10000000000};
#define NDEF ((__u32)(sizeof(defaults_ns) / sizeof(defaults_ns[0])))

static void test_bounds_are_inclusive(void **state)
{
	(void)state;
	/* Prometheus' le is "less than or equal" */
	for (__u32 i = 0; i < NDEF; i++) {
		assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, defaults_ns[i]), i);
		assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, defaults_ns[i] + 1), i + 1);
	}
}

static void test_edges(void **state)
{
	(void)state;
	assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, 0), 0);
	assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, 99999), 0);
	assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, 10000000001ull), NDEF);
	assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, UINT64_MAX), NDEF);
	/* a typical etcd Range, ~120 us, lands in (0.1ms, 0.25ms] */
	assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, 120000), 1);
}

static void test_no_bounds_means_inf(void **state)
{
	(void)state;
	assert_int_equal(kvs_bucket_index(defaults_ns, 0, 5), 0);
}

static void test_count_is_clamped(void **state)
{
	__u64 many[KVS_MAX_BUCKETS];

	(void)state;
	for (int i = 0; i < KVS_MAX_BUCKETS; i++)
		many[i] = (__u64)(i + 1) * 10;
	assert_int_equal(kvs_bucket_index(many, KVS_MAX_BUCKETS, 320), KVS_MAX_BUCKETS - 1);
	assert_int_equal(kvs_bucket_index(many, KVS_MAX_BUCKETS, 321), KVS_MAX_BUCKETS);
	/* a count beyond the table never reads past it */
	assert_int_equal(kvs_bucket_index(many, KVS_MAX_BUCKETS + 5, 1000), KVS_MAX_BUCKETS);
}

static void test_matches_linear_reference(void **state)
{
	(void)state;
	for (__u64 ns = 0; ns < 12000000000ull; ns = ns * 3 / 2 + 7) {
		__u32 want = NDEF;

		for (__u32 i = 0; i < NDEF; i++) {
			if (ns <= defaults_ns[i]) {
				want = i;
				break;
			}
		}
		assert_int_equal(kvs_bucket_index(defaults_ns, NDEF, ns), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds_are_inclusive),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_no_bounds_means_inf),
	    cmocka_unit_test(test_count_is_clamped),
	    cmocka_unit_test(test_matches_linear_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
