/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types shared by the syscall probes and the agent: disk syncs, reads and
 * writes of watched processes, by file class (wal, db, ... from the profile).
 */
#ifndef KVSCOPE_DISK_H
#define KVSCOPE_DISK_H

enum kvs_syscall {
	KVS_SC_FSYNC,
	KVS_SC_FDATASYNC,
	KVS_SC_SYNC_FILE_RANGE,
	KVS_SC_WRITE,
	KVS_SC_PWRITE64,
	KVS_SC_WRITEV,
	KVS_SC_READ,
	KVS_SC_PREAD64,
	KVS_SC_READV,
	KVS_SC_COUNT,
};

#define KVS_SC_IS_SYNC(sc)  ((sc) <= KVS_SC_SYNC_FILE_RANGE)
#define KVS_SC_IS_WRITE(sc) ((sc) >= KVS_SC_WRITE && (sc) <= KVS_SC_WRITEV)

/* Disk sync histogram bounds: 0.1 ms up to 8.192 s. */
#define KVS_DISK_BUCKETS 17
#define KVS_DISK_BOUNDS_NS                                                                         \
	{                                                                                          \
		100000, 250000, 500000, 1000000, 2000000, 4000000, 8000000, 16000000, 32000000,    \
		    64000000, 128000000, 256000000, 512000000, 1024000000, 2048000000, 4096000000, \
		    8192000000                                                                     \
	}

#define KVS_CLASS_OTHER	   0
#define KVS_MAX_CLASSES	   16
#define KVS_MAX_FILE_RULES 64
#define KVS_NAME_TAIL	   31 /* bytes of a name kept: enough for exact names, and the end */

/*
 * File rules are globs of up to three components, e.g. member/wal/ then
 * *.wal: the file name (exact, or "*.ext" for an extension), its directory
 * and the directory above (exact). They are looked up by FNV-1a hashes of
 * the components, so classifying a file is a few hash lookups in BPF.
 */
enum kvs_name_kind {
	KVS_NAME_EXACT,
	KVS_NAME_EXT,
};

struct kvs_file_rule_key {
	__u16 profile;
	__u8 kind;  /* enum kvs_name_kind of the file name */
	__u8 ncomp; /* 1 to 3 components */
	__u32 pad;
	__u64 name;   /* hash of the file name, or of ".ext" */
	__u64 parent; /* hash of the directory, when ncomp >= 2 */
	__u64 grand;  /* hash of the directory above, when ncomp == 3 */
};

#define KVS_FNV_OFFSET 0xcbf29ce484222325ull
#define KVS_FNV_PRIME  0x100000001b3ull

static inline __u64 kvs_fnv1a_step(__u64 h, unsigned char c)
{
	return (h ^ c) * KVS_FNV_PRIME;
}

struct kvs_disk_key {
	__u16 target;
	__u8 syscall; /* enum kvs_syscall */
	__u8 class;
};

struct kvs_disk_stat {
	__u64 count;
	__u64 sum_ns;
	__u64 bytes;
	__u64 buckets[KVS_DISK_BUCKETS + 1];
};

/* A syscall between its entry and its exit, per thread. */
struct kvs_sc_start {
	__u64 start_ns;
	__u16 target;
	__u8 syscall;
	__u8 class;
	__u32 pad;
};

#endif
