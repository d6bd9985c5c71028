/* https.c — a small HTTP/1.1 client over OpenSSL for the broker's user API: one request per connection,
 * Basic authentication, the certificate checked like the desktop's, a reply with Content-Length, chunked or
 * up to the end of the stream, at most 1 MiB, within bounded timeouts. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define HTTPS_TIMEOUT_MS 10000
#define HTTPS_MAX        (1u << 20)

struct url {
	char host[CLIENT_HOST_MAX];
	int port;
	char path[1024];
};

static int parse_url(const char *s, struct url *u)
{
	if (strncmp(s, "https://", 8) != 0)
		return -EINVAL;
	s += 8;
	size_t hostlen;
	const char *rest;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return -EINVAL;
		s++;
		hostlen = (size_t)(end - s);
		rest = end + 1;
	} else {
		hostlen = strcspn(s, ":/");
		rest = s + hostlen;
	}
	if (!hostlen || hostlen >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, s, hostlen);
	u->host[hostlen] = '\0';
	u->port = 443;
	if (*rest == ':') {
		char *end;
		long v = strtol(rest + 1, &end, 10);
		if (end == rest + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
			return -EINVAL;
		u->port = (int)v;
		rest = end;
	}
	if (*rest && *rest != '/')
		return -EINVAL;
	if (snprintf(u->path, sizeof(u->path), "%s", *rest ? rest : "/") >= (int)sizeof(u->path))
		return -EINVAL;
	return 0;
}

static int read_all(SSL *ssl, char **out, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= HTTPS_MAX + 65536) {
				free(buf);
				return -E2BIG;
			}
			char *bigger = realloc(buf, cap * 2 + 1);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		errno = 0;
		int r = SSL_read(ssl, buf + n, (int)(cap - n));
		if (r <= 0) {
			int err = SSL_get_error(ssl, r);
			/* A server closing without close_notify still ended its reply. */
			if (err == SSL_ERROR_ZERO_RETURN ||
			    (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && !errno))
				break;
			if (err == SSL_ERROR_SSL &&
			    ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
				break;
			free(buf);
			return -EIO;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Decodes a chunked body in place; its length, or -EINVAL. */
static long dechunk(char *body, size_t len)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *end;
		if (in >= len)
			return -EINVAL;
		unsigned long size = strtoul(body + in, &end, 16);
		char *eol = strstr(body + in, "\r\n");
		if (end == body + in || !eol || size > HTTPS_MAX)
			return -EINVAL;
		in = (size_t)(eol - body) + 2;
		if (size == 0)
			return (long)out;
		if (size > len - in || len - in - size < 2)
			return -EINVAL;
		memmove(body + out, body + in, size);
		out += size;
		in += size + 2;
	}
}

static int parse_reply(char *raw, size_t len, struct https_reply *r)
{
	int major, minor, status;
	if (sscanf(raw, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 || status > 599)
		return -EINVAL;
	char *head_end = strstr(raw, "\r\n\r\n");
	if (!head_end)
		return -EINVAL;
	*head_end = '\0';
	char *body = head_end + 4;
	size_t body_len = len - (size_t)(body - raw);
	long content_length = -1;
	bool chunked = false;
	for (char *line = strstr(raw, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (!strncasecmp(line, "Content-Length:", 15)) {
			content_length = strtol(line + 15, NULL, 10);
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
			chunked = strstr(line, "chunked") != NULL;
		} else if (!strncasecmp(line, "Retry-After:", 12)) {
			long v = strtol(line + 12, NULL, 10);
			r->retry_after = v > 0 && v < 86400 * 365 ? (unsigned)v : 0;
		}
	}
	if (chunked) {
		long n = dechunk(body, body_len);
		if (n < 0)
			return -EINVAL;
		body_len = (size_t)n;
	} else if (content_length >= 0) {
		if ((size_t)content_length > body_len)
			return -EINVAL;
		body_len = (size_t)content_length;
	}
	if (body_len > HTTPS_MAX)
		return -E2BIG;
	r->body = malloc(body_len + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, body, body_len);
	r->body[body_len] = '\0';
	r->len = body_len;
	r->status = status;
	return 0;
}

static int basic_auth(const char *user, const char *password, char *out, size_t size)
{
	char plain[CLIENT_NAME_MAX + CLIENT_PASS_MAX + 2];
	int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
	if (n < 0 || (size_t)n >= sizeof(plain) || ((size_t)n + 2) / 3 * 4 + 1 > size)
		return -E2BIG;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, n);
	OPENSSL_cleanse(plain, sizeof(plain));
	return 0;
}

int https_request(const struct tls_policy *p, const char *url_text, const char *method, const char *user,
		  const char *password, struct https_reply *r, struct client_error *e)
{
	struct url u;
	*r = (struct https_reply){0};
	if (parse_url(url_text, &u) < 0)
		return client_fail(e, CLIENT_USAGE, "bad API URL '%s'", url_text);
	int fd = net_connect(u.host, u.port, HTTPS_TIMEOUT_MS);
	if (fd < 0)
		return client_fail(e, CLIENT_UNREACHABLE, "cannot reach the API at %s:%d: %s", u.host, u.port,
				   strerror(-fd));
	net_set_timeouts(fd, HTTPS_TIMEOUT_MS);
	int status = CLIENT_PROTOCOL;
	char *raw = NULL;
	size_t raw_len = 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	if (!ssl) {
		client_fail(e, CLIENT_PROTOCOL, "cannot set up TLS");
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, u.host);
	if (SSL_connect(ssl) != 1) {
		client_fail(e, CLIENT_PROTOCOL, "no TLS with the API at %s:%d", u.host, u.port);
		goto out;
	}
	X509 *leaf = SSL_get1_peer_certificate(ssl);
	status = tls_check(p, u.host, u.port, leaf, SSL_get_peer_cert_chain(ssl), NULL, 0, NULL, e);
	X509_free(leaf);
	if (status)
		goto out;
	char auth[(CLIENT_NAME_MAX + CLIENT_PASS_MAX + 4) / 3 * 4 + 8], req[4096];
	status = CLIENT_PROTOCOL;
	if (basic_auth(user, password, auth, sizeof(auth)) < 0) {
		client_fail(e, CLIENT_USAGE, "the user name and password are too long");
		goto out;
	}
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Basic %s\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: 0\r\nUser-Agent: vdi-client\r\n\r\n",
			 method, u.path, u.host, u.port, auth);
	OPENSSL_cleanse(auth, sizeof(auth));
	bool sent = n > 0 && (size_t)n < sizeof(req) && SSL_write(ssl, req, n) == n;
	OPENSSL_cleanse(req, sizeof(req));
	if (!sent) {
		client_fail(e, CLIENT_PROTOCOL, "cannot send the request to %s:%d", u.host, u.port);
		goto out;
	}
	if (read_all(ssl, &raw, &raw_len) < 0 || parse_reply(raw, raw_len, r) < 0) {
		client_fail(e, CLIENT_PROTOCOL, "the API at %s:%d gave no readable HTTP reply", u.host, u.port);
		goto out;
	}
	status = r->status;
out:
	free(raw);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return status;
}

void https_reply_free(struct https_reply *r)
{
	free(r->body);
	r->body = NULL;
}
