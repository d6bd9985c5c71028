/* sound.c — the virtio-snd driver (drivers.h), in CPL3: both PCM streams set
 * up once, then one tx buffer per sound played and a few rx buffers per
 * recording, the streams running only while they carry something. */
#include "drivers.h"
#include "guest.h"
#include "virtio.h"

#define ENOMEM 12
#define EBUSY  16
#define ENODEV 19
#define EINVAL 22
#define EIO    5

#define SND_CONTROLQ   0
#define SND_TXQ        2
#define SND_RXQ        3
#define SND_QUEUE_SIZE 32
#define SND_OUT        0 /* stream ids */
#define SND_IN         1

/* virtio 1.2 5.14.6: request codes, status codes, format and rate. */
#define SND_R_PCM_SET_PARAMS 0x0101
#define SND_R_PCM_PREPARE    0x0102
#define SND_R_PCM_START      0x0104
#define SND_R_PCM_STOP       0x0105
#define SND_S_OK             0x8000
#define SND_PCM_FMT_S16      5
#define SND_PCM_RATE_48000   7

#define OUT_BUFFER_BYTES (SOUND_RATE * 4) /* one second, stereo */
#define OUT_PERIOD_BYTES (480 * 4)
#define IN_CHUNK_FRAMES  4800 /* 100 ms per rx buffer */
#define IN_CHUNKS        (SOUND_RECORD_MAX / IN_CHUNK_FRAMES)

struct snd_set_params {
	uint32_t code, stream_id;
	uint32_t buffer_bytes, period_bytes, features;
	uint8_t channels, format, rate, padding;
};
struct snd_pcm_status {
	uint32_t status, latency_bytes;
};

static struct virtio_dev snd_dev;
static bool snd_ready;
static uint32_t *snd_req, *snd_resp;      /* a page each */
static uint32_t *snd_xfer;                /* [0] tx stream id, [1..] rx stream ids */
static struct snd_pcm_status *snd_status; /* [0] tx, [1..IN_CHUNKS] rx */
static int16_t *snd_out, *snd_in;
static bool snd_playing;
static unsigned snd_rx_pending;
static uint32_t snd_rx_frames;

static int snd_command(uint32_t code, uint32_t stream, const struct snd_set_params *params)
{
	if (params) {
		__builtin_memcpy(snd_req, params, sizeof(*params));
	} else {
		snd_req[0] = code;
		snd_req[1] = stream;
	}
	int r =
	    virtq_request(&snd_dev, &snd_dev.queues[SND_CONTROLQ], snd_req, params ? sizeof(*params) : 8, snd_resp, 4);
	if (r < 0)
		return r;
	return r >= 4 && snd_resp[0] == SND_S_OK ? 0 : -EIO;
}

static int snd_setup_stream(uint32_t stream, uint8_t channels, uint32_t buffer_bytes, uint32_t period_bytes)
{
	struct snd_set_params p = {
	    .code = SND_R_PCM_SET_PARAMS,
	    .stream_id = stream,
	    .buffer_bytes = buffer_bytes,
	    .period_bytes = period_bytes,
	    .channels = channels,
	    .format = SND_PCM_FMT_S16,
	    .rate = SND_PCM_RATE_48000,
	};
	int r = snd_command(0, 0, &p);
	return r < 0 ? r : snd_command(SND_R_PCM_PREPARE, stream, NULL);
}

