/* draw.c — rectangles, the damage list and drawing into a framebuffer with
 * integer arithmetic only (guest code has no floating point). */
#include "desktop.h"
#include "guest.h"

bool rect_empty(struct rect r)
{
	return r.w <= 0 || r.h <= 0;
}

static int32_t min32(int32_t a, int32_t b)
{
	return a < b ? a : b;
}

static int32_t max32(int32_t a, int32_t b)
{
	return a > b ? a : b;
}

struct rect rect_intersect(struct rect a, struct rect b)
{
	int32_t x0 = max32(a.x, b.x), y0 = max32(a.y, b.y);
	int32_t x1 = min32(a.x + a.w, b.x + b.w), y1 = min32(a.y + a.h, b.y + b.h);
	if (x1 <= x0 || y1 <= y0)
		return (struct rect){0, 0, 0, 0};
	return (struct rect){x0, y0, x1 - x0, y1 - y0};
}

struct rect rect_union(struct rect a, struct rect b)
{
	if (rect_empty(a))
		return b;
	if (rect_empty(b))
		return a;
	int32_t x0 = min32(a.x, b.x), y0 = min32(a.y, b.y);
	int32_t x1 = max32(a.x + a.w, b.x + b.w), y1 = max32(a.y + a.h, b.y + b.h);
	return (struct rect){x0, y0, x1 - x0, y1 - y0};
}

int rect_subtract(struct rect a, struct rect b, struct rect out[4])
{
	struct rect i = rect_intersect(a, b);
	if (rect_empty(i)) {
		if (rect_empty(a))
			return 0;
		out[0] = a;
		return 1;
	}
	struct rect pieces[4] = {
	    {a.x, a.y, a.w, i.y - a.y},                     /* above */
	    {a.x, i.y + i.h, a.w, a.y + a.h - (i.y + i.h)}, /* below */
	    {a.x, i.y, i.x - a.x, i.h},                     /* left */
	    {i.x + i.w, i.y, a.x + a.w - (i.x + i.w), i.h}, /* right */
	};
	int n = 0;
	for (int k = 0; k < 4; k++)
		if (!rect_empty(pieces[k]))
			out[n++] = pieces[k];
	return n;
}

static int64_t rect_area(struct rect r)
{
	return rect_empty(r) ? 0 : (int64_t)r.w * r.h;
}

static bool rect_touch(struct rect a, struct rect b)
{
	return a.x <= b.x + b.w && b.x <= a.x + a.w && a.y <= b.y + b.h && b.y <= a.y + a.h;
}

static void damage_remove(struct damage *d, int k)
{
	d->r[k] = d->r[--d->count];
}

void damage_add(struct damage *d, struct rect r)
{
	if (rect_empty(r))
		return;
	/* Merging can make the box touch others, so keep absorbing until it
	 * stands alone: the list never holds overlapping rectangles, and no
	 * pixel is painted or sent twice. */
	bool merged = true;
	while (merged) {
		merged = false;
		for (int k = 0; k < d->count; k++) {
			if (rect_touch(d->r[k], r)) {
				r = rect_union(r, d->r[k]);
				damage_remove(d, k);
				merged = true;
				break;
			}
		}
	}
	if (d->count < DAMAGE_MAX) {
		d->r[d->count++] = r;
		return;
	}
	int best = 0;
	int64_t best_growth = INT64_MAX;
	for (int k = 0; k < d->count; k++) {
		int64_t growth = rect_area(rect_union(d->r[k], r)) - rect_area(d->r[k]) - rect_area(r);
		if (growth < best_growth) {
			best_growth = growth;
			best = k;
		}
	}
	r = rect_union(r, d->r[best]);
	damage_remove(d, best);
	damage_add(d, r);
}

/* The part of r that is inside clip and the surface. */
static struct rect draw_area(const struct surface *s, struct rect clip, struct rect r)
{
	return rect_intersect(rect_intersect(r, clip), (struct rect){0, 0, s->width, s->height});
}

static uint32_t *pixel_at(const struct surface *s, int32_t x, int32_t y)
{
	return s->px + (size_t)y * (size_t)s->width + (size_t)x;
}

