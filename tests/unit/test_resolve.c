// SPDX-License-Identifier: Apache-2.0
/*
 * From profile to probe sites: the built-in etcd profiles against bookworm's
 * etcd and the etcd 3.5 stand-in (upstream's /v3 spelling) built with two
 * Go toolchains, a profile written here against the stripped Go fixture, the refusals (not a store,
 * version mismatch, missing function), the registers a probe keeps live, and the site record a
 * probe becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probes/attach.h"
#include "probes/binary.h"
#include "profile/catalog.h"
#include "probes/place.h"
#include "symbols/symtab.h"

#define ETCD_PATH "/usr/bin/etcd" /* bookworm's etcd-server, which make deps installs */
/* Both binaries are non-PIE: text maps file offset X at 0x400000 + X. */
#define NONPIE_BASE 0x400000

static void fixture_named(const char *name, char *out, size_t outlen)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");

	snprintf(out, outlen, "%s/%s", dir && *dir ? dir : "build/fixtures", name);
}

static void fixture_path(char *out, size_t outlen)
{
	fixture_named("gofuncs", out, outlen);
}

static bool per_request(enum kvs_role role)
{
	return role == KVS_ROLE_REQUEST_START || role == KVS_ROLE_REQUEST_END ||
	       role == KVS_ROLE_REQUEST_ERROR;
}

/* Every site lies in its function; no per-request site is single-stepped. */
static void check_sites(const struct binary *b)
{
	bool seen[PROFILE_MAX_PROBES] = {false};

	assert_true(b->res.nsites >= b->profile->nprobes);
	for (int i = 0; i < b->res.nsites; i++) {
		const struct resolved_site *rs = &b->res.sites[i];
		const struct profile_probe *pr = &b->profile->probes[rs->probe];

		assert_true(rs->probe >= 0 && rs->probe < b->profile->nprobes);
		seen[rs->probe] = true;
		assert_int_equal(rs->file_offset, rs->site.vaddr - NONPIE_BASE);
		assert_true(rs->site.vaddr >= rs->func.vaddr &&
			    rs->site.vaddr < rs->func.vaddr + rs->func.size);
		if (per_request(pr->role) && rs->site.cost == SITE_COST_SINGLESTEP)
			fail_msg("%s: request site 0x%llx (%s) is single-stepped", rs->function,
				 (unsigned long long)rs->site.vaddr, rs->site.insn);
		assert_int_equal(rs->has_value, pr->has_value);
		assert_int_equal(rs->nreads, pr->nreads);
	}
	for (int i = 0; i < b->profile->nprobes; i++)
		if (!seen[i])
			fail_msg("probe %d (%s) has no site", i + 1,
				 b->profile->probes[i].function);
}

/* The probe's first site, by its function's spelling in the binary and role. */
static const struct resolved_site *site_of(const struct binary *b, const char *function,
					   enum kvs_role role)
{
	for (int i = 0; i < b->res.nsites; i++)
		if (strcmp(b->res.sites[i].function, function) == 0 &&
		    b->profile->probes[b->res.sites[i].probe].role == role)
			return &b->res.sites[i];
	fail_msg("no %s site on %s", profile_role_name(role), function);
	return NULL;
}

static void examine(struct catalog *cat, struct binary *b, const char *path)
{
	memset(b, 0, sizeof(*b));
	binary__examine(b, cat, path);
	if (b->verdict != BINARY_READY)
		fail_msg("%s: verdict %d: %s", path, b->verdict, b->reason);
}

