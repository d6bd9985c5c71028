/* rdp_avc.h — an H.264 encoder for one area of a GFX surface (x264 through
 * libavcodec, tuned for latency), fed the surface's damaged rectangles. */
#ifndef VDI_RDP_AVC_H
#define VDI_RDP_AVC_H

#include "display.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rdp_avc;

/* libavcodec has libx264 (logged once when it does not). */
bool rdp_avc_available(void);
/* An encoder for width x height (both even) whose frames take about
 * frame_bytes on average once it has seen a few (0: no budget); video
 * (photographic content) at a quantiser steered to the budget (without
 * one, the best), desktop content by x264's own rate control. NULL when
 * libx264 is missing or the size is odd (logged). */
struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height, uint32_t frame_bytes, bool video);
/* The quantiser a video stream's next frame is coded at (H.264's QP, 0 to
 * 51); 0 for desktop content, where x264 chooses. */
int rdp_avc_qp(const struct rdp_avc *a);
void rdp_avc_free(struct rdp_avc *a);
/* Copies rectangles of f (in f's coordinates) into the encoder's picture,
 * converted to I420 (BT.709 full range): the picture shows f from (left,
 * top), both even, at the encoder's size; what the rectangles leave out,
 * or lies outside f, keeps its last value. */
void rdp_avc_update(struct rdp_avc *a, const struct surface_update *f, uint32_t left, uint32_t top,
		    const struct surface_rect *rects, uint32_t nrects);
/* Encodes the picture; *data (valid until the next call) holds an Annex B
 * access unit. 0 or negative errno. */
int rdp_avc_encode(struct rdp_avc *a, const uint8_t **data, size_t *size);

#endif
