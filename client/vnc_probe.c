/* vnc_probe.c — before libvncclient connects, vdi-client walks the RFB handshake itself up to VeNCrypt
 * X509Plain's TLS to see the server's certificate and check it (libvncclient only checks against a CA file);
 * on the way it tells an unreachable server, a server that is not RFB, and one without TLS logins apart. */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#define PROBE_TIMEOUT_MS   10000
#define RFB_VENCRYPT       19
#define VENCRYPT_X509PLAIN 262

static int io_fail(struct client_error *e, const struct client_opts *o, int rc, const char *when)
{
	if (rc == -EAGAIN)
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d sent nothing %s for %d s", o->host, o->port, when,
				   PROBE_TIMEOUT_MS / 1000);
	if (rc == -EPIPE)
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d closed the connection %s", o->host, o->port, when);
	return client_fail(e, CLIENT_PROTOCOL, "%s:%d: %s %s", o->host, o->port, strerror(-rc), when);
}

/* The RFB and VeNCrypt steps up to the start of TLS: 0, or a client status. */
static int rfb_to_tls(int fd, const struct client_opts *o, struct client_error *e)
{
	char version[13] = {0};
	int major, minor, rc = net_read_full(fd, version, 12);
	if (rc < 0)
		return io_fail(e, o, rc, "instead of an RFB greeting");
	if (sscanf(version, "RFB %3d.%3d\n", &major, &minor) != 2 || version[11] != '\n' || major != 3 || minor < 7)
		return client_fail(e, CLIENT_PROTOCOL,
				   "%s:%d is not a VNC server vdi-client can use (it said \"%.12s\")", o->host, o->port,
				   version);
	uint8_t n, types[255];
	if ((rc = net_write_full(fd, "RFB 003.008\n", 12)) < 0 || (rc = net_read_full(fd, &n, 1)) < 0)
		return io_fail(e, o, rc, "in the RFB handshake");
	if (n == 0) {
		uint32_t len;
		char reason[256] = "";
		if (net_read_full(fd, &len, 4) == 0 && ntohl(len) < sizeof(reason))
			net_read_full(fd, reason, ntohl(len));
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d refused the connection: %s", o->host, o->port, reason);
	}
	if ((rc = net_read_full(fd, types, n)) < 0)
		return io_fail(e, o, rc, "in the RFB handshake");
	if (!memchr(types, RFB_VENCRYPT, n))
		return client_fail(e, CLIENT_PROTOCOL,
				   "%s:%d offers no VeNCrypt (TLS) login; vdi-client sends no password in the clear",
				   o->host, o->port);
	uint8_t pick = RFB_VENCRYPT, ver[2], ours[2] = {0, 2}, ack, count;
	if ((rc = net_write_full(fd, &pick, 1)) < 0 || (rc = net_read_full(fd, ver, 2)) < 0 ||
	    (rc = net_write_full(fd, ours, 2)) < 0 || (rc = net_read_full(fd, &ack, 1)) < 0 ||
	    (rc = net_read_full(fd, &count, 1)) < 0)
		return io_fail(e, o, rc, "in the VeNCrypt handshake");
	if (ver[0] != 0 || ver[1] < 2 || ack != 0)
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d speaks a VeNCrypt version vdi-client does not", o->host,
				   o->port);
	bool x509plain = false;
	for (unsigned i = 0; i < count; i++) {
		uint32_t sub;
		if ((rc = net_read_full(fd, &sub, 4)) < 0)
			return io_fail(e, o, rc, "in the VeNCrypt handshake");
		x509plain |= ntohl(sub) == VENCRYPT_X509PLAIN;
	}
	if (!x509plain)
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d offers no VeNCrypt X509Plain login", o->host, o->port);
	uint32_t want = htonl(VENCRYPT_X509PLAIN);
	if ((rc = net_write_full(fd, &want, 4)) < 0 || (rc = net_read_full(fd, &ack, 1)) < 0)
		return io_fail(e, o, rc, "in the VeNCrypt handshake");
	if (ack == 0)
		return client_fail(e, CLIENT_PROTOCOL, "%s:%d refused VeNCrypt X509Plain", o->host, o->port);
	return 0;
}

int vnc_probe(const struct client_opts *o, const struct tls_policy *p, char *ca_out, size_t ca_size, bool *ca_is_temp,
	      struct client_error *e)
{
	int fd = net_connect(o->host, o->port, PROBE_TIMEOUT_MS);
	if (fd < 0)
		return client_fail(e, CLIENT_UNREACHABLE, "cannot reach %s:%d: %s", o->host, o->port, strerror(-fd));
	net_set_timeouts(fd, PROBE_TIMEOUT_MS);
	int rc = rfb_to_tls(fd, o, e);
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	if (rc == 0) {
		ctx = SSL_CTX_new(TLS_client_method());
		ssl = ctx ? SSL_new(ctx) : NULL;
		if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
			rc = client_fail(e, CLIENT_PROTOCOL, "no TLS with %s:%d in VeNCrypt", o->host, o->port);
		} else {
			X509 *leaf = SSL_get1_peer_certificate(ssl);
			rc = tls_check(p, o->host, o->port, leaf, SSL_get_peer_cert_chain(ssl), ca_out, ca_size,
				       ca_is_temp, e);
			X509_free(leaf);
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}
