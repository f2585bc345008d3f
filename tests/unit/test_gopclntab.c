// SPDX-License-Identifier: Apache-2.0
/*
 * Go function tables, build records and string variables in small ELF
 * images laid out here byte by byte: every pclntab header format, with and
 * without section headers, and corrupt tables that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/gobuildinfo.h"
#include "symbols/gopclntab.h"
#include "symbols/symtab.h"

/* The crafted image: three segments at fixed places, like a Go linker lays them. */
#define TEXT_VADDR  0x401000u
#define TEXT_OFFSET 0x1000u
#define TEXT_SIZE   0x1000u
#define RO_VADDR    0x402000u
#define RO_OFFSET   0x2000u
#define DATA_VADDR  0x500000u
#define DATA_OFFSET 0x8000u
#define SEG_MAX	    0x6000u
#define STRINGS_AT  0x4000u /* rodata offset of the string bytes */
#define MODDATA_AT  0x200u  /* data offset of the fake moduledata */
#define HEADERS_AT  0x400u  /* data offset of Go string headers */
#define IMAGE_MAX   0x10000u

enum seg { SEG_TEXT, SEG_RO, SEG_DATA, NSEGS };

struct section_spec {
	const char *name;
	enum seg seg;
	size_t off;
	size_t size;
};

struct image {
	unsigned char seg[NSEGS][SEG_MAX];
	size_t seg_len[NSEGS];
	struct section_spec sections[8];
	size_t nsections;
	bool no_section_headers;
	_Alignas(8) unsigned char bytes[IMAGE_MAX];
	size_t len;
};

static const uint64_t seg_vaddr[NSEGS] = {TEXT_VADDR, RO_VADDR, DATA_VADDR};
static const uint64_t seg_offset[NSEGS] = {TEXT_OFFSET, RO_OFFSET, DATA_OFFSET};
static const uint32_t seg_flags[NSEGS] = {PF_R | PF_X, PF_R, PF_R | PF_W};

