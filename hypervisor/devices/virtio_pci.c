/* virtio_pci.c — the modern virtio-pci transport (virtio 1.x section 4.1):
 * a PCI function whose one memory BAR holds the common configuration, ISR,
 * device configuration, notification area and MSI-X table, with INTx as the
 * fallback when the guest does not enable MSI-X. */
#include "virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* PCI configuration space. */
#define PCI_COMMAND              0x04
#define PCI_STATUS               0x06
#define PCI_REVISION_ID          0x08
#define PCI_BAR0                 0x10
#define PCI_BAR1                 0x14
#define PCI_CAPABILITY_LIST      0x34
#define PCI_INTERRUPT_LINE       0x3c
#define PCI_INTERRUPT_PIN        0x3d
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST      0x0010
#define PCI_BAR_MEM_64           0x4
#define PCI_CAP_ID_MSIX          0x11
#define PCI_CAP_ID_VENDOR        0x09
#define PCI_MSIX_ENABLE          0x8000
#define PCI_MSIX_MASKALL         0x4000

/* virtio vendor capability types (virtio 1.x 4.1.4). VIRTIO_PCI_CAP_PCI_CFG
 * (5), the window into the BARs through configuration space, is left out:
 * it exists for firmware without BAR access, and Linux does not use it. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* Capability list in configuration space: MSI-X, then the virtio ones. */
#define VP_CAP_MSIX       0x40 /* 12 bytes */
#define VP_CAP_COMMON     0x4c /* 16 bytes */
#define VP_CAP_NOTIFY     0x5c /* 20 bytes: the common layout plus the multiplier */
#define VP_CAP_ISR        0x70
#define VP_CAP_DEVICE     0x80
#define VP_CAP_LEN        16
#define VP_CAP_NOTIFY_LEN 20

/* BAR0 layout. */
#define VP_COMMON          0x0000
#define VP_COMMON_LEN      0x38 /* the virtio 1.0 fields; later additions belong to features not offered */
#define VP_ISR             0x1000
#define VP_DEVICE          0x2000
#define VP_DEVICE_MAX      0x1000
#define VP_NOTIFY          0x3000
#define VP_NOTIFY_MULT     4
#define VP_MSIX_TABLE      0x4000
#define VP_MSIX_PBA        0x5000
#define VP_MSIX_ENTRY_SIZE 16
#define VP_MSIX_MAX        (VIRTIO_MAX_QUEUES + 1)

/* Common configuration fields (virtio 1.x 4.1.4.3), by offset. */
enum {
	VP_DEVICE_FEATURE_SELECT = 0x00,
	VP_DEVICE_FEATURE = 0x04,
	VP_DRIVER_FEATURE_SELECT = 0x08,
	VP_DRIVER_FEATURE = 0x0c,
	VP_MSIX_CONFIG = 0x10,
	VP_NUM_QUEUES = 0x12,
	VP_DEVICE_STATUS = 0x14,
	VP_CONFIG_GENERATION = 0x15,
	VP_QUEUE_SELECT = 0x16,
	VP_QUEUE_SIZE = 0x18,
	VP_QUEUE_MSIX_VECTOR = 0x1a,
	VP_QUEUE_ENABLE = 0x1c,
	VP_QUEUE_NOTIFY_OFF = 0x1e,
	VP_QUEUE_DESC_LO = 0x20,
	VP_QUEUE_DESC_HI = 0x24,
	VP_QUEUE_DRIVER_LO = 0x28,
	VP_QUEUE_DRIVER_HI = 0x2c,
	VP_QUEUE_DEVICE_LO = 0x30,
	VP_QUEUE_DEVICE_HI = 0x34,
};

/* MSI-X table entry words. */
enum { MSIX_ADDR_LO, MSIX_ADDR_HI, MSIX_DATA, MSIX_CTRL };
#define MSIX_CTRL_MASKED 1u

struct virtio_pci {
	struct virtio_device *vdev;
	struct pci_device pci;
	struct pci_bus *bus;
	struct bus *mmio;
	struct irq_line irq;
	uint32_t gsi;
	struct msi_line msi;
	uint16_t msix_entries;

	/* Under the PCI bus lock: the BAR decode last asked for by the guest
	 * (memory enable and address), and whether it is on the MMIO bus. */
	bool decode;
	uint64_t decode_at;
	bool mapped;

