// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <stdint.h>
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

int procfs_parse_uids(const char *buf, uid_t *ruid, uid_t *euid)
{
	const char *line = strncmp(buf, "Uid:", 4) == 0 ? buf : strstr(buf, "\nUid:");
	unsigned long r, e;

	if (line && line != buf)
		line++;
	if (!line || sscanf(line + 4, "%lu %lu", &r, &e) != 2 || r > UINT32_MAX || e > UINT32_MAX)
		return -1;
	*ruid = (uid_t)r;
	*euid = (uid_t)e;
	return 0;
}

/* The path of a "hierarchy:controllers:path" line if its controllers are `want`. */
static bool cgroup_line(const char *line, size_t len, const char *want, const char **path,
			size_t *pathlen)
{
	const char *c1 = memchr(line, ':', len), *c2;

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
	if (!c2 || (size_t)(c2 - c1 - 1) != strlen(want) || memcmp(c1 + 1, want, strlen(want)))
		return false;
	*path = c2 + 1;
	*pathlen = len - (size_t)(c2 + 1 - line);
	return true;
}

int procfs_parse_cgroup(const char *buf, char *out, size_t outlen)
{
	const char *v2 = NULL, *systemd = NULL, *path;
	size_t v2len = 0, systemdlen = 0, pathlen;

	for (const char *line = buf; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		/* "0::/path" is the unified hierarchy; its hierarchy number is 0 */
		if (len > 2 && line[0] == '0' && line[1] == ':' &&
		    cgroup_line(line, len, "", &path, &pathlen)) {
			v2 = path;
			v2len = pathlen;
		} else if (cgroup_line(line, len, "name=systemd", &path, &pathlen)) {
			systemd = path;
			systemdlen = pathlen;
		}
		line += len + (nl ? 1 : 0);
	}
	if (v2 && systemd && v2len == 1 && v2[0] == '/') {
		v2 = systemd; /* hybrid host: the unified tree may be unused */
		v2len = systemdlen;
	}
	if (!v2 && systemd) {
		v2 = systemd;
		v2len = systemdlen;
	}
	if (!v2 || !v2len)
		return -1;
	copy_bounded(out, outlen, v2, v2len);
	return 0;
}

int procfs_owner(const char *procfs, pid_t pid, struct proc_owner *out)
{
	char buf[16384]; /* a v1 host lists a dozen hierarchies */

	memset(out, 0, sizeof(*out));
	if (procfs_read(procfs, pid, "status", buf, sizeof(buf)) < 0 ||
	    procfs_parse_uids(buf, &out->uid, &out->euid))
		return -1;
	if (procfs_read(procfs, pid, "cgroup", buf, sizeof(buf)) < 0 ||
	    procfs_parse_cgroup(buf, out->cgroup, sizeof(out->cgroup)))
		snprintf(out->cgroup, sizeof(out->cgroup), "/"); /* no cgroup support */
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
	/* after the comm: " state ppid ..." (parse_stat found the ')') */
	if (sscanf(strrchr(buf, ')') + 1, " %*c %d", &out->ppid) != 1)
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
