/* test_rdp_avc.c — display/rdp_avc.c through real x264 and libavcodec's
 * H.264 decoder: pictures decode to what was drawn, damage updates only its
 * rectangles, the byte budget holds noisy video to it on average (and the
 * same video takes far more without one) by raising the quantiser, which
 * falls again when the content gets easy for long, the stream decoding on
 * through each change; odd sizes are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/rdp_avc.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/log.h>

struct decoder {
	AVCodecContext *ctx;
	AVPacket *packet;
	AVFrame *frame;
};

static void decoder_open(struct decoder *d)
{
	const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
	assert_non_null(h264);
	d->ctx = avcodec_alloc_context3(h264);
	d->packet = av_packet_alloc();
	d->frame = av_frame_alloc();
	assert_true(d->ctx && d->packet && d->frame);
	d->ctx->thread_count = 1;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	assert_int_equal(avcodec_open2(d->ctx, h264, NULL), 0);
}

static void decoder_close(struct decoder *d)
{
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->packet);
	av_frame_free(&d->frame);
}

/* Encodes a's picture, decodes it; the access unit's size. */
static size_t round_trip(struct rdp_avc *a, struct decoder *d)
{
	const uint8_t *data = NULL;
	size_t size = 0;
	assert_int_equal(rdp_avc_encode(a, &data, &size), 0);
	assert_true(data && size > 0);
	av_packet_unref(d->packet);
	assert_int_equal(av_new_packet(d->packet, (int)size), 0);
	memcpy(d->packet->data, data, size);
	assert_int_equal(avcodec_send_packet(d->ctx, d->packet), 0);
	av_frame_unref(d->frame);
	assert_int_equal(avcodec_receive_frame(d->ctx, d->frame), 0);
	return size;
}

static uint8_t luma_at(const struct decoder *d, uint32_t x, uint32_t y)
{
	return d->frame->data[0][(size_t)y * (size_t)d->frame->linesize[0] + x];
}

struct picture {
	uint32_t w, h;
	uint8_t *px; /* BGRX */
	struct surface_update f;
};

static void picture_new(struct picture *p, uint32_t w, uint32_t h)
{
	p->w = w;
	p->h = h;
	p->px = calloc((size_t)w * h, 4);
	assert_non_null(p->px);
	p->f = (struct surface_update){.width = w, .height = h, .stride = w * 4, .pixels = p->px, .nrects = 1};
	p->f.rects[0] = (struct surface_rect){0, 0, w, h};
}

static void picture_fill(struct picture *p, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, uint8_t r, uint8_t g,
			 uint8_t b)
{
	for (uint32_t y = y0; y < y0 + h; y++)
		for (uint32_t x = x0; x < x0 + w; x++) {
			uint8_t *px = p->px + ((size_t)y * p->w + x) * 4;
			px[0] = b;
			px[1] = g;
			px[2] = r;
		}
}

static uint32_t hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352du;
	v ^= v >> 15;
	v *= 0x846ca68bu;
	v ^= v >> 16;
	return v;
}

/* Frame k of a moving gradient under per-pixel noise: video a camera made. */
static void picture_video(struct picture *p, uint32_t k)
{
	for (uint32_t y = 0; y < p->h; y++)
		for (uint32_t x = 0; x < p->w; x++) {
			uint8_t *px = p->px + ((size_t)y * p->w + x) * 4;
			uint32_t n = hash32(x * 7919u + y * 104729u + k * 15485863u);
			px[0] = (uint8_t)((x + k * 3) + (n & 31));
			px[1] = (uint8_t)((y * 2 + k) + (n >> 8 & 31));
			px[2] = (uint8_t)((x + y + k * 5) + (n >> 16 & 31));
		}
}

static void test_odd_sizes_refused(void **state)
{
	(void)state;
	assert_null(rdp_avc_new(63, 64, 0, false));
	assert_null(rdp_avc_new(64, 63, 0, true));
	assert_null(rdp_avc_new(0, 64, 0, false));
}

/* A flat picture comes back flat: white at 255 luma, black at 0. */
static void test_picture_decodes(void **state)
{
	(void)state;
	struct picture p;
	picture_new(&p, 128, 96);
	picture_fill(&p, 0, 0, 64, 96, 255, 255, 255);
	struct rdp_avc *a = rdp_avc_new(128, 96, 0, false);
	assert_non_null(a);
	struct decoder d;
	decoder_open(&d);
	rdp_avc_update(a, &p.f, 0, 0, p.f.rects, 1);
	round_trip(a, &d);
	assert_int_equal(d.frame->width, 128);
	assert_int_equal(d.frame->height, 96);
	assert_in_range(luma_at(&d, 10, 10), 253, 255);
	assert_in_range(luma_at(&d, 100, 50), 0, 2);
	rdp_avc_free(a);
	decoder_close(&d);
	free(p.px);
}