	/* Under the device lock. msix_enabled, msix_masked and intx_disabled
	 * mirror configuration-space bits: the config hook (PCI lock, then
	 * device lock) copies them here so that interrupt delivery, which
	 * runs with only the device lock, never needs the PCI lock. */
	bool msix_enabled, msix_masked, intx_disabled;
	uint32_t msix_table[VP_MSIX_MAX][4];
	uint64_t msix_pending;
	bool intx_level; /* last level driven onto the line */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The PCI class code Linux and firmware use to pick a driver class. */
static uint32_t vp_class_code(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_GPU:
		return 0x038000; /* display, other */
	case VIRTIO_ID_INPUT:
		return 0x098000; /* input, other */
	case VIRTIO_ID_SOUND:
		return 0x040100; /* multimedia, audio */
	default:
		return 0x00ff00; /* unclassified */
	}
}

/* --- Interrupts (device lock held) --- */

static void vp_update_intx(struct virtio_pci *vp)
{
	bool level = vp->vdev->isr != 0 && !vp->msix_enabled && !vp->intx_disabled;
	if (level == vp->intx_level)
		return;
	vp->intx_level = level;
	if (vp->irq.set)
		vp->irq.set(vp->irq.opaque, vp->gsi, level);
}

static bool vp_vector_masked(const struct virtio_pci *vp, uint16_t vector)
{
	return vp->msix_masked || (vp->msix_table[vector][MSIX_CTRL] & MSIX_CTRL_MASKED);
}

static void vp_msix_signal(struct virtio_pci *vp, uint16_t vector)
{
	const uint32_t *e = vp->msix_table[vector];
	if (vp->msi.signal)
		vp->msi.signal(vp->msi.opaque, (uint64_t)e[MSIX_ADDR_HI] << 32 | e[MSIX_ADDR_LO], e[MSIX_DATA]);
}

static void vp_msix_send(struct virtio_pci *vp, uint16_t vector)
{
	if (vp_vector_masked(vp, vector))
		vp->msix_pending |= 1ull << vector;
	else
		vp_msix_signal(vp, vector);
}

/* Messages held back by a mask go out once nothing masks them. */
static void vp_msix_flush(struct virtio_pci *vp)
{
	if (!vp->msix_enabled)
		return;
	for (uint16_t v = 0; v < vp->msix_entries; v++) {
		if ((vp->msix_pending & (1ull << v)) && !vp_vector_masked(vp, v)) {
			vp->msix_pending &= ~(1ull << v);
			vp_msix_signal(vp, v);
		}
	}
}

void virtio_pci_interrupt(struct virtio_device *vdev, uint16_t vector)
{
	struct virtio_pci *vp = vdev->transport;
	if (vp->msix_enabled) {
		if (vector < vp->msix_entries)
			vp_msix_send(vp, vector);
		return;
	}
	vp_update_intx(vp);
}

/* --- Common configuration (device lock held) --- */

static struct virtqueue *vp_selected_queue(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;
	return vdev->queue_select < vdev->num_queues ? &vdev->queues[vdev->queue_select] : NULL;
}

static uint64_t vp_offered_features(const struct virtio_device *vdev)
{
	return vdev->device_features | 1ull << VIRTIO_F_VERSION_1;
}

static uint16_t vp_vector_or_none(const struct virtio_pci *vp, uint16_t vector)
{
	return vector < vp->msix_entries ? vector : VIRTIO_MSI_NO_VECTOR;
}

/* Each field answers only to an access of its own width at its own offset;
 * anything else reads 0. 64-bit fields are two 32-bit halves, as the spec
 * has drivers access them. */
