/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Valid UTF-8 out of any bytes: what a tenant puts in its argv or its
 * binary reaches label values, and Prometheus rejects a whole scrape for
 * one invalid byte.
 */
#ifndef KVSCOPE_UTF8_H
#define KVSCOPE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when the first len bytes of s are valid UTF-8 (as Go's utf8.Valid). */
bool utf8_valid(const char *s, size_t len);

/*
 * Copies the C string `in` to out (outlen > 0), each maximal run of invalid
 * bytes replaced by U+FFFD, cut at a character boundary so that it fits with
 * its NUL. Returns the length written.
 */
size_t utf8_clean(const char *in, char *out, size_t outlen);

/* The longest prefix of valid UTF-8 `s` of at most max bytes that ends on a character. */
size_t utf8_prefix(const char *s, size_t max);

#endif
