// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Disk syscalls of watched store processes: sync latency, bytes read and
 * written, by file class. The same two bodies serve four kinds of hook; the
 * agent loads only the best one the kernel allows (fentry, ksyscall, syscall
 * tracepoints, raw sys_enter/sys_exit) and switches the others off.
 * `watched` and `inflight` are the request program's maps, shared by fd.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kvscope.h"
#include "kvscope_maps.bpf.h"
#include "kvscope_buckets.h"
#include "kvscope_disk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static const __u64 disk_bounds_ns[KVS_DISK_BUCKETS] = KVS_DISK_BOUNDS_NS;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KVS_MAX_FILE_RULES);
	__type(key, struct kvs_file_rule_key);
	__type(value, __u8);
} file_rules SEC(".maps");

/*
 * Class of each open file seen, so the dentry walk runs once per file. The
 * objects' addresses are reused once freed: the inode's address and number
 * keep a socket's old entry (sockfs inodes come from another slab) from
 * answering for a data file that took its struct file and dentry.
 */
struct file_key {
	__u64 file;
	__u64 dentry;
	__u64 inode;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct file_key);
	__type(value, __u8);
} file_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct kvs_sc_start);
} sc_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct kvs_disk_key);
	__type(value, struct kvs_disk_stat);
} disk_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kvs_disk_stat);
} zero_disk SEC(".maps");

/* Hashes of one path component. */
struct name_hash {
	__u64 whole; /* 0 when the name is longer than what is kept */
	__u64 ext;   /* of ".ext" after the last dot; 0 without one */
};

struct name_tail {
	char s[KVS_NAME_TAIL + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct name_tail);
} scratch SEC(".maps");

/* The open file behind `fd` in the current task. */
static __always_inline struct file *fd_file(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Hashes the last KVS_NAME_TAIL bytes of a dentry's name. */
static __always_inline void hash_name(struct dentry *d, struct name_tail *buf,
				      struct name_hash *out)
{
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__u32 full = BPF_CORE_READ(d, d_name.len);
	__u32 skip = full > KVS_NAME_TAIL ? full - KVS_NAME_TAIL : 0;
	__u64 h = KVS_FNV_OFFSET, ext = 0;

	if (bpf_probe_read_kernel_str(buf->s, sizeof(buf->s), name + skip) < 0)
		buf->s[0] = 0;
	for (int i = 0; i < KVS_NAME_TAIL; i++) {
		unsigned char c = buf->s[i];

		if (!c)
			break;
		h = kvs_fnv1a_step(h, c);
		if (c == '.')
			ext = kvs_fnv1a_step(KVS_FNV_OFFSET, c);
		else if (ext)
			ext = kvs_fnv1a_step(ext, c);
	}
	out->whole = skip ? 0 : h;
	out->ext = ext;
}

/* Most specific rule first: three components, then two, then the name alone. */
static __always_inline __u8 match_rules(__u16 profile, const struct name_hash *h)
{
	struct kvs_file_rule_key key = {.profile = profile};
	__u8 *cls;

	for (int n = 3; n >= 1; n--) {
		for (int kind = KVS_NAME_EXACT; kind <= KVS_NAME_EXT; kind++) {
			key.kind = kind;
			key.ncomp = n;
			key.name = kind == KVS_NAME_EXACT ? h[0].whole : h[0].ext;
			key.parent = n >= 2 ? h[1].whole : 0;
			key.grand = n >= 3 ? h[2].whole : 0;
			if (!key.name)
				continue;
			cls = bpf_map_lookup_elem(&file_rules, &key);
			if (cls)
				return *cls;
		}
	}
	return KVS_CLASS_OTHER;
}

/* Sockets, pipes, ttys: not storage. Their I/O is the store's busiest and costs one lookup. */
#define NOT_A_FILE 0xff
#define S_IFMT_	   0170000
#define S_IFREG_   0100000

static __always_inline __u8 classify(__u16 profile, __u32 fd)
{
	struct file *f = fd_file(fd);
	struct name_hash h[3] = {};
	struct file_key key = {};
	struct name_tail *buf;
	struct dentry *d;
	__u8 *cached, class;
	__u32 zero = 0;

	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!f || !buf)
		return KVS_CLASS_OTHER;
	d = BPF_CORE_READ(f, f_path.dentry);
	key.file = (__u64)f;
	key.dentry = (__u64)d;
	key.inode = (__u64)BPF_CORE_READ(f, f_inode);
	key.ino = BPF_CORE_READ(f, f_inode, i_ino);
	cached = bpf_map_lookup_elem(&file_class, &key);
	if (cached)
		return *cached;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFREG_) {
		class = NOT_A_FILE;
		bpf_map_update_elem(&file_class, &key, &class, BPF_ANY);
		return class;
	}
	for (int c = 0; c < 3; c++) {
		hash_name(d, buf, &h[c]);
		d = BPF_CORE_READ(d, d_parent);
	}
	class = match_rules(profile, h);
	bpf_map_update_elem(&file_class, &key, &class, BPF_ANY);
	return class;
}

