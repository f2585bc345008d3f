// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/binary.h"
#include "common/log.h"

#define CACHE_MAX 256

struct binary_cache {
	const struct catalog *cat;
	struct binary *entries[CACHE_MAX];
	int count;
	int next_evict;
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

void binary__examine(struct binary *b, const struct catalog *cat, const char *path)
{
	bool placed_wrong = false;
	struct symtab *st;
	char err[256];

	b->verdict = BINARY_NOT_A_STORE;
	b->unsupported_version = false;
	if (symtab__open(path, &st, err, sizeof(err))) {
		snprintf(b->reason, sizeof(b->reason), "%s", err);
		return;
	}
	snprintf(b->go_version, sizeof(b->go_version), "%s", symtab__info(st)->go_version);
	snprintf(b->module, sizeof(b->module), "%s", symtab__info(st)->module_path);
	for (int i = 0; i < cat->count && b->verdict != BINARY_READY; i++) {
		char fail[300];

		/* the first profile for this version that fails says why */
		if (try_profile(b, cat->profiles[i], st, fail, sizeof(fail)) < 0 && !placed_wrong) {
			placed_wrong = true;
			snprintf(b->reason, sizeof(b->reason), "%s", fail);
		}
	}
	if (b->verdict == BINARY_NOT_A_STORE)
		snprintf(b->reason, sizeof(b->reason), "no profile recognizes it");
	else if (b->verdict == BINARY_UNSUPPORTED && !placed_wrong)
		explain_version(b, cat, st);
	/* the symbol tables are large; only the resolved sites are kept */
	symtab__close(st);
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
	if (bc->count < CACHE_MAX)
		return &bc->entries[bc->count++];
	/* evict round-robin; targets hold their own copy of what they need */
	struct binary **slot = &bc->entries[bc->next_evict];

	bc->next_evict = (bc->next_evict + 1) % CACHE_MAX;
	binary_free(*slot);
	*slot = NULL;
	return slot;
}

const struct binary *binary_cache__get(struct binary_cache *bc, const char *path, dev_t dev,
				       ino_t ino)
{
	struct binary **slot;
	struct binary *b;

	for (int i = 0; i < bc->count; i++) {
		if (bc->entries[i] && bc->entries[i]->dev == dev && bc->entries[i]->ino == ino)
			return bc->entries[i];
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->dev = dev;
	b->ino = ino;
	binary__examine(b, bc->cat, path);
	if (b->verdict == BINARY_READY)
		log_msg(LOG_INFO, "binary resolved", "path", path, "profile", b->profile->name,
			"version", b->version, NULL);
	slot = free_slot(bc);
	*slot = b;
	return b;
}
