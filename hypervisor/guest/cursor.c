/* cursor.c — the pointer image, computed from an arrow polygon: white inside,
 * a black outline band along its edges, 4x4 samples per pixel for smooth
 * edges. */
#include "desktop.h"

#define SUB     8 /* polygon units per pixel */
#define OUTLINE 9 /* outline width in polygon units (1.125 px) */

struct point {
	int32_t x, y;
};

/* The arrow in half pixels, tip first (at the hotspot's corner). */
static const struct point arrow_half_px[] = {
    {0, 0}, {0, 42}, {10, 32}, {16, 46}, {23, 43}, {17, 30}, {30, 30},
};
#define ARROW_POINTS (sizeof(arrow_half_px) / sizeof(arrow_half_px[0]))

static struct point arrow_point(size_t k)
{
	return (struct point){(CURSOR_HOT_X * 2 + arrow_half_px[k].x) * SUB / 2,
			      (CURSOR_HOT_Y * 2 + arrow_half_px[k].y) * SUB / 2};
}

/* Even-odd rule; samples sit at odd coordinates, never on a vertex's row. */
static bool inside_arrow(int32_t x, int32_t y)
{
	bool in = false;
	for (size_t k = 0, j = ARROW_POINTS - 1; k < ARROW_POINTS; j = k++) {
		struct point a = arrow_point(k), b = arrow_point(j);
		if ((a.y > y) != (b.y > y)) {
			int64_t cross_x = a.x + (int64_t)(b.x - a.x) * (y - a.y) / (b.y - a.y);
			if (x < cross_x)
				in = !in;
		}
	}
	return in;
}

static bool near_segment(struct point a, struct point b, int32_t x, int32_t y)
{
	int64_t dx = b.x - a.x, dy = b.y - a.y;
	int64_t px = x - a.x, py = y - a.y;
	int64_t len2 = dx * dx + dy * dy;
	int64_t along = px * dx + py * dy;
	int64_t limit = (int64_t)OUTLINE * OUTLINE;
	if (along <= 0)
		return px * px + py * py < limit;
	if (along >= len2) {
		int64_t qx = x - b.x, qy = y - b.y;
		return qx * qx + qy * qy < limit;
	}
	int64_t cross = px * dy - py * dx;
	return cross * cross < limit * len2;
}

static bool near_outline(int32_t x, int32_t y)
{
	for (size_t k = 0; k < ARROW_POINTS; k++)
		if (near_segment(arrow_point(k), arrow_point((k + 1) % ARROW_POINTS), x, y))
			return true;
	return false;
}

void cursor_draw(uint32_t *argb)
{
	for (int32_t py = 0; py < CURSOR_SIZE; py++) {
		for (int32_t px = 0; px < CURSOR_SIZE; px++) {
			uint32_t covered = 0, white = 0;
			for (int32_t sy = 1; sy < SUB; sy += 2) {
				for (int32_t sx = 1; sx < SUB; sx += 2) {
					int32_t x = px * SUB + sx, y = py * SUB + sy;
					if (!inside_arrow(x, y))
						continue;
					covered++;
					if (!near_outline(x, y))
						white++;
				}
			}
			uint32_t alpha = covered * 255 / 16;
			uint32_t level = covered ? white * 255 / covered : 0;
			argb[py * CURSOR_SIZE + px] = alpha << 24 | level << 16 | level << 8 | level;
		}
	}
}
