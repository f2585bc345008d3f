// SPDX-License-Identifier: Apache-2.0
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http/deadline.h"

struct entry {
	struct entry *prev, *next;
	int fd;
	double deadline;
	bool shut;
};

struct http_deadlines {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool stop;
	unsigned limit_s;
	struct entry head; /* circular list sentinel */
	unsigned long expired;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The socket stays open until the server closes it, after closed() ran. */
static void expire_overdue(struct http_deadlines *d)
{
	double now = now_s();

	for (struct entry *e = d->head.next; e != &d->head; e = e->next) {
		if (!e->shut && now > e->deadline) {
			/* counted first: whoever sees the socket shut sees the count */
			__atomic_fetch_add(&d->expired, 1, __ATOMIC_SEQ_CST);
			shutdown(e->fd, SHUT_RDWR);
			e->shut = true;
		}
	}
}

static void *watchdog(void *arg)
{
	struct http_deadlines *d = arg;
	struct timespec ts;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		expire_overdue(d);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct http_deadlines *http_deadlines__new(unsigned limit_s)
{
	struct http_deadlines *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->limit_s = limit_s;
	d->head.next = d->head.prev = &d->head;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	if (pthread_create(&d->thread, NULL, watchdog, d)) {
		pthread_cond_destroy(&d->wake);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return NULL;
	}
	return d;
}

void http_deadlines__free(struct http_deadlines *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	while (d->head.next != &d->head) {
		struct entry *e = d->head.next;

		d->head.next = e->next;
		free(e);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void http_deadlines__opened(struct http_deadlines *d, int fd, void **slot)
{
	struct entry *e = calloc(1, sizeof(*e));

	*slot = e;
	if (!e)
		return; /* that connection just has no deadline */
	e->fd = fd;
	pthread_mutex_lock(&d->lock);
	e->deadline = now_s() + d->limit_s;
	e->next = &d->head;
	e->prev = d->head.prev;
	d->head.prev->next = e;
	d->head.prev = e;
	pthread_mutex_unlock(&d->lock);
}

void http_deadlines__served(struct http_deadlines *d, void *entry)
{
	struct entry *e = entry;

	if (!e)
		return;
	pthread_mutex_lock(&d->lock);
	e->deadline = now_s() + d->limit_s;
	pthread_mutex_unlock(&d->lock);
}

void http_deadlines__closed(struct http_deadlines *d, void **slot)
{
	struct entry *e = *slot;

	if (!e)
		return;
	pthread_mutex_lock(&d->lock);
	e->prev->next = e->next;
	e->next->prev = e->prev;
	pthread_mutex_unlock(&d->lock);
	free(e);
	*slot = NULL;
}

unsigned long http_deadlines__expired(const struct http_deadlines *d)
{
	return d ? __atomic_load_n(&d->expired, __ATOMIC_SEQ_CST) : 0;
}
