/* scanout.h — the guest's screen leaving the VMM: the surface memfd that
 * virtio-gpu flushes into, and for each consumer on the control socket its
 * accumulated damage and latest cursor state, sent as events
 * (vmm_control.h). */
#ifndef VDI_HYPERVISOR_SCANOUT_H
#define VDI_HYPERVISOR_SCANOUT_H

#include "devices/devices.h"
#include "vmm_control.h"

#include <stdint.h>

#define SCANOUT_MAX_CONSUMERS 16

struct scanout;
struct scanout *scanout_create(void);
void scanout_destroy(struct scanout *s);

/* The callbacks virtio-gpu calls (from vCPU threads). */
struct gpu_scanout_ops scanout_gpu_ops(struct scanout *s);

/* Readable (an eventfd) when a consumer may have events to send; the
 * control thread then calls scanout_send_pending() for each. */
int scanout_wake_fd(struct scanout *s);

/* Makes the connection `sock` a consumer. Fills the reply's surface and,
 * when there is a surface, *fd (a read-only descriptor of the memfd, owned
 * by the scanout: send it, do not close it). Returns the consumer's slot or
 * -ENOSPC. */
int scanout_subscribe(struct scanout *s, int sock, struct vmm_surface *surface, int *fd);
void scanout_unsubscribe(struct scanout *s, int slot);
/* Sends the consumer's pending events without blocking: 0 when all went,
 * -EAGAIN when its socket is full (call again once it is writable), another
 * -errno when the connection is broken. */
int scanout_send_pending(struct scanout *s, int slot);

/* The surface's current size (0 x 0 when the guest has no scanout). */
void scanout_size(struct scanout *s, uint32_t *width, uint32_t *height);

#endif
