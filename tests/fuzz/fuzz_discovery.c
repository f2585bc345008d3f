// SPDX-License-Identifier: Apache-2.0
/*
 * What discovery reads about other processes and keeps: /proc/PID/status
 * and /proc/PID/cgroup text (any bytes), the cgroup scope of a target's
 * identity, the UTF-8 cleaning every target name and label value goes
 * through, and the set of pids the safety scan skips, under any sequence of
 * adds, removes and sweeps (checked against a plain array).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "common/utf8.h"
#include "discover/pidset.h"
#include "discover/policy.h"
#include "discover/procfs.h"

#define MODEL_PIDS 64

static void check_text(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	size_t outlen = size % 70 + 1;
	char *out = malloc(outlen);
	uid_t r, e;
	size_t n;

	if (!out)
		abort();
	procfs_parse_uids(text, &r, &e);
	if (procfs_parse_cgroup(text, out, outlen) == 0) {
		if (!memchr(out, '\0', outlen))
			__builtin_trap();
		policy__cgroup_scope(out, out, outlen);
	}
	n = utf8_clean(text, out, outlen);
	if (n >= outlen || strlen(out) != n || !utf8_valid(out, n))
		__builtin_trap();
	if (utf8_prefix(out, outlen / 2) > outlen / 2)
		__builtin_trap();
	free(out);
	free(text);
}

/* The set against a model: pids 1..MODEL_PIDS, with a scan mark each. */
static void check_pidset(const uint8_t *data, size_t size)
{
	struct pidset s;
	bool in[MODEL_PIDS + 1] = {0}, met[MODEL_PIDS + 1] = {0};

	pidset__init(&s);
	while (size >= 2) {
		unsigned op = (unsigned)fuzz_take_le(&data, &size, 1) % 5;
		pid_t pid = (pid_t)(fuzz_take_le(&data, &size, 1) % MODEL_PIDS) + 1;

		if (op == 0 && pidset__add(&s, pid) == 0) {
			in[pid] = met[pid] = true;
		} else if (op == 1) {
			pidset__remove(&s, pid);
			in[pid] = false;
		} else if (op == 2) {
			if (pidset__mark(&s, pid) != in[pid])
				__builtin_trap();
			met[pid] = in[pid];
		} else if (op == 3) {
			pidset__begin(&s);
			memset(met, 0, sizeof(met));
		} else {
			pidset__sweep(&s);
			for (int p = 1; p <= MODEL_PIDS; p++)
				in[p] = in[p] && met[p];
		}
	}
	size_t count = 0;

	for (int p = 1; p <= MODEL_PIDS; p++) {
		count += in[p];
		if (pidset__mark(&s, p) != in[p])
			__builtin_trap();
	}
	if (count != s.count)
		__builtin_trap();
	pidset__free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_text(data, size);
	check_pidset(data, size);
	return 0;
}
