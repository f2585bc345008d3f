/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What examining one binary may cost the agent. Any executable on the node
 * is an input: a file that asks for more than this is refused (and stays
 * refused: its verdict is cached) instead of pushing the agent past its
 * memory limit or stalling discovery. The defaults leave room for the
 * largest stores seen (etcd 3.4 is 21 MB with 27,000 Go functions).
 */
#ifndef KVSCOPE_BUDGET_H
#define KVSCOPE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#define BUDGET_FILE_BYTES  (128u << 20) /* the copy the parser reads */
#define BUDGET_SYMBOLS	   1000000	/* functions from every source together */
#define BUDGET_INDEX_WORDS (4u << 20)	/* pointer words indexed to find the pclntab */
#define BUDGET_SECONDS	   5.0		/* CPU time of the examination */

struct parse_budget {
	size_t max_file_bytes;
	size_t max_symbols;
	size_t max_index_words;
	double max_seconds;
	/* Set while parsing. */
	double deadline; /* thread CPU time at which the examination stops */
	unsigned ticks;
	bool exceeded; /* a refusal was for cost, not for a corrupt file */
};

/* The defaults above, with the clock started. */
void budget__init(struct parse_budget *b);
/* Starts the clock of b's own limits. */
void budget__start(struct parse_budget *b);

/*
 * Whether the time is up; reads the clock every few thousand calls, so
 * loops may call it on every step. Once true, stays true. b may be NULL.
 */
bool budget__expired(struct parse_budget *b);

/* Marks b exceeded and writes "over budget: <reason>" into err; returns -1. */
int budget__refuse(struct parse_budget *b, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