/* Red and blue share one multiply, green takes another; alpha256 is 0..256
 * so the products fit their 16-bit lanes. */
static uint32_t blend256(uint32_t dst, uint32_t src, uint32_t alpha256)
{
	uint32_t inv = 256 - alpha256;
	uint32_t rb = (((src & 0xff00ff) * alpha256 + (dst & 0xff00ff) * inv) >> 8) & 0xff00ff;
	uint32_t g = (((src & 0x00ff00) * alpha256 + (dst & 0x00ff00) * inv) >> 8) & 0x00ff00;
	return rb | g;
}

static uint32_t alpha_to_256(uint32_t alpha)
{
	return alpha + (alpha >> 7);
}

void draw_fill(struct surface *s, struct rect clip, struct rect r, uint32_t color)
{
	struct rect a = draw_area(s, clip, r);
	color &= 0xffffff;
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		uint32_t *p = pixel_at(s, a.x, y);
		for (int32_t x = 0; x < a.w; x++)
			p[x] = color;
	}
}

void draw_blend_fill(struct surface *s, struct rect clip, struct rect r, uint32_t color, uint32_t alpha)
{
	struct rect a = draw_area(s, clip, r);
	uint32_t a256 = alpha_to_256(alpha > 255 ? 255 : alpha);
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		uint32_t *p = pixel_at(s, a.x, y);
		for (int32_t x = 0; x < a.w; x++)
			p[x] = blend256(p[x], color, a256);
	}
}

void draw_frame(struct surface *s, struct rect clip, struct rect r, uint32_t color)
{
	if (rect_empty(r))
		return;
	draw_fill(s, clip, (struct rect){r.x, r.y, r.w, 1}, color);
	draw_fill(s, clip, (struct rect){r.x, r.y + r.h - 1, r.w, 1}, color);
	draw_fill(s, clip, (struct rect){r.x, r.y + 1, 1, r.h - 2}, color);
	draw_fill(s, clip, (struct rect){r.x + r.w - 1, r.y + 1, 1, r.h - 2}, color);
}

static int32_t channel(uint32_t color, int shift)
{
	return (int32_t)((color >> shift) & 0xff);
}

/* from + (to - from) * num / den per channel, rounded */
static uint32_t mix(uint32_t from, uint32_t to, int32_t num, int32_t den)
{
	uint32_t out = 0;
	for (int shift = 0; shift <= 16; shift += 8) {
		int32_t c0 = channel(from, shift), c1 = channel(to, shift);
		int32_t c = c0 + ((c1 - c0) * num + (c1 >= c0 ? den / 2 : -den / 2)) / den;
		out |= (uint32_t)c << shift;
	}
	return out;
}

void draw_gradient_vertical(struct surface *s, struct rect clip, struct rect r, uint32_t top, uint32_t bottom)
{
	struct rect a = draw_area(s, clip, r);
	int32_t span = r.h > 1 ? r.h - 1 : 1;
	for (int32_t y = a.y; y < a.y + a.h; y++)
		draw_fill(s, a, (struct rect){a.x, y, a.w, 1}, mix(top, bottom, y - r.y, span));
}

/* Ordered-dither thresholds (4x4 Bayer matrix) in 1/256 of a level. */
static const uint8_t bayer4[4][4] = {
    {8, 136, 40, 168},
    {200, 72, 232, 104},
    {56, 184, 24, 152},
    {248, 120, 216, 88},
};

