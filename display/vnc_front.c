/* vnc_front.c — VeNCrypt in front of libvncserver: the RFB handshake with
 * the client (VeNCrypt X509Plain or None, RFB 3.3 to 3.8), TLS through
 * OpenSSL, then a relay thread between the client and a socket pair whose
 * other end libvncserver serves as if the client were plain and had chosen
 * None. */
#include "vnc_front.h"

#include "../common/fd.h"
#include "../common/log.h"
#include "../common/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h> /* FD_SETSIZE */
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* How long a client may take over the handshake: TigerVNC asks its user
 * for the password inside it. */
#define FRONT_HANDSHAKE_MS 120000
/* libvncserver's side of the pair answers at once; this only bounds a bug. */
#define FRONT_LIB_MS       30000
/* A client that speaks first within this is WebSocket (or something only
 * libvncserver knows): RFB clients wait for the server's version. */
#define FRONT_SNIFF_MS     100
#define FRONT_RELAY_BUF    65536

#define RFB_SEC_NONE       1
#define RFB_SEC_VENCRYPT   19
#define VENCRYPT_X509PLAIN 262

struct vnc_tls {
	SSL_CTX *ctx;
	bool required; /* no client without TLS */
};

struct vnc_front {
	int sock;    /* the client's */
	int stop_fd; /* the server's: readable once it stops */
	SSL *ssl;    /* NULL: the client chose None */
	int minor;   /* the client's RFB 3.x */
	char address[64];
	int lib;       /* our end of the pair; libvncserver has the other */
	int plain;     /* the other, low (libvncserver's), until vnc_front_relay() hands it over */
	int relay_end; /* an eventfd: the relay stops */
	pthread_t relay;
	bool relaying;
};

/* OpenSSL's first queued error as text (the queue emptied). */
static const char *front_ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	snprintf(buf, len, "no detail");
	if (e)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static void front_log_ssl(const char *address, const char *what)
{
	char buf[256];
	log_info("vnc: %s: %s: %s", address, what, front_ssl_error(buf, sizeof(buf)));
}

struct vnc_tls *vnc_tls_new(const char *cert_path, const char *key_path)
{
	if (tls_identity(cert_path, key_path) < 0)
		return NULL;
	struct vnc_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (!t->ctx || !SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(t->ctx, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		char buf[256];
		log_error("vnc: cannot use the TLS certificate %s and key %s: %s", cert_path, key_path,
			  front_ssl_error(buf, sizeof(buf)));
		vnc_tls_free(t);
		return NULL;
	}
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No session tickets: nobody resumes a VNC session, and with TLS 1.3's tickets (sent after the
	 * handshake) TigerVNC 1.12's viewer (GnuTLS) now and then waited forever for the security result that
	 * followed them (1 connection in 5 to 8 here; none in 25 without). */
	SSL_CTX_set_num_tickets(t->ctx, 0);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
	return t;
}

void vnc_tls_require(struct vnc_tls *t)
{
	t->required = true;
}

void vnc_tls_free(struct vnc_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static int64_t front_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd, or stop_fd, until the deadline: 0, -ECANCELED
 * (stopping) or -ETIMEDOUT. */
static int front_wait(int fd, short events, int stop_fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - front_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};
		int n = poll(p, 2, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[1].revents)
			return -ECANCELED;
		if (n > 0)
			return 0;
	}
}

/* An SSL call's outcome: >0 done, 0 to retry after waiting for *events, <0 failed. */
static int front_ssl_step(SSL *ssl, int rc, short *events)
{
	if (rc > 0)
		return rc;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*events |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events |= POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

/* n bytes from a plain descriptor. */
static int front_fd_read(int fd, void *buf, size_t n, int stop_fd, int64_t deadline)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r == 0)
			return -ECONNRESET;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int err = front_wait(fd, POLLIN, stop_fd, deadline);
		if (err < 0)
			return err;
	}
	return 0;
}

/* n bytes from the client (through TLS once it started). */
static int front_read(struct vnc_front *f, void *buf, size_t n, int64_t deadline)
{
	if (!f->ssl)
		return front_fd_read(f->sock, buf, n, f->stop_fd, deadline);
	size_t got = 0;
	while (got < n) {
		short events = 0;
		int rc = front_ssl_step(f->ssl, SSL_read(f->ssl, (char *)buf + got, (int)(n - got)), &events);
		if (rc < 0)
			return rc;
		got += (size_t)rc;
		if (rc == 0 && (rc = front_wait(f->sock, events, f->stop_fd, deadline)) < 0)
			return rc;
	}
	return 0;
}

