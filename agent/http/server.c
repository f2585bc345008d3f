// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics endpoint on libmicrohttpd. One internal polling thread serves
 * every connection (four with basic auth); they hold no capability, and a
 * scrape is rendered on the renderer's thread, which keeps them.
 * Connection, per-IP, memory and time limits keep one client from starving
 * the others.
 */
#include "http/server.h"
#include "http/deadline.h"
#include "http/gzip.h"
#include "http/listen.h"
#include "http/renderer.h"
#include "http/tls.h"
#include "common/caps.h"
#include "common/log.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN_ADDRESS	":2112"
#define DEFAULT_TELEMETRY_PATH	"/metrics"
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT_S	10
#define PER_IP_CONNECTION_LIMIT 16
/* Per-connection pool: requests with larger headers are refused. */
#define CONNECTION_MEMORY_LIMIT (32 * 1024)
#define CONTENT_TYPE_EXPOSITION "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT	"text/plain; charset=utf-8"
#define CONTENT_TYPE_HTML	"text/html; charset=utf-8"
#define AUTH_REALM		"kvscope"
/* bcrypt takes tens of milliseconds: checks run on a few threads at once. */
#define AUTH_THREADS 4

struct http_server {
	struct MHD_Daemon *daemon;
	const struct web_config *web;
	http_render_fn render;
	void *render_ctx;
	struct renderer *renderer; /* renders with the capabilities the workers lack */
	char *telemetry_path;
	char *landing_page;
	unsigned port;
	atomic_bool ready;
	char tls_priorities[96];
	/* One exposition reused across scrapes keeps its grown buffer. */
	pthread_mutex_t expo_lock;
	struct expo *expo;
	struct http_deadlines *deadlines;
	/* MHD's diagnostics, one line per kind per interval, not per refused socket */
	pthread_mutex_t log_lock;
	char last_log[512];
	double last_log_at;
	unsigned long log_repeats;
};

struct reply {
	unsigned status;
	const char *content_type;
	const void *body;
	size_t len;
	enum MHD_ResponseMemoryMode mode;
	const char *content_encoding; /* NULL: identity */
	int vary_encoding;
};

