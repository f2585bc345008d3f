// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "common/log.h"
#include "discover/targets.h"

#define ARGS_MAX (256 * 1024)
/*
 * Every this many scans the seen pids are forgotten and looked at once more:
 * a pid reused between two scans by a process that never exec'd (a forked
 * daemon) is then found too. One minute with events, 7.5 s when polling.
 */
#define SEEN_REFRESH_SCANS 30

static const char *const attach_error_names[] = {
    [ATTACH_ERR_UNSUPPORTED] = "unsupported_binary",
    [ATTACH_ERR_VERSION] = "unsupported_version",
    [ATTACH_ERR_PROBE] = "probe_failed",
    [ATTACH_ERR_GONE] = "process_gone",
    [ATTACH_ERR_LIMIT] = "too_many_targets",
    [ATTACH_ERR_NAME] = "name_conflict",
    [ATTACH_ERR_BUDGET] = "binary_over_budget",
};

const char *attach_error_name(enum attach_error e)
{
	return e < ATTACH_ERR_COUNT ? attach_error_names[e] : "unknown";
}

double discovery_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bpf_ktime_get_ns()'s clock, which stamps the events. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	pthread_mutex_lock(&t->lock);
	t->attach_errors[e]++;
	pthread_mutex_unlock(&t->lock);
	log_msg(LOG_WARN, "target skipped", "pid", pid, "exe", id->exe, "reason",
		attach_error_name(e), "err", why, NULL);
}

static void log_attached(const struct target *tg, int nsites, const char *asked)
{
	char pid[16], n[16], uid[16];

	snprintf(pid, sizeof(pid), "%d", (int)tg->pid);
	snprintf(n, sizeof(n), "%d", nsites);
	snprintf(uid, sizeof(uid), "%u", (unsigned)tg->uid);
	log_msg(LOG_INFO, "target attached", "target", tg->name, "pid", pid, "profile",
		tg->profile->name, "version", tg->version, "sites", n, "uid", uid, NULL);
	if (strcmp(tg->name, asked) != 0)
		log_msg(LOG_WARN, "target name held by another process or identity", "asked", asked,
			"target", tg->name, "pid", pid, "uid", uid, "exe", tg->exe, NULL);
}

static uint16_t profile_index(const struct catalog *cat, const struct profile *p)
{
	for (int i = 0; cat && i < cat->count; i++) {
		if (cat->profiles[i] == p)
			return (uint16_t)i;
	}
	return 0;
}

