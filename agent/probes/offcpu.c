// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "probes/offcpu.h"
#include "offcpu.skel.h"

struct offcpu_ctx {
	struct offcpu_bpf *skel;
};

int offcpu__open(struct attach_ctx *ac, struct offcpu_ctx **out, char *err, size_t errlen)
{
	struct offcpu_ctx *oc = calloc(1, sizeof(*oc));
	int rc;

	if (!oc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	oc->skel = offcpu_bpf__open();
	if (!oc->skel) {
		snprintf(err, errlen, "cannot open the sched_switch probe: %s", strerror(errno));
		goto free_ctx;
	}
	rc = attach__share_maps(ac, oc->skel->maps.watched, oc->skel->maps.inflight);
	if (!rc)
		rc = offcpu_bpf__load(oc->skel);
	if (!rc)
		rc = offcpu_bpf__attach(oc->skel);
	if (rc) {
		snprintf(err, errlen, "sched_switch probe: %s", strerror(-rc));
		goto destroy_skel;
	}
	*out = oc;
	return 0;
destroy_skel:
	offcpu_bpf__destroy(oc->skel);
free_ctx:
	free(oc);
	return -1;
}

void offcpu__close(struct offcpu_ctx *oc)
{
	if (!oc)
		return;
	offcpu_bpf__destroy(oc->skel);
	free(oc);
}
