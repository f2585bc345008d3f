/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the profile parser (profile*.c): typed access to the nodes of a
 * loaded YAML document, each failure reported as "SOURCE:LINE: reason" with
 * the line of the offending node.
 */
#ifndef KVSCOPE_PROFILE_DOC_H
#define KVSCOPE_PROFILE_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "profile/profile.h"

#define PROFILE_LABEL_MAX_LEN 63

struct profile_doc {
	yaml_document_t *doc;
	const char *source;
	char *err;
	size_t errlen;
	char where[32];		       /* "probe 3: " while inside a probe, else "" */
	const struct profile *profile; /* what is parsed so far: the structs reads refer to */
};

/* Writes "SOURCE:LINE: <where><reason>" (line of `at`, 1 when NULL); returns -1. */
int profile_doc__error(struct profile_doc *d, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int profile_doc__error_line(struct profile_doc *d, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies `s` for a message: quoted, shortened, non-printable bytes as '?'. */
const char *profile_doc__quote(const char *s, char *buf, size_t len);

const char *profile_doc__kind(const yaml_node_t *n);
bool profile_doc__label_safe(const char *s);

/* Child `i` of a sequence, value of `key` in a map (NULL when absent). */
int profile_doc__seq_len(const yaml_node_t *seq);
yaml_node_t *profile_doc__seq_item(struct profile_doc *d, const yaml_node_t *seq, int i);
yaml_node_t *profile_doc__get(struct profile_doc *d, const yaml_node_t *map, const char *key);

/*
 * Fails unless `n` is a node of `type`; for maps also unless every key is a
 * string in `allowed` (NULL-terminated) and appears once.
 */
int profile_doc__expect(struct profile_doc *d, const yaml_node_t *n, yaml_node_type_t type,
			const char *what);
int profile_doc__map(struct profile_doc *d, const yaml_node_t *n, const char *what,
		     const char *const *allowed);

/* A non-empty string without NUL bytes; borrowed from the document. */
int profile_doc__string(struct profile_doc *d, const yaml_node_t *n, const char *what,
			const char **out);
int profile_doc__strdup(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out);
/* A plain decimal or 0x-hex integer within [min, max]. */
int profile_doc__int(struct profile_doc *d, const yaml_node_t *n, const char *what, int64_t min,
		     int64_t max, int64_t *out);
/* A POSIX extended regular expression within pattern.h's bounds, checked, copied. */
int profile_doc__regex(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out);

/*
 * A list of strings into a new array; *n counts the copies made so far, so
 * the caller frees a partial result the same way as a full one. With
 * `labels`, entries must be unique and label-safe; at most `max` entries.
 */
int profile_doc__strings(struct profile_doc *d, const yaml_node_t *n, const char *what, bool labels,
			 int max, char ***out, int *count);

/*
 * One entry of `probes` into `pr` (label -1, line set). Strings already
 * copied into `pr` stay there on error, for profile__free.
 */
int profile_probe__parse(struct profile_doc *d, const struct profile *p, const yaml_node_t *n,
			 int index, struct profile_probe *pr);

/* The `structs` section into p->structs; field references are checked. */
int profile_structs__parse(struct profile_doc *d, const yaml_node_t *root, struct profile *p);
void profile_structs__free(struct profile *p);

/*
 * A name or a list of 1 to PROFILE_MAX_NAMES alternative names (spellings of
 * one function or module) into out[]; *count counts the copies made.
 */
int profile_doc__names(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out,
		       int *count);

#endif
