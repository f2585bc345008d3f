/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounds on the POSIX extended regular expressions a profile may hold.
 * glibc's regcomp copies a subexpression for each `+` and each `{m,n}`, so
 * stacked or nested repetitions grow the compiled pattern exponentially
 * ('a+++...' asks for gigabytes). A pattern is checked against these
 * bounds before regcomp ever sees it, and refused with a one-line reason.
 */
#ifndef KVSCOPE_PATTERN_H
#define KVSCOPE_PATTERN_H

#include <stddef.h>

#define PATTERN_MAX_LEN	   256	/* bytes of pattern text */
#define PATTERN_MAX_DEPTH  8	/* nested groups */
#define PATTERN_MAX_REPEAT 32	/* m and n of {m,n} */
#define PATTERN_MAX_NODES  1024 /* the pattern once repetitions are copied out */

/*
 * 0 when `re` stays within the bounds above and uses no back-reference
 * (which makes matching exponential); else -1 and why in `why`.
 */
int pattern__check(const char *re, char *why, size_t whylen);

#endif
