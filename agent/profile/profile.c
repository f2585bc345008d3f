// SPDX-License-Identifier: Apache-2.0
/*
 * Store profiles, format 1 (profiles/README.md). The whole document is
 * loaded first so anchors and aliases resolve and every node keeps its line;
 * then each section is checked strictly: unknown keys are errors, because a
 * misspelt key silently ignored would probe the wrong thing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/doc.h"

#define PROFILE_MAX_BYTES   (1 << 20)
#define PROFILE_MAX_SYMBOLS 64
#define PROFILE_MAX_DEPTH   16 /* format 1 nests six levels deep */
#define STATUS_MIN	    100
#define STATUS_MAX	    599
#define STATUS_DEFAULT	    500

static const char *const root_keys[] = {
    "format",	  "name",   "store", "language", "match",  "version",	   "target_name", "methods",
    "operations", "status", "raft",  "files",	 "probes", "storage_size", "structs",	  NULL};
static const char *const match_keys[] = {"go_module", "version_regex", "symbols", NULL};
static const char *const version_keys[] = {"go_string", "c_string", NULL};
static const char *const target_name_keys[] = {"flag", "env", NULL};
static const char *const status_keys[] = {"codes", "default", "words", "bare_error", NULL};
static const char *const storage_size_keys[] = {"files", NULL};
static const char *const raft_keys[] = {"leader_state", NULL};
static const char *const file_keys[] = {"glob", "class", NULL};

/* Checked before the other keys, so a newer profile says why it is refused. */
static int parse_format(struct profile_doc *d, const yaml_node_t *root)
{
	yaml_node_t *n = profile_doc__get(d, root, "format");
	int64_t format;

	if (!n)
		return profile_doc__error(d, root,
					  "format is required (this kvscope reads format %d)",
					  PROFILE_FORMAT_VERSION);
	if (profile_doc__int(d, n, "format", INT64_MIN, INT64_MAX, &format))
		return -1;
	if (format != PROFILE_FORMAT_VERSION)
		return profile_doc__error(d, n,
					  "format %lld is not supported (this kvscope reads "
					  "format %d)",
					  (long long)format, PROFILE_FORMAT_VERSION);
	return 0;
}

/* `what` names the map in messages ("files[2]"); NULL at the top level. */
static int required_strdup(struct profile_doc *d, const yaml_node_t *map, const char *what,
			   const char *key, char **out)
{
	yaml_node_t *n = profile_doc__get(d, map, key);
	char sub[48];

	snprintf(sub, sizeof(sub), "%s%s%s", what ? what : "", what ? "." : "", key);
	if (!n)
		return profile_doc__error(d, map, "%s is required", sub);
	return profile_doc__strdup(d, n, sub, out);
}

static int parse_identity(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *lang = profile_doc__get(d, root, "language");
	const char *s;
	char q[80];

	if (required_strdup(d, root, NULL, "name", &p->name) ||
	    required_strdup(d, root, NULL, "store", &p->store))
		return -1;
	if (!lang)
		return profile_doc__error(d, root, "language is required (go or c)");
	if (profile_doc__string(d, lang, "language", &s))
		return -1;
	if (strcmp(s, "go") == 0)
		p->lang = PROFILE_LANG_GO;
	else if (strcmp(s, "c") == 0)
		p->lang = PROFILE_LANG_C;
	else
		return profile_doc__error(d, lang,
					  "language: unknown language %s (expected go or c)",
					  profile_doc__quote(s, q, sizeof(q)));
	return 0;
}

/* Keys that only make sense for Go binaries are refused for C stores. */
static int go_only(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
		   const char *what)
{
	if (p->lang == PROFILE_LANG_GO)
		return 0;
	return profile_doc__error(d, n, "%s is only for language go", what);
}

/* Go binaries are recognised by module, C binaries only by their symbols. */
static int check_recognisable(struct profile_doc *d, const yaml_node_t *at, const struct profile *p)
{
	if (p->lang == PROFILE_LANG_GO && !p->go_module)
		return profile_doc__error(d, at, "match.go_module is required for language go");
	if (p->lang == PROFILE_LANG_C && p->nsymbols == 0)
		return profile_doc__error(d, at,
					  "match.symbols (at least one) is required for "
					  "language c");
	return 0;
}

