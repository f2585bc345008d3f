// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One generic uprobe program for every store site. The attach cookie is the
 * index of a struct kvs_site that says what the hit means; the program keeps
 * per-CPU counts and histograms so no per-request event reaches userspace.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kvscope.h"
#include "kvscope_maps.bpf.h"
#include "kvscope_buckets.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Finite histogram bounds in nanoseconds, set by the agent before load. */
const volatile __u64 bucket_bounds_ns[KVS_MAX_BUCKETS] = {};
const volatile __u32 bucket_count = 0;
/* Requests at least this slow are sent to userspace (kvscope trace); 0: none. */
const volatile __u64 slow_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} slow_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KVS_MAX_SITES);
	__type(key, __u32);
	__type(value, struct kvs_site);
} sites SEC(".maps");

/* Hashes of the profile's method names and error words -> label or code. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct kvs_label_key);
	__type(value, __u16);
} labels SEC(".maps");

struct string_buf {
	char s[KVS_STRING_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct string_buf);
} string_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kvs_stat_key);
	__type(value, struct kvs_stat);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KVS_MAX_TARGETS *KVS_GAUGE_COUNT);
	__type(key, struct kvs_gauge_key);
	__type(value, struct kvs_gauge_val);
} gauges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KVS_LOST_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Scratch for a new stat entry: too large for the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kvs_stat);
} zero_stat SEC(".maps");

static __always_inline void count_lost(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &reason);

	if (n)
		*n += 1;
}

/* Where a register profiles name sits in pt_regs; -1 for none. */
static __always_inline int reg_offset(__u8 reg)
{
	switch (reg) {
	case KVS_REG_RAX:
		return offsetof(struct pt_regs, ax);
	case KVS_REG_RBX:
		return offsetof(struct pt_regs, bx);
	case KVS_REG_RCX:
		return offsetof(struct pt_regs, cx);
	case KVS_REG_RDX:
		return offsetof(struct pt_regs, dx);
	case KVS_REG_RSI:
		return offsetof(struct pt_regs, si);
	case KVS_REG_RDI:
		return offsetof(struct pt_regs, di);
	case KVS_REG_RBP:
		return offsetof(struct pt_regs, bp);
	case KVS_REG_RSP:
		return offsetof(struct pt_regs, sp);
	case KVS_REG_R8:
		return offsetof(struct pt_regs, r8);
	case KVS_REG_R9:
		return offsetof(struct pt_regs, r9);
	case KVS_REG_R10:
		return offsetof(struct pt_regs, r10);
	case KVS_REG_R11:
		return offsetof(struct pt_regs, r11);
	case KVS_REG_R12:
		return offsetof(struct pt_regs, r12);
	case KVS_REG_R13:
		return offsetof(struct pt_regs, r13);
	case KVS_REG_R14:
		return offsetof(struct pt_regs, r14);
	case KVS_REG_R15:
		return offsetof(struct pt_regs, r15);
	}
	return -1;
}

/*
 * Registers are picked by number at run time; the context allows loads only
 * at fixed offsets, so the one register needed is read with a helper rather
 * than copying all of pt_regs on every hit.
 */
static __always_inline __u64 reg_value(struct pt_regs *regs, __u8 reg)
{
	int off = reg_offset(reg);
	__u64 v = 0;

	if (off >= 0)
		bpf_probe_read_kernel(&v, sizeof(v), (void *)regs + off);
	return v;
}

static __always_inline __u64 mask_to_size(__u64 v, __u8 size)
{
	switch (size) {
	case 1:
		return v & 0xff;
	case 2:
		return v & 0xffff;
	case 4:
		return v & 0xffffffff;
	}
	return v;
}

/* A load of exactly `size` bytes, so a short field at a page's end cannot fault. */
static __always_inline int load_user(__u64 addr, __u8 size, __u64 *out)
{
	*out = 0;
	switch (size) {
	case 1:
		return bpf_probe_read_user(out, 1, (void *)addr);
	case 2:
		return bpf_probe_read_user(out, 2, (void *)addr);
	case 4:
		return bpf_probe_read_user(out, 4, (void *)addr);
	}
	return bpf_probe_read_user(out, 8, (void *)addr);
}

/* Follows the read's pointer chain; returns -1 when user memory faulted. */
static __always_inline int read_value(struct pt_regs *regs, const struct kvs_read *rd, __u64 *out)
{
	__u64 v = reg_value(regs, rd->reg);
	__u8 n = rd->nderef;

	for (int i = 0; i < KVS_MAX_DEREF; i++) {
		if (i >= n)
			break;
		if (load_user(v + rd->deref[i], i == n - 1 ? rd->size : 8, &v))
			return -1;
	}
	*out = mask_to_size(v, rd->size);
	return 0;
}

