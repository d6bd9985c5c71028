/* pci.c — PCI bus 0 behind configuration mechanism #1 (ports 0xcf8/0xcfc),
 * with the host bridge at 00:00.0. */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PCI_ADDR_ENABLE 0x80000000u
/* Bus, device, function and dword-aligned register; reserved bits 30:24 and
 * the two low bits read back as zero. */
#define PCI_ADDR_MASK   0x80fffffcu

#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_LATENCY_TIMER       0x0d
#define PCI_HEADER_TYPE         0x0e
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO           0x0001
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_MASTER       0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_COMMAND_WRITABLE     (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

#define PCI_CLASS_HOST_BRIDGE 0x060000

struct pci_bus {
	pthread_mutex_t lock; /* the address latch, the slots and every device's config[] */
	struct bus *pio;
	uint32_t address;
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device host;
};

static void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void pci_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code)
{
	memset(dev, 0, sizeof(*dev));
	dev->slot = -1;
	pci_put16(&dev->config[PCI_VENDOR_ID], vendor);
	pci_put16(&dev->config[PCI_DEVICE_ID], device);
	pci_put16(&dev->config[PCI_STATUS], 0); /* no capability list, no errors */
	pci_put32(&dev->config[PCI_REVISION_ID], (class_code & 0xffffff) << 8);
	dev->config[PCI_HEADER_TYPE] = 0; /* type 0, single function */
	pci_put16(&dev->config[PCI_SUBSYSTEM_VENDOR_ID], vendor);
	pci_put16(&dev->config[PCI_SUBSYSTEM_ID], device);
	dev->config[PCI_INTERRUPT_PIN] = 0;

	pci_put16(&dev->writable[PCI_COMMAND], PCI_COMMAND_WRITABLE);
	dev->writable[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->writable[PCI_LATENCY_TIMER] = 0xff;
	dev->writable[PCI_INTERRUPT_LINE] = 0xff;
}

int pci_add_device(struct pci_bus *pci, struct pci_device *dev)
{
	if (!dev)
		return -EINVAL;
	int slot = -ENOSPC;
	pthread_mutex_lock(&pci->lock);
	for (int i = 0; i < PCI_MAX_SLOTS; i++) {
		if (pci->slots[i] == dev) {
			slot = -EEXIST;
			break;
		}
		if (!pci->slots[i] && slot == -ENOSPC)
			slot = i;
	}
	if (slot >= 0) {
		pci->slots[slot] = dev;
		dev->slot = slot;
	}
	pthread_mutex_unlock(&pci->lock);
	return slot;
}

int pci_remove_device(struct pci_bus *pci, struct pci_device *dev)
{
	int err = -ENOENT;
	pthread_mutex_lock(&pci->lock);
	if (dev && dev != &pci->host && dev->slot >= 0 && dev->slot < PCI_MAX_SLOTS && pci->slots[dev->slot] == dev) {
		pci->slots[dev->slot] = NULL;
		dev->slot = -1;
		err = 0;
	}
	pthread_mutex_unlock(&pci->lock);
	return err;
}

/* The device the latched address selects, or NULL: mechanism #1 disabled,
 * another bus, a function other than 0 (nothing is multi-function) or an
 * empty slot all read as no device. */
static struct pci_device *pci_selected(const struct pci_bus *pci)
{
	uint32_t a = pci->address;
	if (!(a & PCI_ADDR_ENABLE))
		return NULL;
	unsigned bus = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, function = (a >> 8) & 0x7;
	if (bus != 0 || function != 0)
		return NULL;
	return pci->slots[slot];
}

static uint32_t pci_config_read(struct pci_device *dev, uint32_t offset, uint32_t size)
{
	uint32_t value = 0;
	for (uint32_t i = 0; i < size; i++)
		value |= (uint32_t)dev->config[offset + i] << (8 * i);
	if (dev->ops && dev->ops->config_read)
		value = dev->ops->config_read(dev, offset, size);
	return value;
}

/* Only the bits `writable` allows change, so BAR sizing (write all-ones,
 * read back the mask) falls out of a BAR's writable mask; the device hook
 * then sees the result, e.g. to move a BAR's range. */
static void pci_config_write(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		uint8_t mask = dev->writable[offset + i];
		uint8_t byte = (uint8_t)(value >> (8 * i));
		dev->config[offset + i] = (uint8_t)((byte & mask) | (dev->config[offset + i] & ~mask));
	}
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, offset, value, size);
}

static bool pci_size_ok(uint64_t offset, uint32_t size)
{
	/* x86 port I/O is 1, 2 or 4 bytes; anything else, or an access leaving
	 * the dword, is not a configuration cycle. */
	return (size == 1 || size == 2 || size == 4) && offset + size <= 4;
}

