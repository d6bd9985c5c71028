/* rdp_avc.c — H.264 for GFX's AVC420: a persistent I420 picture of one
 * area of the surface (a video region's box, or all of it) updated from
 * damage, encoded by x264 through libavcodec with settings for latency
 * (ultrafast, zerolatency, no B-frames) within a byte budget. */
#include "rdp_avc.h"
#include "i420.h"

#include "../common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>

/* The frame rate x264 is told: the budget is per frame, so only the ratio
 * of its rate to this matters; frames come as clients acknowledge them. */
#define RDP_AVC_RATE 60

struct rdp_avc {
	AVCodecContext *codec;
	AVFrame *frame; /* the picture: width x height luma, a quarter each of chroma */
	AVPacket *packet;
	uint32_t width, height;
	int64_t pts;
};

bool rdp_avc_available(void)
{
	static atomic_int known; /* 0: not looked yet, 1: there, 2: missing */
	int k = atomic_load(&known);
	if (!k) {
		k = avcodec_find_encoder_by_name("libx264") ? 1 : 2;
		if (k == 2)
			log_warn("rdp: libavcodec has no libx264 encoder; no H.264");
		atomic_store(&known, k);
	}
	return k == 1;
}

struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height, uint32_t frame_bytes)
{
	if (!width || !height || width % 2 || height % 2) {
		log_debug("rdp: no H.264 for an odd size %ux%u", width, height);
		return NULL;
	}
	const AVCodec *x264 = rdp_avc_available() ? avcodec_find_encoder_by_name("libx264") : NULL;
	if (!x264)
		return NULL;
	struct rdp_avc *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->width = width;
	a->height = height;
	a->codec = avcodec_alloc_context3(x264);
	a->frame = av_frame_alloc();
	a->packet = av_packet_alloc();
	if (!a->codec || !a->frame || !a->packet)
		goto fail;
	AVCodecContext *c = a->codec;
	c->width = (int)width;
	c->height = (int)height;
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->time_base = (AVRational){1, RDP_AVC_RATE};
	c->framerate = (AVRational){RDP_AVC_RATE, 1};
	c->max_b_frames = 0;
	/* One thread: sliced threads cost 15% more CPU a frame for their
	 * latency, and a server's cores are better spent on other clients'
	 * streams, each encoded on its own connection's thread. */
	c->thread_count = 1;
	/* Say what the samples are: full-range BT.709. */
	c->color_range = AVCOL_RANGE_JPEG;
	c->colorspace = AVCOL_SPC_BT709;
	c->color_primaries = AVCOL_PRI_BT709;
	c->color_trc = AVCOL_TRC_BT709;
	/* A client joins the stream only at its start: one key frame, then
	 * P-frames for as long as the surface lives. */
	c->gop_size = 0x7fffffff;
	/* The byte budget: x264's VBV, half a second of frames deep, so frames
	 * average at most the budget while a picture that must be whole (a
	 * stream's first, a new scene) may borrow from the frames around it.
	 * The crf below is the quality wanted where the budget allows more. */
	if (frame_bytes) {
		uint64_t bits = (uint64_t)frame_bytes * 8 * RDP_AVC_RATE;
		c->rc_max_rate = (int64_t)bits;
		c->rc_buffer_size = bits / 2 > INT32_MAX ? INT32_MAX : (int)(bits / 2);
	}
	if (av_opt_set(c->priv_data, "preset", "ultrafast", 0) < 0 ||
	    av_opt_set(c->priv_data, "tune", "zerolatency", 0) < 0 || av_opt_set(c->priv_data, "crf", "20", 0) < 0)
		goto fail;
	int err = avcodec_open2(c, x264, NULL);
	if (err < 0) {
		log_error("rdp: cannot open the H.264 encoder for %ux%u (%d)", width, height, err);
		goto fail;
	}
	AVFrame *fr = a->frame;
	fr->format = AV_PIX_FMT_YUV420P;
	fr->width = (int)width;
	fr->height = (int)height;
	fr->color_range = AVCOL_RANGE_JPEG;
	/* One stride for both chroma planes, as i420_from_bgrx writes them. */
	if (av_frame_get_buffer(fr, 0) < 0 || fr->linesize[1] != fr->linesize[2])
		goto fail;
	/* Black until the surface says otherwise. */
	for (uint32_t row = 0; row < height; row++)
		memset(fr->data[0] + (size_t)row * (size_t)fr->linesize[0], 0, width);
	for (uint32_t row = 0; row < height / 2; row++) {
		memset(fr->data[1] + (size_t)row * (size_t)fr->linesize[1], 128, width / 2);
		memset(fr->data[2] + (size_t)row * (size_t)fr->linesize[2], 128, width / 2);
	}
	return a;
fail:
	rdp_avc_free(a);
	return NULL;
}

