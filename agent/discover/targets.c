// SPDX-License-Identifier: Apache-2.0
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "discover/targets.h"

#define ARGS_MAX (256 * 1024)

static const char *const attach_error_names[] = {
    [ATTACH_ERR_UNSUPPORTED] = "unsupported_binary",
    [ATTACH_ERR_VERSION] = "unsupported_version",
    [ATTACH_ERR_PROBE] = "probe_failed",
    [ATTACH_ERR_GONE] = "process_gone",
    [ATTACH_ERR_LIMIT] = "too_many_targets",
    [ATTACH_ERR_BUDGET] = "binary_over_budget",
};

const char *attach_error_name(enum attach_error e)
{
	return e < ATTACH_ERR_COUNT ? attach_error_names[e] : "unknown";
}

void target_table__init(struct target_table *t, int max_targets)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->max_targets =
	    max_targets > 0 && max_targets <= KVS_MAX_TARGETS ? max_targets : KVS_MAX_TARGETS;
}

void target_name_of(const char *procfs, const struct profile *p, const struct proc_ident *id,
		    char *out, size_t outlen)
{
	char *buf = malloc(ARGS_MAX);
	ssize_t n;

	out[0] = '\0';
	if (buf && p->name_flag) {
		n = procfs_read(procfs, id->pid, "cmdline", buf, ARGS_MAX);
		if (n > 0)
			procfs_parse_flag(buf, (size_t)n, p->name_flag, out, outlen);
	}
	if (buf && !out[0] && p->name_env) {
		n = procfs_read(procfs, id->pid, "environ", buf, ARGS_MAX);
		if (n > 0)
			procfs_parse_env(buf, (size_t)n, p->name_env, out, outlen);
	}
	free(buf);
	if (!out[0])
		snprintf(out, outlen, "%s-%d", id->comm, (int)id->pid);
}

/* Truncating copy: long paths are cut, never overflow. */
static void set_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static struct target *find_alive_pid(struct target_table *t, pid_t pid)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (t->slots[i].used && t->slots[i].alive && t->slots[i].pid == pid)
			return &t->slots[i];
	}
	return NULL;
}

/* The slot of `name`: its old slot when the member comes back, else a free one. */
static int slot_for(struct target_table *t, char *name, size_t namelen, pid_t pid)
{
	int free_slot = -1, used = 0;

	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct target *tg = &t->slots[i];

		if (!tg->used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		used++;
		if (strcmp(tg->name, name) != 0)
			continue;
		if (!tg->alive)
			return i;
		/* two live processes claim one name: keep them apart */
		size_t len = strlen(name);

		snprintf(name + len, namelen - len, "-%d", (int)pid);
		return slot_for(t, name, namelen, pid);
	}
	return used < t->max_targets ? free_slot : -1;
}

static bool already_reported(struct target_table *t, const struct proc_ident *id)
{
	for (int i = 0; i < t->nreported; i++) {
		if (t->reported[i].pid == id->pid && t->reported[i].start_time == id->start_time)
			return true;
	}
	int i = t->nreported < 256 ? t->nreported++ : (int)(id->pid % 256);

	t->reported[i].pid = id->pid;
	t->reported[i].start_time = id->start_time;
	return false;
}

static void report_error(struct target_table *t, const struct proc_ident *id, enum attach_error e,
			 const char *why)
{
	char pid[16];

	if (already_reported(t, id))
		return;
	snprintf(pid, sizeof(pid), "%d", (int)id->pid);
	t->attach_errors[e]++;
	log_msg(LOG_WARN, "target skipped", "pid", pid, "exe", id->exe, "reason",
		attach_error_name(e), "err", why, NULL);
}

static bool filter_allows(const struct target_filter *f, const struct proc_ident *id,
			  const char *name)
{
	if (f->npids > 0) {
		bool listed = false;

		for (int i = 0; i < f->npids; i++)
			listed |= f->pids[i] == id->pid;
		if (!listed)
			return false;
	}
	if (f->exe_glob && fnmatch(f->exe_glob, id->exe, 0) != 0)
		return false;
	return !f->name_glob || !name || fnmatch(f->name_glob, name, 0) == 0;
}

static void log_attached(const struct target *tg, int nsites)
{
	char pid[16], n[16];

	snprintf(pid, sizeof(pid), "%d", (int)tg->pid);
	snprintf(n, sizeof(n), "%d", nsites);
	log_msg(LOG_INFO, "target attached", "target", tg->name, "pid", pid, "profile",
		tg->profile->name, "version", tg->version, "sites", n, NULL);
}

static uint16_t profile_index(const struct catalog *cat, const struct profile *p)
{
	for (int i = 0; cat && i < cat->count; i++) {
		if (cat->profiles[i] == p)
			return (uint16_t)i;
	}
	return 0;
}

