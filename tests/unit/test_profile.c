// SPDX-License-Identifier: Apache-2.0
/* Store profiles: the shipped etcd profile, broken profiles, truncations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "profile/profile.h"

#define ETCD_PROFILE "profiles/etcd-3.4.yaml"

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *text;

	if (!f)
		fail_msg("cannot open %s (run the tests from the repository root)", path);
	text = malloc(1 << 20);
	assert_non_null(text);
	*len = fread(text, 1, 1 << 20, f);
	fclose(f);
	return text;
}

static const struct profile_probe *find_probe(const struct profile *p, const char *function,
					      enum kvs_role role)
{
	for (int i = 0; i < p->nprobes; i++)
		if (strcmp(p->probes[i].function, function) == 0 && p->probes[i].role == role)
			return &p->probes[i];
	fail_msg("no %s probe on %s", profile_role_name(role), function);
	return NULL;
}

static void assert_read(const struct profile_read *r, enum profile_from from, int index,
			const char *path, int size)
{
	assert_int_equal(r->from, from);
	assert_int_equal(r->index, index);
	if (path)
		assert_string_equal(r->path, path);
	else
		assert_null(r->path);
	assert_int_equal(r->size, size);
}

/* The loads a path makes for a version, or the reason it has none. */
static void assert_path(const struct profile *p, const char *path, const char *version, int n,
			const int32_t *want)
{
	int32_t deref[4];
	char err[160] = "";
	int got = profile__path_derefs(p, path, version, deref, 4, err, sizeof(err));

	if (got != n)
		fail_msg("%s at %s: %d loads (%s), want %d", path, version, got, err, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(deref[i], want[i]);
}

static void check_etcd_header(const struct profile *p)
{
	static const char *const methods[] = {"Range", "Put", "DeleteRange", "Txn", "Compact"};

	assert_string_equal(p->name, "etcd-3.4");
	assert_string_equal(p->store, "etcd");
	assert_int_equal(p->lang, PROFILE_LANG_GO);
	assert_string_equal(p->go_module, "go.etcd.io/etcd");
	assert_int_equal(p->ngo_modules, 1);
	assert_string_equal(p->version_regex, "^3\\.4\\.[0-9]+$");
	assert_string_equal(p->version_go_string, "^3\\.[0-9]+\\.[0-9]+$");
	assert_string_equal(p->name_flag, "--name");
	assert_string_equal(p->name_env, "ETCD_NAME");
	assert_int_equal(p->nmethods, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(p->methods[i], methods[i]);
	assert_int_equal(p->noperations, 6);
	assert_int_equal(profile__operation(p, "wal_sync"), 2);
	assert_int_equal(p->status_map[0], 200);
	assert_int_equal(p->status_map[3], 400);
	assert_int_equal(p->status_map[11], 400);
	assert_int_equal(p->status_map[14], 503);
	assert_int_equal(p->status_map[17], 0);
	assert_int_equal(p->status_default, 500);
	assert_true(p->has_raft);
	assert_int_equal(p->raft_leader_state, 2);
	assert_int_equal(p->nfiles, 3);
	assert_string_equal(p->files[0].glob, "member/wal/*.wal");
	assert_string_equal(p->files[2].class, "snap");
}

/* The probe's recorded line is the one its `function:` key is on. */
static void assert_line_names(int line, const char *function)
{
	size_t len;
	char *text = read_text(ETCD_PROFILE, &len), *at = text, *eol;

	for (int i = 1; i < line && at; i++) {
		at = memchr(at, '\n', len - (size_t)(at - text));
		at = at ? at + 1 : NULL;
	}
	assert_non_null(at);
	eol = memchr(at, '\n', len - (size_t)(at - text));
	assert_non_null(eol);
	*eol = '\0';
	if (!strstr(at, "function: ") || !strstr(at, function))
		fail_msg("line %d is \"%s\", not the probe on %s", line, at, function);
	free(text);
}

static void check_etcd_probes(const struct profile *p)
{
	static const int32_t commit[] = {0x30, 0x48}, term[] = {0x8}, state[] = {0x88};
	static const int32_t lead[] = {0xb0}, applied[] = {0x30, 0x50};
	const struct profile_probe *pr;

	assert_true(p->nprobes >= 10);
	for (int i = 0; i < p->nprobes; i++)
		assert_line_names(p->probes[i].line, p->probes[i].function);
	pr = find_probe(p, "go.etcd.io/etcd/etcdserver/etcdserverpb._KV_Txn_Handler",
			KVS_ROLE_REQUEST_START);
	assert_int_equal(pr->label, profile__method(p, "Txn"));
	assert_int_equal(pr->site, PROFILE_SITE_ENTRY);
	pr = find_probe(p, "github.com/grpc-ecosystem/go-grpc-prometheus.(*serverReporter).Handled",
			KVS_ROLE_REQUEST_END);
	assert_true(pr->has_value);
	assert_int_equal(pr->label, -1);
	assert_read(&pr->value, PROFILE_FROM_ARG, 1, NULL, 4);
	/* tickHeartbeat's reads are an alias of tickElection's. */
	pr = find_probe(p, "go.etcd.io/etcd/raft.(*raft).tickHeartbeat", KVS_ROLE_GAUGES);
	assert_int_equal(pr->nreads, 5);
	assert_read(&pr->reads[0], PROFILE_FROM_ARG, 0, "raft.Term", 8);
	assert_int_equal(pr->reads[0].gauge, KVS_GAUGE_RAFT_TERM);
	assert_read(&pr->reads[1], PROFILE_FROM_ARG, 0, "raft.raftLog.committed", 8);
	assert_int_equal(pr->reads[1].gauge, KVS_GAUGE_RAFT_COMMIT_INDEX);
	assert_read(&pr->reads[2], PROFILE_FROM_ARG, 0, "raft.state", 8);
	assert_int_equal(pr->reads[2].gauge, KVS_GAUGE_RAFT_STATE);
	assert_read(&pr->reads[3], PROFILE_FROM_ARG, 0, "raft.lead", 8);
	assert_int_equal(pr->reads[3].gauge, KVS_GAUGE_RAFT_LEAD);
	assert_read(&pr->reads[4], PROFILE_FROM_ARG, 0, "raft.raftLog.applied", 8);
	assert_int_equal(pr->reads[4].gauge, KVS_GAUGE_RAFT_APPLIED_INDEX);
	assert_path(p, "raft.Term", "3.4.23", 1, term);
	assert_path(p, "raft.raftLog.committed", "3.4.23", 2, commit);
	assert_path(p, "raft.state", "3.4.0", 1, state);
	assert_path(p, "raft.lead", "3.4.23", 1, lead);
	assert_path(p, "raft.raftLog.applied", "3.4.23", 2, applied);
	pr = find_probe(p, "go.etcd.io/etcd/mvcc/backend.(*batchTx).commit", KVS_ROLE_STORAGE_OP);
	assert_int_equal(pr->site, PROFILE_SITE_CALL_RETURN);
	assert_int_equal(pr->ncallees, 1);
	assert_string_equal(pr->callees[0], "go.etcd.io/bbolt.(*Tx).Commit");
	assert_int_equal(pr->label, profile__operation(p, "backend_commit"));
	assert_true(pr->has_value);
	assert_read(&pr->value, PROFILE_FROM_RESULT, 0, NULL, 8);
	pr = find_probe(p, "go.etcd.io/etcd/wal.(*WAL).Save", KVS_ROLE_STORAGE_OP);
	assert_int_equal(pr->site, PROFILE_SITE_CALL_RETURN);
	assert_string_equal(pr->callees[0], "go.etcd.io/etcd/wal.(*WAL).saveState");
	assert_true(pr->has_value);
	assert_int_equal(pr->label, profile__operation(p, "wal_save"));
	/* an entry probe without a value: every hit a success */
	pr = find_probe(p, "go.etcd.io/etcd/mvcc/backend.(*backend).defrag", KVS_ROLE_STORAGE_OP);
	assert_int_equal(pr->site, PROFILE_SITE_ENTRY);
	assert_false(pr->has_value);
}

static void test_etcd_profile(void **state)
{
	struct profile *p = NULL;
	char err[256] = "";

	(void)state;
	if (profile__load(ETCD_PROFILE, &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(p->source, ETCD_PROFILE);
	check_etcd_header(p);
	check_etcd_probes(p);
	profile__free(p);
}

static void test_load_missing_file(void **state)
{
	struct profile *p = (struct profile *)1;
	char err[256] = "";

	(void)state;
	assert_int_equal(profile__load("/nonexistent/x.yaml", &p, err, sizeof(err)), -1);
	assert_null(p);
	assert_string_equal(err, "/nonexistent/x.yaml: No such file or directory");
}

#define HEAD                                                                                       \
	"format: 1\n"                                                                              \
	"name: t\n"                                                                                \
	"store: s\n"                                                                               \
	"language: go\n"                                                                           \
	"match: {go_module: m}\n"                                                                  \
	"methods: [Get, Put]\n"                                                                    \
	"operations: [sync]\n"
#define PROBE(role) HEAD "probes:\n  - function: f\n    role: " role "\n"
#define END_PROBE   PROBE("request_end")

struct broken {
	const char *text;
	int line;
	const char *reason;
};

static const struct broken broken[] = {
    {"format: 1\nname: [a, b\nstore: s\n", 3, "YAML: did not find expected ',' or ']'"},
    {"format: 1\nname: t\n  bad: indent\n", 3, "YAML: mapping values are not allowed"},
    {"format: 2\nname: t\n", 1, "format 2 is not supported"},
    {"name: t\n", 1, "format is required"},
    {HEAD "frobnicate: 1\n", 8, "profile: unknown key \"frobnicate\""},
    {HEAD "name: u\n", 8, "profile: duplicate key name"},
    {PROBE("request_begin"), 10, "probe 1: unknown role \"request_begin\""},
    {PROBE("request_start") "    method: Delete\n", 11,
     "probe 1: method \"Delete\" is not in methods"},
    {PROBE("request_start"), 9, "probe 1: role request_start needs exactly one of method, value"},
    {PROBE("gauges"), 9, "probe 1: role gauges needs reads"},
    {PROBE("gauges") "    reads: []\n", 11, "reads: needs 1 to 6 reads, found 0"},
    {PROBE("gauges") "    reads: [{arg: 0}]\n", 11, "reads[1]: gauge is required"},
    {PROBE("gauges") "    reads: [{arg: 0, gauge: qps}]\n", 11, "unknown gauge \"qps\""},
    {PROBE("gauges") "    reads: [{arg: 0, gauge: raft_term}]\n    value: {arg: 0}\n", 12,
     "value is not allowed for role gauges"},
    {END_PROBE "    value: {reg: rax}\n", 11, "value: unknown key \"reg\""},
    {END_PROBE "    value: {arg: 0, deref: [8]}\n", 11, "value: unknown key \"deref\""},
    {END_PROBE "    value: {size: 4}\n", 11, "value: give exactly one of arg, result"},
    {END_PROBE "    value: {arg: 0, result: 0}\n", 11, "value: give exactly one of arg, result"},
    {END_PROBE "    value: {result: 0}\n", 11, "value: result needs site {call_return"},
    {END_PROBE "    value: {arg: 9}\n", 11, "value.arg: \"9\" is out of range 0..8"},
    {END_PROBE "    value: {arg: 0, path: a.b}\n", 11, "value.path: path a.b: no struct a"},
    {END_PROBE "    value: {arg: 0, size: 3}\n", 11, "value.size: must be 1, 2, 4 or 8"},
    {END_PROBE "    value: {arg: 0, gauge: raft_term}\n", 11, "value: unknown key \"gauge\""},
    {END_PROBE "    value: {arg: 0, size: '4'}\n", 11,
     "value.size: expected an integer, found a quoted string"},
    {END_PROBE "    value:\n      arg: 0\n      size: 1\n      size: 2\n", 14,
     "value: duplicate key size"},
    {HEAD "structs: {s: {f: {offset: 8, points_to: t}}}\n", 8, "structs.s.f: no struct t"},
    {HEAD "structs: {s: {f: {points_to: s}}}\n", 8, "structs.s.f: offset is required"},
    {HEAD "structs: {s: {f: -1}}\n", 8, "structs.s.f: \"-1\" is out of range"},
    {HEAD "structs: {s: {f: {offset: 0, points_to: s, embeds: s}}}\n", 8,
     "give points_to or embeds, not both"},
    {HEAD "structs: {s: {f: 8}}\nprobes:\n  - function: f\n    role: request_end\n"
	  "    value: {arg: 0, path: s.f.g}\n",
     12, "field s.f is a value: the path cannot go on"},
    {HEAD "structs: {s: {f: 8}}\nprobes:\n  - function: f\n    role: request_end\n"
	  "    value: {arg: 0, path: s}\n",
     12, "path s: name a field of s"},
    {HEAD "structs: {s: {f: 8}}\nprobes:\n  - function: f\n    role: request_end\n"
	  "    value: {arg: 0, path: s.g}\n",
     12, "no field s.g"},
    {END_PROBE "    function: [a, b, c, d, e]\n", 11, "probe 1: duplicate key function"},
    {PROBE("storage_op") "    operation: sync\n    site: {call_return: [a, b, c, d, e]}\n", 12,
     "site.call_return: 1 to 4 alternative names, found 5"},
    {PROBE("request_error"), 9, "probe 1: role request_error needs value"},
    {END_PROBE "    site: ret\n    value: {result: 0}\n", 11, "Go moves goroutine stacks"},
    {END_PROBE "    site: exit\n", 11, "site: unknown site \"exit\""},
    {END_PROBE "    site: {call_return: g, offset: 4}\n", 11, "site: unknown key \"offset\""},
    {END_PROBE "    site: {offset: 4}\n", 11, "site: unknown key \"offset\""},
    {HEAD "methods: [Get, Get]\n", 8, "profile: duplicate key methods"},
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: {go_module: m}\n"
     "methods: [Get, Get]\n",
     6, "methods: duplicate \"Get\""},
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: {go_module: m}\n"
     "methods: [Get, get/all]\n",
     6, "methods: \"get/all\" is not a label name"},
    {"", 1, "empty profile"},
    {"# nothing but a comment\n", 1, "empty profile"},
    {"- format: 1\n", 1, "profile: expected a map, found a list"},
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: go.etcd.io/etcd\n", 5,
     "match: expected a map, found a scalar"},
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: {}\n", 5,
     "match.go_module is required for language go"},
    {"format: 1\nname: t\nstore: s\nlanguage: rust\n", 4, "unknown language \"rust\""},
    {"format: 1\nname: t\nlanguage: go\n", 1, "store is required"},
    {"format: 1\nname: ''\n", 2, "name: must not be empty"},
    {"format: 1\nname: \"a\\0b\"\n", 2, "name: contains a NUL byte"},
    {HEAD "raft: {leader_state: 99999999999999999999999}\n", 8,
     "raft.leader_state: \"99999999999999999999999\" is out of range"},
    {HEAD "raft: {}\n", 8, "raft.leader_state is required"},
    {HEAD "status:\n  codes:\n    63: 500\n", 10, "status.codes: \"63\" is out of range 0..62"},
    {HEAD "status:\n  codes:\n    1: 600\n", 10,
     "status.codes.1: \"600\" is out of range 100..599"},
    {HEAD "status:\n  codes:\n    1: 500\n    0x1: 400\n", 11,
     "status.codes: code 1 appears twice"},
    {HEAD "status: {default: 99}\n", 8, "status.default: \"99\" is out of range 100..599"},
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: {go_module: m, "
     "version_regex: '[[:nope:]]'}\n",
     5, "match.version_regex: not a POSIX extended regular expression"},
    /* what fuzzing found: regcomp would have taken gigabytes */
    {"format: 1\nname: t\nstore: s\nlanguage: go\nmatch: {go_module: m, "
     "version_regex: 'Ra+++++++++++++++++++++++++mit'}\n",
     5, "match.version_regex: pattern refused: stacked quantifiers '++'"},
    {HEAD "files:\n  - {glob: a, class: bad.class}\n", 9,
     "files[1].class: \"bad.class\" is not a label name"},
    {HEAD "files:\n  - {class: wal}\n", 9, "files[1].glob is required"},
    {HEAD, 1, "probes is required"},
    {HEAD "probes: []\n", 8, "probes: needs 1 to 128 probes, found 0"},
    {HEAD "probes:\n  - f\n", 9, "probe 1: expected a map, found a scalar"},
    {END_PROBE "    value: {arg: 1}\n---\nformat: 1\n", 13, "a profile is a single YAML document"},
    {"format: 1\nname: t\nstore: s\nlanguage: c\nmatch: {go_module: m}\n", 5,
     "match.go_module is only for language go"},
    {"format: 1\nname: t\nstore: s\nlanguage: c\nmatch: {symbols: []}\n", 5,
     "match.symbols (at least one) is required for language c"},
    {"format: 1\nname: t\nstore: s\nlanguage: go\n", 1,
     "match.go_module is required for language go"},
    {"format: 1\nname: t\nstore: s\nlanguage: c\nmatch: {symbols: [a]}\n"
     "version: {go_string: x}\n",
     6, "version.go_string is only for language go"},
};

