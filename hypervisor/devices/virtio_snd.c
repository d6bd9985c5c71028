/* virtio_snd.c — virtio sound device (virtio 1.2 section 5.14): one output
 * and one input PCM stream at 48 kHz S16, played and recorded by the
 * device's own clock. The guest's buffers are copied when taken and given
 * back once the clock has played (or recorded) them; the guest sets the
 * pace of nothing. */
#include "virtio.h"

#include "../../common/log.h"

#include <errno.h>
#include <linux/virtio_snd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SND_CONTROLQ 0
#define SND_EVENTQ   1
#define SND_TXQ      2
#define SND_RXQ      3
#define SND_QUEUES   4

#define SND_STREAMS       2
#define SND_STREAM_OUT    0
#define SND_STREAM_IN     1
/* Per stream: the bytes taken from tx buffers and not yet played, or the
 * frames recorded and not yet given to an rx buffer. */
#define SND_FIFO_BYTES    (2 * SND_BUFFER_MAX)
/* The largest control request read; all of them are smaller. */
#define SND_REQUEST_MAX   64
/* PCM_INFO answers at most this many bytes per item. */
#define SND_INFO_SIZE_MAX 1024

_Static_assert(sizeof(struct virtio_snd_pcm_info) == 32, "pcm_info is 32 bytes");
_Static_assert(sizeof(struct virtio_snd_pcm_set_params) == 24, "set_params is 24 bytes");
_Static_assert(sizeof(struct virtio_snd_pcm_status) == 8, "pcm_status is 8 bytes");

/* The PCM lifecycle (5.14.6.6.1): what each command may follow. A released
 * stream is where one with parameters set is. */
enum snd_state {
	SND_STATE_INITIAL,
	SND_STATE_PARAMS,
	SND_STATE_PREPARED,
	SND_STATE_RUNNING,
	SND_STATE_STOPPED,
};

struct snd_held {
	uint16_t head;
	uint32_t bytes; /* PCM bytes the buffer carries; for tx, those not yet played */
};

struct snd_stream {
	uint8_t direction; /* VIRTIO_SND_D_* */
	uint8_t channels;
	enum snd_state state;
	uint32_t buffer_bytes, period_bytes;
	uint64_t start_ns;    /* where the current run's clock started */
	uint64_t frames_done; /* frames played or recorded since start_ns */
	struct snd_held held[SND_HELD_MAX];
	uint32_t held_first, held_count;
	uint8_t *fifo; /* SND_FIFO_BYTES */
	uint32_t fifo_head, fifo_used;
};

struct virtio_snd {
	struct virtio_device vdev;
	struct snd_host_ops host;
	uint64_t (*clock)(void);

	/* Under the device lock. */
	struct snd_stream streams[SND_STREAMS];
	struct virtio_snd_stats stats;
	struct virtq_chain chain;      /* the request being taken */
	struct virtq_chain held_chain; /* a held buffer being given back meanwhile */
	int16_t scratch[SND_CATCHUP_FRAMES * SND_OUT_CHANNELS];

	pthread_t thread;
	pthread_cond_t wake;
	bool thread_started, stopping;
};

static uint64_t snd_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t snd_frame_bytes(const struct snd_stream *s)
{
	return 2u * s->channels;
}

/* --- Buffers held and given back --- */

/* Writes the status (for rx, after `len` bytes of data taken from the
 * stream's FIFO) into the held buffer at `head` and returns it to the guest.
 * False when the guest broke its chain meanwhile (the device is then
 * broken). */