/* bookworm's etcd 3.4 (whatever build of it is installed) with the built-in profile. */
static void test_etcd_34_builtin(void **state)
{
	static const int32_t term[] = {0x8}, commit[] = {0x30, 0x48};
	const struct resolved_site *rs;
	struct catalog cat;
	struct binary b;

	(void)state;
	if (access(ETCD_PATH, R_OK) != 0)
		fail_msg("%s is missing: run make deps", ETCD_PATH);
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	assert_int_equal(cat.errors, 0);
	examine(&cat, &b, ETCD_PATH);
	assert_string_equal(b.profile->name, "etcd-3.4");
	assert_true(strncmp(b.version, "3.4.", 4) == 0);
	assert_true(strncmp(b.go_version, "go1.", 4) == 0);
	check_sites(&b);
	rs = site_of(&b, "go.etcd.io/etcd/raft.(*raft).tickElection", KVS_ROLE_GAUGES);
	assert_int_equal(rs->reads[0].reg, KVS_REG_RAX);
	assert_int_equal(rs->reads[0].nderef, 1);
	assert_memory_equal(rs->reads[0].deref, term, sizeof(term));
	assert_int_equal(rs->reads[1].nderef, 2);
	assert_memory_equal(rs->reads[1].deref, commit, sizeof(commit));
	resolution__free(&b.res);
	catalog__free(&cat);
}

/*
 * The etcd 3.5 stand-in with upstream's /v3 spelling, built with bookworm's
 * Go and with Go 1.23, against the built-in etcd-3.5 profile: every probe
 * placed, the request end reads the code (argument 1, rbx) at the entry,
 * the WAL sync's error and the backend's size are found wherever this
 * toolchain put them.
 */
static void check_etcdv3(const char *fixture)
{
	static const int32_t size_path[] = {0x10, 0x0};
	const struct resolved_site *rs;
	struct catalog cat;
	struct binary b;
	char path[512];

	fixture_named(fixture, path, sizeof(path));
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	examine(&cat, &b, path);
	assert_string_equal(b.profile->name, "etcd-3.5");
	assert_string_equal(b.version, "3.5.99");
	check_sites(&b);
	rs = site_of(&b, "go.etcd.io/etcd/api/v3/etcdserverpb._KV_Range_Handler",
		     KVS_ROLE_REQUEST_START);
	assert_int_equal(rs->site.cost, SITE_COST_EMULATED);
	rs = site_of(&b, "github.com/grpc-ecosystem/go-grpc-prometheus.(*serverReporter).Handled",
		     KVS_ROLE_REQUEST_END);
	assert_int_equal(rs->value.reg, KVS_REG_RBX);
	assert_int_equal(rs->value.nderef, 0);
	assert_int_equal(rs->value.size, 4);
	/* the error is read where the call left it: a register or one stack slot */
	rs = site_of(&b, "go.etcd.io/etcd/server/v3/wal.(*WAL).sync", KVS_ROLE_STORAGE_OP);
	assert_true(rs->site.cost <= SITE_COST_EMULATED);
	assert_true(rs->value.nderef == 0 || (rs->value.reg == KVS_REG_RSP &&
					      rs->value.nderef == 1 && rs->value.deref[0] > 0));
	/* the receiver's spill slot, then batchTx.backend, then backend.size */
	rs = site_of(&b, "go.etcd.io/etcd/server/v3/mvcc/backend.(*batchTx).commit",
		     KVS_ROLE_GAUGES);
	assert_int_equal(rs->reads[0].reg, KVS_REG_RSP);
	assert_int_equal(rs->reads[0].nderef, 3);
	assert_true(rs->reads[0].deref[0] > 8);
	assert_memory_equal(rs->reads[0].deref + 1, size_path, sizeof(size_path));
	resolution__free(&b.res);
	catalog__free(&cat);
}

static void test_etcdv3_fixture(void **state)
{
	(void)state;
	check_etcdv3("etcdv3");
}

static void test_etcdv3_fixture_go123(void **state)
{
	(void)state;
	check_etcdv3("go1.23/etcdv3");
}

