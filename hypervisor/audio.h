/* audio.h — the guest's sound leaving the VMM and the microphone coming in:
 * the two shared-memory rings of VMM_REQ_AUDIO_SUBSCRIBE (vmm_control.h)
 * behind virtio-snd's host callbacks, and an eventfd per consumer. */
#ifndef VDI_HYPERVISOR_AUDIO_H
#define VDI_HYPERVISOR_AUDIO_H

#include "devices/devices.h"
#include "vmm_control.h"

#define AUDIO_MAX_CONSUMERS 16

struct audio;
struct audio *audio_create(void);
void audio_destroy(struct audio *a);

/* The callbacks virtio-snd calls (its clock thread, device lock held). */
struct snd_host_ops audio_snd_ops(struct audio *a);

/* A new consumer: fills the reply and fds[0..2] (output ring read-only,
 * microphone ring, the consumer's eventfd), all owned by the audio side:
 * send them, do not close them. Returns the consumer's slot or -errno
 * (-ENOSPC when AUDIO_MAX_CONSUMERS are subscribed). */
int audio_subscribe(struct audio *a, struct vmm_audio *reply, int fds[3]);
void audio_unsubscribe(struct audio *a, int slot);

#endif