static int parse_match(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "match");
	yaml_node_t *module, *regex, *symbols;

	if (!n)
		return check_recognisable(d, root, p);
	if (profile_doc__map(d, n, "match", match_keys))
		return -1;
	module = profile_doc__get(d, n, "go_module");
	regex = profile_doc__get(d, n, "version_regex");
	symbols = profile_doc__get(d, n, "symbols");
	if (module &&
	    (go_only(d, p, module, "match.go_module") ||
	     profile_doc__names(d, module, "match.go_module", p->go_modules, &p->ngo_modules)))
		return -1;
	p->go_module = p->ngo_modules ? p->go_modules[0] : NULL;
	if (regex && profile_doc__regex(d, regex, "match.version_regex", &p->version_regex))
		return -1;
	if (symbols && profile_doc__strings(d, symbols, "match.symbols", false, PROFILE_MAX_SYMBOLS,
					    &p->symbols, &p->nsymbols))
		return -1;
	return check_recognisable(d, n, p);
}

static int parse_version(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "version");
	yaml_node_t *go_string;

	if (!n)
		return 0;
	if (profile_doc__map(d, n, "version", version_keys))
		return -1;
	go_string = profile_doc__get(d, n, "go_string");
	yaml_node_t *c_string = profile_doc__get(d, n, "c_string");

	if (go_string && c_string)
		return profile_doc__error(d, n, "version: give go_string or c_string, not both");
	if (c_string)
		return profile_doc__regex(d, c_string, "version.c_string", &p->version_c_string);
	if (!go_string)
		return 0;
	if (go_only(d, p, go_string, "version.go_string"))
		return -1;
	return profile_doc__regex(d, go_string, "version.go_string", &p->version_go_string);
}

static int parse_target_name(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "target_name");
	yaml_node_t *flag, *env;

	if (!n)
		return 0;
	if (profile_doc__map(d, n, "target_name", target_name_keys))
		return -1;
	flag = profile_doc__get(d, n, "flag");
	env = profile_doc__get(d, n, "env");
	if (flag && profile_doc__strdup(d, flag, "target_name.flag", &p->name_flag))
		return -1;
	if (env && profile_doc__strdup(d, env, "target_name.env", &p->name_env))
		return -1;
	return 0;
}

static int parse_labels(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *methods = profile_doc__get(d, root, "methods");
	yaml_node_t *operations = profile_doc__get(d, root, "operations");

	if (methods && profile_doc__strings(d, methods, "methods", true, KVS_MAX_LABELS,
					    &p->methods, &p->nmethods))
		return -1;
	if (operations && profile_doc__strings(d, operations, "operations", true, KVS_MAX_LABELS,
					       &p->operations, &p->noperations))
		return -1;
	return 0;
}

static int parse_status_codes(struct profile_doc *d, const yaml_node_t *n, struct profile *p)
{
	yaml_node_pair_t *pair;

	if (profile_doc__expect(d, n, YAML_MAPPING_NODE, "status.codes"))
		return -1;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(d->doc, pair->key);
		yaml_node_t *value = yaml_document_get_node(d->doc, pair->value);
		int64_t code, status;
		char what[32];

		if (profile_doc__int(d, key, "status.codes", 0, KVS_MAX_CODES - 2, &code))
			return -1;
		snprintf(what, sizeof(what), "status.codes.%d", (int)code);
		if (profile_doc__int(d, value, what, STATUS_MIN, STATUS_MAX, &status))
			return -1;
		if (p->status_map[code])
			return profile_doc__error(d, key, "status.codes: code %d appears twice",
						  (int)code);
		p->status_map[code] = (int)status;
	}
	return 0;
}

/* status.words: error words of replies -> status; word i gets code i + 1 (0 is success). */
static int parse_status_words(struct profile_doc *d, const yaml_node_t *n, struct profile *p)
{
	int len;

	if (profile_doc__expect(d, n, YAML_MAPPING_NODE, "status.words"))
		return -1;
	len = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (len < 1 || len > KVS_MAX_CODES - 2)
		return profile_doc__error(d, n, "status.words: needs 1 to %d words, found %d",
					  KVS_MAX_CODES - 2, len);
	p->status_words = calloc((size_t)len, sizeof(*p->status_words));
	if (!p->status_words)
		return profile_doc__error(d, n, "out of memory");
	for (int i = 0; i < len; i++) {
		yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
		yaml_node_t *key = yaml_document_get_node(d->doc, pair->key);
		yaml_node_t *value = yaml_document_get_node(d->doc, pair->value);
		int64_t status;

		p->nstatus_words = i + 1;
		if (profile_doc__strdup(d, key, "status.words", &p->status_words[i]) ||
		    profile_doc__int(d, value, "status.words", STATUS_MIN, STATUS_MAX, &status))
			return -1;
		p->status_map[i + 1] = (int)status;
	}
	p->status_map[0] = 200; /* no error word: success */
	return 0;
}

