// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/place.h"

#define MAX_FUNC_BYTES	    (256 * 1024)
#define MAX_SITES_PER_PROBE 64

static bool regex_matches(const char *pattern, const char *s)
{
	regex_t re;
	bool ok;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return false;
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static bool match_go(const struct profile *p, const struct binary_info *bi, char *why,
		     size_t whylen)
{
	if (!bi->go_version[0]) {
		snprintf(why, whylen, "not a Go binary");
		return false;
	}
	if (!profile__go_module_matches(p, bi->module_path)) {
		snprintf(why, whylen, "main module %s is not %s",
			 bi->module_path[0] ? bi->module_path : "(none)",
			 p->go_module ? p->go_module : "(none)");
		return false;
	}
	return true;
}

static bool match_version(const struct profile *p, const struct symtab *st, char *version,
			  size_t versionlen, char *why, size_t whylen)
{
	const struct binary_info *bi = symtab__info(st);

	version[0] = '\0';
	if (p->version_go_string)
		symtab__find_go_string(st, p->version_go_string, version, versionlen);
	else if (p->version_c_string)
		symtab__find_c_string(st, p->version_c_string, version, versionlen);
	else if (bi->module_version[0])
		snprintf(version, versionlen, "%s", bi->module_version);
	if (p->version_regex && !regex_matches(p->version_regex, version)) {
		snprintf(why, whylen, "version %s does not match %s",
			 version[0] ? version : "(unknown)", p->version_regex);
		return false;
	}
	return true;
}

bool resolve__matches(const struct profile *p, const struct symtab *st, char *version,
		      size_t versionlen, char *why, size_t whylen, bool *wrong_version)
{
	struct func_sym fs;

	*wrong_version = false;
	if (p->lang == PROFILE_LANG_GO && !match_go(p, symtab__info(st), why, whylen))
		return false;
	for (int i = 0; i < p->nsymbols; i++) {
		if (symtab__find(st, p->symbols[i], &fs)) {
			snprintf(why, whylen, "no function %s", p->symbols[i]);
			return false;
		}
	}
	*wrong_version = !match_version(p, st, version, versionlen, why, whylen);
	return !*wrong_version;
}

int resolve__find(const struct symtab *st, char *const *names, int n, struct func_sym *out)
{
	for (int i = 0; i < n; i++)
		if (symtab__find(st, names[i], out) == 0)
			return i;
	return -1;
}

static int load_code(const struct symtab *st, const struct func_sym *fs, uint8_t **code,
		     size_t *len)
{
	size_t n = fs->size < MAX_FUNC_BYTES ? fs->size : MAX_FUNC_BYTES;

	*code = malloc(n ? n : 1);
	if (!*code)
		return -ENOMEM;
	if (symtab__read(st, fs->vaddr, *code, n)) {
		free(*code);
		*code = NULL;
		return -EFAULT;
	}
	*len = sites__trim_padding(*code, n);
	return 0;
}

/* What placing one probe in one function works with. */
struct placing {
	const struct profile *p;
	const struct profile_probe *probe;
	const struct symtab *st;
	const char *version;
	const char *function; /* the spelling found */
	struct func_sym fs;
	uint8_t *code;
	size_t len;
	char *err;
	size_t errlen;
};

static const struct profile_read *probe_read(const struct profile_probe *probe, int i)
{
	return i < 0 ? (probe->has_value ? &probe->value : NULL) : &probe->reads[i];
}

/*
 * Per read of a probe (the value first, then the gauge reads): where a
 * result is, and where an argument's spill slot is, at one site.
 */
struct site_places {
	const struct value_loc *locs[1 + KVS_MAX_READS];
	int32_t sp_args[1 + KVS_MAX_READS]; /* -1: none */
};

static void places_init(struct site_places *sp)
{
	for (int i = 0; i < 1 + KVS_MAX_READS; i++) {
		sp->locs[i] = NULL;
		sp->sp_args[i] = -1;
	}
}

/* Fills the site's concrete reads. */
static int site_reads(const struct placing *pl, const struct site_places *sp,
		      struct resolved_site *rs)
{
	const struct profile_probe *probe = pl->probe;

	rs->has_value = probe->has_value;
	rs->nreads = probe->nreads;
	for (int i = -1; i < probe->nreads; i++) {
		const struct profile_read *r = probe_read(probe, i);
		struct kvs_read *out = i < 0 ? &rs->value : &rs->reads[i];
		char why[160];

		if (r && resolve__read(pl->p, r, pl->version, sp->locs[i + 1], sp->sp_args[i + 1],
				       out, why, sizeof(why))) {
			snprintf(pl->err, pl->errlen, "%s: %s (profile line %d)", pl->function, why,
				 r->line);
			return -1;
		}
	}
	return 0;
}

static bool per_request(const struct profile_probe *probe)
{
	return probe->role == KVS_ROLE_REQUEST_START || probe->role == KVS_ROLE_REQUEST_END ||
	       probe->role == KVS_ROLE_REQUEST_ERROR;
}

static int add_site(struct resolution *r, int probe, const struct placing *pl,
		    const struct probe_site *site, const struct site_places *sp)
{
	struct resolved_site *grown, *rs;

	/*
	 * A single-step costs every request ~20 us: refuse rather than slow the
	 * store. A return site is the exception: the kernel puts a uretprobe at
	 * the function's entry, whatever instruction is there, and `kvscope
	 * probes` shows its cost.
	 */
	if (per_request(pl->probe) && site->cost == SITE_COST_SINGLESTEP &&
	    pl->probe->site != PROFILE_SITE_RETURN) {
		snprintf(pl->err, pl->errlen,
			 "%s: no cheap site for a per-request probe (best: %s at +0x%llx, "
			 "single-stepped)",
			 pl->function, site->insn,
			 (unsigned long long)(site->vaddr - pl->fs.vaddr));
		return -1;
	}
	grown = realloc(r->sites, sizeof(*grown) * (size_t)(r->nsites + 1));
	if (!grown) {
		snprintf(pl->err, pl->errlen, "out of memory");
		return -1;
	}
	r->sites = grown;
	rs = &r->sites[r->nsites];
	memset(rs, 0, sizeof(*rs));
	rs->probe = probe;
	rs->function = pl->function;
	rs->func = pl->fs;
	rs->site = *site;
	rs->file_offset = pl->fs.file_offset + (site->vaddr - pl->fs.vaddr);
	if (site_reads(pl, sp, rs))
		return -1;
	r->nsites++;
	return 0;
}

/* Entry, each ret, or the uretprobe: registers hold what the ABI says. */
static int plain_sites(const struct placing *pl, struct resolution *out, int idx)
{
	struct probe_site sites[MAX_SITES_PER_PROBE];
	struct site_places sp;
	int n = 0;

	places_init(&sp);
	switch (pl->probe->site) {
	case PROFILE_SITE_ENTRY:
		n = sites__entry(pl->code, pl->len, pl->fs.vaddr,
				 resolve__live_regs(pl->p, pl->probe), &sites[0])
			? 0
			: 1;
		break;
	case PROFILE_SITE_RET:
		n = sites__rets(pl->code, pl->len, pl->fs.vaddr, sites, MAX_SITES_PER_PROBE);
		break;
	case PROFILE_SITE_RETURN:
		/* a uretprobe: the kernel hooks the entry and the return address */
		sites[0].vaddr = pl->fs.vaddr;
		sites[0].cost = sites__classify(pl->code, pl->len);
		snprintf(sites[0].insn, sizeof(sites[0].insn), "return");
		n = 1;
		break;
	default:
		break;
	}
	if (n <= 0 || n > MAX_SITES_PER_PROBE) {
		snprintf(pl->err, pl->errlen, "%s: no usable probe site (%d found)", pl->function,
			 n);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (add_site(out, idx, pl, &sites[i], &sp))
			return -1;
	return 0;
}

/*
 * Go spills a register argument that must outlive a call to its slot in
 * the caller's frame, 8 + 8 * N above SP at the entry. The function must
 * store the argument's register there for the slot to be worth reading.
 */
static int arg_spill(const struct placing *pl, int index, int32_t *entry_rel)
{
	struct stack_store stores[32];
	int reg = resolve__arg_reg(pl->p->lang, index);
	int32_t want = 8 + 8 * index;
	int n;

	if (pl->p->lang != PROFILE_LANG_GO || reg < 0) {
		snprintf(pl->err, pl->errlen,
			 "%s: argument %d after a call: only a Go argument's spill slot is known",
			 pl->function, index);
		return -1;
	}
	n = sites__stack_stores(pl->code, pl->len, pl->fs.vaddr, reg, stores, 32);
	for (int k = 0; k < n && k < 32; k++) {
		int64_t delta;

		if (symtab__sp_delta(pl->st, stores[k].vaddr, &delta) == 0 &&
		    stores[k].disp - delta == want) {
			*entry_rel = want;
			return 0;
		}
	}
	snprintf(pl->err, pl->errlen,
		 "%s: argument %d is never stored to its spill slot; read it at the entry",
		 pl->function, index);
	return -1;
}

/* What a call_return probe follows out of the call, and which arguments it reads. */
struct call_plan {
	int regs[SITES_MAX_VALUES]; /* result registers to follow */
	int nregs;
	int value_of[1 + KVS_MAX_READS];     /* index into regs, or -1 */
	int32_t arg_slot[1 + KVS_MAX_READS]; /* spill slot from the entry SP, or -1 */
};

static int plan_call(const struct placing *pl, struct call_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	for (int i = -1; i < pl->probe->nreads; i++) {
		const struct profile_read *r = probe_read(pl->probe, i);
		int reg, k;

		plan->value_of[i + 1] = -1;
		plan->arg_slot[i + 1] = -1;
		if (!r)
			continue;
		if (r->from == PROFILE_FROM_ARG) {
			if (arg_spill(pl, r->index, &plan->arg_slot[i + 1]))
				return -1;
			continue;
		}
		reg = resolve__result_reg(pl->p->lang, r->index);
		if (reg < 0) {
			snprintf(pl->err, pl->errlen, "%s: result %d is not in a register",
				 pl->function, r->index);
			return -1;
		}
		for (k = 0; k < plan->nregs && plan->regs[k] != reg; k++)
			;
		if (k == SITES_MAX_VALUES) {
			snprintf(pl->err, pl->errlen, "%s: more than %d results read at one site",
				 pl->function, SITES_MAX_VALUES);
			return -1;
		}
		if (k == plan->nregs)
			plan->regs[plan->nregs++] = reg;
		plan->value_of[i + 1] = k;
	}
	return 0;
}

static int add_call_site(const struct placing *pl, const struct call_plan *plan,
			 const struct call_site *cs, struct resolution *out, int idx)
{
	struct site_places sp;
	int64_t delta = 0;

	places_init(&sp);
	for (int i = 0; i < 1 + KVS_MAX_READS; i++) {
		if (plan->value_of[i] >= 0)
			sp.locs[i] = &cs->values[plan->value_of[i]];
		if (plan->arg_slot[i] < 0)
			continue;
		if (symtab__sp_delta(pl->st, cs->site.vaddr, &delta)) {
			snprintf(pl->err, pl->errlen, "%s: no frame size at 0x%llx", pl->function,
				 (unsigned long long)cs->site.vaddr);
			return -1;
		}
		sp.sp_args[i] = plan->arg_slot[i] + (int32_t)delta;
	}
	return add_site(out, idx, pl, &cs->site, &sp);
}

/* After each call to the callee, where its results (and spilled arguments) are. */
static int call_return_sites(const struct placing *pl, struct resolution *out, int idx)
{
	const struct profile_probe *probe = pl->probe;
	struct call_site sites[MAX_SITES_PER_PROBE];
	struct call_plan plan;
	struct func_sym callee;
	uint32_t keep = 0;
	int n;

	if (resolve__find(pl->st, probe->callees, probe->ncallees, &callee) < 0) {
		snprintf(pl->err, pl->errlen, "function %s%s not found", probe->callees[0],
			 probe->ncallees > 1 ? " (nor its other spellings)" : "");
		return -1;
	}
	if (plan_call(pl, &plan))
		return -1;
	if (pl->p->lang == PROFILE_LANG_GO && per_request(probe))
		keep = 1u << KVS_REG_R14;
	n = sites__call_values(pl->code, pl->len, pl->fs.vaddr, callee.vaddr, plan.regs, plan.nregs,
			       keep, sites, MAX_SITES_PER_PROBE);
	if (n <= 0 || n > MAX_SITES_PER_PROBE) {
		snprintf(pl->err, pl->errlen, "%s: %d usable sites after calls to %s", pl->function,
			 n, probe->callees[0]);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (add_call_site(pl, &plan, &sites[i], out, idx))
			return -1;
	return 0;
}

static int resolve_probe(const struct profile *p, int idx, const struct symtab *st,
			 const char *version, struct resolution *out, char *err, size_t errlen)
{
	const struct profile_probe *probe = &p->probes[idx];
	struct placing pl = {
	    .p = p, .probe = probe, .st = st, .version = version, .err = err, .errlen = errlen};
	int found = resolve__find(st, probe->functions, probe->nfunctions, &pl.fs);
	int rc;

	if (found < 0) {
		snprintf(err, errlen, "function %s%s not found", probe->function,
			 probe->nfunctions > 1 ? " (nor its other spellings)" : "");
		return -1;
	}
	pl.function = probe->functions[found];
	if (load_code(st, &pl.fs, &pl.code, &pl.len)) {
		snprintf(err, errlen, "%s: cannot read its code", pl.function);
		return -1;
	}
	rc = probe->site == PROFILE_SITE_CALL_RETURN ? call_return_sites(&pl, out, idx)
						     : plain_sites(&pl, out, idx);
	free(pl.code);
	return rc;
}

int resolve__sites(const struct profile *p, const struct symtab *st, const char *version,
		   struct resolution *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < p->nprobes; i++) {
		if (resolve_probe(p, i, st, version, out, err, errlen)) {
			resolution__free(out);
			return -1;
		}
	}
	return 0;
}

void resolution__free(struct resolution *r)
{
	if (!r)
		return;
	free(r->sites);
	r->sites = NULL;
	r->nsites = 0;
}
