/* test_virtio_snd.c — unit tests for virtio-snd (hypervisor/devices/
 * virtio_snd.c) through its PCI transport, on an injected clock: the PCM
 * lifecycle, requests refused, tx played at the device's rate (never the
 * guest's), rx filled (silence when the host has nothing), hostile
 * buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "virtio_guest.h"

#include <errno.h>
#include <linux/virtio_snd.h>

#define WRITE 2
#define NEXT  1
#define CTLQ  0
#define TXQ   2
#define RXQ   3

#define REQ  (VG_DATA)
#define RESP (VG_DATA + 0x1000)
#define PCM  (VG_DATA + 0x2000) /* 0x40000 bytes of samples */
#define STAT (VG_DATA + 0x80000)

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

struct fixture {
	struct vg *g;
	struct virtio_snd *snd;
	unsigned msix;
	/* What the host side saw. */
	int16_t played[48000 * 2];
	uint32_t played_frames;
	uint64_t last_end_ns;
	int16_t mic_value; /* what capture gives; 0: no capture op */
};

static void host_playback(void *opaque, const int16_t *samples, uint32_t frames, uint64_t end_ns)
{
	struct fixture *f = opaque;
	for (uint32_t i = 0; i < frames * 2 && f->played_frames * 2 + i < 48000 * 2; i++)
		f->played[f->played_frames * 2 + i] = samples[i];
	f->played_frames += frames;
	f->last_end_ns = end_ns;
}

static void host_capture(void *opaque, int16_t *samples, uint32_t frames)
{
	struct fixture *f = opaque;
	for (uint32_t i = 0; i < frames; i++)
		samples[i] = f->mic_value;
}

static int setup_with(void **state, bool capture)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->g = vg_create();
	if (!f->g)
		return -1;
	struct snd_host_ops host = {.playback = host_playback, .capture = capture ? host_capture : NULL, .opaque = f};
	fake_now = 1000000000ull;
	f->snd = virtio_snd_create(&f->g->cfg, &host, fake_clock);
	if (!f->snd)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, true);
}