static bool snd_complete(struct virtio_snd *snd, struct virtqueue *vq, uint16_t head, uint32_t status, uint32_t latency,
			 struct snd_stream *from, uint32_t len)
{
	struct virtq_chain *chain = &snd->held_chain;
	if (virtq_chain_at(vq, head, chain) < 0)
		return false;
	if (chain->writable_bytes < sizeof(struct virtio_snd_pcm_status)) {
		virtio_mark_broken(&snd->vdev, "queue %u: buffer %u lost room for its status", vq->index, head);
		return false;
	}
	size_t room = chain->writable_bytes - sizeof(struct virtio_snd_pcm_status);
	uint32_t written = 0;
	if (from) {
		/* The FIFO's bytes leave it whether or not the buffer still fits
		 * them all (a guest that shrank it meanwhile loses the rest). */
		uint32_t first = len < SND_FIFO_BYTES - from->fifo_head ? len : SND_FIFO_BYTES - from->fifo_head;
		size_t fit = len < room ? len : room;
		written =
		    (uint32_t)virtq_chain_write(chain, 0, from->fifo + from->fifo_head, first < fit ? first : fit);
		if (fit > first)
			written += (uint32_t)virtq_chain_write(chain, first, from->fifo, fit - first);
		from->fifo_head = (from->fifo_head + len) % SND_FIFO_BYTES;
		from->fifo_used -= len;
	}
	struct virtio_snd_pcm_status st = {.status = status, .latency_bytes = latency};
	/* tx: the status is the writable part's last 8 bytes; rx: right after the data. */
	size_t at = vq->index == SND_RXQ ? written : room;
	virtq_chain_write(chain, at, &st, sizeof(st));
	virtq_push(vq, chain, written + (uint32_t)sizeof(st));
	return true;
}

static struct virtqueue *snd_stream_queue(struct virtio_snd *snd, const struct snd_stream *s)
{
	return &snd->vdev.queues[s->direction == VIRTIO_SND_D_OUTPUT ? SND_TXQ : SND_RXQ];
}

/* Every held buffer back with `status` (RELEASE, a new SET_PARAMS or
 * PREPARE); what was in the FIFO is dropped. Returns whether any went. */
static bool snd_flush(struct virtio_snd *snd, struct snd_stream *s, uint32_t status)
{
	struct virtqueue *vq = snd_stream_queue(snd, s);
	bool any = s->held_count > 0;
	while (s->held_count) {
		struct snd_held h = s->held[s->held_first];
		s->held_first = (s->held_first + 1) % SND_HELD_MAX;
		s->held_count--;
		if (!snd_complete(snd, vq, h.head, status, 0, NULL, 0))
			break;
	}
	s->held_first = s->held_count = 0;
	s->fifo_head = s->fifo_used = 0;
	return any;
}

static void snd_fifo_put(struct snd_stream *s, const uint8_t *data, uint32_t len)
{
	uint32_t tail = (s->fifo_head + s->fifo_used) % SND_FIFO_BYTES;
	uint32_t first = len < SND_FIFO_BYTES - tail ? len : SND_FIFO_BYTES - tail;
	memcpy(s->fifo + tail, data, first);
	memcpy(s->fifo, data + first, len - first);
	s->fifo_used += len;
}

static void snd_fifo_get(struct snd_stream *s, uint8_t *out, uint32_t len)
{
	uint32_t first = len < SND_FIFO_BYTES - s->fifo_head ? len : SND_FIFO_BYTES - s->fifo_head;
	memcpy(out, s->fifo + s->fifo_head, first);
	memcpy(out + first, s->fifo, len - first);
	s->fifo_head = (s->fifo_head + len) % SND_FIFO_BYTES;
	s->fifo_used -= len;
}

/* A tx chain: the xfer header, the PCM bytes, then the status. Copies the
 * bytes and holds the buffer, or answers it at once. */
static void snd_take_tx(struct virtio_snd *snd, struct virtqueue *vq, struct virtq_chain *chain, bool *pushed)
{
	struct virtio_snd_pcm_xfer xfer = {0};
	virtq_chain_read(chain, 0, &xfer, sizeof(xfer));
	struct snd_stream *s = &snd->streams[SND_STREAM_OUT];
	size_t bytes = chain->readable_bytes - sizeof(xfer);
	uint32_t status = VIRTIO_SND_S_OK;
	if (xfer.stream_id != SND_STREAM_OUT || s->state < SND_STATE_PREPARED || bytes % snd_frame_bytes(s) ||
	    bytes > s->buffer_bytes)
		status = VIRTIO_SND_S_IO_ERR;
	if (status != VIRTIO_SND_S_OK || bytes == 0) {
		*pushed |= snd_complete(snd, vq, chain->head, status, s->fifo_used, NULL, 0);
		return;
	}
	/* The room was checked before the chain was taken (snd_fill_queue). */
	uint32_t tail = (s->fifo_head + s->fifo_used) % SND_FIFO_BYTES;
	uint32_t first = bytes < SND_FIFO_BYTES - tail ? (uint32_t)bytes : SND_FIFO_BYTES - tail;
	virtq_chain_read(chain, sizeof(xfer), s->fifo + tail, first);
	virtq_chain_read(chain, sizeof(xfer) + first, s->fifo, bytes - first);
	s->fifo_used += (uint32_t)bytes;
	s->held[(s->held_first + s->held_count++) % SND_HELD_MAX] =
	    (struct snd_held){.head = chain->head, .bytes = (uint32_t)bytes};
}

