/* test_virtio_pci.c — unit tests for the modern virtio-pci transport
 * (hypervisor/devices/virtio_pci.c), driven like a guest through PCI
 * configuration cycles and BAR accesses, with virtio-rng as the device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "../../hypervisor/devices/virtio.h"
#include "virtio_guest.h"

#include <errno.h>

struct fixture {
	struct vg *g;
	struct virtio_rng *rng;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->g = vg_create();
	if (!f->g)
		return -1;
	f->rng = virtio_rng_create(&f->g->cfg);
	if (!f->rng)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_rng_destroy(f->rng);
	vg_destroy(f->g);
	free(f);
	return 0;
}

/* Memory on, capabilities found, features negotiated, queue 0 of 8 entries
 * on `vector`, DRIVER_OK. Returns the MSI-X capability offset. */
static unsigned bring_up(struct vg *g, uint16_t vector)
{
	vg_enable_memory(g);
	unsigned msix = vg_find_caps(g);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_queue_setup(g, 0, 8, vector);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	return msix;
}

static void enable_msix(struct vg *g, unsigned msix, bool function_mask)
{
	uint16_t control = (uint16_t)vg_cfg_read(g, msix + 2, 2);
	control = (uint16_t)((control & 0x07ff) | 0x8000 | (function_mask ? 0x4000 : 0));
	vg_cfg_write(g, msix + 2, control, 2);
}

static void test_identity(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	assert_int_equal(vg_cfg_read(g, 0x00, 4), (0x1040u + 4) << 16 | 0x1af4);
	assert_int_equal(vg_cfg_read(g, 0x08, 1), 1);             /* revision */
	assert_int_equal(vg_cfg_read(g, 0x08, 4) >> 8, 0x00ff00); /* class */
	assert_int_equal(vg_cfg_read(g, 0x2c, 4), (0x1040u + 4) << 16 | 0x1af4);
	assert_int_equal(vg_cfg_read(g, 0x06, 2), 0x0010); /* capability list */
	assert_int_equal(vg_cfg_read(g, 0x34, 1), 0x40);
	assert_int_equal(vg_cfg_read(g, 0x3c, 1), VG_GSI);
	assert_int_equal(vg_cfg_read(g, 0x3d, 1), 1); /* INTA# */
	assert_int_equal(vg_cfg_read(g, 0x04, 2), 0); /* nothing decoded until the guest says so */
	assert_int_equal(vg_cfg_read(g, 0x10, 4), (uint32_t)VG_BAR | 0x4);
	assert_int_equal(vg_cfg_read(g, 0x14, 4), 0);
	for (unsigned bar = 0x18; bar <= 0x24; bar += 4)
		assert_int_equal(vg_cfg_read(g, bar, 4), 0);
}

static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	unsigned msix = vg_find_caps(g);
	assert_int_equal(msix, 0x40);
	/* Two vectors (configuration and the one queue), enable and mask clear. */
	assert_int_equal(vg_cfg_read(g, msix + 2, 2), 0x0001);
	assert_int_equal(vg_cfg_read(g, msix + 4, 4), 0x4000);
	assert_int_equal(vg_cfg_read(g, msix + 8, 4), 0x5000);
	assert_int_equal(g->common, 0x0000);
	assert_int_equal(g->isr, 0x1000);
	assert_int_equal(g->notify, 0x3000);
	assert_int_equal(g->notify_mult, 4);
	/* virtio-rng has no device configuration, so no capability for it. */
	assert_false(g->has_device_cfg);
	/* Table size is read-only; only enable and function mask move. */
	vg_cfg_write(g, msix + 2, 0xffff, 2);
	assert_int_equal(vg_cfg_read(g, msix + 2, 2), 0xc001);
	vg_cfg_write(g, msix + 2, 0x0000, 2);
	assert_int_equal(vg_cfg_read(g, msix + 2, 2), 0x0001);
	/* Capability bytes are read-only. */
	for (unsigned reg = 0x40; reg < 0x90; reg += 4)
		if (reg != msix)
			vg_cfg_write(g, reg, 0xffffffff, 4);
	vg_find_caps(g);
	assert_int_equal(g->notify_mult, 4);
	assert_int_equal(vg_cfg_read(g, msix + 4, 4), 0x4000);
}