static void test_broken_profiles(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		const struct broken *b = &broken[i];
		struct profile *p = (struct profile *)1;
		char err[512] = "", prefix[32];

		if (profile__parse(b->text, strlen(b->text), "t.yaml", &p, err, sizeof(err)) != -1)
			fail_msg("case %zu accepted:\n%s", i, b->text);
		assert_null(p);
		snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", b->line);
		if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, b->reason))
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, err, prefix,
				 b->reason);
		assert_null(strchr(err, '\n'));
	}
}

static const char c_profile[] = "format: 1\n"
				"name: kv-1\n"
				"store: kv\n"
				"language: c\n"
				"match: {symbols: [kv_get, kv_put], version_regex: '^1\\.'}\n"
				"operations: [fsync]\n"
				"structs:\n"
				"  conn:\n"
				"    io: {offset: 0x10, embeds: io}\n"
				"    peer: {offset: 0x30, points_to: conn}\n"
				"    state:\n"
				"      - {offset: 0x40, to: 1.2.99}\n"
				"      - {offset: 0x48, from: 1.3.0}\n"
				"  io:\n"
				"    fd: 0x8\n"
				"probes:\n"
				"  - function: kv_fsync\n"
				"    role: storage_op\n"
				"    site: ret\n"
				"    operation: fsync\n"
				"    value: {result: 0, size: 2}\n"
				"  - function: [kv_tick, kv_tick2]\n"
				"    role: leader_change\n"
				"    value: {arg: 1, path: conn.peer.io.fd}\n";

