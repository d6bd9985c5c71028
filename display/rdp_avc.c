/* rdp_avc.c — H.264 for GFX's AVC420: a persistent I420 picture of one
 * area of the surface (a video region's box, or all of it) updated from
 * damage, encoded by x264 through libavcodec with settings for latency
 * (ultrafast, zerolatency, no B-frames). */
#include "rdp_avc.h"

#include "../common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>

struct rdp_avc {
	AVCodecContext *codec;
	AVFrame *frame;
	AVPacket *packet;
	uint32_t width, height;
	uint8_t *y, *u, *v; /* the picture: width x height luma, a quarter each of chroma */
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

struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height)
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
	size_t luma = (size_t)width * height;
	a->y = calloc(1, luma + luma / 2);
	a->codec = avcodec_alloc_context3(x264);
	a->frame = av_frame_alloc();
	a->packet = av_packet_alloc();
	if (!a->y || !a->codec || !a->frame || !a->packet)
		goto fail;
	a->u = a->y + luma;
	a->v = a->u + luma / 4;
	memset(a->u, 128, luma / 2);
	AVCodecContext *c = a->codec;
	c->width = (int)width;
	c->height = (int)height;
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->time_base = (AVRational){1, 60};
	c->framerate = (AVRational){60, 1};
	c->max_b_frames = 0;
	/* Say what the samples are: full-range BT.709. */
	c->color_range = AVCOL_RANGE_JPEG;
	c->colorspace = AVCOL_SPC_BT709;
	c->color_primaries = AVCOL_PRI_BT709;
	c->color_trc = AVCOL_TRC_BT709;
	/* A client joins the stream only at its start: one key frame, then
	 * P-frames for as long as the surface lives. */
	c->gop_size = 0x7fffffff;
	if (av_opt_set(c->priv_data, "preset", "ultrafast", 0) < 0 ||
	    av_opt_set(c->priv_data, "tune", "zerolatency", 0) < 0 || av_opt_set(c->priv_data, "crf", "20", 0) < 0)
		goto fail;
	int err = avcodec_open2(c, x264, NULL);
	if (err < 0) {
		log_error("rdp: cannot open the H.264 encoder for %ux%u (%d)", width, height, err);
		goto fail;
	}
	a->frame->format = AV_PIX_FMT_YUV420P;
	a->frame->width = (int)width;
	a->frame->height = (int)height;
	if (av_frame_get_buffer(a->frame, 0) < 0)
		goto fail;
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
	free(a->y);
	free(a);
}

/* BT.709 full range, as FreeRDP's decoder converts back; weights summing to
 * 256 and rounding keep white at 255. */
static uint8_t rdp_avc_luma(const uint8_t *px)
{
	return (uint8_t)((54 * px[2] + 183 * px[1] + 19 * px[0] + 128) >> 8);
}

/* A chroma sample from the sums of four pixels: rounded, centred on 128. */
static uint8_t rdp_avc_chroma(int sum)
{
	int v = (sum + 512) / 1024 + 128;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* [x0, x1) x [y0, y1) of f (even edges, inside f) into the picture, whose
 * top left is f's (left, top). */
static void rdp_avc_convert(struct rdp_avc *a, const struct surface_update *f, uint32_t left, uint32_t top, uint32_t x0,
			    uint32_t y0, uint32_t x1, uint32_t y1)
{
	for (uint32_t y = y0; y < y1; y += 2) {
		const uint8_t *row0 = f->pixels + (size_t)y * f->stride + (size_t)x0 * 4;
		const uint8_t *row1 = row0 + f->stride;
		uint8_t *luma0 = a->y + (size_t)(y - top) * a->width + (x0 - left);
		uint8_t *luma1 = luma0 + a->width;
		size_t c = (size_t)((y - top) / 2) * (a->width / 2) + (x0 - left) / 2;
		uint8_t *u = a->u + c, *v = a->v + c;
		for (uint32_t i = 0; i < x1 - x0; i += 2) {
			const uint8_t *p[4] = {row0 + i * 4, row0 + i * 4 + 4, row1 + i * 4, row1 + i * 4 + 4};
			luma0[i] = rdp_avc_luma(p[0]);
			luma0[i + 1] = rdp_avc_luma(p[1]);
			luma1[i] = rdp_avc_luma(p[2]);
			luma1[i + 1] = rdp_avc_luma(p[3]);
			int r = 0, g = 0, b = 0;
			for (int k = 0; k < 4; k++) {
				b += p[k][0];
				g += p[k][1];
				r += p[k][2];
			}
			u[i / 2] = rdp_avc_chroma(-29 * r - 99 * g + 128 * b);
			v[i / 2] = rdp_avc_chroma(128 * r - 116 * g - 12 * b);
		}
	}
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
	for (uint32_t i = 0; i < nrects; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= right || r->y >= bottom)
			continue;
		uint32_t x0 = r->x > left ? r->x & ~1u : left, y0 = r->y > top ? r->y & ~1u : top;
		/* Chroma covers 2x2 blocks: widen to even edges (right and bottom are). */
		uint32_t x1 = r->width < right - r->x ? (r->x + r->width + 1) & ~1u : right;
		uint32_t y1 = r->height < bottom - r->y ? (r->y + r->height + 1) & ~1u : bottom;
		if (x1 > x0 && y1 > y0)
			rdp_avc_convert(a, f, left, top, x0, y0, x1, y1);
	}
}

int rdp_avc_encode(struct rdp_avc *a, const uint8_t **data, size_t *size)
{
	AVFrame *fr = a->frame;
	if (av_frame_make_writable(fr) < 0)
		return -ENOMEM;
	const uint8_t *planes[3] = {a->y, a->u, a->v};
	for (int p = 0; p < 3; p++) {
		uint32_t w = p ? a->width / 2 : a->width, h = p ? a->height / 2 : a->height;
		for (uint32_t row = 0; row < h; row++)
			memcpy(fr->data[p] + (size_t)row * (size_t)fr->linesize[p], planes[p] + (size_t)row * w, w);
	}
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
