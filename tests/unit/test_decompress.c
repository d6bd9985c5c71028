/* test_decompress.c — unit tests for hypervisor/boot/decompress.c: each
 * format round-trips through its reference compressor (compressed the way
 * the kernel build does it), and truncated, corrupt, oversized or unknown
 * input is an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/boot/boot.h"

#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define DATA_LEN  (1u << 20)
#define LZ4_BLOCK (8u << 20)

enum format { GZIP, XZ, XZ_PLAIN, ZSTD, ZSTD_NO_SIZE, LZ4 };

struct buf {
	uint8_t *p;
	size_t len;
};

/* Compressible but not trivial: text-like runs, x86 call opcodes (for the
 * BCJ filter) and a sprinkle of noise. */
static uint8_t *make_data(size_t len, uint32_t seed)
{
	uint8_t *d = malloc(len);
	assert_non_null(d);
	static const char words[] = "the quick brown fox jumps over the lazy kernel ";
	uint32_t x = seed;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		if (i % 64 == 0)
			d[i] = 0xE8;
		else if ((x >> 24) < 16)
			d[i] = (uint8_t)(x >> 16);
		else
			d[i] = (uint8_t)words[i % (sizeof(words) - 1)];
	}
	return d;
}

/* The kernel build appends the uncompressed size after the stream. */
static void append_size(struct buf *b, size_t size)
{
	uint8_t *p = realloc(b->p, b->len + 4);
	assert_non_null(p);
	for (int i = 0; i < 4; i++)
		p[b->len + (size_t)i] = (uint8_t)(size >> (8 * i));
	b->p = p;
	b->len += 4;
}

static struct buf compress_gzip(const uint8_t *in, size_t len)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	struct buf b = {malloc(deflateBound(&s, len) + 64), 0};
	assert_non_null(b.p);
	s.next_in = (Bytef *)(uintptr_t)in;
	s.avail_in = (uInt)len;
	s.next_out = b.p;
	s.avail_out = (uInt)deflateBound(&s, len) + 64;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	b.len = s.total_out;
	deflateEnd(&s);
	return b;
}

static struct buf compress_xz(const uint8_t *in, size_t len, int bcj)
{
	lzma_options_lzma opt;
	assert_false(lzma_lzma_preset(&opt, 6));
	lzma_filter filters[3];
	int n = 0;
	if (bcj)
		filters[n++] = (lzma_filter){.id = LZMA_FILTER_X86, .options = NULL};
	filters[n++] = (lzma_filter){.id = LZMA_FILTER_LZMA2, .options = &opt};
	filters[n] = (lzma_filter){.id = LZMA_VLI_UNKNOWN, .options = NULL};
	size_t cap = lzma_stream_buffer_bound(len);
	struct buf b = {malloc(cap), 0};
	assert_non_null(b.p);
	assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, len, b.p, &b.len, cap),
			 LZMA_OK);
	return b;
}

static struct buf compress_zstd(const uint8_t *in, size_t len, int with_size)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	assert_non_null(c);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size)));
	size_t cap = ZSTD_compressBound(len);
	struct buf b = {malloc(cap), 0};
	assert_non_null(b.p);
	b.len = ZSTD_compress2(c, b.p, cap, in, len);
	assert_false(ZSTD_isError(b.len));
	ZSTD_freeCCtx(c);
	assert_int_equal(ZSTD_getFrameContentSize(b.p, b.len),
			 with_size ? (unsigned long long)len : ZSTD_CONTENTSIZE_UNKNOWN);
	return b;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The legacy frame by hand: magic, then [u32 size][block] per 8 MiB. */
static struct buf compress_lz4_legacy(const uint8_t *in, size_t len)
{
	size_t blocks = (len + LZ4_BLOCK - 1) / LZ4_BLOCK;
	size_t cap = 4 + blocks * (4 + (size_t)LZ4_compressBound(LZ4_BLOCK));
	struct buf b = {malloc(cap), 0};
	assert_non_null(b.p);
	put_le32(b.p, 0x184C2102u);
	b.len = 4;
	for (size_t off = 0; off < len; off += LZ4_BLOCK) {
		size_t n = len - off < LZ4_BLOCK ? len - off : LZ4_BLOCK;
		int c = LZ4_compress_default((const char *)in + off, (char *)b.p + b.len + 4, (int)n,
					     LZ4_compressBound(LZ4_BLOCK));
		assert_true(c > 0);
		put_le32(b.p + b.len, (uint32_t)c);
		b.len += 4 + (size_t)c;
	}
	return b;
}