static int front_write(struct vnc_front *f, const void *buf, size_t n, int64_t deadline)
{
	size_t put = 0;
	while (put < n) {
		short events = f->ssl ? 0 : POLLOUT;
		if (f->ssl) {
			int rc =
			    front_ssl_step(f->ssl, SSL_write(f->ssl, (const char *)buf + put, (int)(n - put)), &events);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				put += (size_t)rc;
				continue;
			}
		} else {
			ssize_t w = send(f->sock, (const char *)buf + put, n - put, MSG_NOSIGNAL);
			if (w > 0) {
				put += (size_t)w;
				continue;
			}
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		int err = front_wait(f->sock, events, f->stop_fd, deadline);
		if (err < 0)
			return err;
	}
	return 0;
}

static uint32_t front_be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* TLS on the client's socket, server side, by the deadline. */
static int front_tls_accept(struct vnc_tls *t, struct vnc_front *f, int64_t deadline, const char *failed)
{
	f->ssl = SSL_new(t->ctx);
	if (!f->ssl || !SSL_set_fd(f->ssl, f->sock)) {
		front_log_ssl(f->address, "cannot start TLS");
		return -ENOMEM;
	}
	for (;;) {
		short events = 0;
		int rc = front_ssl_step(f->ssl, SSL_accept(f->ssl), &events);
		if (rc > 0)
			return 0;
		if (rc < 0) {
			front_log_ssl(f->address, failed);
			return rc;
		}
		int err = front_wait(f->sock, events, f->stop_fd, deadline);
		if (err < 0)
			return err;
	}
}

/* VeNCrypt 0.2, X509Plain: the TLS handshake, then the user name and password. */
static int front_vencrypt(struct vnc_tls *t, struct vnc_front *f, struct vnc_front_credentials *creds, int64_t deadline)
{
	static const uint8_t version[] = {0, 2};
	uint8_t got[4];
	int err = front_write(f, version, sizeof(version), deadline);
	if (!err)
		err = front_read(f, got, 2, deadline);
	if (err < 0)
		return err;
	if (got[0] != 0 || got[1] != 2) {
		static const uint8_t no = 1;
		front_write(f, &no, 1, deadline);
		log_info("vnc: %s: VeNCrypt %u.%u is not 0.2", f->address, got[0], got[1]);
		return -EPROTO;
	}
	static const uint8_t subtypes[] = {0,
					   1,
					   VENCRYPT_X509PLAIN >> 24,
					   VENCRYPT_X509PLAIN >> 16 & 0xff,
					   VENCRYPT_X509PLAIN >> 8 & 0xff,
					   VENCRYPT_X509PLAIN & 0xff};
	err = front_write(f, subtypes, sizeof(subtypes), deadline);
	if (!err)
		err = front_read(f, got, 4, deadline);
	if (err < 0)
		return err;
	uint8_t ok = front_be32(got) == VENCRYPT_X509PLAIN;
	err = front_write(f, &ok, 1, deadline);
	if (err < 0)
		return err;
	if (!ok) {
		log_info("vnc: %s: the client chose VeNCrypt subtype %u, not X509Plain", f->address, front_be32(got));
		return -EPROTO;
	}
	err = front_tls_accept(t, f, deadline, "TLS handshake failed");
	if (err < 0)
		return err;
	uint8_t lengths[8];
	err = front_read(f, lengths, sizeof(lengths), deadline);
	if (err < 0)
		return err;
	uint32_t ulen = front_be32(lengths), plen = front_be32(lengths + 4);
	if (ulen > VNC_FRONT_NAME_MAX || plen > VNC_FRONT_NAME_MAX) {
		log_info("vnc: %s: a user name of %u bytes or a password of %u (at most %d each)", f->address, ulen,
			 plen, VNC_FRONT_NAME_MAX);
		return -EMSGSIZE;
	}
	err = front_read(f, creds->user, ulen, deadline);
	if (!err)
		err = front_read(f, creds->password, plen, deadline);
	if (err < 0)
		return err;
	creds->user[ulen] = 0;
	creds->password[plen] = 0;
	/* A name with a NUL inside is not the name it seems. */
	if (strlen(creds->user) != ulen || strlen(creds->password) != plen) {
		log_info("vnc: %s: a user name or password with a NUL byte", f->address);
		return -EINVAL;
	}
	creds->given = ulen > 0;
	return 0;
}

