/* virtio_guest.h — for the virtio unit tests: a PCI bus, an MMIO bus, guest
 * RAM and recording interrupt lines, and a small guest driver that sets a
 * virtio-pci device up through configuration cycles and BAR accesses the
 * way Linux does. Needs cmocka included first. */
#ifndef VDI_TESTS_UNIT_VIRTIO_GUEST_H
#define VDI_TESTS_UNIT_VIRTIO_GUEST_H

#include "../../hypervisor/devices/devices.h"

#include <stdlib.h>
#include <string.h>

#define VG_MEM_SIZE (1u << 20)
#define VG_BAR      0xc0000000ull
#define VG_GSI      10
#define VG_SLOT     1 /* the first slot after the host bridge */
#define VG_MSI_MAX  64

/* Ring and buffer addresses the driver uses, per queue q: rings at
 * VG_RINGS + q * 0x4000, buffers from VG_DATA. */
#define VG_RINGS 0x10000u
#define VG_DATA  0x40000u

/* Common configuration offsets and status bits, as a guest knows them. */
enum {
	VG_DEVICE_FEATURE_SELECT = 0x00,
	VG_DEVICE_FEATURE = 0x04,
	VG_DRIVER_FEATURE_SELECT = 0x08,
	VG_DRIVER_FEATURE = 0x0c,
	VG_MSIX_CONFIG = 0x10,
	VG_NUM_QUEUES = 0x12,
	VG_DEVICE_STATUS = 0x14,
	VG_CONFIG_GENERATION = 0x15,
	VG_QUEUE_SELECT = 0x16,
	VG_QUEUE_SIZE = 0x18,
	VG_QUEUE_MSIX_VECTOR = 0x1a,
	VG_QUEUE_ENABLE = 0x1c,
	VG_QUEUE_NOTIFY_OFF = 0x1e,
	VG_QUEUE_DESC = 0x20,
	VG_QUEUE_DRIVER = 0x28,
	VG_QUEUE_DEVICE = 0x30,
};
#define VG_S_ACKNOWLEDGE 1
#define VG_S_DRIVER      2
#define VG_S_DRIVER_OK   4
#define VG_S_FEATURES_OK 8
#define VG_S_NEEDS_RESET 64

struct vg_msi {
	uint64_t address;
	uint32_t data;
};

struct vg {
	struct bus pio, mmio;
	struct pci_bus *pci;
	uint8_t *mem;
	struct virtio_pci_config cfg;
	/* Interrupts seen. */
	int irq_level, irq_calls;
	uint32_t irq_gsi;
	struct vg_msi msis[VG_MSI_MAX];
	int nmsi;
	/* Where the capabilities put things, found by vg_find_caps(). */
	uint64_t bar;
	uint32_t common, notify, isr, device, device_len, notify_mult;
	bool has_device_cfg;
	uint16_t queue_size[8];
	uint16_t avail_idx[8];
};

static inline void *vg_gpa(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vg *g = opaque;
	if (gpa > VG_MEM_SIZE || len > VG_MEM_SIZE - gpa)
		return NULL;
	return g->mem + gpa;
}

static inline int vg_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct vg *g = opaque;
	g->irq_gsi = gsi;
	g->irq_level = level;
	g->irq_calls++;
	return 0;
}

static inline int vg_msi_signal(void *opaque, uint64_t address, uint32_t data)
{
	struct vg *g = opaque;
	if (g->nmsi < VG_MSI_MAX)
		g->msis[g->nmsi] = (struct vg_msi){address, data};
	g->nmsi++;
	return 0;
}

static inline struct vg *vg_create(void)
{
	struct vg *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->mem = aligned_alloc(4096, VG_MEM_SIZE);
	if (!g->mem)
		return NULL;
	memset(g->mem, 0, VG_MEM_SIZE);
	bus_init(&g->pio, "pio");
	bus_init(&g->mmio, "mmio");
	g->pci = pci_create(&g->pio);
	if (!g->pci)
		return NULL;
	g->cfg = (struct virtio_pci_config){
	    .pci = g->pci,
	    .mmio = &g->mmio,
	    .memory = {vg_gpa, g},
	    .irq = {vg_irq_set, g},
	    .gsi = VG_GSI,
	    .msi = {vg_msi_signal, g},
	    .bar_address = VG_BAR,
	};
	g->bar = VG_BAR;
	return g;
}