static struct buf compress_as(enum format f, const uint8_t *in, size_t len)
{
	switch (f) {
	case GZIP:
		return compress_gzip(in, len);
	case XZ:
		return compress_xz(in, len, 1);
	case XZ_PLAIN:
		return compress_xz(in, len, 0);
	case ZSTD:
		return compress_zstd(in, len, 1);
	case ZSTD_NO_SIZE:
		return compress_zstd(in, len, 0);
	case LZ4:
		return compress_lz4_legacy(in, len);
	}
	fail();
	return (struct buf){0};
}

static const char *format_name(enum format f)
{
	static const char *names[] = {"gzip", "xz", "xz", "zstd", "zstd", "lz4"};
	return names[f];
}

static void roundtrip(enum format f, size_t len, int kernel_trailer)
{
	uint8_t *data = make_data(len, (uint32_t)len + f);
	struct buf z = compress_as(f, data, len);
	if (kernel_trailer)
		append_size(&z, len);
	uint8_t *out = malloc(len + 16);
	assert_non_null(out);
	const char *name = NULL;
	long n = decompress_payload(z.p, z.len, out, len + 16, &name);
	assert_int_equal(n, (long)len);
	assert_string_equal(name, format_name(f));
	assert_memory_equal(out, data, len);

	/* Exactly enough room works; a byte less does not fit. */
	memset(out, 0, len);
	assert_int_equal(decompress_payload(z.p, z.len, out, len, NULL), (long)len);
	assert_memory_equal(out, data, len);
	assert_int_equal(decompress_payload(z.p, z.len, out, len - 1, NULL), -E2BIG);
	assert_int_equal(decompress_payload(z.p, z.len, out, len / 2, NULL), -E2BIG);
	free(out);
	free(z.p);
	free(data);
}

static void test_gzip_roundtrip(void **state)
{
	(void)state;
	roundtrip(GZIP, DATA_LEN, 0);
	roundtrip(GZIP, DATA_LEN + 7, 1);
}

static void test_xz_roundtrip(void **state)
{
	(void)state;
	roundtrip(XZ, DATA_LEN, 0);
	roundtrip(XZ, DATA_LEN + 7, 1);
	roundtrip(XZ_PLAIN, DATA_LEN, 1);
}

static void test_zstd_roundtrip(void **state)
{
	(void)state;
	roundtrip(ZSTD, DATA_LEN, 0);
	roundtrip(ZSTD, DATA_LEN + 7, 1);
	roundtrip(ZSTD_NO_SIZE, DATA_LEN, 1);
}

static void test_lz4_roundtrip(void **state)
{
	(void)state;
	roundtrip(LZ4, DATA_LEN, 0);
	roundtrip(LZ4, DATA_LEN + 7, 1);
	/* More than one 8 MiB block, and a cap that ends inside the last. */
	roundtrip(LZ4, LZ4_BLOCK + 12345, 1);
}

/* A second legacy frame (a repeated magic) continues the output. */
static void test_lz4_concatenated_frames(void **state)
{
	(void)state;
	uint8_t *data = make_data(2 * DATA_LEN, 7);
	struct buf a = compress_lz4_legacy(data, DATA_LEN);
	struct buf b = compress_lz4_legacy(data + DATA_LEN, DATA_LEN);
	uint8_t *both = malloc(a.len + b.len);
	assert_non_null(both);
	memcpy(both, a.p, a.len);
	memcpy(both + a.len, b.p, b.len);
	uint8_t *out = malloc(2 * DATA_LEN);
	assert_non_null(out);
	assert_int_equal(decompress_payload(both, a.len + b.len, out, 2 * DATA_LEN, NULL), 2 * DATA_LEN);
	assert_memory_equal(out, data, 2 * DATA_LEN);
	free(out);
	free(both);
	free(a.p);
	free(b.p);
	free(data);
}

