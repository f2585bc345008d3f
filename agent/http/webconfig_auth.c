// SPDX-License-Identifier: Apache-2.0
/*
 * Basic auth against the web config's bcrypt hashes, with the system's crypt
 * (libxcrypt). A check not answered from the cache of verified pairs runs
 * exactly one bcrypt of the configured cost and compares in constant time,
 * so the answer's timing tells a client neither whether the user exists
 * nor how much of the password was right. Bcrypts are what a client can
 * make the agent spend: at most WEB_AUTH_MAX_BCRYPTS run at once, and a
 * scraper whose pair was verified recently costs one keyed hash.
 */
#include "http/webconfig.h"

#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Any fixed password: nobody can log in as an unknown user anyway. */
#define DUMMY_PASSWORD "kvscope-unknown-user"
#define DIGEST_LEN     32 /* HMAC-SHA256 */

struct verified {
	unsigned char digest[DIGEST_LEN];
	double expires; /* monotonic seconds; 0: empty */
};

struct web_auth {
	pthread_mutex_t lock;
	unsigned char key[DIGEST_LEN]; /* drawn at load: digests mean nothing elsewhere */
	struct verified cache[WEB_AUTH_CACHE_SIZE];
	int next;
	int running; /* bcrypts now */
	struct web_auth_stats stats;
};

void (*webconfig__bcrypt_hook)(void);

static int bcrypt_cost(const char *hash)
{
	return (hash[4] - '0') * 10 + (hash[5] - '0');
}

int webconfig__make_dummy_hash(struct web_config *cfg)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *out;
	int cost = 4;

	for (size_t i = 0; i < cfg->nusers; i++)
		if (bcrypt_cost(cfg->users[i].hash) > cost)
			cost = bcrypt_cost(cfg->users[i].hash);
	/* No random bytes given: libxcrypt draws them from the kernel. */
	if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt, sizeof(salt)))
		return -1;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	out = crypt_rn(DUMMY_PASSWORD, salt, cd, sizeof(*cd));
	free(cfg->dummy_hash);
	cfg->dummy_hash = out && out[0] != '*' ? strdup(out) : NULL;
	free(cd);
	return cfg->dummy_hash ? 0 : -1;
}

int webconfig__auth_init(struct web_config *cfg)
{
	struct web_auth *a = calloc(1, sizeof(*a));

	if (!a || gnutls_rnd(GNUTLS_RND_KEY, a->key, sizeof(a->key)) != 0) {
		free(a);
		return -1;
	}
	pthread_mutex_init(&a->lock, NULL);
	webconfig__auth_free(cfg);
	cfg->auth = a;
	return 0;
}

void webconfig__auth_free(struct web_config *cfg)
{
	if (!cfg || !cfg->auth)
		return;
	pthread_mutex_destroy(&cfg->auth->lock);
	explicit_bzero(cfg->auth, sizeof(*cfg->auth));
	free(cfg->auth);
	cfg->auth = NULL;
}