static void test_not_a_store(void **state)
{
	char fixture[512];
	struct catalog cat;
	struct binary b;

	(void)state;
	assert_int_equal(catalog__load(&cat, NULL, false), 0);
	memset(&b, 0, sizeof(b));
	binary__examine(&b, &cat, "/bin/true");
	assert_int_equal(b.verdict, BINARY_NOT_A_STORE);
	assert_int_equal(b.res.nsites, 0);
	/* a Go program of another module is no store either */
	fixture_path(fixture, sizeof(fixture));
	memset(&b, 0, sizeof(b));
	binary__examine(&b, &cat, fixture);
	assert_int_equal(b.verdict, BINARY_NOT_A_STORE);
	assert_non_null(strstr(b.reason, "no profile"));
	/* and a file that is no ELF at all is refused, not crashed on */
	memset(&b, 0, sizeof(b));
	binary__examine(&b, &cat, "/etc/hostname");
	assert_int_equal(b.verdict, BINARY_NOT_A_STORE);
	catalog__free(&cat);
}

/* A profile for the Go fixture, written as a file of a --profile.dir. */
struct fixture_ctx {
	char dir[64];
	char binary[512];
	char module[256];
	struct catalog cat;
	struct binary b;
};

static const char fixture_probes[] = "probes:\n"
				     "  - function: main.(*store).Put\n"
				     "    role: request_start\n"
				     "    site: entry\n"
				     "    method: Put\n"
				     "  - function: main.handleRange\n"
				     "    role: request_start\n"
				     "    site: entry\n"
				     "    method: Range\n"
				     "  - function: main.checksum\n"
				     "    role: storage_op\n"
				     "    site: entry\n"
				     "    operation: checksum\n";

static int fixture_setup(void **state)
{
	struct fixture_ctx *fc = calloc(1, sizeof(*fc));
	struct symtab *st;
	char err[256];

	if (!fc)
		return -1;
	fixture_path(fc->binary, sizeof(fc->binary));
	if (symtab__open(fc->binary, &st, err, sizeof(err))) {
		fprintf(stderr, "%s: %s (build it with make)\n", fc->binary, err);
		free(fc);
		return -1;
	}
	snprintf(fc->module, sizeof(fc->module), "%s", symtab__info(st)->module_path);
	symtab__close(st);
	snprintf(fc->dir, sizeof(fc->dir), "/tmp/kvscope-profiles-XXXXXX");
	if (!fc->module[0] || !mkdtemp(fc->dir)) {
		free(fc);
		return -1;
	}
	*state = fc;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture_ctx *fc = *state;
	char cmd[128];

	resolution__free(&fc->b.res);
	catalog__free(&fc->cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fc->dir);
	if (system(cmd) != 0)
		return -1;
	free(fc);
	return 0;
}

/* Writes the fixture profile (with `match_extra` under match:, `probes_extra`
 * after its probes), loads only it, and examines the fixture with it. */
static void examine_fixture(struct fixture_ctx *fc, const char *match_extra,
			    const char *probes_extra)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/gofuncs.yaml", fc->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"format: 1\n"
		"name: gofuncs-test\n"
		"store: gofuncs\n"
		"language: go\n"
		"match:\n"
		"  go_module: '%s'\n"
		"%s"
		"methods: [Put, Range]\n"
		"operations: [checksum]\n"
		"%s%s",
		fc->module, match_extra, fixture_probes, probes_extra);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(catalog__load(&fc->cat, fc->dir, true), 0);
	assert_int_equal(fc->cat.errors, 0);
	assert_int_equal(fc->cat.count, 1);
	binary__examine(&fc->b, &fc->cat, fc->binary);
}

