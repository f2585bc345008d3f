// SPDX-License-Identifier: Apache-2.0
/*
 * kvscope: watches store processes with uprobes and serves Prometheus
 * metrics. Subcommands are in cmds[]; the daemon is the default.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "common/log.h"

static const struct cmd {
	enum cli_command command;
	int (*run)(const struct config *cfg);
} cmds[] = {
    {CMD_RUN, cmd_run},
    {CMD_PROBES, cmd_probes},
    {CMD_CHECK, cmd_check},
    {CMD_TRACE, cmd_trace},
};

int main(int argc, char **argv)
{
	struct config cfg;
	char err[256];

	/*
	 * A fixed threshold: glibc would otherwise raise it after the first large
	 * free and keep later large buffers in a heap it never returns.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	if (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "kvscope: %s\n", err);
		cli_usage(stderr);
		return 2;
	}
	if (cfg.command == CMD_HELP) {
		cli_usage(stdout);
		return 0;
	}
	if (cfg.command == CMD_VERSION) {
		printf("kvscope, version %s (revision: %s)\n", KVSCOPE_VERSION, KVSCOPE_REVISION);
		return 0;
	}
	log_setup(cfg.log_level, cfg.log_format);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (cmds[i].command == cfg.command)
			return cmds[i].run(&cfg);
	}
	return 2;
}
