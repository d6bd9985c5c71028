/* channel.h — vdi's private channel: the messages vdi-server and vdi-client exchange beside the picture, over
 * RDP's dynamic virtual channel CHANNEL_DVC_NAME or VNC's side stream (README "The private channel"). The one
 * header both sides share.
 *
 * A message is an 8-byte header, little-endian: u16 type, u16 flags (0), u32 payload length (at most
 * CHANNEL_PAYLOAD_MAX), then the payload. Each side sends HELLO first; the rest is typed below. Types in
 * CHANNEL_USB_FIRST..LAST carry one usbredir stream per device (payload: u32 device id, then usbredir bytes),
 * CHANNEL_AUDIO_FIRST..LAST Opus frames (payload: u32 stream id, then one frame); a side that does not know a
 * type in a reserved range (or any type above CHANNEL_BYE) passes it over. Everything read is untrusted:
 * decoding checks every length, and a malformed message ends the channel, never the process. */
#ifndef VDI_CHANNEL_H
#define VDI_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHANNEL_VERSION     1
#define CHANNEL_DVC_NAME    "vdi_channel"
#define CHANNEL_HEADER      8
#define CHANNEL_PAYLOAD_MAX (256 * 1024)
#define CHANNEL_TEXT_MAX    255 /* names, tickets and reasons, bytes */

/* VNC's side stream. A client lists the pseudo-encoding CHANNEL_RFB_ENCODING in its SetEncodings; the server (with
 * TLS) answers with a FramebufferUpdate of one rectangle of that encoding, x = y = h = 0 and w the length of a
 * one-time token (1 to CHANNEL_TOKEN_MAX bytes of base64), followed by the token. The client opens a second TCP
 * connection to the same port and speaks first: CHANNEL_RFB_PREFACE, then TLS (the server's VeNCrypt certificate),
 * then a u8-counted token; from then on the stream carries the messages below, both ways. */
#define CHANNEL_RFB_ENCODING 0x56444901
#define CHANNEL_RFB_PREFACE  "VDI-CHANNEL/1\n"
#define CHANNEL_TOKEN_MAX    64

enum channel_type {
	CHANNEL_HELLO = 1, /* u16 version, u16 0, u32 capabilities, u8 n, n bytes: the software's name */
	CHANNEL_SESSION =
	    2,           /* server: u32 seconds the ticket lives, then three u8-counted strings: ticket, user, pool */
	CHANNEL_BYE = 3, /* server: u32 reason (enum channel_bye), u8 n, n bytes: the words for the user */
	CHANNEL_USB_FIRST = 0x100,
	CHANNEL_USB_LAST = 0x1ff,
	CHANNEL_AUDIO_FIRST = 0x200,
	CHANNEL_AUDIO_LAST = 0x2ff,
};

/* Capabilities a HELLO announces. */
#define CHANNEL_CAP_SESSION (1u << 0) /* reconnect tickets */
#define CHANNEL_CAP_BYE     (1u << 1) /* the reason for a disconnect */
#define CHANNEL_CAP_USB     (1u << 2)
#define CHANNEL_CAP_AUDIO   (1u << 3)

/* Why the server ends a connection; the client decides from it whether to come back. */
enum channel_bye {
	CHANNEL_BYE_OTHER = 0,
	CHANNEL_BYE_LOGOFF = 1,         /* the session ended (an admin logged it off, its timeout) */
	CHANNEL_BYE_DISCONNECTED = 2,   /* an admin disconnected it; the session stays */
	CHANNEL_BYE_TAKEOVER = 3,       /* the user connected from elsewhere */
	CHANNEL_BYE_IDLE = 4,           /* nobody used it for the pool's idle timeout */
	CHANNEL_BYE_SHUTDOWN = 5,       /* the server is stopping; it will be back */
	CHANNEL_BYE_DESKTOP_RESTART = 6 /* the desktop restarts; it will be back */
};
/* The reasons after which a client reconnects by itself (the server or the desktop comes back). */
bool channel_bye_reconnects(uint32_t reason);
const char *channel_bye_name(uint32_t reason);

/* One decoded message. Pointers point into the bytes decoded (valid while they are); strings are not
 * NUL-terminated: their lengths are given. */
struct channel_str {
	const char *s;
	size_t len;
};
struct channel_msg {
	uint16_t type;
	const uint8_t *payload;
	uint32_t len;
	union {
		struct {
			uint16_t version;
			uint32_t caps;
			struct channel_str name;
		} hello;
		struct {
			uint32_t ttl_s;
			struct channel_str ticket, user, pool;
		} session;
		struct {
			uint32_t reason;
			struct channel_str text;
		} bye;
		struct {
			uint32_t id; /* device or stream */
			const uint8_t *data;
			uint32_t len;
		} stream; /* USB and audio */
	} u;
};

/* Decodes the message at the start of buf: bytes used (> 0), 0 when more bytes are needed, or -EMSGSIZE (a
 * payload over the cap), -EPROTO (a malformed known message, flags set, a string with a byte outside
 * printable ASCII and UTF-8's upper half). */
int channel_decode(const uint8_t *buf, size_t len, struct channel_msg *out);

/* Encoders: the whole message into out; its length, or -ENOSPC when out is too small, -EINVAL for a string
 * over CHANNEL_TEXT_MAX. */
int channel_encode_hello(uint8_t *out, size_t size, uint32_t caps, const char *name);
int channel_encode_session(uint8_t *out, size_t size, uint32_t ttl_s, const char *ticket, const char *user,
			   const char *pool);
int channel_encode_bye(uint8_t *out, size_t size, uint32_t reason, const char *text);

/* A stream's reassembly (VNC's side stream, or several DVC writes): bytes in, whole messages out. */
struct channel_reader {
	uint8_t *buf;
	size_t len, cap;
	size_t used; /* consumed by the last channel_reader_next */
};
/* Appends bytes; -ENOMEM, or -EMSGSIZE when more than one largest message would be buffered. */
int channel_reader_feed(struct channel_reader *r, const uint8_t *data, size_t len);
/* The next whole message: 1 with *out set (valid until the next feed or next call), 0 when none is complete, or
 * a channel_decode error (the stream cannot be followed past it). */
int channel_reader_next(struct channel_reader *r, struct channel_msg *out);
void channel_reader_free(struct channel_reader *r);

#endif
