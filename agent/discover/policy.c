// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errmsg.h"

#include "discover/policy.h"

/* Any glob of the list matches; an empty list matches everything. */
static bool any_glob(const char *const *globs, int n, const char *s)
{
	if (n <= 0)
		return true;
	for (int i = 0; i < n; i++) {
		if (fnmatch(globs[i], s, 0) == 0)
			return true;
	}
	return false;
}

static bool uid_listed(const struct target_policy *p, uid_t uid)
{
	for (int i = 0; i < p->nuids; i++) {
		if (p->uids[i] == uid)
			return true;
	}
	return false;
}

bool policy__admits_pid(const struct target_policy *p, pid_t pid)
{
	if (p->npids <= 0)
		return true;
	for (int i = 0; i < p->npids; i++) {
		if (p->pids[i] == pid)
			return true;
	}
	return false;
}

bool policy__admits_exe(const struct target_policy *p, const char *exe)
{
	return any_glob(p->exe_globs, p->nexe, exe);
}

bool policy__admits_owner(const struct target_policy *p, uid_t uid, uid_t euid, const char *cgroup)
{
	/* both: a setuid binary runs as its owner but was started by the user */
	if (p->nuids > 0 && (!uid_listed(p, uid) || !uid_listed(p, euid)))
		return false;
	return any_glob(p->cgroup_globs, p->ncgroup, cgroup);
}

bool policy__admits_name(const struct target_policy *p, const char *name)
{
	return any_glob(p->name_globs, p->nname, name);
}

void policy__cgroup_scope(const char *cgroup, char *out, size_t outlen)
{
	const char *slash = strrchr(cgroup, '/');
	size_t n = slash ? (size_t)(slash - cgroup) : 0;

	if (!outlen)
		return;
	if (n == 0) {
		snprintf(out, outlen, "/");
		return;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, cgroup, n);
	out[n] = '\0';
}

int policy__host_cgroup_view(const char *procfs, char *err, size_t errlen)
{
	char path[256];
	struct stat host, self;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/1/ns/cgroup", procfs);
	if (stat(path, &host) || stat("/proc/self/ns/cgroup", &self))
		return errmsg(err, errlen, "cannot read cgroup namespaces: %s", strerror(errno));
	if (host.st_ino == self.st_ino && host.st_dev == self.st_dev)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, "%s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWCGROUP))
		rc = errmsg(err, errlen, "cannot join the host's cgroup namespace: %s",
			    strerror(errno));
	close(fd);
	return rc;
}
