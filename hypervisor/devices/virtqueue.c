/* virtqueue.c — split virtqueues (virtio 1.x section 2.7) as the device sees
 * them: every index, descriptor and buffer the guest hands over is checked
 * before the device model gets a host pointer to it. */
#include "virtio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Ring fields are little-endian; on this host that is the native order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtqueues are little-endian");

static bool virtq_power_of_two(uint16_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* Checks a queue's size, alignment and rings; fills the ring views. A
 * message for the log in `why` when they are not valid. */
static int virtq_check(struct virtqueue *vq, struct virtq_desc **desc, struct virtq_avail **avail,
		       struct virtq_used **used, char *why, size_t cap)
{
	struct virtio_device *vdev = vq->vdev;
	uint16_t size = vq->size;
	if (!virtq_power_of_two(size) || size > VIRTQ_MAX_SIZE) {
		snprintf(why, cap, "queue %u: size %u is not a power of two up to %u", vq->index, size, VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	if (vq->desc_addr % 16 || vq->avail_addr % 2 || vq->used_addr % 4) {
		snprintf(why, cap, "queue %u: misaligned rings (desc 0x%llx, driver 0x%llx, device 0x%llx)", vq->index,
			 (unsigned long long)vq->desc_addr, (unsigned long long)vq->avail_addr,
			 (unsigned long long)vq->used_addr);
		return -EINVAL;
	}
	/* Sizes include the trailing used_event / avail_event words, which the
	 * guest may write even though event index is not offered. */
	uint64_t desc_len = (uint64_t)size * sizeof(struct virtq_desc);
	uint64_t avail_len = sizeof(struct virtq_avail) + (uint64_t)size * sizeof(uint16_t) + sizeof(uint16_t);
	uint64_t used_len =
	    sizeof(struct virtq_used) + (uint64_t)size * sizeof(struct virtq_used_elem) + sizeof(uint16_t);
	*desc = virtio_guest_memory(vdev, vq->desc_addr, desc_len);
	*avail = virtio_guest_memory(vdev, vq->avail_addr, avail_len);
	*used = virtio_guest_memory(vdev, vq->used_addr, used_len);
	if (!*desc || !*avail || !*used) {
		snprintf(why, cap, "queue %u: rings outside guest RAM (desc 0x%llx, driver 0x%llx, device 0x%llx)",
			 vq->index, (unsigned long long)vq->desc_addr, (unsigned long long)vq->avail_addr,
			 (unsigned long long)vq->used_addr);
		return -EINVAL;
	}
	return 0;
}

static int virtq_start(struct virtqueue *vq, uint16_t last_avail, uint16_t used_idx, bool guest)
{
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	char why[160];
	if (virtq_check(vq, &desc, &avail, &used, why, sizeof(why)) < 0) {
		if (guest)
			virtio_mark_broken(vq->vdev, "%s", why);
		return -EINVAL;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	vq->enabled = true;
	return 0;
}

int virtq_enable(struct virtqueue *vq)
{
	return virtq_start(vq, 0, 0, true);
}

int virtq_restore(struct virtqueue *vq, uint16_t last_avail, uint16_t used_idx)
{
	return virtq_start(vq, last_avail, used_idx, false);
}

/* The guest may rewrite a descriptor while the device reads it; each field
 * is loaded once so what was checked is what gets used. */
static struct virtq_desc virtq_load_desc(const struct virtq_desc *d)
{
	return (struct virtq_desc){
	    .addr = __atomic_load_n(&d->addr, __ATOMIC_RELAXED),
	    .len = __atomic_load_n(&d->len, __ATOMIC_RELAXED),
	    .flags = __atomic_load_n(&d->flags, __ATOMIC_RELAXED),
	    .next = __atomic_load_n(&d->next, __ATOMIC_RELAXED),
	};
}

/* Walks the chain at `head` into *chain; -EINVAL (device marked broken) on
 * the first rule the guest broke. */
static int virtq_walk(struct virtqueue *vq, uint16_t head, struct virtq_chain *chain)
{
	struct virtio_device *vdev = vq->vdev;
	uint64_t readable = 0, writable = 0;
	uint16_t niov = 0, nreadable = 0;
	bool seen_writable = false;
	uint16_t i = head;
	/* A chain visiting more descriptors than the queue has must repeat one:
	 * this one bound catches loops and overlong chains alike. */
	for (unsigned count = 1;; count++) {
		if (count > vq->size) {
			virtio_mark_broken(vdev, "queue %u: chain at %u is longer than the queue (%u) or loops",
					   vq->index, head, vq->size);
			return -EINVAL;
		}
		struct virtq_desc d = virtq_load_desc(&vq->desc[i]);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			virtio_mark_broken(vdev, "queue %u: indirect descriptor %u (not offered)", vq->index, i);
			return -EINVAL;
		}
		bool write = d.flags & VIRTQ_DESC_F_WRITE;
		if (write) {
			seen_writable = true;
			writable += d.len;
		} else {
			if (seen_writable) {
				virtio_mark_broken(vdev, "queue %u: readable descriptor %u after a writable one",
						   vq->index, i);
				return -EINVAL;
			}
			readable += d.len;
		}
		if (readable > UINT32_MAX || writable > UINT32_MAX) {
			virtio_mark_broken(vdev, "queue %u: chain at %u carries more than 4 GiB", vq->index, head);
			return -EINVAL;
		}
		if (d.len > 0) {
			void *p = virtio_guest_memory(vdev, d.addr, d.len);
			if (!p) {
				virtio_mark_broken(vdev, "queue %u: descriptor %u buffer 0x%llx+%u is not guest RAM",
						   vq->index, i, (unsigned long long)d.addr, d.len);
				return -EINVAL;
			}
			chain->iov[niov++] = (struct iovec){.iov_base = p, .iov_len = d.len};
			if (!write)
				nreadable++;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= vq->size) {
			virtio_mark_broken(vdev, "queue %u: descriptor %u links to %u, beyond the queue (%u)",
					   vq->index, i, d.next, vq->size);
			return -EINVAL;
		}
		i = d.next;
	}
	chain->head = head;
	chain->nreadable = nreadable;
	chain->nwritable = (uint16_t)(niov - nreadable);
	chain->readable_bytes = (size_t)readable;
	chain->writable_bytes = (size_t)writable;
	return 0;
}

int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain)
{
	struct virtio_device *vdev = vq->vdev;
	if (!vq->enabled || !virtio_device_live(vdev))
		return 0;
	/* Acquire: the ring entries and descriptors the guest wrote before
	 * moving idx are visible once the new idx is. */
	uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->size) {
		virtio_mark_broken(vdev, "queue %u: avail index %u is %u entries ahead of %u, more than the queue (%u)",
				   vq->index, avail_idx, pending, vq->last_avail, vq->size);
		return -EINVAL;
	}
	uint16_t head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->size - 1)], __ATOMIC_RELAXED);
	if (head >= vq->size) {
		virtio_mark_broken(vdev, "queue %u: avail entry names descriptor %u, beyond the queue (%u)", vq->index,
				   head, vq->size);
		return -EINVAL;
	}
	int err = virtq_walk(vq, head, chain);
	if (err)
		return err;
	vq->last_avail++;
	return 1;
}

