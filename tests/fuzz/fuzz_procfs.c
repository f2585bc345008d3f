// SPDX-License-Identifier: Apache-2.0
/*
 * What the agent reads about other processes: /proc/PID/cmdline and environ
 * (NUL-separated, not NUL-terminated when the process rewrote them) and
 * /proc/PID/stat, whose comm field may hold any bytes, ')' included.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "discover/procfs.h"

static void check_value(bool found, const char *out, size_t outlen)
{
	if (found && !memchr(out, '\0', outlen))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t outlen = (size_t)fuzz_take_le(&data, &size, 1) % 40 + 1;
	char *block = fuzz_copy(data, size);
	char *text = fuzz_cstring(data, size);
	char *out = malloc(outlen);
	char comm[16];
	uint64_t start_time;

	if (!out)
		abort();
	check_value(procfs_parse_flag(block, size, "--name", out, outlen), out, outlen);
	check_value(procfs_parse_flag(block, size, "-n", out, outlen), out, outlen);
	check_value(procfs_parse_env(block, size, "ETCD_NAME", out, outlen), out, outlen);
	if (procfs_parse_stat(text, comm, sizeof(comm), &start_time) == 0 &&
	    !memchr(comm, '\0', sizeof(comm)))
		__builtin_trap();
	free(out);
	free(text);
	free(block);
	return 0;
}
