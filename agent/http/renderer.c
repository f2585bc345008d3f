// SPDX-License-Identifier: Apache-2.0
#include "http/renderer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct renderer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	renderer_fn fn;
	void *ctx;
	struct expo *job; /* what to render into; NULL when idle */
	bool stop;
	pid_t tid;
};

static void *render_loop(void *arg)
{
	struct renderer *r = arg;

	pthread_mutex_lock(&r->lock);
	r->tid = gettid();
	pthread_cond_broadcast(&r->done);
	for (;;) {
		while (!r->job && !r->stop)
			pthread_cond_wait(&r->wake, &r->lock);
		if (r->stop)
			break;
		struct expo *out = r->job;

		pthread_mutex_unlock(&r->lock);
		r->fn(r->ctx, out);
		pthread_mutex_lock(&r->lock);
		r->job = NULL;
		pthread_cond_broadcast(&r->done);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int renderer__start(struct renderer **out, renderer_fn fn, void *ctx)
{
	struct renderer *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->fn = fn;
	r->ctx = ctx;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->done, NULL);
	if (pthread_create(&r->thread, NULL, render_loop, r)) {
		free(r);
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->tid)
		pthread_cond_wait(&r->done, &r->lock);
	pthread_mutex_unlock(&r->lock);
	*out = r;
	return 0;
}

void renderer__run(struct renderer *r, struct expo *out)
{
	pthread_mutex_lock(&r->lock);
	r->job = out;
	pthread_cond_signal(&r->wake);
	while (r->job)
		pthread_cond_wait(&r->done, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

pid_t renderer__tid(const struct renderer *r)
{
	return r->tid;
}

void renderer__stop(struct renderer *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	pthread_cond_destroy(&r->done);
	free(r);
}
