/* test_motion.c — display/motion.c: scrolls and moved windows found in
 * damage, checked by applying the moves and residual to the old picture as
 * a client would and comparing with the new one; no motion in noise, hash
 * collisions refused, lossy sources and earlier moves' destinations
 * avoided, edges and empty input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/motion.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pic {
	uint32_t w, h;
	uint32_t *px;
};

static struct pic pic_new(uint32_t w, uint32_t h)
{
	struct pic p = {w, h, calloc((size_t)w * h, 4)};
	assert_non_null(p.px);
	return p;
}

static uint32_t hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352du;
	v ^= v >> 15;
	v *= 0x846ca68bu;
	v ^= v >> 16;
	return v;
}

/* A desktop-like background: a gradient, different on every few rows. */
static uint32_t bg(uint32_t x, uint32_t y)
{
	return (x * 7 & 255) | (y * 3 & 255) << 8 | 0x40u << 16;
}

/* Text-like ink on white: line `line` of a document, column x. */
static uint32_t ink(uint32_t x, uint32_t line, uint32_t seed)
{
	uint32_t h = hash32(x * 73856093u ^ line * 19349663u ^ seed);
	return (h & 7) == 0 ? 0x202020u | (h >> 8 & 0x0f) : 0xffffffu;
}

static uint32_t noise(uint32_t x, uint32_t y, uint32_t seed)
{
	return hash32(x * 2654435761u + y * 40503u + seed) & 0xffffff;
}

static void fill_bg(struct pic *p)
{
	for (uint32_t y = 0; y < p->h; y++)
		for (uint32_t x = 0; x < p->w; x++)
			p->px[(size_t)y * p->w + x] = bg(x, y);
}

/* Document lines first.. into rect (x, y, w, h). */
static void fill_text(struct pic *p, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, uint32_t first, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			p->px[(size_t)(y0 + y) * p->w + x0 + x] = ink(x, first + y, seed);
}

/* A window at (x0, y0) clipped to the picture: title bar, then text. */
static void fill_window(struct pic *p, int64_t x0, int64_t y0, uint32_t w, uint32_t h, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			int64_t px = x0 + x, py = y0 + y;
			if (px < 0 || py < 0 || px >= p->w || py >= p->h)
				continue;
			p->px[(size_t)py * p->w + px] = y < 20 ? 0x3c465au + (x == w - 10) : ink(x, y, seed);
		}
}

static struct motion_frame frame_of(const struct pic *old, const struct pic *new)
{
	return (struct motion_frame){
	    .old = (const uint8_t *)old->px,
	    .new = (const uint8_t *)new->px,
	    .old_stride = old->w * 4,
	    .new_stride = new->w * 4,
	    .width = old->w,
	    .height = old->h,
	};
}

/* What a client ends with: old, the moves applied in order (each copied
 * as if through a buffer, as FreeRDP's overlapping copy does), then the
 * residual drawn from new. Within the damage it must equal new; outside,
 * old. */
