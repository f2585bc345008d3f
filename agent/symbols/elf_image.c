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

int elf_image__open_owned(struct elf_image *img, unsigned char *data, size_t size, char *err,
			  size_t errlen)
{
	GElf_Ehdr ehdr;

	memset(img, 0, sizeof(*img));
	img->data = data;
	img->size = size;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return errmsg(err, errlen, "libelf init failed: %s", elf_errmsg(-1));
	if (size >= sizeof(Elf64_Ehdr)) {
		img->elf = elf_memory((char *)data, size);
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

int elf_image__open_file(struct elf_image *img, const char *path, char *err, size_t errlen)
{
	unsigned char *data;
	struct stat st;
	size_t size;
	int fd, rc;

	memset(img, 0, sizeof(*img));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto close_fd;
	if (st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return errmsg(err, errlen, "%s: too short for an ELF file", path);
	}
	/*
	 * A private mapping of the file: only the pages parsing touches (the
	 * pclntab, a few functions) become resident, and they go back with the
	 * mapping, instead of a 25 MB copy per binary. A running executable
	 * cannot be truncated underneath (ETXTBSY), which a mapping relies on.
	 */
	size = (size_t)st.st_size;
	data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED)
		return errmsg(err, errlen, "%s: cannot map: %s", path, strerror(errno));
	rc = elf_image__open_owned(img, data, (size_t)st.st_size, err, errlen);
	img->mapped = true;
	img->map_size = size;
	return rc;

close_fd:
	close(fd);
	return errmsg(err, errlen, "%s: cannot read a regular file", path);
}

void elf_image__close(struct elf_image *img)
{
	if (!img)
		return;
	if (img->elf)
		elf_end(img->elf);
	free(img->loads);
	if (img->mapped)
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

static int walk_table(const struct elf_image *img, Elf64_Word type, elf_func_cb cb, void *ctx,
		      bool *found)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int rc;

	while ((scn = elf_nextscn(img->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type)
			continue;
		*found = true;
		rc = walk_symbols(img, scn, &sh, cb, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

int elf_image__for_each_func(const struct elf_image *img, elf_func_cb cb, void *ctx,
			     bool *has_symtab)
{
	bool dyn_found = false;
	int rc;

	*has_symtab = false;
	if (!img->has_sections)
		return 0;
	rc = walk_table(img, SHT_SYMTAB, cb, ctx, has_symtab);
	if (rc)
		return rc;
	return walk_table(img, SHT_DYNSYM, cb, ctx, &dyn_found);
}