static int front_security(struct vnc_tls *t, struct vnc_front *f, struct vnc_front_credentials *creds)
{
	int64_t deadline = front_now_ms() + FRONT_HANDSHAKE_MS;
	static const char server_version[] = "RFB 003.008\n";
	char version[13] = "";
	int err = front_write(f, server_version, 12, deadline);
	if (!err)
		err = front_read(f, version, 12, deadline);
	if (err < 0)
		return err;
	/* "RFB xxx.yyy\n", three decimal digits each. */
	bool digits = true;
	for (int i = 4; i < 11; i++)
		digits &= i == 7 ? version[i] == '.' : version[i] >= '0' && version[i] <= '9';
	unsigned minor =
	    (unsigned)(version[8] - '0') * 100 + (unsigned)(version[9] - '0') * 10 + (unsigned)(version[10] - '0');
	if (memcmp(version, "RFB 003.", 8) != 0 || !digits || version[11] != '\n') {
		log_info("vnc: %s: not an RFB 3.x client", f->address);
		return -EPROTO;
	}
	/* 3.3 and the odd versions before 3.7 get 3.3: the server picks None. */
	f->minor = minor >= 8 ? 8 : minor == 7 ? 7 : 3;
	if (f->minor == 3 && t->required) {
		/* 3.3's server-chosen type 0 is a refusal with a reason. */
		static const char why[] = "this server requires TLS (VeNCrypt); this client offers none";
		uint8_t head[8] = {0, 0, 0, 0, 0, 0, 0, sizeof(why) - 1};
		front_write(f, head, sizeof(head), deadline);
		front_write(f, why, sizeof(why) - 1, deadline);
		log_info("vnc: %s: an RFB 3.3 client, refused: TLS is required", f->address);
		return -EACCES;
	}
	if (f->minor == 3) {
		static const uint8_t none[] = {0, 0, 0, RFB_SEC_NONE};
		return front_write(f, none, sizeof(none), deadline);
	}
	static const uint8_t types[] = {2, RFB_SEC_VENCRYPT, RFB_SEC_NONE}, tls_only[] = {1, RFB_SEC_VENCRYPT};
	uint8_t choice;
	err = t->required ? front_write(f, tls_only, sizeof(tls_only), deadline)
			  : front_write(f, types, sizeof(types), deadline);
	if (!err)
		err = front_read(f, &choice, 1, deadline);
	if (err < 0)
		return err;
	if (choice == RFB_SEC_NONE && !t->required)
		return 0;
	if (choice == RFB_SEC_VENCRYPT)
		return front_vencrypt(t, f, creds, deadline);
	log_info("vnc: %s: the client chose security type %u, which was not offered", f->address, choice);
	return -EPROTO;
}

/* Whether a client that spoke first sent the side stream's preface: 1 yes (not consumed), 0 no, <0 it left. */
static int front_sniff_channel(int sock, int stop_fd)
{
	static const char preface[] = CHANNEL_RFB_PREFACE;
	char got[sizeof(preface) - 1];
	int64_t deadline = front_now_ms() + FRONT_LIB_MS;
	for (;;) {
		ssize_t n = recv(sock, got, sizeof(got), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0 && memcmp(got, preface, (size_t)n) != 0)
			return 0;
		if (n == (ssize_t)sizeof(got))
			return 1;
		/* A prefix so far: the rest is on its way (a TLS or HTTP opening differs at once). */
		int err = front_wait(sock, POLLIN, stop_fd, deadline);
		if (err < 0)
			return err;
		struct timespec pause = {0, 2000000};
		nanosleep(&pause, NULL);
	}
}

/* The side stream: the preface, TLS, the token. */
static int front_channel(struct vnc_tls *t, struct vnc_front *f, char *token)
{
	int64_t deadline = front_now_ms() + FRONT_HANDSHAKE_MS;
	char preface[sizeof(CHANNEL_RFB_PREFACE) - 1];
	int err = front_fd_read(f->sock, preface, sizeof(preface), f->stop_fd, deadline);
	if (err < 0)
		return err;
	err = front_tls_accept(t, f, deadline, "TLS handshake of a side stream failed");
	if (err < 0)
		return err;
	uint8_t len;
	err = front_read(f, &len, 1, deadline);
	if (!err && (len == 0 || len > VNC_FRONT_TOKEN_MAX))
		err = -EPROTO;
	if (!err)
		err = front_read(f, token, len, deadline);
	if (err < 0)
		return err;
	token[len] = '\0';
	if (strlen(token) != len)
		return -EPROTO;
	return 0;
}

