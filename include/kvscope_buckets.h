/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The histogram bucket search, shared by the BPF program (which runs it on
 * every request) and the unit tests (which check it against the bounds).
 * Needs __u32/__u64 and KVS_MAX_BUCKETS from kvscope.h.
 */
#ifndef KVSCOPE_BUCKETS_H
#define KVSCOPE_BUCKETS_H

#ifndef KVS_INLINE
#define KVS_INLINE static inline __attribute__((always_inline))
#endif

/*
 * Index of the bucket counting `ns`: the first bound >= ns, or `n` (the +Inf
 * bucket) past the last. Bounds ascend; a linear scan of at most
 * KVS_MAX_BUCKETS keeps the verifier's loop bound obvious and costs a few
 * ns for the 15 default bounds.
 */
KVS_INLINE __u32 kvs_bucket_index(const volatile __u64 *bounds, __u32 n, __u64 ns)
{
	if (n > KVS_MAX_BUCKETS)
		n = KVS_MAX_BUCKETS;
	for (__u32 i = 0; i < KVS_MAX_BUCKETS; i++) {
		if (i >= n)
			return n;
		if (ns <= bounds[i])
			return i;
	}
	return n;
}

#endif
