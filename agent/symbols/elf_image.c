// SPDX-License-Identifier: Apache-2.0
#include "common/errmsg.h"
#include "symbols/elf_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool range_inside(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

static int check_header(const struct elf_image *img, char *err, size_t errlen)
{
	GElf_Ehdr ehdr;

	if (img->size < sizeof(Elf64_Ehdr))
		return errmsg(err, errlen, "file too short for an ELF header (%zu bytes)",
			      img->size);
	if (memcmp(img->data, ELFMAG, SELFMAG) != 0)
		return errmsg(err, errlen, "not an ELF file");
	if (img->data[EI_CLASS] != ELFCLASS64 || img->data[EI_DATA] != ELFDATA2LSB)
		return errmsg(err, errlen, "not a little-endian ELF64 file");
	if (elf_kind(img->elf) != ELF_K_ELF || !gelf_getehdr(img->elf, &ehdr))
		return errmsg(err, errlen, "bad ELF header: %s", elf_errmsg(-1));
	if (ehdr.e_machine != EM_X86_64)
		return errmsg(err, errlen, "not an x86-64 executable (machine %u)", ehdr.e_machine);
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN)
		return errmsg(err, errlen, "not an executable (ELF type %u)", ehdr.e_type);
	/* libelf would quietly drop a cut-off section table; call it what it is. */
	if (ehdr.e_shoff &&
	    !range_inside(ehdr.e_shoff, (uint64_t)ehdr.e_shnum * ehdr.e_shentsize, img->size))
		return errmsg(err, errlen, "truncated file: section headers end past end of file");
	return 0;
}

static int load_segments(struct elf_image *img, char *err, size_t errlen)
{
	size_t phnum, i;
	GElf_Phdr ph;

	if (elf_getphdrnum(img->elf, &phnum) != 0)
		return errmsg(err, errlen, "bad program headers: %s", elf_errmsg(-1));
	img->loads = calloc(phnum ? phnum : 1, sizeof(*img->loads));
	if (!img->loads)
		return errmsg(err, errlen, "out of memory");
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(img->elf, (int)i, &ph))
			return errmsg(err, errlen, "bad program header %zu: %s", i, elf_errmsg(-1));
		if (ph.p_type != PT_LOAD)
			continue;
		if (!range_inside(ph.p_offset, ph.p_filesz, img->size))
			return errmsg(err, errlen,
				      "truncated file: segment %zu ends past end of file", i);
		if (ph.p_vaddr + ph.p_filesz < ph.p_vaddr)
			return errmsg(err, errlen, "segment %zu wraps the address space", i);
		img->loads[img->nloads++] = (struct elf_segment){
		    .vaddr = ph.p_vaddr,
		    .memsz = ph.p_memsz,
		    .filesz = ph.p_filesz,
		    .offset = ph.p_offset,
		    .flags = ph.p_flags,
		};
	}
	if (img->nloads == 0)
		return errmsg(err, errlen, "no loadable segments");
	return 0;
}

static void detect_sections(struct elf_image *img)
{
	size_t shnum = 0, shstrndx = 0;

	img->has_sections = elf_getshdrnum(img->elf, &shnum) == 0 && shnum > 1 &&
			    elf_getshdrstrndx(img->elf, &shstrndx) == 0 && shstrndx != SHN_UNDEF;
}

/*
 * The section and segment counts, read before libelf sees the file: it
 * allocates for every section header at once, and a crafted count (up to
 * one per 64 bytes of file) would cost many times the file's size.
 */
static int check_counts(const unsigned char *data, size_t size, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh0;
	uint64_t shnum, phnum;

	if (size < sizeof(eh))
		return 0; /* check_header says so */
	memcpy(&eh, data, sizeof(eh));
	shnum = eh.e_shnum;
	phnum = eh.e_phnum;
	/* more than fits the header: the counts live in section 0 */
	if ((shnum == 0 || phnum == PN_XNUM) && eh.e_shoff &&
	    range_inside(eh.e_shoff, sizeof(sh0), size)) {
		memcpy(&sh0, data + eh.e_shoff, sizeof(sh0));
		shnum = shnum ? shnum : sh0.sh_size;
		phnum = phnum == PN_XNUM ? sh0.sh_info : phnum;
	}
	if (shnum > ELF_MAX_SECTIONS)
		return budget__refuse(NULL, err, errlen, "%llu section headers, at most %d",
				      (unsigned long long)shnum, ELF_MAX_SECTIONS);
	if (phnum > ELF_MAX_SEGMENTS)
		return budget__refuse(NULL, err, errlen, "%llu program headers, at most %d",
				      (unsigned long long)phnum, ELF_MAX_SEGMENTS);
	return 0;
}

