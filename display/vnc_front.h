/* vnc_front.h — the front of a VNC connection when the server has a TLS
 * identity: we do the RFB 3.8 version and security handshake ourselves,
 * offering VeNCrypt X509Plain (TLS with the server's certificate, then a
 * user name and password inside it) before None, and hand libvncserver,
 * which has neither TLS nor VeNCrypt, a plain stream: one end of a socket
 * pair whose RFB handshake we answer for the client, with a relay thread
 * carrying the rest between the two. WebSocket clients (noVNC) go to
 * libvncserver untouched. */
#ifndef VDI_VNC_FRONT_H
#define VDI_VNC_FRONT_H

#include "../common/channel.h"

#include <stdbool.h>
#include <stddef.h>

/* The server's TLS context; NULL (logged) when the certificate and key do
 * not load. */
struct vnc_tls;
struct vnc_tls *vnc_tls_new(const char *cert_path, const char *key_path);
void vnc_tls_free(struct vnc_tls *t);
/* From now on refuse clients that would go without TLS: RFB clients are
 * offered VeNCrypt alone (RFB 3.3 ones, which cannot choose, are told why
 * and closed), and WebSocket clients must come as wss://. */
void vnc_tls_require(struct vnc_tls *t);

#define VNC_FRONT_NAME_MAX 256 /* user name or password bytes, at most */

struct vnc_front_credentials {
	bool given; /* the client chose VeNCrypt Plain and sent them */
	char user[VNC_FRONT_NAME_MAX + 1];
	char password[VNC_FRONT_NAME_MAX + 1];
};

struct vnc_front;

/* vdi's private channel rides beside the picture on a second connection to
 * the same port (common/channel.h): the client speaks first,
 * CHANNEL_RFB_PREFACE, then TLS with the server's certificate, then a
 * u8-counted one-time token the picture's connection gave it. */
#define VNC_FRONT_TOKEN_MAX CHANNEL_TOKEN_MAX

/* The handshake with the client on `sock` (which the front then owns),
 * abandoned when stop_fd becomes readable or the client stalls. Returns 1
 * when the client speaks first, as WebSocket does (*out NULL, nothing
 * read: libvncserver takes `sock`; with TLS required, only when its first
 * bytes are a TLS handshake), 0 with *out set and *creds filled, 2 for a
 * private channel's side stream (*out set, its token in token, at least
 * VNC_FRONT_TOKEN_MAX + 1 bytes), or a negative errno when the client
 * failed or left (logged; `sock` is closed). */
int vnc_front_handshake(struct vnc_tls *t, int sock, int stop_fd, const char *address, struct vnc_front **out,
			struct vnc_front_credentials *creds, char *token);

/* A side stream's bytes (after vnc_front_handshake returned 2), on one
 * thread. read: > 0 bytes, 0 when it would block (*want: the events to
 * poll the socket for), < 0 at its end. write: all of it within
 * timeout_ms; 0 or a negative errno. */
int vnc_front_socket(const struct vnc_front *f);
int vnc_front_stream_read(struct vnc_front *f, void *buf, size_t n, short *want);
int vnc_front_stream_write(struct vnc_front *f, const void *buf, size_t n, int timeout_ms);

/* Tells the client how its security ended: accepted (refusal NULL), or
 * refused with a reason. 0 or negative errno. Accepting sets up the
 * relay's socket pair first; when no descriptor below FD_SETSIZE is free
 * for libvncserver's end, the client is refused ("the server is full")
 * and -EMFILE returned. */
int vnc_front_result(struct vnc_front *f, const char *refusal);

/* Starts the relay after an accepting vnc_front_result(): returns the
 * plain socket libvncserver takes (below FD_SETSIZE; it owns it from then
 * on), or a negative errno. */
int vnc_front_relay(struct vnc_front *f);

/* Ends the relay, closes the client's connection, frees f (NULL: nothing). */
void vnc_front_close(struct vnc_front *f);

#endif