/* vnc_front_handshake() once the client has spoken or waited, as RFB clients do: everything after the
 * sniff (tests/fuzz/fuzz_vnc_front.c runs it on bytes already sent). `channel`: the client sent the side
 * stream's preface. */
static int front_start(struct vnc_tls *t, int sock, int stop_fd, const char *address, bool channel,
		       struct vnc_front **out, struct vnc_front_credentials *creds, char *token)
{
	*out = NULL;
	memset(creds, 0, sizeof(*creds));
	struct vnc_front *f = calloc(1, sizeof(*f));
	if (!f) {
		close(sock);
		return -ENOMEM;
	}
	f->sock = sock;
	f->stop_fd = stop_fd;
	f->lib = -1;
	f->plain = -1;
	f->relay_end = -1;
	snprintf(f->address, sizeof(f->address), "%s", address);
	/* What libvncserver would do for a client it served directly: small updates go out at once. */
	int one = 1;
	if (setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("vnc: %s: TCP_NODELAY: %s", address, strerror(errno));
	int flags = fcntl(sock, F_GETFL);
	int err = flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno
		  : channel						    ? front_channel(t, f, token)
									    : front_security(t, f, creds);
	if (err == 0 && channel) {
		/* The side stream ends with its connection, not with the server's stop: its last words (why the
		 * connection ends) come after that. */
		f->stop_fd = -1;
		*out = f;
		return 2;
	}
	if (err < 0) {
		if (err != -ECANCELED)
			log_info("vnc: %s: security handshake failed: %s", address, strerror(-err));
		explicit_bzero(creds, sizeof(*creds));
		vnc_front_close(f);
		return err;
	}
	log_info("vnc: %s: RFB 3.%d, %s", address, f->minor,
		 f->ssl
		     ? creds->given ? "VeNCrypt X509Plain with a user name" : "VeNCrypt X509Plain without a user name"
		     : "no security (the login screen asks)");
	*out = f;
	return 0;
}

int vnc_front_handshake(struct vnc_tls *t, int sock, int stop_fd, const char *address, struct vnc_front **out,
			struct vnc_front_credentials *creds, char *token)
{
	*out = NULL;
	memset(creds, 0, sizeof(*creds));
	token[0] = '\0';
	int err = front_wait(sock, POLLIN, stop_fd, front_now_ms() + FRONT_SNIFF_MS);
	int channel = err == 0 ? front_sniff_channel(sock, stop_fd) : 0;
	if (channel < 0) {
		close(sock);
		return channel;
	}
	if (channel)
		err = -EAGAIN; /* ours to answer, not libvncserver's */
	uint8_t first = 0;
	/* TLS records open with 22 (handshake): wss://, which libvncserver terminates. */
	if (err == 0 && t->required && (recv(sock, &first, 1, MSG_PEEK | MSG_DONTWAIT) != 1 || first != 22)) {
		log_info("vnc: %s: a client without TLS (plain WebSocket?), refused: TLS is required", address);
		close(sock);
		return -EACCES;
	}
	if (err == 0)
		return 1;
	if (err == -ECANCELED) {
		close(sock);
		return err;
	}
	return front_start(t, sock, stop_fd, address, channel, out, creds, token);
}

/* The relay's socket pair: our end high, libvncserver's below FD_SETSIZE (all it can hold). */
static int front_pair(struct vnc_front *f)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		log_error("vnc: %s: socketpair: %s", f->address, strerror(errno));
		return -errno;
	}
	f->lib = fd_move_high(pair[1]);
	f->plain = fd_move_low(pair[0]);
	if (f->plain < 0) {
		log_warn("vnc: refusing %s: no descriptor below %d is free for libvncserver", f->address, FD_SETSIZE);
		close(pair[0]);
		return -EMFILE;
	}
	return 0;
}

