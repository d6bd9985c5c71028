/* test_i420.c — display/i420.c: every path (scalar, SSE2, AVX2) gives the
 * definition's output, computed here independently, for random and extreme
 * pixels at many sizes and unaligned offsets; known colours by hand; the X
 * byte ignored; nothing written outside the block, nothing read beyond it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/i420.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CANARY 0xa5

static const enum i420_path paths[] = {I420_PATH_SCALAR, I420_PATH_SSE2, I420_PATH_AVX2};
static const char *const path_names[] = {"scalar", "sse2", "avx2"};

static uint32_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* A source picture allocated to end exactly after its last pixel, so that
 * ASan catches a read past w pixels of the last row. */
struct src {
	uint8_t *mem, *px;
	size_t stride;
	uint32_t w, h;
};

static struct src src_new(uint32_t w, uint32_t h, size_t pad, size_t offset)
{
	struct src s = {.stride = (size_t)w * 4 + pad, .w = w, .h = h};
	size_t size = offset + (size_t)(h - 1) * s.stride + (size_t)w * 4;
	s.mem = malloc(size);
	assert_non_null(s.mem);
	memset(s.mem, 0x5a, size);
	s.px = s.mem + offset;
	return s;
}

static uint8_t *src_at(struct src *s, uint32_t x, uint32_t y)
{
	return s->px + (size_t)y * s->stride + (size_t)x * 4;
}

/* Destination planes with padding on every side, filled with a canary. */
struct dst {
	uint8_t *mem[3], *y, *u, *v;
	size_t size[3], y_stride, c_stride;
	uint32_t w, h;
};

static struct dst dst_new(uint32_t w, uint32_t h, size_t pad, size_t offset)
{
	struct dst d = {.y_stride = w + pad, .c_stride = w / 2 + pad, .w = w, .h = h};
	d.size[0] = offset + d.y_stride * (h + 2);
	d.size[1] = d.size[2] = offset + d.c_stride * (h / 2 + 2);
	for (int p = 0; p < 3; p++) {
		d.mem[p] = malloc(d.size[p]);
		assert_non_null(d.mem[p]);
		memset(d.mem[p], CANARY, d.size[p]);
	}
	/* One padding row above the block. */
	d.y = d.mem[0] + offset + d.y_stride;
	d.u = d.mem[1] + offset + d.c_stride;
	d.v = d.mem[2] + offset + d.c_stride;
	return d;
}

static void dst_free(struct dst *d)
{
	for (int p = 0; p < 3; p++)
		free(d->mem[p]);
}

/* Flooring division by 2^10, written without shifts. */
static int32_t floor_div1024(int32_t n)
{
	int32_t q = n / 1024;
	return q * 1024 > n ? q - 1 : q;
}

static uint8_t clamp255(int32_t c)
{
	return (uint8_t)(c < 0 ? 0 : c > 255 ? 255 : c);
}

/* The definition, pixel by pixel, checked against d; every byte of the
 * planes outside the block must still hold the canary. */
