/* virtio_ring.h — the split virtqueue layout (virtio 1.2 section 2.7),
 * shared by vdi-vmm's device side (hypervisor/devices/virtio.h includes
 * "../guest/virtio_ring.h") and the in-tree guest's drivers (virtio.h).
 * Freestanding: it needs only <stdint.h>, as the guest is built without
 * libc. Fields are little-endian, as is x86. */
#ifndef VDI_GUEST_VIRTIO_RING_H
#define VDI_GUEST_VIRTIO_RING_H

#include <stdint.h>

/* Descriptor flags. */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* Available ring flags. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* queue size entries, then used_event (unused) */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* queue size entries, then avail_event (unused) */
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");
_Static_assert(sizeof(struct virtq_avail) == 4, "virtq_avail");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");
_Static_assert(sizeof(struct virtq_used) == 4, "virtq_used");

#endif
