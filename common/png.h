/* png.h — writing screenshots as PNG files (8-bit RGB, zlib). */
#ifndef VDI_COMMON_PNG_H
#define VDI_COMMON_PNG_H

#include <stdint.h>
#include <stdio.h>

/* Writes width x height XRGB8888 pixels (bytes B, G, R, unused; `stride`
 * bytes per row) to `out` as a PNG. Returns 0 or -errno (-EINVAL for a
 * zero or oversized image, -EIO when writing fails). */
int png_write_xrgb(FILE *out, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride);

#endif
