// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "expo.h"
#include "http.h"
#include "http_gzip.h"

#define IO_TIMEOUT_S 5

/* What the test server renders: a scrape counter, then `filler` samples. */
struct render_ctx {
	unsigned scrapes;
	unsigned filler;
};

static void render_known(void *ctx, struct expo *out)
{
	struct render_ctx *rc = ctx;
	const struct label l[] = {{"k", "v"}};

	rc->scrapes++;
	expo__family(out, "kvscope_test_scrapes_total", "counter", "Scrapes served.");
	expo__sample_u64(out, "kvscope_test_scrapes_total", l, 1, rc->scrapes);
	for (unsigned i = 0; i < rc->filler; i++)
		expo__sample_u64(out, "kvscope_test_filler_with_a_rather_long_name", NULL, 0, i);
}

struct response {
	int status; /* 0: connection closed without a status line */
	char *raw;
	size_t raw_len;
	const char *body;
	size_t body_len;
};

static void response_free(struct response *r)
{
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

static int connect_loopback(unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Sends everything it can; the peer may hang up first. */
static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads to EOF (or reset), then splits status, headers and body. */
static void read_response(int fd, struct response *r)
{
	size_t cap = 65536;
	char *end;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->raw = malloc(cap);
	assert_non_null(r->raw);
	while ((n = recv(fd, r->raw + r->raw_len, cap - r->raw_len - 1, 0)) > 0) {
		r->raw_len += (size_t)n;
		if (cap - r->raw_len - 1 == 0) {
			cap *= 2;
			r->raw = realloc(r->raw, cap);
			assert_non_null(r->raw);
		}
	}
	r->raw[r->raw_len] = '\0';
	if (sscanf(r->raw, "HTTP/1.%*d %d ", &r->status) != 1)
		r->status = 0;
	end = strstr(r->raw, "\r\n\r\n");
	if (end) {
		r->body = end + 4;
		r->body_len = r->raw_len - (size_t)(r->body - r->raw);
	}
}

static void fetch_raw(unsigned port, const char *request, struct response *r)
{
	int fd = connect_loopback(port);

	send_all(fd, request, strlen(request));
	read_response(fd, r);
	close(fd);
}

static void fetch(unsigned port, const char *method, const char *path, const char *extra_headers,
		  struct response *r)
{
	char req[1024];

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method, path,
		 extra_headers ? extra_headers : "");
	fetch_raw(port, req, r);
}

/* The value of header `name`, copied into `out`; NULL when absent. */
static const char *header(const struct response *r, const char *name, char *out, size_t outlen)
{
	size_t namelen = strlen(name);
	const char *line = strstr(r->raw, "\r\n");

	while (line && line + 2 < r->body) {
		line += 2;
		if (strncasecmp(line, name, namelen) == 0 && line[namelen] == ':') {
			const char *v = line + namelen + 1, *eol = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(eol - v), v);
			return out;
		}
		line = strstr(line, "\r\n");
	}
	return NULL;
}

struct fixture {
	struct http_server *srv;
	struct render_ctx rc;
	unsigned port;
};

static int server_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct http_options opts = {.listen_address = "127.0.0.1:0", .telemetry_path = "/metrics"};
	char err[256];

	if (!f)
		return -1;
	if (http_server__start(&opts, render_known, &f->rc, &f->srv, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		free(f);
		return -1;
	}
	f->port = http_server__port(f->srv);
	*state = f;
	return f->port ? 0 : -1;
}

static int server_teardown(void **state)
{
	struct fixture *f = *state;

	http_server__stop(f->srv);
	free(f);
	return 0;
}

