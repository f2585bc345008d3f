// SPDX-License-Identifier: Apache-2.0
/*
 * Binaries crafted against the parser: header-shaped words that once made
 * the pclntab search quadratic, and files that ask for more than the
 * examination budget allows (size, sections, aliased symbol tables,
 * overlapping segments, functions, index words, time), plus a file
 * truncated under the parser. Each is refused with its reason, or parsed
 * at bounded cost; none crashes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "symbols/elf_image.h"
#include "symbols/gopclntab.h"
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

/* A memfd holding `len` bytes of `data`, as the agent's fd-based open sees a file. */
static int memfd_of(const void *data, size_t len)
{
	int fd = memfd_create("kvscope-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

static unsigned char *slurp_fixture(size_t *len)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");
	char path[512];
	unsigned char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/gofuncs", dir && *dir ? dir : "build/fixtures");
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (run from the repository root)", path);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

/* Opens `data` through an fd under `b`; returns the error text ("" when it opened). */
static const char *open_under(const void *data, size_t len, struct parse_budget *b, char *err,
			      size_t errlen)
{
	struct symtab *st = NULL;
	int fd = memfd_of(data, len);

	err[0] = '\0';
	budget__start(b);
	if (symtab__open_fd(fd, b, &st, err, errlen) == 0)
		symtab__close(st);
	close(fd);
	return err;
}

static void expect_refused(const char *err, const struct parse_budget *b, const char *why)
{
	if (!b->exceeded || strncmp(err, "over budget: ", 13) != 0 || !strstr(err, why))
		fail_msg("want a refusal for \"%s\", got exceeded=%d \"%s\"", why, b->exceeded,
			 err);
}

static void test_each_budget_refuses(void **state)
{
	size_t len;
	unsigned char *go = slurp_fixture(&len);
	struct parse_budget b;
	char err[256];

	(void)state;
	budget__init(&b);
	assert_string_equal(open_under(go, len, &b, err, sizeof(err)), "");
	assert_false(b.exceeded);

	budget__init(&b);
	b.max_file_bytes = len - 1;
	expect_refused(open_under(go, len, &b, err, sizeof(err)), &b, "file of");

	budget__init(&b);
	b.max_symbols = 100;
	expect_refused(open_under(go, len, &b, err, sizeof(err)), &b, "functions");

	free(go);
}

/* The clock: a search over a few MiB of header-shaped words with no time left. */
static void test_time_budget(void **state)
{
	size_t size = 4u << 20;
	unsigned char *elf = hostile_elf(size);
	struct parse_budget b;
	char err[256];

	(void)state;
	budget__init(&b);
	b.max_seconds = 0;
	expect_refused(open_under(elf, size, &b, err, sizeof(err)), &b, "s of CPU");
	free(elf);
}

/* Without section headers the pclntab is looked for through an index of pointer words. */
static void test_index_budget(void **state)
{
	size_t size = 1u << 20;
	unsigned char *elf = hostile_elf(size);
	struct parse_budget b;
	char err[256];

	(void)state;
	budget__init(&b);
	b.max_index_words = 1000;
	expect_refused(open_under(elf, size, &b, err, sizeof(err)), &b, "pointer words");
	free(elf);
}

/* Many segments over the same bytes are indexed once: within budget, and as fast. */
static void test_overlapping_segments_counted_once(void **state)
{
	size_t size = 4u << 20, nph = 300, phoff = 64;
	unsigned char *elf = hostile_elf(size);
	struct parse_budget b;
	char err[256];

	(void)state;
	put16(elf + 56, (uint16_t)nph);
	for (size_t i = 0; i < nph; i++) {
		unsigned char *ph = elf + phoff + i * 56;

		memset(ph, 0, 56);
		put32(ph, 1);	  /* PT_LOAD */
		put32(ph + 4, 6); /* RW */
		put64(ph + 16, 0x400000 + i * 0x1000000ull);
		put64(ph + 32, size);
		put64(ph + 40, size);
	}
	budget__init(&b);
	/* each alone is within budget; 300 of them counted apart would not be */
	b.max_index_words = size / 8 * 2;
	open_under(elf, size, &b, err, sizeof(err));
	if (b.exceeded)
		fail_msg("refused: %s", err);
	free(elf);
}

static unsigned char *elf_with_sections(size_t nsections, size_t nsyms, size_t *len)
{
	size_t strtab = 4096, symtab = strtab + nsyms * 8 + 16, shoff = symtab + (nsyms + 1) * 24;
	unsigned char *b;

	*len = shoff + nsections * 64;
	b = hostile_elf(*len);
	assert_non_null(b);
	memset(b + 128, 0, *len - 128);
	put64(b + 40, shoff);
	put16(b + 58, 64);
	put16(b + 60, (uint16_t)nsections);
	put16(b + 62, 1); /* .shstrtab: the strtab, names all "" */
	for (size_t i = 0; i < nsyms; i++) {
		unsigned char *sym = b + symtab + (i + 1) * 24;

		snprintf((char *)b + strtab + 1 + i * 8, 8, "f%05zu", i);
		put32(sym, (uint32_t)(1 + i * 8));
		sym[4] = 0x12; /* GLOBAL FUNC */
		put16(sym + 6, 1);
		put64(sym + 8, 0x401000 + i * 16);
		put64(sym + 16, 16);
	}
	for (size_t i = 1; i < nsections; i++) {
		unsigned char *sh = b + shoff + i * 64;

		if (i == 1) {
			put32(sh + 4, 3); /* SHT_STRTAB */
			put64(sh + 24, strtab);
			put64(sh + 32, symtab - strtab);
			continue;
		}
		put32(sh + 4, i % 2 ? 11 : 2); /* SHT_DYNSYM, SHT_SYMTAB: all one table */
		put64(sh + 24, symtab);
		put64(sh + 32, (nsyms + 1) * 24);
		put32(sh + 40, 1); /* names in section 1 */
		put64(sh + 56, 24);
	}
	return b;
}

/* Thousands of headers aliasing one table cost what the table costs. */
static void test_aliased_symbol_tables_walked_once(void **state)
{
	size_t len, nsyms = 1000;
	unsigned char *elf = elf_with_sections(2000, nsyms, &len);
	struct parse_budget b;
	struct symtab *st = NULL;
	char err[256] = "";
	int fd = memfd_of(elf, len);

	(void)state;
	budget__init(&b);
	b.max_symbols = nsyms + 10; /* a second walk would go over */
	if (symtab__open_fd(fd, &b, &st, err, sizeof(err)))
		fail_msg("refused: %s", err);
	assert_int_equal(symtab__count(st), nsyms);
	symtab__close(st);
	close(fd);
	free(elf);
}

/* Section counts are checked before libelf allocates for each header. */
static void test_too_many_sections(void **state)
{
	size_t len;
	unsigned char *elf = elf_with_sections(ELF_MAX_SECTIONS + 1, 10, &len);
	struct parse_budget b;
	char err[256];

	(void)state;
	budget__init(&b);
	expect_refused(open_under(elf, len, &b, err, sizeof(err)), &b, "4097 section headers");
	free(elf);
}

/*
 * The parser reads a private copy: truncating the file after it was opened
 * cannot fault the parser (a mapping of the file would raise SIGBUS on the
 * first page not yet touched) nor change what it reads.
 */
static void test_truncated_under_the_parser(void **state)
{
	char path[] = "/tmp/kvscope-trunc-XXXXXX", err[256] = "";
	size_t len;
	unsigned char *go = slurp_fixture(&len);
	struct elf_image img;
	struct gopclntab tab;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, go, len), (ssize_t)len);
	if (elf_image__open_fd(&img, fd, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(gopclntab__load(&img, &tab, err, sizeof(err)), 0);
	assert_true(tab.nfuncs > 100);
	assert_memory_equal(img.data, go, len);
	gopclntab__free(&tab);
	elf_image__close(&img);
	close(fd);
	unlink(path);
	free(go);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_shaped_words_stay_fast),
	    cmocka_unit_test(test_each_budget_refuses),
	    cmocka_unit_test(test_time_budget),
	    cmocka_unit_test(test_index_budget),
	    cmocka_unit_test(test_overlapping_segments_counted_once),
	    cmocka_unit_test(test_aliased_symbol_tables_walked_once),
	    cmocka_unit_test(test_too_many_sections),
	    cmocka_unit_test(test_truncated_under_the_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
