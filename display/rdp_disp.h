/* rdp_disp.h — one RDP client's display control (disp) channel: the
 * client's monitor layout changes become requests for the surface's size. */
#ifndef VDI_RDP_DISP_H
#define VDI_RDP_DISP_H

#include "display.h"

#include <stdbool.h>

#include <freerdp/peer.h>

struct rdp_disp;

/* A disp context on the peer's virtual channel manager; NULL on failure. */
struct rdp_disp *rdp_disp_new(freerdp_peer *client, HANDLE vcm, struct display_conn *conn);
void rdp_disp_free(struct rdp_disp *d);
/* After every wake: opens the channel, once drdynvc is up, for a client
 * that joined drdynvc, and offers it one monitor. */
void rdp_disp_check(struct rdp_disp *d);

#endif
