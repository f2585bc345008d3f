// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "metrics/expo.h"
#include "http/server.h"
#include "http/gzip.h"
#include "http/webconfig.h"

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

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
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

/*
 * TLS and basic auth: certificates made at test time with the openssl CLI, a
 * web config written next to them, and curl as the client.
 */
struct tls_dir {
	char path[64];
	int ready; /* 0: not yet; 1: made; -1: no directory; -2: making them failed */
};

static struct tls_dir tls_dir = {.path = "/tmp/kvscope-http-tls-XXXXXX"};

/* A CA, a server certificate for 127.0.0.1, a client one, and a rogue CA's. */
static const char make_certs[] =
    "set -e; cd '%s'\n"
    "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "for ca in ca rogue; do\n"
    "  openssl req -x509 $ec -keyout $ca.key -out $ca.crt -subj /CN=kvscope-test-$ca -days 2\n"
    "done\n"
    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' "
    ">server.ext\n"
    "printf 'extendedKeyUsage=clientAuth\\n' >client.ext\n"
    "sign() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$1\n"
    "  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 2 "
    "-extfile $3.ext -out $1.crt; }\n"
    "sign server ca server\nsign client ca client\nsign intruder rogue client\n"
    "sign notclient ca server\n";

static int tls_setup(void **state)
{
	char script[2048], path[128], cmd[512];

	(void)state;
	if (tls_dir.ready)
		return tls_dir.ready > 0 ? 0 : -1;
	if (!mkdtemp(tls_dir.path)) {
		tls_dir.ready = -1;
		return -1;
	}
	tls_dir.ready = -2; /* made: removed at the end whatever happens */
	snprintf(script, sizeof(script), make_certs, tls_dir.path);
	snprintf(path, sizeof(path), "%s/make-certs.sh", tls_dir.path);
	write_text(path, script);
	snprintf(cmd, sizeof(cmd), "sh '%s' >'%s/openssl.log' 2>&1", path, tls_dir.path);
	if (system(cmd) != 0) {
		fprintf(stderr, "making test certificates failed, see %s/openssl.log\n",
			tls_dir.path);
		return -1;
	}
	tls_dir.ready = 1;
	return 0;
}

static void tls_dir_remove(void)
{
	char cmd[256];

	if (tls_dir.ready == 1 || tls_dir.ready == -2) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir.path);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tls_dir.path);
	}
}

/* A server under the web config `yaml` (written into the certificates' directory). */
struct web_server {
	struct web_config cfg;
	struct http_server *srv;
	struct render_ctx rc;
	unsigned port;
};

static void web_server_start(struct web_server *w, const char *yaml)
{
	struct http_options opts = {.listen_address = "127.0.0.1:0", .web = &w->cfg};
	char path[128], err[512] = "";

	memset(w, 0, sizeof(*w));
	snprintf(path, sizeof(path), "%s/web.yml", tls_dir.path);
	write_text(path, yaml);
	if (webconfig__load(path, &w->cfg, err, sizeof(err)))
		fail_msg("%s", err);
	if (http_server__start(&opts, render_known, &w->rc, &w->srv, err, sizeof(err)))
		fail_msg("%s", err);
	w->port = http_server__port(w->srv);
}

static void web_server_stop(struct web_server *w)
{
	http_server__stop(w->srv);
	webconfig__free(&w->cfg);
}

struct curl_result {
	int exit;   /* curl's exit status: 0, or why it failed */
	int status; /* HTTP status, 0 when none came */
	char body[4096];
	char headers[4096];
};

