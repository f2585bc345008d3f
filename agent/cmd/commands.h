/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVSCOPE_COMMANDS_H
#define KVSCOPE_COMMANDS_H

#include "cmd/cli.h"

/* The daemon: discovery, attach, and the metrics endpoint until a signal. */
int cmd_run(const struct config *cfg);
/* Prints what the kernel offers and the hooks kvscope would use; 0 when it can run. */
int cmd_check(const struct config *cfg);
/* Latency histograms per interval on the terminal, and slow requests one by one. */
int cmd_trace(const struct config *cfg);
/* Lists the probe sites for a binary or a process. */
int cmd_probes(const struct config *cfg);

#endif