static int parse_bare_error(struct profile_doc *d, const yaml_node_t *n, struct profile *p)
{
	const char *word;
	char q[80];

	if (profile_doc__string(d, n, "status.bare_error", &word))
		return -1;
	for (int i = 0; i < p->nstatus_words; i++) {
		if (strcmp(word, p->status_words[i]) == 0) {
			p->bare_error_code = i + 1;
			return 0;
		}
	}
	return profile_doc__error(d, n, "status.bare_error: %s is not in status.words",
				  profile_doc__quote(word, q, sizeof(q)));
}

static int parse_storage_size(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "storage_size");
	yaml_node_t *files;

	if (!n)
		return 0;
	if (profile_doc__map(d, n, "storage_size", storage_size_keys))
		return -1;
	files = profile_doc__get(d, n, "files");
	if (!files)
		return profile_doc__error(d, n, "storage_size.files is required");
	if (profile_doc__strings(d, files, "storage_size.files", false, 16, &p->size_files,
				 &p->nsize_files))
		return -1;
	for (int i = 0; i < p->nsize_files; i++) {
		/* relative, and never upwards: sizes are read below the process's cwd */
		if (strchr(p->size_files[i], '/') || !strcmp(p->size_files[i], "..") ||
		    !strcmp(p->size_files[i], "."))
			return profile_doc__error(d, files,
						  "storage_size.files: %s must name a file "
						  "or directory in the working directory",
						  p->size_files[i]);
	}
	return 0;
}

static int parse_status(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "status");
	yaml_node_t *codes, *fallback;
	int64_t status;

	p->status_default = STATUS_DEFAULT;
	if (!n)
		return 0;
	if (profile_doc__map(d, n, "status", status_keys))
		return -1;
	codes = profile_doc__get(d, n, "codes");
	fallback = profile_doc__get(d, n, "default");
	yaml_node_t *words = profile_doc__get(d, n, "words");
	yaml_node_t *bare = profile_doc__get(d, n, "bare_error");

	if (codes && words)
		return profile_doc__error(d, words, "status: give codes or words, not both");
	if (bare && !words)
		return profile_doc__error(d, bare, "status.bare_error needs status.words");
	if (codes && parse_status_codes(d, codes, p))
		return -1;
	if (words && parse_status_words(d, words, p))
		return -1;
	if (bare && parse_bare_error(d, bare, p))
		return -1;
	if (!fallback)
		return 0;
	if (profile_doc__int(d, fallback, "status.default", STATUS_MIN, STATUS_MAX, &status))
		return -1;
	p->status_default = (int)status;
	return 0;
}

static int parse_raft(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "raft");
	yaml_node_t *leader;
	int64_t state;

	if (!n)
		return 0;
	if (profile_doc__map(d, n, "raft", raft_keys))
		return -1;
	leader = profile_doc__get(d, n, "leader_state");
	if (!leader)
		return profile_doc__error(d, n, "raft.leader_state is required");
	if (profile_doc__int(d, leader, "raft.leader_state", 0, INT64_MAX, &state))
		return -1;
	p->raft_leader_state = (uint64_t)state;
	p->has_raft = true;
	return 0;
}

static int parse_file_rule(struct profile_doc *d, const yaml_node_t *n, const char *what,
			   struct profile_file_rule *rule)
{
	yaml_node_t *class;
	char q[80];

	if (profile_doc__map(d, n, what, file_keys))
		return -1;
	if (required_strdup(d, n, what, "glob", &rule->glob) ||
	    required_strdup(d, n, what, "class", &rule->class))
		return -1;
	class = profile_doc__get(d, n, "class");
	if (!profile_doc__label_safe(rule->class) || strlen(rule->class) > PROFILE_LABEL_MAX_LEN)
		return profile_doc__error(d, class,
					  "%s.class: %s is not a label name "
					  "([A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
					  what, profile_doc__quote(rule->class, q, sizeof(q)),
					  PROFILE_LABEL_MAX_LEN);
	return 0;
}

