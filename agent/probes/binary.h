/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kvscope knows of each executable it has looked at, keyed by inode so
 * that three members running one binary cost one resolution.
 */
#ifndef KVSCOPE_BINARY_H
#define KVSCOPE_BINARY_H

#include <stdbool.h>
#include <sys/types.h>

#include "profile/catalog.h"
#include "probes/place.h"

enum binary_verdict {
	BINARY_NOT_A_STORE, /* no profile recognizes it: ignored quietly */
	BINARY_UNSUPPORTED, /* a store, but no profile fits this build */
	BINARY_READY,	    /* profile matched and every site resolved */
};

struct binary {
	dev_t dev;
	ino_t ino;
	enum binary_verdict verdict;
	const struct profile *profile; /* READY; UNSUPPORTED: the nearest that recognized it */
	char version[64];
	char go_version[32];
	char module[256];	  /* Go main module, as the build info names it */
	char reason[512];	  /* UNSUPPORTED: why, for the one log line */
	bool unsupported_version; /* UNSUPPORTED because no profile is for this version */
	struct resolution res;
};

struct binary_cache;

struct binary_cache *binary_cache__new(const struct catalog *cat);
void binary_cache__free(struct binary_cache *bc);

/*
 * The binary at `path` (dev/ino identify it); resolved on first sight.
 * Never NULL except on allocation failure.
 */
const struct binary *binary_cache__get(struct binary_cache *bc, const char *path, dev_t dev,
				       ino_t ino);

/* Examines one binary against a catalog (also used by `kvscope probes`). */
void binary__examine(struct binary *b, const struct catalog *cat, const char *path);

#endif
