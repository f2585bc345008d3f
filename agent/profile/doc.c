// SPDX-License-Identifier: Apache-2.0
/* Typed, line-numbered access to the nodes of a profile's YAML document. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/doc.h"
#include "profile/pattern.h"

static int verror(struct profile_doc *d, size_t line, const char *fmt, va_list ap)
{
	char reason[320];

	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (d->err && d->errlen)
		snprintf(d->err, d->errlen, "%s:%zu: %s%s", d->source, line, d->where, reason);
	return -1;
}

int profile_doc__error(struct profile_doc *d, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(d, at ? at->start_mark.line + 1 : 1, fmt, ap);
	va_end(ap);
	return -1;
}

int profile_doc__error_line(struct profile_doc *d, size_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(d, line, fmt, ap);
	va_end(ap);
	return -1;
}

const char *profile_doc__quote(const char *s, char *buf, size_t len)
{
	size_t i = 0, max = len - 6;

	if (len < 8)
		return "\"\"";
	buf[i++] = '"';
	for (; *s && i < max; s++)
		buf[i++] = isprint((unsigned char)*s) ? *s : '?';
	if (*s)
		i += (size_t)snprintf(buf + i, len - i, "...");
	buf[i++] = '"';
	buf[i] = '\0';
	return buf;
}

const char *profile_doc__kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "scalar";
	case YAML_SEQUENCE_NODE:
		return "list";
	case YAML_MAPPING_NODE:
		return "map";
	default:
		return "nothing";
	}
}

/* A label value a store's own names fit: Redis commands like restore-asking. */
bool profile_doc__label_safe(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			return false;
	return true;
}

int profile_doc__seq_len(const yaml_node_t *seq)
{
	return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *profile_doc__seq_item(struct profile_doc *d, const yaml_node_t *seq, int i)
{
	return yaml_document_get_node(d->doc, seq->data.sequence.items.start[i]);
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

yaml_node_t *profile_doc__get(struct profile_doc *d, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++)
		if (scalar_is(yaml_document_get_node(d->doc, pair->key), key))
			return yaml_document_get_node(d->doc, pair->value);
	return NULL;
}

int profile_doc__expect(struct profile_doc *d, const yaml_node_t *n, yaml_node_type_t type,
			const char *what)
{
	static const char *const names[] = {
	    [YAML_SCALAR_NODE] = "a string",
	    [YAML_SEQUENCE_NODE] = "a list",
	    [YAML_MAPPING_NODE] = "a map",
	};

	if (n->type == type)
		return 0;
	return profile_doc__error(d, n, "%s: expected %s, found a %s", what, names[type],
				  profile_doc__kind(n));
}

static bool key_allowed(const yaml_node_t *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (scalar_is(key, *allowed))
			return true;
	return false;
}

/* Keys are checked in order, so a repeat is always of an allowed key. */
static bool key_seen_before(struct profile_doc *d, const yaml_node_t *map,
			    const yaml_node_pair_t *pair)
{
	const yaml_node_pair_t *prev;
	const yaml_node_t *key = yaml_document_get_node(d->doc, pair->key);

	for (prev = map->data.mapping.pairs.start; prev < pair; prev++)
		if (scalar_is(yaml_document_get_node(d->doc, prev->key),
			      (const char *)key->data.scalar.value))
			return true;
	return false;
}

int profile_doc__map(struct profile_doc *d, const yaml_node_t *n, const char *what,
		     const char *const *allowed)
{
	yaml_node_pair_t *pair;
	char q[80];

	if (profile_doc__expect(d, n, YAML_MAPPING_NODE, what))
		return -1;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(d->doc, pair->key);

		if (key->type != YAML_SCALAR_NODE)
			return profile_doc__error(d, key, "%s: a key must be a string, found a %s",
						  what, profile_doc__kind(key));
		if (!key_allowed(key, allowed))
			return profile_doc__error(
			    d, key, "%s: unknown key %s", what,
			    profile_doc__quote((const char *)key->data.scalar.value, q, sizeof(q)));
		if (key_seen_before(d, n, pair))
			return profile_doc__error(d, key, "%s: duplicate key %s", what,
						  (const char *)key->data.scalar.value);
	}
	return 0;
}

int profile_doc__string(struct profile_doc *d, const yaml_node_t *n, const char *what,
			const char **out)
{
	const char *s;

	if (profile_doc__expect(d, n, YAML_SCALAR_NODE, what))
		return -1;
	s = (const char *)n->data.scalar.value;
	if (!n->data.scalar.length)
		return profile_doc__error(d, n, "%s: must not be empty", what);
	if (strlen(s) != n->data.scalar.length)
		return profile_doc__error(d, n, "%s: contains a NUL byte", what);
	*out = s;
	return 0;
}

int profile_doc__strdup(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out)
{
	const char *s;

	if (profile_doc__string(d, n, what, &s))
		return -1;
	*out = strdup(s);
	if (!*out)
		return profile_doc__error(d, n, "%s: out of memory", what);
	return 0;
}

