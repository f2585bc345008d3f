/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sched_switch probe that adds off-CPU time to the open requests of
 * thread-keyed stores (see bpf/offcpu.bpf.c). Shares the `watched` and
 * `inflight` maps of the request probes it is opened with.
 */
#ifndef KVSCOPE_OFFCPU_H
#define KVSCOPE_OFFCPU_H

#include <stddef.h>

#include "probes/attach.h"

struct offcpu_ctx;

int offcpu__open(struct attach_ctx *ac, struct offcpu_ctx **out, char *err, size_t errlen);
void offcpu__close(struct offcpu_ctx *oc);

#endif
