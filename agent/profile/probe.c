// SPDX-License-Identifier: Apache-2.0
/* One entry of a profile's `probes` list: where to probe and what it means. */
#include <stdio.h>
#include <string.h>

#include "profile/doc.h"

enum need { FORBIDDEN, OPTIONAL, REQUIRED };

/* Which keys each role takes; the engine relies on these being present. */
struct role_needs {
	enum need method, operation, value, reads;
};

static const struct role_needs role_needs[KVS_ROLE_COUNT] = {
    /* a fixed method, or a string value naming it (then exactly one of the two) */
    [KVS_ROLE_REQUEST_START] = {.method = OPTIONAL, .value = OPTIONAL},
    /* the status code; without one, an error word seen meanwhile, else success */
    [KVS_ROLE_REQUEST_END] = {.value = OPTIONAL},
    [KVS_ROLE_REQUEST_ERROR] = {.value = REQUIRED},
    [KVS_ROLE_STORAGE_OP] = {.operation = REQUIRED, .value = OPTIONAL},
    [KVS_ROLE_GAUGES] = {.reads = REQUIRED},
    [KVS_ROLE_LEADER_CHANGE] = {.value = REQUIRED},
};

static const char *const probe_keys[] = {"function",  "role",  "site",	"method",
					 "operation", "value", "reads", NULL};
static const char *const value_keys[] = {"arg", "result", "path", "size", "string", NULL};
static const char *const gauge_read_keys[] = {"gauge", "arg", "result", "path", "size", NULL};
static const char *const site_keys[] = {"call_return", NULL};

/* arg: N or result: N, a word of the function's arguments or results. */
static int parse_word(struct profile_doc *d, const yaml_node_t *n, const char *what,
		      struct profile_read *r)
{
	int64_t index;

	if (profile_doc__int(d, n, what, 0, 8, &index))
		return -1;
	r->index = (int)index;
	return 0;
}

static int parse_path(struct profile_doc *d, const yaml_node_t *n, const char *what,
		      struct profile_read *r)
{
	int32_t deref[KVS_MAX_DEREF];
	char why[160];

	if (profile_doc__strdup(d, n, what, &r->path))
		return -1;
	/* checked against the structs now; offsets are chosen per binary version */
	if (profile__path_derefs(d->profile, r->path, NULL, deref, KVS_MAX_DEREF - 1, why,
				 sizeof(why)) < 0)
		return profile_doc__error(d, n, "%s: %s", what, why);
	return 0;
}

static int parse_size(struct profile_doc *d, const yaml_node_t *n, const char *what,
		      struct profile_read *r)
{
	int64_t size;

	if (profile_doc__int(d, n, what, 1, 8, &size))
		return -1;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return profile_doc__error(d, n, "%s: must be 1, 2, 4 or 8, found %d", what,
					  (int)size);
	r->size = (__u8)size;
	return 0;
}

static int parse_gauge(struct profile_doc *d, const yaml_node_t *n, const char *what,
		       struct profile_read *r)
{
	const char *name;
	char q[80];

	if (profile_doc__string(d, n, what, &name))
		return -1;
	for (int g = 0; g < KVS_GAUGE_COUNT; g++) {
		if (strcmp(name, profile_gauge_name(g)) == 0) {
			r->gauge = (__u8)g;
			return 0;
		}
	}
	return profile_doc__error(d, n, "%s: unknown gauge %s (expected one of: %s)", what,
				  profile_doc__quote(name, q, sizeof(q)), profile_gauge_list());
}

/* How a string value is hashed: see KVS_READ_* in include/kvscope.h. */
static int parse_string_kind(struct profile_doc *d, const yaml_node_t *n, const char *what,
			     struct profile_read *r)
{
	static const struct {
		const char *name;
		__u8 flags;
	} kinds[] = {
	    {"text", KVS_READ_STRING},
	    {"lowercase", KVS_READ_STRING | KVS_READ_LOWER},
	    {"error_word", KVS_READ_STRING | KVS_READ_WORD | KVS_READ_DASH},
	};
	const char *name;
	char q[80];

	if (profile_doc__string(d, n, what, &name))
		return -1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			r->flags = kinds[i].flags;
			return 0;
		}
	}
	return profile_doc__error(d, n,
				  "%s: unknown string kind %s (expected text, lowercase or "
				  "error_word)",
				  what, profile_doc__quote(name, q, sizeof(q)));
}

typedef int (*read_field_fn)(struct profile_doc *d, const yaml_node_t *n, const char *what,
			     struct profile_read *r);