/* An rx chain: the xfer header, then room for PCM bytes and the status. */
static void snd_take_rx(struct virtio_snd *snd, struct virtqueue *vq, struct virtq_chain *chain, bool *pushed)
{
	struct virtio_snd_pcm_xfer xfer = {0};
	virtq_chain_read(chain, 0, &xfer, sizeof(xfer));
	struct snd_stream *s = &snd->streams[SND_STREAM_IN];
	size_t bytes = chain->writable_bytes - sizeof(struct virtio_snd_pcm_status);
	if (xfer.stream_id != SND_STREAM_IN || s->state < SND_STATE_PREPARED || bytes % snd_frame_bytes(s) ||
	    bytes > s->buffer_bytes || bytes == 0) {
		*pushed |= snd_complete(snd, vq, chain->head, VIRTIO_SND_S_IO_ERR, 0, NULL, 0);
		return;
	}
	s->held[(s->held_first + s->held_count++) % SND_HELD_MAX] =
	    (struct snd_held){.head = chain->head, .bytes = (uint32_t)bytes};
}

/* Takes buffers from the tx or rx queue while the stream has room to hold
 * them; the rest wait in the ring, so a guest with many buffers never makes
 * the device hold more than SND_HELD_MAX or SND_FIFO_BYTES. */
static bool snd_fill_queue(struct virtio_snd *snd, struct virtqueue *vq)
{
	struct snd_stream *s = &snd->streams[vq->index == SND_TXQ ? SND_STREAM_OUT : SND_STREAM_IN];
	bool pushed = false;
	for (;;) {
		if (s->held_count >= SND_HELD_MAX)
			break;
		if (vq->index == SND_TXQ && s->fifo_used > SND_FIFO_BYTES - SND_BUFFER_MAX)
			break;
		struct virtq_chain *chain = &snd->chain;
		if (virtq_pop(vq, chain) != 1)
			break;
		if (chain->readable_bytes < sizeof(struct virtio_snd_pcm_xfer) ||
		    chain->writable_bytes < sizeof(struct virtio_snd_pcm_status)) {
			virtio_mark_broken(&snd->vdev, "queue %u: buffer %u has no room for its header or status",
					   vq->index, chain->head);
			break;
		}
		if (vq->index == SND_TXQ)
			snd_take_tx(snd, vq, chain, &pushed);
		else
			snd_take_rx(snd, vq, chain, &pushed);
	}
	return pushed;
}

/* --- The clock --- */

/* Plays `frames` frames of the output stream: the FIFO's bytes, silence
 * where it runs dry; gives back the buffers wholly played. */
static bool snd_play(struct virtio_snd *snd, struct snd_stream *s, uint32_t frames, uint64_t end_ns)
{
	struct virtqueue *vq = &snd->vdev.queues[SND_TXQ];
	uint32_t bytes = frames * snd_frame_bytes(s);
	uint32_t have = bytes < s->fifo_used ? bytes : s->fifo_used;
	uint8_t *out = (uint8_t *)snd->scratch;
	snd_fifo_get(s, out, have);
	memset(out + have, 0, bytes - have);
	snd->stats.underrun_frames += (bytes - have) / snd_frame_bytes(s);
	snd->stats.frames_played += frames;
	if (snd->host.playback)
		snd->host.playback(snd->host.opaque, snd->scratch, frames, end_ns);
	bool pushed = false;
	while (have && s->held_count) {
		struct snd_held *h = &s->held[s->held_first];
		uint32_t n = have < h->bytes ? have : h->bytes;
		h->bytes -= n;
		have -= n;
		if (h->bytes)
			break;
		uint16_t head = h->head;
		s->held_first = (s->held_first + 1) % SND_HELD_MAX;
		s->held_count--;
		if (!snd_complete(snd, vq, head, VIRTIO_SND_S_OK, s->fifo_used, NULL, 0))
			return pushed;
		pushed = true;
	}
	return pushed;
}