static int open_image(struct elf_image *img, char *err, size_t errlen)
{
	GElf_Ehdr ehdr;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return errmsg(err, errlen, "libelf init failed: %s", elf_errmsg(-1));
	if (check_counts(img->data, img->size, err, errlen)) {
		img->budget->exceeded = true;
		return -1;
	}
	if (img->size >= sizeof(Elf64_Ehdr)) {
		img->elf = elf_memory((char *)img->data, img->size);
		if (!img->elf)
			return errmsg(err, errlen, "cannot read ELF: %s", elf_errmsg(-1));
	}
	if (check_header(img, err, errlen) != 0 || load_segments(img, err, errlen) != 0)
		return -1;
	gelf_getehdr(img->elf, &ehdr);
	img->pie = ehdr.e_type == ET_DYN;
	detect_sections(img);
	return 0;
}

int elf_image__open_owned(struct elf_image *img, unsigned char *data, size_t size, char *err,
			  size_t errlen)
{
	memset(img, 0, sizeof(*img));
	img->data = data;
	img->size = size;
	budget__init(&img->own_budget);
	img->budget = &img->own_budget;
	if (size > img->budget->max_file_bytes)
		return budget__refuse(img->budget, err, errlen, "file of %zu MiB, at most %zu MiB",
				      size >> 20, img->budget->max_file_bytes >> 20);
	return open_image(img, err, errlen);
}

/* Reads exactly `size` bytes from the start of fd; a file that shrank fails. */
static int read_all(int fd, unsigned char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * The copy: anonymous memory, given back whole when the image closes. A
 * file being rewritten while it is read is refused rather than half-read.
 */
static int copy_file(struct elf_image *img, int fd, char *err, size_t errlen)
{
	struct stat before, after;
	size_t size;

	if (fstat(fd, &before) != 0 || !S_ISREG(before.st_mode))
		return errmsg(err, errlen, "not a regular file");
	if (before.st_size < (off_t)sizeof(Elf64_Ehdr))
		return errmsg(err, errlen, "too short for an ELF file");
	if ((uint64_t)before.st_size > img->budget->max_file_bytes)
		return budget__refuse(img->budget, err, errlen, "file of %lld MiB, at most %zu MiB",
				      (long long)(before.st_size >> 20),
				      img->budget->max_file_bytes >> 20);
	size = (size_t)before.st_size;
	img->data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (img->data == MAP_FAILED) {
		img->data = NULL;
		return errmsg(err, errlen, "cannot allocate %zu bytes: %s", size, strerror(errno));
	}
	img->mapped = true;
	img->map_size = size;
	img->size = size;
	if (read_all(fd, img->data, size) || fstat(fd, &after) || !same_file_state(&before, &after))
		return errmsg(err, errlen, "file changed while it was read");
	return 0;
}

int elf_image__open_fd(struct elf_image *img, int fd, struct parse_budget *budget, char *err,
		       size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if (!budget) {
		budget__init(&img->own_budget);
		budget = &img->own_budget;
	}
	img->budget = budget;
	if (copy_file(img, fd, err, errlen))
		return -1;
	return open_image(img, err, errlen);
}

int elf_image__open_file(struct elf_image *img, const char *path, char *err, size_t errlen)
{
	char why[256];
	int fd, rc;

	memset(img, 0, sizeof(*img));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, "%s: %s", path, strerror(errno));
	rc = elf_image__open_fd(img, fd, NULL, why, sizeof(why));
	close(fd);
	if (rc)
		return errmsg(err, errlen, "%s: %s", path, why);
	return 0;
}

