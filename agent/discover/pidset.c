// SPDX-License-Identifier: Apache-2.0
/*
 * Open addressing with linear probing; removal shifts the following entries
 * back (no tombstones), so a lookup always ends at the first empty cell.
 */
#include <stdlib.h>
#include <string.h>

#include "discover/pidset.h"

#define PIDSET_MIN_CAP 256

void pidset__init(struct pidset *s)
{
	memset(s, 0, sizeof(*s));
	s->mark = 1;
}

void pidset__free(struct pidset *s)
{
	free(s->pids);
	free(s->marks);
	pidset__init(s);
}

void pidset__clear(struct pidset *s)
{
	if (s->cap)
		memset(s->pids, 0, s->cap * sizeof(*s->pids));
	s->count = 0;
}

static size_t slot_of(const struct pidset *s, pid_t pid)
{
	uint32_t h = (uint32_t)pid * 2654435761u; /* Knuth's multiplicative hash */

	return h & (s->cap - 1);
}

/* The cell holding pid, or the empty cell where it would go. */
static size_t probe(const struct pidset *s, pid_t pid)
{
	size_t i = slot_of(s, pid);

	while (s->pids[i] && s->pids[i] != pid)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int grow(struct pidset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : PIDSET_MIN_CAP;
	struct pidset n = {.pids = calloc(ncap, sizeof(pid_t)),
			   .marks = calloc(ncap, sizeof(uint32_t)),
			   .cap = ncap,
			   .mark = s->mark};

	if (!n.pids || !n.marks) {
		free(n.pids);
		free(n.marks);
		return -1;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->pids[i])
			continue;
		size_t j = probe(&n, s->pids[i]);

		n.pids[j] = s->pids[i];
		n.marks[j] = s->marks[i];
		n.count++;
	}
	free(s->pids);
	free(s->marks);
	*s = n;
	return 0;
}

int pidset__add(struct pidset *s, pid_t pid)
{
	size_t i;

	if (pid <= 0)
		return 0;
	/* at most half full: probes stay short */
	if ((s->count + 1) * 2 > s->cap && grow(s))
		return -1;
	i = probe(s, pid);
	if (!s->pids[i]) {
		s->pids[i] = pid;
		s->count++;
	}
	s->marks[i] = s->mark;
	return 0;
}

bool pidset__mark(struct pidset *s, pid_t pid)
{
	size_t i;

	if (!s->cap || pid <= 0)
		return false;
	i = probe(s, pid);
	if (!s->pids[i])
		return false;
	s->marks[i] = s->mark;
	return true;
}

/* Empties cell i and moves back the entries of its probe run that may now be unreachable. */
static void remove_at(struct pidset *s, size_t i)
{
	size_t mask = s->cap - 1;

	s->pids[i] = 0;
	s->count--;
	for (size_t j = (i + 1) & mask; s->pids[j]; j = (j + 1) & mask) {
		size_t home = slot_of(s, s->pids[j]);

		/* j's entry may stay unless the emptied cell lies on its way from home */
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		s->pids[i] = s->pids[j];
		s->marks[i] = s->marks[j];
		s->pids[j] = 0;
		i = j;
	}
}

void pidset__remove(struct pidset *s, pid_t pid)
{
	size_t i;

	if (!s->cap || pid <= 0)
		return;
	i = probe(s, pid);
	if (s->pids[i])
		remove_at(s, i);
}

void pidset__begin(struct pidset *s)
{
	s->mark++;
	if (!s->mark)
		s->mark = 1;
}

void pidset__sweep(struct pidset *s)
{
	for (size_t i = 0; i < s->cap;) {
		/* removal may move a later entry into i: look at i again */
		if (s->pids[i] && s->marks[i] != s->mark)
			remove_at(s, i);
		else
			i++;
	}
}
