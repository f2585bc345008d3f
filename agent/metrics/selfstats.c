// SPDX-License-Identifier: Apache-2.0
/*
 * Process metrics of the agent itself, from procfs. Parsing is kept apart
 * from reading so the parsers can be tested on fixture text, and so that
 * selfstats__write can be pointed at a fake proc root.
 */
#include "metrics/selfstats.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* procfs files report size 0; read until EOF, but never more than this. */
#define PROC_FILE_MAX (4u << 20)

/* Field numbers of /proc/<pid>/stat, counted as in proc(5). */
#define STAT_FIELD_STATE     3
#define STAT_FIELD_UTIME     14
#define STAT_FIELD_STIME     15
#define STAT_FIELD_STARTTIME 22
#define STAT_FIELD_VSIZE     23
#define STAT_FIELD_RSS	     24

static int is_field_end(char c)
{
	return c == '\0' || isspace((unsigned char)c);
}

/* A decimal unsigned number ending at a blank or the end of the text. */
static int parse_u64_token(const char *s, const char **end, uint64_t *out)
{
	unsigned long long v;
	char *stop;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &stop, 10);
	if (errno == ERANGE || !is_field_end(*stop))
		return -1;
	*out = v;
	if (end)
		*end = stop;
	return 0;
}

static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static uint64_t *stat_field_slot(struct proc_stat *st, int field)
{
	switch (field) {
	case STAT_FIELD_UTIME:
		return &st->utime_ticks;
	case STAT_FIELD_STIME:
		return &st->stime_ticks;
	case STAT_FIELD_STARTTIME:
		return &st->starttime_ticks;
	case STAT_FIELD_VSIZE:
		return &st->vsize_bytes;
	case STAT_FIELD_RSS:
		return &st->rss_pages;
	default:
		return NULL;
	}
}

int selfstats_parse_stat(const char *buf, struct proc_stat *out)
{
	/* comm may hold anything, parentheses included: it ends at the last ')'. */
	const char *open = strchr(buf, '(');
	const char *p = strrchr(buf, ')');
	struct proc_stat st = {0};
	int field;

	if (!open || !p || p < open)
		return -1;
	p++;
	for (field = STAT_FIELD_STATE; field <= STAT_FIELD_RSS; field++) {
		uint64_t *slot = stat_field_slot(&st, field);

		if (!isspace((unsigned char)*p))
			return -1;
		p = skip_blanks(p);
		if (is_field_end(*p))
			return -1;
		if (slot) {
			if (parse_u64_token(p, &p, slot))
				return -1;
			continue;
		}
		while (!is_field_end(*p))
			p++;
	}
	*out = st;
	return 0;
}

/* The rest of the line that starts with `key` at a line start, or NULL. */
static const char *find_line(const char *buf, const char *key)
{
	size_t keylen = strlen(key);
	const char *line = buf;

	while (line && *line) {
		if (strncmp(line, key, keylen) == 0)
			return line + keylen;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

int selfstats_parse_btime(const char *buf, uint64_t *out)
{
	const char *rest = find_line(buf, "btime ");

	if (!rest)
		return -1;
	return parse_u64_token(skip_blanks(rest), NULL, out);
}

int selfstats_parse_max_fds(const char *buf, uint64_t *out)
{
	const char *rest = find_line(buf, "Max open files ");

	/* "unlimited" has no number to report, so it fails like garbage. */
	if (!rest)
		return -1;
	return parse_u64_token(skip_blanks(rest), NULL, out);
}

/* The whole file as a NUL-terminated string, or NULL. */
static char *read_text_file(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *grown;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0)
		goto err_free;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= PROC_FILE_MAX)
				goto err_free;
			grown = realloc(buf, cap * 2);
			if (!grown)
				goto err_free;
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto err_free;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
err_free:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* `proc_root`/`file` as text, or NULL. */
static char *read_proc_file(const char *proc_root, const char *file)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", proc_root, file) >= sizeof(path))
		return NULL;
	return read_text_file(path);
}

static int read_parsed_u64(const char *proc_root, const char *file,
			   int (*parse)(const char *, uint64_t *), uint64_t *out)
{
	char *text = read_proc_file(proc_root, file);
	int ret;

	if (!text)
		return -1;
	ret = parse(text, out);
	free(text);
	return ret;
}

int selfstats__read_stat(const char *proc_root, const char *who, struct proc_stat *out)
{
	char file[64];
	char *text;
	int ret;

	snprintf(file, sizeof(file), "%s/stat", who);
	text = read_proc_file(proc_root, file);

	if (!text)
		return -1;
	ret = selfstats_parse_stat(text, out);
	free(text);
	return ret;
}

int selfstats__count_fds(const char *proc_root, const char *who, uint64_t *out)
{
	char path[4096];
	struct dirent *ent;
	uint64_t count = 0;
	DIR *dir;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/fd", proc_root, who) >= sizeof(path))
		return -1;
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((ent = readdir(dir)) != NULL) {
		if (ent->d_name[0] != '.')
			count++;
	}
	closedir(dir);
	/* For self, includes the descriptor of this very listing, as other exporters do. */
	*out = count;
	return 0;
}

static void write_gauge(struct expo *out, const char *name, const char *help, double value)
{
	expo__family(out, name, "gauge", help);
	expo__sample(out, name, NULL, 0, value);
}

static void write_stat_metrics(struct expo *out, const char *proc_root)
{
	long ticks_per_s = sysconf(_SC_CLK_TCK);
	long page_size = sysconf(_SC_PAGESIZE);
	struct proc_stat st;
	uint64_t btime;

	if (selfstats__read_stat(proc_root, "self", &st))
		return;
	if (ticks_per_s > 0) {
		expo__family(out, "process_cpu_seconds_total", "counter",
			     "Total user and system CPU time spent in seconds.");
		expo__sample(out, "process_cpu_seconds_total", NULL, 0,
			     ((double)st.utime_ticks + (double)st.stime_ticks) /
				 (double)ticks_per_s);
	}
	write_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
		    (double)st.vsize_bytes);
	if (page_size > 0)
		write_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
			    (double)st.rss_pages * (double)page_size);
	if (ticks_per_s > 0 && !read_parsed_u64(proc_root, "stat", selfstats_parse_btime, &btime))
		write_gauge(out, "process_start_time_seconds",
			    "Start time of the process since unix epoch in seconds.",
			    (double)btime + (double)st.starttime_ticks / (double)ticks_per_s);
}

void selfstats__write(struct expo *out, const char *proc_root)
{
	uint64_t value;

	if (!out)
		return;
	if (!proc_root)
		proc_root = "/proc";
	write_stat_metrics(out, proc_root);
	if (!selfstats__count_fds(proc_root, "self", &value))
		write_gauge(out, "process_open_fds", "Number of open file descriptors.",
			    (double)value);
	if (!read_parsed_u64(proc_root, "self/limits", selfstats_parse_max_fds, &value))
		write_gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
			    (double)value);
}
