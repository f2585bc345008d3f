// SPDX-License-Identifier: Apache-2.0
/*
 * The Accept-Encoding header a scraper sends, and the gzip body built for it:
 * whatever the header, negotiation answers; whatever the body, it inflates
 * back to itself.
 */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "http/gzip.h"

static void check_round_trip(const uint8_t *data, size_t size)
{
	void *gz = NULL;
	size_t gzlen = 0;
	unsigned char *back = malloc(size + 1);
	z_stream zs = {0};

	if (!back)
		abort();
	if (http_gzip(data, size, &gz, &gzlen) != 0)
		__builtin_trap();
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		abort();
	zs.next_in = gz;
	zs.avail_in = (uInt)gzlen;
	zs.next_out = back;
	zs.avail_out = (uInt)size + 1;
	if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out != size ||
	    memcmp(back, data, size) != 0)
		__builtin_trap();
	inflateEnd(&zs);
	free(back);
	free(gz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = fuzz_cstring(data, size);

	http_accepts_gzip(header);
	free(header);
	check_round_trip(data, size);
	return 0;
}