/* curl against https://127.0.0.1:PORT/PATH with the given extra arguments. */
static void curl(unsigned port, const char *path, const char *args, struct curl_result *r)
{
	char cmd[2048], file[160];
	FILE *f;
	size_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s' && curl -s --max-time 10 -o body.out -D headers.out -w '%%{http_code}' %s "
	    "https://127.0.0.1:%u%s >status.out 2>/dev/null",
	    tls_dir.path, args, port, path);
	rc = system(cmd);
	r->exit = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	snprintf(file, sizeof(file), "%s/status.out", tls_dir.path);
	f = fopen(file, "r");
	if (f && fscanf(f, "%d", &r->status) != 1)
		r->status = 0;
	if (f)
		fclose(f);
	snprintf(file, sizeof(file), "%s/body.out", tls_dir.path);
	f = fopen(file, "r");
	n = f ? fread(r->body, 1, sizeof(r->body) - 1, f) : 0;
	r->body[n] = '\0';
	if (f)
		fclose(f);
	snprintf(file, sizeof(file), "%s/headers.out", tls_dir.path);
	f = fopen(file, "r");
	n = f ? fread(r->headers, 1, sizeof(r->headers) - 1, f) : 0;
	r->headers[n] = '\0';
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/body.out '%s'/headers.out '%s'/status.out",
		 tls_dir.path, tls_dir.path, tls_dir.path);
	if (system(cmd) != 0)
		fail_msg("cannot clean up curl's output");
}

static void assert_metrics_served(const struct curl_result *r, const char *what)
{
	if (r->exit != 0 || r->status != 200 || !strstr(r->body, "kvscope_test_scrapes_total"))
		fail_msg("%s: curl exit %d, status %d, body \"%.80s\"", what, r->exit, r->status,
			 r->body);
}

/* Refused: the handshake failed, or an error status came back; never metrics. */
static void assert_refused(const struct curl_result *r, const char *what)
{
	if ((r->exit == 0 && r->status < 400) || strstr(r->body, "kvscope_test"))
		fail_msg("%s: not refused: curl exit %d, status %d", what, r->exit, r->status);
}

static const char tls_only[] = "tls_server_config:\n  cert_file: server.crt\n"
			       "  key_file: server.key\n";

static void test_tls_serves_metrics(void **state)
{
	struct web_server w;
	struct curl_result r;
	struct response raw;

	(void)state;
	web_server_start(&w, tls_only);
	curl(w.port, "/metrics", "--cacert ca.crt", &r);
	assert_metrics_served(&r, "TLS scrape");
	assert_null(strstr(r.headers, "Content-Encoding"));
	/* gzip still applies inside TLS; curl undoes it. */
	curl(w.port, "/metrics", "--cacert ca.crt --compressed", &r);
	assert_metrics_served(&r, "gzipped TLS scrape");
	assert_non_null(strcasestr(r.headers, "Content-Encoding: gzip"));
	assert_non_null(strstr(r.body, "kvscope_test_scrapes_total{k=\"v\"} 2\n"));
	/* The certificate served is the one configured, signed by our CA only. */
	curl(w.port, "/metrics", "--cacert rogue.crt", &r);
	assert_int_equal(r.exit, 60); /* peer certificate cannot be authenticated */
	/* Plain HTTP on the TLS port gets no metrics, and no answer at all. */
	fetch(w.port, "GET", "/metrics", NULL, &raw);
	assert_int_equal(raw.status, 0);
	assert_null(strstr(raw.raw, "kvscope_test"));
	response_free(&raw);
	assert_int_equal(w.rc.scrapes, 2);
	web_server_stop(&w);
}

static void test_tls_min_version(void **state)
{
	char yaml[512];
	struct web_server w;
	struct curl_result r;

	(void)state;
	/* The default floor is TLS 1.2. */
	web_server_start(&w, tls_only);
	curl(w.port, "/metrics", "--cacert ca.crt --tls-max 1.1", &r);
	assert_refused(&r, "TLS 1.1 against the default minimum");
	assert_int_equal(r.exit, 35); /* the handshake itself failed */
	curl(w.port, "/metrics", "--cacert ca.crt --tls-max 1.2", &r);
	assert_metrics_served(&r, "TLS 1.2 against the default minimum");
	web_server_stop(&w);

	snprintf(yaml, sizeof(yaml), "%s  min_version: TLS13\n", tls_only);
	web_server_start(&w, yaml);
	curl(w.port, "/metrics", "--cacert ca.crt --tls-max 1.2", &r);
	assert_refused(&r, "TLS 1.2 against min_version TLS13");
	assert_int_equal(r.exit, 35);
	curl(w.port, "/metrics", "--cacert ca.crt --tlsv1.3", &r);
	assert_metrics_served(&r, "TLS 1.3 against min_version TLS13");
	web_server_stop(&w);

	snprintf(yaml, sizeof(yaml), "%s  max_version: TLS12\n", tls_only);
	web_server_start(&w, yaml);
	curl(w.port, "/metrics", "--cacert ca.crt --tlsv1.3", &r);
	assert_refused(&r, "TLS 1.3 against max_version TLS12");
	web_server_stop(&w);
	assert_int_equal(w.rc.scrapes, 0);
}

