/* virtio.c — the guest's virtio 1.x modern PCI transport (virtio 1.2 section
 * 4.1): finding a device on bus 0, the capability walk, the status dance,
 * split virtqueues and MSI-X. Runs in CPL3 (ports through the TSS bitmap,
 * BARs through user-accessible pages). */
#include "virtio.h"

#include "arch.h"
#include "drivers.h"
#include "guest.h"

#define EIO       5
#define ENODEV    19
#define ETIMEDOUT 110

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_ENABLE         0x80000000u
#define PCI_SLOTS          32
#define PCI_ID             0x00
#define PCI_COMMAND        0x04
#define PCI_STATUS         0x06
#define PCI_BAR0           0x10
#define PCI_CAP_PTR        0x34
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_STATUS_CAPS    0x0010
#define PCI_BAR_IO         0x1
#define PCI_BAR_64         0x4
#define PCI_CAP_VENDOR     0x09
#define PCI_CAP_MSIX       0x11
#define PCI_CAPS_MAX       48 /* configuration space has room for no more */

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_CAP_COMMON      1
#define VIRTIO_CAP_NOTIFY      2
#define VIRTIO_CAP_ISR         3
#define VIRTIO_CAP_DEVICE      4

#define MSIX_CONTROL      2
#define MSIX_TABLE        4
#define MSIX_ENABLE       0x8000
#define MSIX_MASK_ALL     0x4000
#define MSIX_ENTRY_DATA   8
#define MSIX_ENTRY_CTRL   12
#define MSIX_ADDRESS_CPU0 0xfee00000u /* fixed delivery, physical, APIC id 0 */
#define VIRTIO_NO_VECTOR  0xffff

/* Common configuration (virtio 1.2 4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE        0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE        0x0c
#define COMMON_MSIX_CONFIG           0x10
#define COMMON_NUM_QUEUES            0x12
#define COMMON_STATUS                0x14
#define COMMON_QUEUE_SELECT          0x16
#define COMMON_QUEUE_SIZE            0x18
#define COMMON_QUEUE_MSIX_VECTOR     0x1a
#define COMMON_QUEUE_ENABLE          0x1c
#define COMMON_QUEUE_NOTIFY_OFF      0x1e
#define COMMON_QUEUE_DESC            0x20
#define COMMON_QUEUE_DRIVER          0x28
#define COMMON_QUEUE_DEVICE          0x30

/* The VMM answers during the notify write, so an answer not there after
 * this many polls is waiting for something else: fall back to halting. */
#define VIRTQ_SPIN_LIMIT 1000u
#define VIRTQ_WAIT_TICKS 2u
#define RESET_POLL_LIMIT 100000u

static void mmio_write8(uintptr_t addr, uint8_t value)
{
	*(volatile uint8_t *)addr = value;
}

static void mmio_write16(uintptr_t addr, uint16_t value)
{
	*(volatile uint16_t *)addr = value;
}

static uint32_t pci_read32(unsigned slot, unsigned offset)
{
	outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | slot << 11 | (offset & 0xfc));
	return inl(PCI_CONFIG_DATA);
}

static uint16_t pci_read16(unsigned slot, unsigned offset)
{
	return (uint16_t)(pci_read32(slot, offset) >> (8 * (offset & 2)));
}

static uint8_t pci_read8(unsigned slot, unsigned offset)
{
	return (uint8_t)(pci_read32(slot, offset) >> (8 * (offset & 3)));
}

static void pci_write16(unsigned slot, unsigned offset, uint16_t value)
{
	outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | slot << 11 | (offset & 0xfc));
	outw((uint16_t)(PCI_CONFIG_DATA + (offset & 2)), value);
}

static uint64_t pci_bar_address(unsigned slot, unsigned bar)
{
	if (bar > 5)
		return 0;
	uint32_t low = pci_read32(slot, PCI_BAR0 + 4 * bar);
	if (low & PCI_BAR_IO)
		return 0;
	uint64_t address = low & ~0xfu;
	if ((low & 0x6) == PCI_BAR_64 && bar < 5)
		address |= (uint64_t)pci_read32(slot, PCI_BAR0 + 4 * (bar + 1)) << 32;
	return address;
}

/* The address a virtio capability points at, or 0 outside the 4 GiB that
 * the page tables map. */
static uintptr_t virtio_cap_address(unsigned slot, unsigned cap)
{
	uint64_t base = pci_bar_address(slot, pci_read8(slot, cap + 4));
	uint64_t address = base + pci_read32(slot, cap + 8);
	return base && address < 0x100000000ull ? (uintptr_t)address : 0;
}

