// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Off-CPU time of requests in thread-keyed stores (C stores such as Redis,
 * whose requests are keyed by pid_tgid): when a thread serving a request is
 * switched out the time is remembered; when it runs again the gap is added
 * to its request. Goroutine-keyed stores are skipped: a goroutine moves
 * between threads, so a thread's gap says nothing about one request.
 * `watched` and `inflight` are the request program's maps, shared by fd.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kvscope.h"
#include "kvscope_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A switched-out thread with a request open: when it left, and its process. */
struct switched_out {
	__u64 ts_ns;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* thread id */
	__type(value, struct switched_out);
} offcpu_start SEC(".maps");

/* The tracepoint runs on the outgoing thread: it is the current task. */
static __always_inline void switch_out(__u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, pid = (__u32)pid_tgid;
	const struct kvs_watch *w = bpf_map_lookup_elem(&watched, &tgid);
	struct kvs_inflight_key key = {.tgid = tgid, .task = pid_tgid};
	struct switched_out so = {.ts_ns = now, .tgid = tgid};

	if (!w || w->task_reg != KVS_REG_NONE || !bpf_map_lookup_elem(&inflight, &key))
		return;
	bpf_map_update_elem(&offcpu_start, &pid, &so, BPF_ANY);
}

static __always_inline void switch_in(__u32 pid, __u64 now)
{
	struct switched_out *so = bpf_map_lookup_elem(&offcpu_start, &pid);
	struct kvs_inflight_key key = {};
	struct kvs_inflight *req;

	if (!so)
		return;
	key.tgid = so->tgid;
	key.task = ((__u64)so->tgid << 32) | pid;
	req = bpf_map_lookup_elem(&inflight, &key);
	if (req && now > so->ts_ns)
		__sync_fetch_and_add(&req->offcpu_ns, now - so->ts_ns);
	bpf_map_delete_elem(&offcpu_start, &pid);
}

SEC("tracepoint/sched/sched_switch")
int kvs_sched_switch(struct trace_event_raw_sched_switch *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	switch_out(now);
	switch_in((__u32)ctx->next_pid, now);
	return 0;
}