/* Magnitude of "[+-](0x<hex>|<decimal>)"; false on anything else or overflow. */
static bool parse_magnitude(const char *s, bool *negative, unsigned long long *mag, bool *overflow)
{
	int base = 10;
	char *end;

	*negative = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!(base == 16 ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s)))
		return false;
	errno = 0;
	*mag = strtoull(s, &end, base);
	*overflow = errno == ERANGE;
	return *end == '\0';
}

int profile_doc__int(struct profile_doc *d, const yaml_node_t *n, const char *what, int64_t min,
		     int64_t max, int64_t *out)
{
	unsigned long long mag;
	bool negative, overflow;
	const char *s;
	char q[80];

	if (profile_doc__expect(d, n, YAML_SCALAR_NODE, what))
		return -1;
	s = (const char *)n->data.scalar.value;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return profile_doc__error(d, n, "%s: expected an integer, found a quoted string",
					  what);
	if (strlen(s) != n->data.scalar.length || !parse_magnitude(s, &negative, &mag, &overflow))
		return profile_doc__error(d, n, "%s: expected an integer, found %s", what,
					  profile_doc__quote(s, q, sizeof(q)));
	if (overflow || mag > (unsigned long long)INT64_MAX + negative)
		goto out_of_range;
	*out = negative ? (int64_t)(0 - mag) : (int64_t)mag;
	if (*out < min || *out > max)
		goto out_of_range;
	return 0;
out_of_range:
	return profile_doc__error(d, n, "%s: %s is out of range %" PRId64 "..%" PRId64, what,
				  profile_doc__quote(s, q, sizeof(q)), min, max);
}

int profile_doc__regex(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out)
{
	char msg[256];
	regex_t re;
	int rc;

	if (profile_doc__strdup(d, n, what, out))
		return -1;
	/* before regcomp: a pattern within the bounds cannot make it exhaust memory */
	if (pattern__check(*out, msg, sizeof(msg)))
		return profile_doc__error(d, n, "%s: pattern refused: %s", what, msg);
	rc = regcomp(&re, *out, REG_EXTENDED | REG_NOSUB);
	if (rc == 0) {
		regfree(&re);
		return 0;
	}
	regerror(rc, &re, msg, sizeof(msg));
	return profile_doc__error(d, n, "%s: not a POSIX extended regular expression: %s", what,
				  msg);
}

static bool seen_before(char **strings, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(strings[i], s) == 0)
			return true;
	return false;
}

static int check_label(struct profile_doc *d, const yaml_node_t *n, const char *what, const char *s,
		       char **prev, int nprev)
{
	char q[80];

	if (!profile_doc__label_safe(s) || strlen(s) > PROFILE_LABEL_MAX_LEN)
		return profile_doc__error(d, n,
					  "%s: %s is not a label name ([A-Za-z_][A-Za-z0-9_-]*, "
					  "at most %d characters)",
					  what, profile_doc__quote(s, q, sizeof(q)),
					  PROFILE_LABEL_MAX_LEN);
	if (seen_before(prev, nprev, s))
		return profile_doc__error(d, n, "%s: duplicate %s", what,
					  profile_doc__quote(s, q, sizeof(q)));
	return 0;
}

int profile_doc__strings(struct profile_doc *d, const yaml_node_t *n, const char *what, bool labels,
			 int max, char ***out, int *count)
{
	int len;

	if (profile_doc__expect(d, n, YAML_SEQUENCE_NODE, what))
		return -1;
	len = profile_doc__seq_len(n);
	if (len > max)
		return profile_doc__error(d, n, "%s: at most %d entries, found %d", what, max, len);
	*out = calloc(len ? (size_t)len : 1, sizeof(**out));
	if (!*out)
		return profile_doc__error(d, n, "%s: out of memory", what);
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = profile_doc__seq_item(d, n, i);
		const char *s;

		if (profile_doc__string(d, item, what, &s))
			return -1;
		if (labels && check_label(d, item, what, s, *out, *count))
			return -1;
		(*out)[i] = strdup(s);
		if (!(*out)[i])
			return profile_doc__error(d, item, "%s: out of memory", what);
		(*count)++;
	}
	return 0;
}

int profile_doc__names(struct profile_doc *d, const yaml_node_t *n, const char *what, char **out,
		       int *count)
{
	int len;

	*count = 0;
	if (n->type == YAML_SCALAR_NODE) {
		if (profile_doc__strdup(d, n, what, &out[0]))
			return -1;
		*count = 1;
		return 0;
	}
	if (profile_doc__expect(d, n, YAML_SEQUENCE_NODE, what))
		return -1;
	len = profile_doc__seq_len(n);
	if (len < 1 || len > PROFILE_MAX_NAMES)
		return profile_doc__error(d, n, "%s: 1 to %d alternative names, found %d", what,
					  PROFILE_MAX_NAMES, len);
	for (int i = 0; i < len; i++) {
		if (profile_doc__strdup(d, profile_doc__seq_item(d, n, i), what, &out[i]))
			return -1;
		*count = i + 1;
	}
	return 0;
}