static enum MHD_Result send_reply(struct MHD_Connection *conn, const struct reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->len, (void *)(uintptr_t)r->body, r->mode);
	if (!resp) {
		if (r->mode == MHD_RESPMEM_MUST_FREE)
			free((void *)(uintptr_t)r->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->content_encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
					r->content_encoding);
	if (r->vary_encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
					MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct reply r = {
	    .status = status,
	    .content_type = CONTENT_TYPE_TEXT,
	    .body = text,
	    .len = strlen(text),
	    .mode = MHD_RESPMEM_PERSISTENT,
	};

	return send_reply(conn, &r);
}

/* Fills `r` with the exposition, gzipped when the client takes it. */
static int prepare_metrics(struct http_server *srv, struct MHD_Connection *conn, struct reply *r)
{
	const char *accept =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *data;
	void *gz;
	size_t len, gzlen;

	expo__reset(srv->expo);
	renderer__run(srv->renderer, srv->expo);
	if (expo__failed(srv->expo))
		return -1;
	data = expo__data(srv->expo, &len);
	r->status = MHD_HTTP_OK;
	r->content_type = CONTENT_TYPE_EXPOSITION;
	r->vary_encoding = 1;
	if (http_accepts_gzip(accept) && http_gzip(data, len, &gz, &gzlen) == 0) {
		r->body = gz;
		r->len = gzlen;
		r->mode = MHD_RESPMEM_MUST_FREE;
		r->content_encoding = "gzip";
	} else {
		/* The buffer is reused by the next scrape, so MHD copies it. */
		r->body = data;
		r->len = len;
		r->mode = MHD_RESPMEM_MUST_COPY;
	}
	return 0;
}

static enum MHD_Result serve_metrics(struct http_server *srv, struct MHD_Connection *conn)
{
	struct reply r = {0};
	enum MHD_Result ret;

	pthread_mutex_lock(&srv->expo_lock);
	if (prepare_metrics(srv, conn, &r)) {
		pthread_mutex_unlock(&srv->expo_lock);
		log_msg(LOG_ERROR, "rendering metrics failed", NULL);
		return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error rendering metrics\n");
	}
	ret = send_reply(conn, &r);
	pthread_mutex_unlock(&srv->expo_lock);
	return ret;
}

static enum MHD_Result serve_landing(struct http_server *srv, struct MHD_Connection *conn)
{
	struct reply r = {
	    .status = MHD_HTTP_OK,
	    .content_type = CONTENT_TYPE_HTML,
	    .body = srv->landing_page,
	    .len = strlen(srv->landing_page),
	    .mode = MHD_RESPMEM_PERSISTENT,
	};

	return send_reply(conn, &r);
}

/* Basic auth against the web config: every path but the probes, like the exporters. */
static enum web_auth_result authorized(const struct web_config *web, struct MHD_Connection *conn)
{
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(conn, &password);
	enum web_auth_result r;

	/* A missing header costs a bcrypt too: no answer comes back faster. */
	r = webconfig__authenticate(web, user, password);
	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	MHD_free(user);
	return r;
}

/* Every bcrypt slot is taken: answered at once, so scrapes keep their threads. */
static enum MHD_Result send_busy(struct MHD_Connection *conn)
{
	static const char body[] = "429 Too Many Requests: password checks are busy\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ret = MHD_queue_response(conn, MHD_HTTP_TOO_MANY_REQUESTS, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * The orchestrator's probes: they say nothing but whether the agent runs and
 * has looked for its targets, so they need no password (a kubelet has none
 * to give). TLS and client certificates still apply: the handshake comes
 * before any path is read.
 */
static bool is_probe_path(const char *url)
{
	return strcmp(url, "/healthz") == 0 || strcmp(url, "/ready") == 0;
}

static enum MHD_Result serve_probe(struct http_server *srv, struct MHD_Connection *conn,
				   const char *url)
{
	if (strcmp(url, "/healthz") == 0)
		return send_text(conn, MHD_HTTP_OK, "ok\n");
	if (!atomic_load(&srv->ready))
		return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
	return send_text(conn, MHD_HTTP_OK, "ready\n");
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *conn)
{
	static const char body[] = "401 Unauthorized\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE_TEXT);
	ret = MHD_queue_basic_auth_fail_response(conn, AUTH_REALM, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct http_server *srv = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (!http_tls__client_ok(srv->web, conn))
		return send_text(conn, MHD_HTTP_FORBIDDEN, "client certificate required\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (is_probe_path(url) && strcmp(url, srv->telemetry_path) != 0)
		return serve_probe(srv, conn, url);
	if (webconfig__has_users(srv->web)) {
		enum web_auth_result r = authorized(srv->web, conn);

		if (r == WEB_AUTH_BUSY)
			return send_busy(conn);
		if (r != WEB_AUTH_OK)
			return send_unauthorized(conn);
	}
	if (strcmp(url, srv->telemetry_path) == 0)
		return serve_metrics(srv, conn);
	if (strcmp(url, "/") == 0)
		return serve_landing(srv, conn);
	return send_text(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
}

#define LOG_REPEAT_S 10

static double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * MHD's diagnostics go to the agent's log; the same message again within
 * LOG_REPEAT_S is counted, not written (a flood of refused sockets is one line).
 */
static void log_mhd_message(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char line[512], repeats[32];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	pthread_mutex_lock(&srv->log_lock);
	double now = monotonic_s();

	if (strcmp(line, srv->last_log) == 0 && now - srv->last_log_at < LOG_REPEAT_S) {
		srv->log_repeats++;
		pthread_mutex_unlock(&srv->log_lock);
		return;
	}
	snprintf(repeats, sizeof(repeats), "%lu", srv->log_repeats);
	if (srv->log_repeats)
		log_msg(LOG_WARN, "http server", "detail", srv->last_log, "repeated", repeats,
			NULL);
	snprintf(srv->last_log, sizeof(srv->last_log), "%s", line);
	srv->last_log_at = now;
	srv->log_repeats = 0;
	pthread_mutex_unlock(&srv->log_lock);
	log_msg(LOG_WARN, "http server", "detail", line, NULL);
}

static const char *html_entity(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	default:
		return NULL;
	}
}

/* `s` with HTML's special characters escaped, in a new buffer. */
static char *html_escape(const char *s)
{
	size_t len = strlen(s);
	char *out, *p;

	if (len > (SIZE_MAX - 1) / 6) /* "&quot;" is the longest entity */
		return NULL;
	out = p = malloc(len * 6 + 1);
	if (!out)
		return NULL;
	for (; *s; s++) {
		const char *ent = html_entity(*s);
		size_t n = ent ? strlen(ent) : 1;

		memcpy(p, ent ? ent : s, n);
		p += n;
	}
	*p = '\0';
	return out;
}

static char *build_landing_page(const char *telemetry_path)
{
	static const char fmt[] = "<!DOCTYPE html>\n<html>\n<head><title>kvscope</title></head>\n"
				  "<body>\n<h1>kvscope</h1>\n"
				  "<p><a href=\"%s\">Metrics</a></p>\n</body>\n</html>\n";
	char *path = html_escape(telemetry_path), *page = NULL;

	if (path && asprintf(&page, fmt, path) < 0)
		page = NULL;
	free(path);
	return page;
}

static void server_free(struct http_server *srv)
{
	if (!srv)
		return;
	http_deadlines__free(srv->deadlines);
	renderer__stop(srv->renderer);
	expo__free(srv->expo);
	free(srv->landing_page);
	free(srv->telemetry_path);
	pthread_mutex_destroy(&srv->expo_lock);
	pthread_mutex_destroy(&srv->log_lock);
	free(srv);
}

static struct http_server *server_new(const char *telemetry_path, http_render_fn render, void *ctx)
{
	struct http_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	pthread_mutex_init(&srv->expo_lock, NULL);
	pthread_mutex_init(&srv->log_lock, NULL);
	srv->render = render;
	srv->render_ctx = ctx;
	srv->expo = expo__new();
	srv->telemetry_path = strdup(telemetry_path);
	srv->landing_page = build_landing_page(telemetry_path);
	if (!srv->expo || !srv->telemetry_path || !srv->landing_page ||
	    renderer__start(&srv->renderer, render, ctx)) {
		server_free(srv);
		return NULL;
	}
	return srv;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *fd;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_deadlines__closed(srv->deadlines, socket_ctx);
		return;
	}
	if (srv->web && srv->web->tls)
		http_tls__on_connection(srv->web, conn);
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (fd)
		http_deadlines__opened(srv->deadlines, fd->connect_fd, socket_ctx);
}

/* A request was answered: the connection has a new deadline for the next one. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ctx;

	(void)req_cls;
	(void)code;
	ctx = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ctx)
		http_deadlines__served(srv->deadlines, ctx->socket_context);
}

/* Room for the TLS options, the thread pool, the notifications and the terminator. */
#define MAX_EXTRA_OPTIONS 10

/* MHD options for TLS (cert, key, client CA, versions); how many, or -1. */
static int tls_options(struct http_server *srv, struct MHD_OptionItem *o)
{
	const struct web_config *web = srv->web;
	int n = 0;

	if (http_tls__priorities(web, srv->tls_priorities, sizeof(srv->tls_priorities)))
		return -1;
	o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, web->cert_pem};
	o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, web->key_pem};
	o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, srv->tls_priorities};
	if (web->client_ca_pem)
		o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, web->client_ca_pem};
	return n;
}