/* The slot for a store process the policy admits, or -1 (reported). */
static int claim_slot(struct discovery *d, const struct proc_ident *id,
		      const struct target_identity *ident, const char *asked, char *name)
{
	int slot = -1;

	switch (slots__claim(d->table, asked, ident, id->pid, &slot, name)) {
	case CLAIM_NEW:
	case CLAIM_RESUMED:
		return slot;
	case CLAIM_FULL:
		report_error(d->table, id, ATTACH_ERR_LIMIT, "--max-targets reached");
		return -1;
	case CLAIM_NAME_TAKEN:
		report_error(d->table, id, ATTACH_ERR_NAME,
			     "its name and its name-PID are held by other processes");
		return -1;
	}
	return -1;
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

/* Attaches, then lists the process in its slot; an unattached store is listed too. */
static void occupy(struct discovery *d, int slot, const struct proc_ident *id,
		   const struct target_identity *ident, const struct binary *b, const char *name,
		   const char *asked, uint64_t seen_ns)
{
	struct target_table *t = d->table;
	bool attached = false;
	char err[512];

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
	struct target *tg = &t->slots[slot];

	pthread_mutex_lock(&t->lock);
	if (slots__occupy(t, slot, name, ident, id->pid, id->start_time) == 0) {
		tg->profile = b->profile;
		tg->seen_ns = seen_ns;
		snprintf(tg->version, sizeof(tg->version), "%s", b->version);
		read_container_id(d->procfs, id->pid, tg->container_id);
		tg->attached = attached;
	} else if (attached) {
		attach__untarget(d->bpf, id->pid); /* out of memory: not half listed */
		attached = false;
	}
	pthread_mutex_unlock(&t->lock);
	if (tg->used && tg->pid == id->pid && d->events)
		procevents__track(d->events, id->pid, true);
	if (attached)
		log_attached(tg, b->res.nsites, asked);
}

static void track(struct discovery *d, const struct proc_ident *id, const struct binary *b,
		  uint64_t seen_ns)
{
	char raw[TARGET_NAME_LEN], asked[TARGET_NAME_LEN], name[TARGET_NAME_LEN];
	char scope[sizeof(((struct proc_owner *)0)->cgroup)];
	struct proc_owner owner;
	int slot;

	target_name_of(d->procfs, b->profile, id, raw, sizeof(raw));
	slots__name(raw, asked);
	if (!policy__admits_name(&d->policy, asked) || procfs_owner(d->procfs, id->pid, &owner) ||
	    !policy__admits_owner(&d->policy, owner.uid, owner.euid, owner.cgroup))
		return;
	policy__cgroup_scope(owner.cgroup, scope, sizeof(scope));
	struct target_identity ident = {.uid = owner.uid, .exe = id->exe, .cgroup = scope};

	slot = claim_slot(d, id, &ident, asked, name);
	if (slot >= 0)
		occupy(d, slot, id, &ident, b, name, asked, seen_ns);
}

/* A child a target forked that has not exec'd: part of its parent, not a new store. */
static bool fork_of_target(const struct discovery *d, const struct proc_ident *id)
{
	int parent = slots__find_alive(d->table, id->ppid);

	return parent >= 0 && d->table->slots[parent].exe &&
	       strcmp(d->table->slots[parent].exe, id->exe) == 0;
}

/*
 * The process of an exec event is gone already (a /bin/true in a loop):
 * examine the file it exec'd through its parent's root and cwd, and if that
 * is the very file the kernel named and no store, its execs send nothing
 * from now on.
 */
static void ignore_if_no_store(struct discovery *d, const struct kvs_proc_event *e)
{
	char path[KVS_EXEC_PATH_MAX + 64];
	const struct binary *b;
	struct stat st;

	if (!d->events || !e->ppid || !e->path[0] || !memchr(e->path, '\0', sizeof(e->path)))
		return;
	snprintf(path, sizeof(path), "%s/%u/%s/%s", d->procfs, (unsigned)e->ppid,
		 e->path[0] == '/' ? "root" : "cwd", e->path + (e->path[0] == '/'));
	if (stat(path, &st) || !S_ISREG(st.st_mode) ||
	    !procevents__same_file(&e->exe, st.st_dev, st.st_ino))
		return;
	b = binary_cache__get(d->binaries, path, st.st_dev, st.st_ino);
	if (b && b->verdict == BINARY_NOT_A_STORE)
		procevents__ignore(d->events, &e->exe);
}

/*
 * Looks at one process; `e` is its exec event (NULL from the /proc scan).
 * An executable found to be no store is ignored by the kernel side from
 * then on, but only when the file examined is the one the event named.
 */
static void consider(struct discovery *d, pid_t pid, const struct kvs_proc_event *e)
{
	uint64_t seen_ns = now_ns(); /* before /proc is read: a later exec is news */
	const struct kvs_exe_key *exe = e ? &e->exe : NULL;
	struct proc_ident id;
	const struct binary *b;

	pidset__add(&d->seen, pid);
	if (pid == d->self || slots__find_alive(d->table, pid) >= 0 ||
	    !policy__admits_pid(&d->policy, pid))
		return;
	if (procfs_ident(d->procfs, pid, &id)) {
		if (e)
			ignore_if_no_store(d, e);
		return;
	}
	bool same_file = exe && d->events && procevents__same_file(exe, id.exe_dev, id.exe_ino);

	if (!policy__admits_exe(&d->policy, id.exe)) {
		if (same_file)
			procevents__ignore(d->events, exe);
		return;
	}
	if (!exe && fork_of_target(d, &id))
		return;
	b = binary_cache__get(d->binaries, id.exe_link, id.exe_dev, id.exe_ino);
	if (b && b->verdict == BINARY_NOT_A_STORE && same_file)
		procevents__ignore(d->events, exe);
	/* a refused binary is counted by the cache, once; it has no profile */
	if (b && b->verdict != BINARY_NOT_A_STORE && b->verdict != BINARY_REFUSED)
		track(d, &id, b, seen_ns);
}

/* The target in `slot` is gone: stop counting its pid; its series stay until reclaimed. */
static void let_go(struct discovery *d, int slot)
{
	struct target_table *t = d->table;
	struct target *tg = &t->slots[slot];
	char pid[16];

	pthread_mutex_lock(&t->lock);
	if (tg->attached)
		t->stale_requests += (uint64_t)attach__untarget(d->bpf, tg->pid);
	slots__gone(t, slot, discovery_now());
	pthread_mutex_unlock(&t->lock);
	if (d->events)
		procevents__track(d->events, tg->pid, false);
	pidset__remove(&d->seen, tg->pid); /* whoever gets the pid next gets a look */
	snprintf(pid, sizeof(pid), "%d", (int)tg->pid);
	log_msg(LOG_INFO, "target exited", "target", tg->name, "pid", pid, NULL);
}

static void notice_exits(struct discovery *d)
{
	struct target_table *t = d->table;

	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		struct target *tg = &t->slots[i];

		if (tg->used && tg->alive && !procfs_alive(d->procfs, tg->pid, tg->start_time))
			let_go(d, i);
	}
}

/*
 * An event older than the target's look at /proc tells nothing new: the
 * scan found the process after it exec'd, or found a new process under a
 * pid whose old owner's exit is still queued.
 */
