/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --web.config.file: TLS and basic auth for the metrics endpoint, in the YAML
 * format the Prometheus exporters share (tls_server_config,
 * basic_auth_users). Certificates and keys are read at load time, so a bad
 * file is reported at startup and nothing is read from disk afterwards.
 */
#ifndef KVSCOPE_WEBCONFIG_H
#define KVSCOPE_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum web_client_auth {
	WEB_CLIENT_AUTH_NONE,		    /* NoClientCert */
	WEB_CLIENT_AUTH_REQUEST,	    /* RequestClientCert */
	WEB_CLIENT_AUTH_REQUIRE_ANY,	    /* RequireAnyClientCert */
	WEB_CLIENT_AUTH_VERIFY_IF_GIVEN,    /* VerifyClientCertIfGiven */
	WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY, /* RequireAndVerifyClientCert */
};

enum web_tls_version { WEB_TLS10 = 10, WEB_TLS11, WEB_TLS12, WEB_TLS13 };

struct web_user {
	char *name;
	char *hash; /* bcrypt: $2a$, $2b$ or $2y$ */
};

struct web_config {
	bool tls;
	char *cert_file; /* as resolved against the config file's directory */
	char *key_file;
	char *client_ca_file; /* NULL: none */
	char *cert_pem;	      /* the files' contents, NUL-terminated */
	char *key_pem;
	char *client_ca_pem;
	enum web_client_auth client_auth;
	enum web_tls_version min_version; /* default TLS12 */
	enum web_tls_version max_version; /* default TLS13 */
	struct web_user *users;
	size_t nusers;
	/* Checked against for unknown users, so they cost what known ones do. */
	char *dummy_hash;
	/* Recently verified credentials and the bcrypts running (webconfig_auth.c). */
	struct web_auth *auth;
};

enum web_auth_result {
	WEB_AUTH_OK,
	WEB_AUTH_DENIED,
	WEB_AUTH_BUSY, /* as many bcrypts running as allowed: not checked, try later */
};

/* Bcrypts running at once, at most; a check beyond it is answered at once. */
#define WEB_AUTH_MAX_BCRYPTS 2
/* Verified (user, password) pairs remembered, and for how long. */
#define WEB_AUTH_CACHE_SIZE  16
#define WEB_AUTH_CACHE_TTL_S 300

struct web_auth_stats {
	unsigned long bcrypts; /* run so far */
	int last_cost;	       /* the cost of the last one */
	unsigned long cache_hits;
	unsigned long busy;
};

/*
 * Reads and checks `path`. Unknown keys, bad values and unreadable files are
 * errors, reported as "FILE:LINE: reason". An empty file configures nothing.
 */
int webconfig__load(const char *path, struct web_config *cfg, char *err, size_t errlen);
void webconfig__free(struct web_config *cfg);

/* Nonzero when the config asks for any basic auth. */
bool webconfig__has_users(const struct web_config *cfg);

/*
 * Whether `password` is `user`'s. A pair verified within the last
 * WEB_AUTH_CACHE_TTL_S is found by a keyed hash (HMAC-SHA256 under a key
 * drawn at load) and costs no bcrypt: a scraper pays one bcrypt per TTL.
 * Anything else runs exactly one bcrypt of the dearest configured cost
 * (the user's, or the dummy's for an unknown user or no header), so a
 * wrong password and an unknown user cost the same; when
 * WEB_AUTH_MAX_BCRYPTS are already running it runs none and answers BUSY.
 */
enum web_auth_result webconfig__authenticate(const struct web_config *cfg, const char *user,
					     const char *password);
/* authenticate() == WEB_AUTH_OK. */
bool webconfig__check_password(const struct web_config *cfg, const char *user,
			       const char *password);
/* What the checks cost so far (for tests and diagnostics). */
void webconfig__auth_stats(const struct web_config *cfg, struct web_auth_stats *out);
/* For tests: called while a bcrypt slot is held, before the bcrypt runs. */
extern void (*webconfig__bcrypt_hook)(void);

/* The cache and limits behind authenticate(); webconfig__load calls it. 0 or -1. */
int webconfig__auth_init(struct web_config *cfg);
void webconfig__auth_free(struct web_config *cfg);

/*
 * Fills cfg->dummy_hash with a bcrypt hash as costly as the dearest user's;
 * webconfig__load calls it. 0, or -1.
 */
int webconfig__make_dummy_hash(struct web_config *cfg);

/* "TLS12" and friends; NULL for anything else. */
const char *webconfig__tls_version_name(enum web_tls_version v);

#endif