/* Equal byte strings, in time that depends only on the lengths. */
static bool const_time_equal(const unsigned char *a, size_t alen, const unsigned char *b,
			     size_t blen)
{
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool strings_equal(const char *a, const char *b)
{
	return const_time_equal((const unsigned char *)a, strlen(a), (const unsigned char *)b,
				strlen(b));
}

/* The hash to check against: the user's, or the dummy; no early exit. */
static const char *hash_for(const struct web_config *cfg, const char *user, bool *known)
{
	const char *hash = cfg->dummy_hash;

	*known = false;
	for (size_t i = 0; i < cfg->nusers; i++) {
		if (user && strcmp(cfg->users[i].name, user) == 0) {
			hash = cfg->users[i].hash;
			*known = true;
		}
	}
	return hash;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* HMAC(key, user NUL password): what the cache holds instead of either. */
static int pair_digest(const struct web_auth *a, const char *user, const char *password,
		       unsigned char *out)
{
	size_t ulen = strlen(user), plen = strlen(password);
	unsigned char *msg = malloc(ulen + plen + 1);
	int rc;

	if (!msg)
		return -1;
	memcpy(msg, user, ulen + 1);
	memcpy(msg + ulen + 1, password, plen);
	rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->key, sizeof(a->key), msg, ulen + plen + 1, out);
	explicit_bzero(msg, ulen + plen + 1);
	free(msg);
	return rc == 0 ? 0 : -1;
}

/* Looks at every entry whatever it finds, so a hit costs what a miss does. */
static bool cache_has(struct web_auth *a, const unsigned char *digest, double now)
{
	bool hit = false;

	for (int i = 0; i < WEB_AUTH_CACHE_SIZE; i++)
		hit |= a->cache[i].expires > now &&
		       const_time_equal(a->cache[i].digest, DIGEST_LEN, digest, DIGEST_LEN);
	return hit;
}

static void cache_put(struct web_auth *a, const unsigned char *digest, double now)
{
	memcpy(a->cache[a->next].digest, digest, DIGEST_LEN);
	a->cache[a->next].expires = now + WEB_AUTH_CACHE_TTL_S;
	a->next = (a->next + 1) % WEB_AUTH_CACHE_SIZE;
}

/* One bcrypt of `password` against `hash`, compared in constant time. */
static bool bcrypt_matches(struct web_auth *a, const char *hash, const char *password)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *out;
	bool match;

	if (!cd)
		return false;
	pthread_mutex_lock(&a->lock);
	a->stats.bcrypts++;
	a->stats.last_cost = bcrypt_cost(hash);
	pthread_mutex_unlock(&a->lock);
	out = crypt_rn(password, hash, cd, sizeof(*cd));
	match = out && out[0] != '*' && strings_equal(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return match;
}

/* Takes a bcrypt slot, or counts the check as busy. */
static bool take_slot(struct web_auth *a)
{
	bool got;

	pthread_mutex_lock(&a->lock);
	got = a->running < WEB_AUTH_MAX_BCRYPTS;
	if (got)
		a->running++;
	else
		a->stats.busy++;
	pthread_mutex_unlock(&a->lock);
	return got;
}

static void give_slot(struct web_auth *a, const unsigned char *digest, bool remember)
{
	pthread_mutex_lock(&a->lock);
	a->running--;
	if (remember)
		cache_put(a, digest, now_s());
	pthread_mutex_unlock(&a->lock);
}

enum web_auth_result webconfig__authenticate(const struct web_config *cfg, const char *user,
					     const char *password)
{
	unsigned char digest[DIGEST_LEN];
	struct web_auth *a;
	const char *hash;
	bool known, hit, match;

	if (!cfg || !cfg->dummy_hash || !cfg->auth)
		return WEB_AUTH_DENIED;
	a = cfg->auth;
	if (pair_digest(a, user ? user : "", password ? password : "", digest))
		return WEB_AUTH_DENIED;
	pthread_mutex_lock(&a->lock);
	hit = user && cache_has(a, digest, now_s());
	a->stats.cache_hits += hit;
	pthread_mutex_unlock(&a->lock);
	if (hit)
		return WEB_AUTH_OK;
	if (!take_slot(a))
		return WEB_AUTH_BUSY;
	if (webconfig__bcrypt_hook)
		webconfig__bcrypt_hook();
	hash = hash_for(cfg, user, &known);
	match = bcrypt_matches(a, hash, password ? password : "") && known;
	give_slot(a, digest, match);
	explicit_bzero(digest, sizeof(digest));
	return match ? WEB_AUTH_OK : WEB_AUTH_DENIED;
}

bool webconfig__check_password(const struct web_config *cfg, const char *user, const char *password)
{
	return webconfig__authenticate(cfg, user, password) == WEB_AUTH_OK;
}

void webconfig__auth_stats(const struct web_config *cfg, struct web_auth_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!cfg || !cfg->auth)
		return;
	pthread_mutex_lock(&cfg->auth->lock);
	*out = cfg->auth->stats;
	pthread_mutex_unlock(&cfg->auth->lock);
}