static int setup_no_capture(void **state)
{
	return setup_with(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_snd_destroy(f->snd);
	vg_destroy(f->g);
	free(f);
	log_set_level(LOG_INFO);
	return 0;
}

static void bring_up(struct fixture *f)
{
	struct vg *g = f->g;
	vg_enable_memory(g);
	f->msix = vg_find_caps(g);
	vg_cfg_write(g, f->msix + 2, 0x8000, 2);
	for (uint16_t v = 0; v < 5; v++)
		vg_msix_program(g, f->msix, v, 0x30 + v);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_common_write(g, VG_MSIX_CONFIG, 0, 2);
	vg_queue_setup(g, CTLQ, 16, 1);
	vg_queue_setup(g, TXQ, 16, 3);
	vg_queue_setup(g, RXQ, 16, 4);
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
}

/* One control request; returns the answer's status code, *len the bytes
 * the device wrote. */
static uint32_t control(struct fixture *f, const void *req, uint32_t req_len, uint32_t resp_len, uint32_t *len)
{
	struct vg *g = f->g;
	memcpy(g->mem + REQ, req, req_len);
	memset(g->mem + RESP, 0xee, resp_len);
	vg_set_desc(g, CTLQ, 0, REQ, req_len, NEXT, 1);
	vg_set_desc(g, CTLQ, 1, RESP, resp_len, WRITE, 0);
	uint16_t before = vg_used_idx(g, CTLQ);
	vg_make_available(g, CTLQ, 0);
	vg_kick(g, CTLQ);
	assert_int_equal(vg_used_idx(g, CTLQ), (uint16_t)(before + 1));
	uint32_t id, n;
	vg_used_elem(g, CTLQ, before, &id, &n);
	if (len)
		*len = n;
	uint32_t code;
	memcpy(&code, g->mem + RESP, 4);
	return code;
}

static uint32_t pcm(struct fixture *f, uint32_t code, uint32_t stream)
{
	struct virtio_snd_pcm_hdr h = {.hdr.code = code, .stream_id = stream};
	return control(f, &h, sizeof(h), 4, NULL);
}

static uint32_t set_params(struct fixture *f, uint32_t stream, uint8_t channels, uint8_t format, uint8_t rate,
			   uint32_t buffer, uint32_t period)
{
	struct virtio_snd_pcm_set_params p = {
	    .hdr = {.hdr.code = VIRTIO_SND_R_PCM_SET_PARAMS, .stream_id = stream},
	    .buffer_bytes = buffer,
	    .period_bytes = period,
	    .channels = channels,
	    .format = format,
	    .rate = rate,
	};
	return control(f, &p, sizeof(p), 4, NULL);
}

static void test_identity_and_info(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	assert_int_equal(vg_cfg_read(g, 0x00, 4), 0x10591af4);
	assert_int_equal(vg_cfg_read(g, 0x08, 4) >> 8, 0x040100);
	bring_up(f);
	assert_true(g->has_device_cfg);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 0, 4), 0); /* jacks */
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 4, 4), 2); /* streams */
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 8, 4), 0); /* chmaps */
	struct virtio_snd_query_info q = {
	    .hdr.code = VIRTIO_SND_R_PCM_INFO, .start_id = 0, .count = 2, .size = sizeof(struct virtio_snd_pcm_info)};
	uint32_t len;
	assert_int_equal(control(f, &q, sizeof(q), 4 + 2 * 32, &len), VIRTIO_SND_S_OK);
	assert_int_equal(len, 4 + 2 * 32);
	struct virtio_snd_pcm_info info[2];
	memcpy(info, g->mem + RESP + 4, sizeof(info));
	assert_int_equal(info[0].direction, VIRTIO_SND_D_OUTPUT);
	assert_int_equal(info[0].channels_min, 2);
	assert_int_equal(info[1].direction, VIRTIO_SND_D_INPUT);
	assert_int_equal(info[1].channels_max, 1);
	assert_int_equal(info[0].formats, 1ull << VIRTIO_SND_PCM_FMT_S16);
	assert_int_equal(info[1].rates, 1ull << VIRTIO_SND_PCM_RATE_48000);
	/* Past the streams, too small an answer, no such jack. */
	q.count = 3;
	assert_int_equal(control(f, &q, sizeof(q), 4 + 3 * 32, NULL), VIRTIO_SND_S_BAD_MSG);
	q.count = 2;
	assert_int_equal(control(f, &q, sizeof(q), 4 + 32, NULL), VIRTIO_SND_S_BAD_MSG);
	q.start_id = 0xffffffff;
	assert_int_equal(control(f, &q, sizeof(q), 4 + 64, NULL), VIRTIO_SND_S_BAD_MSG);
	q = (struct virtio_snd_query_info){.hdr.code = VIRTIO_SND_R_JACK_INFO, .count = 1, .size = 24};
	assert_int_equal(control(f, &q, sizeof(q), 64, NULL), VIRTIO_SND_S_BAD_MSG);
	/* Unknown codes and short requests. */
	uint32_t code = 0x9999;
	assert_int_equal(control(f, &code, 4, 4, NULL), VIRTIO_SND_S_NOT_SUPP);
	assert_int_equal(control(f, &code, 2, 4, NULL), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_INFO, 0), VIRTIO_SND_S_BAD_MSG);
}

static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	bring_up(f);
	/* Nothing before parameters. */
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), VIRTIO_SND_S_BAD_MSG);
	/* What the device does not do. */
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_44100, 19200, 1920),
			 VIRTIO_SND_S_NOT_SUPP);
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_U8, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_NOT_SUPP);
	assert_int_equal(set_params(f, 0, 1, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_NOT_SUPP);
	assert_int_equal(set_params(f, 1, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_NOT_SUPP);
	/* Sizes that make no sense. */
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 0),
			 VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1922),
			 VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 1920, 19200),
			 VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 0x7ffffffc, 1920),
			 VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(set_params(f, 2, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_BAD_MSG);
	/* The lifecycle. */
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_OK);
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 19200, 1920),
			 VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_OK);
	/* The other stream is its own. */
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 1), VIRTIO_SND_S_BAD_MSG);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 99), VIRTIO_SND_S_BAD_MSG);
	/* A reset forgets it all. */
	vg_status(f->g, 0);
	bring_up(f);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_BAD_MSG);
}

/* A tx buffer of `frames` frames at PCM + off, its status at STAT + 8 * k,
 * descriptors 3k .. 3k + 2. */
static void post_tx(struct fixture *f, unsigned k, uint32_t off, uint32_t frames, uint32_t stream)
{
	struct vg *g = f->g;
	uint16_t d = (uint16_t)(3 * k);
	memcpy(g->mem + REQ + 0x100 + 4 * k, &stream, 4);
	vg_set_desc(g, TXQ, d, REQ + 0x100 + 4 * k, 4, NEXT, d + 1);
	vg_set_desc(g, TXQ, d + 1, PCM + off, frames * 4, NEXT, d + 2);
	vg_set_desc(g, TXQ, d + 2, STAT + 8 * k, 8, WRITE, 0);
	memset(g->mem + STAT + 8 * k, 0xee, 8);
	vg_make_available(g, TXQ, d);
}

