/* vnc_chan.c — vdi's private channel over VNC: the one-time tokens picture connections hand out, and the side
 * streams that redeem them, each on its own thread so the picture never waits for the channel. */
#include "vnc_chan.h"
#include "chan.h"
#include "conn.h"

#include "../common/log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define VNC_CHAN_WRITE_MS 10000 /* a client that takes no bytes for this long loses its channel */
#define VNC_CHAN_READ     65536

struct vnc_chan_token {
	struct vnc_chan_token *next;
	char text[VNC_FRONT_TOKEN_MAX + 1];
	const struct display_conn *dc; /* compared, never followed */
	struct display_chan *chan;     /* a reference */
};

struct vnc_chan_tokens {
	pthread_mutex_t lock;
	struct vnc_chan_token *list;
};

struct vnc_chan_tokens *vnc_chan_tokens_new(void)
{
	struct vnc_chan_tokens *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void vnc_chan_tokens_free(struct vnc_chan_tokens *t)
{
	if (!t)
		return;
	for (struct vnc_chan_token *k = t->list, *next; k; k = next) {
		next = k->next;
		display_chan_unref(k->chan);
		free(k);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int vnc_chan_token_issue(struct vnc_chan_tokens *t, struct display_conn *dc, char *out)
{
	uint8_t raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	char b64[48];
	int n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	struct vnc_chan_token *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	memcpy(k->text, b64, (size_t)n + 1);
	memcpy(out, b64, (size_t)n + 1);
	explicit_bzero(b64, sizeof(b64));
	k->dc = dc;
	k->chan = display_chan_ref(display_conn_chan(dc));
	pthread_mutex_lock(&t->lock);
	k->next = t->list;
	t->list = k;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void vnc_chan_token_revoke(struct vnc_chan_tokens *t, struct display_conn *dc)
{
	pthread_mutex_lock(&t->lock);
	for (struct vnc_chan_token **it = &t->list; *it;) {
		struct vnc_chan_token *k = *it;
		if (k->dc != dc) {
			it = &k->next;
			continue;
		}
		*it = k->next;
		display_chan_unref(k->chan);
		explicit_bzero(k, sizeof(*k));
		free(k);
	}
	pthread_mutex_unlock(&t->lock);
}

/* The channel of a live token, which is used up (a reference for the caller); NULL when there is none. */
static struct display_chan *vnc_chan_redeem(struct vnc_chan_tokens *t, const char *token)
{
	size_t len = strlen(token);
	struct display_chan *chan = NULL;
	pthread_mutex_lock(&t->lock);
	for (struct vnc_chan_token **it = &t->list; *it; it = &(*it)->next) {
		struct vnc_chan_token *k = *it;
		if (strlen(k->text) != len || CRYPTO_memcmp(k->text, token, len) != 0)
			continue;
		*it = k->next;
		chan = k->chan;
		free(k);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return chan;
}

void vnc_chan_serve(struct vnc_chan_tokens *t, struct vnc_front *f, const char *token, const char *address)
{
	struct display_chan *chan = vnc_chan_redeem(t, token);
	uint8_t *buf = malloc(VNC_CHAN_READ);
	if (!chan || !buf) {
		log_info("vnc: %s: a side stream with %s; closed", address, chan ? "no memory" : "an unknown token");
		free(buf);
		display_chan_unref(chan);
		vnc_front_close(f);
		return;
	}
	display_chan_opened(chan, "vnc");
	bool ok = true;
	while (ok) {
		/* Everything queued goes out, BYE included, before the end is honoured. */
		size_t len;
		uint8_t *msg;
		while (ok && (msg = display_chan_take(chan, &len))) {
			ok = vnc_front_stream_write(f, msg, len, VNC_CHAN_WRITE_MS) == 0;
			free(msg);
		}
		if (!ok || display_chan_ended(chan))
			break;
		short want = 0;
		int n;
		while ((n = vnc_front_stream_read(f, buf, VNC_CHAN_READ, &want)) > 0)
			if (display_chan_input(chan, buf, (size_t)n) < 0) {
				n = -EPROTO;
				break;
			}
		if (n < 0)
			break;
		struct pollfd p[2] = {{.fd = vnc_front_socket(f), .events = want ? want : POLLIN},
				      {.fd = display_chan_wake_fd(chan), .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
	}
	log_info("vnc: %s: the side stream ended", address);
	display_chan_closed(chan);
	display_chan_unref(chan);
	free(buf);
	vnc_front_close(f);
}