/* Damage updates its rectangle; the rest keeps what was there, even when
 * the surface under it changed without being reported. */
static void test_damage_only(void **state)
{
	(void)state;
	struct picture p;
	picture_new(&p, 160, 128);
	struct rdp_avc *a = rdp_avc_new(160, 128, 0, false);
	assert_non_null(a);
	struct decoder d;
	decoder_open(&d);
	rdp_avc_update(a, &p.f, 0, 0, p.f.rects, 1);
	round_trip(a, &d);
	picture_fill(&p, 0, 0, 160, 128, 255, 255, 255);
	struct surface_rect r = {32, 32, 48, 48};
	rdp_avc_update(a, &p.f, 0, 0, &r, 1);
	round_trip(a, &d);
	assert_in_range(luma_at(&d, 50, 50), 250, 255);
	assert_in_range(luma_at(&d, 120, 100), 0, 5);
	/* A picture of a box within the surface: its origin is the box's. */
	struct rdp_avc *box = rdp_avc_new(64, 64, 0, true);
	struct decoder bd;
	decoder_open(&bd);
	picture_fill(&p, 0, 0, 160, 128, 0, 0, 0);
	picture_fill(&p, 96, 64, 16, 16, 255, 255, 255);
	rdp_avc_update(box, &p.f, 64, 32, p.f.rects, 1);
	round_trip(box, &bd);
	assert_in_range(luma_at(&bd, 40, 40), 250, 255);
	assert_in_range(luma_at(&bd, 10, 10), 0, 5);
	rdp_avc_free(box);
	decoder_close(&bd);
	rdp_avc_free(a);
	decoder_close(&d);
	free(p.px);
}

/* Average bytes of frames 31..90 of noisy video under a budget, coded as
 * video (a steered quantiser) or as desktop content (x264's rate control). */
static double video_bytes(uint32_t budget, bool video)
{
	struct picture p;
	picture_new(&p, 320, 240);
	struct rdp_avc *a = rdp_avc_new(320, 240, budget, video);
	assert_non_null(a);
	struct decoder d;
	decoder_open(&d);
	size_t late = 0;
	for (uint32_t k = 0; k < 90; k++) {
		picture_video(&p, k);
		rdp_avc_update(a, &p.f, 0, 0, p.f.rects, 1);
		size_t size = round_trip(a, &d);
		if (k >= 30)
			late += size;
	}
	rdp_avc_free(a);
	decoder_close(&d);
	free(p.px);
	return (double)late / 60;
}

static void test_budget(void **state)
{
	(void)state;
	for (int video = 0; video < 2; video++) {
		double capped = video_bytes(2000, video), free_ = video_bytes(0, video);
		print_message("noisy video as %s: %.0f bytes a frame with a budget of 2000, %.0f without\n",
			      video ? "video" : "desktop content", capped, free_);
		assert_true(capped <= 2000 * 1.1);
		assert_true(free_ > 2 * capped);
	}
}

/* The quantiser rises under heavy video, with the stream restarting at key
 * frames one decoder follows; it falls again after long easy content,
 * whose picture stays right. */
static void test_quantiser_follows_content(void **state)
{
	(void)state;
	struct picture p;
	picture_new(&p, 320, 240);
	struct rdp_avc *a = rdp_avc_new(320, 240, 2000, true);
	assert_non_null(a);
	int start = rdp_avc_qp(a);
	assert_true(start > 0);
	struct decoder d;
	decoder_open(&d);
	for (uint32_t k = 0; k < 40; k++) {
		picture_video(&p, k);
		rdp_avc_update(a, &p.f, 0, 0, p.f.rects, 1);
		round_trip(a, &d);
	}
	int heavy = rdp_avc_qp(a);
	print_message("quantiser: %d at the start, %d after heavy video\n", start, heavy);
	assert_true(heavy > start);
	/* A still grey picture: P-frames of a few bytes. */
	picture_fill(&p, 0, 0, 320, 240, 128, 128, 128);
	rdp_avc_update(a, &p.f, 0, 0, p.f.rects, 1);
	int easy = heavy;
	for (uint32_t k = 0; k < 1000 && easy >= heavy; k++) {
		round_trip(a, &d);
		easy = rdp_avc_qp(a);
	}
	print_message("quantiser: %d after easy content\n", easy);
	assert_true(easy < heavy);
	round_trip(a, &d);
	assert_in_range(luma_at(&d, 160, 120), 125, 131);
	rdp_avc_free(a);
	decoder_close(&d);
	free(p.px);
}

int main(void)
{
	av_log_set_level(AV_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_odd_sizes_refused),
	    cmocka_unit_test(test_picture_decodes),
	    cmocka_unit_test(test_damage_only),
	    cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_quantiser_follows_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