static void test_fixture_ready(void **state)
{
	static const char *const functions[] = {"main.(*store).Put", "main.handleRange",
						"main.checksum"};
	struct fixture_ctx *fc = *state;
	struct symtab *st;
	char err[256];

	examine_fixture(fc, "", "");
	if (fc->b.verdict != BINARY_READY)
		fail_msg("verdict %d: %s", fc->b.verdict, fc->b.reason);
	assert_string_equal(fc->b.profile->name, "gofuncs-test");
	assert_int_equal(fc->b.res.nsites, 3);
	assert_int_equal(symtab__open(fc->binary, &st, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		const struct resolved_site *rs = &fc->b.res.sites[i];
		struct func_sym fs;

		assert_int_equal(rs->probe, i);
		assert_int_equal(symtab__find(st, functions[i], &fs), 0);
		assert_int_equal(rs->func.vaddr, fs.vaddr);
		/* an entry site: on the function's first straight-line stretch */
		assert_true(rs->site.vaddr >= fs.vaddr && rs->site.vaddr < fs.vaddr + 16);
		assert_int_equal(rs->file_offset, rs->site.vaddr - NONPIE_BASE);
		assert_true(rs->site.insn[0] != '\0');
	}
	/* Go request probes keep R14 live: their site is the stack-check jump */
	for (int i = 0; i < 2; i++)
		assert_int_equal(fc->b.res.sites[i].site.cost, SITE_COST_EMULATED);
	symtab__close(st);
}

static void test_fixture_version_mismatch(void **state)
{
	struct fixture_ctx *fc = *state;

	examine_fixture(fc, "  version_regex: '^9\\.'\n", "");
	assert_int_equal(fc->b.verdict, BINARY_UNSUPPORTED);
	assert_non_null(fc->b.profile);
	assert_string_equal(fc->b.profile->name, "gofuncs-test");
	if (!strstr(fc->b.reason, "no profile for this version") ||
	    !strstr(fc->b.reason, "gofuncs-test"))
		fail_msg("reason: %s", fc->b.reason);
	assert_true(fc->b.unsupported_version);
	assert_int_equal(fc->b.res.nsites, 0);
}

static void write_profile(const struct fixture_ctx *fc, const char *name, const char *regex,
			  const char *probes_extra)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.yaml", fc->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"format: 1\nname: %s\nstore: gofuncs\nlanguage: go\n"
		"match:\n  go_module: '%s'\n  version_regex: '%s'\n"
		"version: {go_string: '^[0-9]+\\.[0-9]+\\.[0-9]+$'}\n"
		"methods: [Put, Range]\noperations: [checksum]\n%s%s",
		name, fc->module, regex, fixture_probes, probes_extra);
	assert_int_equal(fclose(f), 0);
}

/*
 * A build (version 7.3.12) no profile is for: the nearest profile below its
 * version is named, with the first thing of it that fails on this build.
 */
static void test_fixture_nearest_profile(void **state)
{
	struct fixture_ctx *fc = *state;

	write_profile(fc, "gofuncs-1.2", "^1\\.2\\.",
		      "  - function: main.noSuchFunction\n"
		      "    role: storage_op\n"
		      "    operation: checksum\n");
	write_profile(fc, "gofuncs-8.0", "^8\\.0\\.", "");
	write_profile(fc, "gofuncs-7.2", "^7\\.2\\.", "");
	assert_int_equal(catalog__load(&fc->cat, fc->dir, true), 0);
	assert_int_equal(fc->cat.count, 3);
	binary__examine(&fc->b, &fc->cat, fc->binary);
	assert_int_equal(fc->b.verdict, BINARY_UNSUPPORTED);
	assert_true(fc->b.unsupported_version);
	assert_string_equal(fc->b.version, "7.3.12");
	assert_string_equal(fc->b.profile->name, "gofuncs-7.2");
	if (!strstr(fc->b.reason,
		    "gofuncs 7.3.12: no profile for this version; nearest gofuncs-7.2") ||
	    !strstr(fc->b.reason, "every probe of it places"))
		fail_msg("reason: %s", fc->b.reason);
	catalog__free(&fc->cat);
	memset(&fc->b, 0, sizeof(fc->b));

	/* without 7.2, the nearest below is 1.2, whose missing function is named */
	snprintf(fc->b.reason, sizeof(fc->b.reason), "%s/gofuncs-7.2.yaml", fc->dir);
	assert_int_equal(unlink(fc->b.reason), 0);
	assert_int_equal(catalog__load(&fc->cat, fc->dir, true), 0);
	binary__examine(&fc->b, &fc->cat, fc->binary);
	assert_true(fc->b.unsupported_version);
	assert_string_equal(fc->b.profile->name, "gofuncs-1.2");
	if (!strstr(fc->b.reason, "gofuncs-1.2: function main.noSuchFunction not found"))
		fail_msg("reason: %s", fc->b.reason);
	assert_int_equal(fc->b.res.nsites, 0);
}