/* Parses `key` of read `n` when present; `required` makes it mandatory. */
static int read_field(struct profile_doc *d, const yaml_node_t *n, const char *what,
		      const char *key, bool required, read_field_fn parse, struct profile_read *r)
{
	yaml_node_t *v = profile_doc__get(d, n, key);
	char sub[48];

	if (!v && required)
		return profile_doc__error(d, n, "%s: %s is required", what, key);
	snprintf(sub, sizeof(sub), "%s.%s", what, key);
	return v ? parse(d, v, sub, r) : 0;
}

/* Where a value starts: exactly one of arg and result, and the site must have it. */
static int parse_start(struct profile_doc *d, const yaml_node_t *n, const char *what,
		       const struct profile_probe *pr, struct profile_read *r)
{
	yaml_node_t *arg = profile_doc__get(d, n, "arg");
	yaml_node_t *result = profile_doc__get(d, n, "result");

	if (!arg == !result)
		return profile_doc__error(d, n, "%s: give exactly one of arg, result", what);
	if (result && pr->site == PROFILE_SITE_ENTRY)
		return profile_doc__error(d, result,
					  "%s: result needs site {call_return: FUNCTION} or "
					  "return: at the entry nothing has returned yet",
					  what);
	if (arg && (pr->site == PROFILE_SITE_RETURN || pr->site == PROFILE_SITE_RET))
		return profile_doc__error(d, arg,
					  "%s: arg is not kept until the function returns; "
					  "read it at the entry",
					  what);
	r->from = arg ? PROFILE_FROM_ARG : PROFILE_FROM_RESULT;
	r->line = (int)n->start_mark.line + 1;
	return read_field(d, n, what, arg ? "arg" : "result", true, parse_word, r);
}

static int parse_read(struct profile_doc *d, const yaml_node_t *n, const char *what, bool gauge,
		      const struct profile_probe *pr, struct profile_read *r)
{
	memset(r, 0, sizeof(*r));
	r->size = 8;
	if (profile_doc__map(d, n, what, gauge ? gauge_read_keys : value_keys))
		return -1;
	if (parse_start(d, n, what, pr, r) ||
	    read_field(d, n, what, "path", false, parse_path, r) ||
	    read_field(d, n, what, "size", false, parse_size, r) ||
	    (!gauge && read_field(d, n, what, "string", false, parse_string_kind, r)))
		return -1;
	return gauge ? read_field(d, n, what, "gauge", true, parse_gauge, r) : 0;
}

static int parse_reads(struct profile_doc *d, const yaml_node_t *n, struct profile_probe *pr)
{
	int len;

	if (profile_doc__expect(d, n, YAML_SEQUENCE_NODE, "reads"))
		return -1;
	len = profile_doc__seq_len(n);
	if (len < 1 || len > KVS_MAX_READS)
		return profile_doc__error(d, n, "reads: needs 1 to %d reads, found %d",
					  KVS_MAX_READS, len);
	for (int i = 0; i < len; i++) {
		char what[24];

		snprintf(what, sizeof(what), "reads[%d]", i + 1);
		pr->nreads = i + 1;
		if (parse_read(d, profile_doc__seq_item(d, n, i), what, true, pr, &pr->reads[i]))
			return -1;
	}
	return 0;
}

static int parse_site_scalar(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
			     struct profile_probe *pr)
{
	const char *s = (const char *)n->data.scalar.value;
	char q[80];

	if (strcmp(s, "entry") == 0) {
		pr->site = PROFILE_SITE_ENTRY;
		return 0;
	}
	if (strcmp(s, "ret") != 0 && strcmp(s, "return") != 0)
		return profile_doc__error(d, n,
					  "site: unknown site %s (expected entry, ret, return or "
					  "{call_return: FUNCTION})",
					  profile_doc__quote(s, q, sizeof(q)));
	if (p->lang == PROFILE_LANG_GO)
		return profile_doc__error(d, n,
					  "site: %s is not allowed for language go: Go moves "
					  "goroutine stacks, which breaks return probes; use "
					  "{call_return: FUNCTION}",
					  s);
	pr->site = strcmp(s, "ret") == 0 ? PROFILE_SITE_RET : PROFILE_SITE_RETURN;
	return 0;
}

static int parse_site_map(struct profile_doc *d, const yaml_node_t *n, struct profile_probe *pr)
{
	yaml_node_t *callee;

	if (profile_doc__map(d, n, "site", site_keys))
		return -1;
	callee = profile_doc__get(d, n, "call_return");
	if (!callee)
		return profile_doc__error(d, n, "site: give call_return");
	pr->site = PROFILE_SITE_CALL_RETURN;
	return profile_doc__names(d, callee, "site.call_return", pr->callees, &pr->ncallees);
}

