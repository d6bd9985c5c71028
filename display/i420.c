/* i420.c — BGRX to I420: the scalar reference and SSE2 and AVX2 paths that
 * match it bit for bit (same integer arithmetic, only wider). */
#include "i420.h"

#include <errno.h>
#include <stdbool.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define I420_X86           1
/* The path every machine of this architecture has. */
#define I420_PATH_BASELINE I420_PATH_SSE2
#else
#define I420_PATH_BASELINE I420_PATH_SCALAR
#endif

#define I420_INLINE static inline __attribute__((always_inline))

/* The coefficients sum to 256, so white stays 255 and the sum fits 16 bits. */
I420_INLINE uint8_t i420_luma(const uint8_t *px)
{
	return (uint8_t)((54 * px[2] + 183 * px[1] + 19 * px[0] + 128) >> 8);
}

/* Adding 128 * 1024 before the shift centres the sample and keeps the
 * shifted value positive (a weighted sum is >= -128 * 1020), so >> floors
 * exactly as the arithmetic shift of the definition and of the SIMD paths
 * would; the result is 1..256, so only the top needs clamping. */
#define I420_CHROMA_BIAS (512 + 128 * 1024)

I420_INLINE uint8_t i420_chroma(int32_t sum)
{
	int32_t c = (sum + I420_CHROMA_BIAS) >> 10;
	return (uint8_t)(c > 255 ? 255 : c);
}

/* Columns [x0, x1) (even) of two rows: the reference, and every path's tail. */
static void i420_scalar_pair(const uint8_t *row0, const uint8_t *row1, uint32_t x0, uint32_t x1, uint8_t *luma0,
			     uint8_t *luma1, uint8_t *u, uint8_t *v)
{
	for (uint32_t x = x0; x < x1; x += 2) {
		const uint8_t *a = row0 + (size_t)x * 4, *b = row1 + (size_t)x * 4;
		luma0[x] = i420_luma(a);
		luma0[x + 1] = i420_luma(a + 4);
		luma1[x] = i420_luma(b);
		luma1[x + 1] = i420_luma(b + 4);
		int32_t bs = a[0] + a[4] + b[0] + b[4];
		int32_t gs = a[1] + a[5] + b[1] + b[5];
		int32_t rs = a[2] + a[6] + b[2] + b[6];
		u[x / 2] = i420_chroma(-29 * rs - 99 * gs + 128 * bs);
		v[x / 2] = i420_chroma(128 * rs - 116 * gs - 12 * bs);
	}
}

/* Converts the first n pixels (a multiple of the path's width) of two rows. */
typedef void i420_kernel(const uint8_t *row0, const uint8_t *row1, uint32_t n, uint8_t *luma0, uint8_t *luma1,
			 uint8_t *u, uint8_t *v);

#ifdef I420_X86
/* The SIMD paths see a BGRX pixel as two 16-bit lanes, B|G<<8 and R|X<<8:
 * masking the low bytes gives (B, R), shifting them out gives (G, X), and
 * pmaddwd with a coefficient pair per pixel (0 for X) gives a weighted sum
 * per pixel in 32 bits. Chroma sums (<= 1020) stay in 16-bit lanes.
 * The 4-step loops are unrolled (-O2 would not) so their vectors stay in
 * registers instead of stack arrays. */

/* A vector of (lo, hi) 16-bit pairs. */
I420_INLINE __m128i i420_pair_sse2(int16_t lo, int16_t hi)
{
	return _mm_unpacklo_epi16(_mm_set1_epi16(lo), _mm_set1_epi16(hi));
}

/* Luma of the 4 pixels in p as 32-bit lanes; their (B, R) and (G, X) are
 * left in br and gx for the chroma sums. */