static void start_output(struct fixture *f)
{
	assert_int_equal(set_params(f, 0, 2, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 48000 * 4, 1920),
			 VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 0), VIRTIO_SND_S_OK);
}

static void test_tx_played_at_device_rate(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(f);
	start_output(f);
	int16_t *samples = (int16_t *)(g->mem + PCM);
	for (int i = 0; i < 9600 * 2; i++)
		samples[i] = (int16_t)(i + 1);
	/* Two 100 ms buffers, given at once: the guest's pace is "all now". */
	post_tx(f, 0, 0, 4800, 0);
	post_tx(f, 1, 4800 * 4, 4800, 0);
	vg_kick(g, TXQ);
	assert_int_equal(vg_used_idx(g, TXQ), 0);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_OK);
	/* Nothing is played before the clock moves. */
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, 0);
	fake_now += 50000000; /* 50 ms */
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, 2400);
	assert_int_equal(vg_used_idx(g, TXQ), 0);
	assert_memory_equal(f->played, samples, 2400 * 4);
	assert_int_equal(f->last_end_ns, fake_now);
	fake_now += 50000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, 4800);
	assert_int_equal(vg_used_idx(g, TXQ), 1);
	uint32_t id, len;
	vg_used_elem(g, TXQ, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 8);
	struct virtio_snd_pcm_status st;
	memcpy(&st, g->mem + STAT, 8);
	assert_int_equal(st.status, VIRTIO_SND_S_OK);
	assert_int_equal(st.latency_bytes, 4800 * 4); /* the second buffer is still to play */
	fake_now += 100000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(vg_used_idx(g, TXQ), 2);
	assert_memory_equal(f->played, samples, 9600 * 4);
	/* The guest is late now: silence, counted, and the clock goes on. */
	fake_now += 10000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, 9600 + 480);
	struct virtio_snd_stats stats;
	virtio_snd_stats(f->snd, &stats);
	assert_int_equal(stats.underrun_frames, 480);
	assert_int_equal(f->played[9600 * 2], 0);
	/* A long stall (a paused VM) is not made up in one burst. */
	fake_now += 10ull * 1000000000ull;
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, 9600 + 480 + SND_CATCHUP_FRAMES);
	virtio_snd_stats(f->snd, &stats);
	assert_true(stats.skipped_frames > 400000);
	/* Stopped: the clock plays nothing. */
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_STOP, 0), VIRTIO_SND_S_OK);
	uint32_t before = f->played_frames;
	fake_now += 100000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, before);
}

static void test_tx_refused_and_released(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(f);
	/* Before PREPARE, to the wrong stream, an odd size: IO_ERR at once. */
	post_tx(f, 0, 0, 480, 0);
	vg_kick(g, TXQ);
	assert_int_equal(vg_used_idx(g, TXQ), 1);
	struct virtio_snd_pcm_status st;
	memcpy(&st, g->mem + STAT, 8);
	assert_int_equal(st.status, VIRTIO_SND_S_IO_ERR);
	start_output(f);
	post_tx(f, 1, 0, 480, 1);
	vg_kick(g, TXQ);
	assert_int_equal(vg_used_idx(g, TXQ), 2);
	memcpy(&st, g->mem + STAT + 8, 8);
	assert_int_equal(st.status, VIRTIO_SND_S_IO_ERR);
	post_tx(f, 2, 0, 480, 0);
	vg_set_desc(g, TXQ, 7, PCM, 481 * 4 - 2, NEXT, 8);
	vg_kick(g, TXQ);
	assert_int_equal(vg_used_idx(g, TXQ), 3);
	memcpy(&st, g->mem + STAT + 16, 8);
	assert_int_equal(st.status, VIRTIO_SND_S_IO_ERR);
	/* Held buffers come back on RELEASE, never played. */
	post_tx(f, 3, 0, 480, 0);
	vg_kick(g, TXQ);
	assert_int_equal(vg_used_idx(g, TXQ), 3);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_RELEASE, 0), VIRTIO_SND_S_OK);
	assert_int_equal(vg_used_idx(g, TXQ), 4);
	assert_int_equal(f->played_frames, 0);
}

