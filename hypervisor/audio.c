/* audio.c — the rings between virtio-snd and the control socket's audio
 * consumers: the device writes what it played into the output ring and
 * takes the microphone's frames from the other, both without waiting for
 * anyone; each consumer has an eventfd signalled when output arrives. */
#include "audio.h"

#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(sizeof(struct vmm_audio_ring) == 64, "the ring header is 64 bytes");
_Static_assert(VMM_AUDIO_RATE == SND_RATE, "the rings carry the device's rate");
_Static_assert(SND_CATCHUP_FRAMES < VMM_AUDIO_MIC_FRAMES, "a tick's frames fit the microphone ring");

struct audio_ring {
	int fd, ro_fd; /* ro_fd: -1 for the microphone (consumers write it) */
	size_t bytes;
	struct vmm_audio_ring *hdr;
	int16_t *samples;
};

struct audio {
	struct audio_ring out, mic;
	pthread_mutex_t lock; /* the consumers' eventfds */
	int event_fds[AUDIO_MAX_CONSUMERS];
};

static int audio_ring_create(struct audio_ring *r, const char *name, uint32_t channels, uint32_t frames, bool read_only)
{
	r->fd = r->ro_fd = -1;
	r->bytes = sizeof(struct vmm_audio_ring) + (size_t)frames * channels * sizeof(int16_t);
	r->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0)
		return -errno;
	void *p = MAP_FAILED;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	if (ftruncate(r->fd, (off_t)r->bytes) < 0 ||
	    fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (read_only && (r->ro_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) ||
	    (p = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0)) == MAP_FAILED)
		return -errno;
	r->hdr = p;
	r->samples = (int16_t *)(r->hdr + 1);
	*r->hdr = (struct vmm_audio_ring){
	    .rate = VMM_AUDIO_RATE,
	    .channels = channels,
	    .frames = frames,
	    .format = VMM_AUDIO_FORMAT_S16,
	};
	return 0;
}

static void audio_ring_destroy(struct audio_ring *r)
{
	if (r->hdr)
		munmap(r->hdr, r->bytes);
	if (r->ro_fd >= 0)
		close(r->ro_fd);
	if (r->fd >= 0)
		close(r->fd);
}

struct audio *audio_create(void)
{
	struct audio *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	pthread_mutex_init(&a->lock, NULL);
	for (int i = 0; i < AUDIO_MAX_CONSUMERS; i++)
		a->event_fds[i] = -1;
	a->out.fd = a->out.ro_fd = a->mic.fd = a->mic.ro_fd = -1;
	int err = audio_ring_create(&a->out, "vdi-audio-out", SND_OUT_CHANNELS, VMM_AUDIO_OUT_FRAMES, true);
	if (!err)
		err = audio_ring_create(&a->mic, "vdi-audio-mic", SND_IN_CHANNELS, VMM_AUDIO_MIC_FRAMES, false);
	if (err) {
		log_error("audio rings: %s", strerror(-err));
		audio_destroy(a);
		return NULL;
	}
	return a;
}

void audio_destroy(struct audio *a)
{
	if (!a)
		return;
	for (int i = 0; i < AUDIO_MAX_CONSUMERS; i++)
		if (a->event_fds[i] >= 0)
			close(a->event_fds[i]);
	audio_ring_destroy(&a->out);
	audio_ring_destroy(&a->mic);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void audio_playback(void *opaque, const int16_t *samples, uint32_t frames, uint64_t end_ns)
{
	struct audio *a = opaque;
	struct vmm_audio_ring *h = a->out.hdr;
	uint64_t w = h->write;
	const uint32_t mask = VMM_AUDIO_OUT_FRAMES - 1;
	uint32_t at = (uint32_t)(w & mask);
	uint32_t first = frames < VMM_AUDIO_OUT_FRAMES - at ? frames : VMM_AUDIO_OUT_FRAMES - at;
	memcpy(a->out.samples + (size_t)at * SND_OUT_CHANNELS, samples, (size_t)first * SND_OUT_CHANNELS * 2);
	memcpy(a->out.samples, samples + (size_t)first * SND_OUT_CHANNELS,
	       (size_t)(frames - first) * SND_OUT_CHANNELS * 2);
	__atomic_store_n(&h->write_ns, end_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&h->write, w + frames, __ATOMIC_RELEASE);
	uint64_t one = 1;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < AUDIO_MAX_CONSUMERS; i++)
		if (a->event_fds[i] >= 0 && write(a->event_fds[i], &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("audio: eventfd %d: %s", i, strerror(errno));
	pthread_mutex_unlock(&a->lock);
}

/* The microphone's `write` comes from a consumer: anything is possible. */
static void audio_capture(void *opaque, int16_t *samples, uint32_t frames)
{
	struct audio *a = opaque;
	struct vmm_audio_ring *h = a->mic.hdr;
	uint64_t w = __atomic_load_n(&h->write, __ATOMIC_ACQUIRE);
	uint64_t r = h->read;
	if (w < r || w - r > VMM_AUDIO_MIC_LAG_MAX)
		r = w > VMM_AUDIO_MIC_LAG ? w - VMM_AUDIO_MIC_LAG : 0;
	uint64_t have = w - r;
	uint32_t n = have < frames ? (uint32_t)have : frames;
	const uint32_t mask = VMM_AUDIO_MIC_FRAMES - 1;
	for (uint32_t i = 0; i < n; i++)
		samples[i] = __atomic_load_n(&a->mic.samples[(r + i) & mask], __ATOMIC_RELAXED);
	memset(samples + n, 0, (size_t)(frames - n) * sizeof(int16_t));
	__atomic_store_n(&h->read, r + n, __ATOMIC_RELEASE);
}

struct snd_host_ops audio_snd_ops(struct audio *a)
{
	return (struct snd_host_ops){.playback = audio_playback, .capture = audio_capture, .opaque = a};
}

int audio_subscribe(struct audio *a, struct vmm_audio *reply, int fds[3])
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	pthread_mutex_lock(&a->lock);
	int slot = -ENOSPC;
	for (int i = 0; i < AUDIO_MAX_CONSUMERS; i++) {
		if (a->event_fds[i] < 0) {
			a->event_fds[i] = efd;
			slot = i;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (slot < 0) {
		close(efd);
		return slot;
	}
	*reply = (struct vmm_audio){.out_bytes = a->out.bytes, .mic_bytes = a->mic.bytes};
	fds[0] = a->out.ro_fd;
	fds[1] = a->mic.fd;
	fds[2] = efd;
	return slot;
}

void audio_unsubscribe(struct audio *a, int slot)
{
	if (slot < 0 || slot >= AUDIO_MAX_CONSUMERS)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->event_fds[slot] >= 0)
		close(a->event_fds[slot]);
	a->event_fds[slot] = -1;
	pthread_mutex_unlock(&a->lock);
}
