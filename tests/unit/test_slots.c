// SPDX-License-Identifier: Apache-2.0
/*
 * The target table: names that always leave room for "-PID" (two long
 * names once sent the old lookup into endless recursion), identities that
 * keep a foreign process out of a member's series, slots given back after
 * their process is gone, and the UTF-8 rules every name goes through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "discover/slots.h"

static const struct target_identity member = {.uid = 0, .exe = "/usr/bin/etcd", .cgroup = "/"};
static const struct target_identity tenant = {.uid = 1000, .exe = "/usr/bin/etcd", .cgroup = "/"};

static struct target_table *new_table(int max)
{
	struct target_table *t = malloc(sizeof(*t));

	assert_non_null(t);
	target_table__init(t, max);
	return t;
}

static void free_table(struct target_table *t)
{
	target_table__free(t);
	free(t);
}

/* Claims and occupies; returns the slot, or -1 with the claim's outcome in *why. */
static int join(struct target_table *t, const char *raw, const struct target_identity *id,
		pid_t pid, char *name, enum slot_claim *why)
{
	int slot = -1;
	enum slot_claim c = slots__claim(t, raw, id, pid, &slot, name);

	if (why)
		*why = c;
	if (c != CLAIM_NEW && c != CLAIM_RESUMED)
		return -1;
	assert_int_equal(slots__occupy(t, slot, name, id, pid, (uint64_t)pid * 10), 0);
	return slot;
}

static void test_long_names_leave_room_for_pid(void **state)
{
	struct target_table *t = new_table(0);
	char longname[200], name[TARGET_NAME_LEN];

	(void)state;
	memset(longname, 'm', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	int a = join(t, longname, &member, 1001, name, NULL);

	assert_int_equal(strlen(name), TARGET_NAME_LEN - 1);
	int b = join(t, longname, &member, 1002, name, NULL);

	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(strlen(name), TARGET_NAME_LEN - 1);
	assert_string_equal(name + strlen(name) - 5, "-1002");
	/* the largest pid still fits */
	slots__suffixed(longname, 0x3fffffff, name);
	assert_int_equal(strlen(name), TARGET_NAME_LEN - 1);
	assert_string_equal(name + strlen(name) - 11, "-1073741823");
	free_table(t);
}

static void test_third_claimant_of_a_held_suffix_is_refused(void **state)
{
	struct target_table *t = new_table(0);
	char name[TARGET_NAME_LEN];
	enum slot_claim why;

	(void)state;
	assert_true(join(t, "x", &member, 7, name, NULL) >= 0);
	/* someone asks for "x-8" outright, then pid 8 asks for "x" */
	assert_true(join(t, "x-8", &tenant, 9, name, NULL) >= 0);
	assert_int_equal(join(t, "x", &tenant, 8, name, &why), -1);
	assert_int_equal(why, CLAIM_NAME_TAKEN);
	free_table(t);
}

static void test_suffix_cuts_on_a_character(void **state)
{
	char raw[TARGET_NAME_LEN * 2] = "", name[TARGET_NAME_LEN];

	(void)state;
	while (strlen(raw) + 3 < sizeof(raw))
		strcat(raw, "\xe2\x82\xac"); /* the euro sign, 3 bytes */
	slots__name(raw, name);
	assert_true(utf8_valid(name, strlen(name)));
	assert_int_equal(strlen(name) % 3, 0);
	slots__suffixed(name, 123456, name);
	assert_true(utf8_valid(name, strlen(name)));
	assert_string_equal(name + strlen(name) - 7, "-123456");
	assert_true(strlen(name) < TARGET_NAME_LEN);
}

static void test_invalid_utf8_names_are_cleaned(void **state)
{
	struct target_table *t = new_table(0);
	char name[TARGET_NAME_LEN], other[TARGET_NAME_LEN];

	(void)state;
	assert_true(join(t, "bad\xffname", &member, 10, name, NULL) >= 0);
	assert_string_equal(name, "bad\xef\xbf\xbdname");
	/* a valid name that prints the same is the same name, so it cannot
	 * pose as the first: it gets its own */
	assert_true(join(t, "bad\xef\xbf\xbdname", &tenant, 11, other, NULL) >= 0);
	assert_string_equal(other, "bad\xef\xbf\xbdname-11");
	free_table(t);
}

static void test_member_resumes_foreigner_does_not(void **state)
{
	struct target_table *t = new_table(0);
	char name[TARGET_NAME_LEN];
	enum slot_claim why;

	(void)state;
	int m = join(t, "etcd-0", &member, 100, name, NULL);

	slots__gone(t, m, 50.0);
	/* a tenant's etcd under the member's name while it is down */
	int f = join(t, "etcd-0", &tenant, 200, name, &why);

	assert_int_equal(why, CLAIM_NEW);
	assert_true(f != m);
	assert_string_equal(name, "etcd-0-200");
	/* same owner, another binary or another pod: not the member either */
	struct target_identity copy = member, pod = member;

	copy.exe = "/tmp/etcd";
	pod.cgroup = "/kubepods/burstable/pod-other";
	assert_int_equal(slots__claim(t, "etcd-0", &copy, 300, &f, name), CLAIM_NEW);
	assert_string_equal(name, "etcd-0-300");
	assert_int_equal(slots__claim(t, "etcd-0", &pod, 300, &f, name), CLAIM_NEW);
	/* the member itself comes back to its slot and name */
	assert_int_equal(join(t, "etcd-0", &member, 400, name, &why), m);
	assert_int_equal(why, CLAIM_RESUMED);
	assert_string_equal(name, "etcd-0");
	assert_true(t->slots[m].alive);
	assert_int_equal(t->slots[m].pid, 400);
	free_table(t);
}

static void test_full_table_then_reclaim(void **state)
{
	struct target_table *t = new_table(2);
	char name[TARGET_NAME_LEN];
	enum slot_claim why;

	(void)state;
	int a = join(t, "redis-server-1", &member, 1, name, NULL);
	int b = join(t, "redis-server-2", &member, 2, name, NULL);

	assert_int_equal(join(t, "redis-server-3", &member, 3, name, &why), -1);
	assert_int_equal(why, CLAIM_FULL);
	slots__gone(t, a, 100.0);
	slots__gone(t, b, 130.0);
	assert_int_equal(slots__used(t), 2);
	assert_int_equal(slots__expired(t, 159.0, 60), -1);
	assert_int_equal(slots__expired(t, 160.0, 60), a);
	slots__release(t, a);
	assert_int_equal(slots__expired(t, 160.0, 60), -1);
	assert_int_equal(slots__used(t), 1);
	assert_int_equal(join(t, "redis-server-3", &member, 3, name, &why), a);
	assert_int_equal(why, CLAIM_NEW);
	/* a live target is never expired, however old */
	assert_int_equal(slots__expired(t, 1e9, 60), b);
	slots__release(t, b);
	assert_int_equal(slots__expired(t, 1e9, 60), -1);
	free_table(t);
}

static void test_find_alive(void **state)
{
	struct target_table *t = new_table(0);
	char name[TARGET_NAME_LEN];

	(void)state;
	int a = join(t, "a", &member, 42, name, NULL);

	assert_int_equal(slots__find_alive(t, 42), a);
	assert_int_equal(slots__find_alive(t, 43), -1);
	slots__gone(t, a, 1.0);
	assert_int_equal(slots__find_alive(t, 42), -1);
	assert_false(t->slots[a].attached);
	free_table(t);
}

static void test_every_slot_usable(void **state)
{
	struct target_table *t = new_table(0);
	char name[TARGET_NAME_LEN], raw[32];

	(void)state;
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		snprintf(raw, sizeof(raw), "t%d", i);
		assert_true(join(t, raw, &member, 1000 + i, name, NULL) >= 0);
	}
	enum slot_claim why;

	assert_int_equal(join(t, "one-more", &member, 5, name, &why), -1);
	assert_int_equal(why, CLAIM_FULL);
	/* the same name many times over: each gets a suffix, none loops */
	target_table__free(t);
	target_table__init(t, 0);
	assert_true(join(t, "same", &member, 1, name, NULL) >= 0);
	for (int i = 2; i < 40; i++) {
		assert_true(join(t, "same", &member, i, name, &why) >= 0);
		assert_int_equal(why, CLAIM_NEW);
	}
	free_table(t);
}

