/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the metrics endpoint: libmicrohttpd speaks it (with GnuTLS); this
 * turns the web config's version range and client_auth_type into what
 * GnuTLS enforces, and checks the client's certificate before a request is
 * answered.
 */
#ifndef KVSCOPE_HTTP_TLS_H
#define KVSCOPE_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/webconfig.h"

struct MHD_Connection;

/*
 * The GnuTLS priority string admitting exactly cfg's TLS versions, e.g.
 * "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2". 0, or -1 when it does not fit.
 */
int http_tls__priorities(const struct web_config *cfg, char *buf, size_t len);

/*
 * For a connection just accepted, before its handshake: whether GnuTLS asks
 * for a client certificate, insists on one, or checks it during the
 * handshake (RequireAndVerifyClientCert).
 */
void http_tls__on_connection(const struct web_config *cfg, struct MHD_Connection *conn);

/*
 * Whether the connection's client certificate satisfies client_auth_type:
 * present where required, and signed by client_ca_file where verified.
 */
bool http_tls__client_ok(const struct web_config *cfg, struct MHD_Connection *conn);

#endif