I420_INLINE __m128i i420_luma4_sse2(__m128i p, __m128i *br, __m128i *gx)
{
	*br = _mm_and_si128(p, _mm_set1_epi16(0x00ff));
	*gx = _mm_srli_epi16(p, 8);
	__m128i s =
	    _mm_add_epi32(_mm_madd_epi16(*br, i420_pair_sse2(19, 54)), _mm_madd_epi16(*gx, i420_pair_sse2(183, 0)));
	return _mm_srli_epi32(_mm_add_epi32(s, _mm_set1_epi32(128)), 8);
}

/* 16 pixels of a row: their luma stored, their (B, R) and (G, X) added to
 * br and gx (4 pixels a vector). */
I420_INLINE void i420_row16_sse2(const uint8_t *p, uint8_t *luma, __m128i br[4], __m128i gx[4])
{
	__m128i l[4];
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		__m128i b, g;
		l[k] = i420_luma4_sse2(_mm_loadu_si128((const __m128i *)(p + 16 * k)), &b, &g);
		br[k] = _mm_add_epi16(br[k], b);
		gx[k] = _mm_add_epi16(gx[k], g);
	}
	__m128i y = _mm_packus_epi16(_mm_packs_epi32(l[0], l[1]), _mm_packs_epi32(l[2], l[3]));
	_mm_storeu_si128((__m128i *)luma, y);
}

/* Adds neighbouring pixels' 16-bit lane pairs: a's 4 pixels and b's 4
 * become 4 blocks, in order. */
I420_INLINE __m128i i420_pairsum_sse2(__m128i a, __m128i b)
{
	__m128 fa = _mm_castsi128_ps(a), fb = _mm_castsi128_ps(b);
	return _mm_add_epi16(_mm_castps_si128(_mm_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0))),
			     _mm_castps_si128(_mm_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1))));
}

/* u or v (32-bit lanes, 1..256) of 4 blocks from their (b, r) and (g, x) sums. */
I420_INLINE __m128i i420_chroma4_sse2(__m128i br, __m128i gx, __m128i c_br, __m128i c_gx)
{
	__m128i s = _mm_add_epi32(_mm_madd_epi16(br, c_br), _mm_madd_epi16(gx, c_gx));
	return _mm_srai_epi32(_mm_add_epi32(s, _mm_set1_epi32(I420_CHROMA_BIAS)), 10);
}

static void i420_sse2(const uint8_t *row0, const uint8_t *row1, uint32_t n, uint8_t *luma0, uint8_t *luma1, uint8_t *u,
		      uint8_t *v)
{
	const __m128i u_br = i420_pair_sse2(128, -29), u_gx = i420_pair_sse2(-99, 0);
	const __m128i v_br = i420_pair_sse2(-12, 128), v_gx = i420_pair_sse2(-116, 0);
	for (uint32_t x = 0; x < n; x += 16) {
		__m128i br[4], gx[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++)
			br[k] = gx[k] = _mm_setzero_si128();
		i420_row16_sse2(row0 + (size_t)x * 4, luma0 + x, br, gx);
		i420_row16_sse2(row1 + (size_t)x * 4, luma1 + x, br, gx);
		__m128i b0 = i420_pairsum_sse2(br[0], br[1]), g0 = i420_pairsum_sse2(gx[0], gx[1]);
		__m128i b1 = i420_pairsum_sse2(br[2], br[3]), g1 = i420_pairsum_sse2(gx[2], gx[3]);
		__m128i cu =
		    _mm_packs_epi32(i420_chroma4_sse2(b0, g0, u_br, u_gx), i420_chroma4_sse2(b1, g1, u_br, u_gx));
		__m128i cv =
		    _mm_packs_epi32(i420_chroma4_sse2(b0, g0, v_br, v_gx), i420_chroma4_sse2(b1, g1, v_br, v_gx));
		/* Saturating to bytes is the clamp to 255. */
		__m128i uv = _mm_packus_epi16(cu, cv);
		_mm_storel_epi64((__m128i *)(u + x / 2), uv);
		_mm_storel_epi64((__m128i *)(v + x / 2), _mm_srli_si128(uv, 8));
	}
}

