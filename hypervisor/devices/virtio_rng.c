/* virtio_rng.c — virtio entropy device (virtio 1.x section 5.4): one queue
 * of device-writable buffers, filled from the host's getrandom(). */
#include "virtio.h"

#include "../../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* A request bigger than this gets this much: the guest asks again, and a
 * vCPU never spends long in one notify. */
#define RNG_MAX_PER_CHAIN (64u * 1024)

struct virtio_rng {
	struct virtio_device vdev;
	bool getrandom_failed;    /* logged once */
	struct virtq_chain chain; /* under the device lock */
};

/* Fills up to `len` bytes; returns how many were filled. */
static size_t rng_fill(struct virtio_rng *rng, uint8_t *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!rng->getrandom_failed)
				log_warn("%s: getrandom: %s", rng->vdev.name, n < 0 ? strerror(errno) : "no bytes");
			rng->getrandom_failed = true;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static void rng_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_rng *rng = vdev->opaque;
	struct virtq_chain *chain = &rng->chain;
	bool pushed = false;
	while (virtq_pop(vq, chain) == 1) {
		if (chain->nreadable > 0) {
			virtio_mark_broken(vdev, "request %u has device-readable buffers", chain->head);
			break;
		}
		size_t total = 0;
		for (uint16_t i = 0; i < chain->nwritable && total < RNG_MAX_PER_CHAIN; i++) {
			size_t want = chain->iov[i].iov_len;
			if (want > RNG_MAX_PER_CHAIN - total)
				want = RNG_MAX_PER_CHAIN - total;
			size_t got = rng_fill(rng, chain->iov[i].iov_base, want);
			total += got;
			if (got < want)
				break;
		}
		virtq_push(vq, chain, (uint32_t)total);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(vdev, vq);
}

static const struct virtio_device_ops rng_ops = {
    .queue_notify = rng_queue_notify,
};

struct virtio_rng *virtio_rng_create(const struct virtio_pci_config *cfg)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return NULL;
	rng->vdev.name = "virtio-rng";
	rng->vdev.device_id = VIRTIO_ID_RNG;
	rng->vdev.num_queues = 1;
	rng->vdev.ops = &rng_ops;
	rng->vdev.opaque = rng;
	int err = virtio_pci_init(&rng->vdev, cfg);
	if (err) {
		free(rng);
		errno = -err;
		return NULL;
	}
	return rng;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_pci_destroy(&rng->vdev);
	free(rng);
}

void virtio_rng_save(struct virtio_rng *rng, struct snap_buf *out)
{
	virtio_lock(&rng->vdev);
	virtio_device_save(&rng->vdev, out);
	virtio_unlock(&rng->vdev);
}

int virtio_rng_load(struct virtio_rng *rng, struct snap_cursor *in)
{
	virtio_lock(&rng->vdev);
	int r = virtio_device_load(&rng->vdev, in);
	virtio_unlock(&rng->vdev);
	return r == 0 && !snap_cursor_done(in) ? -EINVAL : r;
}
