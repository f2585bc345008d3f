/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition format 0.0.4 into a growable buffer.
 */
#ifndef KVSCOPE_EXPO_H
#define KVSCOPE_EXPO_H

#include <stddef.h>
#include <stdint.h>

struct label {
	const char *name;
	const char *value;
};

struct expo;

struct expo *expo__new(void);
void expo__free(struct expo *e);
void expo__reset(struct expo *e);
const char *expo__data(const struct expo *e, size_t *len);
/* Nonzero once any allocation failed: the output is then incomplete. */
int expo__failed(const struct expo *e);

/* `# HELP` and `# TYPE` lines; type is "counter", "gauge", "histogram", ... */
void expo__family(struct expo *e, const char *name, const char *type, const char *help);

/*
 * `name{labels} value`; label values are escaped, made valid UTF-8 (invalid
 * bytes become U+FFFD) and cut to 256 bytes; integers print exactly.
 */
void expo__sample(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		  double value);
void expo__sample_u64(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		      uint64_t value);

/*
 * The _bucket/_sum/_count series of one histogram. `bounds` holds nbounds
 * finite upper bounds (seconds, ascending); `counts` holds nbounds + 1
 * non-cumulative counts, the last one for +Inf; _count is their total.
 */
void expo__histogram(struct expo *e, const char *name, const struct label *labels, size_t nlabels,
		     const double *bounds, size_t nbounds, const uint64_t *counts, double sum);

#endif
