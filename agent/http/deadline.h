/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deadline per connection for delivering a whole request. libmicrohttpd's
 * timeout counts only idle time, so a client sending a header byte every
 * few seconds would hold its connection for hours; enough of them and
 * nobody else is served. A watchdog shuts down connections past their
 * deadline.
 */
#ifndef KVSCOPE_HTTP_DEADLINE_H
#define KVSCOPE_HTTP_DEADLINE_H

struct http_deadlines;

struct http_deadlines *http_deadlines__new(unsigned limit_s);
/* Stops the watchdog; call after the server is stopped. NULL-safe. */
void http_deadlines__free(struct http_deadlines *d);

/* A connection on socket fd opened: *slot holds its entry until it closes. */
void http_deadlines__opened(struct http_deadlines *d, int fd, void **slot);
/* A request on it completed: the next one has limit_s from now. */
void http_deadlines__served(struct http_deadlines *d, void *entry);
void http_deadlines__closed(struct http_deadlines *d, void **slot);

/* Connections shut down for missing their deadline so far. */
unsigned long http_deadlines__expired(const struct http_deadlines *d);

#endif