/*
 * Global (not inlined) so the verifier checks the file-class walk once per
 * program instead of once per path into it: loading stays fast.
 */
__noinline int on_enter(__u32 sc, __u32 fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	const struct kvs_watch *w = bpf_map_lookup_elem(&watched, &tgid);
	struct kvs_sc_start st = {};

	if (!w)
		return 0; /* everything else on the host costs this one lookup */
	st.class = classify(w->profile, fd);
	if (st.class == NOT_A_FILE)
		return 0;
	st.start_ns = bpf_ktime_get_ns();
	st.target = w->target;
	st.syscall = (__u8)sc;
	bpf_map_update_elem(&sc_start, &pid_tgid, &st, BPF_ANY);
	return 0;
}

static __always_inline struct kvs_disk_stat *disk_entry(struct kvs_disk_key *key)
{
	struct kvs_disk_stat *st = bpf_map_lookup_elem(&disk_stats, key);
	__u32 zero = 0;

	if (st)
		return st;
	st = bpf_map_lookup_elem(&zero_disk, &zero);
	if (!st)
		return NULL;
	bpf_map_update_elem(&disk_stats, key, st, BPF_NOEXIST);
	return bpf_map_lookup_elem(&disk_stats, key);
}

/* Adds a sync's time to the request its task is serving, if any. */
static __always_inline void charge_request(__u32 tgid, __u64 pid_tgid, __u64 ns)
{
	const struct kvs_watch *w = bpf_map_lookup_elem(&watched, &tgid);
	struct kvs_inflight_key key = {.tgid = tgid, .task = pid_tgid};
	struct kvs_inflight *req;

	if (!w)
		return;
	if (w->task_reg == KVS_REG_R14) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		key.task = BPF_CORE_READ(regs, r14);
	}
	req = bpf_map_lookup_elem(&inflight, &key);
	if (req)
		__sync_fetch_and_add(&req->disk_ns, ns);
}

__noinline int on_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kvs_sc_start *st = bpf_map_lookup_elem(&sc_start, &pid_tgid);
	struct kvs_disk_key key = {};
	struct kvs_disk_stat *ds;
	__u64 ns;

	if (!st)
		return 0;
	ns = bpf_ktime_get_ns() - st->start_ns;
	key.target = st->target;
	key.syscall = st->syscall;
	key.class = st->class;
	bpf_map_delete_elem(&sc_start, &pid_tgid);
	ds = disk_entry(&key);
	if (!ds)
		return 0;
	ds->count += 1;
	if (!KVS_SC_IS_SYNC(key.syscall)) {
		if (ret > 0)
			ds->bytes += ret;
		return 0;
	}
	ds->sum_ns += ns;
	__u32 b = kvs_bucket_index(disk_bounds_ns, KVS_DISK_BUCKETS, ns);

	if (b <= KVS_DISK_BUCKETS)
		ds->buckets[b] += 1;
	charge_request(pid_tgid >> 32, pid_tgid, ns);
	return 0;
}

