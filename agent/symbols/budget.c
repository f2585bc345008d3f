// SPDX-License-Identifier: Apache-2.0
#include "symbols/budget.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Clock reads are cheap but not free: one per this many steps. */
#define TICKS_PER_CHECK 4096

/*
 * CPU time, not wall time: a busy node slows the examination of a real
 * store without refusing it, while a crafted file still runs out.
 */
static double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void budget__start(struct parse_budget *b)
{
	b->deadline = thread_cpu_seconds() + b->max_seconds;
	b->ticks = 0;
	b->exceeded = false;
}

void budget__init(struct parse_budget *b)
{
	*b = (struct parse_budget){
	    .max_file_bytes = BUDGET_FILE_BYTES,
	    .max_symbols = BUDGET_SYMBOLS,
	    .max_index_words = BUDGET_INDEX_WORDS,
	    .max_seconds = BUDGET_SECONDS,
	};
	budget__start(b);
}

bool budget__expired(struct parse_budget *b)
{
	if (!b)
		return false;
	if (b->exceeded)
		return true;
	if (++b->ticks % TICKS_PER_CHECK)
		return false;
	b->exceeded = thread_cpu_seconds() > b->deadline;
	return b->exceeded;
}

int budget__refuse(struct parse_budget *b, char *err, size_t errlen, const char *fmt, ...)
{
	char reason[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (b)
		b->exceeded = true;
	snprintf(err, errlen, "over budget: %s", reason);
	return -1;
}
