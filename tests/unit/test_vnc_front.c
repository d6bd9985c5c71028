/* test_vnc_front.c — display/vnc_front.c, the VeNCrypt front of the VNC
 * server: RFB 3.3/3.7/3.8 with None, VeNCrypt X509Plain through real
 * OpenSSL, refusals, hostile clients, WebSocket pass-through, stopping, and
 * the relay to libvncserver's side both ways until either end closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/tls.h"
#include "../../display/vnc_front.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define BIG (1024 * 1024)

static char dir[] = "/tmp/test_vnc_front_XXXXXX", cert[128], key[128];
static struct vnc_tls *server_tls;
static SSL_CTX *client_ctx;

/* What the client thread does; the BAD_ ones stop early and read until the server closes. */
enum script {
	GOOD,
	LIB_LAST_WORDS, /* reads what libvncserver wrote just before it closed */
	REFUSED,
	BAD_VERSION,
	BAD_SIGNED_VERSION, /* "RFB 003.-01": digits only, or it is no version */
	BAD_TYPE,
	BAD_VENCRYPT_VERSION,
	BAD_SUBTYPE,
	BAD_USER_LENGTH,
	BAD_NUL_IN_USER,
	BAD_CLOSE_AFTER_VERSION,
	BAD_TLS_GARBAGE,
	STOP_AFTER_VERSION,
};
/* Which end closes the relay first. */
enum end { END_LIB, END_FRONT, END_CLIENT };

struct client {
	enum script script;
	int minor;     /* RFB 3.x the client claims */
	bool vencrypt; /* chooses 19, else 1 (3.7/3.8) */
	enum end end;
	int fd, stop_fd;
	SSL *ssl;
	pthread_t thread;
	/* What it saw; asserted on the test's thread. */
	const char *failed_at;
	char server_version[13];
	uint8_t sec33[4], types[8], vencrypt_version[2], answer, result[4], reason_len[4];
	size_t ntypes;
	char reason[16], world[6];
	long verify;
	bool big_ok, eof, tls_eof;
};

