/* rdp_chan.h — vdi's private channel over one RDP client's dynamic virtual
 * channel CHANNEL_DVC_NAME (common/channel.h): opened once drdynvc is up,
 * refused quietly by clients that do not know it (every stock client). */
#ifndef VDI_RDP_CHAN_H
#define VDI_RDP_CHAN_H

#include "display.h"

#include <stdbool.h>

#include <winpr/wtypes.h>

struct rdp_chan;

/* The channel for connection conn on the peer's virtual channel manager;
 * NULL on no memory. */
struct rdp_chan *rdp_chan_new(HANDLE vcm, struct display_conn *conn);
void rdp_chan_free(struct rdp_chan *ch);
/* Adds the handle the peer's loop must wait on (the queue of messages for
 * the client); returns how many (0 or 1). */
DWORD rdp_chan_handles(struct rdp_chan *ch, HANDLE *handles);
/* After every wake: opens the channel once drdynvc is ready, moves the
 * client's bytes in and queued messages out. */
void rdp_chan_check(struct rdp_chan *ch);
/* Sends what is queued now (a BYE before the connection ends). */
void rdp_chan_flush(struct rdp_chan *ch);

#endif