static void test_fixture_missing_function(void **state)
{
	struct fixture_ctx *fc = *state;

	examine_fixture(fc, "",
			"  - function: main.noSuchFunction\n"
			"    role: storage_op\n"
			"    site: entry\n"
			"    operation: checksum\n");
	assert_int_equal(fc->b.verdict, BINARY_UNSUPPORTED);
	if (!strstr(fc->b.reason, "gofuncs-test: function main.noSuchFunction not found"))
		fail_msg("reason: %s", fc->b.reason);
	/* a profile is for this version: its build is what is unsupported */
	assert_false(fc->b.unsupported_version);
	assert_int_equal(fc->b.res.nsites, 0);
	assert_null(fc->b.res.sites);
}

static void test_fixture_missing_match_symbol(void **state)
{
	struct fixture_ctx *fc = *state;

	examine_fixture(fc, "  symbols: [main.checksum, main.notThere]\n", "");
	assert_int_equal(fc->b.verdict, BINARY_UNSUPPORTED);
	if (!strstr(fc->b.reason, "no function main.notThere"))
		fail_msg("reason: %s", fc->b.reason);
}

#define BIT(r) (1u << (r))

static void test_live_regs(void **state)
{
	static const struct {
		enum profile_lang lang;
		struct profile_probe probe;
		uint32_t want;
	} cases[] = {
	    {PROFILE_LANG_GO, {.role = KVS_ROLE_REQUEST_START}, BIT(KVS_REG_R14)},
	    {PROFILE_LANG_GO,
	     {.role = KVS_ROLE_REQUEST_END,
	      .has_value = true,
	      .value = {.from = PROFILE_FROM_ARG, .index = 1}},
	     BIT(KVS_REG_R14) | BIT(KVS_REG_RBX)},
	    {PROFILE_LANG_C, {.role = KVS_ROLE_REQUEST_START}, 0},
	    {PROFILE_LANG_C,
	     {.role = KVS_ROLE_REQUEST_ERROR,
	      .has_value = true,
	      .value = {.from = PROFILE_FROM_ARG, .index = 1}},
	     BIT(KVS_REG_RSI)},
	    /* a result is not live at the entry: it is not there yet */
	    {PROFILE_LANG_GO,
	     {.role = KVS_ROLE_STORAGE_OP,
	      .has_value = true,
	      .value = {.from = PROFILE_FROM_RESULT, .index = 0}},
	     0},
	    /* a value that is not read does not hold its register live */
	    {PROFILE_LANG_GO,
	     {.role = KVS_ROLE_STORAGE_OP,
	      .has_value = false,
	      .value = {.from = PROFILE_FROM_ARG, .index = 0}},
	     0},
	    {PROFILE_LANG_GO,
	     {.role = KVS_ROLE_GAUGES,
	      .nreads = 3,
	      .reads = {{.from = PROFILE_FROM_ARG, .index = 0},
			{.from = PROFILE_FROM_ARG, .index = 3},
			{.from = PROFILE_FROM_ARG, .index = 8}}},
	     BIT(KVS_REG_RAX) | BIT(KVS_REG_RDI) | BIT(KVS_REG_R11)},
	    /* reads past nreads are ignored; a word past the registers holds nothing */
	    {PROFILE_LANG_C,
	     {.role = KVS_ROLE_GAUGES,
	      .nreads = 2,
	      .reads = {{.from = PROFILE_FROM_ARG, .index = 0},
			{.from = PROFILE_FROM_ARG, .index = 6},
			{.from = PROFILE_FROM_ARG, .index = 1}}},
	     BIT(KVS_REG_RDI)},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct profile p = {.name = "t", .lang = cases[i].lang};
		uint32_t live = resolve__live_regs(&p, &cases[i].probe);

		if (live != cases[i].want)
			fail_msg("case %zu: live 0x%x, want 0x%x", i, live, cases[i].want);
	}
	assert_int_equal(resolve__arg_reg(PROFILE_LANG_C, 2), KVS_REG_RDX);
	assert_int_equal(resolve__result_reg(PROFILE_LANG_C, 1), KVS_REG_RDX);
	assert_int_equal(resolve__result_reg(PROFILE_LANG_C, 2), -1);
	assert_int_equal(resolve__result_reg(PROFILE_LANG_GO, 1), KVS_REG_RBX);
	assert_int_equal(resolve__arg_reg(PROFILE_LANG_GO, 9), -1);
	assert_int_equal(resolve__arg_reg(PROFILE_LANG_GO, -1), -1);
}

