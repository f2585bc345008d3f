// SPDX-License-Identifier: Apache-2.0
/*
 * Frame sizes from the pcsp tables and the code base of Go 1.18+ tables, on
 * the Go fixtures the build makes with bookworm's Go and with Go 1.23, and
 * linked externally as Debian links etcd. The expected frame is read off the
 * function's own prologue (sub rsp, N), not pinned to a build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/elf_image.h"
#include "symbols/gopclntab.h"
#include "symbols/symtab.h"

static const char *const fixtures[] = {"gofuncs", "go1.23/gofuncs", "extlink/gofuncs", "etcdv3",
				       "go1.23/etcdv3"};

static void fixture_path(const char *name, char *out, size_t outlen)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");

	snprintf(out, outlen, "%s/%s", dir && *dir ? dir : "build/fixtures", name);
}

static struct symtab *open_fixture(const char *name)
{
	struct symtab *st = NULL;
	char path[512], err[256];

	fixture_path(name, path, sizeof(path));
	if (symtab__open(path, &st, err, sizeof(err)))
		fail_msg("%s: %s (build it with make)", path, err);
	return st;
}

/*
 * The frame the prologue sets up after the stack check: either push rbp;
 * mov rbp, rsp; sub rsp, N (frame N + 8), or, for large frames,
 * sub rsp, N; mov [rsp+N-8], rbp (frame N). Returns the pc after the sub
 * and the frame, or 0 when there is no sub rsp.
 */
static uint64_t prologue_frame(const struct symtab *st, const struct func_sym *fs, int64_t *frame)
{
	uint8_t code[128];
	size_t n = fs->size < sizeof(code) ? fs->size : sizeof(code);

	assert_int_equal(symtab__read(st, fs->vaddr, code, n), 0);
	for (size_t i = 0; i + 7 <= n; i++) {
		const uint8_t *s = code + i;
		bool pushed = i >= 4 && !memcmp(s - 4, "\x55\x48\x89\xe5", 4);
		int32_t imm;
		size_t size;

		if (s[0] == 0x48 && s[1] == 0x83 && s[2] == 0xec) { /* sub rsp, imm8 */
			imm = s[3];
			size = 4;
		} else if (s[0] == 0x48 && s[1] == 0x81 && s[2] == 0xec) { /* imm32 */
			memcpy(&imm, s + 3, 4);
			size = 7;
		} else {
			continue;
		}
		*frame = (int64_t)imm + (pushed ? 8 : 0);
		return fs->vaddr + i + size;
	}
	return 0;
}

static void check_frames(const char *fixture, const char *const *funcs, size_t nfuncs)
{
	struct symtab *st = open_fixture(fixture);

	for (size_t i = 0; i < nfuncs; i++) {
		struct func_sym fs;
		int64_t frame, delta;
		uint64_t body;

		if (symtab__find(st, funcs[i], &fs))
			fail_msg("%s: no %s", fixture, funcs[i]);
		body = prologue_frame(st, &fs, &frame);
		if (!body)
			fail_msg("%s: %s has no frame prologue", fixture, funcs[i]);
		assert_int_equal(symtab__sp_delta(st, fs.vaddr, &delta), 0);
		assert_int_equal(delta, 0);
		assert_int_equal(symtab__sp_delta(st, body, &delta), 0);
		if (delta != frame)
			fail_msg("%s: %s: pcsp says %lld after the prologue, the code %lld",
				 fixture, funcs[i], (long long)delta, (long long)frame);
	}
	symtab__close(st);
}

static void test_frames_gofuncs(void **state)
{
	static const char *const funcs[] = {"main.main", "main.(*store).Put"};

	(void)state;
	for (size_t i = 0; i < 3; i++)
		check_frames(fixtures[i], funcs, 2);
}

static void test_frames_etcdv3(void **state)
{
	static const char *const funcs[] = {
	    "go.etcd.io/etcd/server/v3/mvcc/backend.(*batchTx).commit",
	    "go.etcd.io/etcd/server/v3/wal.(*WAL).sync",
	    "go.etcd.io/etcd/api/v3/etcdserverpb._KV_Range_Handler",
	};

	(void)state;
	for (size_t i = 3; i < 5; i++)
		check_frames(fixtures[i], funcs, 3);
}

/* Outside Go code, and for a non-Go binary, there is no frame to give. */
static void test_frames_outside(void **state)
{
	struct symtab *st = open_fixture("gofuncs");
	struct symtab *c = NULL;
	char err[256];
	int64_t delta;

	(void)state;
	assert_int_equal(symtab__sp_delta(st, 0, &delta), -ENOENT);
	assert_int_equal(symtab__sp_delta(st, UINT64_MAX, &delta), -ENOENT);
	symtab__close(st);
	assert_int_equal(symtab__open("/bin/true", &c, err, sizeof(err)), 0);
	assert_int_equal(symtab__sp_delta(c, 0x401000, &delta), -ENOENT);
	symtab__close(c);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

/*
 * Go 1.26 (sid's etcd) leaves the table header's textStart zero when it
 * links externally; the start of .text is then 0x100 short of Go's code. The
 * moduledata has the real base: the externally linked fixture with its
 * header's textStart cleared must give the same addresses.
 */
static void test_text_base_without_header(void **state)
{
	char path[512], err[256];
	struct elf_image img;
	struct elf_section text;
	struct gopclntab tab;
	struct symtab *st;
	struct func_sym want, got;
	unsigned char *bytes;
	uint64_t base;
	size_t len, at;

	(void)state;
	fixture_path("extlink/gofuncs", path, sizeof(path));
	assert_int_equal(elf_image__open_file(&img, path, err, sizeof(err)), 0);
	assert_int_equal(gopclntab__load(&img, &tab, err, sizeof(err)), 0);
	assert_true(tab.version >= 118);
	assert_int_equal(elf_image__section(&img, ".text", &text), 0);
	/* the case worth testing: Go's code does not start where .text does */
	assert_true(tab.text_start > text.vaddr);
	base = tab.text_start;
	at = (size_t)(elf_image__ptr(&img, tab.vaddr, 1) - img.data);
	gopclntab__free(&tab);
	elf_image__close(&img);

	st = open_fixture("extlink/gofuncs");
	assert_int_equal(symtab__find(st, "main.checksum", &want), 0);
	symtab__close(st);
	bytes = slurp(path, &len);
	memset(bytes + at + 8 + 2 * 8, 0, 8); /* header field 2: textStart */
	assert_int_equal(symtab__open_mem(bytes, len, &st, err, sizeof(err)), 0);
	assert_int_equal(symtab__find(st, "main.checksum", &got), 0);
	assert_int_equal(got.vaddr, want.vaddr);
	assert_true(got.vaddr > base);
	symtab__close(st);
	free(bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frames_gofuncs),
	    cmocka_unit_test(test_frames_etcdv3),
	    cmocka_unit_test(test_frames_outside),
	    cmocka_unit_test(test_text_base_without_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
