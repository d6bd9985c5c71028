/* text.c — text on vdi-client's own screens, drawn with the glyphs the build renders for the desktop guest
 * (build/guest/font_data.c, DejaVu Sans): coverage blended into an XRGB8888 canvas. */
#include "client.h"

#include "../hypervisor/guest/desktop.h"

static const struct glyph *glyph_of(const struct font *f, char c)
{
	unsigned char u = (unsigned char)c;
	if (u < FONT_FIRST || u > FONT_LAST)
		u = '?';
	return &f->glyphs[u - FONT_FIRST];
}

int text_width(const char *s, bool bold)
{
	const struct font *f = bold ? &font_bold : &font_regular;
	int64_t pen64 = 0;
	for (; *s; s++)
		pen64 += glyph_of(f, *s)->advance;
	return (int)((pen64 + 32) >> 6);
}

int text_line_height(void)
{
	return font_regular.line_height;
}

int text_ascent(void)
{
	return font_regular.ascent;
}

static void blend(uint32_t *p, uint32_t rgb, uint32_t a)
{
	uint32_t out = 0;
	for (int k = 0; k < 24; k += 8) {
		uint32_t src = (rgb >> k) & 0xff, dst = (*p >> k) & 0xff;
		out |= ((src * a + dst * (255 - a) + 127) / 255) << k;
	}
	*p = out;
}

int text_draw(uint32_t *px, int width, int height, int x, int baseline, const char *s, uint32_t rgb, bool bold)
{
	const struct font *f = bold ? &font_bold : &font_regular;
	int64_t pen64 = 0;
	for (; *s; s++) {
		const struct glyph *g = glyph_of(f, *s);
		int gx = x + (int)((pen64 + 32) >> 6) + g->left, gy = baseline + g->top;
		const uint8_t *cov = f->coverage + g->offset;
		for (int v = 0; v < g->height; v++) {
			if (gy + v < 0 || gy + v >= height)
				continue;
			for (int u = 0; u < g->width; u++) {
				uint8_t a = cov[v * g->width + u];
				if (a && gx + u >= 0 && gx + u < width)
					blend(&px[(size_t)(gy + v) * width + gx + u], rgb, a);
			}
		}
		pen64 += g->advance;
	}
	return x + (int)((pen64 + 32) >> 6);
}
