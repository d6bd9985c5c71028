/* virtio.c — the transport-independent part of a virtio device: its state
 * across resets, interrupts as ISR bits plus the transport's delivery, and
 * the broken state a misbehaving guest puts it in. */
#include "virtio.h"

#include "../../common/log.h"

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