static uint32_t vp_common_read(struct virtio_pci *vp, uint64_t off, uint32_t size)
{
	struct virtio_device *vdev = vp->vdev;
	struct virtqueue *vq = vp_selected_queue(vp);
	if (size == 4) {
		switch (off) {
		case VP_DEVICE_FEATURE_SELECT:
			return vdev->device_feature_select;
		case VP_DEVICE_FEATURE:
			if (vdev->device_feature_select > 1)
				return 0;
			return (uint32_t)(vp_offered_features(vdev) >> (32 * vdev->device_feature_select));
		case VP_DRIVER_FEATURE_SELECT:
			return vdev->driver_feature_select;
		case VP_DRIVER_FEATURE:
			if (vdev->driver_feature_select > 1)
				return 0;
			return (uint32_t)(vdev->driver_features >> (32 * vdev->driver_feature_select));
		case VP_QUEUE_DESC_LO:
			return vq ? (uint32_t)vq->desc_addr : 0;
		case VP_QUEUE_DESC_HI:
			return vq ? (uint32_t)(vq->desc_addr >> 32) : 0;
		case VP_QUEUE_DRIVER_LO:
			return vq ? (uint32_t)vq->avail_addr : 0;
		case VP_QUEUE_DRIVER_HI:
			return vq ? (uint32_t)(vq->avail_addr >> 32) : 0;
		case VP_QUEUE_DEVICE_LO:
			return vq ? (uint32_t)vq->used_addr : 0;
		case VP_QUEUE_DEVICE_HI:
			return vq ? (uint32_t)(vq->used_addr >> 32) : 0;
		}
	} else if (size == 2) {
		switch (off) {
		case VP_MSIX_CONFIG:
			return vdev->msix_config;
		case VP_NUM_QUEUES:
			return vdev->num_queues;
		case VP_QUEUE_SELECT:
			return vdev->queue_select;
		case VP_QUEUE_SIZE:
			return vq ? vq->size : 0;
		case VP_QUEUE_MSIX_VECTOR:
			return vq ? vq->msix_vector : VIRTIO_MSI_NO_VECTOR;
		case VP_QUEUE_ENABLE:
			return vq ? vq->enabled : 0;
		case VP_QUEUE_NOTIFY_OFF:
			return vq ? vq->index : 0;
		}
	} else if (size == 1) {
		switch (off) {
		case VP_DEVICE_STATUS:
			return vdev->status;
		case VP_CONFIG_GENERATION:
			return vdev->config_generation;
		}
	}
	return 0;
}

static bool vp_features_acceptable(const struct virtio_device *vdev)
{
	return !(vdev->driver_features & ~vp_offered_features(vdev)) &&
	       (vdev->driver_features & (1ull << VIRTIO_F_VERSION_1));
}

/* Status bits only accumulate until the guest writes 0 (reset); the device
 * decides FEATURES_OK and keeps NEEDS_RESET. */
static void vp_write_status(struct virtio_pci *vp, uint8_t value)
{
	struct virtio_device *vdev = vp->vdev;
	if (value == 0) {
		virtio_device_reset(vdev);
		return;
	}
	uint8_t old = vdev->status;
	uint8_t status = old | value;
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) && !vp_features_acceptable(vdev))
		status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	vdev->status = status;
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(status & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_mark_broken(vdev, "DRIVER_OK without FEATURES_OK");
			return;
		}
		if (!vdev->broken && vdev->ops && vdev->ops->driver_ok)
			vdev->ops->driver_ok(vdev);
	}
}

static void vp_set_addr_half(uint64_t *addr, bool high, uint32_t value)
{
	if (high)
		*addr = (*addr & 0xffffffffull) | (uint64_t)value << 32;
	else
		*addr = (*addr & ~0xffffffffull) | value;
}