static void test_bar_sizing_and_moving(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	uint64_t v;
	assert_false(vg_mmio_try_read(g, VG_BAR + VG_NUM_QUEUES, 2, &v));
	assert_int_equal(g->mmio.count, 0);
	vg_enable_memory(g);
	assert_int_equal(vg_mmio_read(g, VG_BAR + VG_NUM_QUEUES, 2), 1);
	assert_int_equal(g->mmio.count, 1);

	/* Sizing as Linux does it: decode off, all-ones, read, restore. */
	uint16_t cmd = (uint16_t)vg_cfg_read(g, 0x04, 2);
	vg_cfg_write(g, 0x04, cmd & ~0x0002u, 2);
	assert_false(vg_mmio_try_read(g, VG_BAR + VG_NUM_QUEUES, 2, &v));
	vg_cfg_write(g, 0x10, 0xffffffff, 4);
	vg_cfg_write(g, 0x14, 0xffffffff, 4);
	assert_int_equal(vg_cfg_read(g, 0x10, 4), 0xffff8004);
	assert_int_equal(vg_cfg_read(g, 0x14, 4), 0xffffffff);
	assert_int_equal(g->mmio.count, 0);
	/* Restored at a new place, then decode back on. */
	vg_cfg_write(g, 0x10, 0xd0000000, 4);
	vg_cfg_write(g, 0x14, 0, 4);
	vg_cfg_write(g, 0x04, cmd, 2);
	assert_int_equal(vg_cfg_read(g, 0x10, 4), 0xd0000004);
	assert_false(vg_mmio_try_read(g, VG_BAR + VG_NUM_QUEUES, 2, &v));
	assert_int_equal(vg_mmio_read(g, 0xd0000000 + VG_NUM_QUEUES, 2), 1);
	assert_int_equal(g->mmio.count, 1);

	/* Moved while decoding: the range follows each write. */
	vg_cfg_write(g, 0x10, 0xe0008000, 4);
	assert_false(vg_mmio_try_read(g, 0xd0000000 + VG_NUM_QUEUES, 2, &v));
	assert_int_equal(vg_mmio_read(g, 0xe0008000 + VG_NUM_QUEUES, 2), 1);
	vg_cfg_write(g, 0x14, 0x1, 4);
	assert_false(vg_mmio_try_read(g, 0xe0008000 + VG_NUM_QUEUES, 2, &v));
	assert_int_equal(vg_mmio_read(g, 0x1e0008000ull + VG_NUM_QUEUES, 2), 1);
	/* Low bits below the size do not stick. */
	vg_cfg_write(g, 0x10, 0xe0001234, 4);
	assert_int_equal(vg_cfg_read(g, 0x10, 4), 0xe0000004);
	assert_int_equal(vg_mmio_read(g, 0x1e0000000ull + 0x7ff8, 2), 0);
	assert_false(vg_mmio_try_read(g, 0x1e0000000ull + 0x8000, 1, &v));
	/* Byte writes to the BAR move it too. */
	vg_cfg_write(g, 0x13, 0xc0, 1);
	vg_cfg_write(g, 0x14, 0, 4);
	assert_int_equal(vg_mmio_read(g, 0xc0000000 + VG_NUM_QUEUES, 2), 1);
	assert_int_equal(g->mmio.count, 1);
	/* Another device already there: no range, and no harm. */
	static const struct bus_ops none = {0};
	assert_int_equal(bus_register(&g->mmio, 0xf0000000, 0x1000, &none, NULL, "other"), 0);
	vg_cfg_write(g, 0x10, 0xf0000000, 4);
	assert_int_equal(g->mmio.count, 1);
	vg_cfg_write(g, 0x10, 0xc0000000, 4);
	assert_int_equal(g->mmio.count, 2);
	assert_int_equal(bus_unregister(&g->mmio, 0xf0000000), 0);
	/* Decode off: nothing left. */
	vg_cfg_write(g, 0x04, 0, 2);
	assert_int_equal(g->mmio.count, 0);
}

