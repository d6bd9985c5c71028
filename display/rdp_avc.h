/* rdp_avc.h — an H.264 encoder for one GFX surface (x264 through
 * libavcodec, tuned for latency), fed the surface's damaged rectangles. */
#ifndef VDI_RDP_AVC_H
#define VDI_RDP_AVC_H

#include "display.h"

#include <stddef.h>
#include <stdint.h>

struct rdp_avc;

/* An encoder for width x height (both even); NULL when libx264 is missing
 * or the size is odd (logged). */
struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height);
void rdp_avc_free(struct rdp_avc *a);
/* Copies rectangles of f (its size the encoder's) into the encoder's
 * picture, converted to I420; what is not updated keeps its last value. */
void rdp_avc_update(struct rdp_avc *a, const struct surface_update *f, const struct surface_rect *rects,
		    uint32_t nrects);
/* Encodes the picture; *data (valid until the next call) holds an Annex B
 * access unit. 0 or negative errno. */
int rdp_avc_encode(struct rdp_avc *a, const uint8_t **data, size_t *size);

#endif
