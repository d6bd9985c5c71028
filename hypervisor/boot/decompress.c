/* decompress.c — unpacking a bzImage payload on the host: gzip, xz, zstd and
 * the LZ4 legacy frame, the formats Linux x86 kernels are built with. */
#include "boot.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* liblzma allocates the dictionary the stream header asks for; the kernel's
 * xz uses 32 MiB and xz -9 uses 64 MiB, so this bounds a hostile header
 * without refusing any real kernel. */
#define DECOMPRESS_XZ_MEMLIMIT (128ull << 20)

/* LZ4 legacy frame (lz4 -l, as the kernel build invokes it): a magic, then
 * blocks each preceded by its compressed size and decompressing to at most
 * 8 MiB. A block size equal to the magic starts a new frame. */
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static uint32_t decompress_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int decompress_has_magic(const uint8_t *in, size_t in_len, const uint8_t *magic, size_t magic_len)
{
	return in_len >= magic_len && memcmp(in, magic, magic_len) == 0;
}

static long decompress_gzip(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	/* 16 + MAX_WBITS: a gzip wrapper (header and CRC32 trailer), not zlib. */
	int r = inflateInit2(&s, 16 + MAX_WBITS);
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;

	/* zlib counts in uInt, so feed both buffers in pieces it can count. */
	size_t in_pos = 0, out_pos = 0;
	long ret;
	for (;;) {
		size_t in_left = in_len - in_pos, out_left = cap - out_pos;
		uInt in_chunk = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
		uInt out_chunk = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
		s.next_in = (Bytef *)(uintptr_t)(in + in_pos);
		s.avail_in = in_chunk;
		s.next_out = out + out_pos;
		s.avail_out = out_chunk;
		r = inflate(&s, Z_NO_FLUSH);
		in_pos += in_chunk - s.avail_in;
		out_pos += out_chunk - s.avail_out;
		if (r == Z_STREAM_END) {
			ret = (long)out_pos;
			break;
		}
		if (r == Z_OK)
			continue;
		/* Stuck with input left means the output is full; with none
		 * left, the stream is cut short. */
		if (r == Z_BUF_ERROR && in_pos < in_len && out_pos == cap)
			ret = -E2BIG;
		else if (r == Z_MEM_ERROR)
			ret = -ENOMEM;
		else
			ret = -EINVAL;
		break;
	}
	inflateEnd(&s);
	return ret;
}

static long decompress_xz(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
	lzma_stream s = LZMA_STREAM_INIT;
	/* No LZMA_CONCATENATED: decoding stops at the end of the first stream,
	 * so the size the kernel build appends is not taken for a second one. */
	lzma_ret r = lzma_stream_decoder(&s, DECOMPRESS_XZ_MEMLIMIT, 0);
	if (r != LZMA_OK)
		return r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	s.next_in = in;
	s.avail_in = in_len;
	s.next_out = out;
	s.avail_out = cap;
	long ret;
	for (;;) {
		r = lzma_code(&s, LZMA_FINISH);
		if (r == LZMA_STREAM_END) {
			ret = (long)(cap - s.avail_out);
			break;
		}
		if (r == LZMA_OK)
			continue;
		if (r == LZMA_BUF_ERROR && s.avail_in > 0 && s.avail_out == 0)
			ret = -E2BIG;
		else if (r == LZMA_MEM_ERROR)
			ret = -ENOMEM;
		else
			ret = -EINVAL; /* corrupt, truncated, or a dictionary over the limit */
		break;
	}
	lzma_end(&s);
	return ret;
}

static int decompress_zstd_is_frame(const uint8_t *in, size_t in_len)
{
	if (in_len < 4)
		return 0;
	uint32_t magic = decompress_le32(in);
	return magic == ZSTD_MAGICNUMBER || (magic & 0xFFFFFFF0u) == 0x184D2A50u; /* skippable */
}

