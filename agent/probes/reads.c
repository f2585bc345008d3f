// SPDX-License-Identifier: Apache-2.0
/*
 * A profile's reads in the store's terms (argument N, result N, a field
 * path) made concrete for one site: the register the ABI puts the word in,
 * or the stack slot it was copied or spilled to, then the pointer hops of
 * the path with the offsets of the binary's version.
 */
#include <stdio.h>
#include <string.h>

#include "probes/place.h"

/* Go's register ABI (Go >= 1.17) for integer words, arguments and results alike. */
static const int go_words[] = {KVS_REG_RAX, KVS_REG_RBX, KVS_REG_RCX, KVS_REG_RDI, KVS_REG_RSI,
			       KVS_REG_R8,  KVS_REG_R9,	 KVS_REG_R10, KVS_REG_R11};
/* The System V AMD64 ABI. */
static const int c_args[] = {KVS_REG_RDI, KVS_REG_RSI, KVS_REG_RDX,
			     KVS_REG_RCX, KVS_REG_R8,  KVS_REG_R9};
static const int c_results[] = {KVS_REG_RAX, KVS_REG_RDX};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int resolve__arg_reg(enum profile_lang lang, int index)
{
	if (index < 0)
		return -1;
	if (lang == PROFILE_LANG_GO)
		return index < COUNT(go_words) ? go_words[index] : -1;
	return index < COUNT(c_args) ? c_args[index] : -1;
}

int resolve__result_reg(enum profile_lang lang, int index)
{
	if (index < 0)
		return -1;
	if (lang == PROFILE_LANG_GO)
		return index < COUNT(go_words) ? go_words[index] : -1;
	return index < COUNT(c_results) ? c_results[index] : -1;
}

uint32_t resolve__live_regs(const struct profile *p, const struct profile_probe *probe)
{
	uint32_t live = 0;

	for (int i = -1; i < probe->nreads; i++) {
		const struct profile_read *r = i < 0 ? &probe->value : &probe->reads[i];
		int reg;

		if (i < 0 && !probe->has_value)
			continue;
		reg = r->from == PROFILE_FROM_ARG ? resolve__arg_reg(p->lang, r->index) : -1;
		if (reg >= 0)
			live |= 1u << reg;
	}
	/* Go keys requests by the goroutine pointer, kept in R14 */
	if (p->lang == PROFILE_LANG_GO &&
	    (probe->role == KVS_ROLE_REQUEST_START || probe->role == KVS_ROLE_REQUEST_END ||
	     probe->role == KVS_ROLE_REQUEST_ERROR))
		live |= 1u << KVS_REG_R14;
	return live;
}

/* Where the word starts: a register, or (reg RSP) a slot to load first. */
static int read_base(const struct profile *p, const struct profile_read *r,
		     const struct value_loc *loc, int32_t sp_arg, struct kvs_read *out, char *err,
		     size_t errlen)
{
	const char *kind = r->from == PROFILE_FROM_ARG ? "argument" : "result";
	int reg;

	if (loc) { /* a result followed out of a call */
		out->reg = (__u8)(loc->reg >= 0 ? loc->reg : KVS_REG_RSP);
		if (loc->reg < 0)
			out->deref[out->nderef++] = loc->sp_offset;
		return 0;
	}
	if (sp_arg >= 0) { /* an argument in its spill slot */
		out->reg = KVS_REG_RSP;
		out->deref[out->nderef++] = sp_arg;
		return 0;
	}
	reg = r->from == PROFILE_FROM_ARG ? resolve__arg_reg(p->lang, r->index)
					  : resolve__result_reg(p->lang, r->index);
	if (reg < 0) {
		snprintf(err, errlen, "%s %d is not passed in a register", kind, r->index);
		return -1;
	}
	out->reg = (__u8)reg;
	return 0;
}

int resolve__read(const struct profile *p, const struct profile_read *r, const char *version,
		  const struct value_loc *loc, int32_t sp_arg, struct kvs_read *out, char *err,
		  size_t errlen)
{
	int n;

	memset(out, 0, sizeof(*out));
	out->size = r->size;
	out->flags = r->flags;
	out->gauge = r->gauge;
	if (read_base(p, r, loc, sp_arg, out, err, errlen))
		return -1;
	n = profile__path_derefs(p, r->path, version, out->deref + out->nderef,
				 KVS_MAX_DEREF - out->nderef, err, errlen);
	if (n < 0)
		return -1;
	out->nderef = (__u8)(out->nderef + n);
	return 0;
}
