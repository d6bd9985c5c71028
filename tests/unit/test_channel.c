/* test_channel.c — vdi's private channel: the message framing both sides share (common/channel.c) and the
 * server's end of a connection's channel (display/chan.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/channel.h"
#include "../../display/chan.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static void test_hello_round_trip(void **state)
{
	(void)state;
	uint8_t buf[128];
	int n = channel_encode_hello(buf, sizeof(buf), CHANNEL_CAP_SESSION | CHANNEL_CAP_BYE, "vdi-client");
	assert_int_equal(n, CHANNEL_HEADER + 8 + 1 + 10);
	struct channel_msg m;
	assert_int_equal(channel_decode(buf, (size_t)n, &m), n);
	assert_int_equal(m.type, CHANNEL_HELLO);
	assert_int_equal(m.u.hello.version, CHANNEL_VERSION);
	assert_int_equal(m.u.hello.caps, CHANNEL_CAP_SESSION | CHANNEL_CAP_BYE);
	assert_int_equal(m.u.hello.name.len, 10);
	assert_memory_equal(m.u.hello.name.s, "vdi-client", 10);
	/* Every shorter prefix asks for more. */
	for (int i = 0; i < n; i++)
		assert_int_equal(channel_decode(buf, (size_t)i, &m), 0);
}

static void test_session_and_bye(void **state)
{
	(void)state;
	uint8_t buf[1024];
	int n = channel_encode_session(buf, sizeof(buf), 120, "vdit1-abc", "alice", "office");
	assert_true(n > 0);
	struct channel_msg m;
	assert_int_equal(channel_decode(buf, (size_t)n, &m), n);
	assert_int_equal(m.type, CHANNEL_SESSION);
	assert_int_equal(m.u.session.ttl_s, 120);
	assert_memory_equal(m.u.session.ticket.s, "vdit1-abc", 9);
	assert_memory_equal(m.u.session.pool.s, "office", 6);
	n = channel_encode_bye(buf, sizeof(buf), CHANNEL_BYE_SHUTDOWN, "the server is shutting down");
	assert_int_equal(channel_decode(buf, (size_t)n, &m), n);
	assert_int_equal(m.u.bye.reason, CHANNEL_BYE_SHUTDOWN);
	assert_true(channel_bye_reconnects(m.u.bye.reason));
	assert_false(channel_bye_reconnects(CHANNEL_BYE_LOGOFF));
	assert_string_equal(channel_bye_name(CHANNEL_BYE_TAKEOVER), "takeover");
	assert_string_equal(channel_bye_name(12345), "other");
}

static void test_encode_limits(void **state)
{
	(void)state;
	uint8_t buf[16];
	assert_int_equal(channel_encode_hello(buf, sizeof(buf), 0, "a name too long for this buffer"), -ENOSPC);
	char big[CHANNEL_TEXT_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	uint8_t out[1024];
	assert_int_equal(channel_encode_bye(out, sizeof(out), 0, big), -EINVAL);
}

/* Hostile bytes: a payload over the cap, flags, strings running past the payload or holding control
 * characters, trailing bytes, a session without a ticket. */
static void test_malformed(void **state)
{
	(void)state;
	struct channel_msg m;
	uint8_t over[CHANNEL_HEADER] = {CHANNEL_HELLO, 0, 0, 0, 0, 0, 0x10, 0}; /* 1 MiB */
	assert_int_equal(channel_decode(over, sizeof(over), &m), -EMSGSIZE);
	uint8_t flags[CHANNEL_HEADER] = {CHANNEL_BYE, 0, 1, 0, 0, 0, 0, 0};
	assert_int_equal(channel_decode(flags, sizeof(flags), &m), -EPROTO);
	uint8_t buf[256];
	int n = channel_encode_bye(buf, sizeof(buf), 1, "bye");
	buf[CHANNEL_HEADER + 4] = 200; /* the string claims more than there is */
	assert_int_equal(channel_decode(buf, (size_t)n, &m), -EPROTO);
	n = channel_encode_bye(buf, sizeof(buf), 1, "b\x01y");
	assert_int_equal(channel_decode(buf, (size_t)n, &m), -EPROTO);
	n = channel_encode_bye(buf, sizeof(buf), 1, "bye");
	buf[4]++; /* one byte more in the payload than the fields */
	buf[n] = 'x';
	assert_int_equal(channel_decode(buf, (size_t)n + 1, &m), -EPROTO);
	n = channel_encode_session(buf, sizeof(buf), 60, "", "alice", "office");
	assert_int_equal(channel_decode(buf, (size_t)n, &m), -EPROTO);
	uint8_t usb_short[CHANNEL_HEADER + 2] = {0x05, 0x01, 0, 0, 2, 0, 0, 0, 1, 2};
	assert_int_equal(channel_decode(usb_short, sizeof(usb_short), &m), -EPROTO);
}

/* USB and audio ranges carry an id and bytes; unknown types are passed over whole. */
static void test_streams_and_unknown(void **state)
{
	(void)state;
	uint8_t usb[CHANNEL_HEADER + 7] = {0x00, 0x01, 0, 0, 7, 0, 0, 0, 42, 0, 0, 0, 'a', 'b', 'c'};
	struct channel_msg m;
	assert_int_equal(channel_decode(usb, sizeof(usb), &m), (int)sizeof(usb));
	assert_int_equal(m.u.stream.id, 42);
	assert_int_equal(m.u.stream.len, 3);
	assert_memory_equal(m.u.stream.data, "abc", 3);
	uint8_t unknown[CHANNEL_HEADER + 3] = {0x77, 0x07, 0, 0, 3, 0, 0, 0, 1, 2, 3};
	assert_int_equal(channel_decode(unknown, sizeof(unknown), &m), (int)sizeof(unknown));
	assert_int_equal(m.type, 0x777);
}

/* A stream cut anywhere, fed a byte at a time, gives the same messages. */
static void test_reader(void **state)
{
	(void)state;
	uint8_t stream[512];
	size_t len = 0;
	len += (size_t)channel_encode_hello(stream + len, sizeof(stream) - len, 3, "vdi-server");
	len += (size_t)channel_encode_session(stream + len, sizeof(stream) - len, 120, "t", "u", "p");
	len += (size_t)channel_encode_bye(stream + len, sizeof(stream) - len, 2, "disconnected by an admin");
	struct channel_reader r = {0};
	struct channel_msg m;
	int types[3], got = 0;
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(channel_reader_feed(&r, stream + i, 1), 0);
		int rc;
		while ((rc = channel_reader_next(&r, &m)) == 1)
			types[got++] = m.type;
		assert_int_equal(rc, 0);
	}
	assert_int_equal(got, 3);
	assert_int_equal(types[0], CHANNEL_HELLO);
	assert_int_equal(types[1], CHANNEL_SESSION);
	assert_int_equal(types[2], CHANNEL_BYE);
	/* Garbage after them ends the stream. */
	uint8_t junk[CHANNEL_HEADER] = {1, 0, 0xff, 0xff, 0, 0, 0, 0};
	assert_int_equal(channel_reader_feed(&r, junk, sizeof(junk)), 0);
	assert_int_equal(channel_reader_next(&r, &m), -EPROTO);
	channel_reader_free(&r);
}

