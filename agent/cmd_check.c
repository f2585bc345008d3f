// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "commands.h"
#include "disk.h"
#include "hooks.h"

/* Loads the real objects with the chosen hooks: what a feature table cannot promise. */
static bool objects_load(enum syscall_hook hook, const struct config *cfg, char *err, size_t len)
{
	struct attach_ctx *ac = NULL;
	struct disk_ctx *dc = NULL;
	bool ok;

	if (attach__open(cfg->buckets, cfg->nbuckets, &ac, err, len))
		return false;
	ok = hook == HOOK_NONE || disk__open(ac, hook, &dc, err, len) == 0;
	disk__close(dc);
	attach__close(ac);
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
