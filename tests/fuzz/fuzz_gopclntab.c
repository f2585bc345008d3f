// SPDX-License-Identifier: Apache-2.0
/*
 * The Go pclntab parser on its own, without an ELF around it: every header
 * format (1.2, 1.16, 1.18, 1.20) and every offset in it comes from the input.
 * The first 8 input bytes are the textStart fallback.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "symbols/gopclntab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t text_fallback = fuzz_take_le(&data, &size, 8);
	unsigned char *table = fuzz_copy(data, size);
	struct gopclntab tab;
	char err[256];

	if (gopclntab__parse(table, size, text_fallback, &tab, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < tab.nfuncs; i++) {
			const char *name = tab.funcs[i].name;

			/* names point into the table and end inside it */
			if ((const unsigned char *)name < table ||
			    (const unsigned char *)name + strlen(name) >= table + size)
				__builtin_trap();
		}
		gopclntab__free(&tab);
	}
	free(table);
	return 0;
}
