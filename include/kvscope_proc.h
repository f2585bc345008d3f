/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Process events, shared by bpf/procevents.bpf.c and agent/discover: an
 * exec names the pid to look at, an exit the pid to let go.
 */
#ifndef KVSCOPE_PROC_H
#define KVSCOPE_PROC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum kvs_proc_kind {
	KVS_PROC_EXEC = 1,
	KVS_PROC_EXIT = 2,
};

/*
 * The executable a process runs, as the kernel knows it: the device in the
 * kernel's encoding (major << 20 | minor), the inode and its generation, so
 * a deleted file's inode number reused by a new file is another key.
 */
struct kvs_exe_key {
	__u64 ino;
	__u32 dev;
	__u32 gen;
};

/* Bytes of the exec'd path an event carries (longer ones are cut, and then unused). */
#define KVS_EXEC_PATH_MAX 192

struct kvs_proc_event {
	__u32 pid; /* tgid */
	__u32 kind;
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	struct kvs_exe_key exe; /* exec only */
	/*
	 * exec only: the parent and the path given to execve, so a process
	 * already gone when the event is read (a /bin/true in a loop) still
	 * names the file to examine, through the parent's root and cwd.
	 */
	__u32 ppid;
	__u32 pad;
	char path[KVS_EXEC_PATH_MAX];
};

/* Executables discovery has seen to be no store: their execs send nothing. */
#define KVS_IGNORED_EXES 4096
/* Processes discovery holds as targets: only their exits are sent. */
#define KVS_TRACKED_PIDS 256

#endif