/* The AVX2 path is the SSE2 one twice as wide; its packs and shuffles work
 * within 128-bit halves, so the results are put back in order at the end. */
#define I420_AVX2 __attribute__((target("avx2"), always_inline)) static inline

I420_AVX2 __m256i i420_pair_avx2(int16_t lo, int16_t hi)
{
	return _mm256_unpacklo_epi16(_mm256_set1_epi16(lo), _mm256_set1_epi16(hi));
}

I420_AVX2 __m256i i420_luma8_avx2(__m256i p, __m256i *br, __m256i *gx)
{
	*br = _mm256_and_si256(p, _mm256_set1_epi16(0x00ff));
	*gx = _mm256_srli_epi16(p, 8);
	__m256i s = _mm256_add_epi32(_mm256_madd_epi16(*br, i420_pair_avx2(19, 54)),
				     _mm256_madd_epi16(*gx, i420_pair_avx2(183, 0)));
	return _mm256_srli_epi32(_mm256_add_epi32(s, _mm256_set1_epi32(128)), 8);
}

/* 32 pixels of a row: their luma stored, their (B, R) and (G, X) added to
 * br and gx (8 pixels a vector). */
I420_AVX2 void i420_row32_avx2(const uint8_t *p, uint8_t *luma, __m256i br[4], __m256i gx[4])
{
	__m256i l[4];
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		__m256i b, g;
		l[k] = i420_luma8_avx2(_mm256_loadu_si256((const __m256i *)(p + 32 * k)), &b, &g);
		br[k] = _mm256_add_epi16(br[k], b);
		gx[k] = _mm256_add_epi16(gx[k], g);
	}
	/* Packing leaves 4-pixel groups in the order 0 2 4 6 1 3 5 7. */
	__m256i y = _mm256_packus_epi16(_mm256_packs_epi32(l[0], l[1]), _mm256_packs_epi32(l[2], l[3]));
	y = _mm256_permutevar8x32_epi32(y, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)luma, y);
}

/* As i420_pairsum_sse2 in each half: a's 8 pixels and b's 8 become blocks
 * 0 1 4 5 | 2 3 6 7. */
I420_AVX2 __m256i i420_pairsum_avx2(__m256i a, __m256i b)
{
	__m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
	return _mm256_add_epi16(_mm256_castps_si256(_mm256_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0))),
				_mm256_castps_si256(_mm256_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1))));
}

I420_AVX2 __m256i i420_chroma8_avx2(__m256i br, __m256i gx, __m256i c_br, __m256i c_gx)
{
	__m256i s = _mm256_add_epi32(_mm256_madd_epi16(br, c_br), _mm256_madd_epi16(gx, c_gx));
	return _mm256_srai_epi32(_mm256_add_epi32(s, _mm256_set1_epi32(I420_CHROMA_BIAS)), 10);
}

