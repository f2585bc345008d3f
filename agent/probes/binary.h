/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kvscope knows of each executable it has looked at, keyed by inode so
 * that three members running one binary cost one resolution. A store binary
 * stays open (pinned): its uprobes are attached through that descriptor, so
 * they land on the very file that was examined, whatever the path or the
 * process has become since.
 */
#ifndef KVSCOPE_BINARY_H
#define KVSCOPE_BINARY_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "profile/catalog.h"
#include "probes/place.h"

enum binary_verdict {
	BINARY_NOT_A_STORE, /* no profile recognizes it: ignored quietly */
	BINARY_UNSUPPORTED, /* a store, but no profile fits this build */
	BINARY_READY,	    /* profile matched and every site resolved */
	BINARY_REFUSED,	    /* examining it would cost more than its budget */
};

struct binary {
	dev_t dev;
	ino_t ino;
	int fd; /* READY in a cache: the examined file, held open; else -1 */
	/*
	 * On overlayfs: dev/ino are the overlay's, while uprobes bind to the
	 * layer's file underneath, which several overlays may share. Such a
	 * binary gets uprobes per process, never one shared set per dev/ino.
	 */
	bool stacked;
	/* the file as examined: a change of any of these means it was rewritten */
	off_t size;
	struct timespec mtime, ctime;
	enum binary_verdict verdict;
	const struct profile *profile; /* READY; UNSUPPORTED: the nearest that recognized it */
	char version[64];
	char go_version[32];
	char module[256];	  /* Go main module, as the build info names it */
	char reason[512];	  /* UNSUPPORTED, REFUSED: why, for the one log line */
	bool unsupported_version; /* UNSUPPORTED because no profile is for this version */
	bool caps_held;		  /* examined by a process that still held capabilities (tests) */
	bool transient;	 /* REFUSED because the examining child failed: tried again later */
	double retry_at; /* transient: monotonic seconds after which it is examined again */
	struct resolution res;
};

struct binary_cache;

struct binary_cache *binary_cache__new(const struct catalog *cat);
void binary_cache__free(struct binary_cache *bc);

/*
 * The binary at `path` (dev/ino as a stat of path saw it); examined on first
 * sight through one open of path, whose descriptor's dev/ino are the ones
 * kept. NULL when path cannot be opened (the process is gone) or memory
 * runs out. A refusal is logged once, when the binary is examined.
 */
const struct binary *binary_cache__get(struct binary_cache *bc, const char *path, dev_t dev,
				       ino_t ino);
/* Whether b's pinned file is still as it was examined (size, mtime, ctime). */
bool binary__unchanged(const struct binary *b);
/* Binaries refused for their cost so far (each counted once). */
unsigned long binary_cache__refused(const struct binary_cache *bc);

/*
 * Examines one binary against a catalog, in a child process without
 * capabilities (probes/examiner.h); also used by `kvscope probes`.
 */
void binary__examine(struct binary *b, const struct catalog *cat, const char *path);
/* The same in this process, for the file open on fd, within budget (NULL: the defaults). */
void binary__examine_fd(struct binary *b, const struct catalog *cat, int fd,
			struct parse_budget *budget);

#endif
