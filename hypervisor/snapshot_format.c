/* snapshot_format.c — the state file of a vdi-vmm snapshot (layout in
 * snapshot.h): writing it in memory, and parsing it back with every length,
 * count and checksum verified before any of it is used. */
#include "snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "snapshot fields are little-endian");

static uint32_t snap_crc(const uint8_t *p, size_t n)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	/* zlib takes uInt lengths: feed large payloads in pieces. */
	while (n) {
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = crc32(crc, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return (uint32_t)crc;
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	*b = (struct snap_buf){0};
}

static bool snap_buf_reserve(struct snap_buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void snap_put_bytes(struct snap_buf *b, const void *p, size_t n)
{
	if (!n || !snap_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void snap_put_u8(struct snap_buf *b, uint8_t v)
{
	snap_put_bytes(b, &v, 1);
}

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	snap_put_bytes(b, &v, 2);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	snap_put_bytes(b, &v, 4);
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_put_bytes(b, &v, 8);
}

const uint8_t *snap_get_view(struct snap_cursor *c, size_t n)
{
	if (c->failed || n > c->len - c->pos) {
		c->failed = true;
		return NULL;
	}
	const uint8_t *p = c->data + c->pos;
	c->pos += n;
	return p;
}

void snap_get_bytes(struct snap_cursor *c, void *out, size_t n)
{
	const uint8_t *p = snap_get_view(c, n);
	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

uint8_t snap_get_u8(struct snap_cursor *c)
{
	uint8_t v;
	snap_get_bytes(c, &v, 1);
	return v;
}

uint16_t snap_get_u16(struct snap_cursor *c)
{
	uint16_t v;
	snap_get_bytes(c, &v, 2);
	return v;
}

uint32_t snap_get_u32(struct snap_cursor *c)
{
	uint32_t v;
	snap_get_bytes(c, &v, 4);
	return v;
}

uint64_t snap_get_u64(struct snap_cursor *c)
{
	uint64_t v;
	snap_get_bytes(c, &v, 8);
	return v;
}

bool snap_cursor_done(const struct snap_cursor *c)
{
	return !c->failed && c->pos == c->len;
}

static void snap_store32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void snap_store64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t snap_load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t snap_load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int snap_writer_init(struct snap_writer *w, const struct snap_header_info *h)
{
	*w = (struct snap_writer){0};
	if (h->build_id_len > SNAP_BUILD_ID_MAX)
		return -EINVAL;
	uint8_t hdr[SNAP_HEADER_BYTES] = {0};
	memcpy(hdr, SNAP_MAGIC, sizeof(SNAP_MAGIC));
	snap_store32(hdr + 8, SNAP_FORMAT_VERSION);
	snap_store32(hdr + 12, SNAP_HEADER_BYTES);
	snap_store32(hdr + 16, h->build_id_len);
	memcpy(hdr + 20, h->build_id, h->build_id_len);
	snap_store32(hdr + 84, h->flags);
	snap_store64(hdr + 88, h->cpu_fingerprint);
	snap_store32(hdr + 96, h->vcpus);
	snap_store64(hdr + 104, h->mem_bytes);
	snap_store64(hdr + 112, h->low_bytes);
	snap_put_bytes(&w->out, hdr, sizeof(hdr));
	return w->out.failed ? -ENOMEM : 0;
}

int snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t instance, const struct snap_buf *payload)
{
	if (payload->failed)
		return -ENOMEM;
	if (payload->len > SNAP_SECTION_MAX || w->sections >= SNAP_SECTIONS_MAX)
		return -E2BIG;
	uint8_t sh[SNAP_SECTION_BYTES];
	snap_store32(sh, type);
	snap_store32(sh + 4, instance);
	snap_store64(sh + 8, payload->len);
	snap_store32(sh + 16, snap_crc(payload->data, payload->len));
	snap_store32(sh + 20, snap_crc(sh, 20));
	snap_put_bytes(&w->out, sh, sizeof(sh));
	snap_put_bytes(&w->out, payload->data, payload->len);
	if (w->out.failed)
		return -ENOMEM;
	w->sections++;
	return 0;
}

int snap_writer_finish(struct snap_writer *w)
{
	struct snap_buf none = {0};
	int r = snap_writer_add(w, SNAP_SEC_END, 0, &none);
	if (r < 0)
		return r;
	snap_store32(w->out.data + 100, w->sections);
	snap_store32(w->out.data + 124, snap_crc(w->out.data, 124));
	return 0;
}

void snap_writer_free(struct snap_writer *w)
{
	snap_buf_free(&w->out);
	w->sections = 0;
}

const char *snap_section_name(uint32_t type)
{
	switch (type) {
	case SNAP_SEC_VCPU:
		return "vcpu";
	case SNAP_SEC_VM:
		return "vm";
	case SNAP_SEC_UART:
		return "uart";
	case SNAP_SEC_RTC:
		return "rtc";
	case SNAP_SEC_I8042:
		return "i8042";
	case SNAP_SEC_POWEROFF:
		return "poweroff";
	case SNAP_SEC_LABEL:
		return "label";
	case SNAP_SEC_PCI:
		return "pci";
	case SNAP_SEC_VIRTIO_GPU:
		return "virtio-gpu";
	case SNAP_SEC_VIRTIO_INPUT:
		return "virtio-input";
	case SNAP_SEC_VIRTIO_RNG:
		return "virtio-rng";
	case SNAP_SEC_VIRTIO_SND:
		return "virtio-snd";
	case SNAP_SEC_END:
		return "end";
	default:
		return "unknown";
	}
}

static int snap_refuse(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int snap_refuse(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void snap_hex(char *out, size_t cap, const uint8_t *p, uint32_t n)
{
	size_t at = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < n && at + 3 <= cap; i++)
		at += (size_t)snprintf(out + at, cap - at, "%02x", p[i]);
}

static int snap_parse_header(struct snap_image *img, const uint8_t *build_id, uint32_t build_id_len, char *why,
			     size_t cap)
{
	const uint8_t *d = img->data;
	if (img->len < 12 || memcmp(d, SNAP_MAGIC, sizeof(SNAP_MAGIC)))
		return snap_refuse(why, cap, "not a vdi-vmm snapshot (bad magic)");
	uint32_t version = snap_load32(d + 8);
	if (version != SNAP_FORMAT_VERSION)
		return snap_refuse(why, cap, "snapshot format version %u; this vdi-vmm reads version %u", version,
				   SNAP_FORMAT_VERSION);
	if (img->len < SNAP_HEADER_BYTES)
		return snap_refuse(why, cap, "truncated: %zu bytes, shorter than the header", img->len);
	if (snap_load32(d + 12) != SNAP_HEADER_BYTES || snap_load32(d + 124) != snap_crc(d, 124))
		return snap_refuse(why, cap, "header checksum mismatch");
	struct snap_header_info *h = &img->header;
	h->build_id_len = snap_load32(d + 16);
	if (h->build_id_len > SNAP_BUILD_ID_MAX)
		return snap_refuse(why, cap, "bad build id length %u", h->build_id_len);
	memcpy(h->build_id, d + 20, h->build_id_len);
	h->flags = snap_load32(d + 84);
	h->cpu_fingerprint = snap_load64(d + 88);
	h->vcpus = snap_load32(d + 96);
	h->mem_bytes = snap_load64(d + 104);
	h->low_bytes = snap_load64(d + 112);
	if (build_id && (h->build_id_len != build_id_len || memcmp(h->build_id, build_id, build_id_len))) {
		char theirs[2 * SNAP_BUILD_ID_MAX + 1], ours[2 * SNAP_BUILD_ID_MAX + 1];
		snap_hex(theirs, sizeof(theirs), h->build_id, h->build_id_len);
		snap_hex(ours, sizeof(ours), build_id, build_id_len);
		return snap_refuse(why, cap, "made by another vdi-vmm build (%s; this one is %s)", theirs, ours);
	}
	if (h->low_bytes > h->mem_bytes)
		return snap_refuse(why, cap, "bad RAM layout (%llu bytes low of %llu)",
				   (unsigned long long)h->low_bytes, (unsigned long long)h->mem_bytes);
	return 0;
}

int snap_image_parse(struct snap_image *img, uint8_t *data, size_t len, const uint8_t *build_id, uint32_t build_id_len,
		     char *why, size_t why_cap)
{
	*img = (struct snap_image){.data = data, .len = len};
	int r = snap_parse_header(img, build_id, build_id_len, why, why_cap);
	if (r < 0)
		return r;
	uint32_t declared = snap_load32(data + 100);
	if (declared == 0 || declared > SNAP_SECTIONS_MAX)
		return snap_refuse(why, why_cap, "bad section count %u", declared);
	img->sections = calloc(declared, sizeof(*img->sections));
	if (!img->sections)
		return snap_refuse(why, why_cap, "out of memory");
	size_t pos = SNAP_HEADER_BYTES;
	for (uint32_t i = 0;; i++) {
		if (i == declared)
			return snap_refuse(why, why_cap, "no end section after %u sections", declared);
		if (len - pos < SNAP_SECTION_BYTES)
			return snap_refuse(why, why_cap, "truncated: section %u of %u missing at byte %zu", i + 1,
					   declared, pos);
		const uint8_t *sh = data + pos;
		if (snap_load32(sh + 20) != snap_crc(sh, 20))
			return snap_refuse(why, why_cap, "section %u: header checksum mismatch at byte %zu", i + 1,
					   pos);
		uint32_t type = snap_load32(sh), instance = snap_load32(sh + 4);
		uint64_t slen = snap_load64(sh + 8);
		pos += SNAP_SECTION_BYTES;
		if (slen > SNAP_SECTION_MAX || slen > len - pos)
			return snap_refuse(why, why_cap, "truncated: section %u (%s) needs %llu bytes, %zu left", i + 1,
					   snap_section_name(type), (unsigned long long)slen, len - pos);
		if (snap_load32(sh + 16) != snap_crc(data + pos, (size_t)slen))
			return snap_refuse(why, why_cap, "section %u (%s %u): checksum mismatch", i + 1,
					   snap_section_name(type), instance);
		if (type == SNAP_SEC_END) {
			pos += (size_t)slen;
			if (i + 1 != declared)
				return snap_refuse(why, why_cap, "end after %u sections, the header says %u", i + 1,
						   declared);
			if (pos != len)
				return snap_refuse(why, why_cap, "%zu bytes after the end section", len - pos);
			break;
		}
		for (uint32_t k = 0; k < img->nsections; k++)
			if (img->sections[k].type == type && img->sections[k].instance == instance)
				return snap_refuse(why, why_cap, "section %s %u appears twice", snap_section_name(type),
						   instance);
		img->sections[img->nsections++] = (struct snap_section){
		    .type = type, .instance = instance, .payload = data + pos, .len = (size_t)slen};
		pos += (size_t)slen;
	}
	return 0;
}

struct snap_section *snap_image_find(struct snap_image *img, uint32_t type, uint32_t instance)
{
	for (uint32_t i = 0; i < img->nsections; i++) {
		struct snap_section *s = &img->sections[i];
		if (s->type == type && s->instance == instance) {
			s->used = true;
			return s;
		}
	}
	return NULL;
}

struct snap_cursor snap_section_cursor(const struct snap_section *s)
{
	return (struct snap_cursor){.data = s->payload, .len = s->len};
}

void snap_image_free(struct snap_image *img)
{
	free(img->sections);
	free(img->data);
	*img = (struct snap_image){0};
}
