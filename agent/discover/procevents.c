// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "discover/procevents.h"
#include "procevents.skel.h"

/* The kernel's dev_t: 12 bits of major above 20 bits of minor. */
#define KDEV_MINOR_BITS 20

struct procevents {
	struct procevents_bpf *skel;
	struct ring_buffer *rb;
	procevents_fn fn;
	void *ctx;
	int seen;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct procevents *pe = ctx;

	if (len < sizeof(struct kvs_proc_event))
		return 0;
	pe->seen++;
	if (pe->fn)
		pe->fn(pe->ctx, data);
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

int procevents__poll(struct procevents *pe, int timeout_ms, procevents_fn fn, void *ctx)
{
	int rc;

	pe->seen = 0;
	pe->fn = fn;
	pe->ctx = ctx;
	rc = ring_buffer__poll(pe->rb, timeout_ms);
	pe->fn = NULL;
	if (rc < 0 && rc != -EINTR)
		return -1;
	return pe->seen;
}

void procevents__ignore(struct procevents *pe, const struct kvs_exe_key *exe)
{
	__u8 one = 1;

	/* an LRU map: when full, the executable least recently exec'd goes */
	bpf_map_update_elem(bpf_map__fd(pe->skel->maps.ignored), exe, &one, BPF_ANY);
}

void procevents__track(struct procevents *pe, pid_t pid, bool on)
{
	int fd = bpf_map__fd(pe->skel->maps.tracked);
	__u32 tgid = (__u32)pid;
	__u8 one = 1;

	if (on)
		bpf_map_update_elem(fd, &tgid, &one, BPF_ANY);
	else
		bpf_map_delete_elem(fd, &tgid);
}

uint64_t procevents__lost(const struct procevents *pe)
{
	return __atomic_load_n(&pe->skel->bss->lost, __ATOMIC_RELAXED);
}

bool procevents__same_file(const struct kvs_exe_key *exe, dev_t st_dev, ino_t st_ino)
{
	unsigned maj = exe->dev >> KDEV_MINOR_BITS;
	unsigned min = exe->dev & ((1u << KDEV_MINOR_BITS) - 1);

	return exe->ino == (uint64_t)st_ino && maj == major(st_dev) && min == minor(st_dev);
}
