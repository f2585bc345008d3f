// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "common/utf8.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * Length of the valid character at s (n bytes available), or 0 when the
 * bytes there do not start one: overlong forms, surrogates and code points
 * past U+10FFFF are invalid, as RFC 3629 and Go's decoder say.
 */
static size_t char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = char_len(p + i, len - i);

		if (!n)
			return false;
		i += n;
	}
	return true;
}

size_t utf8_clean(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t len = strlen(in), w = 0;
	bool in_bad_run = false;

	for (size_t i = 0; i < len;) {
		size_t n = char_len(p + i, len - i);
		const char *src = n ? in + i : REPLACEMENT;
		size_t srclen = n ? n : 3;

		i += n ? n : 1;
		if (!n && in_bad_run)
			continue; /* one replacement per run of invalid bytes */
		in_bad_run = !n;
		if (w + srclen >= outlen)
			break;
		memcpy(out + w, src, srclen);
		w += srclen;
	}
	out[w] = '\0';
	return w;
}

size_t utf8_prefix(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strnlen(s, max + 4), i = 0;

	while (i < len) {
		size_t n = char_len(p + i, len - i);

		if (!n)
			n = 1; /* not valid UTF-8: cut anywhere */
		if (i + n > max)
			break;
		i += n;
	}
	return i;
}
