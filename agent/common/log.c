// SPDX-License-Identifier: Apache-2.0
/*
 * Structured one-line logs on stderr, logfmt or JSON, in the manner of the
 * Prometheus exporters (time, level, msg, then key/value pairs).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_LOGFMT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "logfmt") == 0)
		*out = LOG_LOGFMT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

void log_setup(enum log_level level, enum log_format format)
{
	min_level = level;
	out_format = format;
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++) {
		if (*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' || (unsigned char)*s >= 0x7f)
			return true;
	}
	return false;
}

/* Length of the UTF-8 sequence at s, or 0 when it is not valid UTF-8. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

static bool valid_utf8(const char *s)
{
	for (const unsigned char *p = (const void *)s; *p;) {
		int n = *p < 0x80 ? 1 : utf8_len(p);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

/* Escapes for both JSON and logfmt quoted strings. */
static void put_quoted(FILE *f, const char *s)
{
	/* JSON must be UTF-8: bytes of a value that is not get escaped one by one */
	bool raw_high = out_format != LOG_JSON || valid_utf8(s);

	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || (c >= 0x80 && !raw_high))
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void put_pair(FILE *f, const char *key, const char *val, bool first)
{
	if (out_format == LOG_JSON) {
		fputs(first ? "{" : ",", f);
		put_quoted(f, key);
		fputc(':', f);
		put_quoted(f, val);
		return;
	}
	fprintf(f, first ? "%s=" : " %s=", key);
	if (needs_quotes(val))
		put_quoted(f, val);
	else
		fputs(val, f);
}

static void format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_msg(enum log_level level, const char *msg, ...)
{
	char ts[40];
	va_list ap;

	if (level < min_level)
		return;
	format_time(ts, sizeof(ts));
	pthread_mutex_lock(&log_lock);
	put_pair(stderr, "ts", ts, true);
	put_pair(stderr, "level", level_names[level], false);
	put_pair(stderr, "msg", msg, false);
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);

		if (!key)
			break;
		const char *val = va_arg(ap, const char *);

		put_pair(stderr, key, val ? val : "", false);
	}
	va_end(ap);
	fputs(out_format == LOG_JSON ? "}\n" : "\n", stderr);
	pthread_mutex_unlock(&log_lock);
}
