// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include "commands.h"

int cmd_trace(const struct config *cfg)
{
	(void)cfg;
	fprintf(stderr, "kvscope: trace is not available in this build\n");
	return 1;
}
