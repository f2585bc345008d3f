/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVSCOPE_PROFILES_BUILTIN_H
#define KVSCOPE_PROFILES_BUILTIN_H

#include <stddef.h>

struct builtin_profile {
	const char *source;
	const char *text;
	size_t len;
};

/* The profiles under profiles/, compiled in (build/profiles_builtin.c). */
extern const struct builtin_profile builtin_profiles[];
extern const size_t builtin_profiles_count;

#endif
