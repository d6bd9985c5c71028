/* rdp_avc.c — H.264 for GFX's AVC420: a persistent I420 picture of one
 * area of the surface (a video region's box, or all of it) updated from
 * damage, encoded by x264 through libavcodec with settings for latency
 * (ultrafast, zerolatency, no B-frames) within a byte budget.
 *
 * Desktop content (text, UI) gets x264's own rate control: a constant
 * rate factor held to the budget by its VBV, which follows the swings in
 * cost from frame to frame that such content has. Video gets a constant
 * quantiser steered to the budget: x264's rate control runs a
 * half-resolution motion search over every frame to estimate its cost,
 * about a third of ultrafast's time on a 1080p frame of video, and
 * libavcodec offers no way to set a frame's quantiser; video's cost per
 * frame changes slowly, so when its frames run persistently over the
 * budget (or far under it for long) the encoder restarts at a better QP
 * and the stream goes on from a key frame at the new quantiser. Restarts
 * cost a key frame each, so they are rare by design; in between, a client
 * that cannot keep up gets fewer frames (its acknowledgements pace it). */
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
#define RDP_AVC_RATE     60
/* Desktop content: the quality wanted where the budget allows more. */
#define RDP_AVC_CRF      "20"
/* Video's quantisers: without a budget, and the best a budget ever buys;
 * a budgeted stream's first (about what ultrafast spends 0.1 bit a pixel
 * on in 1080p video); the worst. */
#define RDP_AVC_QP_BEST  22
#define RDP_AVC_QP_START 30
#define RDP_AVC_QP_WORST 51
/* Steering, on P-frames' bytes at a QP (their mean over the first
 * RDP_AVC_SETTLE * 2, then a running average taking an eighth of each new
 * one): over RDP_AVC_OVER times the budget after RDP_AVC_SETTLE frames,
 * the QP rises by what the excess says (6 a doubling, at most 12 at once),
 * but not past a QP it came down from, which kept to the budget; under
 * RDP_AVC_UNDER times it for RDP_AVC_PATIENCE frames, it falls by up to 6,
 * but never back to a QP that was over in the last RDP_AVC_MEMORY frames. */
#define RDP_AVC_OVER     1.1
#define RDP_AVC_UNDER    0.25
#define RDP_AVC_SETTLE   8
#define RDP_AVC_PATIENCE 300
#define RDP_AVC_MEMORY   600