static void test_feature_negotiation(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 0, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 0);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 1, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE_SELECT, 4), 1);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 1); /* VERSION_1 */
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 2, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 0);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 1, 4);
	/* Wrong widths are ignored and read as 0. */
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 2), 0);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 1), 0);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 8), 0);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 0, 2);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE_SELECT, 4), 1);

	/* Accepted: exactly VERSION_1. */
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 1, 4);
	assert_int_equal(vg_common_read(g, VG_DRIVER_FEATURE, 4), 1);
	/* Frozen once FEATURES_OK is set. */
	vg_common_write(g, VG_DRIVER_FEATURE, 0, 4);
	assert_int_equal(vg_common_read(g, VG_DRIVER_FEATURE, 4), 1);

	/* Refused: VERSION_1 not accepted (a legacy driver). */
	vg_status(g, 0);
	assert_int_equal(vg_common_read(g, VG_DRIVER_FEATURE, 4), 0);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	/* Refused: a feature that was not offered. */
	vg_status(g, 0);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 1, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 1 | 1u << 3, 4);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	vg_common_write(g, VG_DRIVER_FEATURE, 1, 4);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 0, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 1u << 31, 4);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), VG_S_ACKNOWLEDGE | VG_S_DRIVER);
	/* Feature selects beyond 1 hold nothing. */
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 7, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 0xffffffff, 4);
	assert_int_equal(vg_common_read(g, VG_DRIVER_FEATURE, 4), 0);
	vg_common_write(g, VG_DRIVER_FEATURE_SELECT, 0, 4);
	vg_common_write(g, VG_DRIVER_FEATURE, 0, 4);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_FEATURES_OK);

	/* DRIVER_OK without FEATURES_OK breaks the device. */
	vg_status(g, 0);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_DRIVER_OK);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	vg_status(g, 0);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), 0);
}

static void test_common_fields(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_int_equal(vg_common_read(g, VG_NUM_QUEUES, 2), 1);
	vg_common_write(g, VG_NUM_QUEUES, 5, 2);
	assert_int_equal(vg_common_read(g, VG_NUM_QUEUES, 2), 1);
	assert_int_equal(vg_common_read(g, VG_NUM_QUEUES, 4), 0);
	assert_int_equal(vg_common_read(g, VG_MSIX_CONFIG, 2), 0xffff);
	/* Only the two vectors the table has. */
	vg_common_write(g, VG_MSIX_CONFIG, 1, 2);
	assert_int_equal(vg_common_read(g, VG_MSIX_CONFIG, 2), 1);
	vg_common_write(g, VG_MSIX_CONFIG, 2, 2);
	assert_int_equal(vg_common_read(g, VG_MSIX_CONFIG, 2), 0xffff);
	vg_common_write(g, VG_MSIX_CONFIG, 0, 2);
	assert_int_equal(vg_common_read(g, VG_MSIX_CONFIG, 2), 0);
	vg_common_write(g, VG_MSIX_CONFIG, 1, 4); /* wrong width */
	assert_int_equal(vg_common_read(g, VG_MSIX_CONFIG, 2), 0);

	/* Queue 0 as the device offers it. */
	vg_common_write(g, VG_QUEUE_SELECT, 0, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 256);
	assert_int_equal(vg_common_read(g, VG_QUEUE_MSIX_VECTOR, 2), 0xffff);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_NOTIFY_OFF, 2), 0);
	vg_common_write(g, VG_QUEUE_MSIX_VECTOR, 1, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_MSIX_VECTOR, 2), 1);
	vg_common_write(g, VG_QUEUE_MSIX_VECTOR, 2, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_MSIX_VECTOR, 2), 0xffff);
	vg_write64(g, VG_QUEUE_DESC, 0x123456789abcdef0ull);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 4), 0x9abcdef0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC + 4, 4), 0x12345678);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 8), 0); /* halves only */
	vg_common_write(g, VG_QUEUE_DESC, 0, 8);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 4), 0x9abcdef0);
	vg_write64(g, VG_QUEUE_DRIVER, 0x1111222233334444ull);
	vg_write64(g, VG_QUEUE_DEVICE, 0x5555666677778888ull);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DRIVER + 4, 4), 0x11112222);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DEVICE, 4), 0x77778888);
	/* A queue that does not exist: reads 0, takes nothing. */
	vg_common_write(g, VG_QUEUE_SELECT, 1, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SELECT, 2), 1);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 0);
	vg_common_write(g, VG_QUEUE_SIZE, 16, 2);
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_MSIX_VECTOR, 2), 0xffff);
	vg_common_write(g, VG_QUEUE_SELECT, 0xffff, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 4), 0);
	/* Unknown offsets and the rest of the BAR's gaps read 0. */
	for (uint32_t off = 0x38; off < 0x1000; off += 0x1c4)
		assert_int_equal(vg_common_read(g, off, 4), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + 0x2000, 4), 0); /* no device config */
	assert_int_equal(vg_mmio_read(g, g->bar + 0x6000, 8), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + 0x7ff8, 8), 0);
	assert_int_equal(vg_common_read(g, VG_CONFIG_GENERATION, 1), 0);
}