static void check(struct src *s, struct dst *d, const char *what)
{
	for (uint32_t y = 0; y < s->h; y++)
		for (uint32_t x = 0; x < s->w; x++) {
			const uint8_t *p = src_at(s, x, y);
			int want = (54 * p[2] + 183 * p[1] + 19 * p[0] + 128) / 256;
			int got = d->y[y * d->y_stride + x];
			if (got != want)
				fail_msg("%s: %ux%u luma (%u,%u) = %d, want %d", what, s->w, s->h, x, y, got, want);
		}
	for (uint32_t y = 0; y < s->h; y += 2)
		for (uint32_t x = 0; x < s->w; x += 2) {
			int32_t r = 0, g = 0, b = 0;
			for (uint32_t k = 0; k < 4; k++) {
				const uint8_t *p = src_at(s, x + k % 2, y + k / 2);
				b += p[0];
				g += p[1];
				r += p[2];
			}
			int want_u = clamp255(floor_div1024(-29 * r - 99 * g + 128 * b + 512) + 128);
			int want_v = clamp255(floor_div1024(128 * r - 116 * g - 12 * b + 512) + 128);
			size_t at = (y / 2) * d->c_stride + x / 2;
			if (d->u[at] != want_u || d->v[at] != want_v)
				fail_msg("%s: %ux%u chroma (%u,%u) = %d,%d, want %d,%d", what, s->w, s->h, x / 2, y / 2,
					 d->u[at], d->v[at], want_u, want_v);
		}
	const uint8_t *planes[3] = {d->y, d->u, d->v};
	size_t strides[3] = {d->y_stride, d->c_stride, d->c_stride};
	uint32_t ws[3] = {d->w, d->w / 2, d->w / 2}, hs[3] = {d->h, d->h / 2, d->h / 2};
	for (int p = 0; p < 3; p++) {
		size_t first = (size_t)(planes[p] - d->mem[p]);
		for (size_t i = 0; i < d->size[p]; i++) {
			bool inside =
			    i >= first && (i - first) / strides[p] < hs[p] && (i - first) % strides[p] < ws[p];
			if (!inside && d->mem[p][i] != CANARY)
				fail_msg("%s: %ux%u plane %d byte %zu outside the block written", what, s->w, s->h, p,
					 i);
		}
	}
}

/* Runs path on s into fresh planes and checks them; false when the path
 * is missing on this machine. */
static bool run_path(enum i420_path path, struct src *s, size_t dst_pad, size_t dst_offset)
{
	struct dst d = dst_new(s->w, s->h, dst_pad, dst_offset);
	int err = i420_from_bgrx_with(path, s->px, s->stride, s->w, s->h, d.y, d.y_stride, d.u, d.v, d.c_stride);
	if (err == -ENOTSUP) {
		for (int p = 0; p < 3; p++)
			for (size_t i = 0; i < d.size[p]; i++)
				assert_int_equal(d.mem[p][i], CANARY);
		dst_free(&d);
		return false;
	}
	assert_int_equal(err, 0);
	check(s, &d, path_names[path]);
	dst_free(&d);
	return true;
}

static void run_all_paths(struct src *s, size_t dst_pad, size_t dst_offset)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		run_path(paths[i], s, dst_pad, dst_offset);
	/* The run-time choice too. */
	struct dst d = dst_new(s->w, s->h, dst_pad, dst_offset);
	i420_from_bgrx(s->px, s->stride, s->w, s->h, d.y, d.y_stride, d.u, d.v, d.c_stride);
	check(s, &d, "dispatch");
	dst_free(&d);
}

static const uint32_t sizes[][2] = {
    {2, 2},  {4, 2},  {6, 2},  {8, 2},  {14, 2},  {16, 2}, {18, 2}, {30, 4},    {32, 2},
    {34, 2}, {46, 4}, {48, 2}, {62, 6}, {64, 64}, {66, 2}, {94, 2}, {1922, 10}, {1920, 4},
};

static void fill_random(struct src *s, bool extremes)
{
	for (uint32_t y = 0; y < s->h; y++)
		for (uint32_t x = 0; x < s->w; x++) {
			uint32_t r = rng();
			uint8_t *p = src_at(s, x, y);
			for (int c = 0; c < 4; c++)
				p[c] = extremes ? ((r >> c) & 1 ? 255 : 0) : (uint8_t)(r >> (8 * c));
		}
}

static void test_random_sizes_and_offsets(void **state)
{
	(void)state;
	rng_state = 0x12345678u;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t offset = 0; offset < 4; offset++) {
			struct src s = src_new(sizes[i][0], sizes[i][1], offset * 4 + 3, offset);
			fill_random(&s, false);
			run_all_paths(&s, offset * 3 + 1, offset);
			free(s.mem);
		}
}

