// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "probes/binary.h"
#include "probes/examiner.h"
#include "common/log.h"

#define CACHE_MAX 2048 /* distinct executables on a node, each container its own */

struct binary_cache {
	const struct catalog *cat;
	struct binary *entries[CACHE_MAX];
	int count;
	int next_evict;
	unsigned long refused;
};

/* A profile recognizes its store by module (Go) or by its symbols (C). */
static bool recognizes(const struct profile *p, const struct symtab *st)
{
	const struct binary_info *bi = symtab__info(st);
	struct func_sym fs;

	if (p->lang == PROFILE_LANG_GO)
		return bi->go_version[0] && profile__go_module_matches(p, bi->module_path);
	for (int i = 0; i < p->nsymbols; i++) {
		if (symtab__find(st, p->symbols[i], &fs))
			return false;
	}
	return p->nsymbols > 0;
}

/* The version a profile is for, from its name: etcd-3.5 -> 3.5; NULL when it has none. */
static const char *profile_version(const struct profile *p)
{
	const char *dash = strrchr(p->name, '-');

	return dash && dash[1] >= '0' && dash[1] <= '9' ? dash + 1 : NULL;
}

/*
 * Of the profiles that recognise the store, the one for the closest version:
 * the newest not above the binary's, else the oldest above it.
 */
static const struct profile *nearest_profile(const struct catalog *cat, const struct symtab *st,
					     const char *version)
{
	const struct profile *below = NULL, *above = NULL, *any = NULL;

	for (int i = 0; i < cat->count; i++) {
		const struct profile *p = cat->profiles[i];
		const char *pv = profile_version(p);

		if (!recognizes(p, st))
			continue;
		any = any ? any : p;
		if (!pv || !version[0])
			continue;
		if (strverscmp(pv, version) <= 0) {
			if (!below || strverscmp(pv, profile_version(below)) > 0)
				below = p;
		} else if (!above || strverscmp(pv, profile_version(above)) < 0) {
			above = p;
		}
	}
	return below ? below : above ? above : any;
}

/*
 * No profile is for this version: says which profile is nearest and what
 * of it would fail on this build, the first thing a new profile must change.
 */
static void explain_version(struct binary *b, const struct catalog *cat, const struct symtab *st)
{
	const struct profile *p = nearest_profile(cat, st, b->version);
	struct resolution res;
	char err[256];

	b->profile = p;
	b->unsupported_version = true;
	if (resolve__sites(p, st, b->version, &res, err, sizeof(err)) == 0) {
		snprintf(err, sizeof(err), "every probe of it places on this build");
		resolution__free(&res);
	}
	snprintf(b->reason, sizeof(b->reason),
		 "%s %s: no profile for this version; nearest %s (version %s): %s: %s", p->store,
		 b->version[0] ? b->version : "(unknown version)", p->name,
		 p->version_regex ? p->version_regex : "any", p->name, err);
}

/* 1: ready; 0: not for this binary; -1: for this version, but a probe does not place. */
static int try_profile(struct binary *b, const struct profile *p, const struct symtab *st,
		       char *fail, size_t faillen)
{
	char why[256], err[256];
	bool wrong_version;

	if (!recognizes(p, st))
		return 0;
	if (b->verdict == BINARY_NOT_A_STORE) {
		b->verdict = BINARY_UNSUPPORTED;
		b->profile = p;
	}
	if (!resolve__matches(p, st, b->version, sizeof(b->version), why, sizeof(why),
			      &wrong_version)) {
		if (wrong_version)
			return 0;
		snprintf(fail, faillen, "%s: %s", p->name, why);
		return -1;
	}
	if (resolve__sites(p, st, b->version, &b->res, err, sizeof(err))) {
		snprintf(fail, faillen, "%s: %s", p->name, err);
		return -1;
	}
	b->verdict = BINARY_READY;
	b->profile = p;
	b->reason[0] = '\0';
	return 1;
}

void binary__examine_fd(struct binary *b, const struct catalog *cat, int fd,
			struct parse_budget *budget)
{
	struct parse_budget defaults;
	bool placed_wrong = false;
	struct symtab *st;
	char err[256];

	if (!budget) {
		budget__init(&defaults);
		budget = &defaults;
	}
	b->verdict = BINARY_NOT_A_STORE;
	b->unsupported_version = false;
	if (symtab__open_fd(fd, budget, &st, err, sizeof(err))) {
		b->verdict = budget->exceeded ? BINARY_REFUSED : BINARY_NOT_A_STORE;
		snprintf(b->reason, sizeof(b->reason), "%s", err);
		return;
	}
	snprintf(b->go_version, sizeof(b->go_version), "%s", symtab__info(st)->go_version);
	snprintf(b->module, sizeof(b->module), "%s", symtab__info(st)->module_path);
	for (int i = 0; i < cat->count && b->verdict != BINARY_READY && !budget->exceeded; i++) {
		char fail[300];

		/* the first profile for this version that fails says why */
		if (try_profile(b, cat->profiles[i], st, fail, sizeof(fail)) < 0 && !placed_wrong) {
			placed_wrong = true;
			snprintf(b->reason, sizeof(b->reason), "%s", fail);
		}
	}
	if (budget->exceeded) {
		/* a scan cut short may have missed what a full one finds */
		resolution__free(&b->res);
		b->verdict = BINARY_REFUSED;
		b->profile = NULL;
		snprintf(b->reason, sizeof(b->reason),
			 "over budget: examination took more than %.0f s of CPU",
			 budget->max_seconds);
	} else if (b->verdict == BINARY_NOT_A_STORE) {
		snprintf(b->reason, sizeof(b->reason), "no profile recognizes it");
	} else if (b->verdict == BINARY_UNSUPPORTED && !placed_wrong) {
		explain_version(b, cat, st);
	}
	/* the symbol tables are large; only the resolved sites are kept */
	symtab__close(st);
}

