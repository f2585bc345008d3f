// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus text exposition format 0.0.4.
 *
 * Writers append to one growable buffer. An allocation failure latches the
 * failed flag and turns every later write into a no-op, so callers can emit
 * a whole exposition without checking each call and test once at the end.
 */
#include "metrics/expo.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPO_INITIAL_CAP 4096
/* Integral doubles below this magnitude convert to int64_t exactly. */
#define EXPO_EXACT_INT_LIMIT 9007199254740992.0 /* 2^53 */
#define EXPO_NUM_LEN	     40
/* Bytes of a label value at most: a path or a name, never a payload. */
#define EXPO_LABEL_VALUE_MAX 256

struct expo {
	char *buf;
	size_t len;
	size_t cap;
	int failed;
};

struct expo *expo__new(void)
{
	return calloc(1, sizeof(struct expo));
}

void expo__free(struct expo *e)
{
	if (!e)
		return;
	free(e->buf);
	free(e);
}

void expo__reset(struct expo *e)
{
	if (!e)
		return;
	e->len = 0;
	e->failed = 0;
	if (e->buf)
		e->buf[0] = '\0';
}

const char *expo__data(const struct expo *e, size_t *len)
{
	if (!e || !e->buf) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = e->len;
	return e->buf;
}

int expo__failed(const struct expo *e)
{
	return !e || e->failed;
}

/* Makes room for `extra` more bytes plus a terminating NUL. */
static int expo_reserve(struct expo *e, size_t extra)
{
	size_t need, cap;
	char *buf;

	if (e->failed)
		return -1;
	if (extra > SIZE_MAX - e->len - 1)
		goto fail;
	need = e->len + extra + 1;
	if (need <= e->cap)
		return 0;
	cap = e->cap ? e->cap : EXPO_INITIAL_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	buf = realloc(e->buf, cap);
	if (!buf)
		goto fail;
	e->buf = buf;
	e->cap = cap;
	return 0;
fail:
	e->failed = 1;
	return -1;
}

static void expo_put(struct expo *e, const char *s, size_t n)
{
	if (expo_reserve(e, n))
		return;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = '\0';
}

static void expo_puts(struct expo *e, const char *s)
{
	expo_put(e, s, strlen(s));
}

/*
 * Copies `s`, replacing backslash and newline (and the double quote when
 * `quote` is set) by their escape sequences.
 */
static void expo_put_escaped(struct expo *e, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		expo_put(e, run, (size_t)(s - run));
		expo_puts(e, esc);
		run = s + 1;
	}
	expo_put(e, run, (size_t)(s - run));
}

/* The shortest "%.*g" rendering that reads back as the same double. */
static void format_shortest(double v, char *out, size_t outlen)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static void format_double(double v, char *out, size_t outlen)
{
	if (isnan(v))
		snprintf(out, outlen, "NaN");
	else if (isinf(v))
		snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (v == 0)
		snprintf(out, outlen, "0"); /* also -0, which reads better as 0 */
	else if (v > -EXPO_EXACT_INT_LIMIT && v < EXPO_EXACT_INT_LIMIT && (double)(int64_t)v == v)
		snprintf(out, outlen, "%" PRId64, (int64_t)v);
	else
		format_shortest(v, out, outlen);
}

/*
 * Every label value passes here, whoever supplied it (a tenant's argv, a
 * binary's version string): one invalid UTF-8 byte would make Prometheus
 * reject the whole scrape, so values are made valid and capped here, once.
 */
static void expo_put_label(struct expo *e, const char *name, const char *value)
{
	char clean[EXPO_LABEL_VALUE_MAX + 1];
	size_t len;

	value = value ? value : "";
	len = strnlen(value, EXPO_LABEL_VALUE_MAX + 1);
	if (len > EXPO_LABEL_VALUE_MAX || !utf8_valid(value, len)) {
		utf8_clean(value, clean, sizeof(clean));
		value = clean;
	}
	expo_puts(e, name);
	expo_put(e, "=\"", 2);
	expo_put_escaped(e, value, 1);
	expo_put(e, "\"", 1);
}

/* `name{labels[,le="..."]} ` up to the value; `le` may be NULL. */
static void expo_put_series(struct expo *e, const char *name, const char *suffix,
			    const struct label *labels, size_t nlabels, const char *le)
{
	size_t i;

	expo_puts(e, name);
	expo_puts(e, suffix);
	if (nlabels || le) {
		expo_put(e, "{", 1);
		for (i = 0; i < nlabels; i++) {
			if (i)
				expo_put(e, ",", 1);
			expo_put_label(e, labels[i].name, labels[i].value);
		}
		if (le) {
			if (nlabels)
				expo_put(e, ",", 1);
			expo_put_label(e, "le", le);
		}
		expo_put(e, "}", 1);
	}
	expo_put(e, " ", 1);
}

void expo__family(struct expo *e, const char *name, const char *type, const char *help)
{
	if (!e)
		return;
	expo_puts(e, "# HELP ");
	expo_puts(e, name);
	expo_put(e, " ", 1);
	expo_put_escaped(e, help ? help : "", 0);
	expo_puts(e, "\n# TYPE ");
	expo_puts(e, name);
	expo_put(e, " ", 1);
	expo_puts(e, type);
	expo_put(e, "\n", 1);
}

static void expo_put_u64_line(struct expo *e, uint64_t value)
{
	char num[EXPO_NUM_LEN];

	snprintf(num, sizeof(num), "%" PRIu64 "\n", value);
	expo_puts(e, num);
}

static void expo_put_double_line(struct expo *e, double value)
{
	char num[EXPO_NUM_LEN];

	format_double(value, num, sizeof(num));
	expo_puts(e, num);
	expo_put(e, "\n", 1);
}

void expo__sample(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		  double value)
{
	if (!e)
		return;
	expo_put_series(e, name, "", labels, nlabels, NULL);
	expo_put_double_line(e, value);
}

void expo__sample_u64(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		      uint64_t value)
{
	if (!e)
		return;
	expo_put_series(e, name, "", labels, nlabels, NULL);
	expo_put_u64_line(e, value);
}

void expo__histogram(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		     const double *bounds, size_t nbounds, const uint64_t *counts, double sum)
{
	char le[EXPO_NUM_LEN];
	uint64_t cumulative = 0;
	size_t i;

	if (!e)
		return;
	for (i = 0; i < nbounds; i++) {
		cumulative += counts[i];
		format_double(bounds[i], le, sizeof(le));
		expo_put_series(e, name, "_bucket", labels, nlabels, le);
		expo_put_u64_line(e, cumulative);
	}
	cumulative += counts[nbounds];
	expo_put_series(e, name, "_bucket", labels, nlabels, "+Inf");
	expo_put_u64_line(e, cumulative);
	expo_put_series(e, name, "_sum", labels, nlabels, NULL);
	expo_put_double_line(e, sum);
	expo_put_series(e, name, "_count", labels, nlabels, NULL);
	expo_put_u64_line(e, cumulative);
}
