// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "discover/procevents.h"
#include "procevents.skel.h"

struct procevents {
	struct procevents_bpf *skel;
	struct ring_buffer *rb;
	int seen;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct procevents *pe = ctx;

	(void)data;
	(void)len;
	pe->seen++;
	return 0;
}

int procevents__open(struct procevents **out, char *err, unsigned long errlen)
{
	struct procevents *pe = calloc(1, sizeof(*pe));
	int rc;

	if (!pe) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pe->skel = procevents_bpf__open_and_load();
	if (!pe->skel) {
		snprintf(err, errlen, "cannot load: %s", strerror(errno));
		goto free_pe;
	}
	rc = procevents_bpf__attach(pe->skel);
	if (rc) {
		snprintf(err, errlen, "cannot attach: %s", strerror(-rc));
		goto destroy_skel;
	}
	pe->rb = ring_buffer__new(bpf_map__fd(pe->skel->maps.events), on_event, pe, NULL);
	if (!pe->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		goto destroy_skel;
	}
	*out = pe;
	return 0;
destroy_skel:
	procevents_bpf__destroy(pe->skel);
free_pe:
	free(pe);
	return -1;
}

void procevents__close(struct procevents *pe)
{
	if (!pe)
		return;
	ring_buffer__free(pe->rb);
	procevents_bpf__destroy(pe->skel);
	free(pe);
}

int procevents__wait(struct procevents *pe, int timeout_ms)
{
	int rc;

	pe->seen = 0;
	rc = ring_buffer__poll(pe->rb, timeout_ms);
	if (rc < 0 && rc != -EINTR)
		return -1;
	return pe->seen;
}