static void test_site_record(void **state)
{
	struct profile go = {.name = "g", .lang = PROFILE_LANG_GO};
	struct profile c = {.name = "c", .lang = PROFILE_LANG_C};
	struct profile_probe end = {.role = KVS_ROLE_REQUEST_END, .label = -1, .has_value = true};
	struct profile_probe gauges = {.role = KVS_ROLE_GAUGES, .label = 3, .nreads = 2};
	struct resolved_site end_site = {
	    .has_value = true,
	    .value = {.reg = KVS_REG_RBX, .size = 4, .nderef = 2, .deref = {8, -16}},
	};
	struct resolved_site gauge_site = {
	    .nreads = 2,
	    .reads = {{.reg = KVS_REG_RAX, .size = 8, .nderef = 1, .deref = {0x88}, .gauge = 2},
		      {.reg = KVS_REG_RSP,
		       .size = 4,
		       .nderef = 3,
		       .deref = {0x220, 0x10, 0},
		       .gauge = 3}},
	};
	struct kvs_site rec;

	(void)state;
	memset(&rec, 0x5a, sizeof(rec));
	attach__site_record(&go, &end, &end_site, &rec);
	assert_int_equal(rec.role, KVS_ROLE_REQUEST_END);
	assert_int_equal(rec.label, 0);
	assert_int_equal(rec.task_reg, KVS_REG_R14);
	assert_int_equal(rec.has_value, 1);
	assert_memory_equal(&rec.value, &end_site.value, sizeof(rec.value));
	assert_int_equal(rec.nreads, 0);
	assert_int_equal(rec.pad0, 0);
	assert_int_equal(rec.pad, 0);

	attach__site_record(&c, &gauges, &gauge_site, &rec);
	assert_int_equal(rec.role, KVS_ROLE_GAUGES);
	assert_int_equal(rec.label, 3);
	assert_int_equal(rec.task_reg, KVS_REG_NONE);
	assert_int_equal(rec.has_value, 0);
	assert_int_equal(rec.nreads, 2);
	assert_memory_equal(rec.reads, gauge_site.reads, sizeof(rec.reads));
	/* nothing of the previous record survives */
	assert_int_equal(rec.value.reg, 0);
	assert_int_equal(rec.value.deref[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_etcd_34_builtin),
	    cmocka_unit_test(test_etcdv3_fixture),
	    cmocka_unit_test(test_etcdv3_fixture_go123),
	    cmocka_unit_test(test_not_a_store),
	    cmocka_unit_test_setup_teardown(test_fixture_ready, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fixture_version_mismatch, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fixture_nearest_profile, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fixture_missing_function, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fixture_missing_match_symbol, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test(test_live_regs),
	    cmocka_unit_test(test_site_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