int sound_init(void)
{
	if (virtio_find(&snd_dev, VIRTIO_ID_SOUND, 0) < 0)
		return -ENODEV;
	snd_req = page_alloc(4096);
	snd_resp = page_alloc(4096);
	snd_xfer = page_alloc(4096);
	snd_status = (struct snd_pcm_status *)(snd_xfer + 256);
	snd_out = page_alloc(OUT_BUFFER_BYTES);
	snd_in = page_alloc(SOUND_RECORD_MAX * sizeof(int16_t));
	if (!snd_req || !snd_resp || !snd_xfer || !snd_out || !snd_in)
		return -ENOMEM;
	int r = virtio_start(&snd_dev, 0, VECTOR_SOUND);
	if (r < 0 || (r = virtio_queue_setup(&snd_dev, SND_CONTROLQ, 4)) < 0 ||
	    (r = virtio_queue_setup(&snd_dev, SND_TXQ, SND_QUEUE_SIZE)) < 0 ||
	    (r = virtio_queue_setup(&snd_dev, SND_RXQ, SND_QUEUE_SIZE)) < 0)
		return r;
	virtio_driver_ok(&snd_dev);
	if ((r = snd_setup_stream(SND_OUT, 2, OUT_BUFFER_BYTES, OUT_PERIOD_BYTES)) < 0 ||
	    (r = snd_setup_stream(SND_IN, 1, IN_CHUNK_FRAMES * 2 * IN_CHUNKS, IN_CHUNK_FRAMES * 2)) < 0)
		return r;
	snd_ready = true;
	return 0;
}

/* One buffer on a data queue: the xfer header, the PCM bytes (readable for
 * tx, writable for rx), the status; descriptors 3k .. 3k+2. */
static void snd_post(uint16_t q, unsigned k, void *data, uint32_t bytes)
{
	struct virtq *vq = &snd_dev.queues[q];
	uint16_t d = (uint16_t)(3 * k);
	uint16_t write = q == SND_RXQ ? VIRTQ_DESC_F_WRITE : 0;
	vq->desc[d] = (struct virtq_desc){(uintptr_t)&snd_xfer[k], 4, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1)};
	vq->desc[d + 1] =
	    (struct virtq_desc){(uintptr_t)data, bytes, (uint16_t)(VIRTQ_DESC_F_NEXT | write), (uint16_t)(d + 2)};
	vq->desc[d + 2] =
	    (struct virtq_desc){(uintptr_t)&snd_status[k], sizeof(struct snd_pcm_status), VIRTQ_DESC_F_WRITE, 0};
	virtq_publish(vq, d);
}

int sound_play(const int16_t *stereo, uint32_t frames)
{
	if (!snd_ready)
		return -ENODEV;
	if (snd_playing)
		return -EBUSY;
	if (frames == 0 || frames > OUT_BUFFER_BYTES / 4)
		return -EINVAL;
	__builtin_memcpy(snd_out, stereo, frames * 4);
	snd_xfer[0] = SND_OUT;
	snd_post(SND_TXQ, 0, snd_out, frames * 4);
	int r = snd_command(SND_R_PCM_START, SND_OUT, NULL);
	snd_playing = r == 0;
	return r;
}

int sound_record(uint32_t frames)
{
	if (!snd_ready)
		return -ENODEV;
	if (snd_rx_pending)
		return -EBUSY;
	if (frames == 0 || frames > SOUND_RECORD_MAX)
		return -EINVAL;
	unsigned chunks = (frames + IN_CHUNK_FRAMES - 1) / IN_CHUNK_FRAMES;
	for (unsigned k = 0; k < chunks; k++) {
		snd_xfer[1 + k] = SND_IN;
		snd_post(SND_RXQ, 1 + k, snd_in + k * IN_CHUNK_FRAMES, IN_CHUNK_FRAMES * 2);
	}
	int r = snd_command(SND_R_PCM_START, SND_IN, NULL);
	if (r == 0) {
		snd_rx_pending = chunks;
		snd_rx_frames = chunks * IN_CHUNK_FRAMES;
	}
	return r;
}

bool sound_poll(const int16_t **recorded, uint32_t *frames)
{
	if (!snd_ready)
		return false;
	struct virtq_used_elem elem;
	bool played = false;
	while (virtq_take_used(&snd_dev.queues[SND_TXQ], &elem))
		played = true;
	if (played && snd_playing) {
		snd_command(SND_R_PCM_STOP, SND_OUT, NULL);
		snd_playing = false;
	}
	bool done = false;
	while (snd_rx_pending && virtq_take_used(&snd_dev.queues[SND_RXQ], &elem))
		done = --snd_rx_pending == 0;
	if (!done)
		return false;
	snd_command(SND_R_PCM_STOP, SND_IN, NULL);
	*recorded = snd_in;
	*frames = snd_rx_frames;
	return true;
}
