/* test_edid.c — unit tests for hypervisor/devices/edid.c: the EDID block of
 * the virtual monitor, decoded field by field as a sink parser would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/virtio.h"

#include <string.h>

/* The preferred mode as the first detailed timing descriptor states it. */
struct dtd {
	uint32_t clock_khz;
	uint32_t hactive, hblank, hfront, hsync;
	uint32_t vactive, vblank, vfront, vsync;
	uint32_t width_mm, height_mm;
	uint8_t flags;
};

static struct dtd decode_dtd(const uint8_t *d)
{
	struct dtd t;
	t.clock_khz = (uint32_t)(d[0] | d[1] << 8) * 10;
	t.hactive = d[2] | (d[4] >> 4) << 8;
	t.hblank = d[3] | (d[4] & 0xf) << 8;
	t.vactive = d[5] | (d[7] >> 4) << 8;
	t.vblank = d[6] | (d[7] & 0xf) << 8;
	t.hfront = d[8] | (d[11] >> 6) << 8;
	t.hsync = d[9] | ((d[11] >> 4) & 3) << 8;
	t.vfront = (d[10] >> 4) | ((d[11] >> 2) & 3) << 4;
	t.vsync = (d[10] & 0xf) | (d[11] & 3) << 4;
	t.width_mm = d[12] | (d[14] >> 4) << 8;
	t.height_mm = d[13] | (d[14] & 0xf) << 8;
	t.flags = d[17];
	return t;
}

static double refresh_hz(const struct dtd *t)
{
	return (double)t->clock_khz * 1000.0 / ((double)(t->hactive + t->hblank) * (t->vactive + t->vblank));
}

static void check_block(const uint8_t *e)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	assert_memory_equal(e, header, sizeof(header));
	uint8_t sum = 0;
	for (int i = 0; i < EDID_BLOCK_SIZE; i++)
		sum = (uint8_t)(sum + e[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(e[18], 1); /* version 1.4 */
	assert_int_equal(e[19], 4);
	assert_true(e[20] & 0x80);   /* digital input */
	assert_true(e[24] & 0x02);   /* preferred timing is native */
	assert_int_equal(e[126], 0); /* no extensions */
	/* Manufacturer "VDI". */
	uint16_t m = (uint16_t)(e[8] << 8 | e[9]);
	char id[4] = {(char)('@' + ((m >> 10) & 31)), (char)('@' + ((m >> 5) & 31)), (char)('@' + (m & 31)), 0};
	assert_string_equal(id, "VDI");
	assert_false(m & 0x8000);
	/* Descriptors 2-4: range limits, name, and a filler; all with the
	 * display-descriptor prefix 00 00 00 tag 00. */
	bool range = false, name = false;
	for (int at = 72; at < 126; at += 18) {
		const uint8_t *d = e + at;
		assert_int_equal(d[0] | d[1] | d[2] | d[4], 0);
		if (d[3] == 0xfd) {
			range = true;
			assert_true(d[5] <= 60 && d[6] >= 60);
			assert_true(d[7] >= 1 && d[7] <= d[8]);
			assert_true(d[9] > 0);
		} else if (d[3] == 0xfc) {
			name = true;
			assert_memory_equal(d + 5, "vdi\n         ", 13);
		}
	}
	assert_true(range);
	assert_true(name);
	/* Unused standard timings are 01 01. */
	for (int i = 38; i < 54; i++)
		assert_int_equal(e[i], 0x01);
}

static void check_mode(uint32_t w, uint32_t h)
{
	uint8_t e[EDID_BLOCK_SIZE];
	memset(e, 0xaa, sizeof(e));
	edid_build(e, w, h);
	check_block(e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, w);
	assert_int_equal(t.vactive, h);
	assert_true(t.clock_khz > 0);
	double hz = refresh_hz(&t);
	assert_true(hz > 59.9 && hz < 60.1);
	/* Reduced blanking: 160-pixel blank, 48 front porch, 32 sync; a
	 * 3-line vertical front porch and at least 6 lines of back porch. */
	assert_int_equal(t.hblank, 160);
	assert_int_equal(t.hfront, 48);
	assert_int_equal(t.hsync, 32);
	assert_int_equal(t.vfront, 3);
	assert_true(t.vblank >= t.vfront + t.vsync + 6);
	/* The vertical blank lasts at least 460 us. */
	double line_us = (t.hactive + t.hblank) * 1000.0 / t.clock_khz;
	assert_true(t.vblank * line_us >= 460.0 - line_us);
	assert_int_equal(t.flags, 0x1a); /* progressive, digital separate, +h -v */
	/* Physical size at 96 DPI, in the DTD (mm) and the base block (cm). */
	assert_int_equal(t.width_mm, (w * 254 + 480) / 960);
	assert_int_equal(t.height_mm, (h * 254 + 480) / 960);
	assert_int_equal(e[21], (t.width_mm + 5) / 10);
	assert_int_equal(e[22], (t.height_mm + 5) / 10);
}

static void test_1920x1080(void **state)
{
	(void)state;
	check_mode(1920, 1080);
	uint8_t e[EDID_BLOCK_SIZE];
	edid_build(e, 1920, 1080);
	struct dtd t = decode_dtd(e + 54);
	/* The CVT-RB 1920x1080 mode: 2080 x 1111 total, 138.5 MHz; this one
	 * is rounded to 10 kHz rather than 250 kHz. */
	assert_int_equal(t.vblank, 31);
	assert_int_equal(t.vsync, 5); /* 16:9 */
	assert_int_equal(t.clock_khz, 138650);
	assert_int_equal(e[21], 51);
	assert_int_equal(e[22], 29);
}

static void test_3840x2160(void **state)
{
	(void)state;
	check_mode(3840, 2160);
	uint8_t e[EDID_BLOCK_SIZE];
	edid_build(e, 3840, 2160);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.vblank, 62);
	assert_true(t.clock_khz < 655350);
}

