// SPDX-License-Identifier: Apache-2.0
/*
 * The web config file, read with libyaml's document API so every error can
 * name the line it is about. The format follows the Prometheus exporters'
 * web config; keys kvscope does not implement are errors rather than
 * silently ignored, since a protection that is not applied must not look as
 * if it were.
 */
#include "http/webconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* PEM files and the config itself are small; anything larger is a mistake. */
#define MAX_FILE_BYTES (1 << 20)

/* What a parse step needs: the document, where to resolve paths, errors. */
struct parse {
	yaml_document_t *doc;
	const char *path;
	const char *dir;
	struct web_config *cfg;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail_at(struct parse *p, const yaml_node_t *n,
							 const char *fmt, ...)
{
	char reason[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%lu: %s", p->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 1UL, reason);
	return -1;
}

static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Reads a whole small file into a NUL-terminated buffer; errno on failure. */
static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len;

	if (!f)
		return NULL;
	buf = malloc(MAX_FILE_BYTES + 1);
	if (!buf)
		goto err_close;
	len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
	if (ferror(f) || len > MAX_FILE_BYTES) {
		errno = ferror(f) ? EIO : EFBIG;
		goto err_free;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
err_free:
	free(buf);
err_close:
	fclose(f);
	return NULL;
}

/* `file` as the config names it, resolved and read; both kept in cfg. */
static int load_pem(struct parse *p, const yaml_node_t *v, const char *key, char **path_out,
		    char **pem_out)
{
	const char *file = scalar(v);
	char *path, *pem;

	if (!file || !*file)
		return fail_at(p, v, "%s: want a file name", key);
	if (file[0] == '/')
		path = strdup(file);
	else if (asprintf(&path, "%s/%s", p->dir, file) < 0)
		path = NULL;
	if (!path)
		return fail_at(p, v, "out of memory");
	pem = read_small_file(path);
	if (!pem || !strstr(pem, "-----BEGIN ")) {
		fail_at(p, v, "%s: cannot read %s: %s", key, path,
			pem ? "no PEM data" : strerror(errno));
		free(path);
		free(pem);
		return -1;
	}
	free(*path_out);
	free(*pem_out);
	*path_out = path;
	*pem_out = pem;
	return 0;
}

static const char *const client_auth_names[] = {
    [WEB_CLIENT_AUTH_NONE] = "NoClientCert",
    [WEB_CLIENT_AUTH_REQUEST] = "RequestClientCert",
    [WEB_CLIENT_AUTH_REQUIRE_ANY] = "RequireAnyClientCert",
    [WEB_CLIENT_AUTH_VERIFY_IF_GIVEN] = "VerifyClientCertIfGiven",
    [WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY] = "RequireAndVerifyClientCert",
};

static int parse_client_auth(struct parse *p, const yaml_node_t *v)
{
	const char *s = scalar(v);

	for (size_t i = 0; s && i < sizeof(client_auth_names) / sizeof(client_auth_names[0]); i++) {
		if (!strcmp(s, client_auth_names[i])) {
			p->cfg->client_auth = (enum web_client_auth)i;
			return 0;
		}
	}
	/* The exporters take an empty value as the default. */
	if (s && !*s)
		return 0;
	return fail_at(p, v,
		       "client_auth_type: unknown value \"%s\", want one of NoClientCert, "
		       "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
		       "RequireAndVerifyClientCert",
		       s ? s : "(not a string)");
}

const char *webconfig__tls_version_name(enum web_tls_version v)
{
	static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};

	return v >= WEB_TLS10 && v <= WEB_TLS13 ? names[v - WEB_TLS10] : NULL;
}

static int parse_tls_version(struct parse *p, const yaml_node_t *v, const char *key,
			     enum web_tls_version *out)
{
	const char *s = scalar(v);