static void test_c_profile_defaults(void **state)
{
	static const int32_t fd[] = {0x30, 0x18}, old_state[] = {0x40}, new_state[] = {0x48};
	struct profile *p = NULL;
	char err[256] = "";
	int32_t deref[4];

	(void)state;
	if (profile__parse(c_profile, strlen(c_profile), "c.yaml", &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(p->lang, PROFILE_LANG_C);
	assert_null(p->go_module);
	assert_int_equal(p->nsymbols, 2);
	assert_string_equal(p->symbols[1], "kv_put");
	assert_int_equal(p->nmethods, 0);
	assert_int_equal(p->status_default, 500);
	assert_false(p->has_raft);
	assert_int_equal(p->nprobes, 2);
	assert_int_equal(p->probes[0].site, PROFILE_SITE_RET);
	assert_int_equal(p->probes[0].label, 0);
	assert_read(&p->probes[0].value, PROFILE_FROM_RESULT, 0, NULL, 2);
	assert_int_equal(p->probes[1].site, PROFILE_SITE_ENTRY);
	assert_int_equal(p->probes[1].nfunctions, 2);
	assert_string_equal(p->probes[1].function, "kv_tick");
	assert_string_equal(p->probes[1].functions[1], "kv_tick2");
	assert_int_equal(p->probes[1].label, -1);
	assert_int_equal(p->probes[1].line, 22);
	assert_read(&p->probes[1].value, PROFILE_FROM_ARG, 1, "conn.peer.io.fd", 8);
	/* the embedded io adds its offset to fd's: one load after the peer pointer */
	assert_path(p, "conn.peer.io.fd", "1.0.0", 2, fd);
	assert_path(p, "conn.state", "1.2.3", 1, old_state);
	assert_path(p, "conn.state", "1.2.99", 1, old_state);
	assert_path(p, "conn.state", "1.10.0", 1, new_state);
	/* between the ranges there is no offset, and the reason says so */
	assert_int_equal(
	    profile__path_derefs(p, "conn.state", "1.2.100", deref, 4, err, sizeof(err)), -1);
	assert_string_equal(err, "field conn.state has no offset for version 1.2.100");
	assert_int_equal(profile__path_derefs(p, "conn.peer.peer.peer.peer.io.fd", "1.0.0", deref,
					      4, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more than 4 loads"));
	profile__free(p);
}

/* Every prefix of a real profile either parses or fails cleanly. */
static void test_truncated_etcd_profile(void **state)
{
	size_t len, accepted = 0;
	char *text = read_text(ETCD_PROFILE, &len);

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		char *prefix = malloc(cut ? cut : 1), err[256] = "";
		struct profile *p = NULL;

		assert_non_null(prefix);
		memcpy(prefix, text, cut);
		if (profile__parse(prefix, cut, "cut.yaml", &p, err, sizeof(err)) == 0) {
			assert_non_null(p);
			accepted++;
		} else {
			assert_null(p);
			assert_memory_equal(err, "cut.yaml:", 9);
		}
		profile__free(p);
		free(prefix);
	}
	assert_true(accepted >= 1); /* at least the whole file */
	free(text);
}

/* libyaml slows down quadratically with open flow collections. */
static void test_deep_nesting_is_refused_quickly(void **state)
{
	size_t len = 1 << 20;
	char *text = malloc(len), err[256] = "";
	struct profile *p = NULL;
	struct timespec t0, t1;

	(void)state;
	assert_non_null(text);
	memset(text, '[', len);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(profile__parse(text, len, "deep.yaml", &p, err, sizeof(err)), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(err, "deep.yaml:1: nested more than 16 levels deep");
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	free(text);
}

static void test_short_error_buffer(void **state)
{
	struct profile *p = NULL;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(profile__parse("format: 2\n", 10, "t.yaml", &p, err, sizeof(err)), -1);
	assert_string_equal(err, "t.yaml:");
	assert_int_equal(profile__parse("format: 2\n", 10, "t.yaml", &p, NULL, 0), -1);
	assert_null(p);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(profile_reg_from_name("rax"), KVS_REG_RAX);
	assert_int_equal(profile_reg_from_name("R14"), KVS_REG_R14);
	assert_int_equal(profile_reg_from_name("rip"), -1);
	assert_int_equal(profile_reg_from_name(NULL), -1);
	for (int reg = 0; reg < KVS_REG_COUNT; reg++)
		assert_int_equal(profile_reg_from_name(profile_reg_name(reg)), reg);
	assert_null(profile_reg_name(KVS_REG_COUNT));
	assert_string_equal(profile_reg_name(KVS_REG_R8), "r8");
	assert_string_equal(profile_role_name(KVS_ROLE_REQUEST_START), "request_start");
	assert_string_equal(profile_role_name(KVS_ROLE_LEADER_CHANGE), "leader_change");
	assert_null(profile_role_name(KVS_ROLE_COUNT));
	assert_string_equal(profile_gauge_name(KVS_GAUGE_RAFT_COMMIT_INDEX), "raft_commit_index");
	assert_string_equal(profile_gauge_name(KVS_GAUGE_STORAGE_SIZE), "storage_size");
	assert_null(profile_gauge_name(KVS_GAUGE_COUNT));
	assert_int_equal(profile__method(NULL, "Get"), -1);
	profile__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_etcd_profile),
	    cmocka_unit_test(test_load_missing_file),
	    cmocka_unit_test(test_broken_profiles),
	    cmocka_unit_test(test_c_profile_defaults),
	    cmocka_unit_test(test_truncated_etcd_profile),
	    cmocka_unit_test(test_deep_nesting_is_refused_quickly),
	    cmocka_unit_test(test_short_error_buffer),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
