/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content negotiation and compression for the metrics endpoint.
 */
#ifndef KVSCOPE_HTTP_GZIP_H
#define KVSCOPE_HTTP_GZIP_H

#include <stddef.h>

/*
 * Nonzero when an Accept-Encoding value admits gzip: "gzip" (or "x-gzip")
 * listed with a nonzero q, or "*" with a nonzero q while gzip itself is not
 * listed. NULL (no header) admits only identity.
 */
int http_accepts_gzip(const char *accept_encoding);

/* gzip of `data` into a new malloc'd buffer `*out`; 0, or -1. */
int http_gzip(const void *data, size_t len, void **out, size_t *outlen);

#endif
