// SPDX-License-Identifier: Apache-2.0
/*
 * Dropping capabilities with libcap. Measured on Linux 6.18 as root, with
 * the BPF objects already loaded (docs in caps.h; the evidence is in
 * caps__required's comment).
 */
#include "common/caps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/*
 * After loading, attaching to a target found later needs:
 *  - CAP_SYS_ADMIN: perf_event_open of the uprobe PMU event. On Linux 6.18
 *    it was refused (EACCES) to a process holding CAP_BPF, CAP_PERFMON,
 *    CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, and granted once CAP_SYS_ADMIN
 *    was added; kernels that let CAP_PERFMON create uprobe events need
 *    only that, and CAP_BPF/CAP_PERFMON are kept for them;
 *  - CAP_SYS_PTRACE: readlink and open of /proc/PID/exe and reading
 *    /proc/PID/maps of another user's process;
 *  - CAP_DAC_READ_SEARCH: opening a target binary its owner keeps to
 *    itself (mode 0700), even through /proc/PID/exe.
 * Not needed: CAP_SYS_RESOURCE (BPF memory is charged to the cgroup since
 * Linux 5.11, not to RLIMIT_MEMLOCK), and everything else.
 */
static const cap_value_t required[] = {CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE,
				       CAP_DAC_READ_SEARCH};

const cap_value_t *caps__required(int *n)
{
	*n = (int)(sizeof(required) / sizeof(required[0]));
	return required;
}

static bool kept(const cap_value_t *keep, int n, cap_value_t cap)
{
	for (int i = 0; i < n; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

/*
 * Needs CAP_SETPCAP, so it runs while the effective set still has it. A
 * capability already out of the bounding set is skipped: a container started
 * with every capability dropped but the required ones has nothing more to
 * drop, and no CAP_SETPCAP to drop it with (EPERM even for an absent one).
 */
static int drop_bounding(const cap_value_t *keep, int n, char *err, size_t errlen)
{
	for (cap_value_t cap = 0; cap < (cap_value_t)cap_max_bits(); cap++) {
		if (kept(keep, n, cap) || CAP_IS_SUPPORTED(cap) != 1 || cap_get_bound(cap) != 1)
			continue;
		if (cap_drop_bound(cap) && errno != EINVAL) {
			snprintf(err, errlen, "dropping %s from the bounding set: %s",
				 cap_to_name(cap), strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Effective and permitted: `keep` as far as held; inheritable: nothing. */
static int set_process_caps(const cap_value_t *keep, int n, char *err, size_t errlen)
{
	cap_t now = cap_get_proc(), want = cap_init();
	int rc = -1;

	if (!now || !want) {
		snprintf(err, errlen, "reading capabilities: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		cap_flag_value_t held = CAP_CLEAR;

		if (cap_get_flag(now, keep[i], CAP_PERMITTED, &held) || held != CAP_SET)
			continue;
		cap_set_flag(want, CAP_EFFECTIVE, 1, &keep[i], CAP_SET);
		cap_set_flag(want, CAP_PERMITTED, 1, &keep[i], CAP_SET);
	}
	if (cap_set_proc(want)) {
		snprintf(err, errlen, "setting capabilities: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	cap_free(now);
	cap_free(want);
	return rc;
}

int caps__drop_to(const cap_value_t *keep, int n, char *err, size_t errlen)
{
	if (n < 0 || (n > 0 && !keep)) {
		snprintf(err, errlen, "capabilities: bad list to keep");
		return -1;
	}
	/* No exec'd program regains what is dropped here, setuid or not. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (drop_bounding(keep, n, err, errlen))
		return -1;
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient()) {
		snprintf(err, errlen, "clearing ambient capabilities: %s", strerror(errno));
		return -1;
	}
	return set_process_caps(keep, n, err, errlen);
}

int caps__drop_thread(char *err, size_t errlen)
{
	cap_t none = cap_init();
	int rc;

	if (!none) {
		snprintf(err, errlen, "capabilities: %s", strerror(errno));
		return -1;
	}
	/* capset(2) is per thread: libcap without libpsx leaves the others alone */
	rc = cap_set_proc(none);
	if (rc)
		snprintf(err, errlen, "dropping this thread's capabilities: %s", strerror(errno));
	cap_free(none);
	return rc ? -1 : 0;
}
