/* fuzz_virtqueue.c — arbitrary bytes as a guest's split virtqueue: a header
 * picks the queue size, ring addresses and starting indices, the rest is
 * guest RAM; the device pops, copies and pushes until the queue is empty
 * or broken. */
#include "../../common/log.h"
#include "../../hypervisor/devices/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MEM      (64u << 10)
/* Pops per input: a chain the device writes can land on the avail ring and
 * make more available, so the harness bounds the loop itself. */
#define FUZZ_MAX_POPS 4096

static uint8_t fuzz_mem[FUZZ_MEM] __attribute__((aligned(4096)));

static void *fuzz_gpa(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa > FUZZ_MEM || len > FUZZ_MEM - gpa)
		return NULL;
	return fuzz_mem + gpa;
}

static uint64_t fuzz_take(const uint8_t **data, size_t *size, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i<n && * size> 0; i++, (*data)++, (*size)--)
		v |= (uint64_t) * *data << (8 * i);
	return v;
}

/* Every chain virtq_pop hands out must lie in guest RAM and add up. */
static void fuzz_check_chain(const struct virtq_chain *c, uint16_t size)
{
	size_t bytes[2] = {0, 0};
	if (c->head >= size || c->nreadable + c->nwritable > size)
		abort();
	for (unsigned i = 0; i < (unsigned)c->nreadable + c->nwritable; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		if (c->iov[i].iov_len == 0 || p < fuzz_mem || c->iov[i].iov_len > FUZZ_MEM ||
		    p + c->iov[i].iov_len > fuzz_mem + FUZZ_MEM)
			abort();
		bytes[i >= c->nreadable] += c->iov[i].iov_len;
	}
	if (bytes[0] != c->readable_bytes || bytes[1] != c->writable_bytes)
		abort();
}

/* Broken queues are the common case here; their log lines are noise. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtio_device vdev;
	static struct virtq_chain chain;
	static uint8_t copy[512];
	/* Header: mode (low 4 bits: log2 of the queue size; 0x10: a raw 16-bit
	 * size follows instead; 0x20: the descriptor table may be anywhere in
	 * 64 bits), ring addresses, the starting index (as if that many chains
	 * went through), the count the device claims it wrote and where in a
	 * chain its copies start. The rest is guest RAM. */
	uint8_t mode = (uint8_t)fuzz_take(&data, &size, 1);
	uint16_t qsize = (uint16_t)(1u << (mode & 0xf));
	if (mode & 0x10)
		qsize = (uint16_t)fuzz_take(&data, &size, 2);
	uint64_t desc = fuzz_take(&data, &size, 3);
	uint64_t avail = fuzz_take(&data, &size, 3);
	uint64_t used = fuzz_take(&data, &size, 3);
	if (mode & 0x20)
		desc |= fuzz_take(&data, &size, 5) << 24;
	uint16_t start = (uint16_t)fuzz_take(&data, &size, 2);
	uint32_t written = (uint32_t)fuzz_take(&data, &size, 4);
	uint16_t offset = (uint16_t)fuzz_take(&data, &size, 2);
	memset(fuzz_mem, 0, sizeof(fuzz_mem));
	memcpy(fuzz_mem, data, size < FUZZ_MEM ? size : FUZZ_MEM);

	memset(&vdev, 0, sizeof(vdev));
	vdev.name = "virtio-fuzz";
	vdev.num_queues = 1;
	virtio_device_init(&vdev, (struct guest_memory){fuzz_gpa, NULL});
	vdev.status = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	struct virtqueue *vq = &vdev.queues[0];
	vq->size = qsize;
	vq->desc_addr = desc;
	vq->avail_addr = avail;
	vq->used_addr = used;
	if (virtq_enable(vq) == 0) {
		vq->last_avail = vq->used_idx = start;
		int rc = 0;
		for (int pops = 0; pops < FUZZ_MAX_POPS; pops++) {
			rc = virtq_pop(vq, &chain);
			if (rc != 1)
				break;
			fuzz_check_chain(&chain, vq->size);
			size_t n = virtq_chain_read(&chain, offset, copy, sizeof(copy));
			size_t left = offset < chain.readable_bytes ? chain.readable_bytes - offset : 0;
			if (n != (left < sizeof(copy) ? left : sizeof(copy)))
				abort();
			virtq_chain_write(&chain, offset, copy, n);
			virtq_push(vq, &chain, written);
			virtio_notify_queue(&vdev, vq);
		}
		if (rc == -EINVAL) {
			/* Broken is final until a reset. */
			if (!vdev.broken || !(vdev.status & VIRTIO_STATUS_NEEDS_RESET) || virtq_pop(vq, &chain) != 0)
				abort();
		} else if (rc != 0 && rc != 1) {
			abort();
		}
	} else if (!vdev.broken) {
		abort();
	}
	virtio_device_reset(&vdev);
	pthread_mutex_destroy(&vdev.lock);
	return 0;
}
