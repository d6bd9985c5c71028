/* rdp_front.c — TLS and the first PDUs of an RDP connection in front of
 * FreeRDP's server: the X.224 negotiation passed through, TLS through
 * OpenSSL on both sides, then a relay thread that frames the client's PDUs
 * up to its Erect Domain Request (normalizing what FreeRDP would refuse)
 * and carries everything else as it comes. */
#include "rdp_front.h"

#include "../common/fd.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* A TPKT's length is 16 bits; a normalized PDU grows by a few bytes. */
#define FRONT_PDU_MAX     65535
#define FRONT_C2S_BUF     (FRONT_PDU_MAX + 16)
#define FRONT_S2C_BUF     (16 * 1024) /* a TLS record's worth */
/* The client's PDUs framed before the stream is carried blind: the MCS
 * Connect Initial and the Erect Domain Request come first; a client that
 * sends something else by then has nothing we know to put right. */
#define FRONT_FRAMED_PDUS 4
/* Rounds of one direction before the other gets its turn. */
#define FRONT_PUMP_ROUNDS 32
#define FRONT_STACK       (256 * 1024)

#define X224_TPDU_CR     0xe0
#define X224_TPDU_CC     0xd0
#define X224_TPDU_DATA   0xf0
#define RDP_NEG_RSP      0x02
#define PROTOCOL_SSL     0x00000001
/* DomainMCSPDU ErectDomainRequest (1) in the top six bits of its first byte. */
#define MCS_ERECT_DOMAIN (1 << 2)

struct rdp_front_tls {
	SSL_CTX *server; /* toward the client */
	SSL_CTX *client; /* toward FreeRDP */
};

/* One direction of the relay. */
struct front_pipe {
	SSL *from, *to;
	uint8_t *buf;
	size_t cap, len, off;
	bool ready;   /* buf[off..len) is to be written */
	bool framing; /* whole TPKTs, looked at before they go */
	unsigned pdus;
};

struct rdp_front {
	struct rdp_front_tls *tls;
	int sock; /* the client's */
	int pair; /* ours; FreeRDP's peer serves the other end */
	char address[64];
	SSL *client_ssl, *inner_ssl;
	struct front_pipe c2s, s2c;
	pthread_t thread;
};

static const char *front_ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	snprintf(buf, len, "no detail");
	if (e)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

struct rdp_front_tls *rdp_front_tls_new(const char *cert_path, const char *key_path)
{
	struct rdp_front_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->server = SSL_CTX_new(TLS_server_method());
	t->client = SSL_CTX_new(TLS_client_method());
	if (!t->server || !t->client || !SSL_CTX_set_min_proto_version(t->server, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(t->server, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->server, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->server) != 1) {
		char buf[256];
		log_error("rdp: cannot use the TLS certificate %s and key %s: %s", cert_path, key_path,
			  front_ssl_error(buf, sizeof(buf)));
		rdp_front_tls_free(t);
		return NULL;
	}
	/* Idle connections give their record buffers back; nobody resumes an RDP session's TLS. */
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(t->server, mode);
	SSL_CTX_set_mode(t->client, mode);
	SSL_CTX_set_num_tickets(t->server, 0);
	SSL_CTX_set_options(t->server, SSL_OP_NO_TICKET);
	/* The other end is FreeRDP on a socket pair we made: nobody else can be there to verify. */
	SSL_CTX_set_verify(t->client, SSL_VERIFY_NONE, NULL);
	return t;
}

void rdp_front_tls_free(struct rdp_front_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t);
}

/* PDUs */

static unsigned front_be16(const uint8_t *b)
{
	return (unsigned)b[0] << 8 | b[1];
}

/* A TPKT carrying an X.224 Data TPDU (LI 2, code 0xf0, EOT): its user data
 * starts at byte 7. */
static bool front_is_data(const uint8_t *pdu, size_t len)
{
	return len >= 8 && pdu[0] == 3 && front_be16(pdu + 2) == len && pdu[4] == 2 && pdu[5] == X224_TPDU_DATA &&
	       pdu[6] == 0x80;
}

