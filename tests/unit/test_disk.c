// SPDX-License-Identifier: Apache-2.0
/* File rules from profile globs, hashed as the BPF side hashes names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "probes/disk.h"

static void test_hash_is_fnv1a(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values */
	assert_true(disk_hash("", 0) == 0xcbf29ce484222325ull);
	assert_true(disk_hash("a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(disk_hash("foobar", 6) == 0x85944171f73967e8ull);
}

static void test_wal_glob(void **state)
{
	struct kvs_file_rule_key k;

	(void)state;
	assert_int_equal(disk_rule_from_glob("member/wal/*.wal", 7, &k), 0);
	assert_int_equal(k.profile, 7);
	assert_int_equal(k.ncomp, 3);
	assert_int_equal(k.kind, KVS_NAME_EXT);
	assert_true(k.name == disk_hash(".wal", 4));
	assert_true(k.parent == disk_hash("wal", 3));
	assert_true(k.grand == disk_hash("member", 6));
}

static void test_exact_globs(void **state)
{
	struct kvs_file_rule_key k;

	(void)state;
	assert_int_equal(disk_rule_from_glob("member/snap/db", 0, &k), 0);
	assert_int_equal(k.kind, KVS_NAME_EXACT);
	assert_true(k.name == disk_hash("db", 2));
	assert_int_equal(disk_rule_from_glob("appendonly.aof", 1, &k), 0);
	assert_int_equal(k.ncomp, 1);
	assert_true(k.parent == 0 && k.grand == 0);
	assert_int_equal(disk_rule_from_glob("snap/*.snap", 1, &k), 0);
	assert_int_equal(k.ncomp, 2);
	assert_true(k.grand == 0);
}

static void test_rejected_globs(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/",
	    "a//b",
	    "a/b/",
	    "a/b/c/d",
	    "*",
	    "*.",
	    "*.a.b",
	    "a*b",
	    "wal/*/x",
	    "member/w?l/x",
	    "[ab]/x",
	    "*.w*",
	    "/abs/x",
	    "a-name-that-is-longer-than-thirty-one-bytes",
	};
	struct kvs_file_rule_key k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (disk_rule_from_glob(bad[i], 0, &k) != -1)
			fail_msg("glob '%s' should be refused", bad[i]);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(disk__syscall_name(KVS_SC_FDATASYNC), "fdatasync");
	assert_string_equal(disk__syscall_name(KVS_SC_PWRITE64), "pwrite64");
	assert_string_equal(disk__syscall_name(KVS_SC_COUNT), "unknown");
	assert_string_equal(disk__class_name(NULL, 3), "other");
	assert_true(KVS_SC_IS_SYNC(KVS_SC_SYNC_FILE_RANGE) && !KVS_SC_IS_SYNC(KVS_SC_WRITE));
	assert_true(KVS_SC_IS_WRITE(KVS_SC_WRITEV) && !KVS_SC_IS_WRITE(KVS_SC_READ));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_is_fnv1a), cmocka_unit_test(test_wal_glob),
	    cmocka_unit_test(test_exact_globs),	  cmocka_unit_test(test_rejected_globs),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