static int virtio_map_caps(struct virtio_dev *dev)
{
	unsigned slot = dev->slot;
	if (!(pci_read16(slot, PCI_STATUS) & PCI_STATUS_CAPS))
		return -EIO;
	unsigned cap = pci_read8(slot, PCI_CAP_PTR) & 0xfc;
	for (int n = 0; cap && n < PCI_CAPS_MAX; n++) {
		uint8_t id = pci_read8(slot, cap);
		if (id == PCI_CAP_MSIX) {
			dev->msix_cap = (uint8_t)cap;
			uint32_t table = pci_read32(slot, cap + MSIX_TABLE);
			uint64_t base = pci_bar_address(slot, table & 7);
			dev->msix_table = base ? (uintptr_t)(base + (table & ~7u)) : 0;
		} else if (id == PCI_CAP_VENDOR) {
			uintptr_t address = virtio_cap_address(slot, cap);
			switch (pci_read8(slot, cap + 3)) {
			case VIRTIO_CAP_COMMON:
				dev->common = address;
				break;
			case VIRTIO_CAP_NOTIFY:
				dev->notify_base = address;
				dev->notify_multiplier = pci_read32(slot, cap + 16);
				break;
			case VIRTIO_CAP_ISR:
				dev->isr = address;
				break;
			case VIRTIO_CAP_DEVICE:
				dev->device = address;
				break;
			}
		}
		cap = pci_read8(slot, cap + 1) & 0xfc;
	}
	/* A device without configuration (virtio-rng) has no DEVICE capability. */
	return dev->common && dev->notify_base && dev->isr ? 0 : -EIO;
}

int virtio_find(struct virtio_dev *dev, uint16_t device_id, unsigned nth)
{
	*dev = (struct virtio_dev){.device_id = device_id};
	uint32_t want = (uint32_t)(VIRTIO_PCI_DEVICE_BASE + device_id) << 16 | VIRTIO_PCI_VENDOR;
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		if (pci_read32(slot, PCI_ID) != want || nth--)
			continue;
		dev->slot = (uint8_t)slot;
		uint16_t command = pci_read16(slot, PCI_COMMAND);
		pci_write16(slot, PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		return virtio_map_caps(dev);
	}
	return -ENODEV;
}

uint8_t virtio_status(const struct virtio_dev *dev)
{
	return mmio_read8(dev->common + COMMON_STATUS);
}

static void virtio_set_status(struct virtio_dev *dev, uint8_t bits)
{
	mmio_write8(dev->common + COMMON_STATUS, (uint8_t)(virtio_status(dev) | bits));
}

/* Writing 0 resets; the device reports 0 once it has finished. */
void virtio_reset(struct virtio_dev *dev)
{
	mmio_write8(dev->common + COMMON_STATUS, 0);
	for (uint32_t i = 0; i < RESET_POLL_LIMIT && virtio_status(dev); i++)
		cpu_relax();
	for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++)
		dev->queues[q].size = 0;
}

static uint64_t virtio_device_features(struct virtio_dev *dev)
{
	mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 0);
	uint64_t low = mmio_read32(dev->common + COMMON_DEVICE_FEATURE);
	mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 1);
	return (uint64_t)mmio_read32(dev->common + COMMON_DEVICE_FEATURE) << 32 | low;
}

static void virtio_msix_setup(struct virtio_dev *dev, uint8_t vector)
{
	dev->vector = vector;
	if (!vector || !dev->msix_cap || !dev->msix_table)
		return;
	mmio_write32(dev->msix_table, MSIX_ADDRESS_CPU0);
	mmio_write32(dev->msix_table + 4, 0);
	mmio_write32(dev->msix_table + MSIX_ENTRY_DATA, vector);
	mmio_write32(dev->msix_table + MSIX_ENTRY_CTRL, 0);
	uint16_t control = pci_read16(dev->slot, dev->msix_cap + MSIX_CONTROL);
	pci_write16(dev->slot, dev->msix_cap + MSIX_CONTROL, (uint16_t)((control | MSIX_ENABLE) & ~MSIX_MASK_ALL));
	mmio_write16(dev->common + COMMON_MSIX_CONFIG, 0);
}

int virtio_start(struct virtio_dev *dev, uint64_t wanted, uint8_t vector)
{
	virtio_reset(dev);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_DRIVER);
	uint64_t offered = virtio_device_features(dev);
	uint64_t version_1 = 1ull << VIRTIO_F_VERSION_1;
	if (!(offered & version_1)) {
		virtio_set_status(dev, VIRTIO_STATUS_FAILED);
		return -EIO;
	}
	dev->features = (offered & wanted) | version_1;
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 0);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)dev->features);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 1);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)(dev->features >> 32));
	virtio_set_status(dev, VIRTIO_STATUS_FEATURES_OK);
	if (!(virtio_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_set_status(dev, VIRTIO_STATUS_FAILED);
		return -EIO;
	}
	virtio_msix_setup(dev, vector);
	return 0;
}

static void mmio_write64(uintptr_t addr, uint64_t value)
{
	mmio_write32(addr, (uint32_t)value);
	mmio_write32(addr + 4, (uint32_t)(value >> 32));
}