static void put_le(unsigned char *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void image_init(struct image *img)
{
	memset(img, 0, sizeof(*img));
	memset(img->seg[SEG_TEXT], 0xcc, TEXT_SIZE);
	img->seg_len[SEG_TEXT] = TEXT_SIZE;
	img->seg_len[SEG_RO] = SEG_MAX;
	img->seg_len[SEG_DATA] = 0x1000;
	img->sections[img->nsections++] = (struct section_spec){".text", SEG_TEXT, 0, TEXT_SIZE};
}

static void image_add_section(struct image *img, const char *name, enum seg seg, size_t off,
			      size_t size)
{
	img->sections[img->nsections++] = (struct section_spec){name, seg, off, size};
}

static void write_program_headers(struct image *img)
{
	Elf64_Phdr *ph = (Elf64_Phdr *)(img->bytes + sizeof(Elf64_Ehdr));

	for (int s = 0; s < NSEGS; s++) {
		ph[s] = (Elf64_Phdr){
		    .p_type = PT_LOAD,
		    .p_flags = seg_flags[s],
		    .p_offset = seg_offset[s],
		    .p_vaddr = seg_vaddr[s],
		    .p_paddr = seg_vaddr[s],
		    .p_filesz = img->seg_len[s],
		    .p_memsz = img->seg_len[s],
		    .p_align = 0x1000,
		};
		memcpy(img->bytes + seg_offset[s], img->seg[s], img->seg_len[s]);
	}
}

/* Appends .shstrtab and the section header table after the segments. */
static void write_section_headers(struct image *img, Elf64_Ehdr *eh)
{
	size_t strtab = DATA_OFFSET + img->seg_len[SEG_DATA], pos = 1;
	size_t count = img->nsections + 2;
	Elf64_Shdr *sh;

	for (size_t i = 0; i < img->nsections; i++) {
		strcpy((char *)img->bytes + strtab + pos, img->sections[i].name);
		pos += strlen(img->sections[i].name) + 1;
	}
	strcpy((char *)img->bytes + strtab + pos, ".shstrtab");
	eh->e_shoff = (strtab + pos + 16 + 7) & ~(size_t)7;
	eh->e_shnum = (Elf64_Half)count;
	eh->e_shstrndx = (Elf64_Half)(count - 1);
	sh = (Elf64_Shdr *)(img->bytes + eh->e_shoff);
	pos = 1;
	for (size_t i = 0; i < img->nsections; i++) {
		const struct section_spec *sp = &img->sections[i];

		sh[i + 1] = (Elf64_Shdr){
		    .sh_name = (Elf64_Word)pos,
		    .sh_type = SHT_PROGBITS,
		    .sh_flags = SHF_ALLOC,
		    .sh_addr = seg_vaddr[sp->seg] + sp->off,
		    .sh_offset = seg_offset[sp->seg] + sp->off,
		    .sh_size = sp->size,
		    .sh_addralign = 1,
		};
		pos += strlen(sp->name) + 1;
	}
	sh[count - 1] = (Elf64_Shdr){.sh_name = (Elf64_Word)pos,
				     .sh_type = SHT_STRTAB,
				     .sh_offset = strtab,
				     .sh_size = pos + 10,
				     .sh_addralign = 1};
	img->len = eh->e_shoff + count * sizeof(Elf64_Shdr);
}

static void image_build(struct image *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img->bytes;

	memset(img->bytes, 0, sizeof(img->bytes));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = TEXT_VADDR;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = NSEGS;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	write_program_headers(img);
	img->len = DATA_OFFSET + img->seg_len[SEG_DATA];
	if (!img->no_section_headers)
		write_section_headers(img, eh);
}

/* --- pclntab in the four header formats ---------------------------------- */

struct func_spec {
	const char *name;
	uint64_t entry; /* absolute */
};

static const struct func_spec three_funcs[] = {
    {"main.main", 0x401100},
    {"main.(*server).Range", 0x401180},
    {"go.etcd.io/etcd/server.handle", 0x401400},
};
#define THREE_FUNCS_END	 0x401500u
#define THREE_TEXT_START 0x401100u

/* Where the built table put things, for corrupting them afterwards. */
struct table_layout {
	size_t len;
	size_t func_rec[3]; /* table offset of each _func record */
	size_t names_base;  /* what name offsets are relative to */
	size_t functab;	    /* table offset of the functab */
	unsigned word;	    /* functab field size */
};

static uint32_t magic_for(int version)
{
	switch (version) {
	case 12:
		return GOPCLNTAB_MAGIC_12;
	case 116:
		return GOPCLNTAB_MAGIC_116;
	case 118:
		return GOPCLNTAB_MAGIC_118;
	default:
		return GOPCLNTAB_MAGIC_120;
	}
}

static size_t put_names(unsigned char *p, size_t at, size_t base, uint32_t *nameoff)
{
	for (size_t i = 0; i < 3; i++) {
		nameoff[i] = (uint32_t)(at - base);
		strcpy((char *)p + at, three_funcs[i].name);
		at += strlen(three_funcs[i].name) + 1;
	}
	return (at + 7) & ~(size_t)7;
}

/* functab rows, then one _func record per function (entry, nameoff, padding). */
static size_t put_functab(unsigned char *p, size_t at, unsigned word, uint64_t base,
			  const uint32_t *nameoff, struct table_layout *l)
{
	size_t rows = at, recs = at + (2 * 3 + 1) * word + 4;

	l->functab = at;
	l->word = word;
	recs = (recs + 7) & ~(size_t)7;
	for (size_t i = 0; i < 3; i++) {
		size_t rec = recs + i * 40;

		put_le(p + rows + 2 * i * word, three_funcs[i].entry - base, word);
		put_le(p + rows + (2 * i + 1) * word, rec, word);
		put_le(p + rec, three_funcs[i].entry - base, word);
		put_le(p + rec + word, nameoff[i], 4);
		l->func_rec[i] = rec;
	}
	put_le(p + rows + 6 * word, THREE_FUNCS_END - base, word);
	return recs + 3 * 40;
}

static size_t build_table(int version, unsigned char *p, struct table_layout *l)
{
	size_t hdr = version == 12 ? 16 : version == 116 ? 64 : 72, names, pcln;
	uint32_t nameoff[3];
	uint64_t base = version >= 118 ? THREE_TEXT_START : 0;

	memset(l, 0, sizeof(*l));
	put_le(p, magic_for(version), 4);
	p[4] = p[5] = 0;
	p[6] = 1; /* x86 instruction quantum */
	p[7] = 8;
	put_le(p + 8, 3, 8);
	if (version == 12) {
		/* One table: functab right after the header, then records, then names. */
		size_t end = put_functab(p, hdr, 8, 0, (uint32_t[3]){0}, l);

		l->names_base = 0;
		l->len = put_names(p, end, 0, nameoff);
		for (size_t i = 0; i < 3; i++)
			put_le(p + l->func_rec[i] + 8, nameoff[i], 4);
		return l->len;
	}
	names = hdr;
	pcln = put_names(p, names, names, nameoff);
	l->names_base = names;
	l->len = put_functab(p + pcln, 0, version >= 118 ? 4 : 8, base, nameoff, l) + pcln;
	for (size_t i = 0; i < 3; i++)
		l->func_rec[i] += pcln;
	l->functab += pcln;
	if (version >= 118)
		put_le(p + 8 + 2 * 8, base, 8);
	put_le(p + 8 + (version >= 118 ? 3 : 2) * 8, names, 8);
	put_le(p + 8 + (version >= 118 ? 7 : 6) * 8, pcln, 8);
	return l->len;
}

/* An image whose rodata starts with a table of `version`. */
static struct image *image_with_table(int version, bool sections, struct table_layout *l)
{
	struct image *img = malloc(sizeof(*img));
	size_t len;

	assert_non_null(img);
	image_init(img);
	len = build_table(version, img->seg[SEG_RO], l);
	image_add_section(img, ".gopclntab", SEG_RO, 0, len);
	img->no_section_headers = !sections;
	/* The runtime's moduledata: its first word points at the table. */
	put_le(img->seg[SEG_DATA] + MODDATA_AT, RO_VADDR, 8);
	return img;
}

static struct symtab *open_image(struct image *img)
{
	struct symtab *st = NULL;
	char err[256] = "";

	image_build(img);
	if (symtab__open_mem(img->bytes, img->len, &st, err, sizeof(err)) != 0)
		fail_msg("open failed: %s", err);
	return st;
}

static void expect_open_error(struct image *img, const char *needle)
{
	struct symtab *st = NULL;
	char err[256] = "";

	image_build(img);
	assert_int_equal(symtab__open_mem(img->bytes, img->len, &st, err, sizeof(err)), -1);
	assert_null(st);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void assert_three_funcs(struct symtab *st, int version)
{
	static const uint64_t sizes[] = {0x80, 0x280, 0x100};
	struct func_sym fs;

	assert_int_equal(symtab__info(st)->pclntab_version, version);
	assert_int_equal(symtab__count(st), 3);
	for (size_t i = 0; i < 3; i++) {
		if (symtab__find(st, three_funcs[i].name, &fs) != 0)
			fail_msg("%s not found (version %d)", three_funcs[i].name, version);
		assert_int_equal(fs.vaddr, three_funcs[i].entry);
		assert_int_equal(fs.size, sizes[i]);
		assert_int_equal(fs.file_offset, three_funcs[i].entry - TEXT_VADDR + TEXT_OFFSET);
	}
	assert_int_equal(symtab__find(st, "main.missing", &fs), -ENOENT);
	assert_int_equal(symtab__find(st, "main.mai", &fs), -ENOENT);
}

static void check_format(int version, bool sections)
{
	struct table_layout l;
	struct image *img = image_with_table(version, sections, &l);
	struct symtab *st = open_image(img);

	assert_three_funcs(st, version);
	assert_false(symtab__info(st)->has_symtab);
	assert_false(symtab__info(st)->pie);
	symtab__close(st);
	free(img);
}

static void test_go12_table(void **state)
{
	(void)state;
	check_format(12, true);
	check_format(12, false);
}

static void test_go116_table(void **state)
{
	(void)state;
	check_format(116, true);
	check_format(116, false);
}

static void test_go118_table(void **state)
{
	(void)state;
	check_format(118, true);
	check_format(118, false);
}

static void test_go120_table(void **state)
{
	(void)state;
	check_format(120, true);
	check_format(120, false);
}

/* Without section headers and without a moduledata pointer, a table that passes every check. */
static void test_table_found_without_moduledata(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(118, false, &l);
	struct symtab *st;

	(void)state;
	memset(img->seg[SEG_DATA] + MODDATA_AT, 0, 8);
	st = open_image(img);
	assert_three_funcs(st, 118);
	symtab__close(st);
	free(img);
}

/* Among header-shaped tables, the one the moduledata points at wins; a broken one is an error. */
static void test_moduledata_picks_table(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(118, false, &l);
	unsigned char *decoy = img->seg[SEG_RO];
	struct func_sym fs;
	struct symtab *st;

	(void)state;
	build_table(118, img->seg[SEG_RO] + 0x2000, &l);
	memcpy(decoy + l.names_base, "decy", 4);
	put_le(img->seg[SEG_DATA] + MODDATA_AT, RO_VADDR + 0x2000, 8);
	st = open_image(img);
	assert_int_equal(symtab__find(st, "main.main", &fs), 0);
	assert_int_equal(symtab__find(st, "decy.main", &fs), -ENOENT);
	symtab__close(st);
	put_le(img->seg[SEG_RO] + 0x2000 + 8, 1000000, 8);
	expect_open_error(img, "nfunc");
	free(img);
}

/* 1.18+ entries count from the header's textStart, not from .text. */
static void test_text_start_from_header(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(120, true, &l);
	struct gopclntab tab;
	char err[128];

	(void)state;
	assert_int_equal(
	    gopclntab__parse(img->seg[SEG_RO], l.len, 0x999000, &tab, err, sizeof(err)), 0);
	assert_int_equal(tab.text_start, THREE_TEXT_START);
	assert_int_equal(tab.funcs[0].entry, 0x401100);
	gopclntab__free(&tab);
	/* Left zero for a loader to relocate: the fallback base is used. */
	put_le(img->seg[SEG_RO] + 8 + 2 * 8, 0, 8);
	assert_int_equal(
	    gopclntab__parse(img->seg[SEG_RO], l.len, 0x401000, &tab, err, sizeof(err)), 0);
	assert_int_equal(tab.funcs[0].entry, 0x401100 - THREE_TEXT_START + 0x401000);
	gopclntab__free(&tab);
	assert_int_equal(gopclntab__parse(img->seg[SEG_RO], l.len, 0, &tab, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "textStart"));
	free(img);
}

/* --- corrupt tables ------------------------------------------------------ */

static void test_bad_magic(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(118, true, &l);

	(void)state;
	put_le(img->seg[SEG_RO], 0xfffffff5, 4);
	expect_open_error(img, "magic");
	free(img);
}

static void test_nfunc_larger_than_data(void **state)
{
	static const int versions[] = {12, 116, 118, 120};

	(void)state;
	for (size_t v = 0; v < 4; v++) {
		struct table_layout l;
		struct image *img = image_with_table(versions[v], true, &l);

		put_le(img->seg[SEG_RO] + 8, 100000, 8);
		expect_open_error(img, "nfunc");
		put_le(img->seg[SEG_RO] + 8, UINT64_MAX, 8);
		expect_open_error(img, "nfunc");
		put_le(img->seg[SEG_RO] + 8, 0, 8);
		expect_open_error(img, "nfunc");
		free(img);
	}
}

static void test_name_offset_out_of_range(void **state)
{
	static const int versions[] = {12, 116, 118, 120};

	(void)state;
	for (size_t v = 0; v < 4; v++) {
		struct table_layout l;
		struct image *img = image_with_table(versions[v], true, &l);
		unsigned char *rec = img->seg[SEG_RO] + l.func_rec[1] + l.word;

		put_le(rec, 0x7fff0000, 4);
		expect_open_error(img, "name offset");
		put_le(rec, (uint32_t)-4, 4);
		expect_open_error(img, "name offset");
		/* A name that runs to the end of the table without a terminator. */
		put_le(rec, l.len - 1 - l.names_base, 4);
		memset(img->seg[SEG_RO] + l.len - 1, 'x', 1);
		expect_open_error(img, "name offset");
		free(img);
	}
}

static void test_functab_not_ascending(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(118, true, &l);

	(void)state;
	put_le(img->seg[SEG_RO] + l.functab + 2 * l.word, 0x500, 4);
	expect_open_error(img, "ascending");
	free(img);
}

static void test_record_out_of_range(void **state)
{
	struct table_layout l;
	struct image *img = image_with_table(116, true, &l);

	(void)state;
	put_le(img->seg[SEG_RO] + l.functab + 8, 0xffffff, 8);
	expect_open_error(img, "record offset");
	free(img);
	img = image_with_table(118, true, &l);
	put_le(img->seg[SEG_RO] + l.func_rec[2], 0x123, 4);
	expect_open_error(img, "does not match");
	free(img);
}

static void test_truncated_tables(void **state)
{
	static const int versions[] = {12, 116, 118, 120};

	(void)state;
	for (size_t v = 0; v < 4; v++) {
		struct table_layout l;
		struct image *img = image_with_table(versions[v], true, &l);

		/*
		 * Every cut of the table is read within bounds (the copy is
		 * exactly that long); it is refused, or all of it was there.
		 */
		for (size_t cut = 0; cut < l.len; cut++) {
			struct gopclntab tab;
			char err[128] = "";
			unsigned char *copy = malloc(cut ? cut : 1);
			int rc;

			assert_non_null(copy);
			memcpy(copy, img->seg[SEG_RO], cut);
			rc = gopclntab__parse(copy, cut, 0, &tab, err, sizeof(err));
			if (rc == 0) {
				assert_true(cut > l.functab + 7 * l.word);
				assert_int_equal(tab.nfuncs, 3);
				assert_string_equal(tab.funcs[2].name, three_funcs[2].name);
				gopclntab__free(&tab);
			} else {
				assert_int_equal(rc, -1);
				assert_true(err[0] != '\0');
			}
			free(copy);
		}
		img->sections[1].size = l.len / 2;
		expect_open_error(img, "pclntab");
		free(img);
	}
}

/* --- build info ---------------------------------------------------------- */

static const char sentinel_start[] = "0w\xaf\x0c\x92t\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
static const char sentinel_end[] =
    "\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";

static size_t put_modinfo(char *p, const char *text)
{
	size_t n = strlen(text);

	memcpy(p, sentinel_start, 16);
	memcpy(p + 16, text, n);
	memcpy(p + 16 + n, sentinel_end, 16);
	return n + 32;
}

static size_t put_buildinfo_header(unsigned char *p, unsigned char flags)
{
	memcpy(p, GOBUILDINFO_MAGIC, GOBUILDINFO_MAGIC_LEN);
	p[14] = 8;
	p[15] = flags;
	return 32;
}

/* Go 1.18+: varint-length strings right after the header. */
static size_t put_inline_buildinfo(unsigned char *p, const char *version, const char *modtext)
{
	char mod[512];
	size_t at = put_buildinfo_header(p, 0x2), mlen = put_modinfo(mod, modtext);

	p[at++] = (unsigned char)strlen(version);
	memcpy(p + at, version, strlen(version));
	at += strlen(version);
	p[at++] = (unsigned char)(0x80 | (mlen & 0x7f));
	p[at++] = (unsigned char)(mlen >> 7);
	memcpy(p + at, mod, mlen);
	return at + mlen;
}

static struct symtab *open_with_buildinfo(struct image *img, size_t len, bool sections)
{
	if (sections)
		image_add_section(img, ".go.buildinfo", SEG_DATA, 0, len);
	img->no_section_headers = !sections;
	return open_image(img);
}

static void test_buildinfo_inline(void **state)
{
	(void)state;
	for (int sections = 0; sections < 2; sections++) {
		struct image *img = malloc(sizeof(*img));
		struct symtab *st;
		size_t len;

		image_init(img);
		len = put_inline_buildinfo(img->seg[SEG_DATA], "go1.21.3",
					   "path\texample.com/kv/cmd/kvd\n"
					   "mod\texample.com/kv\tv1.4.2\th1:abc=\n"
					   "dep\tgolang.org/x/sys\tv0.1.0\th1:def=\n"
					   "build\t-compiler=gc\n");
		st = open_with_buildinfo(img, len, sections);
		assert_string_equal(symtab__info(st)->go_version, "go1.21.3");
		assert_string_equal(symtab__info(st)->module_path, "example.com/kv");
		assert_string_equal(symtab__info(st)->module_version, "v1.4.2");
		assert_int_equal(symtab__info(st)->pclntab_version, 0);
		symtab__close(st);
		free(img);
	}
}

/* Before Go 1.18: two pointers to Go string headers. */
static void test_buildinfo_pointers(void **state)
{
	struct image *img = malloc(sizeof(*img));
	unsigned char *data, *ro;
	struct symtab *st;
	char mod[256];
	size_t mlen;

	(void)state;
	image_init(img);
	data = img->seg[SEG_DATA];
	ro = img->seg[SEG_RO];
	put_buildinfo_header(data, 0);
	put_le(data + 16, DATA_VADDR + 0x40, 8);
	put_le(data + 24, DATA_VADDR + 0x50, 8);
	memcpy(ro + STRINGS_AT, "go1.15.15", 9);
	mlen = put_modinfo(mod, "path\tgo.etcd.io/etcd\nbuild\tx\n");
	memcpy(ro + STRINGS_AT + 0x10, mod, mlen);
	put_le(data + 0x40, RO_VADDR + STRINGS_AT, 8);
	put_le(data + 0x48, 9, 8);
	put_le(data + 0x50, RO_VADDR + STRINGS_AT + 0x10, 8);
	put_le(data + 0x58, mlen, 8);
	st = open_with_buildinfo(img, 32, true);
	assert_string_equal(symtab__info(st)->go_version, "go1.15.15");
	assert_string_equal(symtab__info(st)->module_path, "go.etcd.io/etcd");
	assert_string_equal(symtab__info(st)->module_version, "");
	symtab__close(st);
	/* A string pointer leading outside the file is refused. */
	put_le(data + 0x50, 0x7777000, 8);
	expect_open_error(img, "buildinfo");
	free(img);
}

static void test_buildinfo_corrupt(void **state)
{
	struct image *img = malloc(sizeof(*img));
	size_t len;

	(void)state;
	image_init(img);
	len = put_inline_buildinfo(img->seg[SEG_DATA], "go1.20", "path\tx\n");
	image_add_section(img, ".go.buildinfo", SEG_DATA, 0, len);
	/* Modinfo length far past the section's end. */
	img->seg[SEG_DATA][32 + 1 + 6 + 1] = 0xff;
	expect_open_error(img, "buildinfo");
	img->sections[img->nsections - 1].size = 20;
	expect_open_error(img, "buildinfo");
	free(img);
}

static void test_modinfo_lines(void **state)
{
	struct go_buildinfo bi;
	char mod[256];
	size_t len;

	(void)state;
	memset(&bi, 0, sizeof(bi));
	len = put_modinfo(mod, "path\tcommand-line-arguments\nbuild\t-trimpath=true\n");
	gobuildinfo__parse_modinfo(mod, len, &bi);
	assert_string_equal(bi.module_path, "command-line-arguments");
	assert_string_equal(bi.module_version, "");

	/* A mod line wins over path whichever comes first; no sentinels is fine too. */
	memset(&bi, 0, sizeof(bi));
	gobuildinfo__parse_modinfo(
	    "mod\tgo.etcd.io/etcd/v3\t(devel)\t\npath\tgo.etcd.io/etcd/v3/x\n",
	    strlen("mod\tgo.etcd.io/etcd/v3\t(devel)\t\npath\tgo.etcd.io/"
		   "etcd/v3/x\n"),
	    &bi);
	assert_string_equal(bi.module_path, "go.etcd.io/etcd/v3");
	assert_string_equal(bi.module_version, "(devel)");

	memset(&bi, 0, sizeof(bi));
	gobuildinfo__parse_modinfo("mod\tonly-path", 13, &bi);
	assert_string_equal(bi.module_path, "only-path");
	assert_string_equal(bi.module_version, "");
}

/* --- Go string variables ------------------------------------------------- */

static void put_string(struct image *img, size_t header_at, size_t ro_at, const char *s)
{
	memcpy(img->seg[SEG_RO] + STRINGS_AT + ro_at, s, strlen(s));
	put_le(img->seg[SEG_DATA] + HEADERS_AT + header_at, RO_VADDR + STRINGS_AT + ro_at, 8);
	put_le(img->seg[SEG_DATA] + HEADERS_AT + header_at + 8, strlen(s), 8);
}

static void test_go_string_highest_version(void **state)
{
	struct image *img = malloc(sizeof(*img));
	struct symtab *st;
	char out[32];

	(void)state;
	image_init(img);
	put_string(img, 0x00, 0x00, "1.9.9");
	put_string(img, 0x18, 0x10, "1.10.0"); /* 8-aligned, not 16 */
	put_string(img, 0x30, 0x20, "1.2.3");
	put_string(img, 0x40, 0x30, "v1.99.0");
	/* Bytes in writable data are not a string constant. */
	memcpy(img->seg[SEG_DATA] + 0x800, "1.50.0", 6);
	put_le(img->seg[SEG_DATA] + HEADERS_AT + 0x50, DATA_VADDR + 0x800, 8);
	put_le(img->seg[SEG_DATA] + HEADERS_AT + 0x58, 6, 8);
	/* Too long to be a version. */
	put_le(img->seg[SEG_DATA] + HEADERS_AT + 0x60, RO_VADDR + STRINGS_AT, 8);
	put_le(img->seg[SEG_DATA] + HEADERS_AT + 0x68, 65, 8);
	st = open_image(img);
	assert_int_equal(symtab__find_go_string(st, "^1\\.[0-9]+\\.[0-9]+$", out, sizeof(out)), 0);
	assert_string_equal(out, "1.10.0");
	assert_int_equal(symtab__find_go_string(st, "^v1\\.", out, sizeof(out)), 0);
	assert_string_equal(out, "v1.99.0");
	assert_int_equal(symtab__find_go_string(st, "^1\\.50", out, sizeof(out)), -ENOENT);
	assert_int_equal(symtab__find_go_string(st, "^1\\.[0-9]+\\.[0-9]+$", out, 4), -ENOSPC);
	assert_int_equal(symtab__find_go_string(st, "(", out, sizeof(out)), -EINVAL);
	symtab__close(st);
	free(img);
}

static void test_read_bounds(void **state)
{
	struct image *img = malloc(sizeof(*img));
	unsigned char buf[16];
	struct symtab *st;

	(void)state;
	image_init(img);
	st = open_image(img);
	assert_int_equal(symtab__read(st, TEXT_VADDR + 0x10, buf, 4), 0);
	assert_memory_equal(buf, "\xcc\xcc\xcc\xcc", 4);
	assert_int_equal(symtab__read(st, TEXT_VADDR + TEXT_SIZE - 4, buf, 4), 0);
	assert_int_equal(symtab__read(st, TEXT_VADDR + TEXT_SIZE - 4, buf, 5), -EFAULT);
	assert_int_equal(symtab__read(st, 0x1000, buf, 1), -EFAULT);
	assert_int_equal(symtab__read(st, UINT64_MAX - 2, buf, 8), -EFAULT);
	symtab__close(st);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_go12_table),
	    cmocka_unit_test(test_go116_table),
	    cmocka_unit_test(test_go118_table),
	    cmocka_unit_test(test_go120_table),
	    cmocka_unit_test(test_table_found_without_moduledata),
	    cmocka_unit_test(test_moduledata_picks_table),
	    cmocka_unit_test(test_text_start_from_header),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_nfunc_larger_than_data),
	    cmocka_unit_test(test_name_offset_out_of_range),
	    cmocka_unit_test(test_functab_not_ascending),
	    cmocka_unit_test(test_record_out_of_range),
	    cmocka_unit_test(test_truncated_tables),
	    cmocka_unit_test(test_buildinfo_inline),
	    cmocka_unit_test(test_buildinfo_pointers),
	    cmocka_unit_test(test_buildinfo_corrupt),
	    cmocka_unit_test(test_modinfo_lines),
	    cmocka_unit_test(test_go_string_highest_version),
	    cmocka_unit_test(test_read_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
