/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Function symbols and build facts of an executable: ELF .symtab/.dynsym,
 * and for Go binaries (stripped or not) the pclntab and .go.buildinfo.
 */
#ifndef KVSCOPE_SYMTAB_H
#define KVSCOPE_SYMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols/budget.h"

struct binary_info {
	char go_version[32];	 /* "go1.19.8"; empty for a non-Go binary */
	char module_path[256];	 /* main module (buildinfo "path"), may be empty */
	char module_version[64]; /* main module version, "(devel)" or empty */
	int pclntab_version;	 /* 116, 118, 120, 12 (Go 1.2-1.15) or 0 when none */
	bool has_symtab;	 /* .symtab present */
	bool pie;		 /* ET_DYN */
};

struct func_sym {
	uint64_t vaddr;	      /* link-time virtual address of the entry */
	uint64_t size;	      /* bytes up to the next function (Go: may hold INT3 padding) */
	uint64_t file_offset; /* offset of the entry in the file, what uprobes take */
};

struct symtab;

/* Opens `path`; on error returns -1 and writes a one-line reason into err. */
int symtab__open(const char *path, struct symtab **out, char *err, size_t errlen);
/*
 * The file open on `fd`, copied and indexed within `budget` (NULL: the
 * defaults). A refusal for cost sets budget->exceeded.
 */
int symtab__open_fd(int fd, struct parse_budget *budget, struct symtab **out, char *err,
		    size_t errlen);
/* The same over a buffer (used by tests and fuzzing); the buffer is copied. */
int symtab__open_mem(const void *buf, size_t len, struct symtab **out, char *err, size_t errlen);
void symtab__close(struct symtab *st);

const struct binary_info *symtab__info(const struct symtab *st);

/* Exact name match (Go names as the pclntab spells them). 0, or -ENOENT. */
int symtab__find(const struct symtab *st, const char *name, struct func_sym *out);
/* Copies `len` bytes at virtual address `vaddr` from the file. 0 or -EFAULT. */
int symtab__read(const struct symtab *st, uint64_t vaddr, void *buf, size_t len);

/*
 * A Go string variable in the binary's data whose contents match the POSIX
 * extended regex `pattern`; with several matches the highest dotted version
 * wins. Used to read a store's version from a stripped binary. 0, -ENOENT,
 * or -ETIME when the budget ran out.
 */
int symtab__find_go_string(const struct symtab *st, const char *pattern, char *out, size_t outlen);

/*
 * The same for C binaries: a NUL-terminated string in read-only data (e.g.
 * Redis's REDIS_VERSION "7.0.15") matching `pattern`; the highest version wins.
 */
int symtab__find_c_string(const struct symtab *st, const char *pattern, char *out, size_t outlen);

/*
 * For Go code: how far SP is below its value at the entry of the function
 * holding `pc`, when `pc` is about to run (its pcsp table). So a probe at
 * `pc` finds the caller's argument spill area at SP + delta + 8.
 * 0, -ENOENT outside Go code, -EINVAL when the table is corrupt.
 */
int symtab__sp_delta(const struct symtab *st, uint64_t pc, int64_t *delta);

/* Number of functions known, and the i-th (for listings); name points into st. */
size_t symtab__count(const struct symtab *st);
const char *symtab__at(const struct symtab *st, size_t i, struct func_sym *out);

#endif
