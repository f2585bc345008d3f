/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Go runtime's function table (pclntab): names and entry addresses of
 * every Go function, present even in stripped binaries. Header formats of
 * Go 1.2-1.15, 1.16-1.17, 1.18-1.19 and 1.20+.
 */
#ifndef KVSCOPE_GOPCLNTAB_H
#define KVSCOPE_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

#include "symbols/elf_image.h"

#define GOPCLNTAB_MAGIC_12  0xfffffffbu
#define GOPCLNTAB_MAGIC_116 0xfffffffau
#define GOPCLNTAB_MAGIC_118 0xfffffff0u
#define GOPCLNTAB_MAGIC_120 0xfffffff1u

struct go_func {
	const char *name; /* points into the table's bytes */
	uint64_t entry;
	uint64_t size;		     /* up to the next entry */
	const unsigned char *record; /* its _func record, checked when read */
	size_t record_len;	     /* bytes from record to the table's end */
};

struct gopclntab {
	int version; /* 12, 116, 118 or 120 */
	uint64_t vaddr;
	uint64_t text_start;   /* 1.18+: base of the entry offsets */
	struct go_func *funcs; /* ascending by entry */
	size_t nfuncs;
	unsigned word;		    /* width of a functab field: pointer size, 4 from 1.18 */
	unsigned quantum;	    /* instruction size quantum of the pc tables */
	const unsigned char *pctab; /* base of the pc-value tables (pcsp, ...) */
	size_t pctab_len;
};

/*
 * Parses the table held in `bytes` (len bytes available). text_fallback is
 * the base for 1.18+ entry offsets when the header's textStart is zero.
 * 0, or -1 with a reason in err.
 */
int gopclntab__parse(const unsigned char *bytes, size_t len, uint64_t text_fallback,
		     struct gopclntab *out, char *err, size_t errlen);
/*
 * Finds the table by section name, or without section headers by its magic
 * and the runtime moduledata pointing at it. 0, -ENOENT when the binary has
 * none, -1 when it is corrupt (reason in err).
 */
int gopclntab__load(const struct elf_image *img, struct gopclntab *out, char *err, size_t errlen);
void gopclntab__free(struct gopclntab *tab);

/* The function whose code holds `pc`, or NULL. */
const struct go_func *gopclntab__func_at(const struct gopclntab *tab, uint64_t pc);

/*
 * How far SP is below its value at the function's entry when `pc` runs
 * (the pcsp table: 0 at the entry, the frame size plus the saved frame
 * pointer in the body). 0, or -1 when the table is missing or corrupt.
 */
int gopclntab__sp_delta(const struct gopclntab *tab, const struct go_func *fn, uint64_t pc,
			int64_t *delta);

#endif