/* Records `frames` frames of the input stream and fills the buffers that
 * now have all of theirs; what no buffer takes stays in the FIFO, the
 * oldest dropped when it is full. */
static bool snd_record(struct virtio_snd *snd, struct snd_stream *s, uint32_t frames)
{
	struct virtqueue *vq = &snd->vdev.queues[SND_RXQ];
	uint32_t bytes = frames * snd_frame_bytes(s);
	uint8_t *in = (uint8_t *)snd->scratch;
	memset(in, 0, bytes);
	if (snd->host.capture)
		snd->host.capture(snd->host.opaque, snd->scratch, frames);
	snd->stats.frames_recorded += frames;
	if (s->fifo_used + bytes > SND_FIFO_BYTES) {
		uint32_t drop = s->fifo_used + bytes - SND_FIFO_BYTES;
		s->fifo_head = (s->fifo_head + drop) % SND_FIFO_BYTES;
		s->fifo_used -= drop;
	}
	snd_fifo_put(s, in, bytes);
	bool pushed = false;
	while (s->held_count && s->held[s->held_first].bytes <= s->fifo_used) {
		struct snd_held h = s->held[s->held_first];
		s->held_first = (s->held_first + 1) % SND_HELD_MAX;
		s->held_count--;
		if (!snd_complete(snd, vq, h.head, VIRTIO_SND_S_OK, s->fifo_used - h.bytes, s, h.bytes))
			return pushed;
		pushed = true;
	}
	return pushed;
}

static bool snd_any_running(const struct virtio_snd *snd)
{
	for (int i = 0; i < SND_STREAMS; i++)
		if (snd->streams[i].state == SND_STATE_RUNNING)
			return true;
	return false;
}

/* Device lock held. */
static void snd_tick_locked(struct virtio_snd *snd, uint64_t now)
{
	if (!virtio_device_live(&snd->vdev))
		return;
	for (int i = 0; i < SND_STREAMS; i++) {
		struct snd_stream *s = &snd->streams[i];
		if (s->state != SND_STATE_RUNNING || now < s->start_ns)
			continue;
		uint64_t due = (now - s->start_ns) / 1000 * SND_RATE / 1000000 - s->frames_done;
		if (due > SND_CATCHUP_FRAMES) {
			snd->stats.skipped_frames += due - SND_CATCHUP_FRAMES;
			s->frames_done += due - SND_CATCHUP_FRAMES;
			due = SND_CATCHUP_FRAMES;
		}
		if (!due)
			continue;
		s->frames_done += due;
		struct virtqueue *vq = snd_stream_queue(snd, s);
		bool pushed = s->direction == VIRTIO_SND_D_OUTPUT ? snd_play(snd, s, (uint32_t)due, now)
								  : snd_record(snd, s, (uint32_t)due);
		pushed |= snd_fill_queue(snd, vq);
		if (pushed)
			virtio_notify_queue(&snd->vdev, vq);
	}
}

void virtio_snd_tick(struct virtio_snd *snd)
{
	virtio_lock(&snd->vdev);
	snd_tick_locked(snd, snd->clock());
	virtio_unlock(&snd->vdev);
}

static void *snd_clock_thread(void *arg)
{
	struct virtio_snd *snd = arg;
	pthread_setname_np(pthread_self(), "virtio-snd");
	virtio_lock(&snd->vdev);
	uint64_t next = 0;
	while (!snd->stopping) {
		if (!snd_any_running(snd) || !virtio_device_live(&snd->vdev)) {
			pthread_cond_wait(&snd->wake, &snd->vdev.lock);
			next = 0;
			continue;
		}
		uint64_t now = snd->clock();
		snd_tick_locked(snd, now);
		/* Ticks keep a steady cadence; one that came late is not made up
		 * in a burst (the frames due are counted from the start). */
		next = next && now < next + SND_TICK_NS ? next + SND_TICK_NS : now + SND_TICK_NS;
		struct timespec at = {.tv_sec = (time_t)(next / 1000000000ull),
				      .tv_nsec = (long)(next % 1000000000ull)};
		virtio_unlock(&snd->vdev);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		virtio_lock(&snd->vdev);
	}
	virtio_unlock(&snd->vdev);
	return NULL;
}

