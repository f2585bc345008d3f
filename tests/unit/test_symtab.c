// SPDX-License-Identifier: Apache-2.0
/*
 * Symbols of real binaries: the stripped Go fixtures built from
 * tests/fixtures (gofuncs, and the etcd 3.5 stand-in with two toolchains),
 * and damaged copies of them that must be refused without a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbols/elf_image.h"
#include "symbols/gopclntab.h"
#include "symbols/symtab.h"

#define ETCD_RANGE	   "go.etcd.io/etcd/api/v3/etcdserverpb._KV_Range_Handler"
#define ETCD_HANDLED	   "github.com/grpc-ecosystem/go-grpc-prometheus.(*serverReporter).Handled"
#define ETCD_VERSION_RE	   "^3\\.[0-9]+\\.[0-9]+$"
#define FIXTURE_VERSION_RE "^7\\.[0-9]+\\.[0-9]+$"

static const char *const fixture_funcs[] = {
    "main.(*store).Put",
    "main.handleRange",
    "main.checksum",
    "main.main",
};

struct file_bytes {
	unsigned char *data;
	size_t len;
};

static void fixture_path(char *out, size_t outlen)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");

	snprintf(out, outlen, "%s/gofuncs", dir && *dir ? dir : "build/fixtures");
}

static struct file_bytes slurp(const char *path)
{
	struct file_bytes fb = {0};
	struct stat st;
	FILE *f = fopen(path, "rb");

	if (!f)
		fail_msg("%s: %s (build it with make)", path, strerror(errno));
	assert_int_equal(fstat(fileno(f), &st), 0);
	fb.len = (size_t)st.st_size;
	fb.data = malloc(fb.len ? fb.len : 1);
	assert_non_null(fb.data);
	assert_int_equal(fread(fb.data, 1, fb.len, f), fb.len);
	fclose(f);
	return fb;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct symtab *open_or_fail(const char *path)
{
	struct symtab *st = NULL;
	char err[256] = "";

	if (symtab__open(path, &st, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
	return st;
}

/* "go1.19.8" from `go version`, or "" when the toolchain is not on PATH. */
static void toolchain_version(char *out, size_t outlen)
{
	char line[256] = "", word[64] = "";
	FILE *p = popen("go version 2>/dev/null", "r");

	out[0] = '\0';
	if (!p)
		return;
	if (fgets(line, sizeof(line), p) && sscanf(line, "go version %63s", word) == 1)
		snprintf(out, outlen, "%s", word);
	pclose(p);
}

static int pclntab_version_for(const char *go_version)
{
	int minor = 0;

	if (sscanf(go_version, "go1.%d", &minor) != 1)
		return -1;
	return minor >= 20 ? 120 : minor >= 18 ? 118 : minor >= 16 ? 116 : 12;
}

/* The file offset of vaddr as the program headers say, computed apart from the code under test. */
static uint64_t offset_from_phdrs(const struct file_bytes *fb, uint64_t vaddr)
{
	Elf *elf = elf_memory((char *)fb->data, fb->len);
	uint64_t off = UINT64_MAX;
	size_t n = 0;
	GElf_Phdr ph;

	assert_non_null(elf);
	assert_int_equal(elf_getphdrnum(elf, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz)
			off = vaddr - ph.p_vaddr + ph.p_offset;
	}
	elf_end(elf);
	return off;
}

static void test_fixture_build_info(void **state)
{
	char path[512], go[64];
	const struct binary_info *bi;
	struct symtab *st;
	const char *suffix = "/tests/fixtures/gofuncs";

	(void)state;
	fixture_path(path, sizeof(path));
	st = open_or_fail(path);
	bi = symtab__info(st);
	toolchain_version(go, sizeof(go));
	if (go[0])
		assert_string_equal(bi->go_version, go);
	assert_true(strncmp(bi->go_version, "go1.", 4) == 0);
	assert_int_equal(bi->pclntab_version, pclntab_version_for(bi->go_version));
	/* A GOPATH-mode build outside any GOPATH names its package by directory. */
	assert_true(bi->module_path[0] == '_');
	assert_true(strlen(bi->module_path) > strlen(suffix));
	assert_string_equal(bi->module_path + strlen(bi->module_path) - strlen(suffix), suffix);
	assert_string_equal(bi->module_version, "");
	assert_false(bi->has_symtab);
	assert_false(bi->pie);
	symtab__close(st);
}