/* Two zstd frames decode as one output; bytes after them are ignored. */
static void test_zstd_two_frames(void **state)
{
	(void)state;
	uint8_t *data = make_data(2 * DATA_LEN, 9);
	struct buf a = compress_zstd(data, DATA_LEN, 1);
	struct buf b = compress_zstd(data + DATA_LEN, DATA_LEN, 0);
	uint8_t *both = malloc(a.len + b.len + 4);
	assert_non_null(both);
	memcpy(both, a.p, a.len);
	memcpy(both + a.len, b.p, b.len);
	put_le32(both + a.len + b.len, 2 * DATA_LEN);
	uint8_t *out = malloc(2 * DATA_LEN);
	assert_non_null(out);
	assert_int_equal(decompress_payload(both, a.len + b.len + 4, out, 2 * DATA_LEN, NULL), 2 * DATA_LEN);
	assert_memory_equal(out, data, 2 * DATA_LEN);
	free(out);
	free(both);
	free(a.p);
	free(b.p);
	free(data);
}

/* A prefix of the stream fails cleanly. The input is copied to a buffer of
 * exactly the prefix length so ASan sees any over-read. */
static void check_prefix(enum format f, const struct buf *z, size_t cut, uint8_t *out, size_t len)
{
	uint8_t *part = malloc(cut);
	assert_non_null(part);
	memcpy(part, z->p, cut);
	long n = decompress_payload(part, cut, out, len, NULL);
	/* An LZ4 frame cut right after a block is a shorter valid frame;
	 * anywhere else every format must say it is broken. */
	if (cut < 6 && n == -ENOTSUP)
		; /* too short to show its magic */
	else if (f == LZ4)
		assert_true(n < 0 || (size_t)n < len);
	else
		assert_int_equal(n, -EINVAL);
	free(part);
}

static void truncated(enum format f)
{
	size_t len = 64 * 1024;
	uint8_t *data = make_data(len, 3);
	struct buf z = compress_as(f, data, len);
	uint8_t *out = malloc(len);
	assert_non_null(out);
	size_t step = z.len / 97 + 1;
	for (size_t cut = 1; cut < z.len; cut += step)
		check_prefix(f, &z, cut, out, len);
	for (size_t cut = z.len > 8 ? z.len - 8 : 1; cut < z.len; cut++)
		check_prefix(f, &z, cut, out, len);
	free(out);
	free(z.p);
	free(data);
}

static void test_truncated(void **state)
{
	(void)state;
	truncated(GZIP);
	truncated(XZ);
	truncated(ZSTD);
	truncated(ZSTD_NO_SIZE);
	truncated(LZ4);
}

/* Flipped bytes: the checksummed formats notice; LZ4 has no checksum, so
 * it may produce wrong bytes, but never more than the cap and never a
 * read or write out of bounds. */
static void corrupted(enum format f)
{
	size_t len = 64 * 1024;
	uint8_t *data = make_data(len, 5);
	struct buf z = compress_as(f, data, len);
	uint8_t *out = malloc(len);
	assert_non_null(out);
	uint32_t x = 1;
	for (int round = 0; round < 300; round++) {
		uint8_t *bad = malloc(z.len);
		assert_non_null(bad);
		memcpy(bad, z.p, z.len);
		for (int k = 0; k < 1 + round % 4; k++) {
			x = x * 1103515245u + 12345u;
			size_t at = 6 + (x >> 8) % (z.len - 6); /* keep the magic: test the decoder */
			bad[at] ^= (uint8_t)(1u << (x % 8));
		}
		long n = decompress_payload(bad, z.len, out, len, NULL);
		if (f == LZ4)
			assert_true(n <= (long)len);
		else if (n >= 0)
			assert_memory_equal(out, data, len); /* only a harmless flip may pass */
		free(bad);
	}
	free(out);
	free(z.p);
	free(data);
}

static void test_corrupted(void **state)
{
	(void)state;
	corrupted(GZIP);
	corrupted(XZ);
	corrupted(ZSTD);
	corrupted(LZ4);
}