int vnc_front_result(struct vnc_front *f, const char *refusal)
{
	int64_t deadline = front_now_ms() + FRONT_LIB_MS;
	int full = refusal ? 0 : front_pair(f);
	if (full < 0)
		refusal =
		    full == -EMFILE ? "the server is full; try again later" : "the server cannot take a connection now";
	/* RFB 3.3 and 3.7's None have no result: a refusal can only close. */
	int refused = full < 0 ? full : -EACCES;
	if (f->minor == 3 || (f->minor == 7 && !f->ssl))
		return refusal ? refused : 0;
	uint8_t result[4] = {0, 0, 0, refusal ? 1 : 0};
	int err = front_write(f, result, sizeof(result), deadline);
	if (err < 0 || !refusal || f->minor < 8)
		return err < 0 ? err : refusal ? refused : 0;
	size_t len = strlen(refusal);
	uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
	err = front_write(f, be, sizeof(be), deadline);
	if (!err)
		err = front_write(f, refusal, len, deadline);
	return err < 0 ? err : refused;
}

/* ---- the relay ---- */

/* libvncserver's handshake, answered as a plain client choosing None
 * (our version went into the pair before it started). */
static int front_lib_handshake(struct vnc_front *f)
{
	int64_t deadline = front_now_ms() + FRONT_LIB_MS;
	uint8_t buf[256] = {0};
	int err = front_fd_read(f->lib, buf, 12, f->relay_end, deadline);
	if (!err && memcmp(buf, "RFB 003.008\n", 12) != 0)
		err = -EPROTO;
	if (!err)
		err = front_fd_read(f->lib, buf, 1, f->relay_end, deadline);
	uint8_t n = buf[0];
	if (!err && n == 0)
		err = -EPROTO;
	if (!err)
		err = front_fd_read(f->lib, buf, n, f->relay_end, deadline);
	if (err < 0)
		return err;
	if (!memchr(buf, RFB_SEC_NONE, n))
		return -EPROTO;
	uint8_t none = RFB_SEC_NONE;
	if (write(f->lib, &none, 1) != 1)
		return -EIO;
	err = front_fd_read(f->lib, buf, 4, f->relay_end, deadline);
	if (!err && front_be32(buf) != 0)
		err = -EACCES;
	return err;
}

struct front_buf {
	uint8_t data[FRONT_RELAY_BUF];
	size_t off, len;
};

/* From the client into the pair. *want gets what the client socket must become. */
static int front_client_in(struct vnc_front *f, struct front_buf *b, short *want)
{
	if (b->len)
		return 0;
	if (f->ssl) {
		int rc = front_ssl_step(f->ssl, SSL_read(f->ssl, b->data, sizeof(b->data)), want);
		if (rc > 0) {
			b->off = 0;
			b->len = (size_t)rc;
		}
		return rc;
	}
	ssize_t r = recv(f->sock, b->data, sizeof(b->data), 0);
	if (r > 0) {
		b->off = 0;
		b->len = (size_t)r;
		return (int)r;
	}
	if (r == 0)
		return -ECONNRESET;
	if (errno != EAGAIN && errno != EINTR)
		return -errno;
	*want |= POLLIN;
	return 0;
}

