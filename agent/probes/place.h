/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turns a profile into concrete probe sites in one binary: finds each probed
 * function (under any of its spellings), decodes it, picks the cheapest site
 * with the same meaning and works out where each value the probe reads is
 * there: a register, a stack slot, a spilled argument, and the field
 * offsets of the store's version.
 */
#ifndef KVSCOPE_RESOLVE_H
#define KVSCOPE_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"
#include "symbols/sites.h"
#include "symbols/symtab.h"

struct resolved_site {
	int probe;	      /* index into profile->probes */
	const char *function; /* the spelling the binary has */
	struct func_sym func;
	struct probe_site site;
	uint64_t file_offset; /* what the uprobe is attached at */
	bool has_value;
	struct kvs_read value; /* where the probe's values are at this site */
	int nreads;
	struct kvs_read reads[KVS_MAX_READS];
};

struct resolution {
	struct resolved_site *sites;
	int nsites;
};

/*
 * Whether the binary is the store the profile describes; writes why not,
 * and whether only its version is not the profile's.
 */
bool resolve__matches(const struct profile *p, const struct symtab *st, char *version,
		      size_t versionlen, char *why, size_t whylen, bool *wrong_version);

/*
 * Every site of every probe, for a store of `version` (picks field offsets
 * given by version range). Fails (-1, reason in err) when a function is
 * missing or a site cannot be placed: a partial profile would miscount.
 */
int resolve__sites(const struct profile *p, const struct symtab *st, const char *version,
		   struct resolution *out, char *err, size_t errlen);
void resolution__free(struct resolution *r);

/* The first of `names` the binary has (its index), or -1. */
int resolve__find(const struct symtab *st, char *const *names, int n, struct func_sym *out);

/* Registers that hold argument and result words, by the language's ABI (-1: none). */
int resolve__arg_reg(enum profile_lang lang, int index);
int resolve__result_reg(enum profile_lang lang, int index);

/*
 * Registers an entry site must see unchanged: the arguments the probe reads,
 * and for Go requests R14, the goroutine they are keyed by.
 */
uint32_t resolve__live_regs(const struct profile *p, const struct profile_probe *probe);

/*
 * Where a read is at a site, as the BPF side takes it. `loc` is where the
 * read's result is (call_return sites; NULL elsewhere), `sp_arg` the offset
 * from SP of its argument's spill slot (call_return sites of Go functions).
 */
int resolve__read(const struct profile *p, const struct profile_read *r, const char *version,
		  const struct value_loc *loc, int32_t sp_arg, struct kvs_read *out, char *err,
		  size_t errlen);

#endif