static void vp_common_write(struct virtio_pci *vp, uint64_t off, uint32_t value, uint32_t size)
{
	struct virtio_device *vdev = vp->vdev;
	struct virtqueue *vq = vp_selected_queue(vp);
	/* Ring set-up is frozen while a queue runs: its host views were
	 * checked against these values. */
	struct virtqueue *setup = vq && !vq->enabled ? vq : NULL;
	if (size == 4) {
		switch (off) {
		case VP_DEVICE_FEATURE_SELECT:
			vdev->device_feature_select = value;
			break;
		case VP_DRIVER_FEATURE_SELECT:
			vdev->driver_feature_select = value;
			break;
		case VP_DRIVER_FEATURE:
			if (vdev->driver_feature_select > 1 || (vdev->status & VIRTIO_STATUS_FEATURES_OK))
				break;
			if (vdev->driver_feature_select == 0)
				vdev->driver_features = (vdev->driver_features & ~0xffffffffull) | value;
			else
				vdev->driver_features = (vdev->driver_features & 0xffffffffull) | (uint64_t)value << 32;
			break;
		case VP_QUEUE_DESC_LO:
		case VP_QUEUE_DESC_HI:
			if (setup)
				vp_set_addr_half(&setup->desc_addr, off == VP_QUEUE_DESC_HI, value);
			break;
		case VP_QUEUE_DRIVER_LO:
		case VP_QUEUE_DRIVER_HI:
			if (setup)
				vp_set_addr_half(&setup->avail_addr, off == VP_QUEUE_DRIVER_HI, value);
			break;
		case VP_QUEUE_DEVICE_LO:
		case VP_QUEUE_DEVICE_HI:
			if (setup)
				vp_set_addr_half(&setup->used_addr, off == VP_QUEUE_DEVICE_HI, value);
			break;
		}
	} else if (size == 2) {
		switch (off) {
		case VP_MSIX_CONFIG:
			vdev->msix_config = vp_vector_or_none(vp, (uint16_t)value);
			break;
		case VP_QUEUE_SELECT:
			vdev->queue_select = (uint16_t)value;
			break;
		case VP_QUEUE_SIZE:
			if (setup)
				setup->size = (uint16_t)value;
			break;
		case VP_QUEUE_MSIX_VECTOR:
			/* Routing only, so it may change on a running queue:
			 * Linux detaches vectors before it resets the device. */
			if (vq)
				vq->msix_vector = vp_vector_or_none(vp, (uint16_t)value);
			break;
		case VP_QUEUE_ENABLE:
			/* Writing 0 is not allowed to drivers without
			 * VIRTIO_F_RING_RESET (not offered); only a reset stops
			 * a queue. */
			if (setup && value == 1)
				virtq_enable(setup);
			break;
		}
	} else if (size == 1 && off == VP_DEVICE_STATUS) {
		vp_write_status(vp, (uint8_t)value);
	}
}

/* --- The rest of the BAR (device lock held) --- */

static void vp_notify(struct virtio_pci *vp, uint64_t off)
{
	struct virtio_device *vdev = vp->vdev;
	uint64_t index = (off - VP_NOTIFY) / VP_NOTIFY_MULT;
	if (index >= vdev->num_queues)
		return;
	struct virtqueue *vq = &vdev->queues[index];
	if (vq->enabled && virtio_device_live(vdev) && vdev->ops && vdev->ops->queue_notify)
		vdev->ops->queue_notify(vdev, vq);
}

static uint8_t vp_msix_read_byte(const struct virtio_pci *vp, uint64_t rel)
{
	uint64_t entry = rel / VP_MSIX_ENTRY_SIZE, byte = rel % VP_MSIX_ENTRY_SIZE;
	if (entry >= vp->msix_entries)
		return 0;
	return (uint8_t)(vp->msix_table[entry][byte / 4] >> (8 * (byte % 4)));
}

/* Only the mask bit of vector control is writable; the rest is reserved. */
static void vp_msix_write_byte(struct virtio_pci *vp, uint64_t rel, uint8_t value)
{
	uint64_t entry = rel / VP_MSIX_ENTRY_SIZE, byte = rel % VP_MSIX_ENTRY_SIZE;
	if (entry >= vp->msix_entries)
		return;
	uint32_t mask = byte / 4 == MSIX_CTRL ? (byte % 4 == 0 ? MSIX_CTRL_MASKED : 0) : 0xff;
	uint32_t shift = 8 * (byte % 4);
	uint32_t *word = &vp->msix_table[entry][byte / 4];
	*word = (*word & ~(mask << shift)) | (((uint32_t)value & mask) << shift);
}

static bool vp_in(uint64_t off, uint64_t base, uint64_t len)
{
	return off >= base && off - base < len;
}

static void vp_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *vdev = vp->vdev;
	memset(data, 0, size);
	virtio_lock(vdev);
	if (vp_in(off, VP_COMMON, VP_COMMON_LEN)) {
		uint32_t v = vp_common_read(vp, off - VP_COMMON, size);
		for (uint32_t i = 0; i < size && i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	} else if (off == VP_ISR) {
		/* Reading acknowledges: the bits clear and INTx drops. */
		data[0] = vdev->isr;
		vdev->isr = 0;
		vp_update_intx(vp);
	} else if (vp_in(off, VP_DEVICE, VP_DEVICE_MAX)) {
		uint64_t rel = off - VP_DEVICE;
		if (rel + size <= vdev->config_size && vdev->ops && vdev->ops->config_read)
			vdev->ops->config_read(vdev, (uint32_t)rel, data, size);
	} else if (vp_in(off, VP_MSIX_TABLE, VP_MSIX_PBA - VP_MSIX_TABLE)) {
		for (uint32_t i = 0; i < size; i++)
			data[i] = vp_msix_read_byte(vp, off - VP_MSIX_TABLE + i);
	} else if (vp_in(off, VP_MSIX_PBA, sizeof(vp->msix_pending))) {
		for (uint32_t i = 0; i < size && off - VP_MSIX_PBA + i < sizeof(vp->msix_pending); i++)
			data[i] = (uint8_t)(vp->msix_pending >> (8 * (off - VP_MSIX_PBA + i)));
	}
	virtio_unlock(vdev);
}

