// SPDX-License-Identifier: Apache-2.0
/*
 * Basic auth against the web config's bcrypt hashes, with the system's crypt
 * (libxcrypt). Every check runs exactly one bcrypt of the configured cost and
 * compares in constant time, so the answer's timing tells a client neither
 * whether the user exists nor how much of the password was right.
 */
#include "http/webconfig.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* Any fixed password: nobody can log in as an unknown user anyway. */
#define DUMMY_PASSWORD "kvscope-unknown-user"

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

/* Equal strings, in time that depends only on the lengths. */
static bool const_time_equal(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
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

bool webconfig__check_password(const struct web_config *cfg, const char *user, const char *password)
{
	struct crypt_data *cd;
	const char *hash, *out;
	bool known, match;

	if (!cfg || !cfg->dummy_hash)
		return false;
	hash = hash_for(cfg, user, &known);
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	out = crypt_rn(password ? password : "", hash, cd, sizeof(*cd));
	match = out && out[0] != '*' && const_time_equal(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return known && match;
}
