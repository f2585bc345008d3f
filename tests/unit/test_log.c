// SPDX-License-Identifier: Apache-2.0
/*
 * Structured logs: level and format names, the logfmt and JSON lines on
 * stderr (captured into a file), quoting, and level filtering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static void test_parse_level(void **state)
{
	static const struct {
		const char *text;
		int rc;
		enum log_level level;
	} cases[] = {
	    {"debug", 0, LOG_DEBUG}, {"info", 0, LOG_INFO},	{"warn", 0, LOG_WARN},
	    {"error", 0, LOG_ERROR}, {"loud", -1, LOG_INFO},	{"", -1, LOG_INFO},
	    {"INFO", -1, LOG_INFO},  {"warning", -1, LOG_INFO}, {"info ", -1, LOG_INFO},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level level = (enum log_level)99;
		int rc = log_parse_level(cases[i].text, &level);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d", cases[i].text, rc);
		if (rc == 0)
			assert_int_equal(level, cases[i].level);
		else
			assert_int_equal(level, 99);
	}
}

static void test_parse_format(void **state)
{
	static const struct {
		const char *text;
		int rc;
		enum log_format format;
	} cases[] = {
	    {"logfmt", 0, LOG_LOGFMT}, {"json", 0, LOG_JSON}, {"JSON", -1, 0},
	    {"text", -1, 0},	       {"", -1, 0},	      {"jsonl", -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_format format = (enum log_format)99;
		int rc = log_parse_format(cases[i].text, &format);

		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d", cases[i].text, rc);
		if (rc == 0)
			assert_int_equal(format, cases[i].format);
		else
			assert_int_equal(format, 99);
	}
}

/* stderr redirected into a temporary file while a test logs. */
struct capture {
	char path[64];
	int saved_fd;
	int fd;
};

static int capture_setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->path, sizeof(c->path), "/tmp/kvscope-log-XXXXXX");
	c->fd = mkstemp(c->path);
	if (c->fd < 0)
		return -1;
	fflush(stderr);
	c->saved_fd = dup(STDERR_FILENO);
	if (c->saved_fd < 0 || dup2(c->fd, STDERR_FILENO) < 0)
		return -1;
	*state = c;
	return 0;
}

static void capture_restore(struct capture *c)
{
	if (c->saved_fd < 0)
		return;
	fflush(stderr);
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	c->saved_fd = -1;
}

static int capture_teardown(void **state)
{
	struct capture *c = *state;

	capture_restore(c);
	close(c->fd);
	unlink(c->path);
	free(c);
	log_setup(LOG_INFO, LOG_LOGFMT);
	return 0;
}

