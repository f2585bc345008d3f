/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The profiles the agent knows: the built-in ones plus every *.yaml of
 * --profile.dir. A broken profile is reported and skipped; the rest serve.
 */
#ifndef KVSCOPE_CATALOG_H
#define KVSCOPE_CATALOG_H

#include "profile/profile.h"

#define CATALOG_MAX 64

struct catalog {
	struct profile *profiles[CATALOG_MAX];
	int count;
	int errors; /* profiles rejected */
};

/* Loads built-ins (unless skip_builtin) and `dir` (may be NULL). */
int catalog__load(struct catalog *c, const char *dir, bool skip_builtin);
void catalog__free(struct catalog *c);

#endif