static void check_fixture_func(struct symtab *st, const struct file_bytes *fb, const char *name)
{
	unsigned char via_vaddr[32];
	struct func_sym fs;

	if (symtab__find(st, name, &fs) != 0)
		fail_msg("%s not found", name);
	assert_true(fs.size > 0 && fs.size < 4096);
	assert_int_equal(fs.file_offset, offset_from_phdrs(fb, fs.vaddr));
	assert_true(fs.file_offset + sizeof(via_vaddr) <= fb->len);
	assert_int_equal(symtab__read(st, fs.vaddr, via_vaddr, sizeof(via_vaddr)), 0);
	assert_memory_equal(via_vaddr, fb->data + fs.file_offset, sizeof(via_vaddr));
	/* Go aligns function entries to 32 bytes on amd64. */
	assert_int_equal(fs.vaddr % 32, 0);
}

static void test_fixture_functions(void **state)
{
	char path[512];
	struct file_bytes fb;
	struct func_sym fs;
	const char *prev = NULL, *name;
	struct symtab *st;

	(void)state;
	fixture_path(path, sizeof(path));
	fb = slurp(path);
	st = open_or_fail(path);
	for (size_t i = 0; i < sizeof(fixture_funcs) / sizeof(fixture_funcs[0]); i++)
		check_fixture_func(st, &fb, fixture_funcs[i]);
	assert_int_equal(symtab__find(st, "main.notThere", &fs), -ENOENT);
	assert_true(symtab__count(st) > 500);
	for (size_t i = 0; i < symtab__count(st); i++) {
		name = symtab__at(st, i, &fs);
		assert_non_null(name);
		if (prev)
			assert_true(strcmp(prev, name) < 0);
		prev = name;
	}
	assert_null(symtab__at(st, symtab__count(st), &fs));
	symtab__close(st);
	free(fb.data);
}

static void test_fixture_version_string(void **state)
{
	char path[512], out[64];
	struct symtab *st;

	(void)state;
	fixture_path(path, sizeof(path));
	st = open_or_fail(path);
	assert_int_equal(symtab__find_go_string(st, FIXTURE_VERSION_RE, out, sizeof(out)), 0);
	assert_string_equal(out, "7.3.12");
	assert_int_equal(symtab__find_go_string(st, "^7\\.2\\.", out, sizeof(out)), 0);
	assert_string_equal(out, "7.2.99");
	assert_int_equal(symtab__find_go_string(st, "^no such version$", out, sizeof(out)),
			 -ENOENT);
	symtab__close(st);
}

/*
 * The etcd 3.5 stand-in (upstream's /v3 module layout), as bookworm's Go and
 * Go 1.23 build it: facts checked against what the toolchain and the file
 * say, not against addresses of one build.
 */
static const char *const etcd_fixtures[] = {"etcdv3", "go1.23/etcdv3"};

static void etcd_fixture_path(size_t i, char *out, size_t outlen)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");

	snprintf(out, outlen, "%s/%s", dir && *dir ? dir : "build/fixtures", etcd_fixtures[i]);
}

