/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The maps every BPF object of kvscope shares: the request object creates
 * them, the others take the same fds (bpf_map__reuse_fd) before loading.
 * BPF side only: include after vmlinux.h, bpf_helpers.h and kvscope.h.
 */
#ifndef KVSCOPE_MAPS_BPF_H
#define KVSCOPE_MAPS_BPF_H

/* Watched processes by tgid: everything else costs one lookup and stops. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KVS_MAX_WATCHED);
	__type(key, __u32);
	__type(value, struct kvs_watch);
} watched SEC(".maps");

/* Requests between start and end; shared because goroutines change CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KVS_INFLIGHT_MAX);
	__type(key, struct kvs_inflight_key);
	__type(value, struct kvs_inflight);
} inflight SEC(".maps");

#endif
