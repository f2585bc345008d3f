// SPDX-License-Identifier: Apache-2.0
/*
 * Symbol index over an arbitrary file: ELF headers, .symtab/.dynsym, the Go
 * pclntab and .go.buildinfo, then every query the agent makes of an index.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "symbols/symtab.h"

/* Listings walk the whole index; a few thousand entries cover every path. */
#define MAX_LISTED 4096
#define CODE_BYTES 512

static const char *const probe_names[] = {
    "main.main",
    "runtime.main",
    "go.etcd.io/etcd/etcdserver.(*EtcdServer).Range",
    "",
};

static void query_names(const struct symtab *st)
{
	struct func_sym fs;
	uint8_t code[CODE_BYTES];

	for (size_t i = 0; i < sizeof(probe_names) / sizeof(probe_names[0]); i++) {
		if (symtab__find(st, probe_names[i], &fs) == 0)
			symtab__read(st, fs.vaddr, code,
				     fs.size < sizeof(code) ? fs.size : sizeof(code));
	}
}

static void list_all(const struct symtab *st)
{
	size_t n = symtab__count(st);
	struct func_sym fs;
	uint8_t code[CODE_BYTES];

	for (size_t i = 0; i < n && i < MAX_LISTED; i++) {
		const char *name = symtab__at(st, i, &fs);
		struct func_sym again;

		if (!name || symtab__find(st, name, &again) != 0)
			__builtin_trap(); /* a listed name must be found again */
		symtab__read(st, fs.vaddr, code, fs.size < sizeof(code) ? fs.size : sizeof(code));
	}
	if (symtab__at(st, n, &fs) != NULL)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct symtab *st;
	char err[256], version[64], tiny[4];
	uint8_t byte;

	if (symtab__open_mem(data, size, &st, err, sizeof(err)) != 0) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			__builtin_trap(); /* a failure always says why */
		return 0;
	}
	const struct binary_info *info = symtab__info(st);

	if (!memchr(info->go_version, '\0', sizeof(info->go_version)) ||
	    !memchr(info->module_path, '\0', sizeof(info->module_path)) ||
	    !memchr(info->module_version, '\0', sizeof(info->module_version)))
		__builtin_trap();
	query_names(st);
	list_all(st);
	symtab__read(st, 0, &byte, 1);
	symtab__read(st, UINT64_MAX, &byte, 1);
	symtab__read(st, UINT64_MAX - 4, version, sizeof(version));
	symtab__find_go_string(st, "^[0-9]+\\.[0-9]+\\.[0-9]+$", version, sizeof(version));
	symtab__find_go_string(st, "^v?[0-9]", tiny, sizeof(tiny));
	symtab__close(st);
	return 0;
}
