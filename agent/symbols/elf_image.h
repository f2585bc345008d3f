/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A private in-memory copy of an ELF64 executable with bounds-checked access
 * by virtual address, by section name and to its function symbols.
 */
#ifndef KVSCOPE_ELF_IMAGE_H
#define KVSCOPE_ELF_IMAGE_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols/budget.h"

/* Real executables have a few dozen of each; libelf allocates per section. */
#define ELF_MAX_SECTIONS 4096
#define ELF_MAX_SEGMENTS 512

struct elf_segment {
	uint64_t vaddr;
	uint64_t memsz;
	uint64_t filesz;
	uint64_t offset;
	uint32_t flags; /* PF_R | PF_W | PF_X */
};

struct elf_section {
	uint64_t vaddr;
	uint64_t size;
	const unsigned char *bytes; /* size bytes inside the image */
};

struct elf_image {
	unsigned char *data; /* owned copy of the file */
	size_t size;
	Elf *elf;
	struct elf_segment *loads; /* PT_LOAD segments, file-backed part checked */
	size_t nloads;
	bool pie;
	bool has_sections;
	bool mapped;			/* data is an anonymous mapping (open_fd), else malloc'd */
	size_t map_size;		/* its length, when mapped */
	struct parse_budget *budget;	/* what parsing may cost; NULL: unbounded */
	struct parse_budget own_budget; /* open_file's */
};

/*
 * The open calls leave what they hold in img, also on failure: call
 * elf_image__close either way. open_owned takes `data` (malloc'd).
 */
int elf_image__open_owned(struct elf_image *img, unsigned char *data, size_t size, char *err,
			  size_t errlen);
/*
 * Copies the file open on `fd` into private anonymous memory, within
 * budget->max_file_bytes, and parses the copy: whatever happens to the file
 * afterwards (truncated, rewritten) cannot reach the parser. budget stays
 * attached to img for the parsers that follow.
 */
int elf_image__open_fd(struct elf_image *img, int fd, struct parse_budget *budget, char *err,
		       size_t errlen);
/* open_fd of `path` under the default budget. */
int elf_image__open_file(struct elf_image *img, const char *path, char *err, size_t errlen);
void elf_image__close(struct elf_image *img);

/* The file bytes of [vaddr, vaddr+len) when one PT_LOAD holds them all, else NULL. */
const unsigned char *elf_image__ptr(const struct elf_image *img, uint64_t vaddr, size_t len);
/* The PT_LOAD whose file-backed bytes hold vaddr, or NULL. */
const struct elf_segment *elf_image__segment_at(const struct elf_image *img, uint64_t vaddr);
/*
 * Whether PT_LOAD i's file bytes all lie within an earlier PT_LOAD's: scans
 * over segments skip it, so a crafted file with hundreds of segments over
 * the same bytes is read once (real executables have no such overlap).
 */
bool elf_image__repeats_earlier(const struct elf_image *img, size_t i);
/* Offset in the file of vaddr within an executable PT_LOAD. 0 or -ENOENT. */
int elf_image__file_offset(const struct elf_image *img, uint64_t vaddr, uint64_t *out);
/* A section with file contents by exact name. 0 or -ENOENT. */
int elf_image__section(const struct elf_image *img, const char *name, struct elf_section *out);

typedef int (*elf_func_cb)(const char *name, uint64_t vaddr, uint64_t size, void *ctx);
/* Calls cb for each defined FUNC symbol of .symtab, then .dynsym; stops on non-zero. */
int elf_image__for_each_func(const struct elf_image *img, elf_func_cb cb, void *ctx,
			     bool *has_symtab);

#endif
