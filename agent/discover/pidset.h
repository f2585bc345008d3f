/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pids discovery has already looked at, so its periodic /proc scan does
 * no work for them: an exec event is what makes a known pid worth a look
 * again. Each scan marks the pids it meets; those it did not meet are gone.
 */
#ifndef KVSCOPE_PIDSET_H
#define KVSCOPE_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pidset {
	pid_t *pids; /* 0: empty */
	uint32_t *marks;
	size_t cap; /* a power of two, or 0 */
	size_t count;
	uint32_t mark; /* the current scan's */
};

void pidset__init(struct pidset *s);
void pidset__free(struct pidset *s);
void pidset__clear(struct pidset *s);
/* Adds pid (with the current mark); -1 when out of memory. */
int pidset__add(struct pidset *s, pid_t pid);
/* True if pid is in the set; marks it as met by the current scan. */
bool pidset__mark(struct pidset *s, pid_t pid);
void pidset__remove(struct pidset *s, pid_t pid);
/* Starts a scan: pids added or marked from now on are the ones met. */
void pidset__begin(struct pidset *s);
/* Ends a scan: drops every pid it did not meet. */
void pidset__sweep(struct pidset *s);

#endif
