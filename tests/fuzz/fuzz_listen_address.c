// SPDX-License-Identifier: Apache-2.0
/*
 * --web.listen-address values: "host:port", ":port", "[v6]:port". The first
 * input byte sets the size of the host buffer, to reach the truncation paths.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t hostlen = (size_t)fuzz_take_le(&data, &size, 1) % 80 + 1;
	char *addr = fuzz_cstring(data, size);
	char *host = malloc(hostlen);
	unsigned port = 0;

	if (!host)
		abort();
	if (http_parse_listen_address(addr, host, hostlen, &port) == 0) {
		if (!memchr(host, '\0', hostlen) || port > 65535 || strlen(host) > strlen(addr))
			__builtin_trap();
	}
	free(host);
	free(addr);
	return 0;
}