static void check_etcd_facts(struct symtab *st, const struct file_bytes *fb)
{
	static const char *const funcs[] = {ETCD_RANGE, ETCD_HANDLED};
	const struct binary_info *bi = symtab__info(st);
	struct func_sym fs;
	double t0;
	char out[32];

	assert_true(strncmp(bi->go_version, "go1.", 4) == 0);
	assert_string_equal(bi->module_path, "go.etcd.io/etcd/server/v3");
	assert_int_equal(bi->pclntab_version, pclntab_version_for(bi->go_version));
	assert_false(bi->pie);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(symtab__find(st, funcs[i], &fs), 0);
		assert_true(fs.size > 0 && fs.size < 4096);
		assert_int_equal(fs.file_offset, offset_from_phdrs(fb, fs.vaddr));
	}
	t0 = now_ms();
	assert_int_equal(symtab__find_go_string(st, ETCD_VERSION_RE, out, sizeof(out)), 0);
	print_message("etcd version string scan: %.1f ms\n", now_ms() - t0);
	assert_string_equal(out, "3.5.99");
}

static void test_etcd(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char path[512];
		struct symtab *st;
		struct file_bytes fb;

		etcd_fixture_path(i, path, sizeof(path));
		fb = slurp(path);
		st = open_or_fail(path);
		assert_true(symtab__count(st) > 1000);
		check_etcd_facts(st, &fb);
		symtab__close(st);
		free(fb.data);
	}
}

