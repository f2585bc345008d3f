/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the libFuzzer targets. Inputs are copied into buffers
 * of exactly the size the parser is told, so that a read one byte past the
 * end lands in an ASan redzone instead of in libFuzzer's own padding.
 */
#ifndef KVSCOPE_FUZZ_UTIL_H
#define KVSCOPE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a C string: stops at the first NUL, as a C caller would. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* An exact-size copy: no terminator, no slack. */
static inline void *fuzz_copy(const uint8_t *data, size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		abort();
	if (size)
		memcpy(p, data, size);
	return p;
}

/* Little-endian integer from the first n (<= 8) bytes; missing bytes are 0. */
static inline uint64_t fuzz_take_le(const uint8_t **data, size_t *size, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && *size; i++, (*data)++, (*size)--)
		v |= (uint64_t) * *data << (8 * i);
	return v;
}

#endif