/* Every channel 0 or 255 at random: chroma sums at their ends, the clamp. */
static void test_random_extremes(void **state)
{
	(void)state;
	rng_state = 0x9e3779b9u;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct src s = src_new(sizes[i][0], sizes[i][1], 0, 1);
		fill_random(&s, true);
		run_all_paths(&s, 0, 1);
		free(s.mem);
	}
}

static void fill_solid(struct src *s, uint32_t bgrx)
{
	for (uint32_t y = 0; y < s->h; y++)
		for (uint32_t x = 0; x < s->w; x++)
			memcpy(src_at(s, x, y), &bgrx, 4);
}

/* A solid colour gives these samples through every path. */
static void expect_solid(uint32_t bgrx, int want_y, int want_u, int want_v)
{
	struct src s = src_new(66, 4, 8, 0);
	fill_solid(&s, bgrx);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct dst d = dst_new(s.w, s.h, 0, 0);
		if (i420_from_bgrx_with(paths[i], s.px, s.stride, s.w, s.h, d.y, d.y_stride, d.u, d.v, d.c_stride) ==
		    0) {
			for (uint32_t k = 0; k < s.w; k++) {
				assert_int_equal(d.y[k], want_y);
				assert_int_equal(d.y[3 * d.y_stride + k], want_y);
			}
			for (uint32_t k = 0; k < s.w / 2; k++) {
				assert_int_equal(d.u[k], want_u);
				assert_int_equal(d.v[d.c_stride + k], want_v);
			}
		}
		dst_free(&d);
	}
	free(s.mem);
}

/* Values worked by hand (pixels are little-endian B, G, R, X). */
static void test_known_colours(void **state)
{
	(void)state;
	expect_solid(0x00ffffffu, 255, 128, 128); /* white */
	expect_solid(0xffffffffu, 255, 128, 128); /* white, X set */
	expect_solid(0x00000000u, 0, 128, 128);   /* black */
	/* Red: Y = (54*255 + 128) >> 8 = 13898 >> 8 = 54; r = 1020:
	 * U = floor((-29*1020 + 512) / 1024) + 128 = floor(-28.39) + 128 = 99
	 * (truncation toward zero would give 100);
	 * V = ((128*1020 + 512) >> 10) + 128 = 128 + 128 = 256 -> 255. */
	expect_solid(0x00ff0000u, 54, 99, 255);
	/* Green: Y = (183*255 + 128) >> 8 = 46793 >> 8 = 182;
	 * U = floor((-99*1020 + 512) / 1024) + 128 = floor(-98.11) + 128 = 29;
	 * V = floor((-116*1020 + 512) / 1024) + 128 = floor(-115.05) + 128 = 12. */
	expect_solid(0x0000ff00u, 182, 29, 12);
	/* Blue: Y = (19*255 + 128) >> 8 = 4973 >> 8 = 19;
	 * U = ((128*1020 + 512) >> 10) + 128 = 256 -> 255;
	 * V = floor((-12*1020 + 512) / 1024) + 128 = floor(-11.45) + 128 = 116. */
	expect_solid(0x000000ffu, 19, 255, 116);
}

/* Alternating black and white pixels, columns and rows: each chroma block
 * sums two of each, and luma alternates 0 and 255. */
static void test_alternating(void **state)
{
	(void)state;
	for (int pattern = 0; pattern < 3; pattern++) {
		struct src s = src_new(98, 6, 4, 2);
		for (uint32_t y = 0; y < s.h; y++)
			for (uint32_t x = 0; x < s.w; x++) {
				uint32_t on = pattern == 0 ? (x + y) % 2 : pattern == 1 ? x % 2 : y % 2;
				memcpy(src_at(&s, x, y), on ? "\xff\xff\xff\x00" : "\0\0\0\0", 4);
			}
		run_all_paths(&s, 2, 3);
		struct dst d = dst_new(s.w, s.h, 0, 0);
		i420_from_bgrx(s.px, s.stride, s.w, s.h, d.y, d.y_stride, d.u, d.v, d.c_stride);
		assert_int_equal(d.y[0], 0);
		assert_int_equal(d.y[pattern == 2 ? d.y_stride : 1], 255);
		/* (0*510 + 512) >> 10 = 0. */
		assert_int_equal(d.u[0], 128);
		assert_int_equal(d.v[0], 128);
		dst_free(&d);
		free(s.mem);
	}
}