void elf_image__close(struct elf_image *img)
{
	if (!img)
		return;
	if (img->elf)
		elf_end(img->elf);
	free(img->loads);
	if (img->mapped && img->data)
		munmap(img->data, img->map_size);
	else
		free(img->data);
	memset(img, 0, sizeof(*img));
}

const struct elf_segment *elf_image__segment_at(const struct elf_image *img, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < img->nloads; i++) {
		const struct elf_segment *seg = &img->loads[i];

		if (vaddr >= seg->vaddr && vaddr - seg->vaddr < seg->filesz)
			return seg;
	}
	return NULL;
}

const unsigned char *elf_image__ptr(const struct elf_image *img, uint64_t vaddr, size_t len)
{
	const struct elf_segment *seg = elf_image__segment_at(img, vaddr);

	if (!seg || !range_inside(vaddr - seg->vaddr, len, seg->filesz))
		return NULL;
	return img->data + seg->offset + (vaddr - seg->vaddr);
}

bool elf_image__repeats_earlier(const struct elf_image *img, size_t i)
{
	const struct elf_segment *seg = &img->loads[i];

	for (size_t j = 0; j < i; j++) {
		const struct elf_segment *e = &img->loads[j];

		if (seg->offset >= e->offset && seg->offset + seg->filesz <= e->offset + e->filesz)
			return true;
	}
	return false;
}

int elf_image__file_offset(const struct elf_image *img, uint64_t vaddr, uint64_t *out)
{
	size_t i;

	for (i = 0; i < img->nloads; i++) {
		const struct elf_segment *seg = &img->loads[i];

		if (!(seg->flags & PF_X))
			continue;
		if (vaddr >= seg->vaddr && vaddr - seg->vaddr < seg->filesz) {
			*out = vaddr - seg->vaddr + seg->offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_image__section(const struct elf_image *img, const char *name, struct elf_section *out)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (!img->has_sections || elf_getshdrstrndx(img->elf, &shstrndx) != 0)
		return -ENOENT;
	while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
		const char *sname;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		sname = elf_strptr(img->elf, shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, name) != 0)
			continue;
		if (!range_inside(sh.sh_offset, sh.sh_size, img->size))
			return -ENOENT;
		out->vaddr = sh.sh_addr;
		out->size = sh.sh_size;
		out->bytes = img->data + sh.sh_offset;
		return 0;
	}
	return -ENOENT;
}

static int walk_symbols(const struct elf_image *img, Elf_Scn *scn, const GElf_Shdr *sh,
			elf_func_cb cb, void *ctx)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Sym sym;
	size_t i, n;
	int rc;

	if (!data || sh->sh_entsize == 0)
		return 0;
	n = data->d_size / sh->sh_entsize;
	for (i = 1; i < n; i++) {
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0)
			continue;
		name = elf_strptr(img->elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		rc = cb(name, sym.st_value, sym.st_size, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

/* The first section of `type`, or NULL: an executable has at most one of each. */
static Elf_Scn *first_of_type(const struct elf_image *img, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	}
	return NULL;
}

/*
 * Each table once: only the first header of each type is read, and a
 * .dynsym header aliasing the .symtab's bytes is skipped, so a crafted file
 * with thousands of headers over one table costs what one table costs.
 */
int elf_image__for_each_func(const struct elf_image *img, elf_func_cb cb, void *ctx,
			     bool *has_symtab)
{
	GElf_Shdr sym, dyn;
	Elf_Scn *sym_scn, *dyn_scn;
	int rc = 0;

	*has_symtab = false;
	if (!img->has_sections)
		return 0;
	sym_scn = first_of_type(img, SHT_SYMTAB, &sym);
	dyn_scn = first_of_type(img, SHT_DYNSYM, &dyn);
	*has_symtab = sym_scn != NULL;
	if (sym_scn)
		rc = walk_symbols(img, sym_scn, &sym, cb, ctx);
	if (rc || !dyn_scn || (sym_scn && dyn.sh_offset == sym.sh_offset))
		return rc;
	return walk_symbols(img, dyn_scn, &dyn, cb, ctx);
}