bool rdp_front_is_erect_domain(const uint8_t *pdu, size_t len)
{
	return front_is_data(pdu, len) && (pdu[7] & 0xfc) == MCS_ERECT_DOMAIN;
}

/* A PER INTEGER at p (a length byte, then that many value bytes): its size,
 * or 0 when it does not fit in n bytes or is not what FreeRDP reads (a
 * length of 0 to 2). */
static size_t front_per_integer(const uint8_t *p, size_t n)
{
	if (n < 1 || p[0] > 2 || n < 1u + p[0])
		return 0;
	return 1u + p[0];
}

/* v in PER as FreeRDP writes it: one value byte when it fits, else two. */
static size_t front_put_per(uint8_t *p, unsigned v)
{
	if (v <= 0xff) {
		p[0] = 1;
		p[1] = (uint8_t)v;
		return 2;
	}
	p[0] = 2;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
	return 3;
}

size_t rdp_front_normalize(uint8_t *pdu, size_t len, size_t cap, bool *changed)
{
	*changed = false;
	if (!rdp_front_is_erect_domain(pdu, len))
		return len;
	const uint8_t *body = pdu + 8;
	size_t n = len - 8;
	/* Two PER integers that end with the PDU: as FreeRDP wants it. */
	size_t a = front_per_integer(body, n);
	if (a && front_per_integer(body + a, n - a) == n - a)
		return len;
	/* rdesktop's: subHeight and subInterval as bare big-endian 16-bit values. */
	if (n != 4 || cap < 8 + 6)
		return len;
	unsigned height = front_be16(body), interval = front_be16(body + 2);
	size_t out = 8;
	out += front_put_per(pdu + out, height);
	out += front_put_per(pdu + out, interval);
	pdu[2] = (uint8_t)(out >> 8);
	pdu[3] = (uint8_t)out;
	*changed = true;
	return out;
}

/* The handshake: plain bytes, then TLS */

/* Waits for `events` on fd; the other descriptor of the front failing or
 * shut down (a time limit, rdp_front_stop) ends the wait too. 0 or -1. */
static int front_wait(struct rdp_front *f, int fd, short events)
{
	int other = fd == f->sock ? f->pair : f->sock;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = other}};
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents || (p[0].revents & (POLLERR | POLLNVAL)))
			return -1;
		if (p[0].revents)
			return 0;
	}
}

static int front_read_plain(struct rdp_front *f, int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r == 0)
			return -1;
		if (r > 0)
			got += (size_t)r;
		else if ((errno != EAGAIN && errno != EINTR) || front_wait(f, fd, POLLIN) < 0)
			return -1;
	}
	return 0;
}

static int front_write_plain(struct rdp_front *f, int fd, const uint8_t *buf, size_t n)
{
	size_t put = 0;
	while (put < n) {
		ssize_t w = send(fd, buf + put, n - put, MSG_NOSIGNAL);
		if (w > 0)
			put += (size_t)w;
		else if ((w < 0 && errno != EAGAIN && errno != EINTR) || front_wait(f, fd, POLLOUT) < 0)
			return -1;
	}
	return 0;
}

/* One TPKT of at least `min` bytes into buf (cap bytes); its length, or 0. */
static size_t front_read_tpkt(struct rdp_front *f, int fd, uint8_t *buf, size_t cap, size_t min)
{
	if (front_read_plain(f, fd, buf, 4) < 0)
		return 0;
	size_t len = front_be16(buf + 2);
	if (buf[0] != 3 || len < min || len > cap || front_read_plain(f, fd, buf + 4, len - 4) < 0)
		return 0;
	return len;
}

/* An SSL call that did not complete: 0 with the events to wait for, or -1. */
static int front_ssl_want(SSL *ssl, int rc, short *events)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*events |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events |= POLLOUT;
		return 0;
	default:
		return -1;
	}
}