/* --- The control queue --- */

static const struct virtio_snd_pcm_info snd_pcm_info[SND_STREAMS] = {
    [SND_STREAM_OUT] = {.formats = 1ull << VIRTIO_SND_PCM_FMT_S16,
			.rates = 1ull << VIRTIO_SND_PCM_RATE_48000,
			.direction = VIRTIO_SND_D_OUTPUT,
			.channels_min = SND_OUT_CHANNELS,
			.channels_max = SND_OUT_CHANNELS},
    [SND_STREAM_IN] = {.formats = 1ull << VIRTIO_SND_PCM_FMT_S16,
		       .rates = 1ull << VIRTIO_SND_PCM_RATE_48000,
		       .direction = VIRTIO_SND_D_INPUT,
		       .channels_min = SND_IN_CHANNELS,
		       .channels_max = SND_IN_CHANNELS},
};

/* JACK_INFO, CHMAP_INFO and PCM_INFO: items [start_id, start_id + count)
 * of `total`, each `size` bytes in the answer (zero-padded past what the
 * device knows). */
static uint32_t snd_query(struct virtio_snd *snd, const struct virtq_chain *chain, const uint8_t *req, size_t req_len,
			  uint32_t total, uint32_t *written)
{
	struct virtio_snd_query_info q;
	if (req_len < sizeof(q))
		return VIRTIO_SND_S_BAD_MSG;
	memcpy(&q, req, sizeof(q));
	if (q.start_id > total || q.count > total - q.start_id || q.size > SND_INFO_SIZE_MAX ||
	    (q.count && q.size < sizeof(struct virtio_snd_info)) ||
	    chain->writable_bytes < sizeof(struct virtio_snd_hdr) + (size_t)q.count * q.size)
		return VIRTIO_SND_S_BAD_MSG;
	(void)snd;
	uint8_t item[SND_INFO_SIZE_MAX];
	for (uint32_t i = 0; i < q.count; i++) {
		memset(item, 0, q.size);
		/* Only PCM streams exist: jack and chmap queries have total 0. */
		const struct virtio_snd_pcm_info *info = &snd_pcm_info[q.start_id + i];
		memcpy(item, info, q.size < sizeof(*info) ? q.size : sizeof(*info));
		virtq_chain_write(chain, sizeof(struct virtio_snd_hdr) + (size_t)i * q.size, item, q.size);
	}
	*written = (uint32_t)((size_t)q.count * q.size);
	return VIRTIO_SND_S_OK;
}

static uint32_t snd_set_params(struct virtio_snd *snd, struct snd_stream *s, const uint8_t *req, size_t req_len,
			       bool *pushed)
{
	struct virtio_snd_pcm_set_params p;
	if (req_len < sizeof(p))
		return VIRTIO_SND_S_BAD_MSG;
	memcpy(&p, req, sizeof(p));
	if (s->state == SND_STATE_RUNNING || s->state == SND_STATE_STOPPED)
		return VIRTIO_SND_S_BAD_MSG;
	if (p.features || p.format != VIRTIO_SND_PCM_FMT_S16 || p.rate != VIRTIO_SND_PCM_RATE_48000 ||
	    p.channels != s->channels)
		return VIRTIO_SND_S_NOT_SUPP;
	uint32_t frame = snd_frame_bytes(s);
	if (!p.period_bytes || p.period_bytes % frame || p.buffer_bytes % frame || p.period_bytes > p.buffer_bytes ||
	    p.buffer_bytes > SND_BUFFER_MAX)
		return VIRTIO_SND_S_BAD_MSG;
	*pushed |= snd_flush(snd, s, VIRTIO_SND_S_IO_ERR);
	s->buffer_bytes = p.buffer_bytes;
	s->period_bytes = p.period_bytes;
	s->state = SND_STATE_PARAMS;
	return VIRTIO_SND_S_OK;
}