static bool stale_for_target(const struct discovery *d, int slot, uint64_t ts_ns)
{
	return slot >= 0 && ts_ns && ts_ns < d->table->slots[slot].seen_ns;
}

void discovery__exec(struct discovery *d, const struct kvs_proc_event *e)
{
	pid_t pid = (pid_t)e->pid;
	int slot = slots__find_alive(d->table, pid);

	if (stale_for_target(d, slot, e->ts_ns))
		return;
	if (slot >= 0)
		let_go(d, slot); /* the target now runs something else */
	consider(d, pid, e);
}

void discovery__exit(struct discovery *d, pid_t pid, uint64_t ts_ns)
{
	int slot = slots__find_alive(d->table, pid);

	if (stale_for_target(d, slot, ts_ns))
		return;
	if (slot >= 0)
		let_go(d, slot);
	pidset__remove(&d->seen, pid);
}

static int scan_pid(pid_t pid, void *ctx)
{
	struct discovery *d = ctx;

	if (!pidset__mark(&d->seen, pid))
		consider(d, pid, NULL);
	return 0;
}

void discovery__scan(struct discovery *d)
{
	uint64_t lost = d->events ? procevents__lost(d->events) : 0;

	notice_exits(d);
	/* an exec may be among lost events: look at every pid again */
	if (lost != d->lost_seen || ++d->scans % SEEN_REFRESH_SCANS == 0)
		pidset__clear(&d->seen);
	d->lost_seen = lost;
	pidset__begin(&d->seen);
	if (procfs_each_pid(d->procfs, scan_pid, d) == 0)
		pidset__sweep(&d->seen);
	/* the binary cache logs each refusal once and counts it once */
	d->table->attach_errors[ATTACH_ERR_BUDGET] = binary_cache__refused(d->binaries);
}

static void on_event(void *ctx, const struct kvs_proc_event *e)
{
	struct discovery *d = ctx;

	if (e->kind == KVS_PROC_EXEC)
		discovery__exec(d, e);
	else if (e->kind == KVS_PROC_EXIT)
		discovery__exit(d, (pid_t)e->pid, e->ts_ns);
}

int discovery__wait_events(struct discovery *d, int timeout_ms)
{
	return d->events ? procevents__poll(d->events, timeout_ms, on_event, d) : -1;
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

/* Deletes the entries of `slot` from a BPF hash whose keys start with the __u16 target. */
static void forget_entries(int fd, size_t key_size, uint16_t slot)
{
	unsigned char key[64], next[64];
	void *prev = NULL;

	if (fd < 0 || key_size > sizeof(key))
		return;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		uint16_t target;

		memcpy(&target, key, sizeof(target));
		if (target == slot && bpf_map_delete_elem(fd, key) == 0)
			continue; /* a deleted `prev` restarts the walk from the top */
		prev = key;
	}
}

/* A reclaimed slot starts from zero for whoever gets it next. */
static void forget_slot_counters(struct discovery *d, int slot)
{
	struct bpf_maps m;

	if (!d->bpf)
		return;
	attach__maps(d->bpf, &m);
	forget_entries(m.stats_fd, sizeof(struct kvs_stat_key), (uint16_t)slot);
	forget_entries(m.gauges_fd, sizeof(struct kvs_gauge_key), (uint16_t)slot);
	if (d->disk)
		disk__forget_target(d->disk, (uint16_t)slot);
}

int discovery__reclaim(struct discovery *d, double now, double after)
{
	struct target_table *t = d->table;
	int n = 0, slot;

	while ((slot = slots__expired(t, now, after)) >= 0) {
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", (int)t->slots[slot].pid);
		log_msg(LOG_INFO, "target reclaimed", "target", t->slots[slot].name, "pid", pid,
			NULL);
		pthread_mutex_lock(&t->lock);
		forget_slot_counters(d, slot);
		slots__release(t, slot);
		t->reclaimed++;
		pthread_mutex_unlock(&t->lock);
		n++;
	}
	if (n)
		pidset__clear(&d->seen); /* a process refused for want of a slot gets a look */
	return n;
}

void discovery__init(struct discovery *d, struct target_table *t, const struct catalog *cat,
		     struct binary_cache *bc, struct attach_ctx *bpf, const char *procfs,
		     const struct target_policy *policy)
{
	*d = (struct discovery){.table = t,
				.catalog = cat,
				.binaries = bc,
				.bpf = bpf,
				.procfs = procfs,
				.policy = *policy,
				.self = getpid()};
	pidset__init(&d->seen);
}

void discovery__close(struct discovery *d)
{
	pidset__free(&d->seen);
}

void discovery__set_events(struct discovery *d, struct procevents *events)
{
	d->events = events;
}

void discovery__set_disk(struct discovery *d, struct disk_ctx *disk)
{
	d->disk = disk;
}