static void test_hostile_buffers_break_it(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	log_set_level(LOG_ERROR);
	bring_up(f);
	start_output(f);
	/* No room for the status. */
	vg_set_desc(g, TXQ, 0, REQ, 4, NEXT, 1);
	vg_set_desc(g, TXQ, 1, PCM, 1920, 0, 0);
	vg_make_available(g, TXQ, 0);
	vg_kick(g, TXQ);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* A control request with nowhere to answer. */
	bring_up(f);
	vg_set_desc(g, CTLQ, 0, REQ, 8, 0, 0);
	vg_make_available(g, CTLQ, 0);
	vg_kick(g, CTLQ);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* A held buffer whose chain the guest loops afterwards. */
	bring_up(f);
	start_output(f);
	post_tx(f, 0, 0, 480, 0);
	vg_kick(g, TXQ);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_OK);
	vg_set_desc(g, TXQ, 2, STAT, 8, WRITE | NEXT, 0);
	fake_now += 20000000;
	virtio_snd_tick(f->snd);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	/* Nothing more happens on a broken device. */
	uint32_t before = f->played_frames;
	fake_now += 20000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(f->played_frames, before);
}

/* An rx buffer of `frames` mono frames at PCM + off, status at STAT + 8k. */
static void post_rx(struct fixture *f, unsigned k, uint32_t off, uint32_t frames)
{
	struct vg *g = f->g;
	uint16_t d = (uint16_t)(3 * k);
	uint32_t stream = 1;
	memcpy(g->mem + REQ + 0x100 + 4 * k, &stream, 4);
	vg_set_desc(g, RXQ, d, REQ + 0x100 + 4 * k, 4, NEXT, d + 1);
	vg_set_desc(g, RXQ, d + 1, PCM + off, frames * 2, WRITE | NEXT, d + 2);
	vg_set_desc(g, RXQ, d + 2, STAT + 8 * k, 8, WRITE, 0);
	memset(g->mem + PCM + off, 0x55, frames * 2);
	vg_make_available(g, RXQ, d);
}

static void record_one(struct fixture *f)
{
	struct vg *g = f->g;
	bring_up(f);
	assert_int_equal(set_params(f, 1, 1, VIRTIO_SND_PCM_FMT_S16, VIRTIO_SND_PCM_RATE_48000, 9600, 960),
			 VIRTIO_SND_S_OK);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_PREPARE, 1), VIRTIO_SND_S_OK);
	post_rx(f, 0, 0, 480);
	vg_kick(g, RXQ);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 1), VIRTIO_SND_S_OK);
	fake_now += 5000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(vg_used_idx(g, RXQ), 0);
	fake_now += 5000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(vg_used_idx(g, RXQ), 1);
	uint32_t id, len;
	vg_used_elem(g, RXQ, 0, &id, &len);
	assert_int_equal(len, 480 * 2 + 8);
	struct virtio_snd_pcm_status st;
	memcpy(&st, g->mem + STAT, 8);
	assert_int_equal(st.status, VIRTIO_SND_S_OK);
}

static void test_rx_from_the_host(void **state)
{
	struct fixture *f = *state;
	f->mic_value = -1234;
	record_one(f);
	const int16_t *in = (const int16_t *)(f->g->mem + PCM);
	for (int i = 0; i < 480; i++)
		assert_int_equal(in[i], -1234);
}

static void test_rx_silence_without_host(void **state)
{
	struct fixture *f = *state;
	record_one(f);
	const int16_t *in = (const int16_t *)(f->g->mem + PCM);
	for (int i = 0; i < 480; i++)
		assert_int_equal(in[i], 0);
}

static void test_snapshot_round_trip(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	bring_up(f);
	start_output(f);
	post_tx(f, 0, 0, 4800, 0);
	vg_kick(g, TXQ);
	assert_int_equal(pcm(f, VIRTIO_SND_R_PCM_START, 0), VIRTIO_SND_S_OK);
	fake_now += 50000000;
	virtio_snd_tick(f->snd);
	struct snap_buf b = {0};
	virtio_snd_save(f->snd, &b);
	assert_false(b.failed);
	struct snap_cursor c = {.data = b.data, .len = b.len};
	assert_int_equal(virtio_snd_load(f->snd, &c), 0);
	/* The held buffer plays out its second half after the load. */
	fake_now += 50000000;
	virtio_snd_tick(f->snd);
	assert_int_equal(vg_used_idx(g, TXQ), 1);
	/* Truncated or bent state is refused. */
	struct snap_cursor shorter = {.data = b.data, .len = b.len - 1};
	assert_int_equal(virtio_snd_load(f->snd, &shorter), -EINVAL);
	snap_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_and_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_played_at_device_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_refused_and_released, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_buffers_break_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_from_the_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_silence_without_host, setup_no_capture, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
