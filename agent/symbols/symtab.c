// SPDX-License-Identifier: Apache-2.0
/*
 * One name index over every source of function symbols of a binary: ELF
 * .symtab and .dynsym first (exact sizes), then the Go pclntab, which
 * survives stripping.
 */
#include "symbols/symtab.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "symbols/elf_image.h"
#include "symbols/gobuildinfo.h"
#include "symbols/gopclntab.h"

#define GO_STRING_MAX 64

struct sym_entry {
	const char *name;
	uint64_t vaddr;
	uint64_t size;
	size_t order; /* insertion order: earlier sources win on equal names */
};

struct symtab {
	struct elf_image img;
	struct binary_info info;
	struct sym_entry *syms; /* sorted by name, names unique */
	size_t nsyms;
	size_t cap;
	struct gopclntab gotab; /* kept for the frame sizes of its pcsp tables */
};

static struct parse_budget *budget_of(const struct symtab *st)
{
	return st->img.budget;
}

static int add_sym(const char *name, uint64_t vaddr, uint64_t size, void *ctx)
{
	struct symtab *st = ctx;
	struct sym_entry *grown;

	if (st->nsyms >= budget_of(st)->max_symbols || budget__expired(budget_of(st)))
		return -E2BIG;
	if (st->nsyms == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 1024;
		grown = realloc(st->syms, st->cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		st->syms = grown;
	}
	st->syms[st->nsyms] = (struct sym_entry){name, vaddr, size, st->nsyms};
	st->nsyms++;
	return 0;
}

/* Why add_sym stopped, as a one-line reason. */
static int index_error(struct symtab *st, int rc, char *err, size_t errlen)
{
	struct parse_budget *b = budget_of(st);

	if (rc != -E2BIG)
		return errmsg(err, errlen, "out of memory for the symbol index");
	if (st->nsyms >= b->max_symbols)
		return budget__refuse(b, err, errlen, "more than %zu functions", b->max_symbols);
	return budget__refuse(b, err, errlen, "examination took more than %.0f s of CPU",
			      b->max_seconds);
}

static int compare_entries(const void *a, const void *b)
{
	const struct sym_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void sort_unique(struct symtab *st)
{
	size_t i, kept = 0;

	if (st->nsyms == 0)
		return;
	qsort(st->syms, st->nsyms, sizeof(*st->syms), compare_entries);
	for (i = 1; i < st->nsyms; i++) {
		if (strcmp(st->syms[i].name, st->syms[kept].name) != 0)
			st->syms[++kept] = st->syms[i];
	}
	st->nsyms = kept + 1;
}

static int add_go_funcs(struct symtab *st, char *err, size_t errlen)
{
	struct gopclntab tab;
	size_t i;
	int rc;

	rc = gopclntab__load(&st->img, &tab, err, errlen);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -1;
	st->info.pclntab_version = tab.version;
	for (i = 0; i < tab.nfuncs && rc == 0; i++)
		rc = add_sym(tab.funcs[i].name, tab.funcs[i].entry, tab.funcs[i].size, st);
	st->gotab = tab; /* kept for the frame sizes; freed with st */
	return rc ? index_error(st, rc, err, errlen) : 0;
}

static int read_build_info(struct symtab *st, char *err, size_t errlen)
{
	struct go_buildinfo bi;
	int rc = gobuildinfo__load(&st->img, &bi, err, errlen);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -1;
	memcpy(st->info.go_version, bi.go_version, sizeof(st->info.go_version));
	memcpy(st->info.module_path, bi.module_path, sizeof(st->info.module_path));
	memcpy(st->info.module_version, bi.module_version, sizeof(st->info.module_version));
	return 0;
}

static int build_index(struct symtab *st, char *err, size_t errlen)
{
	bool has_symtab = false;
	int rc = elf_image__for_each_func(&st->img, add_sym, st, &has_symtab);

	if (rc)
		return index_error(st, rc, err, errlen);
	st->info.has_symtab = has_symtab;
	st->info.pie = st->img.pie;
	if (add_go_funcs(st, err, errlen) || read_build_info(st, err, errlen))
		return -1;
	sort_unique(st);
	return 0;
}

static int open_image(struct symtab *st, struct symtab **out, char *err, size_t errlen)
{
	if (build_index(st, err, errlen)) {
		symtab__close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int symtab__open_fd(int fd, struct parse_budget *budget, struct symtab **out, char *err,
		    size_t errlen)
{
	struct symtab *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return errmsg(err, errlen, "out of memory");
	if (elf_image__open_fd(&st->img, fd, budget, err, errlen)) {
		symtab__close(st);
		return -1;
	}
	return open_image(st, out, err, errlen);
}

int symtab__open(const char *path, struct symtab **out, char *err, size_t errlen)
{
	char why[256];
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, "%s: %s", path, strerror(errno));
	rc = symtab__open_fd(fd, NULL, out, why, sizeof(why));
	close(fd);
	if (rc)
		return errmsg(err, errlen, "%s: %s", path, why);
	return 0;
}

int symtab__open_mem(const void *buf, size_t len, struct symtab **out, char *err, size_t errlen)
{
	struct symtab *st = calloc(1, sizeof(*st));
	unsigned char *copy = malloc(len ? len : 1);

	*out = NULL;
	if (!st || !copy) {
		free(st);
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (len)
		memcpy(copy, buf, len);
	if (elf_image__open_owned(&st->img, copy, len, err, errlen)) {
		symtab__close(st);
		return -1;
	}
	return open_image(st, out, err, errlen);
}

void symtab__close(struct symtab *st)
{
	if (!st)
		return;
	elf_image__close(&st->img);
	gopclntab__free(&st->gotab);
	free(st->syms);
	free(st);
}

const struct binary_info *symtab__info(const struct symtab *st)
{
	return &st->info;
}

static void fill_sym(const struct symtab *st, const struct sym_entry *e, struct func_sym *out)
{
	const struct elf_segment *seg;

	out->vaddr = e->vaddr;
	out->size = e->size;
	out->file_offset = 0;
	if (elf_image__file_offset(&st->img, e->vaddr, &out->file_offset) == 0)
		return;
	seg = elf_image__segment_at(&st->img, e->vaddr);
	if (seg)
		out->file_offset = e->vaddr - seg->vaddr + seg->offset;
}

static int compare_name_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sym_entry *)elem)->name);
}

