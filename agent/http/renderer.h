/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exposition is rendered on a thread of its own, which keeps the
 * agent's capabilities: reading a target's files through /proc/PID/cwd
 * needs them. The threads that read requests from the network hold none;
 * they hand the renderer a buffer and wait. Rendering takes nothing from a
 * request, so no client input reaches the privileged thread.
 */
#ifndef KVSCOPE_RENDERER_H
#define KVSCOPE_RENDERER_H

#include <sys/types.h>

#include "metrics/expo.h"

typedef void (*renderer_fn)(void *ctx, struct expo *out);

struct renderer;

/* Starts the thread, with the calling thread's capabilities. 0 or -1. */
int renderer__start(struct renderer **out, renderer_fn fn, void *ctx);
/* Renders into `out` on the renderer's thread; returns once it is done. One caller at a time. */
void renderer__run(struct renderer *r, struct expo *out);
/* The renderer thread's id (for tests). */
pid_t renderer__tid(const struct renderer *r);
/* Stops and joins the thread. Accepts NULL. */
void renderer__stop(struct renderer *r);

#endif
