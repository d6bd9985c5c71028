/* vnc_chan.h — vdi's private channel over VNC: one-time tokens that a
 * picture's connection gives its client (in an RFB pseudo-encoding only
 * vdi-client asks for), and the side stream that comes back with one and
 * carries the connection's channel (chan.h). Private to display/. */
#ifndef VDI_VNC_CHAN_H
#define VDI_VNC_CHAN_H

#include "display.h"
#include "vnc_front.h"

#include <stddef.h>

/* The pseudo-encoding a client lists to be given a token (common/channel.h). */
#define VNC_CHAN_ENCODING CHANNEL_RFB_ENCODING

struct vnc_chan_tokens;

struct vnc_chan_tokens *vnc_chan_tokens_new(void);
void vnc_chan_tokens_free(struct vnc_chan_tokens *t);
/* A new token for connection dc into out (VNC_FRONT_TOKEN_MAX + 1 bytes); its length, or a negative errno. */
int vnc_chan_token_issue(struct vnc_chan_tokens *t, struct display_conn *dc, char *out);
/* dc ends: its tokens no longer work. */
void vnc_chan_token_revoke(struct vnc_chan_tokens *t, struct display_conn *dc);
/* A side stream whose token was read (vnc_front_handshake returned 2): carries its connection's channel until
 * either ends, then closes f. */
void vnc_chan_serve(struct vnc_chan_tokens *t, struct vnc_front *f, const char *token, const char *address);

#endif
