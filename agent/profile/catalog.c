// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/catalog.h"
#include "common/log.h"
#include "profile/builtin.h"

static void catalog_add(struct catalog *c, struct profile *p)
{
	for (int i = 0; i < c->count; i++) {
		if (strcmp(c->profiles[i]->name, p->name) == 0) {
			/* a profile from --profile.dir replaces the built-in of that name */
			log_msg(LOG_INFO, "profile replaced", "profile", p->name, "source",
				p->source, NULL);
			profile__free(c->profiles[i]);
			c->profiles[i] = p;
			return;
		}
	}
	if (c->count == CATALOG_MAX) {
		log_msg(LOG_WARN, "too many profiles, ignored", "source", p->source, NULL);
		profile__free(p);
		return;
	}
	c->profiles[c->count++] = p;
}

static void load_builtin(struct catalog *c)
{
	char err[512];

	for (size_t i = 0; i < builtin_profiles_count; i++) {
		const struct builtin_profile *b = &builtin_profiles[i];
		struct profile *p;

		if (profile__parse(b->text, b->len, b->source, &p, err, sizeof(err))) {
			log_msg(LOG_ERROR, "profile rejected", "err", err, NULL);
			c->errors++;
			continue;
		}
		catalog_add(c, p);
	}
}

static int load_dir(struct catalog *c, const char *dir)
{
	struct dirent **names;
	char path[4096], err[512];
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0) {
		log_msg(LOG_ERROR, "cannot read profile directory", "dir", dir, NULL);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct profile *p;

		if (fnmatch("*.yaml", names[i]->d_name, 0) == 0 ||
		    fnmatch("*.yml", names[i]->d_name, 0) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (profile__load(path, &p, err, sizeof(err))) {
				log_msg(LOG_ERROR, "profile rejected", "err", err, NULL);
				c->errors++;
			} else {
				catalog_add(c, p);
			}
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

int catalog__load(struct catalog *c, const char *dir, bool skip_builtin)
{
	memset(c, 0, sizeof(*c));
	if (!skip_builtin)
		load_builtin(c);
	if (dir && load_dir(c, dir))
		return -1;
	return 0;
}

void catalog__free(struct catalog *c)
{
	for (int i = 0; i < c->count; i++)
		profile__free(c->profiles[i]);
	c->count = 0;
}