static void assert_applied(const struct pic *old, const struct pic *new, const struct surface_rect *damage, uint32_t n,
			   const struct motion_result *res)
{
	struct pic c = pic_new(old->w, old->h);
	memcpy(c.px, old->px, (size_t)old->w * old->h * 4);
	for (uint32_t i = 0; i < res->nmoves; i++) {
		const struct motion_move *m = &res->moves[i];
		assert_true(m->src.width && m->src.height);
		assert_true(m->src.x + m->src.width <= old->w && m->src.y + m->src.height <= old->h);
		assert_true(m->dst_x + m->src.width <= old->w && m->dst_y + m->src.height <= old->h);
		uint32_t *tmp = malloc((size_t)m->src.width * m->src.height * 4);
		assert_non_null(tmp);
		for (uint32_t y = 0; y < m->src.height; y++)
			memcpy(tmp + (size_t)y * m->src.width, c.px + (size_t)(m->src.y + y) * c.w + m->src.x,
			       (size_t)m->src.width * 4);
		for (uint32_t y = 0; y < m->src.height; y++)
			memcpy(c.px + (size_t)(m->dst_y + y) * c.w + m->dst_x, tmp + (size_t)y * m->src.width,
			       (size_t)m->src.width * 4);
		free(tmp);
	}
	for (uint32_t i = 0; i < res->nresidual; i++) {
		const struct surface_rect *r = &res->residual[i];
		assert_true(r->width && r->height && r->x + r->width <= old->w && r->y + r->height <= old->h);
		for (uint32_t y = r->y; y < r->y + r->height; y++)
			memcpy(c.px + (size_t)y * c.w + r->x, new->px + (size_t)y *c.w + r->x, (size_t)r->width * 4);
	}
	for (uint32_t y = 0; y < c.h; y++)
		for (uint32_t x = 0; x < c.w; x++) {
			bool damaged = false;
			for (uint32_t i = 0; i < n; i++)
				damaged |= x >= damage[i].x && x < damage[i].x + damage[i].width && y >= damage[i].y &&
					   y < damage[i].y + damage[i].height;
			uint32_t want = damaged ? new->px[(size_t)y * c.w + x] : old->px[(size_t)y * c.w + x];
			if (c.px[(size_t)y * c.w + x] != want)
				fail_msg("pixel (%u, %u) is %06x, not %06x", x, y, c.px[(size_t)y * c.w + x], want);
		}
	free(c.px);
}

static uint64_t residual_area(const struct motion_result *res)
{
	uint64_t a = 0;
	for (uint32_t i = 0; i < res->nresidual; i++)
		a += (uint64_t)res->residual[i].width * res->residual[i].height;
	return a;
}

