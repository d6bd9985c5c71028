/* fuzz_channel.c — arbitrary bytes as vdi's private channel (common/channel.c), as either side reads them: each
 * message decoded alone and the whole input as a stream cut at the first byte's choice. A decoded message stays
 * inside the bytes and within the cap; re-encoding a decoded HELLO, SESSION or BYE decodes to the same fields. */
#include "../../common/channel.h"

#include <stdlib.h>
#include <string.h>

static void check(const uint8_t *data, size_t size, const struct channel_msg *m, int n)
{
	if ((size_t)n > size || n < CHANNEL_HEADER || m->len > CHANNEL_PAYLOAD_MAX || m->payload + m->len > data + size)
		abort();
	uint8_t again[CHANNEL_HEADER + 8 + 3 * (1 + CHANNEL_TEXT_MAX)];
	char a[CHANNEL_TEXT_MAX + 1], b[CHANNEL_TEXT_MAX + 1], c[CHANNEL_TEXT_MAX + 1];
	struct channel_msg m2;
	int k = -1;
	switch (m->type) {
	case CHANNEL_HELLO:
		memcpy(a, m->u.hello.name.s, m->u.hello.name.len);
		a[m->u.hello.name.len] = '\0';
		k = channel_encode_hello(again, sizeof(again), m->u.hello.caps, a);
		break;
	case CHANNEL_SESSION:
		memcpy(a, m->u.session.ticket.s, m->u.session.ticket.len);
		a[m->u.session.ticket.len] = '\0';
		memcpy(b, m->u.session.user.s, m->u.session.user.len);
		b[m->u.session.user.len] = '\0';
		memcpy(c, m->u.session.pool.s, m->u.session.pool.len);
		c[m->u.session.pool.len] = '\0';
		k = channel_encode_session(again, sizeof(again), m->u.session.ttl_s, a, b, c);
		break;
	case CHANNEL_BYE:
		memcpy(a, m->u.bye.text.s, m->u.bye.text.len);
		a[m->u.bye.text.len] = '\0';
		k = channel_encode_bye(again, sizeof(again), m->u.bye.reason, a);
		break;
	default:
		return;
	}
	if (k <= 0 || channel_decode(again, (size_t)k, &m2) != k || m2.type != m->type)
		abort();
	if (m->type == CHANNEL_BYE && (m2.u.bye.reason != m->u.bye.reason || m2.u.bye.text.len != m->u.bye.text.len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct channel_msg m;
	size_t off = 0;
	int n;
	while (off < size && (n = channel_decode(data + off, size - off, &m)) > 0) {
		check(data + off, size - off, &m, n);
		off += (size_t)n;
	}
	/* The same bytes as a stream in pieces of the first byte's size. */
	size_t piece = size ? (size_t)data[0] % 17 + 1 : 1;
	struct channel_reader r = {0};
	for (size_t i = 0; i < size; i += piece) {
		size_t len = size - i < piece ? size - i : piece;
		if (channel_reader_feed(&r, data + i, len) < 0)
			break;
		int rc;
		while ((rc = channel_reader_next(&r, &m)) == 1)
			if (m.len > CHANNEL_PAYLOAD_MAX)
				abort();
		if (rc < 0)
			break;
	}
	channel_reader_free(&r);
	return 0;
}