/* Everything logged so far; the caller frees it. */
static char *captured(struct capture *c)
{
	char *text;
	long len;
	FILE *f;

	capture_restore(c);
	f = fopen(c->path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, text, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match %s", text, pattern);
	regfree(&re);
}

/* The line without its "ts=..." or "{"ts":"...", checked separately. */
static const char *after_ts(const char *line, const char *ts_pattern)
{
	const char *rest = strstr(line, "Z");

	assert_matches(line, ts_pattern);
	assert_non_null(rest);
	return rest + 1;
}

#define LOGFMT_TS "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
#define JSON_TS	  "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","

static void log_awkward_values(void)
{
	log_msg(LOG_WARN, "odd values", "plain", "abc", "space", "a b", "quote", "say \"hi\"",
		"newline", "one\ntwo", "empty", "", "equals", "k=v", "backslash", "a\\b", "tab",
		"x\ty", "null", (const char *)NULL, NULL);
}

static void test_logfmt_line(void **state)
{
	struct capture *c = *state;
	char *text;

	log_setup(LOG_INFO, LOG_LOGFMT);
	log_msg(LOG_INFO, "binary resolved", "path", "/usr/bin/etcd", "version", "3.4.23", NULL);
	log_awkward_values();
	text = captured(c);
	char *second = strchr(text, '\n');

	assert_non_null(second);
	*second++ = '\0';
	assert_string_equal(
	    after_ts(text, LOGFMT_TS),
	    " level=info msg=\"binary resolved\" path=/usr/bin/etcd version=3.4.23");
	assert_string_equal(after_ts(second, LOGFMT_TS),
			    " level=warn msg=\"odd values\" plain=abc space=\"a b\" "
			    "quote=\"say \\\"hi\\\"\" newline=\"one\\ntwo\" empty=\"\" "
			    "equals=\"k=v\" backslash=\"a\\\\b\" tab=\"x\\u0009y\" null=\"\"\n");
	free(text);
}

static void test_json_line(void **state)
{
	struct capture *c = *state;
	char *text;

	log_setup(LOG_DEBUG, LOG_JSON);
	log_msg(LOG_DEBUG, "scan", "pids", "3", NULL);
	log_awkward_values();
	text = captured(c);
	char *second = strchr(text, '\n');

	assert_non_null(second);
	*second++ = '\0';
	assert_string_equal(after_ts(text, JSON_TS), "\",\"level\":\"debug\",\"msg\":\"scan\","
						     "\"pids\":\"3\"}");
	assert_string_equal(after_ts(second, JSON_TS),
			    "\",\"level\":\"warn\",\"msg\":\"odd values\",\"plain\":\"abc\","
			    "\"space\":\"a b\",\"quote\":\"say \\\"hi\\\"\","
			    "\"newline\":\"one\\ntwo\",\"empty\":\"\",\"equals\":\"k=v\","
			    "\"backslash\":\"a\\\\b\",\"tab\":\"x\\u0009y\",\"null\":\"\"}\n");
	free(text);
}

/* Every JSON line parses as an object with the values given, per a real parser. */
static void test_json_parses(void **state)
{
	struct capture *c = *state;
	char cmd[512];
	char *text;

	if (system("python3 -c 'import json' >/dev/null 2>&1") != 0) {
		print_message("skipped: no python3 to check the JSON with\n");
		skip();
	}
	log_setup(LOG_INFO, LOG_JSON);
	log_awkward_values();
	log_msg(LOG_ERROR, "ctl \x01\x1f", "utf8", "caf\xc3\xa9", NULL);
	text = captured(c);
	free(text);
	snprintf(
	    cmd, sizeof(cmd),
	    "python3 -c 'import json,sys\n"
	    "l=[json.loads(x) for x in sys.stdin]\n"
	    "assert len(l)==2\n"
	    "a,b=l\n"
	    "assert a[\"quote\"]==\"say \\\"hi\\\"\" and a[\"newline\"]==\"one\\ntwo\"\n"
	    "assert a[\"backslash\"]==\"a\\\\b\" and a[\"tab\"]==\"x\\ty\" and a[\"null\"]==\"\"\n"
	    "assert b[\"msg\"]==\"ctl \\x01\\x1f\" and b[\"utf8\"]==\"caf\\u00e9\"\n"
	    "assert b[\"level\"]==\"error\"' < %s",
	    c->path);
	assert_int_equal(system(cmd), 0);
}

static void test_level_filter(void **state)
{
	struct capture *c = *state;
	char *text;

	log_setup(LOG_WARN, LOG_LOGFMT);
	log_msg(LOG_DEBUG, "dropped-debug", NULL);
	log_msg(LOG_INFO, "dropped-info", NULL);
	log_msg(LOG_WARN, "kept-warn", NULL);
	log_msg(LOG_ERROR, "kept-error", NULL);
	text = captured(c);
	assert_null(strstr(text, "dropped"));
	assert_non_null(strstr(text, " level=warn msg=kept-warn\n"));
	assert_non_null(strstr(text, " level=error msg=kept-error\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_level),
	    cmocka_unit_test(test_parse_format),
	    cmocka_unit_test_setup_teardown(test_logfmt_line, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_json_line, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_json_parses, capture_setup, capture_teardown),
	    cmocka_unit_test_setup_teardown(test_level_filter, capture_setup, capture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
