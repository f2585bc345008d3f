// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/webconfig.h"

#define FIXTURES "tests/unit/webconfig"

static const char fake_cert[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/* A scratch directory with PEM-looking files for configs to name. */
struct scratch {
	char dir[64];
	char config[128];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void scratch_file(const struct scratch *s, const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	write_file(path, text);
}

static int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	strcpy(s->dir, "/tmp/kvscope-webconfig-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->config, sizeof(s->config), "%s/web.yml", s->dir);
	scratch_file(s, "server.crt", fake_cert);
	scratch_file(s, "server.key",
		     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	scratch_file(s, "ca.crt", fake_cert);
	scratch_file(s, "notpem.txt", "just text\n");
	*state = s;
	return 0;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	static const char *const names[] = {"server.crt", "server.key", "ca.crt", "notpem.txt",
					    "web.yml"};
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, names[i]);
		unlink(path);
	}
	rmdir(s->dir);
	free(s);
	return 0;
}

static void test_load_valid_fixture(void **state)
{
	struct web_config cfg;
	char err[512] = "";

	(void)state;
	if (webconfig__load(FIXTURES "/valid.yml", &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(cfg.tls);
	/* Relative to the config file's directory, not the working directory. */
	assert_string_equal(cfg.cert_file, FIXTURES "/certs/server.crt");
	assert_string_equal(cfg.key_file, FIXTURES "/certs/server.key");
	assert_string_equal(cfg.client_ca_file, FIXTURES "/certs/ca.crt");
	assert_non_null(strstr(cfg.cert_pem, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(cfg.key_pem, "-----BEGIN PRIVATE KEY-----"));
	assert_memory_equal(cfg.client_ca_pem, "-----BEGIN CERTIFICATE-----", 27);
	assert_int_equal(cfg.client_auth, WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY);
	assert_int_equal(cfg.min_version, WEB_TLS13);
	assert_int_equal(cfg.max_version, WEB_TLS13);
	assert_int_equal(cfg.nusers, 2);
	assert_string_equal(cfg.users[0].name, "alice");
	assert_memory_equal(cfg.users[0].hash, "$2y$04$", 7);
	assert_string_equal(cfg.users[1].name, "bob");
	assert_memory_equal(cfg.users[1].hash, "$2b$05$", 7);
	assert_true(webconfig__has_users(&cfg));
	/* The dummy is as dear as the dearest user. */
	assert_non_null(cfg.dummy_hash);
	assert_memory_equal(cfg.dummy_hash, "$2b$05$", 7);
	webconfig__free(&cfg);
	webconfig__free(&cfg);
	webconfig__free(NULL);
}

static void test_load_empty(void **state)
{
	struct web_config cfg;
	char err[512] = "";

	(void)state;
	if (webconfig__load(FIXTURES "/empty.yml", &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_false(cfg.tls);
	assert_false(webconfig__has_users(&cfg));
	assert_null(cfg.dummy_hash);
	/* Nobody is let in by a config that names no users. */
	assert_false(webconfig__check_password(&cfg, "alice", "secret"));
	webconfig__free(&cfg);
}

static void test_load_defaults_and_nulls(void **state)
{
	struct scratch *s = *state;
	struct web_config cfg;
	char err[512] = "";

	scratch_file(s, "web.yml",
		     "tls_server_config:\n  cert_file: server.crt\n  key_file: " /* */
		     "server.key\n  client_auth_type: ''\nbasic_auth_users: ~\n");
	if (webconfig__load(s->config, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(cfg.tls);
	assert_int_equal(cfg.client_auth, WEB_CLIENT_AUTH_NONE);
	assert_int_equal(cfg.min_version, WEB_TLS12);
	assert_int_equal(cfg.max_version, WEB_TLS13);
	assert_null(cfg.client_ca_file);
	assert_int_equal(cfg.nusers, 0);
	webconfig__free(&cfg);

	scratch_file(s, "web.yml", "tls_server_config:\nbasic_auth_users:\n");
	if (webconfig__load(s->config, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_false(cfg.tls);
	webconfig__free(&cfg);
}

struct error_case {
	const char *yaml;
	const char *want; /* after "PATH:" */
};

static const char tls_head[] =
    "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

static void test_load_errors(void **state)
{
	struct scratch *s = *state;
	char yaml[1024], want[512], err[512];
	struct web_config cfg;
	const struct error_case cases[] = {
	    {"foo: 1\n", "1: unknown key \"foo\""},
	    {"# comment\nhttp_server_config:\n  http2: false\n",
	     "2: unknown key \"http_server_config\""},
	    {"- a\n- b\n", "1: web config: want a mapping"},
	    {"tls_server_config: yes\n", "1: tls_server_config: want a mapping"},
	    {"tls_server_config:\n  cert_file: server.crt\n  cipher_suites: [x]\n",
	     "3: tls_server_config: unknown key \"cipher_suites\""},
	    {"tls_server_config:\n  cert_file: server.crt\n", "1: tls_server_config: cert_file and "
							      "key_file are required"},
	    {"%s  client_auth_type: Sometimes\n",
	     "4: client_auth_type: unknown value \"Sometimes\", want one of NoClientCert, "
	     "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
	     "RequireAndVerifyClientCert"},
	    {"%s  min_version: TLS14\n",
	     "4: min_version: unknown TLS version \"TLS14\", want TLS10, TLS11, TLS12 or TLS13"},
	    {"%s  max_version: [TLS12]\n",
	     "4: max_version: unknown TLS version \"(not a string)\", "
	     "want TLS10, TLS11, TLS12 or TLS13"},
	    {"%s  min_version: TLS13\n  max_version: TLS12\n",
	     "1: tls_server_config: min_version is above max_version"},
	    {"%s  client_auth_type: RequireAndVerifyClientCert\n",
	     "1: tls_server_config: client_auth_type RequireAndVerifyClientCert needs "
	     "client_ca_file"},
	    {"%s  client_auth_type: VerifyClientCertIfGiven\n",
	     "1: tls_server_config: client_auth_type VerifyClientCertIfGiven needs client_ca_file"},
	    {"%s  client_ca_file: ca.crt\n", "1: tls_server_config: client_ca_file given but "
					     "client_auth_type is NoClientCert"},
	    {"tls_server_config:\n  cert_file: notpem.txt\n",
	     NULL /* names the resolved path: checked below */},
	    {"%s  key_file: server.key\n", "4: tls_server_config: duplicate key \"key_file\""},
	    {"basic_auth_users:\n  alice: secret\n",
	     "2: basic_auth_users: alice: not a bcrypt hash ($2a$, $2b$ or $2y$)"},
	    {"basic_auth_users:\n  alice: "
	     "$2x$10$abcdefghijklmnopqrstuu5Mc0oxvQ1y.AnS3TiCm2R4tcHhW5dK6\n",
	     "2: basic_auth_users: alice: not a bcrypt hash ($2a$, $2b$ or $2y$)"},
	    {"basic_auth_users:\n  alice: "
	     "$2b$99$abcdefghijklmnopqrstuu5Mc0oxvQ1y.AnS3TiCm2R4tcHhW5dK6\n",
	     "2: basic_auth_users: alice: not a bcrypt hash ($2a$, $2b$ or $2y$)"},
	    {"basic_auth_users:\n\n  alice:\n    nested: x\n",
	     "4: basic_auth_users: alice: not a bcrypt hash ($2a$, $2b$ or $2y$)"},
	    {"basic_auth_users:\n  a:b: x\n",
	     "2: basic_auth_users: \"a:b\": a user name must be non-empty and have no ':'"},
	    {"basic_auth_users: [alice]\n", "1: basic_auth_users: want a mapping"},
	    {"basic_auth_users:\n  ? [a, b]\n  : x\n", "2: basic_auth_users: keys must be strings"},
	    {"tls_server_config:\n  cert_file: [unclosed\n", "3: did not find expected ',' or ']'"},
	    {"a: b\n\tc: d\n", "2: found a tab character that violates indentation"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strncmp(cases[i].yaml, "%s", 2) == 0)
			snprintf(yaml, sizeof(yaml), "%s%s", tls_head, cases[i].yaml + 2);
		else
			snprintf(yaml, sizeof(yaml), "%s", cases[i].yaml);
		scratch_file(s, "web.yml", yaml);
		if (cases[i].want)
			snprintf(want, sizeof(want), "%s:%s", s->config, cases[i].want);
		else
			snprintf(want, sizeof(want),
				 "%s:2: cert_file: cannot read %s/notpem.txt: no "
				 "PEM data",
				 s->config, s->dir);
		strcpy(err, "");
		if (webconfig__load(s->config, &cfg, err, sizeof(err)) != -1)
			fail_msg("case %zu loaded:\n%s", i, yaml);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, err, want);
		/* A failed load leaves nothing to free behind. */
		assert_null(cfg.users);
		assert_null(cfg.cert_pem);
	}
}

static void test_load_unreadable_files(void **state)
{
	struct scratch *s = *state;
	struct web_config cfg;
	char want[512], err[512] = "";

	scratch_file(s, "web.yml",
		     "tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: missing/server.key\n");
	assert_int_equal(webconfig__load(s->config, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: key_file: cannot read %s/missing/server.key: No such file or directory",
		 s->config, s->dir);
	assert_string_equal(err, want);
	/* Absolute paths are taken as they are. */
	scratch_file(s, "web.yml", "tls_server_config:\n  cert_file: /nonexistent/x.crt\n");
	assert_int_equal(webconfig__load(s->config, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:2: cert_file: cannot read /nonexistent/x.crt: No such file or directory",
		 s->config);
	assert_string_equal(err, want);
	assert_int_equal(webconfig__load("/nonexistent/web.yml", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/web.yml: No such file or directory");
	assert_int_equal(webconfig__load(s->dir, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, s->dir));
}

static void test_fixture_passwords(void **state)
{
	struct web_config cfg;
	char err[512] = "";

	(void)state;
	if (webconfig__load(FIXTURES "/valid.yml", &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(webconfig__check_password(&cfg, "alice", "secret"));
	assert_true(webconfig__check_password(&cfg, "bob", "hunter2"));
	assert_false(webconfig__check_password(&cfg, "alice", "hunter2"));
	assert_false(webconfig__check_password(&cfg, "bob", "secret"));
	assert_false(webconfig__check_password(&cfg, "alice", "secret "));
	assert_false(webconfig__check_password(&cfg, "alice", ""));
	assert_false(webconfig__check_password(&cfg, "alice", NULL));
	assert_false(webconfig__check_password(&cfg, "Alice", "secret"));
	assert_false(webconfig__check_password(&cfg, "carol", "secret"));
	assert_false(webconfig__check_password(&cfg, NULL, "secret"));
	assert_false(webconfig__check_password(&cfg, "", ""));
	/* Nobody's password is the dummy's. */
	assert_false(webconfig__check_password(&cfg, "carol", "kvscope-unknown-user"));
	webconfig__free(&cfg);
}

/* A bcrypt hash of `password` made now, at `cost`. */
static void make_hash(const char *password, unsigned long cost, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn("$2b$", cost, NULL, 0, salt, sizeof(salt)));
	h = crypt_rn(password, salt, cd, sizeof(*cd));
	assert_non_null(h);
	assert_int_not_equal(h[0], '*');
	snprintf(out, outlen, "%s", h);
	free(cd);
}

static void load_users(struct scratch *s, const char *hash_a, const char *hash_b,
		       struct web_config *cfg)
{
	char yaml[512], err[512] = "";

	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n  bob: \"%s\"\n", hash_a,
		 hash_b);
	scratch_file(s, "web.yml", yaml);
	if (webconfig__load(s->config, cfg, err, sizeof(err)))
		fail_msg("%s", err);
}

static void test_generated_hashes(void **state)
{
	struct scratch *s = *state;
	char a[128], b[128];
	struct web_config cfg;

	make_hash("correct horse", 10, a, sizeof(a));
	make_hash("battery staple", 4, b, sizeof(b));
	load_users(s, a, b, &cfg);
	assert_true(webconfig__check_password(&cfg, "alice", "correct horse"));
	assert_true(webconfig__check_password(&cfg, "bob", "battery staple"));
	assert_false(webconfig__check_password(&cfg, "alice", "battery staple"));
	assert_false(webconfig__check_password(&cfg, "bob", "correct horse"));
	assert_memory_equal(cfg.dummy_hash, "$2b$10$", 7);
	webconfig__free(&cfg);
}

/*
 * Right password, wrong password, unknown user and no credentials at all
 * cost the same: exactly one bcrypt each, of the same cost (counted, not
 * timed: a timed test fails on a busy machine). A pair verified once is
 * then answered from the cache without a bcrypt.
 */
static void test_every_check_costs_one_bcrypt(void **state)
{
	struct scratch *s = *state;
	static const struct {
		const char *user, *password;
		bool ok;
	} cases[] = {
	    {"alice", "correct horse", true},
	    {"alice", "wrong horse", false},
	    {"mallory", "correct horse", false},
	    {NULL, NULL, false},
	    {"alice", NULL, false},
	    {"", "", false},
	};
	struct web_auth_stats before, after;
	char a[128], b[128];
	struct web_config cfg;

	make_hash("correct horse", 6, a, sizeof(a));
	make_hash("other", 6, b, sizeof(b));
	load_users(s, a, b, &cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		webconfig__auth_stats(&cfg, &before);
		assert_int_equal(webconfig__check_password(&cfg, cases[i].user, cases[i].password),
				 cases[i].ok);
		webconfig__auth_stats(&cfg, &after);
		if (after.bcrypts - before.bcrypts != 1 || after.last_cost != 6)
			fail_msg("case %zu: %lu bcrypts of cost %d, want 1 of cost 6", i,
				 after.bcrypts - before.bcrypts, after.last_cost);
		assert_int_equal(after.cache_hits, before.cache_hits);
	}
	/* verified once: the same pair again costs no bcrypt */
	webconfig__auth_stats(&cfg, &before);
	assert_true(webconfig__check_password(&cfg, "alice", "correct horse"));
	webconfig__auth_stats(&cfg, &after);
	assert_int_equal(after.bcrypts, before.bcrypts);
	assert_int_equal(after.cache_hits, before.cache_hits + 1);
	/* ... but a wrong password after it still does */
	assert_false(webconfig__check_password(&cfg, "alice", "correct horse "));
	assert_false(webconfig__check_password(&cfg, "bob", "correct horse"));
	webconfig__auth_stats(&cfg, &after);
	assert_int_equal(after.bcrypts, before.bcrypts + 2);
	webconfig__free(&cfg);
}

/* Holds bcrypt slots open until told, so the limit can be seen. */
static sem_t entered, release;

static void hold_slot(void)
{
	sem_post(&entered);
	sem_wait(&release);
}

struct checker {
	struct web_config *cfg;
	enum web_auth_result result;
};

static void *check_in_thread(void *arg)
{
	struct checker *c = arg;

	c->result = webconfig__authenticate(c->cfg, "alice", "wrong");
	return NULL;
}

/* With every bcrypt slot taken, a check runs none and says busy; a verified pair still passes. */
static void test_bcrypts_are_limited(void **state)
{
	struct scratch *s = *state;
	struct checker c[WEB_AUTH_MAX_BCRYPTS];
	pthread_t t[WEB_AUTH_MAX_BCRYPTS];
	struct web_auth_stats st;
	char a[128], b[128];
	struct web_config cfg;

	make_hash("secret", 4, a, sizeof(a));
	make_hash("other", 4, b, sizeof(b));
	load_users(s, a, b, &cfg);
	assert_true(webconfig__check_password(&cfg, "alice", "secret"));
	sem_init(&entered, 0, 0);
	sem_init(&release, 0, 0);
	webconfig__bcrypt_hook = hold_slot;
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++) {
		c[i] = (struct checker){.cfg = &cfg};
		assert_int_equal(pthread_create(&t[i], NULL, check_in_thread, &c[i]), 0);
		sem_wait(&entered);
	}
	assert_int_equal(webconfig__authenticate(&cfg, "mallory", "x"), WEB_AUTH_BUSY);
	assert_int_equal(webconfig__authenticate(&cfg, "alice", "secret"), WEB_AUTH_OK);
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++)
		sem_post(&release);
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].result, WEB_AUTH_DENIED);
	}
	webconfig__bcrypt_hook = NULL;
	webconfig__auth_stats(&cfg, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.bcrypts, 1 + WEB_AUTH_MAX_BCRYPTS);
	/* slots given back: checks run again */
	assert_int_equal(webconfig__authenticate(&cfg, "mallory", "x"), WEB_AUTH_DENIED);
	sem_destroy(&entered);
	sem_destroy(&release);
	webconfig__free(&cfg);
}

/* A cost-31 hash would make start-up and every failed login take days. */
static void test_bcrypt_cost_capped(void **state)
{
	struct scratch *s = *state;
	struct web_config cfg;
	char err[512];
	const char *salt_and_hash = "abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234";

	char text[256];

	snprintf(text, sizeof(text), "basic_auth_users:\n  alice: $2b$31$%s\n", salt_and_hash);
	write_file(s->config, text);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(webconfig__load(s->config, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bcrypt cost 31 is over 16"));
	assert_non_null(strstr(err, "web.yml:2:"));
}

static void test_tls_version_names(void **state)
{
	(void)state;
	assert_string_equal(webconfig__tls_version_name(WEB_TLS10), "TLS10");
	assert_string_equal(webconfig__tls_version_name(WEB_TLS13), "TLS13");
	assert_null(webconfig__tls_version_name((enum web_tls_version)9));
	assert_null(webconfig__tls_version_name((enum web_tls_version)14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_valid_fixture),
	    cmocka_unit_test(test_load_empty),
	    cmocka_unit_test_setup_teardown(test_load_defaults_and_nulls, scratch_setup,
					    scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_load_errors, scratch_setup, scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_load_unreadable_files, scratch_setup,
					    scratch_teardown),
	    cmocka_unit_test(test_fixture_passwords),
	    cmocka_unit_test_setup_teardown(test_generated_hashes, scratch_setup, scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_every_check_costs_one_bcrypt, scratch_setup,
					    scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_bcrypts_are_limited, scratch_setup,
					    scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_bcrypt_cost_capped, scratch_setup,
					    scratch_teardown),
	    cmocka_unit_test(test_tls_version_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
