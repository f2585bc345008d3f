// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's own /proc/self/stat, /proc/stat and /proc/self/limits, which a
 * --path.procfs pointing elsewhere makes untrusted text.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "metrics/selfstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	struct proc_stat st;
	uint64_t value;

	selfstats_parse_stat(text, &st);
	selfstats_parse_btime(text, &value);
	selfstats_parse_max_fds(text, &value);
	free(text);
	return 0;
}
