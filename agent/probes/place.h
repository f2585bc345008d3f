/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turns a profile into concrete probe sites in one binary: finds each probed
 * function, decodes it and picks the cheapest site with the same meaning.
 */
#ifndef KVSCOPE_RESOLVE_H
#define KVSCOPE_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"
#include "symbols/sites.h"
#include "symbols/symtab.h"

struct resolved_site {
	int probe; /* index into profile->probes */
	struct func_sym func;
	struct probe_site site;
	uint64_t file_offset; /* what the uprobe is attached at */
};

struct resolution {
	struct resolved_site *sites;
	int nsites;
};

/* Whether the binary is the store the profile describes; writes why not. */
bool resolve__matches(const struct profile *p, const struct symtab *st, char *version,
		      size_t versionlen, char *why, size_t whylen);

/*
 * Every site of every probe. Fails (-1, reason in err) when a function is
 * missing or a site cannot be placed: a partial profile would miscount.
 */
int resolve__sites(const struct profile *p, const struct symtab *st, struct resolution *out,
		   char *err, size_t errlen);
void resolution__free(struct resolution *r);

/* Registers a probe reads at its site: what must still hold there. */
uint32_t resolve__live_regs(const struct profile *p, const struct profile_probe *probe);

#endif