static void test_queue_setup_and_enable(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_queue_setup(g, 0, 16, 0xffff);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 1);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 16);
	/* Frozen while enabled. */
	vg_common_write(g, VG_QUEUE_SIZE, 32, 2);
	vg_write64(g, VG_QUEUE_DESC, 0x8000);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 16);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 4), vg_desc_gpa(0));
	vg_common_write(g, VG_QUEUE_ENABLE, 0, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 1);
	assert_false(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* Reset disables it and restores the offered size. */
	vg_status(g, 0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	assert_int_equal(vg_common_read(g, VG_QUEUE_SIZE, 2), 256);
	assert_int_equal(vg_common_read(g, VG_QUEUE_DESC, 4), 0);
	/* queue_enable values other than 1 do nothing. */
	vg_write64(g, VG_QUEUE_DESC, vg_desc_gpa(0));
	vg_write64(g, VG_QUEUE_DRIVER, vg_avail_gpa(0));
	vg_write64(g, VG_QUEUE_DEVICE, vg_used_gpa(0));
	vg_common_write(g, VG_QUEUE_ENABLE, 2, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 4);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 1);
}

/* A bad queue breaks the device: NEEDS_RESET, a configuration interrupt;
 * reset brings it back. Over INTx here. */
static void test_broken_queue_intx(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	uint8_t generation = (uint8_t)vg_common_read(g, VG_CONFIG_GENERATION, 1);
	log_set_level(LOG_ERROR);
	vg_common_write(g, VG_QUEUE_SELECT, 0, 2);
	vg_common_write(g, VG_QUEUE_SIZE, 12, 2); /* not a power of two */
	vg_write64(g, VG_QUEUE_DESC, vg_desc_gpa(0));
	vg_write64(g, VG_QUEUE_DRIVER, vg_avail_gpa(0));
	vg_write64(g, VG_QUEUE_DEVICE, vg_used_gpa(0));
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 0);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	assert_int_not_equal(vg_common_read(g, VG_CONFIG_GENERATION, 1), generation);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(g->irq_gsi, VG_GSI);
	/* The guest setting more status bits does not clear NEEDS_RESET. */
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* ISR says "configuration changed"; reading it acknowledges. */
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 2);
	assert_int_equal(g->irq_level, 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 0);
	/* Reset clears it; a proper queue then works. */
	vg_status(g, 0);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), 0);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_queue_setup(g, 0, 8, 0xffff);
	assert_int_equal(vg_common_read(g, VG_QUEUE_ENABLE, 2), 1);
	/* Rings outside guest RAM. */
	vg_status(g, 0);
	vg_negotiate(g);
	vg_common_write(g, VG_QUEUE_SIZE, 8, 2);
	vg_write64(g, VG_QUEUE_DESC, VG_MEM_SIZE);
	vg_write64(g, VG_QUEUE_DRIVER, vg_avail_gpa(0));
	vg_write64(g, VG_QUEUE_DEVICE, vg_used_gpa(0));
	vg_common_write(g, VG_QUEUE_ENABLE, 1, 2);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	assert_int_equal(g->irq_level, 1);
	/* A reset also drops the line. */
	vg_status(g, 0);
	assert_int_equal(g->irq_level, 0);
	log_set_level(LOG_INFO);
}

