// SPDX-License-Identifier: Apache-2.0
/* The syscall-hook choice for every combination of kernel features. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "probes/hooks.h"

enum { F_BTF = 1, F_FENTRY = 2, F_KPROBE = 4, F_TP = 8, F_RAW = 16, F_ALL = 32 };

static struct kernel_features features_of(unsigned bits)
{
	struct kernel_features f;

	memset(&f, 0, sizeof(f));
	f.btf = bits & F_BTF;
	f.fentry = bits & F_FENTRY;
	f.kprobe = bits & F_KPROBE;
	f.syscall_tp = bits & F_TP;
	f.raw_tp = bits & F_RAW;
	return f;
}

/* The rule, written out independently of hooks.c's order of tests. */
static enum syscall_hook expected(unsigned bits)
{
	if ((bits & F_BTF) && (bits & F_FENTRY))
		return HOOK_FENTRY;
	if (bits & F_KPROBE)
		return HOOK_KSYSCALL;
	if (bits & F_TP)
		return HOOK_TRACEPOINT;
	if (bits & F_RAW)
		return HOOK_RAW_TP;
	return HOOK_NONE;
}

static void test_every_combination(void **state)
{
	(void)state;
	for (unsigned bits = 0; bits < F_ALL; bits++) {
		struct kernel_features f = features_of(bits);

		assert_int_equal(hooks__choose(&f), expected(bits));
	}
}

static void test_this_machine_kind(void **state)
{
	/* BTF and tracepoints, no kprobes, fentry refused */
	struct kernel_features f = features_of(F_BTF | F_TP | F_RAW);

	(void)state;
	assert_int_equal(hooks__choose(&f), HOOK_TRACEPOINT);
	/* Debian's stock kernel: everything */
	f = features_of(F_ALL - 1);
	assert_int_equal(hooks__choose(&f), HOOK_FENTRY);
	/* fentry without BTF cannot be attached */
	f = features_of(F_FENTRY | F_KPROBE);
	assert_int_equal(hooks__choose(&f), HOOK_KSYSCALL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hooks__name(HOOK_FENTRY), "fentry");
	assert_string_equal(hooks__name(HOOK_KSYSCALL), "ksyscall");
	assert_string_equal(hooks__name(HOOK_TRACEPOINT), "tracepoint");
	assert_string_equal(hooks__name(HOOK_RAW_TP), "raw_tracepoint");
	assert_string_equal(hooks__name(HOOK_NONE), "none");
	assert_string_equal(hooks__name((enum syscall_hook)99), "unknown");
}

static void test_blockers(void **state)
{
	struct kernel_features f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_non_null(strstr(hooks__blocker(&f), "BTF"));
	f.btf = true;
	assert_non_null(strstr(hooks__blocker(&f), "uprobe"));
	f.uprobe = true;
	assert_non_null(strstr(hooks__blocker(&f), "5.15"));
	f.attach_cookie = true;
	assert_null(hooks__blocker(&f));
	/* no syscall hook at all still runs: only disk metrics are off */
	assert_int_equal(hooks__choose(&f), HOOK_NONE);
}

static void test_probe_reads_this_kernel(void **state)
{
	struct kernel_features f;

	(void)state;
	hooks__probe(&f);
	assert_true(f.release[0] != '\0');
	/* every kernel kvscope targets has these; the others vary */
	assert_true(f.btf && f.uprobe && f.raw_tp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_combination),
	    cmocka_unit_test(test_this_machine_kind),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_blockers),
	    cmocka_unit_test(test_probe_reads_this_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