/* FNV-1a of the string at `addr`, shaped by the read's KVS_READ_* flags. */
static __always_inline __u64 hash_string(__u64 addr, __u8 flags)
{
	struct string_buf *buf;
	__u64 h = 0xcbf29ce484222325ull;
	__u32 zero = 0, start = 0;

	buf = bpf_map_lookup_elem(&string_scratch, &zero);
	if (!buf || bpf_probe_read_user_str(buf->s, sizeof(buf->s), (void *)addr) < 0)
		return 0;
	if (flags & KVS_READ_DASH) {
		if (buf->s[0] != '-')
			return 0;
		start = 1;
	}
	for (__u32 i = 0; i < KVS_STRING_MAX; i++) {
		if (i < start)
			continue;
		char c = buf->s[i];

		if (!c || ((flags & KVS_READ_WORD) && c == ' '))
			break;
		if ((flags & KVS_READ_LOWER) && c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ (unsigned char)c) * 0x100000001b3ull;
	}
	return h;
}

/* Label or code of a string value; `miss` when the profile does not list it. */
static __always_inline __u16 lookup_label(struct pt_regs *regs, const struct kvs_read *rd,
					  __u16 profile, __u8 kind, __u16 miss)
{
	struct kvs_label_key key = {.profile = profile, .kind = kind};
	__u64 addr;
	__u16 *id;

	if (read_value(regs, rd, &addr)) {
		count_lost(KVS_LOST_READ_FAULT);
		return miss;
	}
	key.hash = hash_string(addr, rd->flags);
	id = bpf_map_lookup_elem(&labels, &key);
	return id ? *id : miss;
}

static __always_inline struct kvs_stat *stat_entry(struct kvs_stat_key *key)
{
	struct kvs_stat *st = bpf_map_lookup_elem(&stats, key);
	__u32 zero = 0;

	if (st)
		return st;
	st = bpf_map_lookup_elem(&zero_stat, &zero);
	if (!st)
		return NULL;
	bpf_map_update_elem(&stats, key, st, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stats, key);
}

static __always_inline void observe(struct kvs_stat_key *key, __u64 ns, bool timed, __u64 disk_ns)
{
	struct kvs_stat *st = stat_entry(key);

	if (!st)
		return;
	st->count += 1;
	st->disk_ns += disk_ns;
	if (!timed)
		return;
	st->sum_ns += ns;
	__u32 b = kvs_bucket_index(bucket_bounds_ns, bucket_count, ns);

	if (b <= KVS_MAX_BUCKETS)
		st->buckets[b] += 1;
}

static __always_inline void inflight_key(struct pt_regs *regs, const struct kvs_site *site,
					 struct kvs_inflight_key *key)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	key->tgid = pid_tgid >> 32;
	key->pad = 0;
	key->task = site->task_reg == KVS_REG_NONE ? pid_tgid : reg_value(regs, site->task_reg);
}

/* Idempotent: a Go entry probe fires again when the stack grows. */
static __always_inline void request_start(struct pt_regs *regs, const struct kvs_site *site,
					  const struct kvs_watch *w)
{
	struct kvs_inflight_key key;
	struct kvs_inflight val = {
	    .start_ns = bpf_ktime_get_ns(),
	    .target = w->target,
	    .method = site->label,
	};

	/* a method named by the store at run time; site->label is then "other" */
	if (site->has_value && (site->value.flags & KVS_READ_STRING))
		val.method =
		    lookup_label(regs, &site->value, w->profile, KVS_LABEL_METHOD, site->label);
	inflight_key(regs, site, &key);
	if (bpf_map_update_elem(&inflight, &key, &val, BPF_ANY))
		count_lost(KVS_LOST_INFLIGHT_FULL);
}