static void test_rng_over_intx(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(g, 0xffff);
	uint8_t *buf = g->mem + VG_DATA;
	vg_set_desc(g, 0, 0, VG_DATA, 64, 2 /* WRITE */, 0);
	vg_make_available(g, 0, 0);
	int calls = g->irq_calls;
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 1);
	uint32_t id, len;
	vg_used_elem(g, 0, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 64);
	int nonzero = 0;
	for (int i = 0; i < 64; i++)
		nonzero += buf[i] != 0;
	assert_true(nonzero > 32);
	assert_int_equal(buf[64], 0);
	/* INTx raised once, ISR bit 0; reading ISR lowers it. */
	assert_int_equal(g->irq_calls, calls + 1);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 4), 1);
	assert_int_equal(g->irq_level, 0);
	/* Only the first byte of ISR acknowledges. */
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr + 1, 1), 0);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 1);
	/* COMMAND.INTX_DISABLE holds the line down until cleared. */
	uint16_t cmd = (uint16_t)vg_cfg_read(g, 0x04, 2);
	vg_cfg_write(g, 0x04, cmd | 0x0400, 2);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->irq_level, 0);
	vg_cfg_write(g, 0x04, cmd, 2);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 1);
	assert_int_equal(g->irq_level, 0);
	/* NO_INTERRUPT: used ring updated, no interrupt. */
	uint16_t flags = 1;
	memcpy(g->mem + vg_avail_gpa(0), &flags, 2);
	calls = g->irq_calls;
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 4);
	assert_int_equal(g->irq_calls, calls);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 0);
}

static void test_rng_requests(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	/* Notifies before DRIVER_OK do nothing. */
	vg_enable_memory(g);
	vg_find_caps(g);
	vg_negotiate(g);
	vg_queue_setup(g, 0, 8, 0xffff);
	vg_set_desc(g, 0, 0, VG_DATA, 16, 2, 0);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 0);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 1);
	/* Notifying a queue that does not exist, at any width, does nothing. */
	vg_mmio_write(g, g->bar + g->notify + 4, 1, 2);
	vg_mmio_write(g, g->bar + g->notify + 0x100, 0, 4);
	/* Several buffers in one chain; at most 64 KiB per chain. */
	vg_set_desc(g, 0, 1, VG_DATA, 0x10000, 2 | 1, 2);
	vg_set_desc(g, 0, 2, VG_DATA + 0x10000, 0x10000, 2, 0);
	vg_make_available(g, 0, 1);
	vg_set_desc(g, 0, 3, VG_DATA + 0x30000, 100, 2 | 1, 4);
	vg_set_desc(g, 0, 4, VG_DATA + 0x30100, 100, 2, 0);
	vg_make_available(g, 0, 3);
	memset(g->mem + VG_DATA, 0, 0x40000);
	vg_mmio_write(g, g->bar + g->notify + 1, 0, 1); /* any byte of the queue's slot */
	assert_int_equal(vg_used_idx(g, 0), 3);
	uint32_t id, len;
	vg_used_elem(g, 0, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 0x10000);
	int tail = 0;
	for (int i = 0; i < 0x10000; i++)
		tail |= g->mem[VG_DATA + 0x10000 + i];
	assert_int_equal(tail, 0);
	vg_used_elem(g, 0, 2, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 200);
	/* A device-readable buffer breaks the device. */
	log_set_level(LOG_ERROR);
	vg_set_desc(g, 0, 5, VG_DATA, 8, 1, 6);
	vg_set_desc(g, 0, 6, VG_DATA + 8, 8, 2, 0);
	vg_make_available(g, 0, 5);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 3);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* Ignored until reset. */
	vg_set_desc(g, 0, 5, VG_DATA, 8, 2, 0);
	vg_make_available(g, 0, 5);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 3);
	log_set_level(LOG_INFO);
}