	for (int i = WEB_TLS10; s && i <= WEB_TLS13; i++) {
		if (!strcmp(s, webconfig__tls_version_name((enum web_tls_version)i))) {
			*out = (enum web_tls_version)i;
			return 0;
		}
	}
	return fail_at(p, v, "%s: unknown TLS version \"%s\", want TLS10, TLS11, TLS12 or TLS13",
		       key, s ? s : "(not a string)");
}

static int tls_key(struct parse *p, const yaml_node_t *k, const yaml_node_t *v)
{
	struct web_config *c = p->cfg;
	const char *key = scalar(k);

	if (!strcmp(key, "cert_file"))
		return load_pem(p, v, key, &c->cert_file, &c->cert_pem);
	if (!strcmp(key, "key_file"))
		return load_pem(p, v, key, &c->key_file, &c->key_pem);
	if (!strcmp(key, "client_ca_file"))
		return load_pem(p, v, key, &c->client_ca_file, &c->client_ca_pem);
	if (!strcmp(key, "client_auth_type"))
		return parse_client_auth(p, v);
	if (!strcmp(key, "min_version"))
		return parse_tls_version(p, v, key, &c->min_version);
	if (!strcmp(key, "max_version"))
		return parse_tls_version(p, v, key, &c->max_version);
	return fail_at(p, k, "tls_server_config: unknown key \"%s\"", key);
}

/* The settings that only make sense together. */
static int check_tls(struct parse *p, const yaml_node_t *section)
{
	const struct web_config *c = p->cfg;
	bool verify = c->client_auth == WEB_CLIENT_AUTH_VERIFY_IF_GIVEN ||
		      c->client_auth == WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY;

	if (!c->cert_file || !c->key_file)
		return fail_at(p, section,
			       "tls_server_config: cert_file and key_file are required");
	if (verify && !c->client_ca_file)
		return fail_at(p, section,
			       "tls_server_config: client_auth_type %s needs client_ca_file",
			       client_auth_names[c->client_auth]);
	if (c->client_ca_file && c->client_auth == WEB_CLIENT_AUTH_NONE)
		return fail_at(p, section,
			       "tls_server_config: client_ca_file given but client_auth_type is "
			       "NoClientCert");
	if (c->min_version > c->max_version)
		return fail_at(p, section, "tls_server_config: min_version is above max_version");
	return 0;
}

typedef int (*pair_fn)(struct parse *p, const yaml_node_t *k, const yaml_node_t *v);

/* Calls `fn` for each pair of a mapping whose keys are distinct strings. */
static int each_pair(struct parse *p, const yaml_node_t *map, const char *what, pair_fn fn)
{
	yaml_node_pair_t *pair, *seen;

	if (map->type != YAML_MAPPING_NODE)
		return fail_at(p, map, "%s: want a mapping", what);
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		const yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		const yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);

		if (!scalar(k))
			return fail_at(p, k, "%s: keys must be strings", what);
		for (seen = map->data.mapping.pairs.start; seen < pair; seen++) {
			const char *prev = scalar(yaml_document_get_node(p->doc, seen->key));

			if (prev && !strcmp(prev, scalar(k)))
				return fail_at(p, k, "%s: duplicate key \"%s\"", what, scalar(k));
		}
		if (fn(p, k, v))
			return -1;
	}
	return 0;
}

/*
 * The dearest bcrypt cost accepted: every scrape with a wrong password pays
 * one bcrypt of the highest configured cost, and so does start-up; cost 16
 * is already about 4 s, cost 31 would be days.
 */
#define BCRYPT_COST_MAX 16

static int hash_cost(const char *h)
{
	return (h[4] - '0') * 10 + h[5] - '0';
}

/* "$2b$10$" + 22 salt + 31 hash characters. */
static bool looks_like_bcrypt(const char *h)
{
	static const char alphabet[] =
	    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[6] != '$')
		return false;
	if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' ||
	    (h[4] - '0') * 10 + h[5] - '0' < 4 || (h[4] - '0') * 10 + h[5] - '0' > 31)
		return false;
	return strspn(h + 7, alphabet) == 53;
}