static int parse_site(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
		      struct profile_probe *pr)
{
	if (!n) {
		pr->site = PROFILE_SITE_ENTRY;
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE)
		return parse_site_scalar(d, p, n, pr);
	return parse_site_map(d, n, pr);
}

static int parse_role(struct profile_doc *d, const yaml_node_t *n, struct profile_probe *pr)
{
	const char *name;
	char q[80];

	if (profile_doc__string(d, n, "role", &name))
		return -1;
	for (int role = KVS_ROLE_NONE + 1; role < KVS_ROLE_COUNT; role++) {
		if (strcmp(name, profile_role_name(role)) == 0) {
			pr->role = role;
			return 0;
		}
	}
	return profile_doc__error(d, n,
				  "unknown role %s (expected request_start, request_end, "
				  "storage_op, gauges or leader_change)",
				  profile_doc__quote(name, q, sizeof(q)));
}

static int check_need(struct profile_doc *d, const yaml_node_t *probe, enum kvs_role role,
		      const char *key, enum need need)
{
	yaml_node_t *v = profile_doc__get(d, probe, key);

	if (v && need == FORBIDDEN)
		return profile_doc__error(d, v, "%s is not allowed for role %s", key,
					  profile_role_name(role));
	if (!v && need == REQUIRED)
		return profile_doc__error(d, probe, "role %s needs %s", profile_role_name(role),
					  key);
	return 0;
}

static int check_needs(struct profile_doc *d, const yaml_node_t *n, enum kvs_role role)
{
	const struct role_needs *needs = &role_needs[role];

	return check_need(d, n, role, "method", needs->method) ||
		       check_need(d, n, role, "operation", needs->operation) ||
		       check_need(d, n, role, "value", needs->value) ||
		       check_need(d, n, role, "reads", needs->reads)
		   ? -1
		   : 0;
}

/* The method or operation label, looked up in the profile's own lists. */
static int parse_label(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
		       const char *key, struct profile_probe *pr)
{
	bool is_method = strcmp(key, "method") == 0;
	const char *name;
	char q[80];

	if (profile_doc__string(d, n, key, &name))
		return -1;
	pr->label = is_method ? profile__method(p, name) : profile__operation(p, name);
	if (pr->label < 0)
		return profile_doc__error(d, n, "%s %s is not in %s", key,
					  profile_doc__quote(name, q, sizeof(q)),
					  is_method ? "methods" : "operations");
	return 0;
}

static int parse_meaning(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
			 struct profile_probe *pr)
{
	yaml_node_t *method = profile_doc__get(d, n, "method");
	yaml_node_t *operation = profile_doc__get(d, n, "operation");
	yaml_node_t *value = profile_doc__get(d, n, "value");
	yaml_node_t *reads = profile_doc__get(d, n, "reads");

	if (check_needs(d, n, pr->role))
		return -1;
	if (method && parse_label(d, p, method, "method", pr))
		return -1;
	if (operation && parse_label(d, p, operation, "operation", pr))
		return -1;
	if (value) {
		pr->has_value = true;
		if (parse_read(d, value, "value", false, pr, &pr->value))
			return -1;
	}
	if (pr->role == KVS_ROLE_REQUEST_START && !method == !value)
		return profile_doc__error(d, n,
					  "role request_start needs exactly one of method, "
					  "value (a string naming the method)");
	if ((pr->role == KVS_ROLE_REQUEST_ERROR || (pr->role == KVS_ROLE_REQUEST_START && value)) &&
	    !(pr->value.flags & KVS_READ_STRING))
		return profile_doc__error(d, value,
					  "value: role %s reads a string: give string: "
					  "text, lowercase or error_word",
					  profile_role_name(pr->role));
	return reads ? parse_reads(d, reads, pr) : 0;
}

int profile_probe__parse(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
			 int index, struct profile_probe *pr)
{
	yaml_node_t *function;
	char what[24];

	pr->label = -1;
	pr->line = (int)n->start_mark.line + 1;
	snprintf(what, sizeof(what), "probe %d", index + 1);
	if (profile_doc__map(d, n, what, probe_keys))
		return -1;
	snprintf(d->where, sizeof(d->where), "probe %d: ", index + 1);
	function = profile_doc__get(d, n, "function");
	if (!function || !profile_doc__get(d, n, "role"))
		return profile_doc__error(d, n, "%s is required", function ? "role" : "function");
	if (profile_doc__names(d, function, "function", pr->functions, &pr->nfunctions))
		return -1;
	pr->function = pr->functions[0];
	if (parse_role(d, profile_doc__get(d, n, "role"), pr) ||
	    parse_site(d, p, profile_doc__get(d, n, "site"), pr))
		return -1;
	return parse_meaning(d, p, n, pr);
}
