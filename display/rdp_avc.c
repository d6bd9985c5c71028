/* rdp_avc.c — H.264 for GFX's AVC420: a persistent I420 picture of the
 * surface updated from damage, encoded by x264 through libavcodec with
 * settings for latency (ultrafast, zerolatency, no B-frames). */
#include "rdp_avc.h"

#include "../common/log.h"

#include <errno.h>
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

struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height)
{
	if (!width || !height || width % 2 || height % 2) {
		log_debug("rdp: no H.264 for an odd size %ux%u", width, height);
		return NULL;
	}
	const AVCodec *x264 = avcodec_find_encoder_by_name("libx264");
	if (!x264) {
		log_warn("rdp: libavcodec has no libx264 encoder; no H.264");
		return NULL;
	}
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

static void rdp_avc_convert(struct rdp_avc *a, const struct surface_update *f, uint32_t x0, uint32_t y0, uint32_t x1,
			    uint32_t y1)
{
	for (uint32_t y = y0; y < y1; y += 2) {
		const uint8_t *row0 = f->pixels + (size_t)y * f->stride;
		const uint8_t *row1 = row0 + f->stride;
		uint8_t *luma0 = a->y + (size_t)y * a->width;
		uint8_t *luma1 = luma0 + a->width;
		for (uint32_t x = x0; x < x1; x += 2) {
			const uint8_t *p[4] = {row0 + x * 4, row0 + x * 4 + 4, row1 + x * 4, row1 + x * 4 + 4};
			luma0[x] = rdp_avc_luma(p[0]);
			luma0[x + 1] = rdp_avc_luma(p[1]);
			luma1[x] = rdp_avc_luma(p[2]);
			luma1[x + 1] = rdp_avc_luma(p[3]);
			int r = 0, g = 0, b = 0;
			for (int i = 0; i < 4; i++) {
				b += p[i][0];
				g += p[i][1];
				r += p[i][2];
			}
			size_t c = (size_t)(y / 2) * (a->width / 2) + x / 2;
			a->u[c] = rdp_avc_chroma(-29 * r - 99 * g + 128 * b);
			a->v[c] = rdp_avc_chroma(128 * r - 116 * g - 12 * b);
		}
	}
}

void rdp_avc_update(struct rdp_avc *a, const struct surface_update *f, const struct surface_rect *rects,
		    uint32_t nrects)
{
	if (f->width != a->width || f->height != a->height)
		return;
	for (uint32_t i = 0; i < nrects; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= a->width || r->y >= a->height)
			continue;
		/* Chroma covers 2x2 blocks: widen to even edges (the size is even). */
		uint32_t x1 = r->x + (r->width < a->width - r->x ? r->width : a->width - r->x);
		uint32_t y1 = r->y + (r->height < a->height - r->y ? r->height : a->height - r->y);
		rdp_avc_convert(a, f, r->x & ~1u, r->y & ~1u, (x1 + 1) & ~1u, (y1 + 1) & ~1u);
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
