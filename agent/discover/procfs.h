/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Facts about a process from procfs. The procfs root is a parameter so tests
 * (and a DaemonSet with the host's /proc mounted elsewhere) can point it away
 * from /proc. Parsers are pure and take buffers.
 */
#ifndef KVSCOPE_PROCFS_H
#define KVSCOPE_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_ident {
	pid_t pid;
	pid_t ppid;
	uint64_t start_time; /* clock ticks after boot: tells a reused pid apart */
	char comm[32];
	char exe[4096];	   /* readlink of exe, as the process's mount namespace sees it */
	char exe_link[64]; /* "<procfs>/<pid>/exe": opens the binary in any namespace */
	dev_t exe_dev;
	ino_t exe_ino;
};

/* Value of `flag` ("--name") in a NUL-separated argv: "--name X" or "--name=X". */
bool procfs_parse_flag(const char *argv, size_t len, const char *flag, char *out, size_t outlen);
/* Value of `var` in a NUL-separated environment block. */
bool procfs_parse_env(const char *env, size_t len, const char *var, char *out, size_t outlen);
/* comm and start time from the text of /proc/PID/stat. 0 or -1. */
int procfs_parse_stat(const char *buf, char *comm, size_t commlen, uint64_t *start_time);

/* Real and effective uid from the text of /proc/PID/status. 0 or -1. */
int procfs_parse_uids(const char *buf, uid_t *ruid, uid_t *euid);
/*
 * The cgroup path from the text of /proc/PID/cgroup: the unified (v2) one,
 * else on a v1 or hybrid host the name=systemd one when the unified one is
 * only "/". 0, or -1 when there is neither.
 */
int procfs_parse_cgroup(const char *buf, char *out, size_t outlen);

/* Who runs a process and where: what a selection policy looks at. */
struct proc_owner {
	uid_t uid;  /* real */
	uid_t euid; /* effective */
	char cgroup[1024];
};

/* Reads pid's owner; -1 when the process is gone or unreadable. */
int procfs_owner(const char *procfs, pid_t pid, struct proc_owner *out);

/* Reads pid's identity; -1 when the process is gone or unreadable. */
int procfs_ident(const char *procfs, pid_t pid, struct proc_ident *out);
/* Whole file into buf (NUL-terminated); returns bytes read or -1. */
ssize_t procfs_read(const char *procfs, pid_t pid, const char *file, char *buf, size_t len);
/* True while the same process (pid and start time) exists. */
bool procfs_alive(const char *procfs, pid_t pid, uint64_t start_time);

/* Calls fn for each numeric entry of the procfs root; stops when fn returns nonzero. */
int procfs_each_pid(const char *procfs, int (*fn)(pid_t pid, void *ctx), void *ctx);

#endif
