// SPDX-License-Identifier: Apache-2.0
/*
 * The command line: the input split at NUL bytes is argv[1..]. cli_parse
 * uses getopt_long's global state, so every run must reset it for the next.
 */
#include <stdint.h>
#include <string.h>

#include "cmd/cli.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

static void check_config(const struct config *cfg)
{
	if (cfg->nbuckets < 1 || cfg->nbuckets > KVS_MAX_BUCKETS || cfg->npids < 0 ||
	    cfg->npids > CLI_MAX_PIDS || cfg->max_targets < 1 || !cfg->listen_address ||
	    !cfg->telemetry_path || cfg->telemetry_path[0] != '/')
		__builtin_trap();
	for (int i = 1; i < cfg->nbuckets; i++)
		if (!(cfg->buckets[i] > cfg->buckets[i - 1]))
			__builtin_trap(); /* bounds strictly ascend */
	for (int i = 0; i < cfg->npids; i++)
		if (cfg->pids[i] <= 0)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size); /* NUL after the last argument */
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	struct config cfg;
	char err[256];

	argv[argc++] = "kvscope";
	for (size_t off = 0; off < size && argc <= MAX_ARGS; off += strlen(text + off) + 1)
		argv[argc++] = text + off;
	argv[argc] = NULL;
	err[0] = '\0';
	if (cli_parse(argc, argv, &cfg, err, sizeof(err)) == 0)
		check_config(&cfg);
	else if (!err[0])
		__builtin_trap(); /* a rejected command line says why */
	free(text);
	return 0;
}
