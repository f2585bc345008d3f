// SPDX-License-Identifier: Apache-2.0
/*
 * Accept-Encoding negotiation (RFC 9110 section 12.5.3) and gzip with zlib.
 */
#include "http/gzip.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* zlib's windowBits for a gzip wrapper instead of a zlib one. */
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL	 8
/* Scrapes favour speed: level 1 already shrinks expositions about tenfold. */
#define GZIP_LEVEL 1

enum coding_verdict { CODING_UNLISTED, CODING_REFUSED, CODING_ACCEPTED };

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* [s, s+len) with surrounding blanks removed. */
static void trim(const char **s, size_t *len)
{
	while (*len && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_ows((*s)[*len - 1]))
		(*len)--;
}

static int token_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]: is it a valid nonzero? */
static int qvalue_nonzero(const char *s, size_t len)
{
	size_t i;
	int nonzero = len > 0 && s[0] == '1';

	if (len == 0 || (s[0] != '0' && s[0] != '1'))
		return 0;
	if (len == 1)
		return nonzero;
	if (s[1] != '.' || len > 5)
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || (s[0] == '1' && s[i] != '0'))
			return 0;
		if (s[i] != '0')
			nonzero = 1;
	}
	return nonzero;
}

/* Parameters after a coding, ";q=0.5;x=y": does its q admit the coding? */
static int params_accept(const char *p, size_t len)
{
	int accepted = 1;

	while (len) {
		const char *semi = memchr(p, ';', len);
		size_t plen = semi ? (size_t)(semi - p) : len;
		const char *param = p, *eq;
		size_t n = plen;

		trim(&param, &n);
		eq = memchr(param, '=', n);
		if (eq && token_is(param, (size_t)(eq - param), "q")) {
			const char *val = eq + 1;
			size_t vlen = n - (size_t)(eq + 1 - param);

			trim(&val, &vlen);
			accepted = qvalue_nonzero(val, vlen);
		}
		p += plen + (semi ? 1 : 0);
		len -= plen + (semi ? 1 : 0);
	}
	return accepted;
}

/* Records what one list element says about gzip and about "*". */
static void classify_element(const char *s, size_t len, enum coding_verdict *gzip,
			     enum coding_verdict *star)
{
	const char *semi = memchr(s, ';', len);
	size_t clen = semi ? (size_t)(semi - s) : len;
	const char *coding = s;
	enum coding_verdict verdict;

	trim(&coding, &clen);
	verdict = semi && !params_accept(semi + 1, len - (size_t)(semi + 1 - s)) ? CODING_REFUSED
										 : CODING_ACCEPTED;
	if (token_is(coding, clen, "gzip") || token_is(coding, clen, "x-gzip"))
		*gzip = verdict;
	else if (token_is(coding, clen, "*"))
		*star = verdict;
}

int http_accepts_gzip(const char *accept_encoding)
{
	enum coding_verdict gzip = CODING_UNLISTED, star = CODING_UNLISTED;
	const char *p = accept_encoding;

	if (!p)
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		classify_element(p, len, &gzip, &star);
		if (!comma)
			break;
		p = comma + 1;
	}
	if (gzip != CODING_UNLISTED)
		return gzip == CODING_ACCEPTED;
	return star == CODING_ACCEPTED;
}

int http_gzip(const void *data, size_t len, void **out, size_t *outlen)
{
	z_stream zs = {0};
	unsigned char *buf;
	uLong bound;

	/* One deflate call takes at most UINT_MAX bytes in and out. */
	if (len > UINT_MAX / 2)
		return -1;
	if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, (uLong)len);
	buf = malloc(bound);
	if (!buf)
		goto err_end;
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		goto err_free;
	*outlen = zs.total_out;
	*out = buf;
	deflateEnd(&zs);
	return 0;
err_free:
	free(buf);
err_end:
	deflateEnd(&zs);
	return -1;
}
