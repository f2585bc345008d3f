// SPDX-License-Identifier: Apache-2.0
/*
 * Per-CPU map values as the kernel hands them over: histograms summed over
 * CPUs at the map's value stride, and gauges taken from the CPU that wrote
 * last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics/collector_maps.h"

#define NCPU 3

/* Per-CPU values are laid out 8-byte aligned, as bpf_map_lookup_elem returns them. */
static size_t kernel_stride(void)
{
	return (sizeof(struct kvs_stat) + 7) & ~(size_t)7;
}

static struct kvs_stat *cpu_at(void *base, size_t stride, int cpu)
{
	return (struct kvs_stat *)((char *)base + (size_t)cpu * stride);
}

/* CPU c holds count 10^c, sum (c+1)*1000 and bucket b = 100*c + b + 1. */
static void fill_percpu(void *base, size_t stride, int ncpu)
{
	memset(base, 0xa5, (size_t)ncpu * stride); /* padding holds junk */
	for (int c = 0; c < ncpu; c++) {
		struct kvs_stat *v = cpu_at(base, stride, c);
		uint64_t scale = 1;

		for (int i = 0; i < c; i++)
			scale *= 10;
		v->count = scale;
		v->sum_ns = (uint64_t)(c + 1) * 1000;
		for (int b = 0; b <= KVS_MAX_BUCKETS; b++)
			v->buckets[b] = (uint64_t)(100 * c + b + 1);
	}
}

static void check_sum(const struct kvs_stat *sum, uint64_t base_count, uint64_t base_sum,
		      uint64_t base_bucket)
{
	assert_int_equal(sum->count, base_count + 1 + 10 + 100);
	assert_int_equal(sum->sum_ns, base_sum + 1000 + 2000 + 3000);
	/* every bucket, +Inf included: (b+1) + (100+b+1) + (200+b+1) */
	for (int b = 0; b <= KVS_MAX_BUCKETS; b++)
		assert_int_equal(sum->buckets[b], base_bucket + 3 * (uint64_t)b + 303);
}

static void test_sum_kernel_stride(void **state)
{
	size_t stride = kernel_stride();
	void *percpu = malloc(NCPU * stride);
	struct kvs_stat sum = {0};

	(void)state;
	assert_non_null(percpu);
	assert_int_equal(stride % 8, 0);
	assert_true(stride >= sizeof(struct kvs_stat));
	fill_percpu(percpu, stride, NCPU);
	stat_sum_percpu(&sum, percpu, NCPU, stride);
	check_sum(&sum, 0, 0, 0);
	free(percpu);
}

/* The stride, not sizeof, separates CPUs: a wider one must be honoured. */
static void test_sum_wide_stride(void **state)
{
	size_t stride = kernel_stride() + 24;
	void *percpu = malloc(NCPU * stride);
	struct kvs_stat sum = {0};

	(void)state;
	assert_non_null(percpu);
	fill_percpu(percpu, stride, NCPU);
	stat_sum_percpu(&sum, percpu, NCPU, stride);
	check_sum(&sum, 0, 0, 0);
	free(percpu);
}

/* The sum accumulates into what the caller already has. */
static void test_sum_adds_to_existing(void **state)
{
	size_t stride = kernel_stride();
	void *percpu = malloc(NCPU * stride);
	struct kvs_stat sum;

	(void)state;
	assert_non_null(percpu);
	fill_percpu(percpu, stride, NCPU);
	sum.count = 5;
	sum.sum_ns = 7;
	for (int b = 0; b <= KVS_MAX_BUCKETS; b++)
		sum.buckets[b] = 1000;
	stat_sum_percpu(&sum, percpu, NCPU, stride);
	check_sum(&sum, 5, 7, 1000);
	free(percpu);
}

static void test_sum_no_cpus(void **state)
{
	struct kvs_stat sum = {.count = 3, .sum_ns = 4};
	struct kvs_stat junk;

	(void)state;
	memset(&junk, 0xff, sizeof(junk));
	stat_sum_percpu(&sum, &junk, 0, sizeof(junk));
	assert_int_equal(sum.count, 3);
	assert_int_equal(sum.sum_ns, 4);
	assert_int_equal(sum.buckets[0], 0);
}

static void test_gauge_newest(void **state)
{
	static const struct {
		struct kvs_gauge_val percpu[4];
		int ncpu;
		int found;
		uint64_t value;
	} cases[] = {
	    /* the newest write wins, wherever it sits */
	    {{{5, 100}, {7, 300}, {9, 200}}, 3, 1, 7},
	    {{{5, 300}, {7, 100}, {9, 200}}, 3, 1, 5},
	    {{{5, 100}, {7, 200}, {9, 300}}, 3, 1, 9},
	    /* a CPU that never wrote (ts 0) is no candidate, even with a value */
	    {{{42, 0}, {0, 10}, {42, 0}}, 3, 1, 0},
	    {{{11, 0}, {12, 0}, {13, 0}}, 3, 0, 0},
	    {{{0, 0}}, 0, 0, 0},
	    /* only the first ncpu entries count */
	    {{{1, 10}, {2, 20}, {3, 30}, {4, 999}}, 3, 1, 3},
	    {{{6, 1}}, 1, 1, 6},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t value = 0xdeadbeef;
		int found = gauge_newest_percpu(cases[i].percpu, cases[i].ncpu, &value);

		if (found != cases[i].found)
			fail_msg("case %zu: found %d, want %d", i, found, cases[i].found);
		if (found && value != cases[i].value)
			fail_msg("case %zu: value %llu, want %llu", i, (unsigned long long)value,
				 (unsigned long long)cases[i].value);
		if (!found && value != 0xdeadbeef)
			fail_msg("case %zu: value written although none was set", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sum_kernel_stride),	 cmocka_unit_test(test_sum_wide_stride),
	    cmocka_unit_test(test_sum_adds_to_existing), cmocka_unit_test(test_sum_no_cpus),
	    cmocka_unit_test(test_gauge_newest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