/* Keeps a bug from hanging the test: a stuck read or write fails instead. */
static void guard(int fd)
{
	struct timeval tv = {.tv_sec = 20};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static uint8_t pattern(size_t i, unsigned seed)
{
	return (uint8_t)((i * 2654435761u >> 13) ^ (i >> 9) ^ seed);
}

static int xread(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int xwrite(int fd, const void *buf, size_t n)
{
	for (size_t put = 0; put < n;) {
		ssize_t w = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		put += (size_t)w;
	}
	return 0;
}

/* The client's reads and writes: through TLS once it started. */
static int cl_read(struct client *c, void *buf, size_t n)
{
	if (!c->ssl)
		return xread(c->fd, buf, n);
	for (size_t got = 0; got < n;) {
		int r = SSL_read(c->ssl, (char *)buf + got, (int)(n - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int cl_write(struct client *c, const void *buf, size_t n)
{
	if (!c->ssl)
		return xwrite(c->fd, buf, n);
	return SSL_write(c->ssl, buf, (int)n) == (int)n ? 0 : -1;
}

static void be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

#define STEP(expr, what)                                                                                               \
	do {                                                                                                           \
		if ((expr) < 0) {                                                                                      \
			c->failed_at = what;                                                                           \
			return -1;                                                                                     \
		}                                                                                                      \
	} while (0)

/* VeNCrypt up to the user name and password; 1: a bad script stopped. */
static int cl_vencrypt(struct client *c)
{
	uint8_t version[2] = {0, c->script == BAD_VENCRYPT_VERSION ? 1 : 2}, b[4];
	STEP(cl_read(c, c->vencrypt_version, 2), "VeNCrypt version");
	STEP(cl_write(c, version, 2), "VeNCrypt version reply");
	STEP(cl_read(c, &c->answer, 1), "VeNCrypt version answer");
	if (c->script == BAD_VENCRYPT_VERSION)
		return 1;
	uint8_t count;
	STEP(cl_read(c, &count, 1), "subtype count");
	if (count != 1)
		STEP(-1, "subtype count is not 1");
	STEP(cl_read(c, b, 4), "subtype");
	be32(b, c->script == BAD_SUBTYPE ? 261 : 262);
	STEP(cl_write(c, b, 4), "subtype choice");
	STEP(cl_read(c, &c->answer, 1), "subtype answer");
	if (c->script == BAD_SUBTYPE)
		return 1;
	if (c->script == BAD_TLS_GARBAGE) {
		static const char garbage[64] = "this is no TLS ClientHello, only bytes that look like none";
		STEP(xwrite(c->fd, garbage, sizeof(garbage)), "garbage");
		return 1;
	}
	c->ssl = SSL_new(client_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
		STEP(-1, "TLS handshake");
	c->verify = SSL_get_verify_result(c->ssl);
	static const char alice[] = "alice", pw[] = "pw-alice", nul[] = "al\0ce";
	bool bad_nul = c->script == BAD_NUL_IN_USER;
	uint8_t lengths[8];
	be32(lengths, c->script == BAD_USER_LENGTH ? 1000 : 5);
	be32(lengths + 4, 8);
	STEP(cl_write(c, lengths, 8), "credential lengths");
	if (c->script == BAD_USER_LENGTH)
		return 1;
	STEP(cl_write(c, bad_nul ? nul : alice, 5), "user");
	STEP(cl_write(c, pw, 8), "password");
	return bad_nul ? 1 : 0;
}

/* After the security handshake: the result, then traffic through the relay, then the end. */
static int cl_relay(struct client *c)
{
	if (c->minor == 8 || c->vencrypt)
		STEP(cl_read(c, c->result, 4), "security result");
	if (c->script == REFUSED) {
		STEP(cl_read(c, c->reason_len, 4), "reason length");
		uint32_t len = (uint32_t)c->reason_len[0] << 24 | c->reason_len[1] << 16 | c->reason_len[2] << 8 |
			       c->reason_len[3];
		if (len >= sizeof(c->reason))
			STEP(-1, "reason too long");
		STEP(cl_read(c, c->reason, len), "reason");
		return 1;
	}
	bool chat = c->script == GOOD;
	if (chat) {
		STEP(cl_write(c, "hello", 5), "hello");
		STEP(cl_read(c, c->world, 5), "world");
	}
	uint8_t *big = malloc(BIG);
	if (!big)
		STEP(-1, "malloc");
	if (c->ssl && chat) {
		for (size_t i = 0; i < BIG; i++)
			big[i] = pattern(i, 1);
		if (cl_write(c, big, BIG) < 0)
			c->failed_at = "1 MiB up";
	}
	/* Slowly, in small pieces, so the relay finds the client's socket full. */
	for (size_t got = 0; !c->failed_at && got < BIG; got += 1024) {
		if (cl_read(c, big + got, 1024) < 0)
			c->failed_at = "1 MiB down";
		usleep(100);
	}
	c->big_ok = !c->failed_at;
	for (size_t i = 0; c->big_ok && i < BIG; i++)
		c->big_ok = big[i] == pattern(i, 2);
	free(big);
	if (c->failed_at)
		return -1;
	if (chat)
		STEP(cl_write(c, "done", 4), "done");
	if (c->end == END_CLIENT) {
		if (c->ssl)
			SSL_shutdown(c->ssl);
		shutdown(c->fd, SHUT_WR);
	}
	uint8_t b;
	if (c->ssl) {
		int r = SSL_read(c->ssl, &b, 1);
		c->tls_eof = r <= 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN;
	}
	return 1;
}

static int cl_script(struct client *c)
{
	STEP(xread(c->fd, c->server_version, 12), "server version");
	if (c->script == STOP_AFTER_VERSION) {
		uint64_t one = 1;
		STEP(write(c->stop_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1, "stop");
		return 1;
	}
	char version[16];
	snprintf(version, sizeof(version),
		 c->script == BAD_VERSION          ? "HELLO WORLD\n"
		 : c->script == BAD_SIGNED_VERSION ? "RFB 003.-01\n"
						   : "RFB 003.%03d\n",
		 c->minor);
	STEP(xwrite(c->fd, version, 12), "client version");
	if (c->script == BAD_VERSION || c->script == BAD_SIGNED_VERSION)
		return 1;
	if (c->script == BAD_CLOSE_AFTER_VERSION) {
		close(c->fd);
		c->fd = -1;
		return 1;
	}
	if (c->minor == 3) {
		STEP(xread(c->fd, c->sec33, 4), "3.3 security type");
		return cl_relay(c);
	}
	uint8_t count;
	STEP(xread(c->fd, &count, 1), "type count");
	if (count == 0 || count > sizeof(c->types))
		STEP(-1, "type count");
	c->ntypes = count;
	STEP(xread(c->fd, c->types, count), "types");
	uint8_t choice = c->script == BAD_TYPE ? 2 : c->vencrypt ? 19 : 1;
	STEP(xwrite(c->fd, &choice, 1), "type choice");
	if (choice == 2)
		return 1;
	int rc = choice == 19 ? cl_vencrypt(c) : 0;
	return rc ? rc : cl_relay(c);
}

static void *cl_thread(void *opaque)
{
	struct client *c = opaque;
	cl_script(c);
	/* Whatever is left, up to the server's close: a hang here is a bug, the guard turns it into a failure. */
	char b[4096];
	ssize_t r = 0;
	while (c->fd >= 0 && (r = recv(c->fd, b, sizeof(b), 0)) > 0)
		;
	/* Closed: an end of stream, or a reset when the server closed with our bytes unread (garbage). */
	c->eof = c->fd < 0 || r == 0 || (r < 0 && errno == ECONNRESET);
	return NULL;
}

/* Starts the client's thread; returns the server's end of the connection. */
static int cl_start(struct client *c)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	guard(sv[0]);
	guard(sv[1]);
	c->fd = sv[1];
	assert_int_equal(pthread_create(&c->thread, NULL, cl_thread, c), 0);
	return sv[0];
}

static void cl_finish(struct client *c)
{
	assert_int_equal(pthread_join(c->thread, NULL), 0);
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
}

static void client_ok(const struct client *c)
{
	if (c->failed_at)
		fail_msg("the client failed at: %s", c->failed_at);
}

/* libvncserver's part on the relay's socket: a server that offers None. */
static void lib_handshake(int lib)
{
	char version[12];
	uint8_t choice;
	static const uint8_t types[] = {1, 1}, ok[4] = {0};
	assert_int_equal(xread(lib, version, 12), 0);
	assert_memory_equal(version, "RFB 003.008\n", 12);
	assert_int_equal(xwrite(lib, "RFB 003.008\n", 12), 0);
	assert_int_equal(xwrite(lib, types, 2), 0);
	assert_int_equal(xread(lib, &choice, 1), 0);
	assert_int_equal(choice, 1);
	assert_int_equal(xwrite(lib, ok, 4), 0);
}

static bool lib_eof(int lib)
{
	char b;
	return recv(lib, &b, 1, 0) == 0;
}

/* A whole good connection: handshake, result, relay traffic, the end chosen. */
static void good_connection(int minor, bool vencrypt, enum end end)
{
	struct client c = {.script = GOOD, .minor = minor, .vencrypt = vencrypt, .end = end};
	int stop = eventfd(0, EFD_CLOEXEC);
	assert_true(stop >= 0);
	struct vnc_front *f = NULL;
	struct vnc_front_credentials creds;
	int sock = cl_start(&c);
	assert_int_equal(
	    vnc_front_handshake(server_tls, sock, stop, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}), 0);
	assert_non_null(f);
	assert_int_equal(creds.given, vencrypt);
	if (vencrypt) {
		assert_string_equal(creds.user, "alice");
		assert_string_equal(creds.password, "pw-alice");
	}
	assert_int_equal(vnc_front_result(f, NULL), 0);
	int lib = vnc_front_relay(f);
	assert_true(lib >= 0);
	guard(lib);
	lib_handshake(lib);
	char hello[5];
	assert_int_equal(xread(lib, hello, 5), 0);
	assert_memory_equal(hello, "hello", 5);
	assert_int_equal(xwrite(lib, "world", 5), 0);
	uint8_t *big = malloc(BIG);
	assert_non_null(big);
	if (vencrypt) {
		assert_int_equal(xread(lib, big, BIG), 0);
		for (size_t i = 0; i < BIG; i++)
			if (big[i] != pattern(i, 1))
				fail_msg("1 MiB up differs at byte %zu", i);
	}
	for (size_t i = 0; i < BIG; i++)
		big[i] = pattern(i, 2);
	assert_int_equal(xwrite(lib, big, BIG), 0);
	free(big);
	/* The client has all of it before either end goes. */
	char done[4];
	assert_int_equal(xread(lib, done, 4), 0);
	assert_memory_equal(done, "done", 4);
	if (end == END_LIB) {
		close(lib);
		cl_finish(&c);
		vnc_front_close(f);
	} else if (end == END_FRONT) {
		vnc_front_close(f);
		assert_true(lib_eof(lib));
		close(lib);
		cl_finish(&c);
	} else {
		assert_true(lib_eof(lib));
		close(lib);
		cl_finish(&c);
		vnc_front_close(f);
	}
	close(stop);
	client_ok(&c);
	assert_string_equal(c.server_version, "RFB 003.008\n");
	if (minor == 3) {
		static const uint8_t none[] = {0, 0, 0, 1};
		assert_memory_equal(c.sec33, none, 4);
	} else {
		static const uint8_t offered[] = {19, 1};
		assert_int_equal(c.ntypes, 2);
		assert_memory_equal(c.types, offered, 2);
	}
	static const uint8_t zero[4] = {0};
	assert_memory_equal(c.result, zero, 4);
	/* For 3.3 and 3.7-with-None "world" must come first: a stray result would shift it. */
	assert_string_equal(c.world, "world");
	assert_true(c.big_ok);
	if (vencrypt) {
		static const uint8_t v02[] = {0, 2};
		assert_memory_equal(c.vencrypt_version, v02, 2);
		assert_int_equal(c.answer, 1);
		assert_int_equal(c.verify, X509_V_OK);
		if (end != END_CLIENT)
			assert_true(c.tls_eof);
	}
	assert_true(c.eof);
}

/* 1 and 8: None with 3.8; the relay ends when libvncserver's side closes. */
static void test_none_38(void **state)
{
	(void)state;
	good_connection(8, false, END_LIB);
}

/* 2 and 8: a 3.3 client gets None chosen for it, no result; the relay ends with vnc_front_close. */
static void test_rfb33(void **state)
{
	(void)state;
	good_connection(3, false, END_FRONT);
}

/* 3.7 with None has no result either; the relay ends when the client closes. */
static void test_rfb37_none(void **state)
{
	(void)state;
	good_connection(7, false, END_CLIENT);
}

/* 3 and 8: VeNCrypt X509Plain, each way to end the relay. */
static void test_vencrypt_lib_closes(void **state)
{
	(void)state;
	good_connection(8, true, END_LIB);
}

static void test_vencrypt_front_closes(void **state)
{
	(void)state;
	good_connection(8, true, END_FRONT);
}

static void test_vencrypt_client_closes(void **state)
{
	(void)state;
	good_connection(8, true, END_CLIENT);
}

/* 8: what libvncserver wrote just before it closed still reaches a client that reads slowly, then the end. */
static void last_words(bool vencrypt)
{
	struct client c = {.script = LIB_LAST_WORDS, .minor = 8, .vencrypt = vencrypt};
	struct vnc_front *f = NULL;
	struct vnc_front_credentials creds;
	int sock = cl_start(&c);
	assert_int_equal(
	    vnc_front_handshake(server_tls, sock, -1, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}), 0);
	assert_int_equal(vnc_front_result(f, NULL), 0);
	int lib = vnc_front_relay(f);
	assert_true(lib >= 0);
	guard(lib);
	lib_handshake(lib);
	uint8_t *big = malloc(BIG);
	assert_non_null(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = pattern(i, 2);
	assert_int_equal(xwrite(lib, big, BIG), 0);
	free(big);
	close(lib);
	cl_finish(&c);
	vnc_front_close(f);
	client_ok(&c);
	assert_true(c.big_ok);
	assert_true(vencrypt ? c.tls_eof : c.eof);
}

static void test_lib_last_words_plain(void **state)
{
	(void)state;
	last_words(false);
}

static void test_lib_last_words_tls(void **state)
{
	(void)state;
	last_words(true);
}

/* 4: a refusal with its reason. */
static void test_refusal(void **state)
{
	(void)state;
	struct client c = {.script = REFUSED, .minor = 8};
	struct vnc_front *f = NULL;
	struct vnc_front_credentials creds;
	int sock = cl_start(&c);
	assert_int_equal(
	    vnc_front_handshake(server_tls, sock, -1, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}), 0);
	assert_int_equal(vnc_front_result(f, "full"), -EACCES);
	vnc_front_close(f);
	cl_finish(&c);
	static const uint8_t one[] = {0, 0, 0, 1}, four[] = {0, 0, 0, 4};
	client_ok(&c);
	assert_memory_equal(c.result, one, 4);
	assert_memory_equal(c.reason_len, four, 4);
	assert_string_equal(c.reason, "full");
	assert_true(c.eof);
}

/* 5: a bad client fails the handshake with `want` (0: any negative errno), the socket closed. */
static void bad_client(enum script script, bool vencrypt, int want, int answer)
{
	struct client c = {.script = script, .minor = 8, .vencrypt = vencrypt, .answer = 0xee};
	struct vnc_front *f = (struct vnc_front *)&c;
	struct vnc_front_credentials creds;
	int sock = cl_start(&c);
	int rc = vnc_front_handshake(server_tls, sock, -1, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0});
	cl_finish(&c);
	if (want)
		assert_int_equal(rc, want);
	else
		assert_true(rc < 0);
	assert_null(f);
	assert_false(creds.given);
	client_ok(&c);
	assert_true(c.eof);
	if (answer >= 0)
		assert_int_equal(c.answer, answer);
}

static void test_bad_clients(void **state)
{
	(void)state;
	bad_client(BAD_VERSION, false, -EPROTO, -1);
	bad_client(BAD_SIGNED_VERSION, false, -EPROTO, -1);
	bad_client(BAD_TYPE, false, -EPROTO, -1);
	bad_client(BAD_VENCRYPT_VERSION, true, -EPROTO, 1);
	bad_client(BAD_SUBTYPE, true, -EPROTO, 0);
	bad_client(BAD_USER_LENGTH, true, -EMSGSIZE, 1);
	bad_client(BAD_NUL_IN_USER, true, -EINVAL, 1);
	bad_client(BAD_CLOSE_AFTER_VERSION, false, 0, -1);
	bad_client(BAD_TLS_GARBAGE, true, 0, 1);
}

/* 6: a client that speaks first goes to libvncserver with its socket as it was. */
static void test_websocket(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int flags = fcntl(sv[0], F_GETFL);
	assert_int_equal(xwrite(sv[1], "GET / HTTP/1.1\r\n", 16), 0);
	struct vnc_front *f = (struct vnc_front *)sv;
	struct vnc_front_credentials creds;
	assert_int_equal(
	    vnc_front_handshake(server_tls, sv[0], -1, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}), 1);
	assert_null(f);
	assert_int_equal(fcntl(sv[0], F_GETFL), flags);
	char b[16];
	assert_int_equal(recv(sv[0], b, sizeof(b), MSG_PEEK | MSG_DONTWAIT), 16);
	assert_memory_equal(b, "GET / HTTP/1.1\r\n", 16);
	/* Nothing was sent to the client either. */
	assert_int_equal(recv(sv[1], b, sizeof(b), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

/* 7: stop_fd abandons a handshake whose client is silent, and one not yet begun. */
static void test_stop(void **state)
{
	(void)state;
	struct client c = {.script = STOP_AFTER_VERSION, .minor = 8};
	c.stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(c.stop_fd >= 0);
	struct vnc_front *f = (struct vnc_front *)&c;
	struct vnc_front_credentials creds;
	int sock = cl_start(&c);
	assert_int_equal(
	    vnc_front_handshake(server_tls, sock, c.stop_fd, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}),
	    -ECANCELED);
	assert_null(f);
	cl_finish(&c);
	client_ok(&c);
	assert_string_equal(c.server_version, "RFB 003.008\n");
	assert_true(c.eof);

	/* Already stopping when the client arrives: its socket is closed too. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	guard(sv[1]);
	assert_int_equal(
	    vnc_front_handshake(server_tls, sv[0], c.stop_fd, "test", &f, &creds, (char[VNC_FRONT_TOKEN_MAX + 1]){0}),
	    -ECANCELED);
	assert_null(f);
	assert_true(lib_eof(sv[1]));
	close(sv[1]);
	close(c.stop_fd);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return -1;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (tls_identity(cert, key) < 0 || !(server_tls = vnc_tls_new(cert, key)))
		return -1;
	client_ctx = SSL_CTX_new(TLS_client_method());
	if (!client_ctx || SSL_CTX_load_verify_locations(client_ctx, cert, NULL) != 1)
		return -1;
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	SSL_CTX_free(client_ctx);
	vnc_tls_free(server_tls);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none_38),
	    cmocka_unit_test(test_rfb33),
	    cmocka_unit_test(test_rfb37_none),
	    cmocka_unit_test(test_vencrypt_lib_closes),
	    cmocka_unit_test(test_vencrypt_front_closes),
	    cmocka_unit_test(test_vencrypt_client_closes),
	    cmocka_unit_test(test_lib_last_words_plain),
	    cmocka_unit_test(test_lib_last_words_tls),
	    cmocka_unit_test(test_refusal),
	    cmocka_unit_test(test_bad_clients),
	    cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