/* Linux x86-64 syscall numbers of the calls above, for the raw hooks. */
static __always_inline int syscall_of(long nr)
{
	switch (nr) {
	case 74:
		return KVS_SC_FSYNC;
	case 75:
		return KVS_SC_FDATASYNC;
	case 277:
		return KVS_SC_SYNC_FILE_RANGE;
	case 1:
		return KVS_SC_WRITE;
	case 18:
		return KVS_SC_PWRITE64;
	case 20:
		return KVS_SC_WRITEV;
	case 0:
		return KVS_SC_READ;
	case 17:
		return KVS_SC_PREAD64;
	case 19:
		return KVS_SC_READV;
	}
	return -1;
}

/* Syscall tracepoints: one pair per call. */
#define TP_PAIR(name, sc)                                                                          \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                \
	int tp_enter_##name(struct trace_event_raw_sys_enter *ctx)                                 \
	{                                                                                          \
		on_enter(sc, (__u32)ctx->args[0]);                                                 \
		return 0;                                                                          \
	}                                                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int tp_exit_##name(struct trace_event_raw_sys_exit *ctx)                                   \
	{                                                                                          \
		on_exit(ctx->ret);                                                                 \
		return 0;                                                                          \
	}

/* fentry/fexit on the syscall entry points; the arguments sit in user regs. */
#define FENTRY_PAIR(name, sc)                                                                      \
	SEC("fentry/__x64_sys_" #name)                                                             \
	int BPF_PROG(fentry_##name, struct pt_regs *regs)                                          \
	{                                                                                          \
		on_enter(sc, (__u32)BPF_CORE_READ(regs, di));                                      \
		return 0;                                                                          \
	}                                                                                          \
	SEC("fexit/__x64_sys_" #name)                                                              \
	int BPF_PROG(fexit_##name, struct pt_regs *regs, long ret)                                 \
	{                                                                                          \
		on_exit(ret);                                                                      \
		return 0;                                                                          \
	}

/* kprobes on the syscalls, through libbpf's ksyscall sections. */
#define KSYSCALL_PAIR(name, sc)                                                                    \
	SEC("ksyscall/" #name)                                                                     \
	int BPF_KSYSCALL(ksys_##name, unsigned long fd)                                            \
	{                                                                                          \
		on_enter(sc, (__u32)fd);                                                           \
		return 0;                                                                          \
	}                                                                                          \
	SEC("kretsyscall/" #name)                                                                  \
	int BPF_KRETPROBE(kretsys_##name, long ret)                                                \
	{                                                                                          \
		on_exit(ret);                                                                      \
		return 0;                                                                          \
	}

#define ALL_CALLS(pair)                                                                            \
	pair(fsync, KVS_SC_FSYNC) pair(fdatasync, KVS_SC_FDATASYNC)                                \
	    pair(sync_file_range, KVS_SC_SYNC_FILE_RANGE) pair(write, KVS_SC_WRITE)                \
		pair(pwrite64, KVS_SC_PWRITE64) pair(writev, KVS_SC_WRITEV)                        \
		    pair(read, KVS_SC_READ) pair(pread64, KVS_SC_PREAD64)                          \
			pair(readv, KVS_SC_READV)

ALL_CALLS(TP_PAIR)
ALL_CALLS(FENTRY_PAIR)
ALL_CALLS(KSYSCALL_PAIR)

/* Last resort: every syscall passes here; keep only ours. */
SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	int sc = syscall_of((long)ctx->args[1]);

	if (sc >= 0)
		on_enter((__u32)sc, (__u32)BPF_CORE_READ(regs, di));
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	on_exit((long)ctx->args[1]);
	return 0;
}

/* Trial program: loads only where fentry works. */
SEC("fentry/__x64_sys_fdatasync")
int BPF_PROG(fentry_trial)
{
	return 0;
}
