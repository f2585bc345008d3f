// SPDX-License-Identifier: Apache-2.0
#include "common/errmsg.h"
#include "symbols/gopclntab.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the parts of one table live, whatever its header format. */
struct layout {
	int version;
	unsigned ptrsize;
	unsigned word; /* size of a functab field: ptrsize, or 4 from 1.18 on */
	uint64_t nfunc;
	uint64_t text_base;	    /* added to each entry: 0 before 1.18 */
	const unsigned char *names; /* base of name offsets */
	size_t names_len;
	const unsigned char *ftab; /* functab */
	size_t ftab_len;
	const unsigned char *records; /* base of func record offsets */
	size_t records_len;
	const unsigned char *pctab; /* base of pc-value table offsets */
	size_t pctab_len;
};

static uint64_t read_le(const unsigned char *p, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int version_of_magic(uint32_t magic)
{
	switch (magic) {
	case GOPCLNTAB_MAGIC_12:
		return 12;
	case GOPCLNTAB_MAGIC_116:
		return 116;
	case GOPCLNTAB_MAGIC_118:
		return 118;
	case GOPCLNTAB_MAGIC_120:
		return 120;
	}
	return 0;
}

/* The fixed first 8 bytes: magic, two zero pads, instruction quantum, pointer size. */
static bool header_prefix_ok(const unsigned char *p, size_t len)
{
	unsigned quantum, ptrsize;

	if (len < 8 || !version_of_magic((uint32_t)read_le(p, 4)))
		return false;
	quantum = p[6];
	ptrsize = p[7];
	return p[4] == 0 && p[5] == 0 && (quantum == 1 || quantum == 2 || quantum == 4) &&
	       (ptrsize == 4 || ptrsize == 8);
}

/* Header field i (after the 8-byte prefix), each one pointer wide. */
static uint64_t header_field(const unsigned char *p, unsigned ptrsize, unsigned i)
{
	return read_le(p + 8 + (size_t)i * ptrsize, ptrsize);
}

static int region(const unsigned char *p, size_t len, uint64_t off, const char *what,
		  const unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
	if (off >= len)
		return errmsg(err, errlen, "pclntab %s offset %#llx outside the table", what,
			      (unsigned long long)off);
	*out = p + off;
	*out_len = len - off;
	return 0;
}

static int layout_go12(const unsigned char *p, size_t len, struct layout *l, char *err,
		       size_t errlen)
{
	/* One table: names and records are both found from its start. */
	l->word = l->ptrsize;
	l->names = p;
	l->names_len = len;
	l->records = p;
	l->records_len = len;
	l->pctab = p;
	l->pctab_len = len;
	return region(p, len, 8 + l->ptrsize, "functab", &l->ftab, &l->ftab_len, err, errlen);
}

static int layout_go116(const unsigned char *p, size_t len, struct layout *l, char *err,
			size_t errlen)
{
	if (len < 8 + 7 * (size_t)l->ptrsize)
		return errmsg(err, errlen, "pclntab header truncated");
	l->word = l->ptrsize;
	if (region(p, len, header_field(p, l->ptrsize, 2), "funcname", &l->names, &l->names_len,
		   err, errlen) ||
	    region(p, len, header_field(p, l->ptrsize, 5), "pctab", &l->pctab, &l->pctab_len, err,
		   errlen))
		return -1;
	return region(p, len, header_field(p, l->ptrsize, 6), "functab", &l->ftab, &l->ftab_len,
		      err, errlen);
}

static int layout_go118(const unsigned char *p, size_t len, uint64_t text_fallback,
			struct layout *l, char *err, size_t errlen)
{
	if (len < 8 + 8 * (size_t)l->ptrsize)
		return errmsg(err, errlen, "pclntab header truncated");
	l->word = 4;
	/* textStart may be left for a dynamic relocation to fill in. */
	l->text_base = header_field(p, l->ptrsize, 2);
	if (l->text_base == 0)
		l->text_base = text_fallback;
	if (l->text_base == 0)
		return errmsg(err, errlen, "pclntab textStart is zero");
	if (region(p, len, header_field(p, l->ptrsize, 3), "funcname", &l->names, &l->names_len,
		   err, errlen) ||
	    region(p, len, header_field(p, l->ptrsize, 6), "pctab", &l->pctab, &l->pctab_len, err,
		   errlen))
		return -1;
	return region(p, len, header_field(p, l->ptrsize, 7), "functab", &l->ftab, &l->ftab_len,
		      err, errlen);
}

static int read_layout(const unsigned char *p, size_t len, uint64_t text_fallback, struct layout *l,
		       char *err, size_t errlen)
{
	size_t slots;
	int rc;

	memset(l, 0, sizeof(*l));
	if (len < 8 + 8)
		return errmsg(err, errlen, "pclntab truncated (%zu bytes)", len);
	l->version = version_of_magic((uint32_t)read_le(p, 4));
	if (!l->version)
		return errmsg(err, errlen, "bad pclntab magic %#x", (unsigned)read_le(p, 4));
	if (!header_prefix_ok(p, len))
		return errmsg(err, errlen, "bad pclntab header");
	l->ptrsize = p[7];
	l->nfunc = header_field(p, l->ptrsize, 0);
	if (l->version == 12)
		rc = layout_go12(p, len, l, err, errlen);
	else if (l->version == 116)
		rc = layout_go116(p, len, l, err, errlen);
	else
		rc = layout_go118(p, len, text_fallback, l, err, errlen);
	if (rc)
		return rc;
	if (!l->records) {
		l->records = l->ftab;
		l->records_len = l->ftab_len;
	}
	slots = l->ftab_len / l->word;
	if (l->nfunc == 0 || slots < 3 || l->nfunc > (slots - 1) / 2)
		return errmsg(err, errlen, "pclntab nfunc %llu does not fit the table",
			      (unsigned long long)l->nfunc);
	return 0;
}

static int read_name(const struct layout *l, uint64_t funcoff, size_t i, const char **name,
		     char *err, size_t errlen)
{
	const unsigned char *f = l->records + funcoff;
	int64_t nameoff = (int32_t)read_le(f + l->word, 4);

	if (nameoff < 0 || (uint64_t)nameoff >= l->names_len ||
	    !memchr(l->names + nameoff, 0, l->names_len - (size_t)nameoff))
		return errmsg(err, errlen, "pclntab function %zu: name offset %lld out of range", i,
			      (long long)nameoff);
	*name = (const char *)l->names + nameoff;
	return 0;
}

/* Checks one functab row and its _func record; fills fn. */
static int read_func(const struct layout *l, size_t i, struct go_func *fn, char *err, size_t errlen)
{
	const unsigned char *row = l->ftab + 2 * i * l->word;
	uint64_t entry = read_le(row, l->word);
	uint64_t funcoff = read_le(row + l->word, l->word);
	uint64_t next = read_le(row + 2 * l->word, l->word);

	if (next < entry)
		return errmsg(err, errlen, "pclntab functab not ascending at function %zu", i);
	if (funcoff >= l->records_len || l->records_len - funcoff < (uint64_t)l->word + 4)
		return errmsg(err, errlen, "pclntab function %zu: record offset %#llx out of range",
			      i, (unsigned long long)funcoff);
	if (read_le(l->records + funcoff, l->word) != entry)
		return errmsg(err, errlen, "pclntab function %zu: record entry does not match", i);
	fn->entry = l->text_base + entry;
	fn->size = next - entry;
	fn->record = l->records + funcoff;
	fn->record_len = l->records_len - funcoff;
	return read_name(l, funcoff, i, &fn->name, err, errlen);
}

/* The table at `bytes`; -E2BIG (reason in err) when it lists more than max_funcs. */
static int parse_table(const unsigned char *bytes, size_t len, uint64_t text_fallback,
		       size_t max_funcs, struct gopclntab *out, char *err, size_t errlen)
{
	struct layout l;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (read_layout(bytes, len, text_fallback, &l, err, errlen))
		return -1;
	if (l.nfunc > max_funcs) {
		budget__refuse(NULL, err, errlen, "pclntab of %llu functions, at most %zu",
			       (unsigned long long)l.nfunc, max_funcs);
		return -E2BIG;
	}
	out->funcs = calloc(l.nfunc, sizeof(*out->funcs));
	if (!out->funcs)
		return errmsg(err, errlen, "out of memory for %llu functions",
			      (unsigned long long)l.nfunc);
	for (i = 0; i < l.nfunc; i++) {
		if (read_func(&l, i, &out->funcs[i], err, errlen))
			goto free_funcs;
	}
	out->nfuncs = l.nfunc;
	out->version = l.version;
	out->text_start = l.text_base;
	out->word = l.word;
	out->quantum = bytes[6];
	out->pctab = l.pctab;
	out->pctab_len = l.pctab_len;
	return 0;

free_funcs:
	gopclntab__free(out);
	return -1;
}

int gopclntab__parse(const unsigned char *bytes, size_t len, uint64_t text_fallback,
		     struct gopclntab *out, char *err, size_t errlen)
{
	return parse_table(bytes, len, text_fallback, BUDGET_SYMBOLS, out, err, errlen) ? -1 : 0;
}

/* The same within the image's budget; a refusal for size marks it exceeded. */
static int parse_in(const struct elf_image *img, const unsigned char *bytes, size_t len,
		    uint64_t text_fallback, struct gopclntab *out, char *err, size_t errlen)
{
	int rc = parse_table(bytes, len, text_fallback, img->budget->max_symbols, out, err, errlen);

	if (rc == -E2BIG)
		img->budget->exceeded = true;
	return rc ? -1 : 0;
}

void gopclntab__free(struct gopclntab *tab)
{
	if (!tab)
		return;
	free(tab->funcs);
	memset(tab, 0, sizeof(*tab));
}

/*
 * Every pointer-sized word of the writable segments, sorted: the runtime's
 * moduledata starts with a pointer to the table, and looking candidates up
 * here keeps a crafted binary full of header-shaped words linear-ish
 * instead of quadratic.
 */
struct word_index {
	uint64_t *words;
	size_t n;
	unsigned ptrsize;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_range(const void *a, const void *b)
{
	const struct elf_segment *x = *(const struct elf_segment *const *)a;
	const struct elf_segment *y = *(const struct elf_segment *const *)b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

/*
 * The file ranges of the writable segments, merged: segments that overlap
 * (a crafted file may have hundreds over the same bytes) give their words
 * once. Returns how many ranges are left in `r` (offset, end pairs).
 */
static size_t writable_ranges(const struct elf_image *img, uint64_t (*r)[2])
{
	const struct elf_segment *segs[ELF_MAX_SEGMENTS];
	size_t n = 0, out = 0;

	for (size_t s = 0; s < img->nloads && n < ELF_MAX_SEGMENTS; s++)
		if (img->loads[s].flags & PF_W && img->loads[s].filesz)
			segs[n++] = &img->loads[s];
	qsort(segs, n, sizeof(*segs), cmp_range);
	for (size_t i = 0; i < n; i++) {
		uint64_t start = segs[i]->offset, end = start + segs[i]->filesz;

		if (out && start <= r[out - 1][1]) {
			r[out - 1][1] = end > r[out - 1][1] ? end : r[out - 1][1];
			continue;
		}
		r[out][0] = start;
		r[out][1] = end;
		out++;
	}
	return out;
}

static int word_index__build(struct word_index *wi, const struct elf_image *img, unsigned ptrsize,
			     char *err, size_t errlen)
{
	uint64_t ranges[ELF_MAX_SEGMENTS][2];
	size_t nranges = writable_ranges(img, ranges), total = 0, n = 0;

	wi->ptrsize = ptrsize;
	for (size_t r = 0; r < nranges; r++)
		total += (size_t)((ranges[r][1] - ranges[r][0]) / ptrsize);
	if (total > img->budget->max_index_words)
		return budget__refuse(img->budget, err, errlen,
				      "%zu pointer words of writable data to index, at most %zu",
				      total, img->budget->max_index_words);
	wi->words = malloc((total ? total : 1) * sizeof(*wi->words));
	if (!wi->words)
		return errmsg(err, errlen, "out of memory scanning for the pclntab");
	for (size_t r = 0; r < nranges; r++) {
		const unsigned char *p = img->data + ranges[r][0];
		size_t len = (size_t)(ranges[r][1] - ranges[r][0]);

		/* file offsets and addresses agree modulo the page, so alignment holds */
		for (size_t off = (-ranges[r][0]) & (ptrsize - 1); off + ptrsize <= len;
		     off += ptrsize)
			wi->words[n++] = read_le(p + off, ptrsize);
	}
	qsort(wi->words, n, sizeof(*wi->words), cmp_u64);
	wi->n = n;
	return 0;
}

static bool word_index__has(const struct word_index *wi, uint64_t v)
{
	return bsearch(&v, wi->words, wi->n, sizeof(*wi->words), cmp_u64) != NULL;
}

/* Candidates tried without a moduledata pointer, at most: each costs a parse. */
#define UNREFERENCED_TRIES 64

/*
 * Tries each header-shaped candidate of one segment. With an index, only
 * those the moduledata points at, and a bad one is corrupt; without, any
 * that passes every check. 0 found, -ENOENT, -1 corrupt.
 */
static int scan_segment(const struct elf_image *img, const struct elf_segment *seg,
			const struct word_index *refs, int *tries, struct gopclntab *out, char *err,
			size_t errlen)
{
	const unsigned char *base = img->data + seg->offset;
	size_t off;

	for (off = (-seg->vaddr) & 3; off + 16 <= seg->filesz; off += 4) {
		const unsigned char *p = base + off;
		uint64_t vaddr = seg->vaddr + off;

		if (budget__expired(img->budget))
			return budget__refuse(img->budget, err, errlen,
					      "pclntab search took more than %.0f s of CPU",
					      img->budget->max_seconds);
		if (p[3] != 0xff || !header_prefix_ok(p, seg->filesz - off))
			continue;
		if (refs && (p[7] != refs->ptrsize || !word_index__has(refs, vaddr)))
			continue;
		if (!refs && ++*tries > UNREFERENCED_TRIES)
			return -ENOENT;
		if (parse_in(img, p, seg->filesz - off, 0, out, err, errlen)) {
			if (refs || img->budget->exceeded)
				return -1;
			continue;
		}
		out->vaddr = vaddr;
		return 0;
	}
	return -ENOENT;
}

static int scan_all(const struct elf_image *img, const struct word_index *refs,
		    struct gopclntab *out, char *err, size_t errlen)
{
	int tries = 0;

	for (size_t i = 0; i < img->nloads; i++) {
		if (elf_image__repeats_earlier(img, i))
			continue;
		int rc = scan_segment(img, &img->loads[i], refs, &tries, out, err, errlen);

		if (rc != -ENOENT)
			return rc;
	}
	return -ENOENT;
}

/* First tables the moduledata points at (8- then 4-byte pointers), then any that parses. */
static int scan_segments(const struct elf_image *img, struct gopclntab *out, char *err,
			 size_t errlen)
{
	static const unsigned sizes[] = {8, 4};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct word_index refs;
		int rc;

		if (word_index__build(&refs, img, sizes[i], err, errlen))
			return -1;
		rc = scan_all(img, &refs, out, err, errlen);
		free(refs.words);
		if (rc != -ENOENT)
			return rc;
	}
	return scan_all(img, NULL, out, err, errlen);
}

static int gopclntab__find(const struct elf_image *img, struct gopclntab *out, char *err,
			   size_t errlen);

static int load_from_section(const struct elf_image *img, const struct elf_section *sec,
			     struct gopclntab *out, char *err, size_t errlen)
{
	struct elf_section text = {0};

	elf_image__section(img, ".text", &text);
	if (parse_in(img, sec->bytes, sec->size, text.vaddr, out, err, errlen))
		return -1;
	out->vaddr = sec->vaddr;
	return 0;
}

/* runtime.moduledata (Go 1.18 to 1.26) in pointer-sized words: where its fields are. */
#define MD_PCHEADER 0
#define MD_FTAB_LEN 17
#define MD_MINPC    20
#define MD_TEXT	    22
#define MD_WORDS    24

/* Whether the moduledata-shaped words at md describe `tab` with its code at `text`. */
static bool moduledata_fits(const struct elf_image *img, const struct gopclntab *tab,
			    const unsigned char *md, uint64_t *text)
{
	const struct elf_segment *seg;
	uint64_t minpc = read_le(md + 8 * MD_MINPC, 8);

	*text = read_le(md + 8 * MD_TEXT, 8);
	if (read_le(md + 8 * MD_FTAB_LEN, 8) != tab->nfuncs + 1 || minpc < *text)
		return false;
	/* the first function's offset from text, as the functab records it */
	if (minpc - *text != tab->funcs[0].entry - tab->text_start)
		return false;
	seg = elf_image__segment_at(img, *text);
	return seg && (seg->flags & PF_X);
}

/*
 * Go 1.18+ entries are offsets from the module's text. The table's header
 * has that base, but toolchains that link externally may leave it zero, and
 * the start of .text is then wrong by the C runtime code put before Go's. The
 * runtime's moduledata, which points at the table, has the real base.
 */
static void rebase_on_moduledata(const struct elf_image *img, struct gopclntab *tab)
{
	uint64_t text;

	if (tab->version < 118 || !tab->nfuncs)
		return;
	for (size_t s = 0; s < img->nloads; s++) {
		const struct elf_segment *seg = &img->loads[s];
		const unsigned char *p = img->data + seg->offset;

		if (!(seg->flags & PF_W))
			continue;
		for (size_t off = (-seg->vaddr) & 7; off + 8 * MD_WORDS <= seg->filesz; off += 8) {
			if (read_le(p + off + 8 * MD_PCHEADER, 8) != tab->vaddr ||
			    !moduledata_fits(img, tab, p + off, &text))
				continue;
			for (size_t i = 0; i < tab->nfuncs; i++)
				tab->funcs[i].entry = tab->funcs[i].entry - tab->text_start + text;
			tab->text_start = text;
			return;
		}
	}
}

const struct go_func *gopclntab__func_at(const struct gopclntab *tab, uint64_t pc)
{
	size_t lo = 0, hi = tab->nfuncs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pc < tab->funcs[mid].entry)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == 0)
		return NULL;
	const struct go_func *fn = &tab->funcs[lo - 1];
	return pc - fn->entry < fn->size ? fn : NULL;
}