/* After the device is destroyed: nothing may be left on either bus. */
static inline void vg_destroy(struct vg *g)
{
	pci_destroy(g->pci);
	assert_int_equal(g->pio.count, 0);
	assert_int_equal(g->mmio.count, 0);
	bus_destroy(&g->pio);
	bus_destroy(&g->mmio);
	free(g->mem);
	free(g);
}

static inline void vg_out(struct vg *g, uint16_t port, uint32_t v, uint32_t size)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(&g->pio, port, d, size));
}

static inline uint32_t vg_in(struct vg *g, uint16_t port, uint32_t size)
{
	uint8_t d[4] = {0};
	assert_true(bus_read(&g->pio, port, d, size));
	uint32_t v = 0;
	for (uint32_t i = 0; i < size; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static inline uint32_t vg_cfg_read(struct vg *g, unsigned reg, uint32_t size)
{
	vg_out(g, PCI_CONFIG_ADDRESS, 0x80000000u | VG_SLOT << 11 | (reg & 0xfc), 4);
	return vg_in(g, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static inline void vg_cfg_write(struct vg *g, unsigned reg, uint32_t v, uint32_t size)
{
	vg_out(g, PCI_CONFIG_ADDRESS, 0x80000000u | VG_SLOT << 11 | (reg & 0xfc), 4);
	vg_out(g, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), v, size);
}

static inline bool vg_mmio_try_read(struct vg *g, uint64_t addr, uint32_t size, uint64_t *value)
{
	uint8_t d[8] = {0};
	bool ok = bus_read(&g->mmio, addr, d, size);
	*value = 0;
	for (uint32_t i = 0; i < size; i++)
		*value |= (uint64_t)d[i] << (8 * i);
	return ok;
}

static inline uint64_t vg_mmio_read(struct vg *g, uint64_t addr, uint32_t size)
{
	uint64_t v;
	assert_true(vg_mmio_try_read(g, addr, size, &v));
	return v;
}

static inline void vg_mmio_write(struct vg *g, uint64_t addr, uint64_t v, uint32_t size)
{
	uint8_t d[8];
	for (int i = 0; i < 8; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	assert_true(bus_write(&g->mmio, addr, d, size));
}

static inline uint64_t vg_common_read(struct vg *g, uint32_t off, uint32_t size)
{
	return vg_mmio_read(g, g->bar + g->common + off, size);
}

static inline void vg_common_write(struct vg *g, uint32_t off, uint64_t v, uint32_t size)
{
	vg_mmio_write(g, g->bar + g->common + off, v, size);
}

static inline void vg_enable_memory(struct vg *g)
{
	vg_cfg_write(g, 0x04, vg_cfg_read(g, 0x04, 2) | 0x0006, 2); /* memory, bus master */
}

/* Walks the capability list like virtio_pci_modern does and records where
 * each structure is. Returns the MSI-X capability's offset. */
static inline unsigned vg_find_caps(struct vg *g)
{
	unsigned msix = 0;
	assert_true(vg_cfg_read(g, 0x06, 2) & 0x10);
	unsigned at = vg_cfg_read(g, 0x34, 1);
	int seen = 0;
	g->has_device_cfg = false;
	while (at) {
		assert_true(at >= 0x40 && at < 0x100 && at % 4 == 0);
		assert_true(++seen < 16);
		unsigned id = vg_cfg_read(g, at, 1);
		if (id == 0x11) {
			msix = at;
		} else {
			assert_int_equal(id, 0x09);
			unsigned type = vg_cfg_read(g, at + 3, 1);
			assert_int_equal(vg_cfg_read(g, at + 4, 1), 0); /* BAR0 */
			uint32_t off = vg_cfg_read(g, at + 8, 4), len = vg_cfg_read(g, at + 12, 4);
			assert_true(off + len <= VIRTIO_PCI_BAR_SIZE);
			switch (type) {
			case 1:
				assert_int_equal(vg_cfg_read(g, at + 2, 1), 16);
				assert_true(len >= 0x38);
				g->common = off;
				break;
			case 2:
				assert_int_equal(vg_cfg_read(g, at + 2, 1), 20);
				g->notify = off;
				g->notify_mult = vg_cfg_read(g, at + 16, 4);
				break;
			case 3:
				assert_true(len >= 1);
				g->isr = off;
				break;
			case 4:
				g->device = off;
				g->device_len = len;
				g->has_device_cfg = true;
				break;
			default:
				fail_msg("unexpected virtio capability type %u", type);
			}
		}
		at = vg_cfg_read(g, at + 1, 1);
	}
	assert_int_not_equal(msix, 0);
	return msix;
}

static inline uint32_t vg_msix_table(struct vg *g, unsigned msix_cap)
{
	uint32_t t = vg_cfg_read(g, msix_cap + 4, 4);
	assert_int_equal(t & 7, 0); /* BAR0 */
	return t & ~7u;
}

/* Programs MSI-X entry `v` (unmasked) to send `data` to 0xfee00000 + v * 0x1000. */
static inline void vg_msix_program(struct vg *g, unsigned msix_cap, uint16_t v, uint32_t data)
{
	uint64_t e = g->bar + vg_msix_table(g, msix_cap) + 16u * v;
	vg_mmio_write(g, e + 0, 0xfee00000u + v * 0x1000u, 4);
	vg_mmio_write(g, e + 4, 0, 4);
	vg_mmio_write(g, e + 8, data, 4);
	vg_mmio_write(g, e + 12, 0, 4);
}

static inline void vg_status(struct vg *g, uint8_t s)
{
	vg_common_write(g, VG_DEVICE_STATUS, s, 1);
}

/* Reset, ACKNOWLEDGE, DRIVER and accept exactly VERSION_1; returns the
 * status read back after FEATURES_OK. */
static inline uint8_t vg_negotiate(struct vg *g)
{
	vg_status(g, 0);
	vg_status(g, VG_S_ACKNOWLEDGE);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 0, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 0, 4);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 1, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 1, 4);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	return (uint8_t)vg_common_read(g, VG_DEVICE_STATUS, 1);
}

static inline uint64_t vg_desc_gpa(uint16_t q)
{
	return VG_RINGS + q * 0x4000u;
}

static inline uint64_t vg_avail_gpa(uint16_t q)
{
	return vg_desc_gpa(q) + 0x1000;
}

static inline uint64_t vg_used_gpa(uint16_t q)
{
	return vg_desc_gpa(q) + 0x2000;
}

static inline void vg_write64(struct vg *g, uint32_t off, uint64_t v)
{
	vg_common_write(g, off, (uint32_t)v, 4);
	vg_common_write(g, off + 4, (uint32_t)(v >> 32), 4);
}

/* Sets queue q up with `size` entries and `vector`, and enables it. */
static inline void vg_queue_setup(struct vg *g, uint16_t q, uint16_t size, uint16_t vector)
{
	vg_common_write(g, VG_QUEUE_SELECT, q, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 256);
	vg_common_write(g, VG_QUEUE_SIZE, size, 2);
	vg_common_write(g, VG_QUEUE_MSIX_VECTOR, vector, 2);
	vg_write64(g, VG_QUEUE_DESC, vg_desc_gpa(q));
	vg_write64(g, VG_QUEUE_DRIVER, vg_avail_gpa(q));
	vg_write64(g, VG_QUEUE_DEVICE, vg_used_gpa(q));
	memset(g->mem + vg_desc_gpa(q), 0, 0x3000);
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 2);
	g->queue_size[q] = size;
	g->avail_idx[q] = 0;
}

static inline void vg_set_desc(struct vg *g, uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			       uint16_t next)
{
	uint8_t *d = g->mem + vg_desc_gpa(q) + 16u * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void vg_make_available(struct vg *g, uint16_t q, uint16_t head)
{
	uint8_t *a = g->mem + vg_avail_gpa(q);
	uint16_t idx = g->avail_idx[q];
	memcpy(a + 4 + 2u * (idx % g->queue_size[q]), &head, 2);
	idx++;
	/* Release, as a guest's barrier: the device may be popping already. */
	__atomic_store_n((uint16_t *)(a + 2), idx, __ATOMIC_RELEASE);
	g->avail_idx[q] = idx;
}

static inline void vg_kick(struct vg *g, uint16_t q)
{
	vg_mmio_write(g, g->bar + g->notify + (uint64_t)q * g->notify_mult, q, 2);
}

static inline uint16_t vg_used_idx(struct vg *g, uint16_t q)
{
	uint16_t v;
	memcpy(&v, g->mem + vg_used_gpa(q) + 2, 2);
	return v;
}

static inline void vg_used_elem(struct vg *g, uint16_t q, uint16_t idx, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = g->mem + vg_used_gpa(q) + 4 + 8u * (idx % g->queue_size[q]);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

#endif