int virtio_queue_setup(struct virtio_dev *dev, uint16_t index, uint16_t size)
{
	if (index >= VIRTIO_QUEUES_MAX || size == 0 || size > VIRTQ_SIZE_MAX || (size & (size - 1)))
		return -EIO;
	mmio_write16(dev->common + COMMON_QUEUE_SELECT, index);
	uint16_t max = mmio_read16(dev->common + COMMON_QUEUE_SIZE);
	while (size > max)
		size >>= 1;
	if (!size)
		return -EIO;
	/* Descriptors at 0 (16 bytes each), available ring at 1 KiB, used ring
	 * at 2 KiB: the alignments the spec asks for, in one page. */
	uint8_t *rings = page_alloc(4096);
	if (!rings)
		return -EIO;
	struct virtq *vq = &dev->queues[index];
	*vq = (struct virtq){
	    .index = index,
	    .size = size,
	    .desc = (struct virtq_desc *)rings,
	    .avail = (struct virtq_avail *)(rings + 1024),
	    .used = (struct virtq_used *)(rings + 2048),
	};
	uint16_t notify_off = mmio_read16(dev->common + COMMON_QUEUE_NOTIFY_OFF);
	vq->notify = dev->notify_base + (uintptr_t)notify_off * dev->notify_multiplier;
	mmio_write16(dev->common + COMMON_QUEUE_SIZE, size);
	mmio_write16(dev->common + COMMON_QUEUE_MSIX_VECTOR, dev->vector ? 0 : VIRTIO_NO_VECTOR);
	mmio_write64(dev->common + COMMON_QUEUE_DESC, (uintptr_t)vq->desc);
	mmio_write64(dev->common + COMMON_QUEUE_DRIVER, (uintptr_t)vq->avail);
	mmio_write64(dev->common + COMMON_QUEUE_DEVICE, (uintptr_t)vq->used);
	mmio_write16(dev->common + COMMON_QUEUE_ENABLE, 1);
	return 0;
}

void virtio_driver_ok(struct virtio_dev *dev)
{
	virtio_set_status(dev, VIRTIO_STATUS_DRIVER_OK);
}

uint8_t virtio_config_read8(const struct virtio_dev *dev, uint32_t offset)
{
	return dev->device ? mmio_read8(dev->device + offset) : 0;
}

uint32_t virtio_config_read32(const struct virtio_dev *dev, uint32_t offset)
{
	return dev->device ? mmio_read32(dev->device + offset) : 0;
}

void virtio_config_write8(const struct virtio_dev *dev, uint32_t offset, uint8_t value)
{
	if (dev->device)
		mmio_write8(dev->device + offset, value);
}

void virtio_config_write32(const struct virtio_dev *dev, uint32_t offset, uint32_t value)
{
	if (dev->device)
		mmio_write32(dev->device + offset, value);
}

void virtq_publish(struct virtq *vq, uint16_t head)
{
	uint16_t idx = vq->avail->idx;
	vq->avail->ring[idx % vq->size] = head;
	/* The ring entry (and the descriptors) before the index that shows it. */
	__atomic_store_n(&vq->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	mmio_write16(vq->notify, vq->index);
}

bool virtq_take_used(struct virtq *vq, struct virtq_used_elem *elem)
{
	if (!vq->size || __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) == vq->used_seen)
		return false;
	*elem = vq->used->ring[vq->used_seen % vq->size];
	vq->used_seen++;
	return true;
}

int virtq_wait_used(struct virtio_dev *dev, struct virtq *vq, struct virtq_used_elem *elem)
{
	for (uint32_t i = 0; i < VIRTQ_SPIN_LIMIT; i++) {
		if (virtq_take_used(vq, elem))
			return 0;
		cpu_relax();
	}
	unsigned ticks = 0;
	for (;;) {
		if (virtq_take_used(vq, elem))
			return 0;
		if (virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET)
			return -EIO;
		if (ticks == VIRTQ_WAIT_TICKS)
			return -ETIMEDOUT;
		if (sys_wait_keep() & EVENT_TIMER)
			ticks++;
	}
}

int virtq_request(struct virtio_dev *dev, struct virtq *vq, const void *req, uint32_t req_len, void *resp,
		  uint32_t resp_len)
{
	vq->desc[0] = (struct virtq_desc){
	    .addr = (uintptr_t)req,
	    .len = req_len,
	    .flags = resp_len ? VIRTQ_DESC_F_NEXT : 0,
	    .next = 1,
	};
	vq->desc[1] = (struct virtq_desc){.addr = (uintptr_t)resp, .len = resp_len, .flags = VIRTQ_DESC_F_WRITE};
	virtq_publish(vq, 0);
	struct virtq_used_elem elem;
	int r = virtq_wait_used(dev, vq, &elem);
	return r < 0 ? r : (int)elem.len;
}
