/* text.h — text for the broker's server-side screens (private to broker/):
 * DejaVu Sans and DejaVu Sans Bold from the glyphs the desktop guest renders
 * at build time (build/guest/font_data.c), blended by coverage into an
 * XRGB8888 canvas, at 1x or enlarged. */
#ifndef VDI_BROKER_TEXT_H
#define VDI_BROKER_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct text_rect {
	int32_t x, y, w, h;
};

/* Pixels to draw into (bytes B, G, R, unused; stride bytes a row); nothing
 * is drawn outside clip or the canvas. */
struct text_canvas {
	uint8_t *px;
	int32_t width, height;
	uint32_t stride;
	struct text_rect clip;
};

enum text_face { TEXT_REGULAR, TEXT_BOLD };

#define TEXT_SCALE_MAX 4

/* Metrics in pixels at `scale` (1..TEXT_SCALE_MAX; others act as 1). */
int32_t text_ascent(enum text_face face, int scale);
int32_t text_descent(enum text_face face, int scale);
/* Width of len bytes of text; bytes outside printable ASCII count as '?'. */
int32_t text_width(enum text_face face, int scale, const char *text, size_t len);
/* How many leading bytes of text fit in max_width pixels. */
size_t text_fit(enum text_face face, int scale, const char *text, size_t len, int32_t max_width);
/* Draws text with its baseline at y in colour 0xRRGGBB; returns the pen's x after it. */
int32_t text_draw(const struct text_canvas *c, enum text_face face, int scale, int32_t x, int32_t y, const char *text,
		  size_t len, uint32_t color);

#endif