static void pci_fill(uint8_t *data, uint32_t size, uint32_t value)
{
	for (uint32_t i = 0; i < size; i++)
		data[i] = i < 4 ? (uint8_t)(value >> (8 * i)) : 0xff;
}

/* 0xcf8 latches only on 32-bit accesses; narrower ones belong to other
 * chipset registers on real PCs and hit nothing here. */
static void pci_address_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct pci_bus *pci = opaque;
	if (offset != 0 || size != 4) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&pci->lock);
	uint32_t a = pci->address;
	pthread_mutex_unlock(&pci->lock);
	pci_fill(data, size, a);
}

static void pci_address_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct pci_bus *pci = opaque;
	if (offset != 0 || size != 4)
		return;
	uint32_t a = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	pthread_mutex_lock(&pci->lock);
	pci->address = a & PCI_ADDR_MASK;
	pthread_mutex_unlock(&pci->lock);
}

/* Data port byte `offset` reaches config register (address & 0xfc) + offset. */
static void pci_data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct pci_bus *pci = opaque;
	uint32_t value = 0xffffffff;
	if (pci_size_ok(offset, size)) {
		pthread_mutex_lock(&pci->lock);
		struct pci_device *dev = pci_selected(pci);
		if (dev)
			value = pci_config_read(dev, (pci->address & 0xfc) + (uint32_t)offset, size);
		pthread_mutex_unlock(&pci->lock);
	}
	pci_fill(data, size, value);
}

static void pci_data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct pci_bus *pci = opaque;
	if (!pci_size_ok(offset, size))
		return;
	uint32_t value = 0;
	for (uint32_t i = 0; i < size; i++)
		value |= (uint32_t)data[i] << (8 * i);
	pthread_mutex_lock(&pci->lock);
	struct pci_device *dev = pci_selected(pci);
	if (dev)
		pci_config_write(dev, (pci->address & 0xfc) + (uint32_t)offset, value, size);
	pthread_mutex_unlock(&pci->lock);
}

static const struct bus_ops pci_address_ops = {
    .read = pci_address_read,
    .write = pci_address_write,
};

static const struct bus_ops pci_data_ops = {
    .read = pci_data_read,
    .write = pci_data_write,
};

struct pci_bus *pci_create(struct bus *pio)
{
	struct pci_bus *pci = calloc(1, sizeof(*pci));
	if (!pci)
		return NULL;
	pthread_mutex_init(&pci->lock, NULL);
	pci->pio = pio;
	pci_device_init(&pci->host, PCI_HOST_VENDOR, PCI_HOST_DEVICE, PCI_CLASS_HOST_BRIDGE);
	pci->host.slot = 0;
	pci->slots[0] = &pci->host;
	int err = bus_register(pio, PCI_CONFIG_ADDRESS, 4, &pci_address_ops, pci, "pci address");
	if (!err) {
		err = bus_register(pio, PCI_CONFIG_DATA, 4, &pci_data_ops, pci, "pci data");
		if (err)
			bus_unregister(pio, PCI_CONFIG_ADDRESS);
	}
	if (err) {
		pthread_mutex_destroy(&pci->lock);
		free(pci);
		errno = -err;
		return NULL;
	}
	return pci;
}

void pci_destroy(struct pci_bus *pci)
{
	if (!pci)
		return;
	bus_unregister(pci->pio, PCI_CONFIG_ADDRESS);
	bus_unregister(pci->pio, PCI_CONFIG_DATA);
	pthread_mutex_destroy(&pci->lock);
	free(pci);
}

void pci_save(struct pci_bus *pci, struct snap_buf *out)
{
	pthread_mutex_lock(&pci->lock);
	snap_put_u32(out, pci->address);
	snap_put_bytes(out, pci->host.config, sizeof(pci->host.config));
	pthread_mutex_unlock(&pci->lock);
}

int pci_load(struct pci_bus *pci, struct snap_cursor *in)
{
	uint32_t address = snap_get_u32(in);
	uint8_t config[PCI_CONFIG_SIZE];
	snap_get_bytes(in, config, sizeof(config));
	if (!snap_cursor_done(in) || address & ~PCI_ADDR_MASK)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	pci->address = address;
	/* Only what the guest could have written comes from the file; the
	 * rest (ids, class) stays what this vdi-vmm builds. */
	for (int i = 0; i < PCI_CONFIG_SIZE; i++) {
		uint8_t mask = pci->host.writable[i];
		pci->host.config[i] = (uint8_t)((config[i] & mask) | (pci->host.config[i] & ~mask));
	}
	pthread_mutex_unlock(&pci->lock);
	return 0;
}
