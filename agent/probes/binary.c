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

static bool try_profile(struct binary *b, const struct profile *p, const struct symtab *st)
{
	char why[256], err[256];

	if (!recognizes(p, st))
		return false;
	if (b->verdict == BINARY_NOT_A_STORE) {
		b->verdict = BINARY_UNSUPPORTED;
		b->profile = p;
	}
	if (!resolve__matches(p, st, b->version, sizeof(b->version), why, sizeof(why))) {
		snprintf(b->reason, sizeof(b->reason), "profile %s: %s", p->name, why);
		return false;
	}
	if (resolve__sites(p, st, b->version, &b->res, err, sizeof(err))) {
		snprintf(b->reason, sizeof(b->reason), "profile %s: %s", p->name, err);
		return false;
	}
	b->verdict = BINARY_READY;
	b->profile = p;
	b->reason[0] = '\0';
	return true;
}

void binary__examine(struct binary *b, const struct catalog *cat, const char *path)
{
	struct symtab *st;
	char err[256];

	b->verdict = BINARY_NOT_A_STORE;
	if (symtab__open(path, &st, err, sizeof(err))) {
		snprintf(b->reason, sizeof(b->reason), "%s", err);
		return;
	}
	snprintf(b->go_version, sizeof(b->go_version), "%s", symtab__info(st)->go_version);
	for (int i = 0; i < cat->count; i++) {
		if (try_profile(b, cat->profiles[i], st))
			break;
	}
	if (b->verdict == BINARY_NOT_A_STORE)
		snprintf(b->reason, sizeof(b->reason), "no profile recognizes it");
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
