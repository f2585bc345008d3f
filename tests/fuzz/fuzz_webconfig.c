// SPDX-License-Identifier: Apache-2.0
/*
 * --web.config.file from arbitrary YAML. The config is written into a
 * scratch directory that also holds PEM files the config may name, so the
 * loader's file paths are exercised as well as its YAML checks.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "http/webconfig.h"

/*
 * bcrypt costs 2^cost rounds by design: past this the fuzzer would only
 * measure bcrypt. A hash's cost is the two digits after "$2?$".
 */
#define MAX_FUZZ_COST 5

static const char *const pem_names[] = {"cert.pem", "key.pem", "ca.pem", "empty.pem"};

static char scratch_dir[] = "/tmp/kvscope-fuzz-webconfig-XXXXXX";
static char config_path[sizeof(scratch_dir) + 16];

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		abort();
}

static void scratch_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", scratch_dir, name);
}

static void remove_scratch_dir(void)
{
	char path[sizeof(scratch_dir) + 32];

	for (size_t i = 0; i < sizeof(pem_names) / sizeof(pem_names[0]); i++) {
		scratch_path(pem_names[i], path, sizeof(path));
		unlink(path);
	}
	unlink(config_path);
	rmdir(scratch_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	char path[sizeof(scratch_dir) + 32];

	(void)argc;
	(void)argv;

	if (!mkdtemp(scratch_dir))
		abort();
	atexit(remove_scratch_dir);
	for (size_t i = 0; i < sizeof(pem_names) / sizeof(pem_names[0]); i++) {
		scratch_path(pem_names[i], path, sizeof(path));
		/* all but the last hold PEM data */
		if (i + 1 < sizeof(pem_names) / sizeof(pem_names[0]))
			write_file(path, pem, strlen(pem));
		else
			write_file(path, "", 0);
	}
	scratch_path("web.yml", config_path, sizeof(config_path));
	return 0;
}

/* Paths outside the scratch directory could name devices that block or have side effects. */
static int leaves_scratch_dir(const uint8_t *data, size_t size)
{
	static const char *const outside[] = {"/dev", "/proc", "/sys", "..", "/run", "/var"};

	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		if (memmem(data, size, outside[i], strlen(outside[i])))
			return 1;
	return 0;
}

/* "$2b$NN$" with NN above the cap: skipped. */
static int too_costly(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 6 < size; i++) {
		const uint8_t *h = data + i;

		if (h[0] == '$' && h[1] == '2' && h[3] == '$' && h[4] >= '0' && h[4] <= '9' &&
		    h[5] >= '0' && h[5] <= '9' && (h[4] - '0') * 10 + (h[5] - '0') > MAX_FUZZ_COST)
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_config cfg;
	char err[512];

	if (leaves_scratch_dir(data, size) || too_costly(data, size))
		return 0;
	write_file(config_path, data, size);
	err[0] = '\0';
	if (webconfig__load(config_path, &cfg, err, sizeof(err)) == 0) {
		if (cfg.tls && (!cfg.cert_pem || !cfg.key_pem))
			__builtin_trap(); /* TLS on means both PEMs were read */
		if (webconfig__has_users(&cfg) != (cfg.nusers > 0))
			__builtin_trap();
		if (cfg.nusers) {
			webconfig__check_password(&cfg, cfg.users[0].name, "x");
			webconfig__check_password(&cfg, "nobody", "x");
		}
		webconfig__free(&cfg);
	} else if (!err[0]) {
		__builtin_trap(); /* a rejected config says why */
	}
	return 0;
}