/* A varint of the pc tables; false when it runs off the table. */
static bool read_uvarint(const unsigned char **p, const unsigned char *end, uint32_t *out)
{
	uint32_t v = 0;

	for (unsigned shift = 0; shift < 35; shift += 7) {
		if (*p >= end)
			return false;
		unsigned char b = *(*p)++;
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/*
 * A pc-value table is pairs (value delta, zig-zag; pc delta, in quanta),
 * starting from value -1 at the entry; the value holds up to the new pc.
 */
int gopclntab__sp_delta(const struct gopclntab *tab, const struct go_func *fn, uint64_t pc,
			int64_t *delta)
{
	const unsigned char *p, *end = tab->pctab + tab->pctab_len;
	uint64_t at = fn->entry;
	int64_t value = -1;
	uint32_t off;

	if (!tab->pctab || fn->record_len < (size_t)tab->word + 16 || pc < fn->entry)
		return -1;
	off = (uint32_t)read_le(fn->record + tab->word + 12, 4);
	if (off == 0 || off >= tab->pctab_len)
		return -1;
	p = tab->pctab + off;
	for (bool first = true;; first = false) {
		uint32_t uv, pcd;

		if (!read_uvarint(&p, end, &uv))
			return -1;
		if (uv == 0 && !first)
			return -1; /* the table ended before reaching pc */
		if (!read_uvarint(&p, end, &pcd))
			return -1;
		value += (int32_t)(-(uv & 1) ^ (uv >> 1));
		at += (uint64_t)pcd * (tab->quantum ? tab->quantum : 1);
		if (pc < at) {
			*delta = value;
			return 0;
		}
	}
}

int gopclntab__load(const struct elf_image *img, struct gopclntab *out, char *err, size_t errlen)
{
	int rc = gopclntab__find(img, out, err, errlen);

	if (rc == 0)
		rebase_on_moduledata(img, out);
	return rc;
}

static int gopclntab__find(const struct elf_image *img, struct gopclntab *out, char *err,
			   size_t errlen)
{
	/* PIE binaries keep the table in a relocated read-only data section. */
	static const char *const names[] = {".gopclntab", ".data.rel.ro.gopclntab"};
	struct elf_section sec;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (elf_image__section(img, names[i], &sec) == 0)
			return load_from_section(img, &sec, out, err, errlen);
	}
	return scan_segments(img, out, err, errlen);
}
