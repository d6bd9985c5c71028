/* i420.h — BGRX pixels to I420 (full-range BT.709, as the RDP clients'
 * H.264 decoders convert back), with SSE2 and AVX2 paths chosen at run time. */
#ifndef VDI_I420_H
#define VDI_I420_H

#include <stddef.h>
#include <stdint.h>

/* Converts a w x h block (w and h even, >= 2) of BGRX pixels at src
 * (rows src_stride bytes apart) into luma at y (rows y_stride apart) and
 * chroma at u and v (one sample per 2x2 block, rows c_stride apart).
 * Reads nothing beyond w pixels of h rows and writes nothing outside the
 * block's w x h luma and w/2 x h/2 chroma samples; an odd w or h drops the
 * last column or row (it has no partner for its chroma block). Pointers
 * need no alignment; the X byte is ignored.
 *   luma = (54*R + 183*G + 19*B + 128) >> 8
 *   with r, g, b the sums over a 2x2 block (>> flooring):
 *   u = clamp(((-29*r - 99*g + 128*b + 512) >> 10) + 128, 0, 255)
 *   v = clamp(((128*r - 116*g - 12*b + 512) >> 10) + 128, 0, 255) */
void i420_from_bgrx(const uint8_t *src, size_t src_stride, uint32_t w, uint32_t h, uint8_t *y, size_t y_stride,
		    uint8_t *u, uint8_t *v, size_t c_stride);

/* For tests and benchmarks: the same conversion through one chosen path.
 * Every path gives bit-identical output. */
enum i420_path {
	I420_PATH_SCALAR, /* the reference; every machine */
	I420_PATH_SSE2,   /* x86-64 */
	I420_PATH_AVX2,   /* x86-64 whose CPU and OS support AVX2 */
};

/* 0, or -ENOTSUP (nothing written) when this machine or build lacks path. */
int i420_from_bgrx_with(enum i420_path path, const uint8_t *src, size_t src_stride, uint32_t w, uint32_t h, uint8_t *y,
			size_t y_stride, uint8_t *u, uint8_t *v, size_t c_stride);

#endif