/* The container named by the process's cgroup path; "" for a host process. */
static void read_container_id(const char *procfs, pid_t pid, char out[CGROUP_ID_LEN + 1])
{
	char buf[4096];
	struct container_ref ref;
	ssize_t n = procfs_read(procfs, pid, "cgroup", buf, sizeof(buf));

	out[0] = '\0';
	if (n > 0 && cgroup__container_id(buf, (size_t)n, &ref) == 0)
		memcpy(out, ref.id, sizeof(ref.id));
}

static void track(struct discovery *d, const struct proc_ident *id, const struct binary *b)
{
	struct target_table *t = d->table;
	bool attached = false;
	char name[64], err[512], container_id[CGROUP_ID_LEN + 1];
	int slot;

	target_name_of(d->procfs, b->profile, id, name, sizeof(name));
	if (!filter_allows(&d->filter, id, name))
		return;
	slot = slot_for(t, name, sizeof(name), id->pid);
	if (slot < 0) {
		report_error(t, id, ATTACH_ERR_LIMIT, "--max-targets reached");
		return;
	}
	if (b->verdict != BINARY_READY) {
		report_error(t, id,
			     b->unsupported_version ? ATTACH_ERR_VERSION : ATTACH_ERR_UNSUPPORTED,
			     b->reason);
	} else if (attach__target(d->bpf, (uint16_t)slot, profile_index(d->catalog, b->profile),
				  id->pid, id->exe_link, b, err, sizeof(err))) {
		bool gone = !procfs_alive(d->procfs, id->pid, id->start_time);

		report_error(t, id, gone ? ATTACH_ERR_GONE : ATTACH_ERR_PROBE, err);
		if (gone)
			return;
	} else {
		attached = true;
	}
	/* an unattached store process is still listed, with attached 0 */
	struct target *tg = &t->slots[slot];

	read_container_id(d->procfs, id->pid, container_id);
	pthread_mutex_lock(&t->lock);
	tg->used = true;
	set_str(tg->name, sizeof(tg->name), name);
	tg->profile = b->profile;
	set_str(tg->version, sizeof(tg->version), b->version);
	set_str(tg->exe, sizeof(tg->exe), id->exe);
	set_str(tg->container_id, sizeof(tg->container_id), container_id);
	tg->pid = id->pid;
	tg->start_time = id->start_time;
	tg->alive = true;
	tg->attached = attached;
	pthread_mutex_unlock(&t->lock);
	if (attached)
		log_attached(tg, b->res.nsites);
}

static int consider_pid(pid_t pid, void *ctx)
{
	struct discovery *d = ctx;
	struct proc_ident id;
	const struct binary *b;

	if (pid == d->self || find_alive_pid(d->table, pid))
		return 0;
	if (d->filter.npids > 0 &&
	    !filter_allows(&d->filter, &(struct proc_ident){.pid = pid}, NULL))
		return 0;
	if (procfs_ident(d->procfs, pid, &id))
		return 0;
	b = binary_cache__get(d->binaries, id.exe_link, id.exe_dev, id.exe_ino);
	/* a refused binary is counted by the cache, once; it has no profile */
	if (b && b->verdict != BINARY_NOT_A_STORE && b->verdict != BINARY_REFUSED)
		track(d, &id, b);
	return 0;
}

static void notice_exits(struct discovery *d)
{
	struct target_table *t = d->table;

	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct target *tg = &t->slots[i];
		char pid[16];

		if (!tg->used || !tg->alive || procfs_alive(d->procfs, tg->pid, tg->start_time))
			continue;
		pthread_mutex_lock(&t->lock);
		if (tg->attached)
			t->stale_requests += (uint64_t)attach__untarget(d->bpf, tg->pid);
		tg->attached = false;
		tg->alive = false;
		pthread_mutex_unlock(&t->lock);
		snprintf(pid, sizeof(pid), "%d", (int)tg->pid);
		log_msg(LOG_INFO, "target exited", "target", tg->name, "pid", pid, NULL);
	}
}

void discovery__scan(struct discovery *d)
{
	notice_exits(d);
	procfs_each_pid(d->procfs, consider_pid, d);
	/* the binary cache logs each refusal once and counts it once */
	d->table->attach_errors[ATTACH_ERR_BUDGET] = binary_cache__refused(d->binaries);
}

void discovery__sweep(struct discovery *d, double max_age_s)
{
	int remaining = 0;
	int dropped = attach__sweep(d->bpf, (uint64_t)(max_age_s * 1e9), &remaining);

	pthread_mutex_lock(&d->table->lock);
	d->table->stale_requests += (uint64_t)(dropped > 0 ? dropped : 0);
	d->table->inflight_now = (uint64_t)remaining;
	pthread_mutex_unlock(&d->table->lock);
}

void discovery__init(struct discovery *d, struct target_table *t, const struct catalog *cat,
		     struct binary_cache *bc, struct attach_ctx *bpf, const char *procfs,
		     const struct target_filter *filter)
{
	*d = (struct discovery){.table = t,
				.catalog = cat,
				.binaries = bc,
				.bpf = bpf,
				.procfs = procfs,
				.filter = *filter,
				.self = getpid()};
}
