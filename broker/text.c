/* text.c — drawing text on the host with the desktop guest's build-time glyph
 * atlas; enlarged text samples the coverage bilinearly and
 * steepens its edges so it stays smooth but crisp. */
#include "text.h"

/* The glyph tables' layout (struct font, struct glyph) is the guest's, and
 * font_data.c is compiled against it, so the host reads the same header
 * rather than a copy that could drift. Only its font declarations are used
 * here: the guest's drawing functions are not part of the host build. */
#include "../hypervisor/guest/desktop.h"

static const struct font *text_font(enum text_face face)
{
	return face == TEXT_BOLD ? &font_bold : &font_regular;
}

static int text_scale(int scale)
{
	return scale >= 1 && scale <= TEXT_SCALE_MAX ? scale : 1;
}

static const struct glyph *text_glyph(const struct font *f, char c)
{
	unsigned char u = (unsigned char)c;
	if (u < FONT_FIRST || u > FONT_LAST)
		u = '?';
	return &f->glyphs[u - FONT_FIRST];
}

int32_t text_ascent(enum text_face face, int scale)
{
	return text_font(face)->ascent * text_scale(scale);
}

int32_t text_descent(enum text_face face, int scale)
{
	return text_font(face)->descent * text_scale(scale);
}

/* The pen advances in 1/64 pixel so spacing stays even; glyphs sit at it
 * rounded to a whole pixel. */
static int32_t pen_pixel(int32_t x, int64_t pen64)
{
	return x + (int32_t)((pen64 + 32) >> 6);
}

int32_t text_width(enum text_face face, int scale, const char *text, size_t len)
{
	const struct font *f = text_font(face);
	int64_t pen64 = 0;
	for (size_t i = 0; i < len; i++)
		pen64 += text_glyph(f, text[i])->advance;
	return pen_pixel(0, pen64 * text_scale(scale));
}

size_t text_fit(enum text_face face, int scale, const char *text, size_t len, int32_t max_width)
{
	const struct font *f = text_font(face);
	int s = text_scale(scale);
	int64_t pen64 = 0;
	for (size_t i = 0; i < len; i++) {
		pen64 += text_glyph(f, text[i])->advance;
		if (pen_pixel(0, pen64 * s) > max_width)
			return i;
	}
	return len;
}

static void blend(uint8_t *p, uint32_t color, uint32_t alpha)
{
	for (int k = 0; k < 3; k++) {
		uint32_t src = (color >> (8 * k)) & 0xff;
		p[k] = (uint8_t)((src * alpha + p[k] * (255 - alpha) + 127) / 255);
	}
}

/* Coverage of a glyph bitmap at (u, v) in 1/scale pixel steps: bilinear
 * between texel centres, zero outside. */
static uint32_t sample(const uint8_t *cov, int32_t w, int32_t h, int32_t u, int32_t v, int s)
{
	if (s == 1)
		return cov[(size_t)v * w + u];
	/* texel-space position of the output pixel's centre, in 1/(2s) units */
	int32_t fx = 2 * u + 1 - s, fy = 2 * v + 1 - s;
	int32_t d = 2 * s;
	int32_t x0 = fx >= 0 ? fx / d : -1, y0 = fy >= 0 ? fy / d : -1;
	int32_t wx = fx - x0 * d, wy = fy - y0 * d; /* 0..d */
	uint32_t acc = 0;
	for (int j = 0; j < 2; j++) {
		for (int i = 0; i < 2; i++) {
			int32_t x = x0 + i, y = y0 + j;
			if (x < 0 || y < 0 || x >= w || y >= h)
				continue;
			int32_t weight = (i ? wx : d - wx) * (j ? wy : d - wy);
			acc += (uint32_t)(cov[(size_t)y * w + x] * weight);
		}
	}
	/* Bilinear spreads each edge over s pixels; steepening the ramp s
	 * times around half coverage brings it back to about one, as at 1x. */
	int32_t a = (int32_t)((acc + (uint32_t)(d * d) / 2) / (uint32_t)(d * d));
	a = (a - 128) * s + 128;
	return a < 0 ? 0 : a > 255 ? 255 : (uint32_t)a;
}

static void draw_glyph(const struct text_canvas *c, const struct font *f, const struct glyph *g, int s, int32_t gx,
		       int32_t gy, uint32_t color)
{
	int32_t w = g->width * s, h = g->height * s;
	int32_t x0 = gx > c->clip.x ? gx : c->clip.x, y0 = gy > c->clip.y ? gy : c->clip.y;
	int32_t x1 = gx + w, y1 = gy + h;
	if (x1 > c->clip.x + c->clip.w)
		x1 = c->clip.x + c->clip.w;
	if (y1 > c->clip.y + c->clip.h)
		y1 = c->clip.y + c->clip.h;
	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > c->width)
		x1 = c->width;
	if (y1 > c->height)
		y1 = c->height;
	const uint8_t *cov = f->coverage + g->offset;
	for (int32_t y = y0; y < y1; y++) {
		uint8_t *row = c->px + (size_t)y * c->stride;
		for (int32_t x = x0; x < x1; x++) {
			uint32_t a = sample(cov, g->width, g->height, x - gx, y - gy, s);
			if (a)
				blend(row + (size_t)x * 4, color, a);
		}
	}
}

int32_t text_draw(const struct text_canvas *c, enum text_face face, int scale, int32_t x, int32_t y, const char *text,
		  size_t len, uint32_t color)
{
	const struct font *f = text_font(face);
	int s = text_scale(scale);
	int64_t pen64 = 0;
	for (size_t i = 0; i < len; i++) {
		const struct glyph *g = text_glyph(f, text[i]);
		int32_t gx = pen_pixel(x, pen64 * s) + g->left * s;
		int32_t gy = y + g->top * s;
		/* glyphs wholly outside the clip cost nothing */
		if (g->width && gx < c->clip.x + c->clip.w && gx + g->width * s > c->clip.x)
			draw_glyph(c, f, g, s, gx, gy, color);
		pen64 += g->advance;
	}
	return pen_pixel(x, pen64 * s);
}
