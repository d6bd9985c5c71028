/* test_virtio_rng.c — unit tests for virtio-rng (hypervisor/devices/
 * virtio_rng.c) through its PCI transport: what it fills, how much, and
 * what breaks it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "virtio_guest.h"

#define WRITE 2
#define NEXT  1

struct fixture {
	struct vg *g;
	struct virtio_rng *rng;
	unsigned msix;
};

/* A driver with MSI-X: vector 0 for configuration, 1 for the queue. */
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
	log_set_level(LOG_INFO);
	return 0;
}

static void bring_up(struct fixture *f)
{
	struct vg *g = f->g;
	vg_enable_memory(g);
	f->msix = vg_find_caps(g);
	vg_cfg_write(g, f->msix + 2, 0x8000, 2);
	vg_msix_program(g, f->msix, 0, 0x30);
	vg_msix_program(g, f->msix, 1, 0x31);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_common_write(g, VG_MSIX_CONFIG, 0, 2);
	vg_queue_setup(g, 0, 16, 1);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_identity(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	assert_int_equal(vg_cfg_read(g, 0x00, 4), 0x10441af4);
	assert_int_equal(vg_cfg_read(g, 0x08, 4), 0x00ff0001);
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_false(g->has_device_cfg);
	assert_int_equal(vg_common_read(g, VG_NUM_QUEUES, 2), 1);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 0, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 0);
	vg_common_write(g, VG_DEVICE_FEATURE_SELECT, 1, 4);
	assert_int_equal(vg_common_read(g, VG_DEVICE_FEATURE, 4), 1);
}

static void test_fills_each_chain(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(f);
	/* Three requests in one kick: one buffer, two buffers, an empty one. */
	vg_set_desc(g, 0, 0, VG_DATA, 32, WRITE, 0);
	vg_set_desc(g, 0, 1, VG_DATA + 0x100, 7, WRITE | NEXT, 2);
	vg_set_desc(g, 0, 2, VG_DATA + 0x200, 9, WRITE, 0);
	vg_set_desc(g, 0, 3, VG_DATA + 0x300, 0, WRITE, 0);
	vg_make_available(g, 0, 0);
	vg_make_available(g, 0, 1);
	vg_make_available(g, 0, 3);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 3);
	uint32_t id, len;
	vg_used_elem(g, 0, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 32);
	vg_used_elem(g, 0, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 16);
	vg_used_elem(g, 0, 2, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 0);
	assert_false(all_zero(g->mem + VG_DATA, 32));
	assert_false(all_zero(g->mem + VG_DATA + 0x100, 7));
	assert_false(all_zero(g->mem + VG_DATA + 0x200, 9));
	/* Nothing beyond the buffers. */
	assert_true(all_zero(g->mem + VG_DATA + 32, 0x100 - 32));
	assert_true(all_zero(g->mem + VG_DATA + 0x107, 0x100 - 7));
	assert_true(all_zero(g->mem + VG_DATA + 0x209, 0x200 - 9));
	/* One interrupt for the batch, on the queue's vector. */
	assert_int_equal(g->nmsi, 1);
	assert_int_equal(g->msis[0].data, 0x31);
	/* Two requests get different bytes. */
	uint8_t first[32];
	memcpy(first, g->mem + VG_DATA, 32);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 4);
	assert_memory_not_equal(first, g->mem + VG_DATA, 32);
	assert_int_equal(g->nmsi, 2);
	/* A kick with nothing new: no interrupt. */
	vg_kick(g, 0);
	assert_int_equal(g->nmsi, 2);
}

static void test_64k_per_chain(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(f);
	vg_set_desc(g, 0, 0, VG_DATA, 0x20000, WRITE, 0);
	vg_make_available(g, 0, 0);
	vg_kick(g, 0);
	uint32_t id, len;
	vg_used_elem(g, 0, 0, &id, &len);
	assert_int_equal(len, 0x10000);
	assert_false(all_zero(g->mem + VG_DATA + 0xff00, 0x100));
	assert_true(all_zero(g->mem + VG_DATA + 0x10000, 0x10000));
	/* The cap falls inside the second of several buffers. */
	memset(g->mem + VG_DATA, 0, 0x20000);
	vg_set_desc(g, 0, 1, VG_DATA, 0xc000, WRITE | NEXT, 2);
	vg_set_desc(g, 0, 2, VG_DATA + 0xc000, 0xc000, WRITE | NEXT, 3);
	vg_set_desc(g, 0, 3, VG_DATA + 0x18000, 0x100, WRITE, 0);
	vg_make_available(g, 0, 1);
	vg_kick(g, 0);
	vg_used_elem(g, 0, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 0x10000);
	assert_false(all_zero(g->mem + VG_DATA + 0xff00, 0x100));
	assert_true(all_zero(g->mem + VG_DATA + 0x10000, 0x8100));
}

static void test_readable_buffers_break_it(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	log_set_level(LOG_ERROR);
	for (int round = 0; round < 2; round++) {
		bring_up(f);
		int before = g->nmsi;
		if (round == 0) {
			vg_set_desc(g, 0, 0, VG_DATA, 16, 0, 0);
		} else {
			vg_set_desc(g, 0, 0, VG_DATA, 16, NEXT, 1);
			vg_set_desc(g, 0, 1, VG_DATA + 16, 16, WRITE, 0);
		}
		vg_make_available(g, 0, 0);
		vg_kick(g, 0);
		assert_int_equal(vg_used_idx(g, 0), 0);
		assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
		assert_true(all_zero(g->mem + VG_DATA, 32));
		/* The configuration vector, not the queue's. */
		assert_int_equal(g->nmsi, before + 1);
		assert_int_equal(g->msis[before].data, 0x30);
		/* And nothing more until reset. */
		vg_set_desc(g, 0, 2, VG_DATA, 16, WRITE, 0);
		vg_make_available(g, 0, 2);
		vg_kick(g, 0);
		assert_int_equal(vg_used_idx(g, 0), 0);
		assert_int_equal(g->nmsi, before + 1);
	}
	/* Requests before the breaking one in the same kick were answered. */
	bring_up(f);
	vg_set_desc(g, 0, 0, VG_DATA, 16, WRITE, 0);
	vg_set_desc(g, 0, 1, VG_DATA + 16, 16, 0, 0);
	vg_make_available(g, 0, 0);
	vg_make_available(g, 0, 1);
	vg_kick(g, 0);
	assert_int_equal(vg_used_idx(g, 0), 1);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fills_each_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_64k_per_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_buffers_break_it, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