static long decompress_zstd(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!dctx)
		return -ENOMEM;
	/* One-shot decoding of each whole frame straight into `out`: no window
	 * buffer, and a frame without a content size decodes the same way. The
	 * frame's exact length is found first so trailing bytes are not parsed
	 * as another frame. */
	size_t in_pos = 0, out_pos = 0;
	long ret = 0;
	do {
		size_t frame = ZSTD_findFrameCompressedSize(in + in_pos, in_len - in_pos);
		if (ZSTD_isError(frame)) {
			ret = -EINVAL;
			break;
		}
		size_t n = ZSTD_decompressDCtx(dctx, out + out_pos, cap - out_pos, in + in_pos, frame);
		if (ZSTD_isError(n)) {
			ZSTD_ErrorCode e = ZSTD_getErrorCode(n);
			ret = e == ZSTD_error_dstSize_tooSmall    ? -E2BIG
			      : e == ZSTD_error_memory_allocation ? -ENOMEM
								  : -EINVAL;
			break;
		}
		in_pos += frame;
		out_pos += n;
		ret = (long)out_pos;
	} while (decompress_zstd_is_frame(in + in_pos, in_len - in_pos));
	ZSTD_freeDCtx(dctx);
	return ret;
}

static long decompress_lz4_legacy(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap)
{
	size_t in_pos = 4, out_pos = 0; /* past the magic */
	uint8_t *scratch = NULL;
	long ret = 0;
	for (;;) {
		size_t left = in_len - in_pos;
		/* The end: input used up, or only the 4-byte size the kernel
		 * build appends (or fewer bytes: trailing junk, ignored). */
		if (left <= 4 && (left < 4 || decompress_le32(in + in_pos) != LZ4_LEGACY_MAGIC))
			break;
		uint32_t block = decompress_le32(in + in_pos);
		in_pos += 4;
		if (block == LZ4_LEGACY_MAGIC)
			continue;
		if (block == 0 || block > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) || block > in_len - in_pos) {
			ret = -EINVAL;
			break;
		}
		size_t room = cap - out_pos;
		if (room > LZ4_LEGACY_BLOCK)
			room = LZ4_LEGACY_BLOCK;
		int n = LZ4_decompress_safe((const char *)in + in_pos, (char *)out + out_pos, (int)block, (int)room);
		if (n < 0) {
			/* LZ4 says only "failed": when there was less room than a
			 * block may need, decode again into a full-size buffer to
			 * tell "too big" from "corrupt". */
			ret = -EINVAL;
			if (room < LZ4_LEGACY_BLOCK) {
				scratch = malloc(LZ4_LEGACY_BLOCK);
				if (!scratch)
					ret = -ENOMEM;
				else if (LZ4_decompress_safe((const char *)in + in_pos, (char *)scratch, (int)block,
							     (int)LZ4_LEGACY_BLOCK) >= 0)
					ret = -E2BIG;
			}
			break;
		}
		in_pos += block;
		out_pos += (size_t)n;
		ret = (long)out_pos;
	}
	free(scratch);
	return ret;
}

long decompress_payload(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, const char **format)
{
	static const uint8_t gzip_magic[] = {0x1F, 0x8B};
	static const uint8_t xz_magic[] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
	static const uint8_t zstd_magic[] = {0x28, 0xB5, 0x2F, 0xFD};
	static const uint8_t lz4_magic[] = {0x02, 0x21, 0x4C, 0x18};
	static const uint8_t bzip2_magic[] = {'B', 'Z', 'h'};
	static const uint8_t lzma_magic[] = {0x5D, 0x00, 0x00};
	static const uint8_t lzo_magic[] = {0x89, 'L', 'Z', 'O'};
	const char *name = "unknown";
	long ret = -ENOTSUP;

	if (cap > LONG_MAX)
		cap = LONG_MAX;
	if (decompress_has_magic(in, in_len, gzip_magic, sizeof(gzip_magic))) {
		name = "gzip";
		ret = decompress_gzip(in, in_len, out, cap);
	} else if (decompress_has_magic(in, in_len, xz_magic, sizeof(xz_magic))) {
		name = "xz";
		ret = decompress_xz(in, in_len, out, cap);
	} else if (decompress_has_magic(in, in_len, zstd_magic, sizeof(zstd_magic))) {
		name = "zstd";
		ret = decompress_zstd(in, in_len, out, cap);
	} else if (decompress_has_magic(in, in_len, lz4_magic, sizeof(lz4_magic))) {
		name = "lz4";
		ret = decompress_lz4_legacy(in, in_len, out, cap);
	} else if (decompress_has_magic(in, in_len, bzip2_magic, sizeof(bzip2_magic))) {
		name = "bzip2"; /* recognised so the error can name it */
	} else if (decompress_has_magic(in, in_len, lzma_magic, sizeof(lzma_magic))) {
		name = "lzma";
	} else if (decompress_has_magic(in, in_len, lzo_magic, sizeof(lzo_magic))) {
		name = "lzo";
	}
	if (format)
		*format = name;
	return ret;
}