static void vp_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t size)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *vdev = vp->vdev;
	virtio_lock(vdev);
	if (vp_in(off, VP_COMMON, VP_COMMON_LEN)) {
		uint32_t v = 0;
		for (uint32_t i = 0; i < size && i < 4; i++)
			v |= (uint32_t)data[i] << (8 * i);
		vp_common_write(vp, off - VP_COMMON, v, size);
	} else if (vp_in(off, VP_DEVICE, VP_DEVICE_MAX)) {
		uint64_t rel = off - VP_DEVICE;
		if (rel + size <= vdev->config_size && vdev->ops && vdev->ops->config_write)
			vdev->ops->config_write(vdev, (uint32_t)rel, data, size);
	} else if (vp_in(off, VP_NOTIFY, VP_MSIX_TABLE - VP_NOTIFY)) {
		vp_notify(vp, off);
	} else if (vp_in(off, VP_MSIX_TABLE, VP_MSIX_PBA - VP_MSIX_TABLE)) {
		for (uint32_t i = 0; i < size; i++)
			vp_msix_write_byte(vp, off - VP_MSIX_TABLE + i, data[i]);
		vp_msix_flush(vp);
	}
	virtio_unlock(vdev);
}

static const struct bus_ops vp_bar_ops = {
    .read = vp_bar_read,
    .write = vp_bar_write,
};

/* --- Configuration space (PCI bus lock held) --- */

/* BAR0 is served at its address only while memory decoding is on. A
 * registration that fails (the guest aimed the BAR at another device) is
 * not retried until the guest changes the address or the enable bit. */
static void vp_update_decode(struct virtio_pci *vp)
{
	const uint8_t *cfg = vp->pci.config;
	bool decode = get16(&cfg[PCI_COMMAND]) & PCI_COMMAND_MEMORY;
	uint64_t at = (uint64_t)get32(&cfg[PCI_BAR1]) << 32 | (get32(&cfg[PCI_BAR0]) & ~0xfu);
	if (decode == vp->decode && at == vp->decode_at)
		return;
	if (vp->mapped) {
		bus_unregister(vp->mmio, vp->decode_at);
		vp->mapped = false;
	}
	vp->decode = decode;
	vp->decode_at = at;
	if (decode)
		vp->mapped = bus_register(vp->mmio, at, VIRTIO_PCI_BAR_SIZE, &vp_bar_ops, vp, vp->vdev->name) == 0;
}

static bool vp_touches(uint32_t offset, uint32_t size, uint32_t reg, uint32_t len)
{
	return offset < reg + len && reg < offset + size;
}

static void vp_config_write(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t size)
{
	(void)value; /* config[] already holds the result of the write */
	struct virtio_pci *vp = dev->opaque;
	bool command = vp_touches(offset, size, PCI_COMMAND, 2);
	bool msix = vp_touches(offset, size, VP_CAP_MSIX + 2, 2);
	if (command || vp_touches(offset, size, PCI_BAR0, 8))
		vp_update_decode(vp);
	if (!command && !msix)
		return;
	uint16_t control = get16(&dev->config[VP_CAP_MSIX + 2]);
	virtio_lock(vp->vdev);
	vp->intx_disabled = get16(&dev->config[PCI_COMMAND]) & PCI_COMMAND_INTX_DISABLE;
	vp->msix_enabled = control & PCI_MSIX_ENABLE;
	vp->msix_masked = control & PCI_MSIX_MASKALL;
	vp_msix_flush(vp);
	vp_update_intx(vp);
	virtio_unlock(vp->vdev);
}

