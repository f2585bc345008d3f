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
	if (!p->go_module || strcmp(bi->module_path, p->go_module) != 0) {
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
		      size_t versionlen, char *why, size_t whylen)
{
	struct func_sym fs;

	if (p->lang == PROFILE_LANG_GO && !match_go(p, symtab__info(st), why, whylen))
		return false;
	for (int i = 0; i < p->nsymbols; i++) {
		if (symtab__find(st, p->symbols[i], &fs)) {
			snprintf(why, whylen, "no function %s", p->symbols[i]);
			return false;
		}
	}
	return match_version(p, st, version, versionlen, why, whylen);
}

static uint32_t read_regs(const struct kvs_read *rd)
{
	return rd->reg < KVS_REG_COUNT ? 1u << rd->reg : 0;
}

uint32_t resolve__live_regs(const struct profile *p, const struct profile_probe *probe)
{
	uint32_t live = 0;

	if (probe->has_value)
		live |= read_regs(&probe->value);
	for (int i = 0; i < probe->nreads; i++)
		live |= read_regs(&probe->reads[i]);
	/* Go keys requests by the goroutine pointer, kept in R14 */
	if (p->lang == PROFILE_LANG_GO &&
	    (probe->role == KVS_ROLE_REQUEST_START || probe->role == KVS_ROLE_REQUEST_END))
		live |= 1u << KVS_REG_R14;
	return live;
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

/* Fills sites[] for one probe; returns the number found or -1 with err set. */
static int probe_sites(const struct profile *p, const struct profile_probe *probe,
		       const struct symtab *st, const struct func_sym *fs, const uint8_t *code,
		       size_t len, struct probe_site *sites, char *err, size_t errlen)
{
	uint32_t live = resolve__live_regs(p, probe);
	struct func_sym callee;
	int n = 0;

	switch (probe->site) {
	case PROFILE_SITE_ENTRY:
		n = sites__entry(code, len, fs->vaddr, live, &sites[0]) ? 0 : 1;
		break;
	case PROFILE_SITE_RET:
		n = sites__rets(code, len, fs->vaddr, sites, MAX_SITES_PER_PROBE);
		break;
	case PROFILE_SITE_CALL_RETURN:
		if (symtab__find(st, probe->callee, &callee)) {
			snprintf(err, errlen, "no function %s", probe->callee);
			return -1;
		}
		n = sites__call_returns(code, len, fs->vaddr, callee.vaddr, live, sites,
					MAX_SITES_PER_PROBE);
		break;
	case PROFILE_SITE_RETURN:
		/* a uretprobe: the kernel hooks the entry and the return address */
		sites[0].vaddr = fs->vaddr;
		sites[0].cost = sites__classify(code, len);
		snprintf(sites[0].insn, sizeof(sites[0].insn), "return");
		n = 1;
		break;
	case PROFILE_SITE_OFFSET:
		if (probe->offset >= len)
			break;
		sites[0].vaddr = fs->vaddr + probe->offset;
		sites[0].cost = sites__classify(code + probe->offset, len - probe->offset);
		snprintf(sites[0].insn, sizeof(sites[0].insn), "+0x%llx",
			 (unsigned long long)probe->offset);
		n = 1;
		break;
	}
	if (n <= 0 || n > MAX_SITES_PER_PROBE) {
		snprintf(err, errlen, "%s: no usable probe site (%d found)", probe->function, n);
		return -1;
	}
	return n;
}

static int add_sites(struct resolution *r, int probe, const struct func_sym *fs,
		     const struct probe_site *sites, int n)
{
	struct resolved_site *grown = realloc(r->sites, sizeof(*grown) * (size_t)(r->nsites + n));

	if (!grown)
		return -ENOMEM;
	r->sites = grown;
	for (int i = 0; i < n; i++) {
		struct resolved_site *rs = &r->sites[r->nsites++];

		rs->probe = probe;
		rs->func = *fs;
		rs->site = sites[i];
		rs->file_offset = fs->file_offset + (sites[i].vaddr - fs->vaddr);
	}
	return 0;
}

static int resolve_probe(const struct profile *p, int idx, const struct symtab *st,
			 struct resolution *out, char *err, size_t errlen)
{
	const struct profile_probe *probe = &p->probes[idx];
	struct probe_site sites[MAX_SITES_PER_PROBE];
	struct func_sym fs;
	uint8_t *code;
	size_t len;
	int n;

	if (symtab__find(st, probe->function, &fs)) {
		snprintf(err, errlen, "no function %s", probe->function);
		return -1;
	}
	if (load_code(st, &fs, &code, &len)) {
		snprintf(err, errlen, "%s: cannot read its code", probe->function);
		return -1;
	}
	n = probe_sites(p, probe, st, &fs, code, len, sites, err, errlen);
	free(code);
	if (n < 0)
		return -1;
	if (add_sites(out, idx, &fs, sites, n)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int resolve__sites(const struct profile *p, const struct symtab *st, struct resolution *out,
		   char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < p->nprobes; i++) {
		if (resolve_probe(p, i, st, out, err, errlen)) {
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