void draw_gradient_diagonal(struct surface *s, struct rect clip, struct rect area, const uint32_t stops[3])
{
	struct rect a = draw_area(s, clip, area);
	if (rect_empty(a))
		return;
	/* t is the pixel's projection on the diagonal, 0 .. 2^32 in 32.32 fixed
	 * point. The steps per pixel are exact integers, so any sub-rectangle
	 * gets the very pixels a full repaint gives. */
	uint64_t diag = (uint64_t)area.w * (uint64_t)area.w + (uint64_t)area.h * (uint64_t)area.h;
	uint64_t step_x = ((uint64_t)area.w << 32) / diag;
	uint64_t step_y = ((uint64_t)area.h << 32) / diag;
	int32_t c[3][3];
	for (int k = 0; k < 3; k++)
		for (int ch = 0; ch < 3; ch++)
			c[k][ch] = channel(stops[k], ch * 8);

	for (int32_t y = a.y; y < a.y + a.h; y++) {
		uint32_t *p = pixel_at(s, a.x, y);
		uint64_t t = (uint64_t)(y - area.y) * step_y + (uint64_t)(a.x - area.x) * step_x;
		const uint8_t *dither = bayer4[y & 3];
		for (int32_t x = a.x; x < a.x + a.w; x++, t += step_x) {
			int32_t t16 = (int32_t)(t >> 16);
			if (t16 > 65535)
				t16 = 65535;
			int seg = t16 >= 32768;
			int32_t f = t16 - seg * 32768; /* 0 .. 32767 within the segment */
			int32_t threshold = dither[x & 3];
			uint32_t out = 0;
			for (int ch = 0; ch < 3; ch++) {
				/* 8.8 fixed point: (c1 - c0) * f / 32768 * 256 */
				int32_t v = (c[seg][ch] << 8) + (c[seg + 1][ch] - c[seg][ch]) * f / 128;
				out |= (uint32_t)((v + threshold) >> 8) << (ch * 8);
			}
			p[x - a.x] = out;
		}
	}
}

void draw_shadow(struct surface *s, struct rect clip, struct rect caster, int32_t radius, uint32_t alpha)
{
	if (radius <= 0)
		return;
	struct rect reach = {caster.x - radius, caster.y - radius, caster.w + 2 * radius, caster.h + 2 * radius};
	struct rect a = draw_area(s, clip, reach);
	int64_t r2 = (int64_t)radius * radius;
	int32_t x_last = caster.x + caster.w - 1, y_last = caster.y + caster.h - 1;
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		int32_t dy = y < caster.y ? caster.y - y : y > y_last ? y - y_last : 0;
		uint32_t *p = pixel_at(s, a.x, y);
		for (int32_t x = a.x; x < a.x + a.w; x++) {
			int32_t dx = x < caster.x ? caster.x - x : x > x_last ? x - x_last : 0;
			int64_t d2 = (int64_t)dx * dx + (int64_t)dy * dy;
			if (d2 >= r2)
				continue;
			/* (1 - d²/r²)² falls off softly, like a blur, without a sqrt */
			int64_t k = r2 - d2;
			uint32_t shade = (uint32_t)((int64_t)alpha * k * k / (r2 * r2));
			if (shade)
				p[x - a.x] = blend256(p[x - a.x], 0, alpha_to_256(shade));
		}
	}
}

void draw_coverage(struct surface *s, struct rect clip, int32_t x, int32_t y, int32_t width, int32_t height,
		   const uint8_t *coverage, uint32_t color)
{
	struct rect a = draw_area(s, clip, (struct rect){x, y, width, height});
	for (int32_t row = a.y; row < a.y + a.h; row++) {
		const uint8_t *cov = coverage + (size_t)(row - y) * (size_t)width + (size_t)(a.x - x);
		uint32_t *p = pixel_at(s, a.x, row);
		for (int32_t col = 0; col < a.w; col++) {
			uint32_t c = cov[col];
			if (c == 255)
				p[col] = color & 0xffffff;
			else if (c)
				p[col] = blend256(p[col], color, alpha_to_256(c));
		}
	}
}

void draw_disc(struct surface *s, struct rect clip, struct rect box, uint32_t color)
{
	struct rect a = draw_area(s, clip, box);
	int32_t d = box.w * 8; /* diameter in 1/8 pixel: 4x4 samples at odd eighths */
	int32_t r2 = (d / 2) * (d / 2);
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		uint32_t *p = pixel_at(s, a.x, y);
		for (int32_t x = a.x; x < a.x + a.w; x++) {
			uint32_t hits = 0;
			for (int32_t sy = 1; sy < 8; sy += 2) {
				for (int32_t sx = 1; sx < 8; sx += 2) {
					int32_t dx = (x - box.x) * 8 + sx - d / 2, dy = (y - box.y) * 8 + sy - d / 2;
					hits += dx * dx + dy * dy < r2;
				}
			}
			if (hits)
				p[x - a.x] = blend256(p[x - a.x], color, hits * 16);
		}
	}
}
