// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "probes/binary.h"
#include "cmd/commands.h"

static void describe_probe(const struct profile *p, const struct profile_probe *probe, char *out,
			   size_t len)
{
	switch (probe->role) {
	case KVS_ROLE_REQUEST_START:
		if (probe->label >= 0)
			snprintf(out, len, "request start, method %s", p->methods[probe->label]);
		else
			snprintf(out, len, "request start, method named by %s (%d listed)",
				 profile_reg_name(probe->value.reg), p->nmethods);
		break;
	case KVS_ROLE_REQUEST_END:
		if (probe->has_value)
			snprintf(out, len, "request end, status from %s",
				 profile_reg_name(probe->value.reg));
		else
			snprintf(out, len, "request end, status from error replies");
		break;
	case KVS_ROLE_REQUEST_ERROR:
		snprintf(out, len, "error reply named by %s", profile_reg_name(probe->value.reg));
		break;
	case KVS_ROLE_STORAGE_OP:
		snprintf(out, len, "storage operation %s",
			 probe->label >= 0 ? p->operations[probe->label] : "?");
		break;
	case KVS_ROLE_LEADER_CHANGE:
		snprintf(out, len, "leader change when %s is nonzero",
			 profile_reg_name(probe->value.reg));
		break;
	case KVS_ROLE_GAUGES: {
		size_t used = (size_t)snprintf(out, len, "gauges");

		for (int i = 0; i < probe->nreads && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, " %s",
						 profile_gauge_name(probe->reads[i].gauge));
		break;
	}
	default:
		snprintf(out, len, "%s", profile_role_name(probe->role));
	}
}

static void print_sites(const struct binary *b)
{
	const struct profile *p = b->profile;

	printf("%-70s %12s %6s %8s %10s %-12s %-26s %s\n", "FUNCTION", "ADDRESS", "SIZE", "SITE",
	       "OFFSET", "COST", "INSTRUCTION", "MEASURES");
	for (int i = 0; i < b->res.nsites; i++) {
		const struct resolved_site *rs = &b->res.sites[i];
		const struct profile_probe *probe = &p->probes[rs->probe];
		char what[160];

		describe_probe(p, probe, what, sizeof(what));
		printf("%-70s %#12llx %6llu %+8lld %#10llx %-12s %-26s %s\n", probe->function,
		       (unsigned long long)rs->func.vaddr, (unsigned long long)rs->func.size,
		       (long long)(rs->site.vaddr - rs->func.vaddr),
		       (unsigned long long)rs->file_offset, site_cost__name(rs->site.cost),
		       rs->site.insn, what);
	}
}

/* Why the profile fits: what it recognized and which version it accepted. */
static void print_why(const struct binary *b)
{
	const struct profile *p = b->profile;

	printf("why:     ");
	if (p->lang == PROFILE_LANG_GO)
		printf("Go main module %s", p->go_module);
	else
		printf("functions %s%s present", p->nsymbols ? p->symbols[0] : "",
		       p->nsymbols > 1 ? ", ..." : "");
	if (p->version_regex)
		printf("; version %s matches %s", b->version[0] ? b->version : "(none)",
		       p->version_regex);
	printf("; all %d probe sites resolved\n", b->res.nsites);
}

int cmd_probes(const struct config *cfg)
{
	struct catalog cat;
	struct binary b = {0};
	char path[64];
	const char *target = cfg->probes_binary;
	int rc = 1;

	if (!target) {
		snprintf(path, sizeof(path), "%s/%d/exe", cfg->procfs, (int)cfg->pids[0]);
		target = path;
	}
	if (catalog__load(&cat, cfg->profile_dir, false))
		return 1;
	binary__examine(&b, &cat, target);
	if (b.verdict == BINARY_READY) {
		printf("binary:  %s\nprofile: %s (%s; store %s %s, %s)\n", target, b.profile->name,
		       b.profile->source, b.profile->store, b.version,
		       b.go_version[0] ? b.go_version : "C");
		print_why(&b);
		printf("sites:   %d\n\n", b.res.nsites);
		print_sites(&b);
		rc = 0;
	} else {
		printf("binary:  %s\nunsupported: %s\n", target, b.reason);
	}
	resolution__free(&b.res);
	catalog__free(&cat);
	return rc;
}