struct rdp_avc {
	AVCodecContext *codec;
	AVFrame *frame; /* the picture: width x height luma, a quarter each of chroma */
	AVPacket *packet;
	uint32_t width, height;
	int64_t pts;
	uint32_t budget; /* bytes a frame; 0: none */
	bool video;      /* a steered quantiser, not x264's rate control */
	int qp;          /* the encoder's (video) */
	int next_qp;     /* differs from qp: restart before the next frame */
	double average;  /* P-frames' bytes at this QP, running */
	uint32_t frames; /* P-frames at this QP */
	int over_qp;     /* the last QP that ran over the budget (0: none lately) */
	uint32_t since_over;
	int good_qp; /* the QP the last fall came from (0: none) */
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

/* An encoder for a's size in a->codec, at quantiser qp for video (false
 * on failure, logged). */
static bool rdp_avc_open(struct rdp_avc *a, int qp)
{
	const AVCodec *x264 = avcodec_find_encoder_by_name("libx264");
	AVCodecContext *c = x264 ? avcodec_alloc_context3(x264) : NULL;
	if (!c)
		return false;
	c->width = (int)a->width;
	c->height = (int)a->height;
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
	 * P-frames until the quantiser changes or the surface goes. */
	c->gop_size = 0x7fffffff;
	char q[8];
	snprintf(q, sizeof(q), "%d", qp);
	if (a->video) {
		/* Key frames 6 QP finer than P-frames (x264's default is 3): a
		 * stream's first picture stays sharp where it does not change. */
		c->i_quant_factor = 0.5f;
	} else if (a->budget) {
		/* x264's VBV, half a second of frames deep, so frames average at
		 * most the budget while a picture that must be whole (a stream's
		 * first, a new scene) may borrow from the frames around it. */
		uint64_t bits = (uint64_t)a->budget * 8 * RDP_AVC_RATE;
		c->rc_max_rate = (int64_t)bits;
		c->rc_buffer_size = bits / 2 > INT32_MAX ? INT32_MAX : (int)(bits / 2);
	}
	int err = -1;
	if (av_opt_set(c->priv_data, "preset", "ultrafast", 0) < 0 ||
	    av_opt_set(c->priv_data, "tune", "zerolatency", 0) < 0 ||
	    (a->video ? av_opt_set(c->priv_data, "qp", q, 0) : av_opt_set(c->priv_data, "crf", RDP_AVC_CRF, 0)) < 0 ||
	    (err = avcodec_open2(c, x264, NULL)) < 0) {
		log_error("rdp: cannot open the H.264 encoder for %ux%u (%d)", a->width, a->height, err);
		avcodec_free_context(&c);
		return false;
	}
	avcodec_free_context(&a->codec);
	a->codec = c;
	a->qp = a->next_qp = qp;
	a->average = 0;
	a->frames = 0;
	return true;
}

struct rdp_avc *rdp_avc_new(uint32_t width, uint32_t height, uint32_t frame_bytes, bool video)
{
	if (!width || !height || width % 2 || height % 2) {
		log_debug("rdp: no H.264 for an odd size %ux%u", width, height);
		return NULL;
	}
	if (!rdp_avc_available())
		return NULL;
	struct rdp_avc *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->width = width;
	a->height = height;
	a->budget = frame_bytes;
	a->video = video;
	a->frame = av_frame_alloc();
	a->packet = av_packet_alloc();
	if (!a->frame || !a->packet || !rdp_avc_open(a, frame_bytes ? RDP_AVC_QP_START : RDP_AVC_QP_BEST))
		goto fail;
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

int rdp_avc_qp(const struct rdp_avc *a)
{
	return a->video ? a->next_qp : 0;
}

/* After a P-frame of `bytes`: the QP the stream goes on at (next_qp). */
static void rdp_avc_steer(struct rdp_avc *a, size_t bytes)
{
	a->frames++;
	double weight = a->frames < 2 * RDP_AVC_SETTLE ? (double)a->frames : 8.0;
	a->average += ((double)bytes - a->average) / weight;
	if (a->over_qp && ++a->since_over > RDP_AVC_MEMORY)
		a->over_qp = 0;
	double ratio = a->average / a->budget;
	if (ratio > RDP_AVC_OVER && a->frames >= RDP_AVC_SETTLE && a->qp < RDP_AVC_QP_WORST) {
		/* x264's bytes halve about every 6 QP: up by 6 log2(ratio), 2 to 12. */
		static const double step[] = {1.0,   1.122, 1.260, 1.414, 1.587, 1.782, 2.0,
					      2.245, 2.520, 2.828, 3.175, 3.564, 4.0};
		int up = 2;
		while (up < 12 && ratio > step[up])
			up++;
		int next = a->qp + up < RDP_AVC_QP_WORST ? a->qp + up : RDP_AVC_QP_WORST;
		if (a->good_qp > a->qp && next > a->good_qp)
			next = a->good_qp;
		a->over_qp = a->qp;
		a->since_over = 0;
		a->next_qp = next;
	} else if (ratio < RDP_AVC_UNDER && a->frames >= RDP_AVC_PATIENCE && a->qp > RDP_AVC_QP_BEST) {
		int floor = a->over_qp ? a->over_qp + 1 : RDP_AVC_QP_BEST;
		int next = a->qp - 6 > floor ? a->qp - 6 : floor;
		if (next < a->qp) {
			a->good_qp = a->qp;
			a->next_qp = next;
		}
	}
}

int rdp_avc_encode(struct rdp_avc *a, const uint8_t **data, size_t *size)
{
	if (a->next_qp != a->qp) {
		log_info("rdp: H.264 %ux%u: %.0f bytes a frame at QP %d against a budget of %u; on at QP %d", a->width,
			 a->height, a->average, a->qp, a->budget, a->next_qp);
		if (!rdp_avc_open(a, a->next_qp))
			return -EIO;
	}
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
	if (a->video && a->budget && !(a->packet->flags & AV_PKT_FLAG_KEY))
		rdp_avc_steer(a, *size);
	return 0;
}
