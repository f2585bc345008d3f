// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <unistd.h>

#include "metrics/collector_process.h"
#include "metrics/selfstats.h"

struct process_usage {
	bool have_stat, have_fds;
	struct proc_stat stat;
	uint64_t fds;
};

/* Only the process the target was found as: a reused pid reads as nothing. */
static void read_usage(const char *procfs, const struct target *tg, struct process_usage *u)
{
	char who[16];

	snprintf(who, sizeof(who), "%d", (int)tg->pid);
	u->have_stat = selfstats__read_stat(procfs, who, &u->stat) == 0 &&
		       u->stat.starttime_ticks == tg->start_time;
	u->have_fds = u->have_stat && selfstats__count_fds(procfs, who, &u->fds) == 0;
}

static bool shown(const struct target *tg)
{
	return tg->used && tg->profile && tg->alive;
}

void collector_process__write(const struct collector *c, struct expo *out)
{
	static struct process_usage usage[KVS_MAX_TARGETS]; /* scrapes hold the table lock */
	const char *procfs = c->procfs ? c->procfs : "/proc";
	double ticks_per_s = (double)sysconf(_SC_CLK_TCK);
	double page_size = (double)sysconf(_SC_PAGESIZE);
	const struct target *slots = c->targets->slots;

	for (int i = 0; i < KVS_MAX_TARGETS; i++)
		if (shown(&slots[i]))
			read_usage(procfs, &slots[i], &usage[i]);
	expo__family(out, "kvstore_process_cpu_seconds_total", "counter",
		     "User and system CPU time the store process spent, in seconds.");
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct label l[] = {{"target", slots[i].name}};

		if (shown(&slots[i]) && usage[i].have_stat && ticks_per_s > 0)
			expo__sample(
			    out, "kvstore_process_cpu_seconds_total", l, 1,
			    (double)(usage[i].stat.utime_ticks + usage[i].stat.stime_ticks) /
				ticks_per_s);
	}
	expo__family(out, "kvstore_process_resident_memory_bytes", "gauge",
		     "Resident memory of the store process, in bytes.");
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct label l[] = {{"target", slots[i].name}};

		if (shown(&slots[i]) && usage[i].have_stat)
			expo__sample(out, "kvstore_process_resident_memory_bytes", l, 1,
				     (double)usage[i].stat.rss_pages * page_size);
	}
	expo__family(out, "kvstore_process_open_fds", "gauge",
		     "File descriptors the store process holds open.");
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct label l[] = {{"target", slots[i].name}};

		if (shown(&slots[i]) && usage[i].have_fds)
			expo__sample_u64(out, "kvstore_process_open_fds", l, 1, usage[i].fds);
	}
}