/* The table's own textStart is where Go's code starts, as the moduledata says. */
static void test_etcd_pclntab_header(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char path[512], err[256] = "";
		struct elf_image img;
		struct gopclntab tab;
		struct elf_section text;

		etcd_fixture_path(i, path, sizeof(path));
		if (elf_image__open_file(&img, path, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(gopclntab__load(&img, &tab, err, sizeof(err)), 0);
		assert_true(tab.version >= 118);
		assert_int_equal(elf_image__section(&img, ".text", &text), 0);
		assert_true(tab.text_start >= text.vaddr &&
			    tab.text_start < text.vaddr + text.size);
		assert_int_equal(tab.funcs[0].entry, tab.text_start);
		assert_true(tab.nfuncs > 1000);
		gopclntab__free(&tab);
		elf_image__close(&img);
	}
}

/* With the section headers gone the moduledata and buildinfo magic still lead the way. */
static void test_etcd_without_section_headers(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char path[512], err[256] = "";
		struct file_bytes fb, orig;
		struct symtab *st = NULL;
		Elf64_Ehdr eh;

		etcd_fixture_path(i, path, sizeof(path));
		fb = slurp(path);
		orig = slurp(path);
		memcpy(&eh, fb.data, sizeof(eh));
		eh.e_shoff = 0;
		eh.e_shnum = 0;
		eh.e_shstrndx = 0;
		memcpy(fb.data, &eh, sizeof(eh));
		if (symtab__open_mem(fb.data, fb.len, &st, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		check_etcd_facts(st, &orig);
		symtab__close(st);
		free(fb.data);
		free(orig.data);
	}
}

static void expect_refused(const void *buf, size_t len, const char *what)
{
	struct symtab *st = (struct symtab *)&st;
	char err[256] = "";

	if (symtab__open_mem(buf, len, &st, err, sizeof(err)) != -1)
		fail_msg("%s was accepted", what);
	assert_null(st);
	if (!err[0] || strchr(err, '\n'))
		fail_msg("%s: no one-line reason", what);
}

/* Where the last PT_LOAD's file bytes end; padding may follow. */
static size_t loaded_end(const struct file_bytes *fb)
{
	Elf *elf = elf_memory((char *)fb->data, fb->len);
	size_t n = 0, end = 0;
	GElf_Phdr ph;

	assert_non_null(elf);
	assert_int_equal(elf_getphdrnum(elf, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > end)
			end = ph.p_offset + ph.p_filesz;
	}
	elf_end(elf);
	assert_true(end > 0 && end <= fb->len);
	return end;
}

static void test_rejects_bad_files(void **state)
{
	static const char script[] = "#!/bin/sh\necho this is not an ELF file, it is long enough\n";
	char path[512], tmp[] = "/tmp/kvscope-symtab-XXXXXX", err[256] = "";
	struct symtab *st = NULL;
	struct file_bytes fb;
	const size_t cuts[] = {0, 4, 63, 64, 200, 4096, 0};
	int fd;

	(void)state;
	fixture_path(path, sizeof(path));
	fb = slurp(path);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		expect_refused(fb.data, cuts[i], "a cut-off file");
	expect_refused(fb.data, fb.len / 2, "half a file");
	expect_refused(fb.data, loaded_end(&fb) - 1, "a file short of its last loaded byte");
	expect_refused(script, sizeof(script) - 1, "a script");
	fb.data[EI_CLASS] = ELFCLASS32;
	expect_refused(fb.data, fb.len, "an ELF32 header");
	fb.data[EI_CLASS] = ELFCLASS64;
	fb.data[18] = 0xb7; /* e_machine: aarch64 */
	expect_refused(fb.data, fb.len, "another architecture");
	free(fb.data);

	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symtab__open(tmp, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "short"));
	unlink(tmp);
	assert_int_equal(symtab__open("/nonexistent/kvscope", &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/kvscope"));
	assert_int_equal(symtab__open("/", &st, err, sizeof(err)), -1);
	symtab__close(NULL);
}

/* Exercises every query on whatever a damaged file still yields. */
static void use_damaged(struct symtab *st)
{
	struct func_sym fs;
	unsigned char buf[8];
	char out[64];
	size_t n = symtab__count(st);

	for (size_t i = 0; i < n; i += 1 + n / 64) {
		const char *name = symtab__at(st, i, &fs);

		assert_non_null(name);
		assert_int_equal(symtab__find(st, name, &fs), 0);
		symtab__read(st, fs.vaddr, buf, sizeof(buf));
	}
	symtab__find_go_string(st, FIXTURE_VERSION_RE, out, sizeof(out));
}

/* Flipped bytes in the headers, the function table and the section table. */
static void test_random_damage(void **state)
{
	char path[512], err[256];
	struct file_bytes fb;
	struct elf_image img;
	struct gopclntab tab;
	unsigned char *copy;
	size_t regions[3][2];
	unsigned seed = 1;

	(void)state;
	fixture_path(path, sizeof(path));
	fb = slurp(path);
	assert_int_equal(elf_image__open_file(&img, path, err, sizeof(err)), 0);
	assert_int_equal(gopclntab__load(&img, &tab, err, sizeof(err)), 0);
	regions[0][0] = 0;
	regions[0][1] = 0x200;
	regions[1][0] = (size_t)(elf_image__ptr(&img, tab.vaddr, 1) - img.data);
	regions[1][1] = 0x4000;
	regions[2][0] = fb.len - 0x400;
	regions[2][1] = 0x400;
	gopclntab__free(&tab);
	elf_image__close(&img);
	copy = malloc(fb.len);
	assert_non_null(copy);
	for (int round = 0; round < 300; round++) {
		struct symtab *st = NULL;

		memcpy(copy, fb.data, fb.len);
		for (int k = 0; k < 4; k++) {
			size_t *r = regions[rand_r(&seed) % 3];

			copy[r[0] + (size_t)rand_r(&seed) % r[1]] ^=
			    (unsigned char)(1 + rand_r(&seed) % 255);
		}
		if (symtab__open_mem(copy, fb.len, &st, err, sizeof(err)) == 0) {
			use_damaged(st);
			symtab__close(st);
		} else {
			assert_true(err[0] != '\0');
		}
	}
	free(copy);
	free(fb.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_build_info),
	    cmocka_unit_test(test_fixture_functions),
	    cmocka_unit_test(test_fixture_version_string),
	    cmocka_unit_test(test_etcd),
	    cmocka_unit_test(test_etcd_pclntab_header),
	    cmocka_unit_test(test_etcd_without_section_headers),
	    cmocka_unit_test(test_rejects_bad_files),
	    cmocka_unit_test(test_random_damage),
	};

	elf_version(EV_CURRENT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