int symtab__find(const struct symtab *st, const char *name, struct func_sym *out)
{
	const struct sym_entry *e;

	if (!st->nsyms)
		return -ENOENT;
	e = bsearch(name, st->syms, st->nsyms, sizeof(*st->syms), compare_name_key);
	if (!e)
		return -ENOENT;
	fill_sym(st, e, out);
	return 0;
}

int symtab__read(const struct symtab *st, uint64_t vaddr, void *buf, size_t len)
{
	const unsigned char *p = elf_image__ptr(&st->img, vaddr, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int symtab__sp_delta(const struct symtab *st, uint64_t pc, int64_t *delta)
{
	const struct go_func *fn = gopclntab__func_at(&st->gotab, pc);

	if (!fn)
		return -ENOENT;
	return gopclntab__sp_delta(&st->gotab, fn, pc, delta) ? -EINVAL : 0;
}

size_t symtab__count(const struct symtab *st)
{
	return st->nsyms;
}

const char *symtab__at(const struct symtab *st, size_t i, struct func_sym *out)
{
	if (i >= st->nsyms)
		return NULL;
	fill_sym(st, &st->syms[i], out);
	return st->syms[i].name;
}

/* Dotted versions compare field by field as numbers; other bytes as bytes. */
static int compare_versions(const char *a, const char *b)
{
	char *end_a, *end_b;

	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long x = strtoull(a, &end_a, 10);
			unsigned long long y = strtoull(b, &end_b, 10);

			if (x != y)
				return x < y ? -1 : 1;
			a = end_a;
			b = end_b;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return (*a != 0) - (*b != 0);
}

/* The string a (pointer, length) header at p refers to, if it lies in read-only data. */
static const unsigned char *go_string_at(const struct symtab *st, const unsigned char *p,
					 size_t *len)
{
	uint64_t ptr, n;
	const struct elf_segment *seg;

	memcpy(&n, p + 8, sizeof(n));
	if (n < 1 || n > GO_STRING_MAX)
		return NULL;
	memcpy(&ptr, p, sizeof(ptr));
	seg = elf_image__segment_at(&st->img, ptr);
	if (!seg || (seg->flags & PF_W))
		return NULL;
	*len = (size_t)n;
	return elf_image__ptr(&st->img, ptr, (size_t)n);
}

static void scan_segment_strings(const struct symtab *st, const struct elf_segment *seg,
				 const regex_t *re, char *best)
{
	const unsigned char *base = st->img.data + seg->offset;
	char text[GO_STRING_MAX + 1];
	const unsigned char *s;
	size_t off, len;

	for (off = (-seg->vaddr) & 7; off + 16 <= seg->filesz; off += 8) {
		if (budget__expired(budget_of(st)))
			return;
		s = go_string_at(st, base + off, &len);
		if (!s)
			continue;
		memcpy(text, s, len);
		text[len] = '\0';
		if (strlen(text) != len || regexec(re, text, 0, NULL, 0) != 0)
			continue;
		if (!*best || compare_versions(text, best) > 0)
			memcpy(best, text, len + 1);
	}
}

static void scan_c_strings(const struct symtab *st, const struct elf_segment *seg,
			   const regex_t *re, char *best);

typedef void (*string_scan_fn)(const struct symtab *st, const struct elf_segment *seg,
			       const regex_t *re, char *best);

/* The highest version among the strings `scan` finds in segments with `flags` set or clear. */
static int find_version_string(const struct symtab *st, const char *pattern, bool writable,
			       string_scan_fn scan, char *out, size_t outlen)
{
	char best[GO_STRING_MAX + 1] = "";
	regex_t re;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return -EINVAL;
	for (size_t i = 0; i < st->img.nloads; i++) {
		uint32_t flags = st->img.loads[i].flags;

		if (elf_image__repeats_earlier(&st->img, i))
			continue;
		if (writable ? (flags & PF_W) : !(flags & (PF_W | PF_X)))
			scan(st, &st->img.loads[i], &re, best);
	}
	regfree(&re);
	if (budget__expired(budget_of(st)))
		return -ETIME; /* a scan cut short: its best is not the highest */
	if (!*best)
		return -ENOENT;
	if (strlen(best) >= outlen)
		return -ENOSPC;
	memcpy(out, best, strlen(best) + 1);
	return 0;
}

int symtab__find_go_string(const struct symtab *st, const char *pattern, char *out, size_t outlen)
{
	/* Go string headers live in writable data; their bytes in read-only data */
	return find_version_string(st, pattern, true, scan_segment_strings, out, outlen);
}

/* Every NUL-terminated run of printable bytes in a read-only segment. */
static void scan_c_strings(const struct symtab *st, const struct elf_segment *seg,
			   const regex_t *re, char *best)
{
	const unsigned char *base = st->img.data + seg->offset;
	char text[GO_STRING_MAX + 1];
	size_t start = 0;

	for (size_t off = 0; off < seg->filesz; off++) {
		if (base[off] >= 0x20 && base[off] < 0x7f)
			continue;
		size_t len = off - start;

		if (budget__expired(budget_of(st)))
			return;
		if (base[off] == 0 && len >= 1 && len <= GO_STRING_MAX) {
			memcpy(text, base + start, len);
			text[len] = '\0';
			if (regexec(re, text, 0, NULL, 0) == 0 &&
			    (!*best || compare_versions(text, best) > 0))
				memcpy(best, text, len + 1);
		}
		start = off + 1;
	}
}

int symtab__find_c_string(const struct symtab *st, const char *pattern, char *out, size_t outlen)
{
	return find_version_string(st, pattern, false, scan_c_strings, out, outlen);
}