static void test_unknown_formats(void **state)
{
	(void)state;
	uint8_t out[64];
	const char *name = NULL;
	static const uint8_t junk[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
	assert_int_equal(decompress_payload(junk, sizeof(junk), out, sizeof(out), &name), -ENOTSUP);
	assert_string_equal(name, "unknown");
	assert_int_equal(decompress_payload(junk, 0, out, sizeof(out), &name), -ENOTSUP);
	static const uint8_t bz[] = "BZh91AY&SY";
	assert_int_equal(decompress_payload(bz, sizeof(bz) - 1, out, sizeof(out), &name), -ENOTSUP);
	assert_string_equal(name, "bzip2");
	static const uint8_t lzo[] = {0x89, 'L', 'Z', 'O', 0, 0x0d};
	assert_int_equal(decompress_payload(lzo, sizeof(lzo), out, sizeof(out), &name), -ENOTSUP);
	assert_string_equal(name, "lzo");
	static const uint8_t lzma[] = {0x5D, 0x00, 0x00, 0x80, 0x00};
	assert_int_equal(decompress_payload(lzma, sizeof(lzma), out, sizeof(out), &name), -ENOTSUP);
	assert_string_equal(name, "lzma");
	/* A magic alone is not a stream. */
	static const uint8_t gz[] = {0x1F, 0x8B};
	assert_int_equal(decompress_payload(gz, sizeof(gz), out, sizeof(out), &name), -EINVAL);
	assert_string_equal(name, "gzip");
	static const uint8_t zs[] = {0x28, 0xB5, 0x2F, 0xFD};
	assert_int_equal(decompress_payload(zs, sizeof(zs), out, sizeof(out), NULL), -EINVAL);
	static const uint8_t xz[] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
	assert_int_equal(decompress_payload(xz, sizeof(xz), out, sizeof(out), NULL), -EINVAL);
}

/* LZ4 block sizes that are zero, beyond any 8 MiB block, or past the end. */
static void test_lz4_bad_block_sizes(void **state)
{
	(void)state;
	uint8_t in[16] = {0x02, 0x21, 0x4C, 0x18};
	uint8_t out[64];
	put_le32(in + 4, 0);
	assert_int_equal(decompress_payload(in, 12, out, sizeof(out), NULL), -EINVAL);
	put_le32(in + 4, 0x7FFFFFFF);
	assert_int_equal(decompress_payload(in, 12, out, sizeof(out), NULL), -EINVAL);
	put_le32(in + 4, 5); /* 5 bytes claimed, 4 present */
	assert_int_equal(decompress_payload(in, 12, out, sizeof(out), NULL), -EINVAL);
	/* Magic then only the 4-byte trailer: an empty frame. */
	put_le32(in + 4, 1234);
	assert_int_equal(decompress_payload(in, 8, out, sizeof(out), NULL), 0);
}

/* An xz block header asking for a dictionary over the memory limit is
 * refused (liblzma would otherwise allocate what the header says). The
 * stream is made with a small dictionary, then its LZMA2 properties byte is
 * raised to 1 GiB and the header CRC32 fixed. */
static void test_xz_memlimit(void **state)
{
	(void)state;
	size_t len = 4096;
	uint8_t *data = make_data(len, 11);
	struct buf z = compress_xz(data, len, 0);
	size_t hdr = 12, hdr_size = ((size_t)z.p[hdr] + 1) * 4;
	assert_true(hdr + hdr_size <= z.len);
	size_t prop = 0;
	for (size_t i = hdr + 2; i + 2 < hdr + hdr_size - 4; i++)
		if (z.p[i] == 0x21 && z.p[i + 1] == 0x01) /* LZMA2 filter id, 1 property byte */
			prop = i + 2;
	assert_true(prop != 0);
	z.p[prop] = 36; /* dictionary 2 << (36 / 2 + 11) = 1 GiB */
	put_le32(z.p + hdr + hdr_size - 4, (uint32_t)crc32(0, z.p + hdr, (uInt)(hdr_size - 4)));
	uint8_t *out = malloc(len);
	assert_non_null(out);
	assert_int_equal(decompress_payload(z.p, z.len, out, len, NULL), -EINVAL);
	/* The same edit to a modest dictionary still decodes: the CRC fix is right. */
	z.p[prop] = 20; /* 2 << 21 = 4 MiB */
	put_le32(z.p + hdr + hdr_size - 4, (uint32_t)crc32(0, z.p + hdr, (uInt)(hdr_size - 4)));
	assert_int_equal(decompress_payload(z.p, z.len, out, len, NULL), (long)len);
	assert_memory_equal(out, data, len);
	free(out);
	free(z.p);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gzip_roundtrip),
	    cmocka_unit_test(test_xz_roundtrip),
	    cmocka_unit_test(test_zstd_roundtrip),
	    cmocka_unit_test(test_lz4_roundtrip),
	    cmocka_unit_test(test_lz4_concatenated_frames),
	    cmocka_unit_test(test_zstd_two_frames),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_corrupted),
	    cmocka_unit_test(test_unknown_formats),
	    cmocka_unit_test(test_lz4_bad_block_sizes),
	    cmocka_unit_test(test_xz_memlimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
