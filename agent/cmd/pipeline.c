// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include "cmd/pipeline.h"
#include "common/errmsg.h"
#include "common/log.h"

static struct target_policy policy_of(const struct config *cfg)
{
	return (struct target_policy){.pids = cfg->pids,
				      .npids = cfg->npids,
				      .uids = cfg->uids,
				      .nuids = cfg->nuids,
				      .exe_globs = cfg->exe_globs,
				      .nexe = cfg->nexe,
				      .cgroup_globs = cfg->cgroup_globs,
				      .ncgroup = cfg->ncgroup,
				      .name_globs = cfg->name_globs,
				      .nname = cfg->nname};
}

/* Cgroup globs name the host's paths: see them as the host does, not from a pod's namespace. */
static void host_cgroup_view(const struct config *cfg)
{
	char err[256];

	if (cfg->ncgroup && policy__host_cgroup_view(cfg->procfs, err, sizeof(err)))
		log_msg(LOG_WARN, "cgroup paths are seen from kvscope's own cgroup namespace",
			"err", err, NULL);
}

int pipeline__open(struct pipeline *p, const struct config *cfg, const struct pipeline_opts *o,
		   char *err, size_t errlen)
{
	struct target_policy policy = policy_of(cfg);
	char why[512];

	host_cgroup_view(cfg);
	if (catalog__load(&p->catalog, cfg->profile_dir, false))
		return errmsg(err, errlen, "cannot load profiles");
	target_table__init(&p->targets, cfg->max_targets);
	if (attach__open_slow(o->bounds_s, o->nbounds, o->slow_s, &p->bpf, why, sizeof(why)))
		return errmsg(err, errlen, "cannot load BPF programs: %s", why);
	attach__catalog_labels(p->bpf, &p->catalog);
	p->binaries = binary_cache__new(&p->catalog);
	if (!p->binaries)
		return errmsg(err, errlen, "out of memory for the binary cache");
	discovery__init(&p->discovery, &p->targets, &p->catalog, p->binaries, p->bpf, cfg->procfs,
			&policy);
	return 0;
}

int pipeline__open_disk(struct pipeline *p, struct kernel_features *f, enum syscall_hook *hook,
			char *err, size_t errlen)
{
	return disk__open_best(p->bpf, &p->catalog, f, hook, &p->disk, err, errlen);
}

void pipeline__close(struct pipeline *p)
{
	discovery__close(&p->discovery);
	target_table__free(&p->targets);
	disk__close(p->disk);
	binary_cache__free(p->binaries);
	attach__close(p->bpf);
	catalog__free(&p->catalog);
	*p = (struct pipeline){0};
}
