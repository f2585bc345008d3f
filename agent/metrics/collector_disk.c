// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "metrics/collector_disk.h"

static const __u64 disk_bounds_ns[KVS_DISK_BUCKETS] = KVS_DISK_BOUNDS_NS;

static const struct target *target_of(const struct collector *c, unsigned slot)
{
	if (slot >= KVS_MAX_TARGETS || !c->targets->slots[slot].used)
		return NULL;
	return &c->targets->slots[slot];
}

static void write_syncs(const struct collector *c, struct expo *out, const struct disk_entry *e,
			size_t n)
{
	double bounds[KVS_DISK_BUCKETS];

	for (int i = 0; i < KVS_DISK_BUCKETS; i++)
		bounds[i] = (double)disk_bounds_ns[i] / 1e9;
	expo__family(out, "kvstore_disk_sync_duration_seconds", "histogram",
		     "Time the store's disk syncs took, by syscall and file class, in seconds.");
	for (size_t i = 0; i < n; i++) {
		const struct target *tg = target_of(c, e[i].key.target);

		if (!tg || !KVS_SC_IS_SYNC(e[i].key.syscall))
			continue;
		struct label l[] = {{"target", tg->name},
				    {"syscall", disk__syscall_name(e[i].key.syscall)},
				    {"file", disk__class_name(c->disk, e[i].key.class)}};

		uint64_t counts[KVS_DISK_BUCKETS + 1];

		for (int b = 0; b <= KVS_DISK_BUCKETS; b++)
			counts[b] = e[i].val.buckets[b];
		expo__histogram(out, "kvstore_disk_sync_duration_seconds", l, 3, bounds,
				KVS_DISK_BUCKETS, counts, (double)e[i].val.sum_ns / 1e9);
	}
}

/* Bytes by (target, class), summed over the read or the write syscalls. */
static void write_bytes(const struct collector *c, struct expo *out, const struct disk_entry *e,
			size_t n, bool writes)
{
	const char *name =
	    writes ? "kvstore_disk_written_bytes_total" : "kvstore_disk_read_bytes_total";

	expo__family(out, name, "counter",
		     writes
			 ? "Bytes the store wrote with write, pwrite64 and writev, by file class."
			 : "Bytes the store read with read, pread64 and readv, by file class.");
	for (unsigned slot = 0; slot < KVS_MAX_TARGETS; slot++) {
		const struct target *tg = target_of(c, slot);

		for (unsigned cls = 0; tg && cls < KVS_MAX_CLASSES; cls++) {
			uint64_t bytes = 0;
			bool seen = false;

			for (size_t i = 0; i < n; i++) {
				const struct kvs_disk_key *k = &e[i].key;
				bool is_write = KVS_SC_IS_WRITE(k->syscall);

				if (k->target != slot || k->class != cls ||
				    KVS_SC_IS_SYNC(k->syscall) || is_write != writes)
					continue;
				bytes += e[i].val.bytes;
				seen = true;
			}
			if (!seen)
				continue;
			struct label l[] = {{"target", tg->name},
					    {"file", disk__class_name(c->disk, cls)}};

			expo__sample_u64(out, name, l, 2, bytes);
		}
	}
}

void collector_disk__write(const struct collector *c, struct expo *out)
{
	struct disk_entry *entries = NULL;
	size_t n = 0;

	if (!c->disk || disk__snapshot(c->disk, &entries, &n))
		return;
	write_syncs(c, out, entries, n);
	write_bytes(c, out, entries, n, true);
	write_bytes(c, out, entries, n, false);
	free(entries);
}
