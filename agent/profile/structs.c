// SPDX-License-Identifier: Apache-2.0
/*
 * The `structs` section of a profile: field offsets of the store's structs,
 * fixed for a given source version, optionally by version range; and the
 * field paths reads take through them ("raft.raftLog.committed").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/doc.h"

static const char *const field_keys[] = {"offset", "points_to", "embeds", "from", "to", NULL};

const struct profile_struct *profile__struct(const struct profile *p, const char *name)
{
	for (int i = 0; p && i < p->nstructs; i++)
		if (strcmp(p->structs[i].name, name) == 0)
			return &p->structs[i];
	return NULL;
}

static int parse_field_map(struct profile_doc *d, const yaml_node_t *n, const char *what,
			   struct profile_field *f)
{
	yaml_node_t *offset, *points_to, *embeds, *from, *to;

	if (profile_doc__map(d, n, what, field_keys))
		return -1;
	offset = profile_doc__get(d, n, "offset");
	points_to = profile_doc__get(d, n, "points_to");
	embeds = profile_doc__get(d, n, "embeds");
	from = profile_doc__get(d, n, "from");
	to = profile_doc__get(d, n, "to");
	if (!offset)
		return profile_doc__error(d, n, "%s: offset is required", what);
	if (points_to && embeds)
		return profile_doc__error(d, n, "%s: give points_to or embeds, not both", what);
	if (profile_doc__int(d, offset, what, 0, INT32_MAX, &f->offset))
		return -1;
	if ((points_to && profile_doc__strdup(d, points_to, what, &f->points_to)) ||
	    (embeds && profile_doc__strdup(d, embeds, what, &f->embeds)) ||
	    (from && profile_doc__strdup(d, from, what, &f->from)) ||
	    (to && profile_doc__strdup(d, to, what, &f->to)))
		return -1;
	return 0;
}

/* One field: an offset, a map, or a list of maps for version ranges. */
static int parse_field(struct profile_doc *d, struct profile_struct *s, const char *name,
		       const yaml_node_t *n)
{
	int alts = n->type == YAML_SEQUENCE_NODE ? profile_doc__seq_len(n) : 1;
	char what[96];

	snprintf(what, sizeof(what), "structs.%s.%s", s->name, name);
	if (alts < 1 || s->nfields + alts > PROFILE_MAX_FIELDS)
		return profile_doc__error(d, n,
					  "%s: 1 to %d fields (with version ranges) per struct",
					  what, PROFILE_MAX_FIELDS);
	for (int i = 0; i < alts; i++) {
		const yaml_node_t *item =
		    n->type == YAML_SEQUENCE_NODE ? profile_doc__seq_item(d, n, i) : n;
		struct profile_field *f = &s->fields[s->nfields++];

		f->name = strdup(name);
		if (!f->name)
			return profile_doc__error(d, n, "out of memory");
		if (item->type == YAML_SCALAR_NODE) {
			if (profile_doc__int(d, item, what, 0, INT32_MAX, &f->offset))
				return -1;
		} else if (parse_field_map(d, item, what, f)) {
			return -1;
		}
	}
	return 0;
}

static int parse_struct(struct profile_doc *d, const yaml_node_t *key, const yaml_node_t *value,
			struct profile_struct *s)
{
	yaml_node_pair_t *pair;

	if (profile_doc__strdup(d, key, "structs", &s->name))
		return -1;
	if (profile_doc__expect(d, value, YAML_MAPPING_NODE, "structs"))
		return -1;
	for (pair = value->data.mapping.pairs.start; pair < value->data.mapping.pairs.top; pair++) {
		yaml_node_t *fk = yaml_document_get_node(d->doc, pair->key);
		yaml_node_t *fv = yaml_document_get_node(d->doc, pair->value);
		const char *name;

		if (profile_doc__string(d, fk, "structs", &name) || parse_field(d, s, name, fv))
			return -1;
	}
	return 0;
}

/* Every struct a field refers to must be in the section. */
static int check_references(struct profile_doc *d, const yaml_node_t *n, const struct profile *p)
{
	for (int i = 0; i < p->nstructs; i++) {
		const struct profile_struct *s = &p->structs[i];

		for (int k = 0; k < s->nfields; k++) {
			const char *ref =
			    s->fields[k].points_to ? s->fields[k].points_to : s->fields[k].embeds;
			if (ref && !profile__struct(p, ref))
				return profile_doc__error(d, n, "structs.%s.%s: no struct %s",
							  s->name, s->fields[k].name, ref);
		}
	}
	return 0;
}

