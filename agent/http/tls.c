// SPDX-License-Identifier: Apache-2.0
/*
 * Client certificates on libmicrohttpd's GnuTLS sessions. libmicrohttpd only
 * asks for a certificate when given a trust list, and never insists, so the
 * request policy is set on each session as it is accepted; the request
 * handler checks the outcome again, so no path answers a client the policy
 * turns away even if the handshake let it through.
 */
#include "http/tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

static const char *gnutls_version_name(enum web_tls_version v)
{
	switch (v) {
	case WEB_TLS10:
		return "VERS-TLS1.0";
	case WEB_TLS11:
		return "VERS-TLS1.1";
	case WEB_TLS12:
		return "VERS-TLS1.2";
	case WEB_TLS13:
		return "VERS-TLS1.3";
	}
	return NULL;
}

int http_tls__priorities(const struct web_config *cfg, char *buf, size_t len)
{
	size_t used;
	int n;

	n = snprintf(buf, len, "NORMAL:-VERS-ALL");
	if (n < 0 || (size_t)n >= len)
		return -1;
	used = (size_t)n;
	for (int v = cfg->max_version; v >= (int)cfg->min_version; v--) {
		const char *name = gnutls_version_name((enum web_tls_version)v);

		if (!name)
			return -1;
		n = snprintf(buf + used, len - used, ":+%s", name);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

/* What a client certificate must be good for (id-kp-clientAuth). */
static gnutls_typed_vdata_st client_purpose[] = {
    {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT},
};

static gnutls_session_t session_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	return info ? (gnutls_session_t)info->tls_session : NULL;
}

void http_tls__on_connection(const struct web_config *cfg, struct MHD_Connection *conn)
{
	gnutls_session_t session = session_of(conn);

	if (!session)
		return;
	switch (cfg->client_auth) {
	case WEB_CLIENT_AUTH_NONE:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
		break;
	case WEB_CLIENT_AUTH_REQUEST:
	case WEB_CLIENT_AUTH_VERIFY_IF_GIVEN:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		break;
	case WEB_CLIENT_AUTH_REQUIRE_ANY:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		break;
	case WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		/* An untrusted certificate, or one not for clients, fails the handshake itself. */
		gnutls_session_set_verify_cert2(session, client_purpose, 1, 0);
		break;
	}
}

/*
 * Checked against client_ca_file (the trust list libmicrohttpd was given)
 * and for the clientAuth key purpose: a certificate the CA issued to a
 * server is not a client's. As with Go's crypto/x509, a chain that names
 * no purpose at all passes.
 */
static bool peer_verified(gnutls_session_t session)
{
	unsigned status = 0;

	return gnutls_certificate_verify_peers(session, client_purpose, 1, &status) == 0 &&
	       status == 0;
}

bool http_tls__client_ok(const struct web_config *cfg, struct MHD_Connection *conn)
{
	gnutls_session_t session;
	unsigned npeers = 0;
	bool present;

	if (!cfg || !cfg->tls || cfg->client_auth == WEB_CLIENT_AUTH_NONE ||
	    cfg->client_auth == WEB_CLIENT_AUTH_REQUEST)
		return true;
	session = session_of(conn);
	if (!session)
		return false;
	present = gnutls_certificate_get_peers(session, &npeers) != NULL && npeers > 0;
	switch (cfg->client_auth) {
	case WEB_CLIENT_AUTH_REQUIRE_ANY:
		return present;
	case WEB_CLIENT_AUTH_VERIFY_IF_GIVEN:
		return !present || peer_verified(session);
	case WEB_CLIENT_AUTH_REQUIRE_AND_VERIFY:
		return present && peer_verified(session);
	default:
		return false;
	}
}
