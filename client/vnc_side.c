/* vnc_side.c — the side stream of vdi's private channel over VNC (common/channel.h): a second connection to the
 * VNC port with the token the picture's connection was given, TLS with the certificate checked as the picture's
 * was, then the channel's messages. Its own thread, so the picture never waits for it. */
#include "client.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SIDE_TIMEOUT_MS 10000
#define SIDE_POLL_MS    200 /* how often a blocked read looks whether it should stop */

struct vnc_side {
	pthread_t thread;
	struct client_opts o; /* a copy: the thread may outlive the caller's borrow */
	struct tls_policy p;
	char cacert[4096], known_hosts[4096];
	struct client_chan *ch;
	char token[CHANNEL_TOKEN_MAX + 1];
	atomic_llong stop_at; /* CLOCK_MONOTONIC ms after which the thread ends; 0: not asked */
};

static long long side_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int side_connect(struct vnc_side *s, SSL_CTX **ctx_out, SSL **ssl_out, int *fd_out)
{
	struct client_error e = {0};
	int fd = net_connect(s->o.host, s->o.port, SIDE_TIMEOUT_MS);
	if (fd < 0)
		return fd;
	*fd_out = fd;
	net_set_timeouts(fd, SIDE_TIMEOUT_MS);
	static const char preface[] = CHANNEL_RFB_PREFACE;
	if (net_write_full(fd, preface, sizeof(preface) - 1) < 0)
		return -EIO;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	*ctx_out = ctx;
	*ssl_out = ssl;
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1)
		return -EPROTO;
	/* The same certificate rules as the picture's connection: it was trusted (and kept) there first. */
	X509 *leaf = SSL_get1_peer_certificate(ssl);
	int rc = tls_check(&s->p, s->o.host, s->o.port, leaf, SSL_get_peer_cert_chain(ssl), NULL, 0, NULL, &e);
	X509_free(leaf);
	if (rc) {
		fprintf(stderr, "vdi-client: channel: %s\n", e.msg);
		return -EACCES;
	}
	uint8_t msg[1 + CHANNEL_TOKEN_MAX + 64];
	size_t n = strlen(s->token);
	msg[0] = (uint8_t)n;
	memcpy(msg + 1, s->token, n);
	int hello = client_chan_hello(msg + 1 + n, sizeof(msg) - 1 - n);
	if (hello < 0 || SSL_write(ssl, msg, (int)(1 + n + (size_t)hello)) != (int)(1 + n + (size_t)hello))
		return -EIO;
	OPENSSL_cleanse(msg, sizeof(msg));
	return 0;
}

static void *side_thread(void *arg)
{
	struct vnc_side *s = arg;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1;
	int rc = side_connect(s, &ctx, &ssl, &fd);
	OPENSSL_cleanse(s->token, sizeof(s->token));
	if (rc < 0 && rc != -EACCES)
		fprintf(stderr, "vdi-client: channel: the side stream to %s:%d failed: %s\n", s->o.host, s->o.port,
			strerror(-rc));
	if (rc == 0)
		net_set_timeouts(fd, SIDE_POLL_MS);
	uint8_t buf[16384];
	while (rc == 0) {
		long long stop = atomic_load(&s->stop_at);
		if (stop && side_now_ms() >= stop)
			break;
		int n = SSL_read(ssl, buf, sizeof(buf));
		if (n > 0) {
			if (client_chan_input(s->ch, buf, (size_t)n) < 0)
				break;
			continue;
		}
		int err = SSL_get_error(ssl, n);
		/* A receive timeout: look at stop_at again. */
		if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_SYSCALL) &&
		    (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ERR_clear_error();
			continue;
		}
		break; /* the server closed it, or it broke */
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct vnc_side *vnc_side_start(const struct client_opts *o, const struct tls_policy *p, struct client_chan *ch,
				const char *token)
{
	struct vnc_side *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->o = *o;
	s->p = *p;
	/* No questions from this thread: the picture's connection asked them already. */
	s->p.confirm = NULL;
	s->p.no_dialog = true;
	if (p->cacert) {
		snprintf(s->cacert, sizeof(s->cacert), "%s", p->cacert);
		s->p.cacert = s->cacert;
	}
	if (p->known_hosts) {
		snprintf(s->known_hosts, sizeof(s->known_hosts), "%s", p->known_hosts);
		s->p.known_hosts = s->known_hosts;
	}
	s->o.pool = s->o.api = s->o.cacert = s->o.known_hosts = NULL;
	OPENSSL_cleanse(s->o.password, sizeof(s->o.password));
	s->ch = ch;
	snprintf(s->token, sizeof(s->token), "%s", token);
	if (pthread_create(&s->thread, NULL, side_thread, s) != 0) {
		OPENSSL_cleanse(s->token, sizeof(s->token));
		free(s);
		return NULL;
	}
	return s;
}

void vnc_side_stop(struct vnc_side *s, int wait_ms)
{
	if (!s)
		return;
	atomic_store(&s->stop_at, side_now_ms() + wait_ms);
	pthread_join(s->thread, NULL);
	free(s);
}