static void test_msix_delivery(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	unsigned msix = vg_find_caps(g);
	uint64_t table = g->bar + vg_msix_table(g, msix);
	uint64_t pba = g->bar + (vg_cfg_read(g, msix + 8, 4) & ~7u);
	/* Entries start masked. */
	assert_int_equal(vg_mmio_read(g, table + 12, 4), 1);
	assert_int_equal(vg_mmio_read(g, table + 16 + 12, 4), 1);
	enable_msix(g, msix, true); /* as Linux does: enable with the function masked */
	vg_msix_program(g, msix, 0, 0x40);
	vg_msix_program(g, msix, 1, 0x41);
	enable_msix(g, msix, false);
	/* The table reads back; reserved vector control bits stay 0. */
	assert_int_equal(vg_mmio_read(g, table + 16, 4), 0xfee01000);
	assert_int_equal(vg_mmio_read(g, table + 16 + 8, 4), 0x41);
	assert_int_equal(vg_mmio_read(g, table + 16, 8), 0xfee01000);
	vg_mmio_write(g, table + 16 + 12, 0xfffffffe, 4);
	assert_int_equal(vg_mmio_read(g, table + 16 + 12, 4), 0);
	/* Past the last entry: nothing. */
	vg_mmio_write(g, table + 32, 0xffffffff, 4);
	assert_int_equal(vg_mmio_read(g, table + 32, 4), 0);

	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_common_write(g, VG_MSIX_CONFIG, 0, 2);
	vg_queue_setup(g, 0, 8, 1);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);

	vg_set_desc(g, 0, 0, VG_DATA, 8, 2, 0);
	vg_make_available(g, 0, 0);
	int irqs = g->irq_calls;
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 1);
	assert_int_equal(g->msis[0].address, 0xfee01000);
	assert_int_equal(g->msis[0].data, 0x41);
	assert_int_equal(g->irq_calls, irqs); /* no INTx with MSI-X on */

	/* Entry mask: pending bit instead, sent on unmask. */
	vg_mmio_write(g, table + 16 + 12, 1, 4);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 1);
	assert_int_equal(vg_mmio_read(g, pba, 8), 2);
	vg_mmio_write(g, pba, 0, 8); /* read-only */
	assert_int_equal(vg_mmio_read(g, pba, 1), 2);
	vg_mmio_write(g, table + 16 + 12, 0, 4);
	assert_int_equal(g->nmsi, 2);
	assert_int_equal(g->msis[1].data, 0x41);
	assert_int_equal(vg_mmio_read(g, pba, 8), 0);

	/* Function mask: the same, through configuration space. */
	enable_msix(g, msix, true);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 2);
	assert_int_equal(vg_mmio_read(g, pba, 4), 2);
	enable_msix(g, msix, false);
	assert_int_equal(g->nmsi, 3);
	assert_int_equal(vg_mmio_read(g, pba, 4), 0);

	/* Rewriting an entry while masked: the new message goes out. */
	vg_mmio_write(g, table + 16 + 12, 1, 4);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	vg_mmio_write(g, table + 16 + 8, 0x99, 4);
	vg_mmio_write(g, table + 16 + 12, 0, 1);
	assert_int_equal(g->nmsi, 4);
	assert_int_equal(g->msis[3].data, 0x99);

	/* No vector for the queue: nothing at all. */
	vg_common_write(g, VG_QUEUE_MSIX_VECTOR, 0xffff, 2);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 4);
	assert_int_equal(g->irq_calls, irqs);
	assert_int_equal(vg_used_idx(g, 0), 5);

	/* A broken device says so on the configuration vector. */
	log_set_level(LOG_ERROR);
	vg_set_desc(g, 0, 1, VG_DATA, 8, 1, 0);
	vg_make_available(g, 0, 1);
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 5);
	assert_int_equal(g->msis[4].address, 0xfee00000);
	assert_int_equal(g->msis[4].data, 0x40);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	log_set_level(LOG_INFO);

	/* MSI-X off again: back to INTx, with what ISR collected. */
	vg_status(g, 0);
	vg_negotiate(g);
	vg_queue_setup(g, 0, 8, 1);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	uint16_t control = (uint16_t)vg_cfg_read(g, msix + 2, 2);
	vg_cfg_write(g, msix + 2, control & ~0x8000u, 2);
	vg_set_desc(g, 0, 0, VG_DATA, 8, 2, 0);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 5);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 1);
	assert_int_equal(g->irq_level, 0);
}