static int parse_files(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "files");
	int len;

	if (!n)
		return 0;
	if (profile_doc__expect(d, n, YAML_SEQUENCE_NODE, "files"))
		return -1;
	len = profile_doc__seq_len(n);
	if (len > PROFILE_MAX_FILE_RULES)
		return profile_doc__error(d, n, "files: at most %d rules, found %d",
					  PROFILE_MAX_FILE_RULES, len);
	for (int i = 0; i < len; i++) {
		char what[24];

		snprintf(what, sizeof(what), "files[%d]", i + 1);
		p->nfiles = i + 1;
		if (parse_file_rule(d, profile_doc__seq_item(d, n, i), what, &p->files[i]))
			return -1;
	}
	return 0;
}

static int parse_probes(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "probes");
	int len;

	if (!n)
		return profile_doc__error(d, root, "probes is required");
	if (profile_doc__expect(d, n, YAML_SEQUENCE_NODE, "probes"))
		return -1;
	len = profile_doc__seq_len(n);
	if (len < 1 || len > PROFILE_MAX_PROBES)
		return profile_doc__error(d, n, "probes: needs 1 to %d probes, found %d",
					  PROFILE_MAX_PROBES, len);
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = profile_doc__seq_item(d, n, i);

		/* Counted first: whatever the probe copied is freed with the profile. */
		p->nprobes = i + 1;
		if (profile_probe__parse(d, p, item, i, &p->probes[i]))
			return -1;
		d->where[0] = '\0';
		/* names read at run time need a bounded home for the unlisted ones */
		if (p->probes[i].role == KVS_ROLE_REQUEST_START && p->probes[i].has_value &&
		    profile__other_method(p) < 0)
			return profile_doc__error(d, item,
						  "probe %d: a method read at run time "
						  "needs \"other\" in methods",
						  i + 1);
	}
	return 0;
}

static int parse_root(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	d->profile = p;
	if (profile_doc__expect(d, root, YAML_MAPPING_NODE, "profile") || parse_format(d, root) ||
	    profile_doc__map(d, root, "profile", root_keys))
		return -1;
	if (parse_identity(d, root, p) || parse_match(d, root, p) || parse_version(d, root, p) ||
	    parse_target_name(d, root, p) || parse_labels(d, root, p) || parse_status(d, root, p) ||
	    parse_raft(d, root, p) || parse_files(d, root, p) || parse_storage_size(d, root, p) ||
	    profile_structs__parse(d, root, p))
		return -1;
	return parse_probes(d, root, p);
}

static size_t line_of_offset(const char *text, size_t len, size_t offset)
{
	size_t line = 1;

	for (size_t i = 0; i < offset && i < len; i++)
		line += text[i] == '\n';
	return line;
}

/* libyaml's own message, at its line; reader errors only know an offset. */
static int yaml_error(struct profile_doc *d, const yaml_parser_t *parser, const char *text,
		      size_t len)
{
	size_t line = parser->problem_mark.line + 1;
	const char *problem = parser->problem ? parser->problem : "malformed YAML";

	if (parser->error == YAML_MEMORY_ERROR)
		problem = "out of memory";
	if (parser->error == YAML_READER_ERROR)
		line = line_of_offset(text, len, parser->problem_offset);
	if (d->err && d->errlen)
		snprintf(d->err, d->errlen, "%s:%zu: YAML: %s%s%s", d->source, line, problem,
			 parser->context ? " " : "", parser->context ? parser->context : "");
	return -1;
}

static int check_event_depth(struct profile_doc *d, const yaml_event_t *event, int *depth)
{
	switch (event->type) {
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (++*depth > PROFILE_MAX_DEPTH)
			return profile_doc__error_line(d, event->start_mark.line + 1,
						       "nested more than %d levels deep",
						       PROFILE_MAX_DEPTH);
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		--*depth;
		return 0;
	default:
		return 0;
	}
}

/*
 * libyaml's scanner does work in proportion to the open flow collections for
 * every token, so text like "[[[[..." takes quadratic time to load. A first
 * pass over the events refuses deep nesting as soon as it is seen.
 */
