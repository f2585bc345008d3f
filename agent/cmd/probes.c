// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "probes/binary.h"
#include "cmd/commands.h"

/* "argument 1", "result 0 raft.raftLog.committed" */
static const char *read_words(const struct profile_read *r, char *out, size_t len)
{
	snprintf(out, len, "%s %d%s%s", r->from == PROFILE_FROM_ARG ? "argument" : "result",
		 r->index, r->path ? " " : "", r->path ? r->path : "");
	return out;
}

static void describe_probe(const struct profile *p, const struct profile_probe *probe, char *out,
			   size_t len)
{
	char w[160];

	switch (probe->role) {
	case KVS_ROLE_REQUEST_START:
		if (probe->label >= 0)
			snprintf(out, len, "request start, method %s", p->methods[probe->label]);
		else
			snprintf(out, len, "request start, method named by %s (%d listed)",
				 read_words(&probe->value, w, sizeof(w)), p->nmethods);
		break;
	case KVS_ROLE_REQUEST_END:
		if (probe->has_value)
			snprintf(out, len, "request end, status from %s",
				 read_words(&probe->value, w, sizeof(w)));
		else
			snprintf(out, len, "request end, status from error replies");
		break;
	case KVS_ROLE_REQUEST_ERROR:
		snprintf(out, len, "error reply named by %s",
			 read_words(&probe->value, w, sizeof(w)));
		break;
	case KVS_ROLE_STORAGE_OP:
		snprintf(out, len, "storage operation %s%s%s",
			 probe->label >= 0 ? p->operations[probe->label] : "?",
			 probe->has_value ? ", failed when nonzero: " : "",
			 probe->has_value ? read_words(&probe->value, w, sizeof(w)) : "");
		break;
	case KVS_ROLE_LEADER_CHANGE:
		snprintf(out, len, "leader change when %s is nonzero",
			 read_words(&probe->value, w, sizeof(w)));
		break;
	case KVS_ROLE_GAUGES: {
		size_t used = (size_t)snprintf(out, len, "gauges");

		for (int i = 0; i < probe->nreads && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, " %s=%s",
						 profile_gauge_name(probe->reads[i].gauge),
						 read_words(&probe->reads[i], w, sizeof(w)));
		break;
	}
	default:
		snprintf(out, len, "%s", profile_role_name(probe->role));
	}
}

/* A read as the BPF side does it: rsp[0x150][0x10][0x0]:8 loads three times. */
static void format_read(const struct kvs_read *r, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "%s", profile_reg_name(r->reg));

	for (int i = 0; i < r->nderef && used < len; i++)
		used +=
		    (size_t)snprintf(out + used, len - used, "[%s0x%x]", r->deref[i] < 0 ? "-" : "",
				     (unsigned)(r->deref[i] < 0 ? -r->deref[i] : r->deref[i]));
	if (used < len)
		snprintf(out + used, len - used, ":%u", (unsigned)r->size);
}

static void format_reads(const struct resolved_site *rs, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	if (rs->has_value)
		format_read(&rs->value, out, len);
	for (int i = 0; i < rs->nreads; i++) {
		used = strlen(out);
		if (used + 2 < len) {
			if (used)
				out[used++] = ' ';
			format_read(&rs->reads[i], out + used, len - used);
		}
	}
	if (!out[0])
		snprintf(out, len, "-");
}

static void print_sites(const struct binary *b)
{
	const struct profile *p = b->profile;

	printf("%-70s %12s %6s %8s %10s %-12s %-28s %-30s %s\n", "FUNCTION", "ADDRESS", "SIZE",
	       "SITE", "OFFSET", "COST", "INSTRUCTION", "READS", "MEASURES");
	for (int i = 0; i < b->res.nsites; i++) {
		const struct resolved_site *rs = &b->res.sites[i];
		const struct profile_probe *probe = &p->probes[rs->probe];
		char what[320], reads[160];

		describe_probe(p, probe, what, sizeof(what));
		format_reads(rs, reads, sizeof(reads));
		printf("%-70s %#12llx %6llu %+8lld %#10llx %-12s %-28s %-30s %s\n", rs->function,
		       (unsigned long long)rs->func.vaddr, (unsigned long long)rs->func.size,
		       (long long)(rs->site.vaddr - rs->func.vaddr),
		       (unsigned long long)rs->file_offset, site_cost__name(rs->site.cost),
		       rs->site.insn, reads, what);
	}
}

/* Why the profile fits: what it recognized and which version it accepted. */
static void print_why(const struct binary *b)
{
	const struct profile *p = b->profile;

	printf("why:     ");
	if (p->lang == PROFILE_LANG_GO)
		printf("Go main module %s", b->module);
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