static const struct pci_device_ops vp_pci_ops = {
    .config_write = vp_config_write,
};

static void vp_put_cap(uint8_t *cfg, uint8_t at, uint8_t next, uint8_t len, uint8_t type, uint32_t offset,
		       uint32_t length)
{
	cfg[at] = PCI_CAP_ID_VENDOR;
	cfg[at + 1] = next;
	cfg[at + 2] = len;
	cfg[at + 3] = type;
	cfg[at + 4] = 0; /* BAR0 */
	put32(&cfg[at + 8], offset);
	put32(&cfg[at + 12], length);
}

static void vp_build_config(struct virtio_pci *vp, uint64_t bar_address, uint32_t gsi)
{
	struct virtio_device *vdev = vp->vdev;
	struct pci_device *dev = &vp->pci;
	pci_device_init(dev, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vdev->device_id),
			vp_class_code(vdev->device_id));
	dev->ops = &vp_pci_ops;
	dev->opaque = vp;
	uint8_t *cfg = dev->config, *wr = dev->writable;
	put16(&cfg[PCI_STATUS], PCI_STATUS_CAP_LIST);
	cfg[PCI_REVISION_ID] = 1; /* modern-only devices have revision 1 or more */

	/* A 64-bit BAR: the writable bits above the size make sizing work. */
	put32(&cfg[PCI_BAR0], (uint32_t)bar_address | PCI_BAR_MEM_64);
	put32(&cfg[PCI_BAR1], (uint32_t)(bar_address >> 32));
	put32(&wr[PCI_BAR0], ~(VIRTIO_PCI_BAR_SIZE - 1));
	put32(&wr[PCI_BAR1], 0xffffffff);
	vp->decode_at = bar_address;

	cfg[PCI_INTERRUPT_LINE] = (uint8_t)gsi;
	cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
	cfg[PCI_CAPABILITY_LIST] = VP_CAP_MSIX;

	cfg[VP_CAP_MSIX] = PCI_CAP_ID_MSIX;
	cfg[VP_CAP_MSIX + 1] = VP_CAP_COMMON;
	put16(&cfg[VP_CAP_MSIX + 2], (uint16_t)(vp->msix_entries - 1));
	put16(&wr[VP_CAP_MSIX + 2], PCI_MSIX_ENABLE | PCI_MSIX_MASKALL);
	put32(&cfg[VP_CAP_MSIX + 4], VP_MSIX_TABLE); /* BIR 0 */
	put32(&cfg[VP_CAP_MSIX + 8], VP_MSIX_PBA);

	vp_put_cap(cfg, VP_CAP_COMMON, VP_CAP_NOTIFY, VP_CAP_LEN, VIRTIO_PCI_CAP_COMMON_CFG, VP_COMMON, VP_COMMON_LEN);
	vp_put_cap(cfg, VP_CAP_NOTIFY, VP_CAP_ISR, VP_CAP_NOTIFY_LEN, VIRTIO_PCI_CAP_NOTIFY_CFG, VP_NOTIFY,
		   (uint32_t)vdev->num_queues * VP_NOTIFY_MULT);
	put32(&cfg[VP_CAP_NOTIFY + 16], VP_NOTIFY_MULT);
	/* A device without configuration has no device capability. */
	bool device_cfg = vdev->config_size > 0;
	vp_put_cap(cfg, VP_CAP_ISR, device_cfg ? VP_CAP_DEVICE : 0, VP_CAP_LEN, VIRTIO_PCI_CAP_ISR_CFG, VP_ISR, 1);
	if (device_cfg)
		vp_put_cap(cfg, VP_CAP_DEVICE, 0, VP_CAP_LEN, VIRTIO_PCI_CAP_DEVICE_CFG, VP_DEVICE, vdev->config_size);
}

