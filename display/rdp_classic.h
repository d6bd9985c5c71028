/* rdp_classic.h — graphics for an RDP client without the graphics pipeline:
 * planar bitmap updates (lossless) for text and UI, RemoteFX surface bits
 * for photographic tiles where the client takes RemoteFX (sent again as
 * planar once they hold still), and frames paced by the client's frame
 * acknowledgements where it sends them. */
#ifndef VDI_RDP_CLASSIC_H
#define VDI_RDP_CLASSIC_H

#include "display.h"

#include <stdbool.h>
#include <stdint.h>

#include <freerdp/freerdp.h>

struct rdp_classic;

/* Graphics sent through ctx's update callbacks, by its settings (the
 * client's capabilities once it is active). NULL when out of memory. */
struct rdp_classic *rdp_classic_new(rdpContext *ctx);
/* Logs what was sent, then frees. NULL does nothing. */
void rdp_classic_free(struct rdp_classic *b);
/* The client is active at width x height with the codecs and frame
 * acknowledgements its capabilities say: all it held is forgotten. */
bool rdp_classic_reset(struct rdp_classic *b, uint32_t width, uint32_t height);
/* Few enough frames unacknowledged to send another (always, for a client
 * that does not acknowledge frames; and from when one that said it would
 * has let a second pass without doing so). */
bool rdp_classic_can_send(struct rdp_classic *b);
/* While frames wait for acknowledgements: milliseconds until the client is
 * no longer waited for (0: now); UINT32_MAX when nothing waits. */
uint32_t rdp_classic_wait_in(const struct rdp_classic *b);
/* The client acknowledged frame `id`. */
void rdp_classic_acknowledged(struct rdp_classic *b, uint32_t id);
/* Tiles the client holds lossy from RemoteFX are sent again as planar once
 * they held still a while: milliseconds until the next is due (0: now), or
 * UINT32_MAX when nothing is lossy. */
uint32_t rdp_classic_refine_in(const struct rdp_classic *b);
/* The given rectangles of f (clipped to the client's desktop), and lossy
 * tiles due for refinement, as one frame. false when sending failed. */
bool rdp_classic_send(struct rdp_classic *b, const struct surface_update *f, const struct surface_rect *rects,
		      uint32_t nrects);

#endif
