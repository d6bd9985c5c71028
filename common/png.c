/* png.c — a minimal PNG writer: one IHDR, the image as zlib-compressed rows
 * (filter type 0) in IDAT chunks, IEND. Enough for screenshots, with CRCs
 * and Adler sums from zlib. */
#include "png.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PNG_MAX_SIDE 65535u
#define PNG_CHUNK    65536u

static void png_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int png_chunk(FILE *out, const char type[4], const uint8_t *data, uint32_t len)
{
	uint8_t head[8];
	png_put32(head, len);
	memcpy(head + 4, type, 4);
	uLong crc = crc32(0, (const Bytef *)type, 4);
	if (len)
		crc = crc32(crc, data, len);
	uint8_t tail[4];
	png_put32(tail, (uint32_t)crc);
	if (fwrite(head, 1, 8, out) != 8 || (len && fwrite(data, 1, len, out) != len) || fwrite(tail, 1, 4, out) != 4)
		return -EIO;
	return 0;
}

int png_write_xrgb(FILE *out, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride)
{
	static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (!width || !height || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE || stride < width * 4)
		return -EINVAL;
	uint8_t ihdr[13];
	png_put32(ihdr, width);
	png_put32(ihdr + 4, height);
	ihdr[8] = 8;  /* bits per sample */
	ihdr[9] = 2;  /* colour type: RGB */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering (every row filter 0) */
	ihdr[12] = 0; /* no interlace */
	if (fwrite(signature, 1, sizeof(signature), out) != sizeof(signature) || png_chunk(out, "IHDR", ihdr, 13))
		return -EIO;

	size_t row_bytes = 1 + (size_t)width * 3;
	uint8_t *row = malloc(row_bytes);
	uint8_t *chunk = malloc(PNG_CHUNK);
	z_stream z = {0};
	int err = !row || !chunk || deflateInit(&z, 6) != Z_OK ? -ENOMEM : 0;
	for (uint32_t y = 0; y <= height && !err; y++) {
		bool last = y == height;
		if (!last) {
			const uint8_t *src = pixels + (size_t)y * stride;
			row[0] = 0;
			for (uint32_t x = 0; x < width; x++) {
				row[1 + x * 3] = src[x * 4 + 2];
				row[2 + x * 3] = src[x * 4 + 1];
				row[3 + x * 3] = src[x * 4];
			}
			z.next_in = row;
			z.avail_in = (uInt)row_bytes;
		}
		int zr;
		do {
			z.next_out = chunk;
			z.avail_out = PNG_CHUNK;
			zr = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
			uint32_t have = PNG_CHUNK - z.avail_out;
			if (have && png_chunk(out, "IDAT", chunk, have))
				err = -EIO;
		} while (!err && (z.avail_in || (last && zr != Z_STREAM_END)));
	}
	if (row && chunk)
		deflateEnd(&z);
	free(row);
	free(chunk);
	if (!err && (png_chunk(out, "IEND", NULL, 0) || fflush(out)))
		err = -EIO;
	return err;
}
