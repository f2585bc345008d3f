/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by the BPF programs and the agent. Every probe site is
 * described by a struct kvs_site that userspace writes into the `sites` map;
 * the attach cookie of each uprobe is the index of its site, so one generic
 * program serves every store a profile can describe.
 */
#ifndef KVSCOPE_H
#define KVSCOPE_H

#define KVS_MAX_BUCKETS	 32 /* finite histogram bounds; +Inf is one more slot */
#define KVS_MAX_DEREF	 4  /* pointer hops from a register to a value */
#define KVS_MAX_READS	 6  /* values one gauge site can read */
#define KVS_MAX_SITES	 1024
#define KVS_MAX_TARGETS	 256
#define KVS_MAX_LABELS	 256 /* methods or storage operations per profile */
#define KVS_MAX_CODES	 64  /* status codes kept apart; larger ones fold */
#define KVS_CODE_OTHER	 (KVS_MAX_CODES - 1)
#define KVS_INFLIGHT_MAX 16384
#define KVS_MAX_WATCHED	 4096

/* Register numbers as profiles name them (x86-64). */
enum kvs_reg {
	KVS_REG_RAX,
	KVS_REG_RBX,
	KVS_REG_RCX,
	KVS_REG_RDX,
	KVS_REG_RSI,
	KVS_REG_RDI,
	KVS_REG_RBP,
	KVS_REG_RSP,
	KVS_REG_R8,
	KVS_REG_R9,
	KVS_REG_R10,
	KVS_REG_R11,
	KVS_REG_R12,
	KVS_REG_R13,
	KVS_REG_R14,
	KVS_REG_R15,
	KVS_REG_COUNT,
	KVS_REG_NONE = 0xff,
};

/* What a probe hit means. */
enum kvs_role {
	KVS_ROLE_NONE,
	KVS_ROLE_REQUEST_START, /* remember (task, method, now) */
	KVS_ROLE_REQUEST_END,	/* close the task's request with a status code */
	KVS_ROLE_STORAGE_OP,	/* count one storage operation, ok or error */
	KVS_ROLE_GAUGES,	/* read up to KVS_MAX_READS values into gauges */
	KVS_ROLE_LEADER_CHANGE, /* count a leader change when `value` is nonzero */
	KVS_ROLE_REQUEST_ERROR, /* the task's request replies with the error named by `value` */
	KVS_ROLE_COUNT,
};

enum kvs_gauge {
	KVS_GAUGE_RAFT_TERM,
	KVS_GAUGE_RAFT_COMMIT_INDEX,
	KVS_GAUGE_RAFT_STATE,
	KVS_GAUGE_STORAGE_SIZE,
	KVS_GAUGE_RAFT_LEAD, /* the leader's member ID as this member knows it; 0: none */
	KVS_GAUGE_RAFT_APPLIED_INDEX,
	KVS_GAUGE_STORAGE_SIZE_IN_USE,
	KVS_GAUGE_CLUSTER_ID, /* shown as kvstore_target_info's cluster label */
	KVS_GAUGE_COUNT,
};

enum kvs_stat_kind {
	KVS_STAT_REQUEST,
	KVS_STAT_STORAGE,
	KVS_STAT_LEADER_CHANGE,
};

enum kvs_lost_reason {
	KVS_LOST_INFLIGHT_FULL, /* no room to remember a started request */
	KVS_LOST_READ_FAULT,	/* a value's pointer chain could not be read */
	KVS_LOST_STALE,		/* a started request never ended (task died) */
	KVS_LOST_UNMATCHED,	/* a thread-keyed request ended that was not seen starting */
	KVS_LOST_RING_FULL,	/* a slow-request event found the ring buffer full */
	KVS_LOST_COUNT,
};

/*
 * A value read at a probe: start from register `reg`, then follow `nderef`
 * pointer hops, each adding deref[i] and loading; the last load is `size`
 * bytes (1, 2, 4 or 8). With nderef == 0 the register itself is the value,
 * masked to `size` bytes.
 */
