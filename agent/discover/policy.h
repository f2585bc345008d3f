/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may be watched: the operator's selection policy. Each list that is
 * set must match (pids, owner uids, executable, cgroup and name globs); a
 * list left empty matches anything. A process outside the policy is never
 * looked at again and never takes a target slot.
 */
#ifndef KVSCOPE_POLICY_H
#define KVSCOPE_POLICY_H

#include <stdbool.h>
#include <sys/types.h>

#define POLICY_MAX_GLOBS 16
#define POLICY_MAX_UIDS	 64

struct target_policy {
	const pid_t *pids; /* only these pids */
	int npids;
	const uid_t *uids; /* only processes whose real and effective uid are listed */
	int nuids;
	const char *const *exe_globs; /* fnmatch on the executable's path */
	int nexe;
	const char *const *cgroup_globs; /* fnmatch on the cgroup path */
	int ncgroup;
	const char *const *name_globs; /* fnmatch on the target name */
	int nname;
};

bool policy__admits_pid(const struct target_policy *p, pid_t pid);
bool policy__admits_exe(const struct target_policy *p, const char *exe);
bool policy__admits_owner(const struct target_policy *p, uid_t uid, uid_t euid, const char *cgroup);
bool policy__admits_name(const struct target_policy *p, const char *name);

/*
 * The part of a cgroup path a target's identity keeps: its parent, the pod
 * or slice, so a container restarted in its pod stays the same target.
 */
void policy__cgroup_scope(const char *cgroup, char *out, size_t outlen);

/*
 * Joins the cgroup namespace of <procfs>/1 (the host's init, with the host's
 * pid namespace) when it is not ours, so /proc/PID/cgroup shows host paths
 * to a kvscope in a pod. 0 when the view is the host's; -1 with a reason.
 * Call before any thread starts.
 */
int policy__host_cgroup_view(const char *procfs, char *err, size_t errlen);

#endif