int virtq_chain_at(struct virtqueue *vq, uint16_t head, struct virtq_chain *chain)
{
	if (!vq->enabled || head >= vq->size) {
		virtio_mark_broken(vq->vdev, "queue %u: held descriptor %u is not in the queue", vq->index, head);
		return -EINVAL;
	}
	return virtq_walk(vq, head, chain);
}

void virtq_push(struct virtqueue *vq, const struct virtq_chain *chain, uint32_t written)
{
	if (!vq->enabled || vq->vdev->broken)
		return;
	if (written > chain->writable_bytes)
		written = (uint32_t)chain->writable_bytes;
	struct virtq_used_elem *elem = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&elem->id, (uint32_t)chain->head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the guest that sees the new idx sees the element and the
	 * bytes written into its buffers. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;
	for (uint16_t i = 0; i < chain->nreadable && done < len; i++) {
		const struct iovec *v = &chain->iov[i];
		if (offset >= v->iov_len) {
			offset -= v->iov_len;
			continue;
		}
		size_t n = v->iov_len - offset;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, (const uint8_t *)v->iov_base + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src, size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;
	for (uint16_t i = chain->nreadable; i < chain->nreadable + chain->nwritable && done < len; i++) {
		const struct iovec *v = &chain->iov[i];
		if (offset >= v->iov_len) {
			offset -= v->iov_len;
			continue;
		}
		size_t n = v->iov_len - offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)v->iov_base + offset, in + done, n);
		done += n;
		offset = 0;
	}
	return done;
}