/* Any offset, any size, any value: the device stays sane. */
static void test_hostile_bar(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(g, 0xffff);
	log_set_level(LOG_ERROR);
	uint32_t seed = 4242;
	for (int round = 0; round < 200000; round++) {
		seed = seed * 1103515245u + 12345u;
		uint32_t size = 1 + (seed >> 4) % 8;
		uint64_t off = (seed >> 8) % VIRTIO_PCI_BAR_SIZE;
		if (round % 3 == 0) /* often near the interesting structures */
			off = (seed >> 8) % 4 * 0x1000 + (seed >> 20) % 0x40;
		uint8_t d[8];
		for (int i = 0; i < 8; i++)
			d[i] = (uint8_t)(seed >> (3 * i));
		if (off + size > VIRTIO_PCI_BAR_SIZE) {
			assert_false(bus_read(&g->mmio, g->bar + off, d, size));
			continue;
		}
		if ((seed >> 13) & 1)
			assert_true(bus_write(&g->mmio, g->bar + off, d, size));
		else
			assert_true(bus_read(&g->mmio, g->bar + off, d, size));
	}
	log_set_level(LOG_INFO);
	/* Still a working device after a reset. */
	vg_cfg_write(g, 0x04, 0x0006, 2);
	bring_up(g, 0xffff);
	assert_false(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	uint16_t control = (uint16_t)vg_cfg_read(g, 0x42, 2);
	vg_cfg_write(g, 0x42, control & 0x07ff, 2);
	vg_set_desc(g, 0, 0, VG_DATA, 8, 2, 0);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 1);
}

static void test_destroy_and_errors(void **state)
{
	(void)state;
	struct vg *g = vg_create();
	assert_non_null(g);
	/* A BAR address that is not size-aligned. */
	g->cfg.bar_address = VG_BAR + 0x1000;
	errno = 0;
	assert_null(virtio_rng_create(&g->cfg));
	assert_int_equal(errno, EINVAL);
	g->cfg.bar_address = VG_BAR;
	struct virtio_rng *rng = virtio_rng_create(&g->cfg);
	assert_non_null(rng);
	vg_enable_memory(g);
	assert_int_equal(g->mmio.count, 1);
	assert_int_equal(vg_cfg_read(g, 0x00, 2), 0x1af4);
	/* Gone from both buses. */
	virtio_rng_destroy(rng);
	assert_int_equal(g->mmio.count, 0);
	assert_int_equal(vg_cfg_read(g, 0x00, 4), 0xffffffff);
	virtio_rng_destroy(NULL);
	/* A full PCI bus. */
	struct virtio_rng *rngs[PCI_MAX_SLOTS];
	int n = 0;
	for (; n < PCI_MAX_SLOTS; n++) {
		g->cfg.bar_address = VG_BAR + (uint64_t)n * VIRTIO_PCI_BAR_SIZE;
		rngs[n] = virtio_rng_create(&g->cfg);
		if (!rngs[n])
			break;
	}
	assert_int_equal(n, PCI_MAX_SLOTS - 1);
	assert_int_equal(errno, ENOSPC);
	while (n-- > 0)
		virtio_rng_destroy(rngs[n]);
	vg_destroy(g);
}

/* A device model that records what the transport hands it. */
struct recorder {
	struct virtio_device vdev;
	uint8_t config[10];
	int reads, writes, notifies, resets, driver_oks;
	uint32_t last_offset, last_size;
	uint16_t last_queue;
};

static void rec_config_read(struct virtio_device *vdev, uint32_t offset, uint8_t *data, uint32_t size)
{
	struct recorder *r = vdev->opaque;
	assert_true(offset + size <= sizeof(r->config));
	memcpy(data, &r->config[offset], size);
	r->reads++;
	r->last_offset = offset;
	r->last_size = size;
}

static void rec_config_write(struct virtio_device *vdev, uint32_t offset, const uint8_t *data, uint32_t size)
{
	struct recorder *r = vdev->opaque;
	assert_true(offset + size <= sizeof(r->config));
	memcpy(&r->config[offset], data, size);
	r->writes++;
	r->last_offset = offset;
	r->last_size = size;
}

static void rec_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct recorder *r = vdev->opaque;
	r->notifies++;
	r->last_queue = vq->index;
}

static void rec_reset(struct virtio_device *vdev)
{
	struct recorder *r = vdev->opaque;
	r->resets++;
}

static void rec_driver_ok(struct virtio_device *vdev)
{
	struct recorder *r = vdev->opaque;
	r->driver_oks++;
}

static const struct virtio_device_ops rec_ops = {
    .config_read = rec_config_read,
    .config_write = rec_config_write,
    .queue_notify = rec_queue_notify,
    .reset = rec_reset,
    .driver_ok = rec_driver_ok,
};