static uint32_t snd_pcm_command(struct virtio_snd *snd, uint32_t code, const uint8_t *req, size_t req_len, bool *pushed)
{
	struct virtio_snd_pcm_hdr h;
	if (req_len < sizeof(h))
		return VIRTIO_SND_S_BAD_MSG;
	memcpy(&h, req, sizeof(h));
	if (h.stream_id >= SND_STREAMS)
		return VIRTIO_SND_S_BAD_MSG;
	struct snd_stream *s = &snd->streams[h.stream_id];
	switch (code) {
	case VIRTIO_SND_R_PCM_SET_PARAMS:
		return snd_set_params(snd, s, req, req_len, pushed);
	case VIRTIO_SND_R_PCM_PREPARE:
		if (s->state != SND_STATE_PARAMS && s->state != SND_STATE_PREPARED)
			return VIRTIO_SND_S_BAD_MSG;
		*pushed |= snd_flush(snd, s, VIRTIO_SND_S_IO_ERR);
		s->state = SND_STATE_PREPARED;
		return VIRTIO_SND_S_OK;
	case VIRTIO_SND_R_PCM_START:
		if (s->state != SND_STATE_PREPARED && s->state != SND_STATE_STOPPED)
			return VIRTIO_SND_S_BAD_MSG;
		s->state = SND_STATE_RUNNING;
		s->start_ns = snd->clock();
		s->frames_done = 0;
		pthread_cond_signal(&snd->wake);
		return VIRTIO_SND_S_OK;
	case VIRTIO_SND_R_PCM_STOP:
		if (s->state != SND_STATE_RUNNING)
			return VIRTIO_SND_S_BAD_MSG;
		s->state = SND_STATE_STOPPED;
		return VIRTIO_SND_S_OK;
	case VIRTIO_SND_R_PCM_RELEASE:
		if (s->state != SND_STATE_PREPARED && s->state != SND_STATE_STOPPED)
			return VIRTIO_SND_S_BAD_MSG;
		/* The device completes every pending buffer (5.14.6.6.5.1). */
		*pushed |= snd_flush(snd, s, VIRTIO_SND_S_OK);
		s->state = SND_STATE_PARAMS;
		return VIRTIO_SND_S_OK;
	default:
		return VIRTIO_SND_S_NOT_SUPP;
	}
}

/* One control request; returns whether a tx or rx buffer went back too. */
static bool snd_control(struct virtio_snd *snd, struct virtqueue *vq, struct virtq_chain *chain)
{
	uint8_t req[SND_REQUEST_MAX] = {0};
	size_t req_len = virtq_chain_read(chain, 0, req, sizeof(req));
	struct virtio_snd_hdr h;
	memcpy(&h, req, sizeof(h));
	uint32_t payload = 0, status;
	bool pushed = false;
	if (req_len < sizeof(h))
		status = VIRTIO_SND_S_BAD_MSG;
	else if (h.code == VIRTIO_SND_R_PCM_INFO)
		status = snd_query(snd, chain, req, req_len, SND_STREAMS, &payload);
	else if (h.code == VIRTIO_SND_R_JACK_INFO || h.code == VIRTIO_SND_R_CHMAP_INFO)
		status = snd_query(snd, chain, req, req_len, 0, &payload);
	else if (h.code == VIRTIO_SND_R_JACK_REMAP)
		status = VIRTIO_SND_S_BAD_MSG; /* no jacks */
	else if (h.code >= VIRTIO_SND_R_PCM_SET_PARAMS && h.code <= VIRTIO_SND_R_PCM_STOP)
		status = snd_pcm_command(snd, h.code, req, req_len, &pushed);
	else
		status = VIRTIO_SND_S_NOT_SUPP;
	struct virtio_snd_hdr answer = {.code = status};
	virtq_chain_write(chain, 0, &answer, sizeof(answer));
	virtq_push(vq, chain, (uint32_t)sizeof(answer) + payload);
	return pushed;
}