static int check_nesting(struct profile_doc *d, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t event;
	int depth = 0, ret = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return profile_doc__error(d, NULL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && ret == 0) {
		if (!yaml_parser_parse(&parser, &event)) {
			ret = yaml_error(d, &parser, text, len);
			break;
		}
		done = event.type == YAML_STREAM_END_EVENT;
		ret = check_event_depth(d, &event, &depth);
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	return ret;
}

/* A profile is one YAML document; a second one would be silently unused. */
static int check_single_document(struct profile_doc *d, yaml_parser_t *parser, const char *text,
				 size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;
	int ret = 0;

	if (!yaml_parser_load(parser, &next))
		return yaml_error(d, parser, text, len);
	root = yaml_document_get_root_node(&next);
	if (root)
		ret = profile_doc__error(d, root, "a profile is a single YAML document");
	yaml_document_delete(&next);
	return ret;
}

static int parse_document(struct profile_doc *d, yaml_parser_t *parser, const char *text,
			  size_t len, struct profile *p)
{
	yaml_document_t doc;
	yaml_node_t *root;
	int ret = -1;

	if (!yaml_parser_load(parser, &doc))
		return yaml_error(d, parser, text, len);
	d->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root)
		profile_doc__error(d, NULL, "empty profile");
	else if (parse_root(d, root, p) == 0)
		ret = check_single_document(d, parser, text, len);
	d->doc = NULL;
	yaml_document_delete(&doc);
	return ret;
}

int profile__parse(const char *text, size_t len, const char *source, struct profile **out,
		   char *err, size_t errlen)
{
	struct profile_doc d = {
	    .source = source ? source : "<profile>", .err = err, .errlen = errlen};
	yaml_parser_t parser;
	struct profile *p;
	int ret = -1;

	*out = NULL;
	if (!text) {
		text = "";
		len = 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->source = strdup(d.source))) {
		profile_doc__error(&d, NULL, "out of memory");
		goto free_profile;
	}
	if (check_nesting(&d, text, len))
		goto free_profile;
	if (!yaml_parser_initialize(&parser)) {
		profile_doc__error(&d, NULL, "out of memory");
		goto free_profile;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	ret = parse_document(&d, &parser, text, len, p);
	yaml_parser_delete(&parser);
free_profile:
	if (ret)
		profile__free(p);
	else
		*out = p;
	return ret;
}

int profile__load(const char *path, struct profile **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	FILE *f;
	int ret;

	if (!err)
		errlen = 0;
	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	text = malloc(PROFILE_MAX_BYTES + 1);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -1;
		goto close_file;
	}
	len = fread(text, 1, PROFILE_MAX_BYTES + 1, f);
	if (ferror(f))
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
	else if (len > PROFILE_MAX_BYTES)
		snprintf(err, errlen, "%s: larger than %d bytes", path, PROFILE_MAX_BYTES);
	ret = ferror(f) || len > PROFILE_MAX_BYTES
		  ? -1
		  : profile__parse(text, len, path, out, err, errlen);
	free(text);
close_file:
	fclose(f);
	return ret;
}

static void free_strings(char **strings, int n)
{
	for (int i = 0; i < n; i++)
		free(strings[i]);
	free(strings);
}

void profile__free(struct profile *p)
{
	if (!p)
		return;
	free(p->source);
	free(p->name);
	free(p->store);
	for (int i = 0; i < p->ngo_modules; i++)
		free(p->go_modules[i]);
	free(p->version_regex);
	free_strings(p->symbols, p->nsymbols);
	free(p->version_go_string);
	free(p->version_c_string);
	free(p->name_flag);
	free(p->name_env);
	free_strings(p->methods, p->nmethods);
	free_strings(p->operations, p->noperations);
	for (int i = 0; i < p->nstatus_words; i++)
		free(p->status_words[i]);
	free(p->status_words);
	for (int i = 0; i < p->nsize_files; i++)
		free(p->size_files[i]);
	free(p->size_files);
	for (int i = 0; i < p->nfiles; i++) {
		free(p->files[i].glob);
		free(p->files[i].class);
	}
	for (int i = 0; i < p->nprobes; i++) {
		struct profile_probe *pr = &p->probes[i];

		for (int k = 0; k < pr->nfunctions; k++)
			free(pr->functions[k]);
		for (int k = 0; k < pr->ncallees; k++)
			free(pr->callees[k]);
		free(pr->value.path);
		for (int k = 0; k < pr->nreads; k++)
			free(pr->reads[k].path);
	}
	profile_structs__free(p);
	free(p);
}
