// SPDX-License-Identifier: Apache-2.0
/*
 * A walk over a POSIX extended regular expression that adds up what glibc's
 * regcomp will build from it, before regcomp runs. The grammar:
 *
 *   alt   := concat ('|' concat)*
 *   piece := atom [quantifier]        (a second quantifier is refused)
 *   atom  := '(' alt ')' | '[' bracket ']' | '\' char | any other byte
 *
 * Sizes saturate just past the limit, so no count can overflow. Recursion
 * only follows groups, which are bounded by PATTERN_MAX_DEPTH.
 */
#include "profile/pattern.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NODES_CAP (PATTERN_MAX_NODES + 1)

struct scan {
	const char *start;
	const char *p; /* the next byte */
	int depth;
	char *why;
	size_t whylen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct scan *s, const char *fmt, ...)
{
	char reason[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(s->why, s->whylen, "%s (at offset %d)", reason, (int)(s->p - s->start));
	return -1;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
	return a + b > NODES_CAP ? NODES_CAP : a + b;
}

static uint32_t sat_mul(uint32_t a, uint32_t k)
{
	uint64_t v = (uint64_t)a * k;

	return v > NODES_CAP ? NODES_CAP : (uint32_t)v;
}

static bool is_quantifier(char c)
{
	return c == '*' || c == '+' || c == '?' || c == '{';
}

static int parse_alt(struct scan *s, uint32_t *size);

/* `[...]`: one node whatever it lists; classes like [:digit:] end at their own ']'. */
static int parse_bracket(struct scan *s)
{
	s->p++;
	if (*s->p == '^')
		s->p++;
	if (*s->p == ']')
		s->p++; /* a leading ']' is a member */
	for (;;) {
		if (!*s->p)
			return fail(s, "unterminated bracket expression");
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		if (*s->p == '[' && s->p[1] && strchr(".:=", s->p[1])) {
			char close[3] = {s->p[1], ']', '\0'};
			const char *end = strstr(s->p + 2, close);

			if (!end)
				return fail(s, "unterminated [%c in a bracket expression", s->p[1]);
			s->p = end + 2;
			continue;
		}
		s->p++;
	}
}

static int parse_atom(struct scan *s, uint32_t *size)
{
	uint32_t inner;

	*size = 1;
	switch (*s->p) {
	case '(':
		if (++s->depth > PATTERN_MAX_DEPTH)
			return fail(s, "groups nested more than %d deep", PATTERN_MAX_DEPTH);
		s->p++;
		if (parse_alt(s, &inner))
			return -1;
		if (*s->p != ')')
			return fail(s, "unmatched '('");
		s->p++;
		s->depth--;
		*size = sat_add(inner, 1);
		return 0;
	case '[':
		return parse_bracket(s);
	case '\\':
		if (!s->p[1])
			return fail(s, "trailing backslash");
		if (s->p[1] >= '1' && s->p[1] <= '9')
			return fail(s, "back-reference \\%c (matching would take exponential time)",
				    s->p[1]);
		s->p += 2;
		return 0;
	case ')':
		return fail(s, "unmatched ')'");
	default:
		if (is_quantifier(*s->p))
			return fail(s, "quantifier '%c' with nothing to repeat", *s->p);
		s->p++;
		return 0;
	}
}

/* Up to two decimal digits of a {m,n} bound; more is over the limit anyway. */
static int parse_count(struct scan *s, int *out)
{
	int n = 0, digits = 0;

	while (*s->p >= '0' && *s->p <= '9') {
		if (++digits > 2 || (n = n * 10 + (*s->p - '0')) > PATTERN_MAX_REPEAT)
			return fail(s, "repetition count over %d", PATTERN_MAX_REPEAT);
		s->p++;
	}
	*out = digits ? n : -1;
	return 0;
}

/* `{m}`, `{m,}`, `{,n}`, `{m,n}`: how many copies regcomp makes of the atom. */
static int parse_interval(struct scan *s, uint32_t *copies)
{
	int m, n;

	s->p++;
	if (parse_count(s, &m))
		return -1;
	n = m;
	if (*s->p == ',') {
		s->p++;
		if (parse_count(s, &n))
			return -1;
		if (n < 0 && m >= 0) /* {m,}: m copies and a star */
			n = m + 1;
	}
	if (*s->p != '}' || n < 0)
		return fail(s, "malformed repetition {...}");
	s->p++;
	if (m > n && n >= 0)
		return fail(s, "repetition {%d,%d} has its bounds reversed", m, n);
	*copies = (uint32_t)(n > 1 ? n : 1);
	return 0;
}

static int parse_piece(struct scan *s, uint32_t *size)
{
	const char *quant;
	uint32_t atom, copies = 1;

	if (parse_atom(s, &atom))
		return -1;
	*size = atom;
	if (!is_quantifier(*s->p))
		return 0;
	quant = s->p;
	if (*s->p == '{') {
		if (parse_interval(s, &copies))
			return -1;
	} else {
		copies = *s->p == '+' ? 2 : 1; /* regcomp writes X+ as X X* */
		s->p++;
	}
	if (is_quantifier(*s->p))
		return fail(s, "stacked quantifiers '%.*s%c' (write one quantifier per atom)",
			    (int)(s->p - quant), quant, *s->p);
	*size = sat_add(sat_mul(atom, copies), copies);
	return 0;
}

static int parse_alt(struct scan *s, uint32_t *size)
{
	uint32_t piece;

	*size = 0;
	for (;;) {
		while (*s->p && *s->p != '|' && *s->p != ')') {
			if (parse_piece(s, &piece))
				return -1;
			*size = sat_add(*size, piece);
		}
		if (*s->p != '|')
			return 0;
		s->p++;
		*size = sat_add(*size, 1);
	}
}

int pattern__check(const char *re, char *why, size_t whylen)
{
	struct scan s = {.start = re, .p = re, .why = why, .whylen = whylen};
	uint32_t size;

	if (strnlen(re, PATTERN_MAX_LEN + 1) > PATTERN_MAX_LEN)
		return fail(&s, "pattern longer than %d bytes", PATTERN_MAX_LEN);
	if (parse_alt(&s, &size))
		return -1;
	if (*s.p == ')')
		return fail(&s, "unmatched ')'");
	if (size > PATTERN_MAX_NODES)
		return fail(&s, "pattern grows past %d nodes once its repetitions are copied out",
			    PATTERN_MAX_NODES);
	return 0;
}