enum outcome {
	SERVED,
	NO_HANDSHAKE, /* GnuTLS turned the client away: no HTTP at all */
	FORBIDDEN,    /* the handshake passed, the request handler said no */
};

struct client_case {
	const char *client_auth;
	const char *ca_line;
	/* no certificate, a client one, a rogue CA's, our CA's made for a server */
	enum outcome want[4];
};

static void assert_outcome(const struct curl_result *r, enum outcome want, const char *what)
{
	switch (want) {
	case SERVED:
		assert_metrics_served(r, what);
		return;
	case NO_HANDSHAKE:
		assert_refused(r, what);
		if (r->exit == 0 || r->status != 0)
			fail_msg("%s: want a failed handshake, got status %d", what, r->status);
		return;
	case FORBIDDEN:
		assert_refused(r, what);
		if (r->status != 403)
			fail_msg("%s: want 403, got curl exit %d, status %d", what, r->exit,
				 r->status);
		return;
	}
}

static void test_tls_client_cert_modes(void **state)
{
	static const struct client_case cases[] = {
	    {"RequireAndVerifyClientCert",
	     "  client_ca_file: ca.crt\n",
	     {NO_HANDSHAKE, SERVED, NO_HANDSHAKE, NO_HANDSHAKE}},
	    {"VerifyClientCertIfGiven",
	     "  client_ca_file: ca.crt\n",
	     {SERVED, SERVED, FORBIDDEN, FORBIDDEN}},
	    {"RequireAnyClientCert", "", {NO_HANDSHAKE, SERVED, SERVED, SERVED}},
	    {"RequestClientCert", "", {SERVED, SERVED, SERVED, SERVED}},
	    {"NoClientCert", "", {SERVED, SERVED, SERVED, SERVED}},
	};
	static const char *const certs[4] = {"", "--cert client.crt --key client.key",
					     "--cert intruder.crt --key intruder.key",
					     "--cert notclient.crt --key notclient.key"};
	static const char *const named[4] = {"no certificate", "a trusted one", "a rogue one",
					     "a server's (no clientAuth)"};
	char yaml[512], args[256], what[160];
	struct web_server w;
	struct curl_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml), "%s  client_auth_type: %s\n%s", tls_only,
			 cases[i].client_auth, cases[i].ca_line);
		web_server_start(&w, yaml);
		for (int c = 0; c < 4; c++) {
			snprintf(args, sizeof(args), "--cacert ca.crt %s", certs[c]);
			snprintf(what, sizeof(what), "%s with %s", cases[i].client_auth, named[c]);
			curl(w.port, "/metrics", args, &r);
			assert_outcome(&r, cases[i].want[c], what);
			/* Every path is behind the same door. */
			curl(w.port, "/healthz", args, &r);
			if (cases[i].want[c] != SERVED)
				assert_outcome(&r, cases[i].want[c], what);
		}
		web_server_stop(&w);
	}
}

/* A bcrypt hash of `password` made now; cost 4 keeps the tests quick. */
static void make_hash(const char *password, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	h = crypt_rn(password, salt, cd, sizeof(*cd));
	assert_true(h && h[0] != '*');
	snprintf(out, outlen, "%s", h);
	free(cd);
}

