// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Wakes discovery when a process execs or a process (not a thread) exits,
 * so a store started after kvscope is attached within a moment and one
 * that exits is let go, with no /proc polling in between.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kvscope.h"
#include "kvscope_disk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline void emit(__u32 pid, __u32 kind)
{
	struct kvs_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return; /* discovery's periodic scan still catches up */
	e->pid = pid;
	e->kind = kind;
	bpf_ringbuf_submit(e, 0);
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	emit(bpf_get_current_pid_tgid() >> 32, 1);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	if ((__u32)id == (__u32)(id >> 32))
		emit(id >> 32, 2);
	return 0;
}