static void snd_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_snd *snd = vdev->opaque;
	switch (vq->index) {
	case SND_CONTROLQ: {
		bool answered = false, tx = false, rx = false;
		struct virtq_chain *chain = &snd->chain;
		while (virtq_pop(vq, chain) == 1) {
			if (chain->writable_bytes < sizeof(struct virtio_snd_hdr)) {
				virtio_mark_broken(vdev, "control request %u has no room for its answer", chain->head);
				break;
			}
			/* Which data queue a flush gave buffers back on is not known
			 * here: notify both, interrupts are suppressed if unused. */
			if (snd_control(snd, vq, chain))
				tx = rx = true;
			answered = true;
		}
		if (answered)
			virtio_notify_queue(vdev, vq);
		if (tx)
			virtio_notify_queue(vdev, &vdev->queues[SND_TXQ]);
		if (rx)
			virtio_notify_queue(vdev, &vdev->queues[SND_RXQ]);
		break;
	}
	case SND_TXQ:
	case SND_RXQ:
		if (snd_fill_queue(snd, vq))
			virtio_notify_queue(vdev, vq);
		break;
	default:
		/* The event queue's buffers wait for events; this device sends
		 * none (no jacks; completions stand for elapsed periods). */
		break;
	}
}

static void snd_config_read(struct virtio_device *vdev, uint32_t offset, uint8_t *data, uint32_t size)
{
	(void)vdev;
	struct virtio_snd_config cfg = {.jacks = 0, .streams = SND_STREAMS, .chmaps = 0};
	memcpy(data, (const uint8_t *)&cfg + offset, size);
}

static void snd_stream_init(struct snd_stream *s, int index)
{
	uint8_t *fifo = s->fifo;
	*s = (struct snd_stream){
	    .direction = index == SND_STREAM_OUT ? VIRTIO_SND_D_OUTPUT : VIRTIO_SND_D_INPUT,
	    .channels = index == SND_STREAM_OUT ? SND_OUT_CHANNELS : SND_IN_CHANNELS,
	    .state = SND_STATE_INITIAL,
	    .fifo = fifo,
	};
}

static void snd_reset(struct virtio_device *vdev)
{
	struct virtio_snd *snd = vdev->opaque;
	for (int i = 0; i < SND_STREAMS; i++)
		snd_stream_init(&snd->streams[i], i);
}

static const struct virtio_device_ops snd_ops = {
    .config_read = snd_config_read,
    .queue_notify = snd_queue_notify,
    .reset = snd_reset,
};

struct virtio_snd *virtio_snd_create(const struct virtio_pci_config *cfg, const struct snd_host_ops *host,
				     uint64_t (*clock)(void))
{
	struct virtio_snd *snd = calloc(1, sizeof(*snd));
	if (!snd)
		return NULL;
	for (int i = 0; i < SND_STREAMS; i++) {
		snd->streams[i].fifo = malloc(SND_FIFO_BYTES);
		if (!snd->streams[i].fifo) {
			free(snd->streams[0].fifo);
			free(snd);
			errno = ENOMEM;
			return NULL;
		}
		snd_stream_init(&snd->streams[i], i);
	}
	if (host)
		snd->host = *host;
	snd->clock = clock ? clock : snd_monotonic_ns;
	pthread_cond_init(&snd->wake, NULL);
	snd->vdev.name = "virtio-snd";
	snd->vdev.device_id = VIRTIO_ID_SOUND;
	snd->vdev.config_size = sizeof(struct virtio_snd_config);
	snd->vdev.num_queues = SND_QUEUES;
	snd->vdev.ops = &snd_ops;
	snd->vdev.opaque = snd;
	int err = virtio_pci_init(&snd->vdev, cfg);
	if (err) {
		pthread_cond_destroy(&snd->wake);
		for (int i = 0; i < SND_STREAMS; i++)
			free(snd->streams[i].fifo);
		free(snd);
		errno = -err;
		return NULL;
	}
	return snd;
}

int virtio_snd_start_clock(struct virtio_snd *snd)
{
	int err = pthread_create(&snd->thread, NULL, snd_clock_thread, snd);
	if (err)
		return -err;
	snd->thread_started = true;
	return 0;
}

void virtio_snd_stats(struct virtio_snd *snd, struct virtio_snd_stats *out)
{
	virtio_lock(&snd->vdev);
	*out = snd->stats;
	virtio_unlock(&snd->vdev);
}