static void test_basic_auth(void **state)
{
	static const char *const refused[] = {
	    "",
	    "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n",     /* alice:wrong */
	    "Authorization: Basic bWFsbG9yeTpzZWNyZXQ=\r\n", /* mallory:secret */
	    "Authorization: Basic YWxpY2U6c2VjcmV0Ong=\r\n", /* alice:secret:x */
	    "Authorization: Basic !!!not-base64!!!\r\n",
	    "Authorization: Bearer YWxpY2U6c2VjcmV0\r\n",
	    "Authorization: Basic\r\n",
	};
	static const char *const paths[] = {"/metrics", "/", "/nope"};
	char yaml[256], hash[128], v[128];
	struct web_server w;
	struct response r;

	(void)state;
	make_hash("secret", hash, sizeof(hash));
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n", hash);
	web_server_start(&w, yaml);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
			fetch(w.port, "GET", paths[p], refused[i], &r);
			if (r.status != 401)
				fail_msg("%s with \"%s\": status %d", paths[p], refused[i],
					 r.status);
			assert_string_equal(header(&r, "WWW-Authenticate", v, sizeof(v)),
					    "Basic realm=\"kvscope\"");
			assert_null(strstr(r.raw, "kvscope_test"));
			response_free(&r);
		}
	}
	assert_int_equal(w.rc.scrapes, 0);
	fetch(w.port, "GET", "/metrics", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "kvscope_test_scrapes_total{k=\"v\"} 1\n"));
	response_free(&r);
	fetch(w.port, "GET", "/healthz", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
	/* the orchestrator's probes need no password, and cost no bcrypt */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct web_auth_stats before, after;

		webconfig__auth_stats(&w.cfg, &before);
		fetch(w.port, "GET", "/healthz", refused[i], &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "ok\n");
		response_free(&r);
		fetch(w.port, "GET", "/ready", refused[i], &r);
		assert_int_equal(r.status, 503); /* the agent has not said it is ready */
		response_free(&r);
		webconfig__auth_stats(&w.cfg, &after);
		assert_int_equal(after.bcrypts, before.bcrypts);
	}
	http_server__set_ready(w.srv);
	fetch(w.port, "GET", "/ready", "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ready\n");
	response_free(&r);
	assert_int_equal(w.rc.scrapes, 1);
	web_server_stop(&w);
}

/* Holds the bcrypt slots busy until released. */
static sem_t slot_entered, slot_release;

static void hold_bcrypt_slot(void)
{
	sem_post(&slot_entered);
	sem_wait(&slot_release);
}

struct busy_fetch {
	unsigned port;
	int status;
};

static void *fetch_wrong_password(void *arg)
{
	struct busy_fetch *b = arg;
	struct response r;

	fetch(b->port, "GET", "/metrics", "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n", &r);
	b->status = r.status;
	response_free(&r);
	return NULL;
}

/*
 * A flood of wrong passwords takes at most WEB_AUTH_MAX_BCRYPTS threads:
 * past that, 429 at once, and a scraper whose pair was verified before
 * is served on a free thread without a bcrypt.
 */
static void test_auth_flood_is_bounded(void **state)
{
	struct busy_fetch flood[WEB_AUTH_MAX_BCRYPTS];
	pthread_t t[WEB_AUTH_MAX_BCRYPTS];
	char yaml[256], hash[128], v[64];
	struct web_server w;
	struct response r;

	(void)state;
	make_hash("secret", hash, sizeof(hash));
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n", hash);
	web_server_start(&w, yaml);
	fetch(w.port, "GET", "/metrics", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
	sem_init(&slot_entered, 0, 0);
	sem_init(&slot_release, 0, 0);
	webconfig__bcrypt_hook = hold_bcrypt_slot;
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++) {
		flood[i] = (struct busy_fetch){.port = w.port};
		assert_int_equal(pthread_create(&t[i], NULL, fetch_wrong_password, &flood[i]), 0);
		sem_wait(&slot_entered);
	}
	fetch(w.port, "GET", "/metrics", "Authorization: Basic bWFsbG9yeTpzZWNyZXQ=\r\n", &r);
	assert_int_equal(r.status, 429);
	assert_string_equal(header(&r, "Retry-After", v, sizeof(v)), "1");
	response_free(&r);
	fetch(w.port, "GET", "/metrics", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++)
		sem_post(&slot_release);
	for (int i = 0; i < WEB_AUTH_MAX_BCRYPTS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(flood[i].status, 401);
	}
	webconfig__bcrypt_hook = NULL;
	sem_destroy(&slot_entered);
	sem_destroy(&slot_release);
	assert_int_equal(w.rc.scrapes, 2);
	web_server_stop(&w);
}