static SSL *front_tls(struct rdp_front *f, SSL_CTX *ctx, int fd, bool accept)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	for (;;) {
		int rc = accept ? SSL_accept(ssl) : SSL_connect(ssl);
		if (rc == 1)
			return ssl;
		short events = 0;
		if (front_ssl_want(ssl, rc, &events) < 0 || front_wait(f, fd, events) < 0) {
			char buf[256];
			log_info("rdp: %s: TLS handshake %s failed: %s", f->address,
				 accept ? "with the client" : "with the server library",
				 front_ssl_error(buf, sizeof(buf)));
			SSL_free(ssl);
			return NULL;
		}
	}
}

/* The X.224 Connection Request to FreeRDP and its Confirm back, then TLS
 * with the client and with FreeRDP. 0, or -1 when the connection ends
 * here (FreeRDP refused the client's protocols, or a side failed). */
static int front_handshake(struct rdp_front *f)
{
	uint8_t *buf = f->c2s.buf;
	size_t len = front_read_tpkt(f, f->sock, buf, FRONT_PDU_MAX, 11);
	if (!len || buf[5] != X224_TPDU_CR) {
		log_info("rdp: %s: no X.224 Connection Request", f->address);
		return -1;
	}
	if (front_write_plain(f, f->pair, buf, len) < 0)
		return -1;
	len = front_read_tpkt(f, f->pair, buf, FRONT_PDU_MAX, 11);
	if (!len || buf[5] != X224_TPDU_CC || front_write_plain(f, f->sock, buf, len) < 0)
		return -1;
	/* FreeRDP either chose TLS or told the client why not and is closing. */
	uint32_t selected = len >= 19 && buf[11] == RDP_NEG_RSP ? (uint32_t)buf[15] | (uint32_t)buf[16] << 8 |
								      (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 24
								: 0;
	if (selected != PROTOCOL_SSL)
		return -1;
	/* The client's handshake first: FreeRDP, waiting for ours, takes it as
	 * the TLS handshake's end (its time limit's) when ours is done. */
	f->client_ssl = front_tls(f, f->tls->server, f->sock, true);
	if (!f->client_ssl)
		return -1;
	f->inner_ssl = front_tls(f, f->tls->client, f->pair, false);
	return f->inner_ssl ? 0 : -1;
}

/* The relay */

/* Moves what it can from p->from to p->to. 0 when it must wait (the events
 * added to *from_ev and *to_ev; *busy when it stopped only to let the other
 * direction go), -1 when the connection ends. */
static int front_pump(struct rdp_front *f, struct front_pipe *p, short *from_ev, short *to_ev, bool *busy)
{
	for (int round = 0; round < FRONT_PUMP_ROUNDS; round++) {
		if (p->ready) {
			int n = SSL_write(p->to, p->buf + p->off, (int)(p->len - p->off));
			if (n <= 0)
				return front_ssl_want(p->to, n, to_ev);
			p->off += (size_t)n;
			if (p->off == p->len) {
				p->off = p->len = 0;
				p->ready = false;
			}
			continue;
		}
		size_t want = p->cap - p->len;
		if (p->framing)
			want = (p->len < 4 ? 4 : front_be16(p->buf + 2)) - p->len;
		int n = SSL_read(p->from, p->buf + p->len, (int)want);
		if (n <= 0)
			return front_ssl_want(p->from, n, from_ev);
		p->len += (size_t)n;
		if (p->framing && p->len >= 4 && (p->buf[0] != 3 || front_be16(p->buf + 2) < 7))
			p->framing = false; /* not a TPKT: nothing of ours to look at */
		if (!p->framing) {
			p->ready = true;
			continue;
		}
		if (p->len < 4 || p->len < front_be16(p->buf + 2))
			continue;
		bool last = rdp_front_is_erect_domain(p->buf, p->len) || ++p->pdus >= FRONT_FRAMED_PDUS;
		bool changed;
		p->len = rdp_front_normalize(p->buf, p->len, p->cap, &changed);
		if (changed)
			log_info("rdp: %s: Erect Domain Request with bare 16-bit integers (rdesktop's) re-encoded",
				 f->address);
		p->framing = !last;
		p->ready = true;
	}
	*busy = true;
	return 0;
}

static void front_relay(struct rdp_front *f)
{
	for (;;) {
		short sock_ev = 0, pair_ev = 0;
		bool busy = false;
		if (front_pump(f, &f->c2s, &sock_ev, &pair_ev, &busy) < 0 ||
		    front_pump(f, &f->s2c, &pair_ev, &sock_ev, &busy) < 0)
			return;
		struct pollfd p[2] = {{.fd = f->sock, .events = sock_ev}, {.fd = f->pair, .events = pair_ev}};
		if (poll(p, 2, busy ? 0 : -1) < 0 && errno != EINTR)
			return;
		/* A side gone while nothing is asked of it (a time limit shut the
		 * client's socket, FreeRDP closed its end) ends the relay too. */
		for (int i = 0; i < 2; i++)
			if ((p[i].revents & (POLLERR | POLLNVAL)) ||
			    ((p[i].revents & POLLHUP) && !(p[i].events & POLLIN)))
				return;
	}
}

static void *front_thread(void *arg)
{
	struct rdp_front *f = arg;
	if (front_handshake(f) == 0) {
		f->c2s = (struct front_pipe){.from = f->client_ssl,
					     .to = f->inner_ssl,
					     .buf = f->c2s.buf,
					     .cap = FRONT_C2S_BUF,
					     .framing = true};
		f->s2c = (struct front_pipe){
		    .from = f->inner_ssl, .to = f->client_ssl, .buf = f->s2c.buf, .cap = FRONT_S2C_BUF};
		front_relay(f);
	}
	/* Both sides learn the connection is over: the client with a
	 * close_notify where TLS is up, FreeRDP from its end of the pair. */
	if (f->client_ssl)
		SSL_shutdown(f->client_ssl);
	if (f->inner_ssl)
		SSL_shutdown(f->inner_ssl);
	shutdown(f->sock, SHUT_RDWR);
	shutdown(f->pair, SHUT_RDWR);
	return NULL;
}

static int front_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -1 : 0;
}

