// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Wakes discovery with the pid to look at when a process execs, and with
 * the pid to let go when a target exits, so discovery never scans /proc per
 * event. Execs of a binary discovery found to be no store send nothing, and
 * only targets' exits are sent: a node busy with short-lived processes costs
 * kvscope nothing in userspace.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kvscope_proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KVS_IGNORED_EXES);
	__type(key, struct kvs_exe_key);
	__type(value, __u8);
} ignored SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KVS_TRACKED_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

/* Events the ring buffer had no room for: discovery then rescans /proc. */
__u64 lost = 0;

static __always_inline struct kvs_proc_event *reserve(__u32 pid, __u32 kind)
{
	struct kvs_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return NULL;
	}
	e->pid = pid;
	e->kind = kind;
	e->ts_ns = bpf_ktime_get_ns();
	e->exe.ino = 0;
	e->exe.dev = 0;
	e->exe.gen = 0;
	e->ppid = 0;
	e->pad = 0;
	e->path[0] = '\0';
	return e;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct inode *inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct kvs_exe_key key = {0};
	struct kvs_proc_event *e;

	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.gen = BPF_CORE_READ(inode, i_generation);
	/* a target that execs is gone as that target, whatever it runs now */
	if (!bpf_map_lookup_elem(&tracked, &tgid) && bpf_map_lookup_elem(&ignored, &key))
		return 0;
	e = reserve(tgid, KVS_PROC_EXEC);
	if (!e)
		return 0;
	e->exe = key;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_probe_read_kernel_str(e->path, sizeof(e->path),
				  (void *)ctx + (ctx->__data_loc_filename & 0xffff));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* the process ends with its last thread, whichever that is */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (bpf_map_lookup_elem(&tracked, &tgid)) {
		struct kvs_proc_event *e = reserve(tgid, KVS_PROC_EXIT);

		if (e)
			bpf_ringbuf_submit(e, 0);
	}
	return 0;
}
