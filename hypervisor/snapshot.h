/* snapshot.h — vdi-vmm snapshots: the state file's format (a header, then
 * typed sections each with its own checksum), the byte buffers device models
 * save into and load from, and saving and restoring a whole VM (its RAM in a
 * file of its own, vCPUs, in-kernel irqchip, PIT and clock, every device).
 *
 * DIR/state layout (little-endian, the host's order):
 *   header, SNAP_HEADER_BYTES:
 *     0  magic "VDISNAP\0"       8  u32 format version   12 u32 header bytes
 *     16 u32 build id length     20 build id (64 bytes, zero-padded)
 *     84 u32 flags (SNAP_F_*)    88 u64 CPU feature fingerprint
 *     96 u32 vCPUs              100 u32 sections (the END one included)
 *     104 u64 RAM bytes         112 u64 RAM bytes below 4 GiB
 *     120 u32 reserved (0)      124 u32 CRC32 of bytes 0..123
 *   then sections, each SNAP_SECTION_BYTES of header and `length` bytes:
 *     0 u32 type   4 u32 instance   8 u64 length   16 u32 CRC32 of the payload
 *     20 u32 CRC32 of bytes 0..19
 *   the last is SNAP_SEC_END (empty); nothing may follow it.
 * DIR/memory is guest RAM as it is, low RAM then high RAM, sparse. */
#ifndef VDI_HYPERVISOR_SNAPSHOT_H
#define VDI_HYPERVISOR_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC          "VDISNAP"
#define SNAP_FORMAT_VERSION 1
#define SNAP_HEADER_BYTES   128
#define SNAP_SECTION_BYTES  24
#define SNAP_BUILD_ID_MAX   64
/* No section of ours comes near this; a length beyond it is corruption. */
#define SNAP_SECTION_MAX    (1ull << 30)
#define SNAP_SECTIONS_MAX   4096

/* Header flags. */
#define SNAP_F_CPUID_PROBED 0x1u /* the CPUID table hid what the host cannot run (Linux guests) */

enum snap_section_type {
	SNAP_SEC_VCPU = 1, /* instance: vCPU index */
	SNAP_SEC_VM = 2,   /* irqchip, PIT, clock */
	SNAP_SEC_UART = 16,
	SNAP_SEC_RTC = 17,
	SNAP_SEC_I8042 = 18,
	SNAP_SEC_POWEROFF = 19,
	SNAP_SEC_LABEL = 20,
	SNAP_SEC_PCI = 21,
	SNAP_SEC_VIRTIO_GPU = 22,
	SNAP_SEC_VIRTIO_INPUT = 23, /* instance: 0 keyboard, 1 tablet */
	SNAP_SEC_VIRTIO_RNG = 24,
	SNAP_SEC_VIRTIO_SND = 25, /* only in a VM with sound */
	SNAP_SEC_END = 0xffff,
};

struct snap_header_info {
	uint8_t build_id[SNAP_BUILD_ID_MAX];
	uint32_t build_id_len;
	uint32_t flags;
	uint64_t cpu_fingerprint;
	uint32_t vcpus;
	uint64_t mem_bytes;
	uint64_t low_bytes;
};

/* A growable byte buffer a section's payload is written into. A failed
 * allocation sets `failed`; later puts do nothing. */
struct snap_buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};
void snap_buf_free(struct snap_buf *b);
void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
void snap_put_bytes(struct snap_buf *b, const void *p, size_t n);

/* A bounds-checked reader of one section's payload: reading past the end
 * sets `failed` and yields zeros. */
struct snap_cursor {
	const uint8_t *data;
	size_t len, pos;
	bool failed;
};
uint8_t snap_get_u8(struct snap_cursor *c);
uint16_t snap_get_u16(struct snap_cursor *c);
uint32_t snap_get_u32(struct snap_cursor *c);
uint64_t snap_get_u64(struct snap_cursor *c);
void snap_get_bytes(struct snap_cursor *c, void *out, size_t n);
/* A pointer to the next n bytes, or NULL (and failed) if there are fewer. */
const uint8_t *snap_get_view(struct snap_cursor *c, size_t n);
/* Whether the payload was read exactly to its end without a failure. */
bool snap_cursor_done(const struct snap_cursor *c);

/* Writing a state file in memory: init, add sections, finish. */
struct snap_writer {
	struct snap_buf out;
	uint32_t sections;
};
int snap_writer_init(struct snap_writer *w, const struct snap_header_info *h);
int snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t instance, const struct snap_buf *payload);
/* Adds the END section and seals the header; 0 or -ENOMEM. */
int snap_writer_finish(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);

struct snap_section {
	uint32_t type, instance;
	const uint8_t *payload;
	size_t len;
	bool used;
};

/* A parsed, fully verified state file. */
struct snap_image {
	uint8_t *data; /* owned */
	size_t len;
	struct snap_header_info header;
	struct snap_section *sections;
	uint32_t nsections; /* without END */
};

/* Parses and verifies a whole state file held in `data` (ownership passes
 * to `img`, freed by snap_image_free even on failure): magic, format
 * version, header checksum, the build id when `build_id` is given, every
 * section's header and payload checksum, the section count, the END
 * section with nothing after it, no section twice. 0, or -EINVAL with a
 * one-line reason in `why`. */
int snap_image_parse(struct snap_image *img, uint8_t *data, size_t len, const uint8_t *build_id, uint32_t build_id_len,
		     char *why, size_t why_cap);
/* The section of that type and instance (marked used), or NULL. */
struct snap_section *snap_image_find(struct snap_image *img, uint32_t type, uint32_t instance);
/* A cursor over a section's payload. */
struct snap_cursor snap_section_cursor(const struct snap_section *s);
void snap_image_free(struct snap_image *img);

/* A name for messages: "uart", "vcpu", ... */
const char *snap_section_name(uint32_t type);

#endif
