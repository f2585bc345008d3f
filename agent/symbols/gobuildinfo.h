/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Go toolchain's build record (.go.buildinfo): the Go version and the
 * main module's path and version, in the layouts before and since Go 1.18.
 */
#ifndef KVSCOPE_GOBUILDINFO_H
#define KVSCOPE_GOBUILDINFO_H

#include <stddef.h>

#include "symbols/elf_image.h"

#define GOBUILDINFO_MAGIC     "\xff Go buildinf:"
#define GOBUILDINFO_MAGIC_LEN 14

struct go_buildinfo {
	char go_version[32];
	char module_path[256];
	char module_version[64];
};

/*
 * Finds the record by section name, or by its magic in the data segments.
 * 0, -ENOENT when there is none, -1 when it is corrupt (reason in err).
 */
int gobuildinfo__load(const struct elf_image *img, struct go_buildinfo *out, char *err,
		      size_t errlen);
/* Takes path/mod lines from the module info text (sentinels optional). */
void gobuildinfo__parse_modinfo(const char *mod, size_t len, struct go_buildinfo *out);

#endif