static void test_common_sizes(void **state)
{
	(void)state;
	static const uint32_t sizes[][2] = {{640, 480},   {800, 600},   {1024, 768},  {1280, 720},  {1280, 800},
					    {1280, 1024}, {1366, 768},  {1440, 900},  {1600, 1200}, {1680, 1050},
					    {2560, 1440}, {2560, 1600}, {3440, 1440}, {1111, 777},  {4095, 1200}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_mode(sizes[i][0], sizes[i][1]);
}

/* CVT marks the aspect ratio in the vertical sync width. */
static void test_aspect_vsync(void **state)
{
	(void)state;
	static const uint32_t cases[][3] = {{1024, 768, 4},  {1920, 1080, 5}, {1280, 800, 6},
					    {1280, 1024, 7}, {1280, 768, 7},  {1111, 777, 10}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t e[EDID_BLOCK_SIZE];
		edid_build(e, cases[i][0], cases[i][1]);
		assert_int_equal(decode_dtd(e + 54).vsync, cases[i][2]);
	}
}

/* Beyond what 12-bit fields and a 16-bit clock hold, the mode is clamped
 * and the block is still valid. */
static void test_clamped(void **state)
{
	(void)state;
	uint8_t e[EDID_BLOCK_SIZE];
	edid_build(e, 8192, 8192);
	check_block(e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 4095);
	assert_int_equal(t.vactive, 4095);
	assert_int_equal(t.clock_khz, 655350);
	double hz = refresh_hz(&t);
	assert_true(hz > 24.0 && hz < 60.0);

	edid_build(e, 8192, 600);
	check_block(e);
	t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 4095);
	assert_int_equal(t.vactive, 600);
}

static void test_tiny(void **state)
{
	(void)state;
	uint8_t e[EDID_BLOCK_SIZE];
	edid_build(e, 1, 1);
	check_block(e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1);
	assert_int_equal(t.vactive, 1);
	assert_true(t.clock_khz >= 10);
	assert_int_equal(e[21], 1); /* at least 1 cm: 0 would mean "no size" */
	assert_int_equal(e[22], 1);
}

/* The block is a function of the size alone: guests cache monitors by it. */
static void test_deterministic(void **state)
{
	(void)state;
	uint8_t a[EDID_BLOCK_SIZE], b[EDID_BLOCK_SIZE];
	memset(a, 0x00, sizeof(a));
	memset(b, 0xff, sizeof(b));
	edid_build(a, 1280, 720);
	edid_build(b, 1280, 720);
	assert_memory_equal(a, b, sizeof(a));
	edid_build(b, 1280, 721);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_equal(a, b, 54); /* same monitor, another mode */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_1920x1080),     cmocka_unit_test(test_3840x2160), cmocka_unit_test(test_common_sizes),
	    cmocka_unit_test(test_aspect_vsync),  cmocka_unit_test(test_clamped),   cmocka_unit_test(test_tiny),
	    cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