static void test_utf8_rules(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "plain"},
	    {"", ""},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"\xff", "\xef\xbf\xbd"},
	    {"a\xff\xfe\xfd"
	     "b",
	     "a\xef\xbf\xbd"
	     "b"},				      /* one replacement per run */
	    {"\xc0\xaf", "\xef\xbf\xbd"},	      /* overlong '/' */
	    {"\xe0\x80\xaf", "\xef\xbf\xbd"},	      /* overlong */
	    {"\xed\xa0\x80", "\xef\xbf\xbd"},	      /* a surrogate */
	    {"\xf4\x90\x80\x80", "\xef\xbf\xbd"},     /* past U+10FFFF */
	    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, /* U+1F600 */
	    {"x\xe2\x82", "x\xef\xbf\xbd"},	      /* cut character at the end */
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		utf8_clean(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\"", i, out);
		assert_true(utf8_valid(out, strlen(out)));
		assert_int_equal(utf8_valid(cases[i].in, strlen(cases[i].in)),
				 strcmp(cases[i].in, cases[i].want) == 0);
	}
	/* a replacement that does not fit is left out, not cut */
	utf8_clean("ab\xff", out, 5);
	assert_string_equal(out, "ab");
	utf8_clean("\xe2\x82\xac\xe2\x82\xac", out, 5);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), 3);
	assert_int_equal(utf8_prefix("abc", 10), 3);
	assert_int_equal(utf8_prefix("abc", 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_names_leave_room_for_pid),
	    cmocka_unit_test(test_third_claimant_of_a_held_suffix_is_refused),
	    cmocka_unit_test(test_suffix_cuts_on_a_character),
	    cmocka_unit_test(test_invalid_utf8_names_are_cleaned),
	    cmocka_unit_test(test_member_resumes_foreigner_does_not),
	    cmocka_unit_test(test_full_table_then_reclaim),
	    cmocka_unit_test(test_find_alive),
	    cmocka_unit_test(test_every_slot_usable),
	    cmocka_unit_test(test_utf8_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
