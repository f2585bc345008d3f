// SPDX-License-Identifier: Apache-2.0
#include "common/errmsg.h"
#include "symbols/gobuildinfo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HEADER_LEN   32
#define SENTINEL_LEN 16
#define FLAG_BIGEND  0x1
#define FLAG_INLINE  0x2 /* Go 1.18+: strings follow the header */
#define MAX_STRING   (1u << 20)

/* Bytes available from one point to the end of its section or segment. */
struct cursor {
	const unsigned char *p;
	size_t len;
};

static void copy_field(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	snprintf(dst, dstlen, "%.*s", (int)(srclen < dstlen ? srclen : dstlen - 1), src);
}

/* The tab-separated field `n` of line [p, end), or false when missing. */
static bool line_field(const char *p, const char *end, int n, const char **f, size_t *flen)
{
	const char *tab;

	for (; n > 0; n--) {
		tab = memchr(p, '\t', (size_t)(end - p));
		if (!tab)
			return false;
		p = tab + 1;
	}
	tab = memchr(p, '\t', (size_t)(end - p));
	*f = p;
	*flen = (size_t)((tab ? tab : end) - p);
	return true;
}

static void apply_line(const char *p, const char *end, bool *have_mod, struct go_buildinfo *out)
{
	const char *f;
	size_t flen;

	if ((size_t)(end - p) > 5 && !memcmp(p, "path\t", 5) && !*have_mod) {
		if (line_field(p, end, 1, &f, &flen))
			copy_field(out->module_path, sizeof(out->module_path), f, flen);
	} else if ((size_t)(end - p) > 4 && !memcmp(p, "mod\t", 4)) {
		*have_mod = true;
		if (line_field(p, end, 1, &f, &flen))
			copy_field(out->module_path, sizeof(out->module_path), f, flen);
		if (line_field(p, end, 2, &f, &flen))
			copy_field(out->module_version, sizeof(out->module_version), f, flen);
	}
}

void gobuildinfo__parse_modinfo(const char *mod, size_t len, struct go_buildinfo *out)
{
	const char *end, *nl;
	bool have_mod = false;

	/* The text sits between two 16-byte sentinels, the last one after a newline. */
	if (len >= 2 * SENTINEL_LEN + 1 && mod[len - SENTINEL_LEN - 1] == '\n') {
		mod += SENTINEL_LEN;
		len -= 2 * SENTINEL_LEN;
	}
	end = mod + len;
	while (mod < end) {
		nl = memchr(mod, '\n', (size_t)(end - mod));
		if (!nl)
			nl = end;
		apply_line(mod, nl, &have_mod, out);
		mod = nl + 1;
	}
}

static int read_varint_string(struct cursor *c, const unsigned char **s, size_t *slen)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < c->len && i < 10; i++) {
		v |= (uint64_t)(c->p[i] & 0x7f) << (7 * i);
		if (!(c->p[i] & 0x80))
			break;
	}
	if (i >= c->len || i >= 10 || v > c->len - i - 1 || v > MAX_STRING)
		return -1;
	*s = c->p + i + 1;
	*slen = (size_t)v;
	c->p += i + 1 + v;
	c->len -= i + 1 + v;
	return 0;
}

static int parse_inline(struct cursor c, struct go_buildinfo *out, char *err, size_t errlen)
{
	const unsigned char *vers, *mod;
	size_t vlen, mlen;

	c.p += HEADER_LEN;
	c.len -= HEADER_LEN;
	if (read_varint_string(&c, &vers, &vlen) || read_varint_string(&c, &mod, &mlen))
		return errmsg(err, errlen, "go buildinfo: string runs past its data");
	copy_field(out->go_version, sizeof(out->go_version), (const char *)vers, vlen);
	gobuildinfo__parse_modinfo((const char *)mod, mlen, out);
	return 0;
}

static uint64_t read_word(const unsigned char *p, unsigned size, bool bigend)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		v |= (uint64_t)p[bigend ? size - 1 - i : i] << (8 * i);
	return v;
}

/* Follows a pointer to a Go string header (data pointer, length). */
static const char *deref_string(const struct elf_image *img, uint64_t addr, unsigned ptrsize,
				bool bigend, size_t *len)
{
	const unsigned char *hdr = elf_image__ptr(img, addr, 2 * ptrsize);
	uint64_t data, n;

	if (!hdr)
		return NULL;
	data = read_word(hdr, ptrsize, bigend);
	n = read_word(hdr + ptrsize, ptrsize, bigend);
	if (n > MAX_STRING)
		return NULL;
	*len = (size_t)n;
	return n ? (const char *)elf_image__ptr(img, data, (size_t)n) : "";
}

static int parse_pointers(const struct elf_image *img, struct cursor c, struct go_buildinfo *out,
			  char *err, size_t errlen)
{
	unsigned ptrsize = c.p[14];
	bool bigend = c.p[15] & FLAG_BIGEND;
	const char *vers, *mod;
	size_t vlen, mlen;

	if (ptrsize != 4 && ptrsize != 8)
		return errmsg(err, errlen, "go buildinfo: bad pointer size %u", ptrsize);
	vers = deref_string(img, read_word(c.p + 16, ptrsize, bigend), ptrsize, bigend, &vlen);
	mod = deref_string(img, read_word(c.p + 16 + ptrsize, ptrsize, bigend), ptrsize, bigend,
			   &mlen);
	if (!vers || !mod)
		return errmsg(err, errlen, "go buildinfo: string pointer outside the file");
	copy_field(out->go_version, sizeof(out->go_version), vers, vlen);
	gobuildinfo__parse_modinfo(mod, mlen, out);
	return 0;
}

static int parse_at(const struct elf_image *img, struct cursor c, struct go_buildinfo *out,
		    char *err, size_t errlen)
{
	if (c.len < HEADER_LEN || memcmp(c.p, GOBUILDINFO_MAGIC, GOBUILDINFO_MAGIC_LEN) != 0)
		return errmsg(err, errlen, "go buildinfo: bad header");
	if (c.p[15] & FLAG_INLINE)
		return parse_inline(c, out, err, errlen);
	return parse_pointers(img, c, out, err, errlen);
}

/* Without section headers: the record is 16-byte aligned in a data segment. */
static int find_by_magic(const struct elf_image *img, struct cursor *c)
{
	size_t s, off;

	for (s = 0; s < img->nloads; s++) {
		const struct elf_segment *seg = &img->loads[s];
		const unsigned char *base = img->data + seg->offset;

		if (!(seg->flags & PF_W))
			continue;
		for (off = (-seg->vaddr) & 15; off + HEADER_LEN <= seg->filesz; off += 16) {
			if (memcmp(base + off, GOBUILDINFO_MAGIC, GOBUILDINFO_MAGIC_LEN) != 0)
				continue;
			c->p = base + off;
			c->len = seg->filesz - off;
			return 0;
		}
	}
	return -ENOENT;
}

int gobuildinfo__load(const struct elf_image *img, struct go_buildinfo *out, char *err,
		      size_t errlen)
{
	struct elf_section sec;
	struct cursor c;

	memset(out, 0, sizeof(*out));
	if (elf_image__section(img, ".go.buildinfo", &sec) == 0) {
		c.p = sec.bytes;
		c.len = sec.size;
	} else if (find_by_magic(img, &c) != 0) {
		return -ENOENT;
	}
	if (parse_at(img, c, out, err, errlen) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	return -1;
}
