/* test_virtqueue.c — unit tests for split virtqueues (hypervisor/devices/
 * virtqueue.c) and the transport-independent device state (virtio.c), with
 * rings built by hand in a malloc'd guest memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "../../hypervisor/devices/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEM_SIZE  (1u << 20)
/* Far above the test RAM: addresses the accessor accepts at any length but
 * that are never touched, so chains can claim gigabytes. */
#define HUGE_BASE (1ull << 40)
#define HUGE_LEN  (16ull << 30)

#define DESC_GPA  0x1000
#define AVAIL_GPA 0x4000
#define USED_GPA  0x6000
#define DATA_GPA  0x10000

struct fixture {
	uint8_t *mem;
	uint8_t huge_byte;
	struct virtio_device vdev;
	int resets;
};

static void *test_gpa(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fixture *f = opaque;
	if (gpa >= HUGE_BASE && gpa - HUGE_BASE < HUGE_LEN && len <= HUGE_LEN - (gpa - HUGE_BASE))
		return &f->huge_byte;
	if (gpa > MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return f->mem + gpa;
}

static void test_reset(struct virtio_device *vdev)
{
	struct fixture *f = vdev->opaque;
	f->resets++;
}

static const struct virtio_device_ops test_ops = {.reset = test_reset};

static void make_live(struct fixture *f)
{
	f->vdev.status =
	    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->mem = aligned_alloc(4096, MEM_SIZE);
	if (!f->mem)
		return -1;
	memset(f->mem, 0, MEM_SIZE);
	f->vdev.name = "virtio-test";
	f->vdev.device_id = VIRTIO_ID_RNG;
	f->vdev.num_queues = 2;
	f->vdev.ops = &test_ops;
	f->vdev.opaque = f;
	virtio_device_init(&f->vdev, (struct guest_memory){test_gpa, f});
	make_live(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pthread_mutex_destroy(&f->vdev.lock);
	free(f->mem);
	free(f);
	return 0;
}

static struct virtqueue *queue_at(struct fixture *f, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct virtqueue *vq = &f->vdev.queues[0];
	vq->size = size;
	vq->desc_addr = desc;
	vq->avail_addr = avail;
	vq->used_addr = used;
	return vq;
}

static struct virtqueue *queue(struct fixture *f, uint16_t size)
{
	struct virtqueue *vq = queue_at(f, size, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(virtq_enable(vq), 0);
	assert_true(vq->enabled);
	return vq;
}

static void set_desc(struct fixture *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
	memcpy(f->mem + DESC_GPA + (size_t)i * sizeof(d), &d, sizeof(d));
}

static uint16_t avail_idx(struct fixture *f)
{
	uint16_t v;
	memcpy(&v, f->mem + AVAIL_GPA + 2, 2);
	return v;
}

static void set_avail_idx(struct fixture *f, uint16_t v)
{
	memcpy(f->mem + AVAIL_GPA + 2, &v, 2);
}

static void set_avail_flags(struct fixture *f, uint16_t v)
{
	memcpy(f->mem + AVAIL_GPA, &v, 2);
}

/* Makes the chain at `head` available in entry avail->idx and moves idx. */
static void make_available(struct fixture *f, uint16_t size, uint16_t head)
{
	uint16_t idx = avail_idx(f);
	memcpy(f->mem + AVAIL_GPA + 4 + (size_t)(idx % size) * 2, &head, 2);
	set_avail_idx(f, (uint16_t)(idx + 1));
}

static uint16_t used_idx(struct fixture *f)
{
	uint16_t v;
	memcpy(&v, f->mem + USED_GPA + 2, 2);
	return v;
}

static struct virtq_used_elem used_elem(struct fixture *f, uint16_t size, uint16_t idx)
{
	struct virtq_used_elem e;
	memcpy(&e, f->mem + USED_GPA + 4 + (size_t)(idx % size) * sizeof(e), sizeof(e));
	return e;
}

/* The guest broke a rule: -EINVAL, NEEDS_RESET, a configuration interrupt
 * and nothing more from the queue; a reset brings it back. */
static void assert_broken_then_reset(struct fixture *f, struct virtqueue *vq, int rc)
{
	struct virtio_device *vdev = &f->vdev;
	assert_int_equal(rc, -EINVAL);
	assert_true(vdev->broken);
	assert_true(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(vdev->isr & 2);
	assert_false(virtio_device_live(vdev));
	uint8_t generation = vdev->config_generation;
	struct virtq_chain chain;
	assert_int_equal(virtq_pop(vq, &chain), 0);
	/* Marked once: a second rule broken adds no interrupt. */
	virtio_mark_broken(vdev, "again");
	assert_int_equal(vdev->config_generation, generation);
	int resets = f->resets;
	virtio_device_reset(vdev);
	assert_int_equal(f->resets, resets + 1);
	assert_false(vdev->broken);
	assert_int_equal(vdev->status, 0);
	assert_int_equal(vdev->isr, 0);
	assert_false(vq->enabled);
	assert_int_equal(vq->size, VIRTQ_MAX_SIZE);
	assert_int_equal(vq->msix_vector, VIRTIO_MSI_NO_VECTOR);
	make_live(f);
	memset(f->mem, 0, MEM_SIZE);
}

static void test_init_state(void **state)
{
	struct fixture *f = *state;
	struct virtio_device *vdev = &f->vdev;
	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		assert_ptr_equal(vdev->queues[i].vdev, vdev);
		assert_int_equal(vdev->queues[i].index, i);
		assert_int_equal(vdev->queues[i].size, VIRTQ_MAX_SIZE);
		assert_int_equal(vdev->queues[i].msix_vector, VIRTIO_MSI_NO_VECTOR);
		assert_false(vdev->queues[i].enabled);
	}
	assert_int_equal(vdev->msix_config, VIRTIO_MSI_NO_VECTOR);
	assert_null(vdev->transport);
	assert_true(virtio_device_live(vdev));
	assert_non_null(virtio_guest_memory(vdev, 0, MEM_SIZE));
	assert_null(virtio_guest_memory(vdev, 1, MEM_SIZE));
	assert_null(virtio_guest_memory(vdev, UINT64_MAX, 2));
	virtio_lock(vdev);
	virtio_unlock(vdev);
}

static void test_enable_rules(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 6, 255, 512, 0xffff};
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		struct virtqueue *vq = queue_at(f, bad_sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA);
		assert_broken_then_reset(f, vq, virtq_enable(vq));
	}
	struct virtqueue *vq = queue_at(f, 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	vq = queue_at(f, 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	vq = queue_at(f, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	/* Rings that end past RAM, counting the trailing event words. */
	vq = queue_at(f, 16, MEM_SIZE - 16 * 16 + 16, AVAIL_GPA, USED_GPA);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	vq = queue_at(f, 16, DESC_GPA, MEM_SIZE - (4 + 32), USED_GPA);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	vq = queue_at(f, 16, DESC_GPA, AVAIL_GPA, MEM_SIZE - (4 + 128));
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	vq = queue_at(f, 16, UINT64_MAX - 15, AVAIL_GPA, USED_GPA);
	assert_broken_then_reset(f, vq, virtq_enable(vq));
	/* Up to the last byte of RAM is fine. */
	static const uint64_t at_end[3][3] = {
	    {MEM_SIZE - 16 * 16, AVAIL_GPA, USED_GPA},
	    {DESC_GPA, MEM_SIZE - (4 + 32 + 2), USED_GPA},
	    {DESC_GPA, AVAIL_GPA, MEM_SIZE - (4 + 128 + 2) - 2}, /* the closest 4-aligned start */
	};
	for (int i = 0; i < 3; i++) {
		vq = queue_at(f, 16, at_end[i][0], at_end[i][1], at_end[i][2]);
		assert_int_equal(virtq_enable(vq), 0);
		assert_false(f->vdev.broken);
		assert_true(vq->enabled);
		assert_ptr_equal(vq->desc, f->mem + at_end[i][0]);
		assert_ptr_equal(vq->avail, f->mem + at_end[i][1]);
		assert_ptr_equal(vq->used, f->mem + at_end[i][2]);
		vq->enabled = false;
	}
	for (uint16_t size = 1; size <= VIRTQ_MAX_SIZE; size *= 2) {
		queue(f, size);
		vq->enabled = false;
	}
}

static void test_empty_and_not_live(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	struct virtqueue *vq = &f->vdev.queues[0];
	/* Not enabled: nothing, even with something available. */
	set_desc(f, 0, DATA_GPA, 8, 0, 0);
	make_available(f, 8, 0);
	assert_int_equal(virtq_pop(vq, &chain), 0);
	vq = queue(f, 8);
	set_avail_idx(f, 0);
	assert_int_equal(virtq_pop(vq, &chain), 0);
	assert_false(f->vdev.broken);
	make_available(f, 8, 0);
	/* No DRIVER_OK yet: nothing taken. */
	f->vdev.status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	assert_int_equal(virtq_pop(vq, &chain), 0);
	assert_int_equal(vq->last_avail, 0);
	make_live(f);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(virtq_pop(vq, &chain), 0);
}

static void test_chain_layout(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = queue(f, 8);
	/* Descriptors out of index order: 5 -> 2 -> 7 -> 0. */
	set_desc(f, 5, DATA_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT, 7);
	set_desc(f, 7, DATA_GPA + 0x200, 30, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	set_desc(f, 0, DATA_GPA + 0x300, 5, VIRTQ_DESC_F_WRITE, 6); /* next ignored without F_NEXT */
	for (int i = 0; i < 30; i++)
		f->mem[DATA_GPA + i] = (uint8_t)i;
	for (int i = 0; i < 20; i++)
		f->mem[DATA_GPA + 0x100 + i] = (uint8_t)(100 + i);
	make_available(f, 8, 5);
	struct virtq_chain chain;
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.head, 5);
	assert_int_equal(chain.nreadable, 2);
	assert_int_equal(chain.nwritable, 2);
	assert_int_equal(chain.readable_bytes, 30);
	assert_int_equal(chain.writable_bytes, 35);
	assert_ptr_equal(chain.iov[0].iov_base, f->mem + DATA_GPA);
	assert_int_equal(chain.iov[0].iov_len, 10);
	assert_ptr_equal(chain.iov[1].iov_base, f->mem + DATA_GPA + 0x100);
	assert_ptr_equal(chain.iov[2].iov_base, f->mem + DATA_GPA + 0x200);
	assert_ptr_equal(chain.iov[3].iov_base, f->mem + DATA_GPA + 0x300);
	assert_int_equal(chain.iov[3].iov_len, 5);
	assert_int_equal(vq->last_avail, 1);

	/* Reads across the iovec boundary, from an offset, and past the end. */
	uint8_t buf[64];
	assert_int_equal(virtq_chain_read(&chain, 8, buf, 4), 4);
	assert_int_equal(buf[0], 8);
	assert_int_equal(buf[1], 9);
	assert_int_equal(buf[2], 100);
	assert_int_equal(buf[3], 101);
	assert_int_equal(virtq_chain_read(&chain, 0, buf, sizeof(buf)), 30);
	assert_int_equal(buf[29], 119);
	assert_int_equal(virtq_chain_read(&chain, 25, buf, sizeof(buf)), 5);
	assert_int_equal(buf[0], 115);
	assert_int_equal(virtq_chain_read(&chain, 30, buf, 1), 0);
	assert_int_equal(virtq_chain_read(&chain, 1000, buf, 1), 0);

	/* Writes go only into the writable part, across its boundary. */
	uint8_t out[40];
	for (int i = 0; i < 40; i++)
		out[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(virtq_chain_write(&chain, 28, out, 4), 4);
	assert_int_equal(f->mem[DATA_GPA + 0x200 + 28], 0xa0);
	assert_int_equal(f->mem[DATA_GPA + 0x200 + 29], 0xa1);
	assert_int_equal(f->mem[DATA_GPA + 0x300], 0xa2);
	assert_int_equal(f->mem[DATA_GPA + 0x300 + 1], 0xa3);
	assert_int_equal(f->mem[DATA_GPA + 0x300 + 2], 0);
	assert_int_equal(virtq_chain_write(&chain, 0, out, sizeof(out)), 35);
	assert_int_equal(f->mem[DATA_GPA + 0x300 + 4], 0xa0 + 34);
	assert_int_equal(f->mem[DATA_GPA + 0x300 + 5], 0);
	assert_int_equal(f->mem[DATA_GPA], 0); /* readable bytes untouched */
	assert_int_equal(virtq_chain_write(&chain, 35, out, 1), 0);

	/* The used ring gets the head and the count, then the index moves. */
	virtq_push(vq, &chain, 33);
	assert_int_equal(used_idx(f), 1);
	struct virtq_used_elem e = used_elem(f, 8, 0);
	assert_int_equal(e.id, 5);
	assert_int_equal(e.len, 33);
	/* A count beyond the writable bytes is clamped. */
	make_available(f, 8, 5);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	virtq_push(vq, &chain, 1000);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(used_elem(f, 8, 1).len, 35);
}

static void test_readable_and_writable_only(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = queue(f, 4);
	set_desc(f, 0, DATA_GPA, 16, 0, 0);
	set_desc(f, 1, DATA_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	make_available(f, 4, 0);
	make_available(f, 4, 1);
	struct virtq_chain chain;
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.nreadable, 1);
	assert_int_equal(chain.nwritable, 0);
	uint8_t b = 0x55;
	assert_int_equal(virtq_chain_write(&chain, 0, &b, 1), 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.nreadable, 0);
	assert_int_equal(chain.nwritable, 1);
	assert_int_equal(virtq_chain_read(&chain, 0, &b, 1), 0);
	virtq_push(vq, &chain, 0);
	assert_int_equal(used_elem(f, 4, 0).id, 1);
	assert_int_equal(used_elem(f, 4, 0).len, 0);
}

static void test_zero_length_descriptors(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = queue(f, 8);
	/* Zero-length buffers get no iovec, wherever they point. */
	set_desc(f, 0, 0xdead00000000ull, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	set_desc(f, 3, DATA_GPA + 8, 4, VIRTQ_DESC_F_WRITE, 0);
	make_available(f, 8, 0);
	struct virtq_chain chain;
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.nreadable, 1);
	assert_int_equal(chain.nwritable, 1);
	assert_int_equal(chain.readable_bytes, 4);
	assert_int_equal(chain.writable_bytes, 4);
	assert_ptr_equal(chain.iov[1].iov_base, f->mem + DATA_GPA + 8);
	/* ...but the rules still hold for them: readable after writable. */
	set_desc(f, 3, DATA_GPA + 8, 0, 0, 0);
	make_available(f, 8, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* ...and an indirect flag on an empty descriptor. */
	vq = queue(f, 8);
	set_desc(f, 0, 0, 0, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(f, 8, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* An all-empty chain is a valid chain with no bytes. */
	vq = queue(f, 8);
	set_desc(f, 0, 0, 0, VIRTQ_DESC_F_WRITE, 0);
	make_available(f, 8, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.nreadable + chain.nwritable, 0);
	assert_int_equal(chain.writable_bytes, 0);
}

static void test_bad_head_and_next(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	struct virtqueue *vq = queue(f, 8);
	make_available(f, 8, 8);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	vq = queue(f, 8);
	make_available(f, 8, 0xffff);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	vq = queue(f, 8);
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 8);
	make_available(f, 8, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* The last slot is in range. */
	vq = queue(f, 8);
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 7);
	set_desc(f, 7, DATA_GPA, 4, 0, 0);
	make_available(f, 8, 7);
	make_available(f, 8, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.head, 7);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.head, 0);
	assert_int_equal(chain.nreadable, 2);
}

static void test_loops_and_long_chains(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	/* A descriptor that links to itself. */
	struct virtqueue *vq = queue(f, 4);
	set_desc(f, 2, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	make_available(f, 4, 2);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* A loop further down: 0 -> 1 -> 2 -> 1. */
	vq = queue(f, 4);
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	make_available(f, 4, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* Every descriptor of the largest queue in one chain is fine. */
	vq = queue(f, VIRTQ_MAX_SIZE);
	for (uint16_t i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, i, DATA_GPA + i, 1, i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	make_available(f, VIRTQ_MAX_SIZE, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.nreadable, VIRTQ_MAX_SIZE);
	assert_int_equal(chain.readable_bytes, VIRTQ_MAX_SIZE);
	assert_ptr_equal(chain.iov[VIRTQ_MAX_SIZE - 1].iov_base, f->mem + DATA_GPA + VIRTQ_MAX_SIZE - 1);
	/* One more link (back to the start) is a loop. */
	set_desc(f, VIRTQ_MAX_SIZE - 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	make_available(f, VIRTQ_MAX_SIZE, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
}

static void test_buffers_outside_ram(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
	    {MEM_SIZE, 1},
	    {MEM_SIZE - 4, 5},
	    {UINT64_MAX - 8, 0x100}, /* wraps */
	    {0x200000, 0x1000},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int writable = 0; writable < 2; writable++) {
			struct virtqueue *vq = queue(f, 8);
			uint16_t flags = writable ? VIRTQ_DESC_F_WRITE : 0;
			set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT | flags, 1);
			set_desc(f, 1, bad[i].addr, bad[i].len, flags, 0);
			make_available(f, 8, 0);
			assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
		}
	}
	/* The last byte of RAM is fine. */
	struct virtqueue *vq = queue(f, 8);
	set_desc(f, 0, MEM_SIZE - 4, 4, VIRTQ_DESC_F_WRITE, 0);
	make_available(f, 8, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
}

static void test_readable_after_writable(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	struct virtqueue *vq = queue(f, 8);
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(f, 2, DATA_GPA, 4, 0, 0);
	make_available(f, 8, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
}

static void test_indirect_refused(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	struct virtqueue *vq = queue(f, 8);
	set_desc(f, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, DATA_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	make_available(f, 8, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
}

static void test_byte_count_overflow(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	/* Exactly 4 GiB - 1 in each direction is the most a chain carries. */
	struct virtqueue *vq = queue(f, 8);
	set_desc(f, 0, HUGE_BASE, UINT32_MAX, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, HUGE_BASE, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
	make_available(f, 8, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	assert_int_equal(chain.readable_bytes, UINT32_MAX);
	assert_int_equal(chain.writable_bytes, UINT32_MAX);
	for (int writable = 0; writable < 2; writable++) {
		vq = queue(f, 8);
		uint16_t flags = writable ? VIRTQ_DESC_F_WRITE : 0;
		set_desc(f, 0, HUGE_BASE, UINT32_MAX, VIRTQ_DESC_F_NEXT | flags, 1);
		set_desc(f, 1, HUGE_BASE, 1, flags, 0);
		make_available(f, 8, 0);
		assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	}
}

static void test_avail_index_jump(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	/* A full ring is fine. */
	struct virtqueue *vq = queue(f, 4);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(f, i, DATA_GPA, 4, 0, 0);
		make_available(f, 4, i);
	}
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(virtq_pop(vq, &chain), 1);
		assert_int_equal(chain.head, i);
	}
	assert_int_equal(virtq_pop(vq, &chain), 0);
	/* More than a ring's worth ahead is not. */
	set_avail_idx(f, 4 + 5);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
	/* Nor is going backwards (which is a jump of almost 65536). */
	vq = queue(f, 4);
	set_desc(f, 0, DATA_GPA, 4, 0, 0);
	make_available(f, 4, 0);
	assert_int_equal(virtq_pop(vq, &chain), 1);
	set_avail_idx(f, 0);
	assert_broken_then_reset(f, vq, virtq_pop(vq, &chain));
}

static void test_index_wraparound(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain chain;
	struct virtqueue *vq = queue(f, 4);
	/* As if 65534 chains had gone through already. */
	vq->last_avail = vq->used_idx = 65534;
	set_avail_idx(f, 65534);
	uint16_t used = 65534;
	memcpy(f->mem + USED_GPA + 2, &used, 2);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(f, i, DATA_GPA + 16 * i, 16, VIRTQ_DESC_F_WRITE, 0);
		make_available(f, 4, (uint16_t)(3 - i));
	}
	assert_int_equal(avail_idx(f), 2);
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(virtq_pop(vq, &chain), 1);
		assert_int_equal(chain.head, 3 - i);
		virtq_push(vq, &chain, i);
	}
	assert_int_equal(virtq_pop(vq, &chain), 0);
	assert_int_equal(vq->last_avail, 2);
	assert_int_equal(used_idx(f), 2);
	for (uint16_t i = 0; i < 4; i++) {
		struct virtq_used_elem e = used_elem(f, 4, (uint16_t)(65534 + i));
		assert_int_equal(e.id, 3 - i);
		assert_int_equal(e.len, i);
	}
}

static void test_used_ring_order(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = queue(f, 8);
	struct virtq_chain chains[3];
	for (uint16_t i = 0; i < 3; i++) {
		set_desc(f, (uint16_t)(2 * i), DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
		make_available(f, 8, (uint16_t)(2 * i));
		assert_int_equal(virtq_pop(vq, &chains[i]), 1);
	}
	/* Completion order is the device's, not the guest's. */
	virtq_push(vq, &chains[2], 1);
	virtq_push(vq, &chains[0], 2);
	virtq_push(vq, &chains[1], 3);
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(used_elem(f, 8, 0).id, 4);
	assert_int_equal(used_elem(f, 8, 1).id, 0);
	assert_int_equal(used_elem(f, 8, 2).id, 2);
	assert_int_equal(used_elem(f, 8, 2).len, 3);
	/* Pushing on a disabled queue or a broken device changes nothing. */
	vq->enabled = false;
	virtq_push(vq, &chains[0], 1);
	assert_int_equal(used_idx(f), 3);
	vq->enabled = true;
	f->vdev.broken = true;
	virtq_push(vq, &chains[0], 1);
	assert_int_equal(used_idx(f), 3);
}

static void test_notify_queue(void **state)
{
	struct fixture *f = *state;
	struct virtio_device *vdev = &f->vdev;
	struct virtqueue *vq = &vdev->queues[0];
	/* Disabled queue: no interrupt. */
	virtio_notify_queue(vdev, vq);
	assert_int_equal(vdev->isr, 0);
	vq = queue(f, 8);
	virtio_notify_queue(vdev, vq);
	assert_int_equal(vdev->isr, 1);
	vdev->isr = 0;
	set_avail_flags(f, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtio_notify_queue(vdev, vq);
	assert_int_equal(vdev->isr, 0);
	set_avail_flags(f, 0);
	virtio_notify_queue(vdev, vq);
	assert_int_equal(vdev->isr, 1);
	/* The configuration interrupt moves the generation. */
	uint8_t generation = vdev->config_generation;
	virtio_notify_config(vdev);
	assert_int_equal(vdev->isr, 3);
	assert_int_equal(vdev->config_generation, (uint8_t)(generation + 1));
}

static uint32_t next_random(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A guest that keeps rewriting descriptors and the avail ring between pops,
 * mostly with plausible values: whatever it does, every popped chain lies
 * in RAM within its byte counts, and pops stop once the device is broken. */
static void test_random_rings(void **state)
{
	struct fixture *f = *state;
	uint32_t seed = 12345;
	int popped = 0, broken = 0;
	enum log_level level = log_get_level();
	log_set_level(LOG_ERROR); /* thousands of "broken" lines say nothing here */
	for (int round = 0; round < 3000; round++) {
		uint16_t size = (uint16_t)(1u << (next_random(&seed) % 5));
		struct virtqueue *vq = queue(f, size);
		for (int step = 0; step < 40; step++) {
			uint32_t r = next_random(&seed);
			switch (r % 4) {
			case 0:
			case 1: {
				uint16_t i = (uint16_t)(next_random(&seed) % (size + 1u));
				uint64_t addr = r % 16 ? DATA_GPA + next_random(&seed) % 0x1000
						       : (uint64_t)next_random(&seed) << 40 | next_random(&seed);
				uint32_t len = r % 8 ? next_random(&seed) % 0x100 : next_random(&seed) << 8;
				uint16_t flags = (uint16_t)(next_random(&seed) % (r % 8 ? 4 : 8));
				uint16_t next = (uint16_t)(next_random(&seed) % (size + 1u));
				if (i < size)
					set_desc(f, i, addr, len, flags, next);
				break;
			}
			case 2:
				make_available(f, size, (uint16_t)(next_random(&seed) % (r % 16 ? size : 0x10000u)));
				break;
			default:
				if (r % 64 == 3)
					set_avail_idx(f, (uint16_t)next_random(&seed));
				break;
			}
			struct virtq_chain chain;
			int rc = virtq_pop(vq, &chain);
			assert_true(rc == 0 || rc == 1 || rc == -EINVAL);
			if (rc == 1) {
				size_t bytes[2] = {0, 0};
				assert_true(chain.head < size);
				for (unsigned i = 0; i < (unsigned)chain.nreadable + chain.nwritable; i++) {
					uint8_t *p = chain.iov[i].iov_base;
					assert_true(p >= f->mem && p + chain.iov[i].iov_len <= f->mem + MEM_SIZE);
					bytes[i >= chain.nreadable] += chain.iov[i].iov_len;
				}
				assert_int_equal(bytes[0], chain.readable_bytes);
				assert_int_equal(bytes[1], chain.writable_bytes);
				virtq_push(vq, &chain, next_random(&seed));
				popped++;
			}
			if (rc == -EINVAL) {
				assert_true(f->vdev.broken);
				assert_int_equal(virtq_pop(vq, &chain), 0);
				broken++;
				break;
			}
		}
		virtio_device_reset(&f->vdev);
		make_live(f);
		memset(f->mem + DESC_GPA, 0, USED_GPA + 0x1000 - DESC_GPA);
	}
	log_set_level(level);
	/* Both outcomes were exercised, not just one. */
	assert_true(popped > 1000);
	assert_true(broken > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enable_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_and_not_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_and_writable_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length_descriptors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_head_and_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loops_and_long_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffers_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_byte_count_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_avail_index_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_wraparound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_used_ring_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_rings, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