void binary__examine(struct binary *b, const struct catalog *cat, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	b->fd = -1;
	if (fd < 0) {
		b->verdict = BINARY_NOT_A_STORE;
		snprintf(b->reason, sizeof(b->reason), "%s: %s", path, strerror(errno));
		return;
	}
	examiner__run(b, cat, fd);
	close(fd);
}

struct binary_cache *binary_cache__new(const struct catalog *cat)
{
	struct binary_cache *bc = calloc(1, sizeof(*bc));

	if (bc)
		bc->cat = cat;
	return bc;
}

static void binary_free(struct binary *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	resolution__free(&b->res);
	free(b);
}

void binary_cache__free(struct binary_cache *bc)
{
	if (!bc)
		return;
	for (int i = 0; i < bc->count; i++)
		binary_free(bc->entries[i]);
	free(bc);
}

static struct binary **free_slot(struct binary_cache *bc)
{
	for (int i = 0; i < bc->count; i++)
		if (!bc->entries[i])
			return &bc->entries[i];
	if (bc->count < CACHE_MAX)
		return &bc->entries[bc->count++];
	/* evict round-robin; targets hold their own copy of what they need */
	struct binary **slot = &bc->entries[bc->next_evict];

	bc->next_evict = (bc->next_evict + 1) % CACHE_MAX;
	binary_free(*slot);
	*slot = NULL;
	return slot;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The entry of dev/ino; one whose examining child failed is forgotten once its wait is over. */
static struct binary *find_entry(struct binary_cache *bc, dev_t dev, ino_t ino)
{
	for (int i = 0; i < bc->count; i++) {
		struct binary *b = bc->entries[i];

		if (!b || b->dev != dev || b->ino != ino)
			continue;
		if (b->transient && now_s() >= b->retry_at) {
			binary_free(b);
			bc->entries[i] = NULL;
			return NULL;
		}
		return b;
	}
	return NULL;
}

static void log_verdict(const struct binary *b, const char *path)
{
	if (b->verdict == BINARY_READY)
		log_msg(LOG_INFO, "binary resolved", "path", path, "profile", b->profile->name,
			"version", b->version, NULL);
	else if (b->verdict == BINARY_REFUSED)
		log_msg(LOG_WARN, "binary refused", "path", path, "reason", b->reason, NULL);
}

/* Examines the file open on fd; a store binary keeps fd, anything else closes it. */
static struct binary *examine_new(struct binary_cache *bc, int fd, const struct stat *st,
				  const char *path)
{
	struct binary *b = calloc(1, sizeof(*b));
	struct statfs fs;

	if (!b) {
		close(fd);
		return NULL;
	}
	b->dev = st->st_dev;
	b->ino = st->st_ino;
	b->size = st->st_size;
	b->mtime = st->st_mtim;
	b->ctime = st->st_ctim;
	b->fd = -1;
	b->stacked = fstatfs(fd, &fs) == 0 && fs.f_type == OVERLAYFS_SUPER_MAGIC;
	examiner__run(b, bc->cat, fd);
	if (b->verdict == BINARY_READY)
		b->fd = fd;
	else
		close(fd);
	if (b->verdict == BINARY_REFUSED)
		bc->refused++;
	if (b->transient)
		b->retry_at = now_s() + EXAMINER_RETRY_S;
	log_verdict(b, path);
	return b;
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool binary__unchanged(const struct binary *b)
{
	struct stat st;

	return b->fd >= 0 && fstat(b->fd, &st) == 0 && st.st_size == b->size &&
	       same_time(st.st_mtim, b->mtime) && same_time(st.st_ctim, b->ctime);
}

/* An entry whose pinned file was rewritten in place is examined again. */
static void drop_entry(struct binary_cache *bc, struct binary *b)
{
	for (int i = 0; i < bc->count; i++) {
		if (bc->entries[i] == b) {
			binary_free(b);
			bc->entries[i] = NULL;
		}
	}
}

const struct binary *binary_cache__get(struct binary_cache *bc, const char *path, dev_t dev,
				       ino_t ino)
{
	struct binary *b = find_entry(bc, dev, ino);
	struct binary **slot;
	struct stat st;
	int fd;

	if (b && b->verdict == BINARY_READY && !binary__unchanged(b))
		drop_entry(bc, b);
	else if (b)
		return b;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	/* the process exec'd since path was looked at: what is open now counts */
	b = find_entry(bc, st.st_dev, st.st_ino);
	if (b) {
		close(fd);
		return b;
	}
	b = examine_new(bc, fd, &st, path);
	if (!b)
		return NULL;
	slot = free_slot(bc);
	*slot = b;
	return b;
}

unsigned long binary_cache__refused(const struct binary_cache *bc)
{
	return bc->refused;
}
