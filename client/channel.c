/* channel.c — vdi's private channel as vdi-client sees it: the server's hello (logged for the user and the
 * tests), its reconnect tickets and why it ends a connection, whatever carries the bytes (client.h). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

void client_chan_init(struct client_chan *ch)
{
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
}

void client_chan_destroy(struct client_chan *ch)
{
	channel_reader_free(&ch->reader);
	OPENSSL_cleanse(ch->ticket, sizeof(ch->ticket));
	pthread_mutex_destroy(&ch->lock);
}

void client_chan_begin(struct client_chan *ch, const char *transport)
{
	pthread_mutex_lock(&ch->lock);
	channel_reader_free(&ch->reader);
	ch->transport = transport;
	ch->open = ch->bye = false;
	ch->bye_reason = 0;
	ch->bye_text[0] = '\0';
	ch->established = ch->user_closed = false;
	pthread_mutex_unlock(&ch->lock);
}

static void copy_str(char *out, size_t size, const struct channel_str *s)
{
	size_t n = s->len < size - 1 ? s->len : size - 1;
	memcpy(out, s->s, n);
	out[n] = '\0';
}

int client_chan_input(struct client_chan *ch, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&ch->lock);
	int rc = channel_reader_feed(&ch->reader, data, len);
	struct channel_msg m;
	while (rc == 0 && (rc = channel_reader_next(&ch->reader, &m)) == 1) {
		rc = 0;
		switch (m.type) {
		case CHANNEL_HELLO:
			if (ch->open)
				break;
			ch->open = true;
			fprintf(stderr, "vdi-client: channel open over %s: server '%.*s', protocol version %u\n",
				ch->transport ? ch->transport : "?", (int)m.u.hello.name.len, m.u.hello.name.s,
				m.u.hello.version);
			break;
		case CHANNEL_SESSION:
			copy_str(ch->ticket, sizeof(ch->ticket), &m.u.session.ticket);
			copy_str(ch->ticket_pool, sizeof(ch->ticket_pool), &m.u.session.pool);
			fprintf(stderr, "vdi-client: channel: a reconnect ticket for pool %s (valid %u s)\n",
				ch->ticket_pool, m.u.session.ttl_s);
			break;
		case CHANNEL_BYE:
			ch->bye = true;
			ch->bye_reason = m.u.bye.reason;
			copy_str(ch->bye_text, sizeof(ch->bye_text), &m.u.bye.text);
			break;
		default:
			break; /* USB and audio: not yet */
		}
	}
	pthread_mutex_unlock(&ch->lock);
	if (rc < 0)
		fprintf(stderr, "vdi-client: the server sent a malformed channel message (%s); channel closed\n",
			strerror(-rc));
	return rc < 0 ? rc : 0;
}

int client_chan_hello(uint8_t *out, size_t size)
{
	return channel_encode_hello(out, size, CHANNEL_CAP_SESSION | CHANNEL_CAP_BYE, "vdi-client");
}

bool client_chan_said_bye(struct client_chan *ch, uint32_t *reason, char *text, size_t size)
{
	pthread_mutex_lock(&ch->lock);
	bool bye = ch->bye;
	if (bye) {
		*reason = ch->bye_reason;
		snprintf(text, size, "%s", ch->bye_text);
	}
	pthread_mutex_unlock(&ch->lock);
	return bye;
}

bool client_chan_ticket(struct client_chan *ch, char *out, size_t size)
{
	pthread_mutex_lock(&ch->lock);
	bool have = ch->ticket[0] != '\0';
	if (have)
		snprintf(out, size, "%s", ch->ticket);
	pthread_mutex_unlock(&ch->lock);
	return have;
}

void client_chan_forget_ticket(struct client_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	OPENSSL_cleanse(ch->ticket, sizeof(ch->ticket));
	pthread_mutex_unlock(&ch->lock);
}