/* Status of /proc/self/task/TID/status field `key` as a number (hex for Cap*). */
static unsigned long long task_field(pid_t tid, const char *key)
{
	char path[64], line[256];
	unsigned long long v = ~0ull;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtoull(line + strlen(key), NULL, 16);
	fclose(f);
	return v;
}

static int list_tasks(pid_t *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			out[n++] = (pid_t)atoi(de->d_name);
	closedir(d);
	return n;
}

static bool listed(const pid_t *tids, int n, pid_t tid)
{
	for (int i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

/*
 * The server's threads that read requests hold no capability; the renderer
 * alone keeps the caller's (reading a target's files needs them).
 */
static void test_workers_hold_no_capabilities(void **state)
{
	pid_t before[64], after[64];
	char yaml[256], hash[128];
	struct web_server w;
	struct response r;
	int nb, na, workers = 0;
	pid_t renderer;

	(void)state;
	if (task_field(gettid(), "CapEff:") == 0) {
		print_message("skipped: the test runs without capabilities\n");
		skip();
	}
	nb = list_tasks(before, 64);
	make_hash("secret", hash, sizeof(hash));
	snprintf(yaml, sizeof(yaml), "basic_auth_users:\n  alice: %s\n", hash);
	web_server_start(&w, yaml); /* basic auth: a pool of worker threads */
	fetch(w.port, "GET", "/metrics", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n", &r);
	assert_int_equal(r.status, 200);
	response_free(&r);
	renderer = http_server__renderer_tid(w.srv);
	na = list_tasks(after, 64);
	for (int i = 0; i < na; i++) {
		if (listed(before, nb, after[i]) || after[i] == renderer)
			continue;
		workers++;
		if (task_field(after[i], "CapEff:") || task_field(after[i], "CapPrm:"))
			fail_msg("thread %d holds capabilities", (int)after[i]);
	}
	assert_true(workers >= 4); /* the pool, and the deadline watchdog */
	assert_int_not_equal(task_field(renderer, "CapEff:"), 0);
	assert_int_not_equal(task_field(gettid(), "CapEff:"), 0);
	web_server_stop(&w);
}

static void test_basic_auth_over_tls(void **state)
{
	char yaml[512], hash[128];
	struct web_server w;
	struct curl_result r;

	(void)state;
	make_hash("s3cret:with colon", hash, sizeof(hash));
	snprintf(yaml, sizeof(yaml), "%sbasic_auth_users:\n  bob: '%s'\n", tls_only, hash);
	web_server_start(&w, yaml);
	curl(w.port, "/metrics", "--cacert ca.crt", &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Basic realm=\"kvscope\""));
	curl(w.port, "/metrics", "--cacert ca.crt -u bob:s3cret", &r);
	assert_int_equal(r.status, 401);
	curl(w.port, "/metrics", "--cacert ca.crt --compressed -u 'bob:s3cret:with colon'", &r);
	assert_metrics_served(&r, "right password over TLS");
	assert_non_null(strcasestr(r.headers, "Content-Encoding: gzip"));
	assert_int_equal(w.rc.scrapes, 1);
	web_server_stop(&w);
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
	    cmocka_unit_test_setup(test_basic_auth, tls_setup),
	    cmocka_unit_test_setup(test_tls_serves_metrics, tls_setup),
	    cmocka_unit_test_setup(test_tls_min_version, tls_setup),
	    cmocka_unit_test_setup(test_tls_client_cert_modes, tls_setup),
	    cmocka_unit_test_setup(test_basic_auth_over_tls, tls_setup),
	    cmocka_unit_test_setup(test_auth_flood_is_bounded, tls_setup),
	    cmocka_unit_test_setup(test_workers_hold_no_capabilities, tls_setup),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	tls_dir_remove();
	return failed;
}