static __always_inline void emit_slow(const struct kvs_stat_key *sk, __u32 tgid, __u64 ns,
				      __u64 disk_ns, __u64 offcpu_ns)
{
	struct kvs_slow_event *e = bpf_ringbuf_reserve(&slow_events, sizeof(*e), 0);

	if (!e) {
		count_lost(KVS_LOST_RING_FULL);
		return;
	}
	e->end_ns = bpf_ktime_get_ns();
	e->latency_ns = ns;
	e->disk_ns = disk_ns;
	e->offcpu_ns = offcpu_ns;
	e->tgid = tgid;
	e->target = sk->target;
	e->method = sk->label;
	e->code = sk->code;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void request_end(struct pt_regs *regs, const struct kvs_site *site)
{
	struct kvs_inflight_key key;
	struct kvs_inflight *req;
	__u64 code = 0;

	inflight_key(regs, site, &key);
	req = bpf_map_lookup_elem(&inflight, &key);
	if (!req) {
		/* Go: a call of another gRPC service ends here too; a thread's must match */
		if (site->task_reg == KVS_REG_NONE)
			count_lost(KVS_LOST_UNMATCHED);
		return;
	}
	__u64 ns = bpf_ktime_get_ns() - req->start_ns;
	__u64 disk_ns = req->disk_ns;
	struct kvs_stat_key sk = {
	    .target = req->target, .kind = KVS_STAT_REQUEST, .label = req->method};

	__u64 offcpu_ns = req->offcpu_ns;

	if (req->has_code)
		code = req->code;
	bpf_map_delete_elem(&inflight, &key);
	if (site->has_value && read_value(regs, &site->value, &code))
		count_lost(KVS_LOST_READ_FAULT);
	sk.code = code < KVS_CODE_OTHER ? code : KVS_CODE_OTHER;
	observe(&sk, ns, true, disk_ns);
	if (slow_ns && ns >= slow_ns)
		emit_slow(&sk, key.tgid, ns, disk_ns, offcpu_ns);
}

static __always_inline void request_error(struct pt_regs *regs, const struct kvs_site *site,
					  const struct kvs_watch *w)
{
	struct kvs_inflight_key key;
	struct kvs_inflight *req;

	inflight_key(regs, site, &key);
	req = bpf_map_lookup_elem(&inflight, &key);
	if (!req)
		return; /* an error outside a request we timed */
	req->code = lookup_label(regs, &site->value, w->profile, KVS_LABEL_ERROR, KVS_CODE_OTHER);
	req->has_code = 1;
}

static __always_inline void storage_op(struct pt_regs *regs, const struct kvs_site *site,
				       __u16 target)
{
	struct kvs_stat_key sk = {.target = target, .kind = KVS_STAT_STORAGE, .label = site->label};
	__u64 err = 0;

	if (site->has_value && read_value(regs, &site->value, &err))
		count_lost(KVS_LOST_READ_FAULT);
	sk.code = err != 0;
	observe(&sk, 0, false, 0);
}

static __always_inline void leader_change(struct pt_regs *regs, const struct kvs_site *site,
					  __u16 target)
{
	struct kvs_stat_key sk = {.target = target, .kind = KVS_STAT_LEADER_CHANGE};
	__u64 cond = 1;

	if (site->has_value && read_value(regs, &site->value, &cond)) {
		count_lost(KVS_LOST_READ_FAULT);
		return;
	}
	if (cond)
		observe(&sk, 0, false, 0);
}

static __always_inline void read_gauges(struct pt_regs *regs, const struct kvs_site *site,
					__u16 target)
{
	__u64 now = bpf_ktime_get_ns();

	for (int i = 0; i < KVS_MAX_READS; i++) {
		if (i >= site->nreads)
			break;
		const struct kvs_read *rd = &site->reads[i];
		struct kvs_gauge_key gk = {.target = target, .gauge = rd->gauge};
		struct kvs_gauge_val gv = {.ts_ns = now}, *cur;

		if (read_value(regs, rd, &gv.value)) {
			count_lost(KVS_LOST_READ_FAULT);
			continue;
		}
		/* this CPU's own slot: written in place, an update only the first time */
		cur = bpf_map_lookup_elem(&gauges, &gk);
		if (cur)
			*cur = gv;
		else
			bpf_map_update_elem(&gauges, &gk, &gv, BPF_ANY);
	}
}

SEC("uprobe")
int kvs_site_hit(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 idx = bpf_get_attach_cookie(ctx);
	const struct kvs_watch *w = bpf_map_lookup_elem(&watched, &tgid);
	const struct kvs_site *site;

	if (!w)
		return 0; /* another process running the same binary */
	site = bpf_map_lookup_elem(&sites, &idx);
	if (!site)
		return 0;
	switch (site->role) {
	case KVS_ROLE_REQUEST_START:
		request_start(ctx, site, w);
		break;
	case KVS_ROLE_REQUEST_ERROR:
		request_error(ctx, site, w);
		break;
	case KVS_ROLE_REQUEST_END:
		request_end(ctx, site);
		break;
	case KVS_ROLE_STORAGE_OP:
		storage_op(ctx, site, w->target);
		break;
	case KVS_ROLE_GAUGES:
		read_gauges(ctx, site, w->target);
		break;
	case KVS_ROLE_LEADER_CHANGE:
		leader_change(ctx, site, w->target);
		break;
	}
	return 0;
}