static int front_client_out(struct vnc_front *f, struct front_buf *b, short *want)
{
	if (!b->len)
		return 0;
	int done;
	if (f->ssl) {
		done = front_ssl_step(f->ssl, SSL_write(f->ssl, b->data + b->off, (int)b->len), want);
		if (done < 0)
			return done;
	} else {
		ssize_t w = send(f->sock, b->data + b->off, b->len, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (w <= 0)
			*want |= POLLOUT;
		done = w > 0 ? (int)w : 0;
	}
	b->off += (size_t)done;
	b->len -= (size_t)done;
	return done;
}

/* Bytes between fd and a buffer: in when `in`, else out. >0 moved, 0 would block, <0 ended. */
static int front_pipe(int fd, struct front_buf *b, bool in)
{
	ssize_t n;
	if (in) {
		if (b->len)
			return 0;
		n = recv(fd, b->data, sizeof(b->data), 0);
		if (n > 0) {
			b->off = 0;
			b->len = (size_t)n;
		}
	} else {
		if (!b->len)
			return 0;
		n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
		if (n > 0) {
			b->off += (size_t)n;
			b->len -= (size_t)n;
		}
	}
	if (n > 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

static void *front_relay_thread(void *opaque)
{
	struct vnc_front *f = opaque;
	struct front_buf *up = malloc(sizeof(*up)), *down = malloc(sizeof(*down)); /* client -> lib, lib -> client */
	int err = !up || !down ? -ENOMEM : front_lib_handshake(f);
	if (err < 0 && err != -ECANCELED)
		log_error("vnc: %s: libvncserver's side of the relay failed: %s", f->address, strerror(-err));
	if (up && down)
		up->len = up->off = down->len = down->off = 0;
	/* A side at its end still gets what the other sent before it: the
	 * relay ends once that is delivered (or cannot be). */
	bool client_eof = false, lib_eof = false;
	while (err >= 0) {
		short in_want = 0, out_want = 0;
		int moved = 0, rc;
		if (!client_eof && (rc = front_client_in(f, up, &in_want)) != 0) {
			if (rc < 0 && rc != -ECONNRESET)
				break;
			client_eof = rc < 0;
			moved += rc > 0 ? rc : 0;
		}
		if ((rc = front_pipe(f->lib, up, false)) < 0)
			break;
		moved += rc;
		if (!lib_eof && (rc = front_pipe(f->lib, down, true)) != 0) {
			if (rc < 0 && rc != -ECONNRESET)
				break;
			lib_eof = rc < 0;
			moved += rc > 0 ? rc : 0;
		}
		if ((rc = front_client_out(f, down, &out_want)) < 0)
			break;
		moved += rc;
		if ((client_eof && !up->len) || (lib_eof && !down->len))
			break;
		if (moved)
			continue;
		/* Nothing moved: wait for whatever would let something move. A
		 * side nothing is wanted from stays out of the poll, so its
		 * hang-up cannot wake this over and over. */
		short client_want = (short)(in_want | out_want);
		short lib_want = (short)((up->len ? POLLOUT : 0) | (down->len || lib_eof ? 0 : POLLIN));
		struct pollfd p[3] = {{.fd = client_want ? f->sock : -1, .events = client_want},
				      {.fd = lib_want ? f->lib : -1, .events = lib_want},
				      {.fd = f->relay_end, .events = POLLIN}};
		if ((poll(p, 3, -1) < 0 && errno != EINTR) || p[2].revents)
			break;
	}
	/* Either side gone: the other hears of it. */
	if (f->ssl)
		SSL_shutdown(f->ssl);
	shutdown(f->sock, SHUT_RDWR);
	shutdown(f->lib, SHUT_RDWR);
	free(up);
	free(down);
	return NULL;
}

int vnc_front_relay(struct vnc_front *f)
{
	if (f->plain < 0)
		return -EINVAL; /* no accepted result before */
	/* Our client's version, there before libvncserver looks for WebSocket, so it need not wait. */
	int flags = fcntl(f->lib, F_GETFL);
	if (write(f->lib, "RFB 003.008\n", 12) != 12 || flags < 0 || fcntl(f->lib, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    (f->relay_end = fd_move_high(eventfd(0, EFD_CLOEXEC))) < 0) {
		int err = -errno;
		log_error("vnc: %s: cannot set up the relay: %s", f->address, strerror(errno));
		return err;
	}
	int err = pthread_create(&f->relay, NULL, front_relay_thread, f);
	if (err) {
		log_error("vnc: %s: cannot start the relay thread: %s", f->address, strerror(err));
		return -err;
	}
	f->relaying = true;
	int plain = f->plain;
	f->plain = -1;
	return plain;
}

void vnc_front_close(struct vnc_front *f)
{
	if (!f)
		return;
	if (f->relaying) {
		uint64_t one = 1;
		if (write(f->relay_end, &one, sizeof(one)) != sizeof(one))
			log_warn("vnc: %s: cannot stop the relay: %s", f->address, strerror(errno));
		pthread_join(f->relay, NULL);
	}
	SSL_free(f->ssl);
	close(f->sock);
	if (f->lib >= 0)
		close(f->lib);
	if (f->plain >= 0)
		close(f->plain);
	if (f->relay_end >= 0)
		close(f->relay_end);
	free(f);
}

int vnc_front_socket(const struct vnc_front *f)
{
	return f->sock;
}

int vnc_front_stream_read(struct vnc_front *f, void *buf, size_t n, short *want)
{
	*want = 0;
	int rc = front_ssl_step(f->ssl, SSL_read(f->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n), want);
	return rc;
}

int vnc_front_stream_write(struct vnc_front *f, const void *buf, size_t n, int timeout_ms)
{
	return front_write(f, buf, n, front_now_ms() + timeout_ms);
}