int virtio_pci_init(struct virtio_device *vdev, const struct virtio_pci_config *cfg)
{
	if (!cfg->pci || !cfg->mmio || vdev->num_queues == 0 || vdev->num_queues > VIRTIO_MAX_QUEUES ||
	    vdev->config_size > VP_DEVICE_MAX || cfg->bar_address % VIRTIO_PCI_BAR_SIZE)
		return -EINVAL;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	virtio_device_init(vdev, cfg->memory);
	vp->vdev = vdev;
	vp->bus = cfg->pci;
	vp->mmio = cfg->mmio;
	vp->irq = cfg->irq;
	vp->gsi = cfg->gsi;
	vp->msi = cfg->msi;
	vp->msix_entries = (uint16_t)(vdev->num_queues + 1);
	/* Entries start masked (PCI 3.0 6.8.2.9). */
	for (uint16_t v = 0; v < vp->msix_entries; v++)
		vp->msix_table[v][MSIX_CTRL] = MSIX_CTRL_MASKED;
	vp_build_config(vp, cfg->bar_address, cfg->gsi);
	vdev->transport = vp;
	int slot = pci_add_device(cfg->pci, &vp->pci);
	if (slot < 0) {
		vdev->transport = NULL;
		pthread_mutex_destroy(&vdev->lock);
		free(vp);
		return slot;
	}
	return 0;
}

void virtio_pci_destroy(struct virtio_device *vdev)
{
	struct virtio_pci *vp = vdev->transport;
	if (!vp)
		return;
	/* Off the PCI bus first, so no config hook can map the BAR again. */
	pci_remove_device(vp->bus, &vp->pci);
	if (vp->mapped)
		bus_unregister(vp->mmio, vp->decode_at);
	vdev->transport = NULL;
	free(vp);
	pthread_mutex_destroy(&vdev->lock);
}

void virtio_pci_save(struct virtio_device *vdev, struct snap_buf *out)
{
	struct virtio_pci *vp = vdev->transport;
	snap_put_u32(out, (uint32_t)vp->pci.slot);
	snap_put_bytes(out, vp->pci.config, sizeof(vp->pci.config));
	snap_put_u16(out, vp->msix_entries);
	for (uint16_t v = 0; v < vp->msix_entries; v++)
		for (int w = 0; w < 4; w++)
			snap_put_u32(out, vp->msix_table[v][w]);
	snap_put_u64(out, vp->msix_pending);
	snap_put_u8(out, vp->intx_level);
}

int virtio_pci_load(struct virtio_device *vdev, struct snap_cursor *in)
{
	struct virtio_pci *vp = vdev->transport;
	uint32_t slot = snap_get_u32(in);
	uint8_t config[PCI_CONFIG_SIZE];
	snap_get_bytes(in, config, sizeof(config));
	uint16_t entries = snap_get_u16(in);
	if (in->failed || slot != (uint32_t)vp->pci.slot || entries != vp->msix_entries)
		return -EINVAL;
	uint32_t table[VP_MSIX_MAX][4];
	for (uint16_t v = 0; v < entries; v++)
		for (int w = 0; w < 4; w++)
			table[v][w] = snap_get_u32(in);
	uint64_t pending = snap_get_u64(in);
	uint8_t intx_level = snap_get_u8(in);
	if (in->failed || pending >> entries || intx_level > 1)
		return -EINVAL;
	for (uint16_t v = 0; v < entries; v++)
		if (table[v][MSIX_CTRL] & ~MSIX_CTRL_MASKED)
			return -EINVAL;
	if (vp_vector_or_none(vp, vdev->msix_config) != vdev->msix_config)
		return -EINVAL;
	for (uint16_t i = 0; i < vdev->num_queues; i++)
		if (vp_vector_or_none(vp, vdev->queues[i].msix_vector) != vdev->queues[i].msix_vector)
			return -EINVAL;
	/* Only bits the guest may write come from the file: ids, capabilities
	 * and the BAR's size stay what this vdi-vmm builds. */
	for (int i = 0; i < PCI_CONFIG_SIZE; i++) {
		uint8_t mask = vp->pci.writable[i];
		vp->pci.config[i] = (uint8_t)((config[i] & mask) | (vp->pci.config[i] & ~mask));
	}
	memcpy(vp->msix_table, table, sizeof(table[0]) * entries);
	vp->msix_pending = pending;
	uint16_t control = get16(&vp->pci.config[VP_CAP_MSIX + 2]);
	vp->intx_disabled = get16(&vp->pci.config[PCI_COMMAND]) & PCI_COMMAND_INTX_DISABLE;
	vp->msix_enabled = control & PCI_MSIX_ENABLE;
	vp->msix_masked = control & PCI_MSIX_MASKALL;
	/* The in-kernel irqchip comes back with the line at this level. */
	vp->intx_level = intx_level;
	vp_update_decode(vp);
	return 0;
}
