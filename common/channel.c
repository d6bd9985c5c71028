/* channel.c — vdi's private channel messages: bounded decoding of untrusted bytes, encoding, and a stream's
 * reassembly (channel.h). */
#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

bool channel_bye_reconnects(uint32_t reason)
{
	return reason == CHANNEL_BYE_SHUTDOWN || reason == CHANNEL_BYE_DESKTOP_RESTART;
}

const char *channel_bye_name(uint32_t reason)
{
	static const char *const names[] = {"other", "logoff",   "disconnected",   "takeover",
					    "idle",  "shutdown", "desktop-restart"};
	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "other";
}

/* A cursor over a payload: every read checks what is left. */
struct cursor {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static uint32_t take32(struct cursor *c)
{
	if (c->left < 4) {
		c->bad = true;
		return 0;
	}
	uint32_t v = get32(c->p);
	c->p += 4;
	c->left -= 4;
	return v;
}

static uint16_t take16(struct cursor *c)
{
	if (c->left < 2) {
		c->bad = true;
		return 0;
	}
	uint16_t v = get16(c->p);
	c->p += 2;
	c->left -= 2;
	return v;
}

/* A u8-counted string of printable ASCII or UTF-8's upper half (no control characters, no NUL). */
static struct channel_str take_str(struct cursor *c)
{
	struct channel_str s = {"", 0};
	if (c->left < 1) {
		c->bad = true;
		return s;
	}
	size_t n = c->p[0];
	if (c->left - 1 < n) {
		c->bad = true;
		return s;
	}
	for (size_t i = 0; i < n; i++)
		if (c->p[1 + i] < 0x20 || c->p[1 + i] == 0x7f)
			c->bad = true;
	s.s = (const char *)c->p + 1;
	s.len = n;
	c->p += 1 + n;
	c->left -= 1 + n;
	return s;
}

int channel_decode(const uint8_t *buf, size_t len, struct channel_msg *out)
{
	memset(out, 0, sizeof(*out));
	if (len < CHANNEL_HEADER)
		return 0;
	uint32_t plen = get32(buf + 4);
	if (plen > CHANNEL_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (get16(buf + 2) != 0)
		return -EPROTO;
	if (len - CHANNEL_HEADER < plen)
		return 0;
	out->type = get16(buf);
	out->payload = buf + CHANNEL_HEADER;
	out->len = plen;
	struct cursor c = {out->payload, plen, false};
	switch (out->type) {
	case CHANNEL_HELLO:
		out->u.hello.version = take16(&c);
		take16(&c);
		out->u.hello.caps = take32(&c);
		out->u.hello.name = take_str(&c);
		if (out->u.hello.version == 0)
			c.bad = true;
		break;
	case CHANNEL_SESSION:
		out->u.session.ttl_s = take32(&c);
		out->u.session.ticket = take_str(&c);
		out->u.session.user = take_str(&c);
		out->u.session.pool = take_str(&c);
		if (!out->u.session.ticket.len)
			c.bad = true;
		break;
	case CHANNEL_BYE:
		out->u.bye.reason = take32(&c);
		out->u.bye.text = take_str(&c);
		break;
	default:
		if ((out->type >= CHANNEL_USB_FIRST && out->type <= CHANNEL_USB_LAST) ||
		    (out->type >= CHANNEL_AUDIO_FIRST && out->type <= CHANNEL_AUDIO_LAST)) {
			out->u.stream.id = take32(&c);
			out->u.stream.data = c.p;
			out->u.stream.len = (uint32_t)c.left;
		}
		/* Unknown types are passed over whole. */
		c.left = 0;
		break;
	}
	/* Known messages are exactly their fields: trailing bytes are a different format, not ours. */
	if (c.bad || c.left)
		return -EPROTO;
	return (int)(CHANNEL_HEADER + plen);
}

struct writer {
	uint8_t *p;
	size_t size, len;
	int err;
};

static void w_bytes(struct writer *w, const void *data, size_t n)
{
	if (w->err)
		return;
	if (w->size - w->len < n) {
		w->err = -ENOSPC;
		return;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void w32(struct writer *w, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	w_bytes(w, b, 4);
}

static void w_str(struct writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > CHANNEL_TEXT_MAX) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	uint8_t len = (uint8_t)n;
	w_bytes(w, &len, 1);
	w_bytes(w, s, n);
}

static void w_begin(struct writer *w, uint8_t *out, size_t size, uint16_t type)
{
	*w = (struct writer){out, size, 0, 0};
	uint8_t head[CHANNEL_HEADER] = {0};
	put16(head, type);
	w_bytes(w, head, sizeof(head));
}

static int w_end(struct writer *w)
{
	if (w->err)
		return w->err;
	put32(w->p + 4, (uint32_t)(w->len - CHANNEL_HEADER));
	return (int)w->len;
}

int channel_encode_hello(uint8_t *out, size_t size, uint32_t caps, const char *name)
{
	struct writer w;
	w_begin(&w, out, size, CHANNEL_HELLO);
	uint8_t v[4] = {0};
	put16(v, CHANNEL_VERSION);
	w_bytes(&w, v, 4);
	w32(&w, caps);
	w_str(&w, name);
	return w_end(&w);
}

int channel_encode_session(uint8_t *out, size_t size, uint32_t ttl_s, const char *ticket, const char *user,
			   const char *pool)
{
	struct writer w;
	w_begin(&w, out, size, CHANNEL_SESSION);
	w32(&w, ttl_s);
	w_str(&w, ticket);
	w_str(&w, user);
	w_str(&w, pool);
	return w_end(&w);
}

int channel_encode_bye(uint8_t *out, size_t size, uint32_t reason, const char *text)
{
	struct writer w;
	w_begin(&w, out, size, CHANNEL_BYE);
	w32(&w, reason);
	w_str(&w, text);
	return w_end(&w);
}

int channel_reader_feed(struct channel_reader *r, const uint8_t *data, size_t len)
{
	/* What the last message used goes first. */
	if (r->used) {
		memmove(r->buf, r->buf + r->used, r->len - r->used);
		r->len -= r->used;
		r->used = 0;
	}
	if (len > CHANNEL_HEADER + CHANNEL_PAYLOAD_MAX || r->len > CHANNEL_HEADER + CHANNEL_PAYLOAD_MAX - len)
		return -EMSGSIZE;
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + len)
			cap *= 2;
		uint8_t *b = realloc(r->buf, cap);
		if (!b)
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	if (len)
		memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int channel_reader_next(struct channel_reader *r, struct channel_msg *out)
{
	if (r->used) {
		memmove(r->buf, r->buf + r->used, r->len - r->used);
		r->len -= r->used;
		r->used = 0;
	}
	int n = channel_decode(r->buf, r->len, out);
	if (n <= 0)
		return n;
	r->used = (size_t)n;
	return 1;
}

void channel_reader_free(struct channel_reader *r)
{
	free(r->buf);
	*r = (struct channel_reader){0};
}
