// SPDX-License-Identifier: Apache-2.0
/*
 * Bounds on profile patterns: every pattern the shipped profiles use passes,
 * and each way of making regcomp build an exponential program is refused
 * with its reason, before regcomp runs.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "profile/pattern.h"

static const char *const accepted[] = {
    "^3\\.4\\.[0-9]+$",
    "^3\\.[0-9]+\\.[0-9]+$",
    "^7\\.0\\.[0-9]+$",
    "^v?[0-9]",
    "[]a]",
    "[^]a-z]+",
    "[[:digit:].]{1,3}",
    "[[.-.]]x",
    "(a|b|)c",
    "()",
    "a{,4}b{2}c{3,}d{0,32}",
    "\\(\\)\\+",
    "(a+)+", /* nested, but each level a copy: 7 nodes */
    "^((((((((x))))))))$",
};

struct refused {
	const char *pattern;
	const char *reason;
};

static const struct refused refused[] = {
    {"Ra+++++++++++++++++++++++++mit", "stacked quantifiers '++'"},
    {"a*?", "stacked quantifiers '*?'"},
    {"a{2}{3}", "stacked quantifiers '{2}{'"},
    {"(((((((((x)))))))))", "groups nested more than 8 deep"},
    {"a{33}", "repetition count over 32"},
    {"a{1,1000}", "repetition count over 32"},
    {"a{3,2}", "bounds reversed"},
    {"a{", "malformed repetition"},
    {"a{,}", "malformed repetition"},
    {"a{x}", "malformed repetition"},
    {"(a)\\1", "back-reference \\1"},
    {"+a", "quantifier '+' with nothing to repeat"},
    {"(*a)", "quantifier '*' with nothing to repeat"},
    {"a|{2}", "quantifier '{' with nothing to repeat"},
    {"(ab", "unmatched '('"},
    {"ab)", "unmatched ')'"},
    {"[a-z", "unterminated bracket expression"},
    {"[[:alpha]", "unterminated [: in a bracket expression"},
    {"abc\\", "trailing backslash"},
    /* each level copies the one inside it 32 times */
    {"((a{32}){32})", "grows past 1024 nodes"},
    {"(((((((a+)+)+)+)+)+)+)+(((((((b+)+)+)+)+)+)+)+", "grows past 1024 nodes"},
};

static void test_shipped_and_ordinary_patterns_pass(void **state)
{
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		regex_t re;

		if (pattern__check(accepted[i], why, sizeof(why)))
			fail_msg("\"%s\" refused: %s", accepted[i], why);
		/* and what passes is a pattern regcomp takes */
		assert_int_equal(regcomp(&re, accepted[i], REG_EXTENDED | REG_NOSUB), 0);
		regfree(&re);
	}
}

static void test_costly_patterns_are_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char why[256] = "";

		if (pattern__check(refused[i].pattern, why, sizeof(why)) != -1)
			fail_msg("\"%s\" accepted", refused[i].pattern);
		if (!strstr(why, refused[i].reason) || strchr(why, '\n'))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", refused[i].pattern, why,
				 refused[i].reason);
	}
}

static void test_length_is_bounded(void **state)
{
	char re[PATTERN_MAX_LEN + 2], why[256];

	(void)state;
	memset(re, 'a', sizeof(re) - 1);
	re[sizeof(re) - 1] = '\0';
	assert_int_equal(pattern__check(re, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "longer than 256 bytes"));
	re[PATTERN_MAX_LEN] = '\0';
	assert_int_equal(pattern__check(re, why, sizeof(why)), 0);
}

/* The largest program the bounds allow compiles at once. */
static void test_worst_accepted_pattern_compiles(void **state)
{
	/* 31 copies of a 31-node group: just under the node bound */
	const char *re = "([a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9]"
			 "[a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9]"
			 "[a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9]){1,31}";
	char why[256];
	regex_t re_c;

	(void)state;
	if (pattern__check(re, why, sizeof(why)))
		fail_msg("refused: %s", why);
	assert_int_equal(regcomp(&re_c, re, REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re_c, "a1b2c3d4e5f6g7h8i9j0a1b2c3d4e5", 0, NULL, 0), 0);
	regfree(&re_c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_and_ordinary_patterns_pass),
	    cmocka_unit_test(test_costly_patterns_are_refused),
	    cmocka_unit_test(test_length_is_bounded),
	    cmocka_unit_test(test_worst_accepted_pattern_compiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
