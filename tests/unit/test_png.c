/* test_png.c — common/png.c: the file parses back (chunks, CRCs, zlib
 * stream) to the pixels written, and bad sizes are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/png.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses the PNG in buf: checks every chunk's CRC, returns the inflated
 * image data (filter byte + RGB per row). */
static uint8_t *parse(const uint8_t *buf, size_t len, uint32_t *w, uint32_t *h, size_t *raw_len)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	assert_true(len > 8);
	assert_memory_equal(buf, sig, 8);
	uint8_t *idat = malloc(len);
	size_t idat_len = 0;
	bool end = false;
	for (size_t pos = 8; pos < len;) {
		assert_true(pos + 12 <= len);
		uint32_t n = get32(buf + pos);
		assert_true(pos + 12 + n <= len);
		const uint8_t *type = buf + pos + 4, *data = buf + pos + 8;
		uLong crc = crc32(0, type, 4 + n);
		assert_int_equal(crc, get32(data + n));
		if (!memcmp(type, "IHDR", 4)) {
			*w = get32(data);
			*h = get32(data + 4);
			assert_int_equal(data[8], 8);
			assert_int_equal(data[9], 2);
		} else if (!memcmp(type, "IDAT", 4)) {
			memcpy(idat + idat_len, data, n);
			idat_len += n;
		} else if (!memcmp(type, "IEND", 4)) {
			end = true;
		}
		pos += 12 + n;
	}
	assert_true(end);
	*raw_len = (size_t)*h * (1 + (size_t)*w * 3);
	uint8_t *raw = malloc(*raw_len + 1);
	uLongf out_len = *raw_len + 1;
	assert_int_equal(uncompress(raw, &out_len, idat, idat_len), Z_OK);
	assert_int_equal(out_len, *raw_len);
	free(idat);
	return raw;
}

static void test_png_round_trip(void **state)
{
	(void)state;
	const uint32_t w = 300, h = 200, stride = w * 4 + 64; /* padded rows */
	uint8_t *pixels = malloc((size_t)stride * h);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint8_t *p = pixels + (size_t)y * stride + x * 4;
			p[0] = (uint8_t)x;       /* blue */
			p[1] = (uint8_t)y;       /* green */
			p[2] = (uint8_t)(x ^ y); /* red */
			p[3] = 0xee;             /* ignored */
		}
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(png_write_xrgb(f, pixels, w, h, stride), 0);
	fclose(f);
	uint32_t pw = 0, ph = 0;
	size_t raw_len;
	uint8_t *raw = parse((uint8_t *)buf, len, &pw, &ph, &raw_len);
	assert_int_equal(pw, w);
	assert_int_equal(ph, h);
	for (uint32_t y = 0; y < h; y++) {
		const uint8_t *row = raw + (size_t)y * (1 + w * 3);
		assert_int_equal(row[0], 0);
		for (uint32_t x = 0; x < w; x++) {
			assert_int_equal(row[1 + x * 3], (uint8_t)(x ^ y));
			assert_int_equal(row[2 + x * 3], (uint8_t)y);
			assert_int_equal(row[3 + x * 3], (uint8_t)x);
		}
	}
	free(raw);
	free(buf);
	free(pixels);
}

static void test_png_refuses_bad_sizes(void **state)
{
	(void)state;
	uint8_t px[16] = {0};
	FILE *f = fopen("/dev/null", "wb");
	assert_int_equal(png_write_xrgb(f, px, 0, 1, 4), -EINVAL);
	assert_int_equal(png_write_xrgb(f, px, 1, 0, 4), -EINVAL);
	assert_int_equal(png_write_xrgb(f, px, 2, 1, 4), -EINVAL); /* stride shorter than a row */
	assert_int_equal(png_write_xrgb(f, px, 70000, 1, 280000), -EINVAL);
	fclose(f);
	/* A full disk is an error, not a truncated file reported as written. */
	f = fopen("/dev/full", "wb");
	assert_int_equal(png_write_xrgb(f, px, 2, 2, 8), -EIO);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_png_round_trip),
	    cmocka_unit_test(test_png_refuses_bad_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
