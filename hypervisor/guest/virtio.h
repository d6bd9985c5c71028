/* virtio.h — the guest's virtio 1.x modern PCI transport (virtio.c), private
 * to the drivers (gpu.c, input.c, hostile.c); all of it runs in CPL3. */
#ifndef VDI_GUEST_VIRTIO_H
#define VDI_GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_ring.h"

#define VIRTIO_ID_RNG   4
#define VIRTIO_ID_GPU   16
#define VIRTIO_ID_INPUT 18
#define VIRTIO_ID_SOUND 25

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_F_VERSION_1 32

#define VIRTIO_QUEUES_MAX 4  /* virtio-snd has four */
#define VIRTQ_SIZE_MAX    64 /* the rings of one queue fit in one page */

/* One split virtqueue, driver side. */
struct virtq {
	uint16_t index;
	uint16_t size; /* 0: not set up */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t used_seen; /* used entries consumed so far */
	uintptr_t notify;   /* where writing the queue index notifies it */
};

struct virtio_dev {
	uint16_t device_id;
	uint8_t slot;
	uintptr_t common, isr, notify_base;
	uintptr_t device; /* 0: the device has no configuration */
	uint32_t notify_multiplier;
	uint8_t msix_cap;     /* configuration-space offset of the MSI-X capability */
	uintptr_t msix_table; /* entry 0 is the only one used: config and queues share it */
	uint8_t vector;       /* the interrupt vector it sends */
	uint64_t features;    /* accepted */
	struct virtq queues[VIRTIO_QUEUES_MAX];
};

/* Finds the nth (from 0) PCI function with this virtio device id, turns on
 * its memory decoding and bus mastering and maps its capabilities. 0, or
 * -ENODEV (none) / -EIO (missing capabilities). */
int virtio_find(struct virtio_dev *dev, uint16_t device_id, unsigned nth);
/* Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 plus whichever of
 * `wanted` the device offers), FEATURES_OK checked, MSI-X entry 0 sending
 * `vector` (0: none). Then set up queues and call virtio_driver_ok(). */
int virtio_start(struct virtio_dev *dev, uint64_t wanted, uint8_t vector);
/* Queue `index` with at most `size` entries (power of two, <= 64); rings
 * from page_alloc; interrupts through entry 0 when the device has a vector. */
int virtio_queue_setup(struct virtio_dev *dev, uint16_t index, uint16_t size);
void virtio_driver_ok(struct virtio_dev *dev);
void virtio_reset(struct virtio_dev *dev);
uint8_t virtio_status(const struct virtio_dev *dev);
/* The device configuration, read or written with single accesses; reads
 * as 0 (writes go nowhere) on a device that has none. */
uint8_t virtio_config_read8(const struct virtio_dev *dev, uint32_t offset);
uint32_t virtio_config_read32(const struct virtio_dev *dev, uint32_t offset);
void virtio_config_write8(const struct virtio_dev *dev, uint32_t offset, uint8_t value);
void virtio_config_write32(const struct virtio_dev *dev, uint32_t offset, uint32_t value);

/* Makes the chain starting at descriptor `head` available and notifies. */
void virtq_publish(struct virtq *vq, uint16_t head);
/* Takes the next used entry, false when there is none. */
bool virtq_take_used(struct virtq *vq, struct virtq_used_elem *elem);
/* Waits for the next used entry: a bounded spin (the VMM usually finishes
 * during the notify), then sys_wait() with the events kept for the caller of
 * sys_wait. -EIO when the device needs a reset, -ETIMEDOUT after two timer
 * ticks without an answer. */
int virtq_wait_used(struct virtio_dev *dev, struct virtq *vq, struct virtq_used_elem *elem);
/* One synchronous request: `req` readable then `resp` writable (resp_len
 * 0: none) on descriptors 0 and 1. Returns bytes written or -errno. */
int virtq_request(struct virtio_dev *dev, struct virtq *vq, const void *req, uint32_t req_len, void *resp,
		  uint32_t resp_len);

/* sys.c: like sys_wait(), but the events stay pending for the next
 * sys_wait() too (a driver waiting must not eat the shell's events). */
uint32_t sys_wait_keep(void);

#endif
