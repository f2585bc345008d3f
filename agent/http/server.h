/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics endpoint (libmicrohttpd): telemetry path, landing page at `/`,
 * `/healthz` and `/ready` (without basic auth: they tell nothing); gzip
 * when the client accepts it; bounded connections and timeouts so a
 * hostile client cannot starve the others.
 */
#ifndef KVSCOPE_HTTP_H
#define KVSCOPE_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#include "metrics/expo.h"
#include "http/webconfig.h"

/* Fills `out` with the whole exposition; called on the server's thread. */
typedef void (*http_render_fn)(void *ctx, struct expo *out);

struct http_options {
	const char *listen_address; /* ":2112", "127.0.0.1:2112", "[::1]:2112" */
	const char *telemetry_path; /* "/metrics" */
	unsigned max_connections;   /* 0: default */
	unsigned timeout_s;	    /* 0: default */
	/*
	 * --web.config.file: TLS and basic auth on every path. NULL: plain
	 * HTTP, open to all. Must outlive the server.
	 */
	const struct web_config *web;
};

struct http_server;

/* Splits "host:port"; host may be empty (all addresses) or bracketed IPv6. */
int http_parse_listen_address(const char *addr, char *host, size_t hostlen, unsigned *port);

int http_server__start(const struct http_options *opts, http_render_fn render, void *ctx,
		       struct http_server **out, char *err, size_t errlen);
/* /ready answers 200 from now on (503 before): the agent has looked for its targets. */
void http_server__set_ready(struct http_server *srv);
/* The thread that renders the exposition, the only one of the server's with capabilities. */
pid_t http_server__renderer_tid(const struct http_server *srv);
/* The TCP port the server listens on (useful after binding port 0). */
unsigned http_server__port(const struct http_server *srv);
void http_server__stop(struct http_server *srv);

#endif