void virtio_snd_destroy(struct virtio_snd *snd)
{
	if (!snd)
		return;
	if (snd->thread_started) {
		virtio_lock(&snd->vdev);
		snd->stopping = true;
		pthread_cond_signal(&snd->wake);
		virtio_unlock(&snd->vdev);
		pthread_join(snd->thread, NULL);
	}
	virtio_pci_destroy(&snd->vdev);
	pthread_cond_destroy(&snd->wake);
	for (int i = 0; i < SND_STREAMS; i++)
		free(snd->streams[i].fifo);
	free(snd);
}

/* --- Snapshots --- */

void virtio_snd_save(struct virtio_snd *snd, struct snap_buf *out)
{
	virtio_lock(&snd->vdev);
	virtio_device_save(&snd->vdev, out);
	for (int i = 0; i < SND_STREAMS; i++) {
		struct snd_stream *s = &snd->streams[i];
		snap_put_u8(out, (uint8_t)s->state);
		snap_put_u32(out, s->buffer_bytes);
		snap_put_u32(out, s->period_bytes);
		snap_put_u32(out, s->held_count);
		for (uint32_t k = 0; k < s->held_count; k++) {
			const struct snd_held *h = &s->held[(s->held_first + k) % SND_HELD_MAX];
			snap_put_u16(out, h->head);
			snap_put_u32(out, h->bytes);
		}
		uint32_t first =
		    s->fifo_used < SND_FIFO_BYTES - s->fifo_head ? s->fifo_used : SND_FIFO_BYTES - s->fifo_head;
		snap_put_u32(out, s->fifo_used);
		snap_put_bytes(out, s->fifo + s->fifo_head, first);
		snap_put_bytes(out, s->fifo, s->fifo_used - first);
	}
	virtio_unlock(&snd->vdev);
}

static int snd_load_stream(struct virtio_snd *snd, struct snd_stream *s, struct snap_cursor *in)
{
	uint8_t state = snap_get_u8(in);
	uint32_t buffer_bytes = snap_get_u32(in), period_bytes = snap_get_u32(in);
	uint32_t held = snap_get_u32(in);
	uint32_t frame = snd_frame_bytes(s);
	if (in->failed || state > SND_STATE_STOPPED || held > SND_HELD_MAX || buffer_bytes > SND_BUFFER_MAX ||
	    period_bytes > buffer_bytes || buffer_bytes % frame || period_bytes % frame ||
	    (state != SND_STATE_INITIAL && !period_bytes) || (held && state < SND_STATE_PREPARED))
		return -EINVAL;
	struct virtqueue *vq = snd_stream_queue(snd, s);
	s->state = (enum snd_state)state;
	s->buffer_bytes = buffer_bytes;
	s->period_bytes = period_bytes;
	s->held_first = 0;
	s->held_count = held;
	for (uint32_t k = 0; k < held; k++) {
		uint16_t head = snap_get_u16(in);
		uint32_t bytes = snap_get_u32(in);
		if (in->failed || !vq->enabled || head >= vq->size || bytes > buffer_bytes || bytes % frame)
			return -EINVAL;
		s->held[k] = (struct snd_held){.head = head, .bytes = bytes};
	}
	uint32_t used = snap_get_u32(in);
	if (in->failed || used > SND_FIFO_BYTES)
		return -EINVAL;
	snap_get_bytes(in, s->fifo, used);
	s->fifo_head = 0;
	s->fifo_used = used;
	s->start_ns = snd->clock();
	s->frames_done = 0;
	return in->failed ? -EINVAL : 0;
}

int virtio_snd_load(struct virtio_snd *snd, struct snap_cursor *in)
{
	virtio_lock(&snd->vdev);
	int r = virtio_device_load(&snd->vdev, in);
	for (int i = 0; i < SND_STREAMS && r == 0; i++) {
		snd_stream_init(&snd->streams[i], i);
		r = snd_load_stream(snd, &snd->streams[i], in);
	}
	if (r == 0 && !snap_cursor_done(in))
		r = -EINVAL;
	if (r < 0)
		snd_reset(&snd->vdev);
	else
		pthread_cond_signal(&snd->wake);
	virtio_unlock(&snd->vdev);
	return r;
}
