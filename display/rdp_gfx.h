/* rdp_gfx.h — one RDP client's graphics pipeline (rdpgfx): the dynamic
 * channel's setup, a GFX surface the size of the desktop (and offscreen
 * ones for its H.264 streams), and frames of damaged rectangles paced by
 * the client's frame acknowledgements. */
#ifndef VDI_RDP_GFX_H
#define VDI_RDP_GFX_H

#include "display.h"

#include <stdbool.h>
#include <stdint.h>

#include <freerdp/peer.h>
#include <freerdp/server/rdpgfx.h>

struct rdp_gfx;

/* The peer's virtual channel manager and an rdpgfx context on it; NULL on
 * failure (logged). The channel opens later, once drdynvc is up. */
struct rdp_gfx *rdp_gfx_new(freerdp_peer *client);
/* For the codec bench: a pipeline that sends through ctx, the caller's
 * (its StartFrame, EndFrame, SurfaceCommand, SolidFill, SurfaceToSurface,
 * ResetGraphics, CreateSurface, DeleteSurface and MapSurfaceToOutput set),
 * as if a client had confirmed capabilities (with AVC420 when avc) and
 * never made it wait for acknowledgements. ctx stays the caller's. */
struct rdp_gfx *rdp_gfx_new_detached(RdpgfxServerContext *ctx, bool avc);
/* Logs what was sent over GFX, then frees. NULL does nothing. */
void rdp_gfx_free(struct rdp_gfx *g);
/* The peer's virtual channel manager, for its other dynamic channels. */
HANDLE rdp_gfx_vcm(const struct rdp_gfx *g);
/* Adds the handles the peer's loop must wait on (at most 2). */
DWORD rdp_gfx_handles(struct rdp_gfx *g, HANDLE *handles);
/* After every wake: moves the virtual channels' data, opens the rdpgfx
 * channel when the client offers it. false when the connection broke. */
bool rdp_gfx_check(struct rdp_gfx *g, bool client_offers_gfx);
/* The client confirmed capabilities: frames go over GFX from now on. */
bool rdp_gfx_ready(const struct rdp_gfx *g);
/* Ready and few enough frames unacknowledged to send another. */
bool rdp_gfx_can_send(const struct rdp_gfx *g);
/* The desktop's size as the GFX surface has it (0 before rdp_gfx_reset). */
void rdp_gfx_size(const struct rdp_gfx *g, uint32_t *width, uint32_t *height);
/* ResetGraphics to width x height and a new surface mapped to the output. */
bool rdp_gfx_reset(struct rdp_gfx *g, uint32_t width, uint32_t height);
/* Regions the client holds lossy from H.264 are sent again losslessly once
 * H.264 has been idle a while: milliseconds until then (0: due now), or
 * INFINITE when nothing is lossy. */
DWORD rdp_gfx_refine_in(const struct rdp_gfx *g);
/* One frame of the given rectangles of f (clipped to the surface). Unless
 * VDI_RDP_MOTION=off, damage that is content the client holds, moved, goes
 * as SurfaceToSurface copies. */
bool rdp_gfx_send(struct rdp_gfx *g, const struct surface_update *f, const struct surface_rect *rects, uint32_t nrects);

#endif
