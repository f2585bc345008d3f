// SPDX-License-Identifier: Apache-2.0
/*
 * Listen address parsing and the listening socket of the metrics endpoint.
 */
#include "http/listen.h"
#include "http/server.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT_MAX	65535
#define PORT_DIGITS_MAX 5
#define LISTEN_HOST_MAX 256

static int parse_port(const char *s, unsigned *port)
{
	unsigned value = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (!isdigit((unsigned char)s[i]) || i >= PORT_DIGITS_MAX)
			return -1;
		value = value * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || value > PORT_MAX)
		return -1;
	*port = value;
	return 0;
}

/* Host names and IPv4 literals; inside brackets also IPv6 and zone ids. */
static int valid_host_char(char c, int bracketed)
{
	if (isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')
		return 1;
	return bracketed && (c == ':' || c == '%');
}

static int copy_host(const char *s, size_t len, int bracketed, char *host, size_t hostlen)
{
	size_t i;

	if (len >= hostlen || (bracketed && len == 0))
		return -1;
	for (i = 0; i < len; i++) {
		if (!valid_host_char(s[i], bracketed))
			return -1;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

int http_parse_listen_address(const char *addr, char *host, size_t hostlen, unsigned *port)
{
	const char *colon;

	if (!addr || !host || hostlen == 0 || !port)
		return -1;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (!close || close[1] != ':')
			return -1;
		if (copy_host(addr + 1, (size_t)(close - addr - 1), 1, host, hostlen))
			return -1;
		return parse_port(close + 2, port);
	}
	colon = strchr(addr, ':');
	/* A second colon means an unbracketed IPv6 address: ambiguous. */
	if (!colon || strchr(colon + 1, ':'))
		return -1;
	if (copy_host(addr, (size_t)(colon - addr), 0, host, hostlen))
		return -1;
	return parse_port(colon + 1, port);
}

/* socket, bind and listen; returns the descriptor or -1 with errno set. */
static int listen_on(const struct sockaddr *sa, socklen_t salen, int dual_stack)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0, saved;

	if (fd < 0)
		return -1;
	/* A restarted agent must not wait for old connections in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto err_close;
	if (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
		goto err_close;
	if (bind(fd, sa, salen) || listen(fd, SOMAXCONN))
		goto err_close;
	return fd;
err_close:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Every address: IPv6 and IPv4 on one socket, or IPv4 alone without IPv6. */
static int listen_any(unsigned port)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd;

	sin6.sin6_addr = in6addr_any;
	fd = listen_on((const struct sockaddr *)&sin6, sizeof(sin6), 1);
	if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
		return fd;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	return listen_on((const struct sockaddr *)&sin, sizeof(sin), 0);
}

/* The first address of `host` that accepts the bind; errno from the first failure. */
static int listen_host(const char *host, unsigned port, const char **gai_err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	char service[8];
	int fd = -1, first_errno = 0, rc;

	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc) {
		*gai_err = gai_strerror(rc);
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = listen_on(ai->ai_addr, ai->ai_addrlen, 0);
		if (fd < 0 && !first_errno)
			first_errno = errno;
	}
	freeaddrinfo(res);
	if (fd < 0)
		errno = first_errno ? first_errno : EADDRNOTAVAIL;
	return fd;
}

int http_listen__open(const char *addr, char *err, size_t errlen)
{
	char host[LISTEN_HOST_MAX];
	const char *gai_err = NULL;
	unsigned port;
	int fd;

	if (http_parse_listen_address(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen, "listen %s: invalid address, want host:port",
			 addr ? addr : "(null)");
		return -1;
	}
	fd = host[0] ? listen_host(host, port, &gai_err) : listen_any(port);
	if (fd < 0)
		snprintf(err, errlen, "listen %s: %s", addr, gai_err ? gai_err : strerror(errno));
	return fd;
}

unsigned http_listen__port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}
