/* virtio.h — virtio 1.x inside vdi-vmm, private to hypervisor/devices/: the
 * modern PCI transport (virtio_pci.c), split virtqueues (virtqueue.c), and
 * what the device models (virtio_gpu.c, virtio_input.c, virtio_rng.c) build
 * on. Everything the guest writes is hostile input: a rule broken marks the
 * device broken (NEEDS_RESET, one log line) and nothing more happens on it
 * until the guest resets it.
 *
 * Locking: each virtio device has one mutex. The transport takes it around
 * every guest access to the device's BAR (common, notify, ISR, device
 * configuration, MSI-X) and calls the device's ops with it held. Host-side
 * entry points of a device model (input injection, display resize) take it
 * with virtio_lock()/virtio_unlock(). */
#ifndef VDI_HYPERVISOR_DEVICES_VIRTIO_H
#define VDI_HYPERVISOR_DEVICES_VIRTIO_H

#include "../guest/virtio_ring.h"
#include "devices.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Device ids (virtio 1.x section 5); the PCI device id is 0x1040 + id. */
#define VIRTIO_ID_RNG          4
#define VIRTIO_ID_GPU          16
#define VIRTIO_ID_INPUT        18
#define VIRTIO_ID_SOUND        25
#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

/* Feature bits the transport owns. VERSION_1 is always offered and must be
 * accepted (no legacy interface). Indirect descriptors and event index
 * are not offered. */
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_MAX_SIZE       256 /* queue size offered; also the longest chain */
#define VIRTIO_MAX_QUEUES    8
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* One split virtqueue. Ring addresses are set by the guest through the
 * common configuration; they are checked against guest RAM when the queue
 * is enabled, so the rings' host pointers stay valid while it is. */
struct virtqueue {
	struct virtio_device *vdev;
	uint16_t index;
	uint16_t size;        /* guest-chosen, power of two <= VIRTQ_MAX_SIZE */
	bool enabled;         /* queue_enable written 1 and rings valid */
	uint16_t msix_vector; /* VIRTIO_MSI_NO_VECTOR (0xffff) for none */
	uint64_t desc_addr, avail_addr, used_addr;
	/* Host views of the rings, set when the queue is enabled. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail; /* next avail entry the device will take */
	uint16_t used_idx;   /* next used entry the device will fill */
};

/* One validated descriptor chain: the device-readable buffers first, then
 * the device-writable ones, as host pointers into guest RAM. */
struct virtq_chain {
	uint16_t head;
	uint16_t nreadable;
	uint16_t nwritable;
	size_t readable_bytes;
	size_t writable_bytes;
	struct iovec iov[VIRTQ_MAX_SIZE]; /* [0, nreadable) readable, then writable */
};

/* Checks the ring addresses and size the guest set (size a power of two
 * up to VIRTQ_MAX_SIZE, rings aligned 16/2/4 and wholly in guest RAM), maps
 * the rings and enables the queue with both indices at 0. -EINVAL when the
 * guest broke a rule; the device is then marked broken. The transport calls
 * it when the guest writes queue_enable; unit tests call it directly. */
int virtq_enable(struct virtqueue *vq);

/* Takes the next available chain. Returns 1 with *chain filled, 0 when the
 * guest has made nothing more available, -EINVAL when the guest broke a rule
 * (avail index jumped more than the queue size, head or next out of range,
 * a loop or a chain longer than the queue, a buffer not wholly in guest RAM,
 * a readable buffer after a writable one, an indirect descriptor, byte
 * counts that overflow); the device is then already marked broken. A queue
 * that is not enabled, or a device that is not live (no DRIVER_OK, or
 * broken), yields 0: nothing is taken from it. Zero-length descriptors are
 * validated but get no iovec, so nreadable/nwritable count iovecs. Chains
 * carry at most UINT32_MAX readable and UINT32_MAX writable bytes. */
int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain);
/* Walks again the chain at `head` that the device took earlier and still
 * holds (a device that returns buffers later keeps only their heads), with
 * virtq_pop()'s checks; -EINVAL (device marked broken) when the guest broke
 * a rule or the queue is not enabled. */
int virtq_chain_at(struct virtqueue *vq, uint16_t head, struct virtq_chain *chain);
/* Returns a chain to the guest with `written` bytes written into its
 * writable part (clamped to writable_bytes). Does not interrupt the guest:
 * see virtio_notify_queue. Does nothing on a disabled queue or a broken
 * device (the guest must reset it anyway). */
void virtq_push(struct virtqueue *vq, const struct virtq_chain *chain, uint32_t written);
/* Copy between a chain's readable (or writable) bytes, seen as one buffer,
 * and host memory, starting `offset` bytes in. Return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src, size_t len);

struct virtio_device;
struct virtio_device_ops {
	/* Device-specific configuration, bounds-checked by the transport
	 * against config_size (reads beyond it return zeros, writes are
	 * dropped). */
	void (*config_read)(struct virtio_device *vdev, uint32_t offset, uint8_t *data, uint32_t size);
	void (*config_write)(struct virtio_device *vdev, uint32_t offset, const uint8_t *data, uint32_t size);
	/* The guest notified `vq` (enabled, DRIVER_OK set, device not broken). */
	void (*queue_notify)(struct virtio_device *vdev, struct virtqueue *vq);
	/* The device went back to its initial state: the guest wrote status 0.
	 * The transport has already reset status, features and queues. */
	void (*reset)(struct virtio_device *vdev);
	/* The guest set DRIVER_OK: queues it enabled are live (e.g. an input
	 * device may now deliver events it buffered). May be NULL. */
	void (*driver_ok)(struct virtio_device *vdev);
};

