/* virtio.c — the transport-independent part of a virtio device: its state
 * across resets, interrupts as ISR bits plus the transport's delivery, and
 * the broken state a misbehaving guest puts it in. */
#include "virtio.h"

#include "../../common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static void virtio_queue_reset(struct virtqueue *vq)
{
	struct virtio_device *vdev = vq->vdev;
	uint16_t index = vq->index;
	*vq = (struct virtqueue){
	    .vdev = vdev,
	    .index = index,
	    .size = VIRTQ_MAX_SIZE,
	    .msix_vector = VIRTIO_MSI_NO_VECTOR,
	};
}

/* Everything the guest can change goes back to its power-on value;
 * config_generation keeps counting so a driver never sees an old value
 * come back. */
static void virtio_state_reset(struct virtio_device *vdev)
{
	vdev->driver_features = 0;
	vdev->status = 0;
	vdev->broken = false;
	vdev->isr = 0;
	vdev->device_feature_select = 0;
	vdev->driver_feature_select = 0;
	vdev->queue_select = 0;
	vdev->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtio_queue_reset(&vdev->queues[i]);
}

void virtio_device_init(struct virtio_device *vdev, struct guest_memory memory)
{
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->memory = memory;
	vdev->config_generation = 0;
	vdev->transport = NULL;
	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		vdev->queues[i].vdev = vdev;
		vdev->queues[i].index = i;
	}
	virtio_state_reset(vdev);
}

void virtio_device_reset(struct virtio_device *vdev)
{
	virtio_state_reset(vdev);
	/* ISR is now clear: a level-triggered INTx must drop. */
	if (vdev->transport)
		virtio_pci_interrupt(vdev, VIRTIO_MSI_NO_VECTOR);
	if (vdev->ops && vdev->ops->reset)
		vdev->ops->reset(vdev);
}

void virtio_lock(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
}

void virtio_unlock(struct virtio_device *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
}

static void virtio_interrupt(struct virtio_device *vdev, uint8_t isr_bit, uint16_t vector)
{
	vdev->isr |= isr_bit;
	if (vdev->transport)
		virtio_pci_interrupt(vdev, vector);
}

void virtio_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (!vq->enabled)
		return;
	/* The used index was published before this; the guest sets the flag
	 * and then re-checks the used index, so the device's flag read must
	 * not move before that store, or an interrupt could be lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	virtio_interrupt(vdev, 1, vq->msix_vector);
}

void virtio_notify_config(struct virtio_device *vdev)
{
	vdev->config_generation++;
	virtio_interrupt(vdev, 2, vdev->msix_config);
}

void virtio_mark_broken(struct virtio_device *vdev, const char *fmt, ...)
{
	/* One line per episode: a guest that keeps notifying a broken device
	 * must not flood the log. */
	if (vdev->broken)
		return;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("%s: %s", vdev->name ? vdev->name : "virtio", why);
	vdev->broken = true;
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	virtio_notify_config(vdev);
}

bool virtio_device_live(const struct virtio_device *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->broken;
}

void *virtio_guest_memory(struct virtio_device *vdev, uint64_t gpa, uint64_t len)
{
	if (!vdev->memory.gpa)
		return NULL;
	return guest_memory_at(&vdev->memory, gpa, len);
}

void virtio_device_save(struct virtio_device *vdev, struct snap_buf *out)
{
	snap_put_u16(out, vdev->device_id);
	snap_put_u16(out, vdev->num_queues);
	snap_put_u64(out, vdev->driver_features);
	snap_put_u8(out, vdev->status);
	snap_put_u8(out, vdev->broken);
	snap_put_u8(out, vdev->isr);
	snap_put_u8(out, vdev->config_generation);
	snap_put_u32(out, vdev->device_feature_select);
	snap_put_u32(out, vdev->driver_feature_select);
	snap_put_u16(out, vdev->queue_select);
	snap_put_u16(out, vdev->msix_config);
	for (uint16_t i = 0; i < vdev->num_queues; i++) {
		const struct virtqueue *vq = &vdev->queues[i];
		snap_put_u16(out, vq->size);
		snap_put_u8(out, vq->enabled);
		snap_put_u16(out, vq->msix_vector);
		snap_put_u64(out, vq->desc_addr);
		snap_put_u64(out, vq->avail_addr);
		snap_put_u64(out, vq->used_addr);
		snap_put_u16(out, vq->last_avail);
		snap_put_u16(out, vq->used_idx);
	}
	if (vdev->transport)
		virtio_pci_save(vdev, out);
}

int virtio_device_load(struct virtio_device *vdev, struct snap_cursor *in)
{
	uint16_t device_id = snap_get_u16(in), num_queues = snap_get_u16(in);
	if (in->failed || device_id != vdev->device_id || num_queues != vdev->num_queues)
		return -EINVAL;
	uint64_t offered = vdev->device_features | 1ull << VIRTIO_F_VERSION_1;
	uint64_t driver_features = snap_get_u64(in);
	uint8_t status = snap_get_u8(in), broken = snap_get_u8(in), isr = snap_get_u8(in);
	uint8_t generation = snap_get_u8(in);
	uint32_t dev_select = snap_get_u32(in), drv_select = snap_get_u32(in);
	uint16_t queue_select = snap_get_u16(in), msix_config = snap_get_u16(in);
	if (in->failed || driver_features & ~offered || broken > 1 || isr > 3)
		return -EINVAL;
	virtio_state_reset(vdev);
	vdev->driver_features = driver_features;
	vdev->status = status;
	vdev->broken = broken;
	vdev->isr = isr;
	vdev->config_generation = generation;
	vdev->device_feature_select = dev_select;
	vdev->driver_feature_select = drv_select;
	vdev->queue_select = queue_select;
	/* Vectors are checked against the MSI-X table size by the transport. */
	vdev->msix_config = msix_config;
	for (uint16_t i = 0; i < num_queues; i++) {
		struct virtqueue *vq = &vdev->queues[i];
		vq->size = snap_get_u16(in);
		uint8_t enabled = snap_get_u8(in);
		vq->msix_vector = snap_get_u16(in);
		vq->desc_addr = snap_get_u64(in);
		vq->avail_addr = snap_get_u64(in);
		vq->used_addr = snap_get_u64(in);
		uint16_t last_avail = snap_get_u16(in), used_idx = snap_get_u16(in);
		if (in->failed || enabled > 1)
			return -EINVAL;
		if (enabled && virtq_restore(vq, last_avail, used_idx) < 0)
			return -EINVAL;
	}
	if (vdev->transport)
		return virtio_pci_load(vdev, in);
	return in->failed ? -EINVAL : 0;
}
