/* font.c — text from the build-time glyph atlas (font_data.c), blended by
 * coverage; the pen advances in 1/64 pixel so spacing stays even. */
#include "desktop.h"

const struct glyph *font_glyph(const struct font *f, char c)
{
	unsigned char u = (unsigned char)c;
	if (u < FONT_FIRST || u > FONT_LAST)
		u = '?';
	return &f->glyphs[u - FONT_FIRST];
}

/* Glyphs sit at the pen rounded to a whole pixel. */
static int32_t pen_pixel(int32_t x, int32_t pen64)
{
	return x + ((pen64 + 32) >> 6);
}

int32_t font_width(const struct font *f, const char *text, size_t len)
{
	int32_t pen64 = 0;
	for (size_t i = 0; i < len; i++)
		pen64 += font_glyph(f, text[i])->advance;
	return pen_pixel(0, pen64);
}

int32_t font_draw(struct surface *s, struct rect clip, const struct font *f, int32_t x, int32_t y, const char *text,
		  size_t len, uint32_t color)
{
	int32_t pen64 = 0;
	for (size_t i = 0; i < len; i++) {
		const struct glyph *g = font_glyph(f, text[i]);
		int32_t gx = pen_pixel(x, pen64) + g->left;
		int32_t gy = y + g->top;
		/* skip glyphs left and right of clip without touching their bitmaps */
		if (g->width && gx < clip.x + clip.w && gx + g->width > clip.x)
			draw_coverage(s, clip, gx, gy, g->width, g->height, f->coverage + g->offset, color);
		pen64 += g->advance;
	}
	return pen_pixel(x, pen64);
}
