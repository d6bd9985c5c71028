/* motion.h — finds damage that is old content moved (scrolls, dragged
 * windows) so a client can copy it from what it holds instead of being sent
 * it again; private to display/. Pure: pictures in, moves and the residual
 * rectangles still to encode out. */
#ifndef VDI_MOTION_H
#define VDI_MOTION_H

#include "display.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOTION_MAX_MOVES    SURFACE_MAX_RECTS
#define MOTION_MAX_RESIDUAL (SURFACE_MAX_RECTS * 4)

/* Copy src of the old picture to (dst_x, dst_y). */
struct motion_move {
	struct surface_rect src;
	uint32_t dst_x, dst_y;
};

/* Two XRGB8888 pictures of width x height: old is what the client holds,
 * new what it must show. Where lossy (tiles of tile x tile pixels, cols a
 * row; NULL: nowhere) the client holds something else than old, so nothing
 * is copied from there. */
struct motion_frame {
	const uint8_t *old, *new;
	uint32_t old_stride, new_stride;
	uint32_t width, height;
	const bool *lossy;
	uint32_t tile, cols;
};

/* Applied in order, the moves and then the residual rectangles drawn from
 * new turn old into new over the damage: a move's source never lies where
 * an earlier move wrote. Every move was checked pixel for pixel. */
struct motion_result {
	uint32_t nmoves;
	struct motion_move moves[MOTION_MAX_MOVES];
	uint32_t nresidual;
	struct surface_rect residual[MOTION_MAX_RESIDUAL];
};

struct motion;

/* Copies the move's source to its destination in pixels (stride bytes a
 * row), rows in the order that reads each before it is overwritten, as a
 * client does. */
void motion_apply(uint8_t *pixels, size_t stride, const struct motion_move *mv);

struct motion *motion_new(void);
void motion_free(struct motion *m);
/* For tests: another row hash (a weak one makes collisions). */
void motion_set_hash(struct motion *m, uint64_t (*hash)(const uint8_t *p, size_t n));
/* The moves and residual for n damaged rectangles (clipped to the picture;
 * what did not change in them is left out). 0, -EINVAL for more than
 * SURFACE_MAX_RECTS rectangles or a picture without pixels, -ENOMEM. */
int motion_detect(struct motion *m, const struct motion_frame *f, const struct surface_rect *damage, uint32_t n,
		  struct motion_result *out);

#endif