/* A document in (x, y, w, h) scrolled up by `by` lines (rows). */
static void scroll_case(uint32_t W, uint32_t H, struct surface_rect region, struct surface_rect damage, uint32_t by)
{
	struct pic old = pic_new(W, H), new = pic_new(W, H);
	fill_bg(&old);
	fill_bg(&new);
	fill_text(&old, region.x, region.y, region.width, region.height, 0, 1);
	fill_text(&new, region.x, region.y, region.width, region.height, by, 1);
	struct motion *m = motion_new();
	assert_non_null(m);
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	const struct motion_move *mv = &res.moves[0];
	assert_int_equal(mv->src.x, region.x);
	assert_int_equal(mv->dst_x, region.x);
	assert_int_equal(mv->src.width, region.width);
	assert_int_equal(mv->src.y, mv->dst_y + by);
	assert_int_equal(mv->src.height, region.height - by);
	/* Only the new lines are left to encode. */
	assert_int_equal(residual_area(&res), (uint64_t)by * region.width);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

static void test_scroll_1(void **state)
{
	(void)state;
	struct surface_rect r = {0, 0, 640, 480};
	scroll_case(640, 480, r, r, 1);
}

static void test_scroll_17(void **state)
{
	(void)state;
	struct surface_rect r = {16, 40, 600, 400};
	scroll_case(640, 480, r, r, 17);
}

static void test_scroll_300(void **state)
{
	(void)state;
	struct surface_rect r = {0, 50, 800, 520};
	scroll_case(800, 600, r, r, 300);
}

/* The damage is the whole window; only its text area scrolled, beside
 * margins whose rows all differ (a gradient). */
static void test_scroll_inside_static_margins(void **state)
{
	(void)state;
	scroll_case(800, 600, (struct surface_rect){120, 90, 500, 380}, (struct surface_rect){40, 30, 700, 520}, 18);
}

/* A scroll beside a scroll bar whose thumb moved: the changed box takes in
 * the bar, so whole rows no longer match; the scrolled block is found all
 * the same. */
static void test_scroll_beside_scrollbar(void **state)
{
	(void)state;
	struct pic old = pic_new(800, 600), new = pic_new(800, 600);
	fill_bg(&old);
	fill_bg(&new);
	fill_text(&old, 100, 100, 500, 400, 0, 7);
	fill_text(&new, 100, 100, 500, 400, 36, 7);
	for (uint32_t y = 100; y < 500; y++)
		for (uint32_t x = 600; x < 616; x++) {
			old.px[y * 800 + x] = y >= 150 && y < 200 ? 0x808080 : 0xe0e0e0;
			new.px[y * 800 + x] = y >= 160 && y < 210 ? 0x808080 : 0xe0e0e0;
		}
	struct surface_rect damage = {100, 100, 516, 400};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	assert_int_equal(res.moves[0].src.y - res.moves[0].dst_y, 36);
	assert_int_equal(res.moves[0].src.x, res.moves[0].dst_x);
	assert_true((uint64_t)res.moves[0].src.width * res.moves[0].src.height >= 500 * 300);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* A window dragged by (+37, -12) over the desktop; the damage is where it
 * was and is. */
static void test_window_move(void **state)
{
	(void)state;
	struct pic old = pic_new(1024, 768), new = pic_new(1024, 768);
	fill_bg(&old);
	fill_bg(&new);
	fill_window(&old, 300, 200, 320, 240, 3);
	fill_window(&new, 337, 188, 320, 240, 3);
	struct surface_rect damage = {300, 188, 357, 252};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	const struct motion_move *mv = &res.moves[0];
	assert_int_equal((int)mv->dst_x - (int)mv->src.x, 37);
	assert_int_equal((int)mv->dst_y - (int)mv->src.y, -12);
	/* the whole window, and nothing of the desktop that does not match */
	assert_true(mv->dst_x <= 337 && mv->dst_y <= 188);
	assert_true(mv->dst_x + mv->src.width >= 657 && mv->dst_y + mv->src.height >= 428);
	assert_true(residual_area(&res) <= (uint64_t)357 * 252 - 320 * 240);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* A drag at a changing pace, frame after frame through one motion state
 * (which tries offsets near the last ones first): every frame's move is
 * the true one, whole; then the window's content changes entirely, and the
 * offsets remembered from the drag find nothing. */
static void test_drag_changing_pace(void **state)
{
	(void)state;
	static const int32_t steps[][2] = {{16, 8}, {16, 8}, {20, 10}, {22, 9}, {8, 2},   {-6, 3},
					   {-6, 3}, {30, 0}, {0, -14}, {3, 3},  {17, 11}, {16, 8}};
	struct pic old = pic_new(1280, 800), new = pic_new(1280, 800);
	struct motion *m = motion_new();
	int32_t x = 200, y = 150;
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		fill_bg(&old);
		fill_window(&old, x, y, 400, 300, 5);
		int32_t nx = x + steps[k][0], ny = y + steps[k][1];
		fill_bg(&new);
		fill_window(&new, nx, ny, 400, 300, 5);
		int32_t x0 = x < nx ? x : nx, y0 = y < ny ? y : ny;
		struct surface_rect damage = {(uint32_t)x0, (uint32_t)y0, 400 + (uint32_t)abs(nx - x),
					      300 + (uint32_t)abs(ny - y)};
		struct motion_frame f = frame_of(&old, &new);
		struct motion_result res;
		assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
		assert_int_equal(res.nmoves, 1);
		const struct motion_move *mv = &res.moves[0];
		assert_int_equal((int)mv->dst_x - (int)mv->src.x, steps[k][0]);
		assert_int_equal((int)mv->dst_y - (int)mv->src.y, steps[k][1]);
		assert_true((uint64_t)mv->src.width * mv->src.height >= 400 * 300);
		assert_applied(&old, &new, &damage, 1, &res);
		x = nx;
		y = ny;
	}
	/* The window shows something else: nothing moved, though recent offsets are remembered. */
	fill_bg(&old);
	fill_window(&old, x, y, 400, 300, 5);
	fill_bg(&new);
	for (uint32_t j = 0; j < 300; j++)
		for (uint32_t i = 0; i < 400; i++)
			new.px[(size_t)(y + (int32_t)j) * new.w + (uint32_t)x + i] = noise(i, j, 9);
	struct surface_rect damage = {(uint32_t)x, (uint32_t)y, 400, 300};
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* The damage covers only part of the window's new place, and the source
 * lies partly outside the damage, overlapping the destination. */
static void test_partial_overlap(void **state)
{
	(void)state;
	struct pic old = pic_new(1024, 768), new = pic_new(1024, 768);
	fill_bg(&old);
	fill_bg(&new);
	fill_window(&old, 300, 200, 320, 240, 5);
	fill_window(&new, 340, 230, 320, 240, 5);
	struct surface_rect damage = {400, 260, 200, 180};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	const struct motion_move *mv = &res.moves[0];
	assert_int_equal((int)mv->dst_x - (int)mv->src.x, 40);
	assert_int_equal((int)mv->dst_y - (int)mv->src.y, 30);
	assert_int_equal(residual_area(&res), 0);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* Two windows moved in one frame, the first onto where the second was: the
 * second's copy would read what the first just wrote, so it is not made. */
static void test_move_reads_no_earlier_destination(void **state)
{
	(void)state;
	struct pic old = pic_new(1024, 768), new = pic_new(1024, 768);
	fill_bg(&old);
	fill_bg(&new);
	fill_window(&old, 100, 100, 200, 150, 11);
	fill_window(&old, 300, 100, 200, 150, 12);
	fill_window(&new, 300, 300, 200, 150, 12);
	fill_window(&new, 140, 100, 200, 150, 11);
	struct surface_rect damage[2] = {{100, 100, 240, 150}, {300, 100, 200, 350}};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, damage, 2, &res), 0);
	assert_int_equal(res.nmoves, 1);
	assert_int_equal(res.moves[0].dst_x - res.moves[0].src.x, 40);
	assert_applied(&old, &new, damage, 2, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

static void test_no_motion_in_noise(void **state)
{
	(void)state;
	struct pic old = pic_new(640, 480), new = pic_new(640, 480);
	for (uint32_t y = 0; y < 480; y++)
		for (uint32_t x = 0; x < 640; x++) {
			old.px[y * 640 + x] = noise(x, y, 1);
			new.px[y * 640 + x] = noise(x, y, 2);
		}
	struct surface_rect damage = {0, 0, 640, 480};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_int_equal(res.nresidual, 1);
	assert_int_equal(residual_area(&res), 640 * 480);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* A weak row hash: the sum of the bytes, which any reordering of a row
 * keeps. */
static uint64_t sum_hash(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

/* Rows whose hashes match old rows 5 above but whose pixels are those rows
 * reversed: the candidate is refused. (With the same weak hash, a true
 * scroll is still found: the refusal is the check's doing.) */
static void test_hash_collision_refused(void **state)
{
	(void)state;
	struct pic old = pic_new(640, 480), new = pic_new(640, 480);
	fill_text(&old, 0, 0, 640, 480, 0, 9);
	fill_text(&new, 0, 0, 640, 480, 5, 9);
	struct surface_rect damage = {0, 0, 640, 480};
	struct motion *m = motion_new();
	motion_set_hash(m, sum_hash);
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	assert_int_equal(res.moves[0].src.y - res.moves[0].dst_y, 5);
	for (uint32_t y = 0; y < 480; y++)
		for (uint32_t x = 0; x < 640; x++)
			new.px[y * 640 + x] = ink(639 - x, y + 5, 9);
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* What the client holds lossy (H.264) is no source. */
static void test_lossy_source_refused(void **state)
{
	(void)state;
	struct pic old = pic_new(640, 480), new = pic_new(640, 480);
	fill_text(&old, 0, 0, 640, 480, 0, 4);
	fill_text(&new, 0, 0, 640, 480, 20, 4);
	bool lossy[10 * 8] = {false};
	struct surface_rect damage = {0, 0, 640, 480};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	f.lossy = lossy;
	f.tile = 64;
	f.cols = 10;
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	lossy[3 * 10 + 4] = true;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

/* Damage at every edge of the picture: a scroll of the whole picture, and
 * a window dragged partly off its right edge. */
static void test_edges(void **state)
{
	(void)state;
	struct surface_rect all = {0, 0, 320, 240};
	scroll_case(320, 240, all, all, 3);

	struct pic old = pic_new(640, 480), new = pic_new(640, 480);
	fill_bg(&old);
	fill_bg(&new);
	fill_window(&old, 400, 300, 200, 160, 8);
	fill_window(&new, 460, 320, 200, 160, 8);
	struct surface_rect damage = {400, 300, 240, 180};
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res;
	assert_int_equal(motion_detect(m, &f, &damage, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	assert_int_equal(res.moves[0].dst_x - res.moves[0].src.x, 60);
	assert_int_equal(res.moves[0].dst_y - res.moves[0].src.y, 20);
	assert_applied(&old, &new, &damage, 1, &res);
	/* Damage reaching past the picture is clipped to it. */
	struct surface_rect beyond = {400, 300, 4000, 4000};
	assert_int_equal(motion_detect(m, &f, &beyond, 1, &res), 0);
	assert_int_equal(res.nmoves, 1);
	assert_applied(&old, &new, &damage, 1, &res);
	motion_free(m);
	free(old.px);
	free(new.px);
}

static void test_empty_and_bad_input(void **state)
{
	(void)state;
	struct pic old = pic_new(64, 64), new = pic_new(64, 64);
	for (uint32_t i = 0; i < 64 * 64; i++)
		new.px[i] = noise(i, 0, 3);
	struct motion *m = motion_new();
	struct motion_frame f = frame_of(&old, &new);
	struct motion_result res = {.nmoves = 99, .nresidual = 99};
	struct surface_rect zero[3] = {{10, 10, 0, 20}, {10, 10, 20, 0}, {64, 0, 10, 10}};
	assert_int_equal(motion_detect(m, &f, zero, 3, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_int_equal(res.nresidual, 0);
	/* Unchanged damage needs nothing. */
	struct surface_rect r = {0, 0, 64, 64};
	struct motion_frame same = frame_of(&old, &old);
	assert_int_equal(motion_detect(m, &same, &r, 1, &res), 0);
	assert_int_equal(res.nresidual, 0);
	/* Small changes go out as they are. */
	assert_int_equal(motion_detect(m, &f, &r, 1, &res), 0);
	assert_int_equal(res.nmoves, 0);
	assert_int_equal(res.nresidual, 1);
	struct surface_rect many[SURFACE_MAX_RECTS + 1] = {{0}};
	assert_int_equal(motion_detect(m, &f, many, SURFACE_MAX_RECTS + 1, &res), -EINVAL);
	struct motion_frame bad = f;
	bad.old_stride = 4;
	assert_int_equal(motion_detect(m, &bad, &r, 1, &res), -EINVAL);
	bad = f;
	bad.width = bad.height = 0;
	assert_int_equal(motion_detect(m, &bad, &r, 1, &res), 0);
	assert_int_equal(res.nresidual, 0);
	motion_free(m);
	motion_free(NULL);
	free(old.px);
	free(new.px);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scroll_1),
	    cmocka_unit_test(test_scroll_17),
	    cmocka_unit_test(test_scroll_300),
	    cmocka_unit_test(test_scroll_inside_static_margins),
	    cmocka_unit_test(test_scroll_beside_scrollbar),
	    cmocka_unit_test(test_window_move),
	    cmocka_unit_test(test_drag_changing_pace),
	    cmocka_unit_test(test_partial_overlap),
	    cmocka_unit_test(test_move_reads_no_earlier_destination),
	    cmocka_unit_test(test_no_motion_in_noise),
	    cmocka_unit_test(test_hash_collision_refused),
	    cmocka_unit_test(test_lossy_source_refused),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_empty_and_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
