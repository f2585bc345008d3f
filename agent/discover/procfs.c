// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover/procfs.h"

static void copy_bounded(char *out, size_t outlen, const char *src, size_t n)
{
	if (!outlen)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, src, n);
	out[n] = '\0';
}

bool procfs_parse_flag(const char *argv, size_t len, const char *flag, char *out, size_t outlen)
{
	size_t flen = strlen(flag);
	const char *end = argv + len;

	for (const char *a = argv; a < end;) {
		size_t alen = strnlen(a, (size_t)(end - a));
		const char *next = a + alen + 1;

		if (alen == flen && memcmp(a, flag, flen) == 0 && next < end) {
			copy_bounded(out, outlen, next, strnlen(next, (size_t)(end - next)));
			return true;
		}
		if (alen > flen && memcmp(a, flag, flen) == 0 && a[flen] == '=') {
			copy_bounded(out, outlen, a + flen + 1, alen - flen - 1);
			return true;
		}
		a = next;
	}
	return false;
}

bool procfs_parse_env(const char *env, size_t len, const char *var, char *out, size_t outlen)
{
	size_t vlen = strlen(var);
	const char *end = env + len;

	for (const char *e = env; e < end;) {
		size_t elen = strnlen(e, (size_t)(end - e));

		if (elen > vlen && memcmp(e, var, vlen) == 0 && e[vlen] == '=') {
			copy_bounded(out, outlen, e + vlen + 1, elen - vlen - 1);
			return true;
		}
		e += elen + 1;
	}
	return false;
}

/* comm may hold spaces and parentheses: it ends at the last ')'. */
int procfs_parse_stat(const char *buf, char *comm, size_t commlen, uint64_t *start_time)
{
	const char *open = strchr(buf, '(');
	const char *close = strrchr(buf, ')');
	unsigned long long st = 0;

	/* close[1] must exist: the field walk below starts one past it */
	if (!open || !close || close < open || !close[1])
		return -1;
	copy_bounded(comm, commlen, open + 1, (size_t)(close - open - 1));
	/* field 22 (starttime); fields 3.. follow ") " */
	const char *p = close + 1;

	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	if (sscanf(p, " %llu", &st) != 1)
		return -1;
	*start_time = st;
	return 0;
}

ssize_t procfs_read(const char *procfs, pid_t pid, const char *file, char *buf, size_t len)
{
	char path[256];
	size_t total = 0;
	int fd;

	if (!len)
		return -1; /* no room even for the terminating NUL */
	snprintf(path, sizeof(path), "%s/%d/%s", procfs, (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (total + 1 < len) {
		ssize_t n = read(fd, buf + total, len - 1 - total);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	buf[total] = '\0';
	return (ssize_t)total;
}

int procfs_ident(const char *procfs, pid_t pid, struct proc_ident *out)
{
	char buf[1024];
	struct stat st;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	if (procfs_read(procfs, pid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	if (procfs_parse_stat(buf, out->comm, sizeof(out->comm), &out->start_time))
		return -1;
	snprintf(out->exe_link, sizeof(out->exe_link), "%s/%d/exe", procfs, (int)pid);
	n = readlink(out->exe_link, out->exe, sizeof(out->exe) - 1);
	if (n <= 0)
		return -1; /* kernel thread, or gone */
	out->exe[n] = '\0';
	if (stat(out->exe_link, &st))
		return -1;
	out->exe_dev = st.st_dev;
	out->exe_ino = st.st_ino;
	return 0;
}

bool procfs_alive(const char *procfs, pid_t pid, uint64_t start_time)
{
	char buf[1024], comm[32];
	uint64_t st;

	if (procfs_read(procfs, pid, "stat", buf, sizeof(buf)) < 0)
		return false;
	if (procfs_parse_stat(buf, comm, sizeof(comm), &st))
		return false;
	/* a zombie keeps its pid but no longer runs the store */
	const char *close = strrchr(buf, ')');

	if (close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X'))
		return false;
	return st == start_time;
}

int procfs_each_pid(const char *procfs, int (*fn)(pid_t pid, void *ctx), void *ctx)
{
	DIR *dir = opendir(procfs);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return -1;
	while (!rc && (de = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		rc = fn((pid_t)pid, ctx);
	}
	closedir(dir);
	return rc;
}