static int readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0);
}

/* The server's end: HELLO queued on open, the client's HELLO makes a ticket due, one BYE, the end wakes. */
static void test_display_chan(void **state)
{
	(void)state;
	struct display_chan *ch = display_chan_new("test");
	assert_non_null(ch);
	size_t len;
	assert_null(display_chan_take(ch, &len));
	display_chan_bye(ch, CHANNEL_BYE_LOGOFF, "not open yet: dropped");
	display_chan_opened(ch, "test");
	assert_int_equal(readable(display_chan_wake_fd(ch)), 1);
	uint8_t *msg = display_chan_take(ch, &len);
	assert_non_null(msg);
	struct channel_msg m;
	assert_int_equal(channel_decode(msg, len, &m), (int)len);
	assert_int_equal(m.type, CHANNEL_HELLO);
	free(msg);
	assert_null(display_chan_take(ch, &len));
	assert_int_equal(readable(display_chan_wake_fd(ch)), 0);
	assert_false(display_chan_ticket_due(ch));
	uint8_t hello[64];
	int n = channel_encode_hello(hello, sizeof(hello), CHANNEL_CAP_SESSION, "vdi-client");
	/* In two pieces, as a stream may bring it. */
	assert_int_equal(display_chan_input(ch, hello, 5), 0);
	assert_false(display_chan_ticket_due(ch));
	assert_int_equal(display_chan_input(ch, hello + 5, (size_t)n - 5), 0);
	assert_true(display_chan_ticket_due(ch));
	assert_false(display_chan_ticket_due(ch)); /* asked for once */
	display_chan_session(ch, 120, "vdit1-x", "alice", "office");
	assert_true(display_chan_due_ms(ch) > 0);
	msg = display_chan_take(ch, &len);
	assert_int_equal(channel_decode(msg, len, &m), (int)len);
	assert_int_equal(m.type, CHANNEL_SESSION);
	free(msg);
	display_chan_bye(ch, CHANNEL_BYE_TAKEOVER, "elsewhere");
	display_chan_bye(ch, CHANNEL_BYE_IDLE, "a second one is dropped");
	msg = display_chan_take(ch, &len);
	assert_int_equal(channel_decode(msg, len, &m), (int)len);
	assert_int_equal(m.u.bye.reason, CHANNEL_BYE_TAKEOVER);
	free(msg);
	assert_null(display_chan_take(ch, &len));
	uint8_t bad[CHANNEL_HEADER] = {CHANNEL_HELLO, 0, 0, 0, 0, 0, 0x10, 0};
	assert_int_equal(display_chan_input(ch, bad, sizeof(bad)), -EMSGSIZE);
	display_chan_end(ch);
	assert_true(display_chan_ended(ch));
	assert_int_equal(readable(display_chan_wake_fd(ch)), 1);
	display_chan_unref(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_round_trip),    cmocka_unit_test(test_session_and_bye),
	    cmocka_unit_test(test_encode_limits),       cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_streams_and_unknown), cmocka_unit_test(test_reader),
	    cmocka_unit_test(test_display_chan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