static struct MHD_Daemon *start_daemon(struct http_server *srv, int listen_fd,
				       const struct http_options *opts)
{
	unsigned max_conns =
	    opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
	unsigned timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	unsigned per_ip = max_conns < PER_IP_CONNECTION_LIMIT ? max_conns : PER_IP_CONNECTION_LIMIT;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem extra[MAX_EXTRA_OPTIONS] = {{MHD_OPTION_END, 0, NULL}};
	int n = 0;

	if (srv->web && srv->web->tls) {
		n = tls_options(srv, extra);
		if (n < 0)
			return NULL;
		flags |= MHD_USE_TLS;
	}
	if (webconfig__has_users(srv->web))
		extra[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, AUTH_THREADS, NULL};
	extra[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv};
	extra[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
	extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	srv->deadlines = http_deadlines__new(timeout_s);
	if (!srv->deadlines)
		return NULL;
	return MHD_start_daemon(
	    flags, 0, NULL, NULL, handle_request, srv, MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message,
	    srv, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_LIMIT, max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT, MHD_OPTION_ARRAY,
	    extra, MHD_OPTION_END);
}

struct daemon_start {
	struct http_server *srv;
	int listen_fd;
	const struct http_options *opts;
	struct MHD_Daemon *daemon;
	char err[160];
};

/*
 * Runs on a thread of its own that first gives up every capability: the
 * threads MHD starts from here (the workers that parse requests, TLS
 * handshakes and passwords, and the deadline watchdog) inherit none.
 */
static void *start_unprivileged(void *arg)
{
	struct daemon_start *ds = arg;

	if (caps__drop_thread(ds->err, sizeof(ds->err)) == 0)
		ds->daemon = start_daemon(ds->srv, ds->listen_fd, ds->opts);
	return NULL;
}

static struct MHD_Daemon *start_daemon_unprivileged(struct http_server *srv, int listen_fd,
						    const struct http_options *opts, char *err,
						    size_t errlen)
{
	struct daemon_start ds = {.srv = srv, .listen_fd = listen_fd, .opts = opts};
	pthread_t t;

	if (pthread_create(&t, NULL, start_unprivileged, &ds)) {
		snprintf(err, errlen, "http: cannot start a thread");
		return NULL;
	}
	pthread_join(t, NULL);
	if (!ds.daemon)
		snprintf(err, errlen, "%s", ds.err[0] ? ds.err : "cannot start the HTTP server");
	return ds.daemon;
}

pid_t http_server__renderer_tid(const struct http_server *srv)
{
	return srv && srv->renderer ? renderer__tid(srv->renderer) : 0;
}

int http_server__start(const struct http_options *opts, http_render_fn render, void *ctx,
		       struct http_server **out, char *err, size_t errlen)
{
	const char *addr =
	    opts && opts->listen_address ? opts->listen_address : DEFAULT_LISTEN_ADDRESS;
	const char *path =
	    opts && opts->telemetry_path ? opts->telemetry_path : DEFAULT_TELEMETRY_PATH;
	const struct http_options none = {0};
	struct http_server *srv;
	char why[192];
	int fd;

	if (!render || !out) {
		snprintf(err, errlen, "http: no render callback or result pointer");
		return -1;
	}
	if (path[0] != '/') {
		snprintf(err, errlen, "http: telemetry path must start with '/': \"%s\"", path);
		return -1;
	}
	srv = server_new(path, render, ctx);
	if (!srv) {
		snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	fd = http_listen__open(addr, err, errlen);
	if (fd < 0)
		goto err_free;
	srv->port = http_listen__port(fd);
	srv->web = opts ? opts->web : NULL;
	srv->daemon = start_daemon_unprivileged(srv, fd, opts ? opts : &none, why, sizeof(why));
	if (!srv->daemon) {
		snprintf(err, errlen, "listen %s: %s", addr, why);
		close(fd);
		goto err_free;
	}
	*out = srv;
	return 0;
err_free:
	server_free(srv);
	return -1;
}

void http_server__set_ready(struct http_server *srv)
{
	if (srv)
		atomic_store(&srv->ready, true);
}

unsigned http_server__port(const struct http_server *srv)
{
	return srv ? srv->port : 0;
}

void http_server__stop(struct http_server *srv)
{
	if (!srv)
		return;
	/* Also closes the listening socket handed to the daemon. */
	MHD_stop_daemon(srv->daemon);
	server_free(srv);
}
