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
	uint64_t size; /* up to the next entry */
};

struct gopclntab {
	int version; /* 12, 116, 118 or 120 */
	uint64_t vaddr;
	uint64_t text_start; /* 1.18+: base of the entry offsets */
	struct go_func *funcs;
	size_t nfuncs;
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

#endif