struct virtio_device {
	/* Set by the device model before virtio_pci_init(). */
	const char *name;         /* "virtio-gpu", for log lines */
	uint16_t device_id;       /* VIRTIO_ID_* */
	uint64_t device_features; /* offered; the transport adds VERSION_1 */
	uint32_t config_size;     /* bytes of device configuration */
	uint16_t num_queues;      /* at most VIRTIO_MAX_QUEUES */
	const struct virtio_device_ops *ops;
	void *opaque; /* the device model */

	/* Transport state, under `lock`. */
	pthread_mutex_t lock;
	struct guest_memory memory;
	uint64_t driver_features; /* accepted by the guest */
	uint8_t status;
	bool broken;
	uint8_t isr; /* bit 0 queue interrupt, bit 1 configuration change */
	uint8_t config_generation;
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t msix_config;
	struct virtqueue queues[VIRTIO_MAX_QUEUES];

	/* virtio_pci.c's private state; NULL in unit tests, where the ISR
	 * bits still record the interrupts that went nowhere. */
	struct virtio_pci *transport;
};

/* Sets up the lock, guest memory and queues (index, vdev, no vector) of a
 * device whose model fields are filled. virtio_pci_init() calls it; unit
 * tests and fuzzers call it to drive a device without a PCI bus, and then
 * interrupts go nowhere. */
void virtio_device_init(struct virtio_device *vdev, struct guest_memory memory);
/* Back to the initial state, as when the guest writes status 0: status,
 * features, ISR, selectors and queues, then ops->reset. Called with the
 * device lock held (or before the device is shared). */
void virtio_device_reset(struct virtio_device *vdev);

/* The PCI side (configuration in devices.h): puts `vdev` on the PCI bus
 * with its BAR, capabilities, MSI-X with num_queues + 1 vectors and INTx.
 * The PCI class code follows device_id (GPU display, input, sound audio, others
 * unclassified). Returns 0 or -errno. */
int virtio_pci_init(struct virtio_device *vdev, const struct virtio_pci_config *cfg);
/* Takes the device off the PCI and MMIO buses and destroys its lock. Call
 * it once no vCPU runs: the MMIO bus does not wait for accesses already
 * dispatched. */
void virtio_pci_destroy(struct virtio_device *vdev);

/* Snapshots of a device's virtio side, called with the device lock held (or
 * before the device is shared): the transport-independent state (status,
 * features, selectors, every queue with its ring addresses and indices) and
 * the PCI side (configuration space, BAR placement, MSI-X table and pending
 * bits, INTx level). A load checks device id and queue count against this
 * device, takes only the configuration bits a guest could write, and maps
 * enabled queues' rings after checking them as virtq_enable() does,
 * keeping their indices; -EINVAL when anything is out of range. */
void virtio_device_save(struct virtio_device *vdev, struct snap_buf *out);
int virtio_device_load(struct virtio_device *vdev, struct snap_cursor *in);
void virtio_pci_save(struct virtio_device *vdev, struct snap_buf *out);
int virtio_pci_load(struct virtio_device *vdev, struct snap_cursor *in);
/* virtqueue.c: maps the rings of a queue being restored (size, addresses
 * set) and enables it with these indices; -EINVAL, without marking the
 * device broken, when the rings are not valid guest RAM. */
int virtq_restore(struct virtqueue *vq, uint16_t last_avail, uint16_t used_idx);

/* For host-side entry points of a device model. */
void virtio_lock(struct virtio_device *vdev);
void virtio_unlock(struct virtio_device *vdev);

/* The rest are called with the device lock held. */
/* Interrupts the guest for `vq` (its MSI-X vector, or INTx with ISR bit 0),
 * unless the guest suppressed it with VIRTQ_AVAIL_F_NO_INTERRUPT. */
void virtio_notify_queue(struct virtio_device *vdev, struct virtqueue *vq);
/* Tells the guest the device configuration changed (config_generation
 * moves, MSI-X config vector or INTx with ISR bit 1). */
void virtio_notify_config(struct virtio_device *vdev);
/* Marks the device broken: NEEDS_RESET, a configuration interrupt, one log
 * line "virtio-gpu: <why>"; queues stop until the guest resets it. */
void virtio_mark_broken(struct virtio_device *vdev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the guest has set DRIVER_OK and the device is not broken. */
bool virtio_device_live(const struct virtio_device *vdev);
/* Guest RAM through the device's checked accessor: NULL unless all of
 * [gpa, gpa+len) is RAM. */
void *virtio_guest_memory(struct virtio_device *vdev, uint64_t gpa, uint64_t len);

/* virtio_pci.c's side of the interrupt functions above (virtio.c sets the
 * ISR bits first): with MSI-X enabled it sends `vector` (nothing for
 * VIRTIO_MSI_NO_VECTOR), else it drives INTx to whether any ISR bit is
 * set. Device lock held. */
void virtio_pci_interrupt(struct virtio_device *vdev, uint16_t vector);

/* Helpers for device models. */
#define EDID_BLOCK_SIZE 128
/* edid.c: an EDID 1.4 base block for a virtual monitor whose preferred mode
 * is width x height at 60 Hz with reduced blanking (sizes beyond 4095, what
 * a detailed timing holds, are clamped to it). */
void edid_build(uint8_t edid[EDID_BLOCK_SIZE], uint32_t width, uint32_t height);

#endif