static void test_metrics_plain(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char v[128];

	fetch(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_null(header(&r, "Content-Encoding", v, sizeof(v)));
	assert_string_equal(r.body, "# HELP kvscope_test_scrapes_total Scrapes served.\n"
				    "# TYPE kvscope_test_scrapes_total counter\n"
				    "kvscope_test_scrapes_total{k=\"v\"} 1\n");
	response_free(&r);
	/* Every scrape renders afresh into the reused buffer. */
	fetch(f->port, "GET", "/metrics?x=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "kvscope_test_scrapes_total{k=\"v\"} 2\n"));
	assert_null(strstr(r.body, "} 1\n"));
	response_free(&r);
}

static void test_metrics_head(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char v[128];

	fetch(f->port, "HEAD", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(header(&r, "Content-Length", v, sizeof(v)));
	assert_true(atoi(v) > 0);
	assert_int_equal(r.body_len, 0);
	response_free(&r);
}

static char *gunzip(const char *data, size_t len, size_t *outlen)
{
	z_stream zs = {0};
	size_t cap = 1 << 24;
	char *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap - 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	out[*outlen] = '\0';
	inflateEnd(&zs);
	return out;
}

static void test_metrics_gzip_round_trip(void **state)
{
	struct fixture *f = *state;
	struct response plain, gz;
	char v[128];
	size_t len;
	char *text;

	f->rc.filler = 50000; /* ~2.5 MB, well past the connection memory limit */
	fetch(f->port, "GET", "/metrics", NULL, &plain);
	assert_int_equal(plain.status, 200);
	assert_true(plain.body_len > 2000000);
	fetch(f->port, "GET", "/metrics", "Accept-Encoding: deflate, gzip;q=0.5\r\n", &gz);
	assert_int_equal(gz.status, 200);
	assert_string_equal(header(&gz, "Content-Encoding", v, sizeof(v)), "gzip");
	assert_string_equal(header(&gz, "Vary", v, sizeof(v)), "Accept-Encoding");
	assert_true(gz.body_len < plain.body_len / 5);
	text = gunzip(gz.body, gz.body_len, &len);
	/* Same exposition but for the scrape counter, one higher. */
	assert_int_equal(len, plain.body_len);
	assert_non_null(strstr(text, "kvscope_test_scrapes_total{k=\"v\"} 2\n"));
	assert_memory_equal(strstr(text, "kvscope_test_filler"),
			    strstr(plain.body, "kvscope_test_filler"),
			    len - (size_t)(strstr(text, "kvscope_test_filler") - text));
	free(text);
	response_free(&plain);
	response_free(&gz);
}

static void test_metrics_gzip_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const refusing[] = {
	    "Accept-Encoding: gzip;q=0\r\n",
	    "Accept-Encoding: identity\r\n",
	    "Accept-Encoding: *;q=0\r\n",
	    "Accept-Encoding: gzip; q=0.000, *\r\n",
	    "",
	};
	struct response r;
	char v[128];

	for (size_t i = 0; i < sizeof(refusing) / sizeof(refusing[0]); i++) {
		fetch(f->port, "GET", "/metrics", refusing[i], &r);
		assert_int_equal(r.status, 200);
		if (header(&r, "Content-Encoding", v, sizeof(v)))
			fail_msg("gzip despite \"%s\"", refusing[i]);
		assert_non_null(strstr(r.body, "# TYPE kvscope_test_scrapes_total counter\n"));
		response_free(&r);
	}
}

static void test_other_routes(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char v[128];

	fetch(f->port, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	response_free(&r);

	fetch(f->port, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	assert_non_null(strstr(r.body, "<a href=\"/metrics\">"));
	response_free(&r);

	fetch(f->port, "GET", "/nope", NULL, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	fetch(f->port, "GET", "/metrics/", NULL, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(f->rc.scrapes, 0);
}

static void test_method_not_allowed(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char v[128];

	fetch_raw(f->port,
		  "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		  "Connection: close\r\n\r\nabc",
		  &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
	response_free(&r);
	fetch(f->port, "DELETE", "/healthz", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
	response_free(&r);
	assert_int_equal(f->rc.scrapes, 0);
}

static void test_oversized_header(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
	size_t big_len = 64 * 1024;
	char *big = malloc(big_len);
	struct response normal, huge;
	int fd;

	assert_non_null(big);
	memset(big, 'a', big_len);
	fd = connect_loopback(f->port);
	send_all(fd, head, strlen(head));
	send_all(fd, big, big_len / 2);
	/* The half-sent giant must not hold up anyone else. */
	fetch(f->port, "GET", "/metrics", NULL, &normal);
	assert_int_equal(normal.status, 200);
	assert_non_null(strstr(normal.body, "kvscope_test_scrapes_total"));
	send_all(fd, big + big_len / 2, big_len - big_len / 2);
	send_all(fd, "\r\n\r\n", 4);
	read_response(fd, &huge);
	close(fd);
	/* Refused with an error status, or the connection is simply dropped. */
	if (huge.status != 0 && huge.status < 400)
		fail_msg("oversized header got status %d", huge.status);
	assert_int_equal(f->rc.scrapes, 1);
	response_free(&normal);
	response_free(&huge);
	free(big);
}

static void test_port_in_use(void **state)
{
	struct fixture *f = *state;
	struct http_options opts = {.telemetry_path = "/metrics"};
	struct http_server *second = NULL;
	char addr[64], want[128], err[256] = "";
	struct render_ctx rc = {0};

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", f->port);
	opts.listen_address = addr;
	assert_int_equal(http_server__start(&opts, render_known, &rc, &second, err, sizeof(err)),
			 -1);
	assert_null(second);
	snprintf(want, sizeof(want), "listen %s: Address already in use", addr);
	assert_string_equal(err, want);
	/* The first server is unaffected. */
	struct response r;
	fetch(f->port, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
}

static void test_start_rejects_bad_options(void **state)
{
	struct http_options opts = {.listen_address = "127.0.0.1", .telemetry_path = "/metrics"};
	struct http_server *srv = NULL;
	struct render_ctx rc = {0};
	char err[256] = "";

	(void)state;
	assert_int_equal(http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)), -1);
	assert_string_equal(err, "listen 127.0.0.1: invalid address, want host:port");
	opts.listen_address = "127.0.0.1:0";
	opts.telemetry_path = "metrics";
	assert_int_equal(http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "telemetry path"));
	opts.telemetry_path = "/metrics";
	opts.listen_address = "no-such-host.invalid:0";
	assert_int_equal(http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, "listen no-such-host.invalid:0: ", 31), 0);
	assert_null(srv);
	http_server__stop(NULL);
}

static void test_custom_path(void **state)
{
	struct http_options opts = {.listen_address = "127.0.0.1:0", .telemetry_path = "/m<x>"};
	struct http_server *srv = NULL;
	struct render_ctx rc = {0};
	struct response r;
	char err[256] = "";

	(void)state;
	if (http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)))
		fail_msg("%s", err);
	fetch(http_server__port(srv), "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<a href=\"/m&lt;x&gt;\">"));
	response_free(&r);
	fetch(http_server__port(srv), "GET", "/m<x>", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "kvscope_test_scrapes_total{k=\"v\"} 1\n"));
	response_free(&r);
	fetch(http_server__port(srv), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	http_server__stop(srv);
}

static void test_localhost_and_restart(void **state)
{
	struct http_options opts = {.listen_address = "localhost:0"};
	struct http_server *srv = NULL;
	struct render_ctx rc = {0};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char err[256] = "", addr[64];
	unsigned port;
	int fd;

	(void)state;
	if (http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_not_equal(http_server__port(srv), 0);
	http_server__stop(srv);

	opts.listen_address = "127.0.0.1:0";
	if (http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)))
		fail_msg("%s", err);
	port = http_server__port(srv);
	http_server__stop(srv);
	/* Stopping closes the listening socket: nothing accepts any more. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	/* And the port can be taken again at once. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	opts.listen_address = addr;
	if (http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(http_server__port(srv), port);
	http_server__stop(srv);
}

static void test_all_addresses(void **state)
{
	struct http_options opts = {.listen_address = ":0"};
	struct http_server *srv = NULL;
	struct render_ctx rc = {0};
	struct response r;
	char err[256] = "";

	(void)state;
	if (http_server__start(&opts, render_known, &rc, &srv, err, sizeof(err)))
		fail_msg("%s", err);
	/* Dual-stack (or IPv4-only) either way serves IPv4 clients. */
	fetch(http_server__port(srv), "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	response_free(&r);
	http_server__stop(srv);
}

struct parse_case {
	const char *addr;
	int ok;
	const char *host;
	unsigned port;
};

static void test_parse_listen_address(void **state)
{
	static const struct parse_case cases[] = {
	    {":2112", 1, "", 2112},
	    {"0.0.0.0:2112", 1, "0.0.0.0", 2112},
	    {"127.0.0.1:2112", 1, "127.0.0.1", 2112},
	    {"[::1]:2112", 1, "::1", 2112},
	    {"[::]:0", 1, "::", 0},
	    {"localhost:2112", 1, "localhost", 2112},
	    {"host-1.example:65535", 1, "host-1.example", 65535},
	    {"127.0.0.1", 0, NULL, 0},
	    {"127.0.0.1:", 0, NULL, 0},
	    {":", 0, NULL, 0},
	    {"", 0, NULL, 0},
	    {":65536", 0, NULL, 0},
	    {":99999999999", 0, NULL, 0},
	    {":-1", 0, NULL, 0},
	    {":21x2", 0, NULL, 0},
	    {":+80", 0, NULL, 0},
	    {"::1:2112", 0, NULL, 0},
	    {"[::1]2112", 0, NULL, 0},
	    {"[::1:2112", 0, NULL, 0},
	    {"[]:2112", 0, NULL, 0},
	    {"bad host:80", 0, NULL, 0},
	    {"a/b:80", 0, NULL, 0},
	};
	char host[64];
	unsigned port;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = http_parse_listen_address(cases[i].addr, host, sizeof(host), &port);

		if (cases[i].ok != (rc == 0))
			fail_msg("\"%s\": got %d", cases[i].addr, rc);
		if (!cases[i].ok)
			continue;
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
	/* A host that does not fit is an error, not a truncation. */
	assert_int_equal(http_parse_listen_address("localhost:1", host, 5, &port), -1);
	assert_int_equal(http_parse_listen_address(NULL, host, sizeof(host), &port), -1);
}

static void test_accepts_gzip(void **state)
{
	static const struct {
		const char *header;
		int gzip;
	} cases[] = {
	    {NULL, 0},
	    {"", 0},
	    {"gzip", 1},
	    {"GZip", 1},
	    {"x-gzip", 1},
	    {"deflate, gzip", 1},
	    {"br;q=1.0, gzip;q=0.8, *;q=0.1", 1},
	    {" gzip ; q=1 ", 1},
	    {"gzip;q=0.001", 1},
	    {"*", 1},
	    {"identity", 0},
	    {"gzipx", 0},
	    {"gzip;q=0", 0},
	    {"gzip;q=0.0", 0},
	    {"gzip;q=0.000", 0},
	    {"gzip;Q=0", 0},
	    {"gzip;q=0, *", 0},
	    {"*;q=0", 0},
	    {"*;q=0, gzip", 1},
	    {"gzip;q=abc", 0},
	    {"gzip;q=2", 0},
	    {"gzip;q=1.5", 0},
	    {",,gzip,,", 1},
	    {"deflate;q=0.5;level=1", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (http_accepts_gzip(cases[i].header) != cases[i].gzip)
			fail_msg("\"%s\": want %d", cases[i].header ? cases[i].header : "(null)",
				 cases[i].gzip);
	}
}

static void test_gzip_round_trip(void **state)
{
	static const char text[] = "metric_a 1\nmetric_a 1\nmetric_a 1\nmetric_b 2\n";
	void *gz;
	size_t gzlen, len;
	char *back;

	(void)state;
	assert_int_equal(http_gzip(text, strlen(text), &gz, &gzlen), 0);
	assert_true(gzlen > 18);
	assert_int_equal(((unsigned char *)gz)[0], 0x1f); /* gzip magic */
	assert_int_equal(((unsigned char *)gz)[1], 0x8b);
	back = gunzip(gz, gzlen, &len);
	assert_int_equal(len, strlen(text));
	assert_string_equal(back, text);
	free(back);
	free(gz);
	assert_int_equal(http_gzip("", 0, &gz, &gzlen), 0);
	back = gunzip(gz, gzlen, &len);
	assert_int_equal(len, 0);
	free(back);
	free(gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_metrics_plain, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_head, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_gzip_round_trip, server_setup,
					    server_teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_gzip_refused, server_setup,
					    server_teardown),
	    cmocka_unit_test_setup_teardown(test_other_routes, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_method_not_allowed, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_header, server_setup, server_teardown),
	    cmocka_unit_test_setup_teardown(test_port_in_use, server_setup, server_teardown),
	    cmocka_unit_test(test_start_rejects_bad_options),
	    cmocka_unit_test(test_custom_path),
	    cmocka_unit_test(test_localhost_and_restart),
	    cmocka_unit_test(test_all_addresses),
	    cmocka_unit_test(test_parse_listen_address),
	    cmocka_unit_test(test_accepts_gzip),
	    cmocka_unit_test(test_gzip_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
