/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics endpoint's listening socket, opened by the agent itself so that
 * bind errors read well and `:port` can mean both address families.
 */
#ifndef KVSCOPE_HTTP_LISTEN_H
#define KVSCOPE_HTTP_LISTEN_H

#include <stddef.h>

/*
 * A bound, listening TCP socket for "host:port" (see
 * http_parse_listen_address); an empty host means every address, dual-stack
 * when IPv6 is available. Returns the descriptor, or -1 with a message like
 * "listen 127.0.0.1:2112: Address already in use".
 */
int http_listen__open(const char *addr, char *err, size_t errlen);

/* The local port a socket is bound to, or 0. */
unsigned http_listen__port(int fd);

#endif
