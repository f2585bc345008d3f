// SPDX-License-Identifier: Apache-2.0
/*
 * A binary crafted to make the pclntab search slow: no section headers and
 * one writable segment full of header-shaped words. Opening it must stay
 * fast (the search was once quadratic in the segment's size).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "symbols/symtab.h"

static void put16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* An ELF64 header and one RW PT_LOAD covering the whole file. */
static unsigned char *hostile_elf(size_t size)
{
	static const unsigned char word[8] = {0xf0, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x08};
	unsigned char *b = calloc(1, size);

	if (!b)
		return NULL;
	memcpy(b,
	       "\x7f"
	       "ELF\x02\x01\x01",
	       7);
	put16(b + 16, 2);  /* ET_EXEC */
	put16(b + 18, 62); /* x86-64 */
	put32(b + 20, 1);
	put64(b + 24, 0x400000); /* entry */
	put64(b + 32, 64);	 /* phoff */
	put16(b + 52, 64);
	put16(b + 54, 56);
	put16(b + 56, 1); /* one program header, no sections */
	unsigned char *ph = b + 64;

	put32(ph, 1);	  /* PT_LOAD */
	put32(ph + 4, 6); /* RW */
	put64(ph + 16, 0x400000);
	put64(ph + 24, 0x400000);
	put64(ph + 32, size);
	put64(ph + 40, size);
	put64(ph + 48, 0x1000);
	for (size_t off = 128; off + 8 <= size; off += 8)
		memcpy(b + off, word, 8);
	return b;
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_header_shaped_words_stay_fast(void **state)
{
	size_t size = 4u << 20;
	unsigned char *elf = hostile_elf(size);
	struct symtab *st = NULL;
	char err[256] = "";
	double t0;

	(void)state;
	assert_non_null(elf);
	t0 = seconds();
	/* not a valid Go binary: refused or opened without a table, either way quickly */
	if (symtab__open_mem(elf, size, &st, err, sizeof(err)) == 0)
		symtab__close(st);
	/* the quadratic search took minutes at this size; the indexed one milliseconds */
	assert_true(seconds() - t0 < 5.0);
	free(elf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_shaped_words_stay_fast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
