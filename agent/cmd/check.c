// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include <bpf/libbpf.h>

#include "cmd/commands.h"
#include "cmd/pipeline.h"

/* Sets up the daemon's pipeline with the chosen hook: what a feature table cannot promise. */
static bool objects_load(enum syscall_hook hook, const struct config *cfg, char *err, size_t len)
{
	struct pipeline_opts opts = {.bounds_s = cfg->buckets, .nbounds = cfg->nbuckets};
	struct pipeline p = {0};
	bool ok;

	ok = pipeline__open(&p, cfg, &opts, err, len) == 0 &&
	     (hook == HOOK_NONE || disk__open(p.bpf, hook, &p.disk, err, len) == 0);
	pipeline__close(&p);
	return ok;
}

int cmd_check(const struct config *cfg)
{
	struct kernel_features f;
	const char *blocker;
	char err[256] = "";
	bool loads;

	libbpf_set_print(NULL); /* the verdict below says what failed, in one line */
	hooks__probe(&f);
	hooks__print(stdout, &f);
	blocker = hooks__blocker(&f);
	if (blocker)
		return 1;
	loads = objects_load(hooks__choose(&f), cfg, err, sizeof(err));
	printf("BPF objects load and attach:         %s%s%s\n", loads ? "yes" : "no",
	       loads ? "" : ": ", err);
	return loads ? 0 : 1;
}