struct rdp_front *rdp_front_start(struct rdp_front_tls *t, int sock, const char *address, int *peer_fd)
{
	int sv[2] = {-1, -1};
	struct rdp_front *f = calloc(1, sizeof(*f));
	if (!f || !t)
		goto fail;
	f->tls = t;
	f->sock = sock;
	f->pair = -1;
	snprintf(f->address, sizeof(f->address), "%s", address ? address : "?");
	f->c2s.buf = malloc(FRONT_C2S_BUF);
	f->s2c.buf = malloc(FRONT_S2C_BUF);
	if (!f->c2s.buf || !f->s2c.buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	f->pair = fd_move_high(sv[0]);
	sv[0] = -1;
	sv[1] = fd_move_high(sv[1]);
	if (front_nonblock(f->sock) < 0 || front_nonblock(f->pair) < 0)
		goto fail;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, FRONT_STACK);
	int err = pthread_create(&f->thread, &attr, front_thread, f);
	pthread_attr_destroy(&attr);
	if (err) {
		errno = err;
		goto fail;
	}
	*peer_fd = sv[1];
	return f;
fail:
	log_error("rdp: %s: cannot set up the connection's front: %s", address ? address : "?", strerror(errno));
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (f) {
		if (f->pair >= 0)
			close(f->pair);
		free(f->c2s.buf);
		free(f->s2c.buf);
		free(f);
	}
	close(sock);
	return NULL;
}

int rdp_front_socket(const struct rdp_front *f)
{
	return f->sock;
}

void rdp_front_stop(struct rdp_front *f)
{
	if (!f)
		return;
	shutdown(f->sock, SHUT_RDWR);
	shutdown(f->pair, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	SSL_free(f->client_ssl);
	SSL_free(f->inner_ssl);
	close(f->sock);
	close(f->pair);
	free(f->c2s.buf);
	free(f->s2c.buf);
	free(f);
}