static void test_device_model_interface(void **state)
{
	(void)state;
	struct vg *g = vg_create();
	assert_non_null(g);
	struct recorder r = {0};
	r.vdev = (struct virtio_device){
	    .name = "virtio-recorder",
	    .device_id = VIRTIO_ID_GPU,
	    .device_features = 1ull << 0 | 1ull << 40,
	    .config_size = sizeof(r.config),
	    .num_queues = 3,
	    .ops = &rec_ops,
	    .opaque = &r,
	};
	for (int i = 0; i < 10; i++)
		r.config[i] = (uint8_t)(0x10 + i);
	assert_int_equal(virtio_pci_init(&r.vdev, &g->cfg), 0);
	assert_int_equal(vg_cfg_read(g, 0x00, 4), (0x1040u + 16) << 16 | 0x1af4);
	assert_int_equal(vg_cfg_read(g, 0x08, 4) >> 8, 0x038000); /* display */
	vg_enable_memory(g);
	unsigned msix = vg_find_caps(g);
	assert_int_equal(vg_cfg_read(g, msix + 2, 2), 3); /* four vectors */
	assert_true(g->has_device_cfg);
	assert_int_equal(g->device_len, 10);
	assert_int_equal(vg_common_read(g, VG_NUM_QUEUES, 2), 3);
	/* Offered features, VERSION_1 added. */
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 0, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 1);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 1, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 1 | 1 << 8);

	/* Device configuration: in bounds reaches the model at its offset... */
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 2, 4), 0x15141312);
	assert_int_equal(r.last_offset, 2);
	assert_int_equal(r.last_size, 4);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 2, 8), 0x1918171615141312ull);
	vg_mmio_write(g, g->bar + g->device + 9, 0xaa, 1);
	assert_int_equal(r.config[9], 0xaa);
	assert_int_equal(r.writes, 1);
	/* ...past it or straddling its end does not. */
	int reads = r.reads;
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 9, 2), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 3, 8), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 10, 1), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 0xfff, 1), 0);
	vg_mmio_write(g, g->bar + g->device + 9, 0xbbbb, 2);
	vg_mmio_write(g, g->bar + g->device + 4, 0, 8);
	vg_mmio_write(g, g->bar + g->device + 0x800, 0, 4);
	assert_int_equal(r.reads, reads);
	assert_int_equal(r.writes, 1);

	/* Notifies reach the model only for enabled queues of a live device. */
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	assert_int_equal(r.resets, 1);
	vg_queue_setup(g, 0, 8, 0xffff);
	vg_queue_setup(g, 2, 8, 0xffff);
	vg_common_write(g, VG_QUEUE_SELECT, 2, 2);
	assert_int_equal(vg_common_read(g, VG_QUEUE_NOTIFY_OFF, 2), 2);
	vg_kick(g, 0);
	assert_int_equal(r.notifies, 0);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	assert_int_equal(r.driver_oks, 1);
	vg_kick(g, 0);
	assert_int_equal(r.notifies, 1);
	assert_int_equal(r.last_queue, 0);
	vg_kick(g, 1); /* not enabled */
	assert_int_equal(r.notifies, 1);
	vg_kick(g, 2);
	assert_int_equal(r.notifies, 2);
	assert_int_equal(r.last_queue, 2);
	vg_kick(g, 3); /* no such queue */
	assert_int_equal(r.notifies, 2);
	/* DRIVER_OK written again is not a second driver_ok. */
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	assert_int_equal(r.driver_oks, 1);
	/* Broken: no more notifies until reset. */
	log_set_level(LOG_ERROR);
	virtio_lock(&r.vdev);
	virtio_mark_broken(&r.vdev, "test");
	virtio_unlock(&r.vdev);
	log_set_level(LOG_INFO);
	vg_kick(g, 0);
	assert_int_equal(r.notifies, 2);
	vg_status(g, 0);
	assert_int_equal(r.resets, 2);
	assert_int_equal(vg_common_read(g, VG_DEVICE_STATUS, 1), 0);
	virtio_pci_destroy(&r.vdev);
	vg_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing_and_moving, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_negotiation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_common_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_setup_and_enable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_queue_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rng_over_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rng_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_bar, setup, teardown),
	    cmocka_unit_test(test_destroy_and_errors),
	    cmocka_unit_test(test_device_model_interface),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