/* Alternating pure red and blue columns drive u and v to opposite ends
 * within one vector. */
static void test_alternating_primaries(void **state)
{
	(void)state;
	struct src s = src_new(70, 4, 0, 0);
	const uint32_t colours[] = {0x00ff0000u, 0x000000ffu, 0x0000ff00u, 0x00ffffffu};
	for (uint32_t y = 0; y < s.h; y++)
		for (uint32_t x = 0; x < s.w; x++)
			memcpy(src_at(&s, x, y), &colours[(x / 2 + y / 2) % 4], 4);
	run_all_paths(&s, 5, 1);
	free(s.mem);
}

/* The X byte changes nothing. */
static void test_x_ignored(void **state)
{
	(void)state;
	rng_state = 0xdeadbeefu;
	struct src a = src_new(80, 4, 0, 0), b = src_new(80, 4, 0, 0);
	fill_random(&a, false);
	memcpy(b.px, a.px, (size_t)a.stride * a.h);
	for (uint32_t y = 0; y < b.h; y++)
		for (uint32_t x = 0; x < b.w; x++)
			src_at(&b, x, y)[3] = (uint8_t)~src_at(&a, x, y)[3];
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct dst da = dst_new(a.w, a.h, 0, 0), db = dst_new(b.w, b.h, 0, 0);
		if (i420_from_bgrx_with(paths[i], a.px, a.stride, a.w, a.h, da.y, da.y_stride, da.u, da.v,
					da.c_stride) == 0) {
			assert_int_equal(i420_from_bgrx_with(paths[i], b.px, b.stride, b.w, b.h, db.y, db.y_stride,
							     db.u, db.v, db.c_stride),
					 0);
			for (int p = 0; p < 3; p++)
				assert_memory_equal(da.mem[p], db.mem[p], da.size[p]);
		}
		dst_free(&da);
		dst_free(&db);
	}
	free(a.mem);
	free(b.mem);
}

/* Odd sizes drop the last column and row; nothing of them is written. */
static void test_odd_size_drops_edge(void **state)
{
	(void)state;
	rng_state = 0x0badf00du;
	struct src s = src_new(35, 5, 0, 0);
	fill_random(&s, false);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct dst d = dst_new(34, 4, 4, 0);
		if (i420_from_bgrx_with(paths[i], s.px, s.stride, 35, 5, d.y, d.y_stride, d.u, d.v, d.c_stride) == 0) {
			struct src even = s;
			even.w = 34;
			even.h = 4;
			check(&even, &d, path_names[i]);
		}
		dst_free(&d);
	}
	free(s.mem);
}

/* The paths this machine should have are there (the AVX2 one wherever the
 * CPU reports it). */
static void test_paths_available(void **state)
{
	(void)state;
	struct src s = src_new(2, 2, 0, 0);
	fill_solid(&s, 0);
	assert_true(run_path(I420_PATH_SCALAR, &s, 0, 0));
#if defined(__x86_64__)
	assert_true(run_path(I420_PATH_SSE2, &s, 0, 0));
	assert_int_equal(run_path(I420_PATH_AVX2, &s, 0, 0), __builtin_cpu_supports("avx2") != 0);
#endif
	free(s.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_available),
	    cmocka_unit_test(test_known_colours),
	    cmocka_unit_test(test_random_sizes_and_offsets),
	    cmocka_unit_test(test_random_extremes),
	    cmocka_unit_test(test_alternating),
	    cmocka_unit_test(test_alternating_primaries),
	    cmocka_unit_test(test_x_ignored),
	    cmocka_unit_test(test_odd_size_drops_edge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