int profile_structs__parse(struct profile_doc *d, const yaml_node_t *root, struct profile *p)
{
	yaml_node_t *n = profile_doc__get(d, root, "structs");
	int len;

	if (!n)
		return 0;
	if (profile_doc__expect(d, n, YAML_MAPPING_NODE, "structs"))
		return -1;
	len = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (len > PROFILE_MAX_STRUCTS)
		return profile_doc__error(d, n, "structs: at most %d, found %d",
					  PROFILE_MAX_STRUCTS, len);
	for (int i = 0; i < len; i++) {
		yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
		yaml_node_t *key = yaml_document_get_node(d->doc, pair->key);

		p->nstructs = i + 1;
		if (parse_struct(d, key, yaml_document_get_node(d->doc, pair->value),
				 &p->structs[i]))
			return -1;
		if (profile__struct(p, p->structs[i].name) != &p->structs[i])
			return profile_doc__error(d, key, "structs: duplicate %s",
						  p->structs[i].name);
	}
	return check_references(d, n, p);
}

void profile_structs__free(struct profile *p)
{
	for (int i = 0; i < p->nstructs; i++) {
		struct profile_struct *s = &p->structs[i];

		free(s->name);
		for (int k = 0; k < s->nfields; k++) {
			free(s->fields[k].name);
			free(s->fields[k].points_to);
			free(s->fields[k].embeds);
			free(s->fields[k].from);
			free(s->fields[k].to);
		}
	}
}

/* The field's alternative for `version`; with version NULL, any (for checking paths). */
static const struct profile_field *find_field(const struct profile_struct *s, const char *name,
					      const char *version, bool *named)
{
	*named = false;
	for (int k = 0; k < s->nfields; k++) {
		const struct profile_field *f = &s->fields[k];

		if (strcmp(f->name, name) != 0)
			continue;
		*named = true;
		if (!version || ((!f->from || strverscmp(version, f->from) >= 0) &&
				 (!f->to || strverscmp(version, f->to) <= 0)))
			return f;
	}
	return NULL;
}

struct path_walk {
	const struct profile *p;
	const char *version;
	int32_t *deref;
	int max, n;
	int64_t pending; /* offset of embedded structs not yet added to a load */
	char *err;
	size_t errlen;
};

/* One component after the struct: follows the field into its struct, if any. */
static const struct profile_struct *walk_field(struct path_walk *w, const struct profile_struct *s,
					       const char *name, bool last)
{
	bool named;
	const struct profile_field *f = find_field(s, name, w->version, &named);

	if (!f) {
		snprintf(w->err, w->errlen,
			 named ? "field %s.%s has no offset for version %s" : "no field %s.%s%.0s",
			 s->name, name, w->version ? w->version : "");
		return NULL;
	}
	w->pending += f->offset;
	if (f->embeds && !last)
		return profile__struct(w->p, f->embeds);
	if (w->n == w->max) {
		snprintf(w->err, w->errlen, "path through %s.%s: more than %d loads", s->name, name,
			 w->max);
		return NULL;
	}
	w->deref[w->n++] = (int32_t)w->pending;
	w->pending = 0;
	if (last)
		return s;
	if (!f->points_to) {
		snprintf(w->err, w->errlen, "field %s.%s is a value: the path cannot go on",
			 s->name, name);
		return NULL;
	}
	return profile__struct(w->p, f->points_to);
}

int profile__path_derefs(const struct profile *p, const char *path, const char *version,
			 int32_t *deref, int max, char *err, size_t errlen)
{
	struct path_walk w = {p, version, deref, max, 0, 0, err, errlen};
	char copy[256], *save = NULL, *part;
	const struct profile_struct *s;

	if (!path)
		return 0;
	if (strlen(path) >= sizeof(copy)) {
		snprintf(err, errlen, "path %.32s...: too long", path);
		return -1;
	}
	memcpy(copy, path, strlen(path) + 1);
	part = strtok_r(copy, ".", &save);
	s = part ? profile__struct(p, part) : NULL;
	if (!s) {
		snprintf(err, errlen, "path %s: no struct %s", path, part ? part : "");
		return -1;
	}
	part = strtok_r(NULL, ".", &save);
	if (!part) {
		snprintf(err, errlen, "path %s: name a field of %s", path, s->name);
		return -1;
	}
	while (part) {
		char *next = strtok_r(NULL, ".", &save);

		s = walk_field(&w, s, part, next == NULL);
		if (!s)
			return -1;
		part = next;
	}
	return w.n;
}