struct kvs_read {
	__u8 reg;
	__u8 size;
	__u8 nderef;
	__u8 gauge; /* enum kvs_gauge, for KVS_ROLE_GAUGES reads */
	__u8 flags; /* KVS_READ_*: the value is a string, hashed */
	__u8 pad[3];
	__s32 deref[KVS_MAX_DEREF];
};

/*
 * String values (a method name, an error reply) never leave BPF: they are
 * hashed (FNV-1a) and looked up in the `labels` map the agent fills from
 * the profile's bounded lists, so only label numbers are counted.
 */
#define KVS_READ_STRING 0x1 /* the value is the address of a NUL-terminated string */
#define KVS_READ_LOWER	0x2 /* ASCII-lowercase it before hashing */
#define KVS_READ_WORD	0x4 /* only its first word: up to a space */
#define KVS_READ_DASH	0x8 /* it must start with '-', which is skipped; else it hashes to 0 */
#define KVS_STRING_MAX	32  /* bytes of a string that are hashed */

enum kvs_label_kind {
	KVS_LABEL_METHOD,
	KVS_LABEL_ERROR,
};

struct kvs_label_key {
	__u16 profile;
	__u8 kind; /* enum kvs_label_kind */
	__u8 pad[5];
	__u64 hash;
};

/* Value of the `watched` map, keyed by tgid: only these processes count. */
struct kvs_watch {
	__u16 target;  /* slot of the target the process belongs to */
	__u16 profile; /* which file rules classify its files */
	__u8 task_reg; /* as kvs_site.task_reg: how its requests are keyed */
	__u8 pad[3];
};

/*
 * A site is attached once per binary (every process running it traps), so
 * the target comes from the `watched` map, not from the site.
 */
struct kvs_site {
	__u32 role;  /* enum kvs_role */
	__u16 label; /* method or storage operation index */
	__u16 pad0;
	__u8 task_reg; /* goroutine register for Go; KVS_REG_NONE keys by thread */
	__u8 nreads;
	__u8 has_value;
	__u8 pad;
	struct kvs_read value; /* status code, error word or condition */
	struct kvs_read reads[KVS_MAX_READS];
};

struct kvs_inflight_key {
	__u32 tgid;
	__u32 pad;
	__u64 task; /* goroutine pointer, or pid_tgid for threads */
};

struct kvs_inflight {
	__u64 start_ns;
	__u64 disk_ns;	 /* disk syncs this request's task waited for */
	__u64 offcpu_ns; /* time its thread was switched out (thread-keyed stores) */
	__u16 target;
	__u16 method;
	__u16 code; /* set by a KVS_ROLE_REQUEST_ERROR hit */
	__u8 has_code;
	__u8 pad;
};

/* A request slower than the threshold `kvscope trace --slow` set. */
struct kvs_slow_event {
	__u64 end_ns; /* bpf_ktime_get_ns() at its end */
	__u64 latency_ns;
	__u64 disk_ns;
	__u64 offcpu_ns;
	__u32 tgid;
	__u16 target;
	__u16 method;
	__u16 code;
	__u16 pad[3];
};

struct kvs_stat_key {
	__u16 target;
	__u8 kind; /* enum kvs_stat_kind */
	__u8 pad;
	__u16 label;
	__u16 code; /* status code read at the end, or 0/1 ok/error */
};

/* buckets[i] counts observations in (bound[i-1], bound[i]]: not cumulative. */
struct kvs_stat {
	__u64 count;
	__u64 sum_ns;
	__u64 disk_ns; /* requests: time spent in disk syncs on their own task */
	__u64 buckets[KVS_MAX_BUCKETS + 1];
};

struct kvs_gauge_key {
	__u16 target;
	__u16 gauge;
};

/* Per CPU; the reader keeps the value with the newest timestamp. */
struct kvs_gauge_val {
	__u64 value;
	__u64 ts_ns;
};

#endif /* KVSCOPE_H */