void rdp_avc_free(struct rdp_avc *a)
{
	if (!a)
		return;
	avcodec_free_context(&a->codec);
	av_frame_free(&a->frame);
	av_packet_free(&a->packet);
	free(a);
}

/* [x0, x1) x [y0, y1) of f (even edges, inside f) into the picture fr,
 * whose top left is f's (left, top). */
static void rdp_avc_convert(AVFrame *fr, const struct surface_update *f, uint32_t left, uint32_t top, uint32_t x0,
			    uint32_t y0, uint32_t x1, uint32_t y1)
{
	size_t ys = (size_t)fr->linesize[0], cs = (size_t)fr->linesize[1];
	size_t c = (size_t)((y0 - top) / 2) * cs + (x0 - left) / 2;
	i420_from_bgrx(f->pixels + (size_t)y0 * f->stride + (size_t)x0 * 4, f->stride, x1 - x0, y1 - y0,
		       fr->data[0] + (size_t)(y0 - top) * ys + (x0 - left), ys, fr->data[1] + c, fr->data[2] + c, cs);
}

void rdp_avc_update(struct rdp_avc *a, const struct surface_update *f, uint32_t left, uint32_t top,
		    const struct surface_rect *rects, uint32_t nrects)
{
	/* The picture's 2x2 chroma blocks are f's only from even edges; f's
	 * last column or row, when odd, has no partner to pair with. */
	uint32_t fw = f->width & ~1u, fh = f->height & ~1u;
	if (left % 2 || top % 2 || left >= fw || top >= fh)
		return;
	uint32_t right = a->width < fw - left ? left + a->width : fw;
	uint32_t bottom = a->height < fh - top ? top + a->height : fh;
	/* The encoder may still hold the last frame: then this copies it. */
	if (av_frame_make_writable(a->frame) < 0) {
		log_error("rdp: no memory for the H.264 picture");
		return;
	}
	for (uint32_t i = 0; i < nrects; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= right || r->y >= bottom)
			continue;
		uint32_t x0 = r->x > left ? r->x & ~1u : left, y0 = r->y > top ? r->y & ~1u : top;
		/* Chroma covers 2x2 blocks: widen to even edges (right and bottom are). */
		uint32_t x1 = r->width < right - r->x ? (r->x + r->width + 1) & ~1u : right;
		uint32_t y1 = r->height < bottom - r->y ? (r->y + r->height + 1) & ~1u : bottom;
		if (x1 > x0 && y1 > y0)
			rdp_avc_convert(a->frame, f, left, top, x0, y0, x1, y1);
	}
}

int rdp_avc_encode(struct rdp_avc *a, const uint8_t **data, size_t *size)
{
	AVFrame *fr = a->frame;
	fr->pts = a->pts++;
	av_packet_unref(a->packet);
	int err = avcodec_send_frame(a->codec, fr);
	if (err >= 0)
		err = avcodec_receive_packet(a->codec, a->packet);
	if (err < 0) {
		log_error("rdp: H.264 encoding failed (%d)", err);
		return -EIO;
	}
	*data = a->packet->data;
	*size = (size_t)a->packet->size;
	return 0;
}