__attribute__((target("avx2"))) static void i420_avx2(const uint8_t *row0, const uint8_t *row1, uint32_t n,
						      uint8_t *luma0, uint8_t *luma1, uint8_t *u, uint8_t *v)
{
	const __m256i u_br = i420_pair_avx2(128, -29), u_gx = i420_pair_avx2(-99, 0);
	const __m256i v_br = i420_pair_avx2(-12, 128), v_gx = i420_pair_avx2(-116, 0);
	for (uint32_t x = 0; x < n; x += 32) {
		__m256i br[4], gx[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++)
			br[k] = gx[k] = _mm256_setzero_si256();
		i420_row32_avx2(row0 + (size_t)x * 4, luma0 + x, br, gx);
		i420_row32_avx2(row1 + (size_t)x * 4, luma1 + x, br, gx);
		/* Blocks 0 1 4 5 | 2 3 6 7, then 8 9 12 13 | 10 11 14 15. */
		__m256i b0 = i420_pairsum_avx2(br[0], br[1]), g0 = i420_pairsum_avx2(gx[0], gx[1]);
		__m256i b1 = i420_pairsum_avx2(br[2], br[3]), g1 = i420_pairsum_avx2(gx[2], gx[3]);
		__m256i cu =
		    _mm256_packs_epi32(i420_chroma8_avx2(b0, g0, u_br, u_gx), i420_chroma8_avx2(b1, g1, u_br, u_gx));
		__m256i cv =
		    _mm256_packs_epi32(i420_chroma8_avx2(b0, g0, v_br, v_gx), i420_chroma8_avx2(b1, g1, v_br, v_gx));
		/* Low half: u of blocks 0 1 4 5 8 9 12 13, then their v; high
		 * half: the same for blocks 2 3 6 7 10 11 14 15. Interleaving the
		 * halves' byte pairs puts the blocks in order. */
		__m256i uv = _mm256_packus_epi16(cu, cv);
		__m128i lo = _mm256_castsi256_si128(uv), hi = _mm256_extracti128_si256(uv, 1);
		_mm_storeu_si128((__m128i *)(u + x / 2), _mm_unpacklo_epi16(lo, hi));
		_mm_storeu_si128((__m128i *)(v + x / 2), _mm_unpackhi_epi16(lo, hi));
	}
}
#endif

/* Whole rows in pairs: the kernel takes the first multiple of step pixels
 * of each pair, the reference the rest. */
static void i420_convert(i420_kernel *kernel, uint32_t step, const uint8_t *src, size_t src_stride, uint32_t w,
			 uint32_t h, uint8_t *y, size_t y_stride, uint8_t *u, uint8_t *v, size_t c_stride)
{
	w &= ~1u;
	h &= ~1u;
	uint32_t n = kernel ? w / step * step : 0;
	for (uint32_t r = 0; r < h; r += 2) {
		const uint8_t *row0 = src + (size_t)r * src_stride, *row1 = row0 + src_stride;
		uint8_t *luma0 = y + (size_t)r * y_stride, *luma1 = luma0 + y_stride;
		uint8_t *ur = u + (size_t)(r / 2) * c_stride, *vr = v + (size_t)(r / 2) * c_stride;
		if (n)
			kernel(row0, row1, n, luma0, luma1, ur, vr);
		i420_scalar_pair(row0, row1, n, w, luma0, luma1, ur, vr);
	}
}

static bool i420_has_avx2(void)
{
#ifdef I420_X86
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

int i420_from_bgrx_with(enum i420_path path, const uint8_t *src, size_t src_stride, uint32_t w, uint32_t h, uint8_t *y,
			size_t y_stride, uint8_t *u, uint8_t *v, size_t c_stride)
{
	switch (path) {
	case I420_PATH_SCALAR:
		i420_convert(NULL, 2, src, src_stride, w, h, y, y_stride, u, v, c_stride);
		return 0;
#ifdef I420_X86
	case I420_PATH_SSE2:
		i420_convert(i420_sse2, 16, src, src_stride, w, h, y, y_stride, u, v, c_stride);
		return 0;
	case I420_PATH_AVX2:
		if (!i420_has_avx2())
			return -ENOTSUP;
		i420_convert(i420_avx2, 32, src, src_stride, w, h, y, y_stride, u, v, c_stride);
		return 0;
#endif
	default:
		return -ENOTSUP;
	}
}

void i420_from_bgrx(const uint8_t *src, size_t src_stride, uint32_t w, uint32_t h, uint8_t *y, size_t y_stride,
		    uint8_t *u, uint8_t *v, size_t c_stride)
{
	enum i420_path path = i420_has_avx2() ? I420_PATH_AVX2 : I420_PATH_BASELINE;
	i420_from_bgrx_with(path, src, src_stride, w, h, y, y_stride, u, v, c_stride);
}