static int user_pair(struct parse *p, const yaml_node_t *k, const yaml_node_t *v)
{
	struct web_config *c = p->cfg;
	const char *name = scalar(k), *hash = scalar(v);
	struct web_user *users;

	if (!*name || strchr(name, ':'))
		return fail_at(p, k,
			       "basic_auth_users: \"%s\": a user name must be non-empty and "
			       "have no ':'",
			       name);
	if (!hash || !looks_like_bcrypt(hash))
		return fail_at(p, v, "basic_auth_users: %s: not a bcrypt hash ($2a$, $2b$ or $2y$)",
			       name);
	if (hash_cost(hash) > BCRYPT_COST_MAX)
		return fail_at(p, v,
			       "basic_auth_users: %s: bcrypt cost %d is over %d (each check "
			       "would take too long)",
			       name, hash_cost(hash), BCRYPT_COST_MAX);
	users = realloc(c->users, (c->nusers + 1) * sizeof(*users));
	if (!users)
		return fail_at(p, k, "out of memory");
	c->users = users;
	users[c->nusers].name = strdup(name);
	users[c->nusers].hash = strdup(hash);
	if (!users[c->nusers].name || !users[c->nusers].hash) {
		free(users[c->nusers].name);
		free(users[c->nusers].hash);
		return fail_at(p, k, "out of memory");
	}
	c->nusers++;
	return 0;
}

static int top_pair(struct parse *p, const yaml_node_t *k, const yaml_node_t *v)
{
	const char *key = scalar(k);

	if (!strcmp(key, "tls_server_config")) {
		if (is_null(v))
			return 0;
		p->cfg->tls = true;
		if (each_pair(p, v, key, tls_key))
			return -1;
		return check_tls(p, k);
	}
	if (!strcmp(key, "basic_auth_users"))
		return is_null(v) ? 0 : each_pair(p, v, key, user_pair);
	return fail_at(p, k, "unknown key \"%s\"", key);
}

static int parse_document(struct parse *p, FILE *f)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(p->err, p->errlen, "%s: out of memory", p->path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(p->err, p->errlen, "%s:%lu: %s", p->path,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return -1;
	}
	p->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	/* An empty file, like an absent one, turns nothing on. */
	rc = !root || is_null(root) ? 0 : each_pair(p, root, "web config", top_pair);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int webconfig__load(const char *path, struct web_config *cfg, char *err, size_t errlen)
{
	struct parse p = {.path = path, .cfg = cfg, .err = err, .errlen = errlen};
	char *pathcopy = strdup(path ? path : "");
	FILE *f;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	cfg->min_version = WEB_TLS12;
	cfg->max_version = WEB_TLS13;
	if (!pathcopy) {
		snprintf(err, errlen, "web config: out of memory");
		return -1;
	}
	p.dir = dirname(pathcopy);
	f = path ? fopen(path, "re") : NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path ? path : "(null)",
			 path ? strerror(errno) : "no file");
		goto out;
	}
	rc = parse_document(&p, f);
	fclose(f);
	if (rc == 0 && cfg->nusers &&
	    (webconfig__make_dummy_hash(cfg) || webconfig__auth_init(cfg))) {
		snprintf(err, errlen, "%s: cannot prepare password checks", path);
		rc = -1;
	}
out:
	free(pathcopy);
	if (rc)
		webconfig__free(cfg);
	return rc;
}

void webconfig__free(struct web_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nusers; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].hash);
	}
	free(cfg->users);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->client_ca_file);
	free(cfg->cert_pem);
	if (cfg->key_pem) /* a private key does not linger in freed memory */
		explicit_bzero(cfg->key_pem, strlen(cfg->key_pem));
	free(cfg->key_pem);
	free(cfg->client_ca_pem);
	free(cfg->dummy_hash);
	webconfig__auth_free(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

bool webconfig__has_users(const struct web_config *cfg)
{
	return cfg && cfg->nusers > 0;
}
