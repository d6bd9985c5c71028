/* rdp_classic.c — graphics for an RDP client without the graphics pipeline:
 * damage cut along a 64-pixel grid, each piece as a planar bitmap update
 * (FreeRDP's encoder, lossless) unless its tile was photographic last time
 * (planar took more than RDP_CLASSIC_PHOTO bytes a pixel) and the client
 * takes RemoteFX: then as RemoteFX surface bits (FreeRDP's encoder, lossy),
 * sent again as planar once the tile held still RDP_CLASSIC_REFINE_MS.
 * Where the client acknowledges frames, each send is a frame between frame
 * markers and at most RDP_CLASSIC_INFLIGHT are unacknowledged; a client
 * that said it would acknowledge and then lets RDP_CLASSIC_ACK_WAIT_MS
 * pass without doing so is no longer waited for (the protocol ties frame
 * markers to surface commands, and a client might not acknowledge frames
 * of bitmap updates alone).
 *
 * Damage that is content the client holds, moved (a scroll, a dragged
 * window; found by motion.c as for GFX), goes first as ScrBlt orders where
 * the client takes them, unless VDI_RDP_MOTION=off. */
#include "motion.h"
#include "rdp_classic.h"

#include "../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <freerdp/codec/rfx.h>
#include <freerdp/update.h>
#include <winpr/stream.h>
#include <winpr/sysinfo.h>

#define RDP_CLASSIC_TILE           64
/* Planar's worst case for a tile: a header byte, four raw planes, padding. */
#define RDP_CLASSIC_TILE_MAX       (RDP_CLASSIC_TILE * RDP_CLASSIC_TILE * 4 + 16)
#define RDP_CLASSIC_BATCH          64 /* tiles in one bitmap update at most */
#define RDP_CLASSIC_PHOTO          2
#define RDP_CLASSIC_REFINE_MS      300
#define RDP_CLASSIC_INFLIGHT       2
#define RDP_CLASSIC_ACK_WAIT_MS    1000
/* RemoteFX messages must fit the client's largest update, and a message
 * holds one tile at least (up to about 24 KiB) besides 1 KiB of headers. */
#define RDP_CLASSIC_RFX_MIN_UPDATE (32 * 1024)

struct rdp_classic {
	rdpContext *ctx;
	BITMAP_PLANAR_CONTEXT *planar;
	uint8_t *tiles; /* RDP_CLASSIC_BATCH compressed tiles, while a frame is sent (NULL between frames) */
	BITMAP_DATA batch[RDP_CLASSIC_BATCH];
	uint32_t nbatch;
	size_t batch_bytes;
	RFX_CONTEXT *rfx; /* NULL: the client takes no RemoteFX */
	wStream *rfx_out;
	RFX_RECT *rfx_rects; /* this frame's pieces for RemoteFX, one per tile at most */
	uint32_t nrfx;
	uint32_t *rfx_piece; /* per tile: its piece in rfx_rects this frame, or UINT32_MAX */
	uint32_t width, height, cols, rows;
	uint32_t clip_w, clip_h; /* this frame's part of the desktop: the client's and the frame's overlap */
	/* Per tile: planar did poorly on it last time; and when the client got
	 * it from RemoteFX (0: it holds the tile losslessly). */
	bool *photo;
	uint64_t *lossy_at;
	/* ScrBlt (NULL motion: none): the picture the client holds, as the
	 * source pixels of everything sent (where it holds them lossy, lossy[]
	 * says so and nothing is copied from there); valid once a whole frame
	 * went out after the last reset. */
	struct motion *motion;
	uint8_t *held;
	/* Where a whole frame was a shared picture (the login screen): what
	 * the client holds, copied into held only once something changes. */
	struct surface_picture *held_picture;
	bool *lossy;
	bool held_valid;
	/* Frames, where the client acknowledges them. */
	uint32_t inflight_max; /* 0: it does not */
	uint32_t sent, acked;
	uint64_t sent_at; /* GetTickCount64() at the last frame sent */
	uint64_t frames, planar_tiles, rfx_tiles, refined_tiles, bytes, moves,
	    moved_pixels; /* for the log at the end */
};

struct rdp_classic *rdp_classic_new(rdpContext *ctx)
{
	struct rdp_classic *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->ctx = ctx;
	b->planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE,
						      RDP_CLASSIC_TILE, RDP_CLASSIC_TILE);
	if (!b->planar) {
		rdp_classic_free(b);
		return NULL;
	}
	return b;
}

/* No ScrBlt: no moves looked for, no picture of the client's kept. */
static void rdp_classic_drop_motion(struct rdp_classic *b)
{
	motion_free(b->motion);
	free(b->held);
	surface_picture_unref(b->held_picture);
	b->held_picture = NULL;
	free(b->lossy);
	b->motion = NULL;
	b->held = NULL;
	b->lossy = NULL;
	b->held_valid = false;
}

static void rdp_classic_forget(struct rdp_classic *b)
{
	rfx_context_free(b->rfx);
	b->rfx = NULL;
	if (b->rfx_out)
		Stream_Free(b->rfx_out, TRUE);
	b->rfx_out = NULL;
	free(b->rfx_rects);
	free(b->rfx_piece);
	free(b->photo);
	free(b->lossy_at);
	rdp_classic_drop_motion(b);
	b->rfx_rects = NULL;
	b->rfx_piece = NULL;
	b->photo = NULL;
	b->lossy_at = NULL;
	b->width = b->height = b->cols = b->rows = 0;
}

void rdp_classic_free(struct rdp_classic *b)
{
	if (!b)
		return;
	if (b->frames || b->planar_tiles || b->rfx_tiles)
		log_info("rdp: sent %llu bitmap frames: %llu planar tiles, %llu RemoteFX tiles (%llu refined), %llu "
			 "ScrBlt moves of %llu pixels, %llu bytes",
			 (unsigned long long)b->frames, (unsigned long long)b->planar_tiles,
			 (unsigned long long)b->rfx_tiles, (unsigned long long)b->refined_tiles,
			 (unsigned long long)b->moves, (unsigned long long)b->moved_pixels,
			 (unsigned long long)b->bytes);
	rdp_classic_forget(b);
	freerdp_bitmap_planar_context_free(b->planar);
	free(b);
}

bool rdp_classic_reset(struct rdp_classic *b, uint32_t width, uint32_t height)
{
	rdpSettings *settings = b->ctx->settings;
	rdp_classic_forget(b);
	/* Planar without its alpha plane only for a client that says it takes
	 * that (DRAW_ALLOW_SKIP_ALPHA): rdesktop, which does not, decodes only
	 * run-length planes with alpha. */
	if (b->planar->AllowSkipAlpha != settings->DrawAllowSkipAlpha) {
		BITMAP_PLANAR_CONTEXT *planar = freerdp_bitmap_planar_context_new(
		    (settings->DrawAllowSkipAlpha ? PLANAR_FORMAT_HEADER_NA : 0) | PLANAR_FORMAT_HEADER_RLE,
		    RDP_CLASSIC_TILE, RDP_CLASSIC_TILE);
		if (!planar)
			return false;
		freerdp_bitmap_planar_context_free(b->planar);
		b->planar = planar;
	}
	b->width = width;
	b->height = height;
	b->cols = (width + RDP_CLASSIC_TILE - 1) / RDP_CLASSIC_TILE;
	b->rows = (height + RDP_CLASSIC_TILE - 1) / RDP_CLASSIC_TILE;
	size_t n = (size_t)b->cols * b->rows;
	b->photo = calloc(n ? n : 1, sizeof(*b->photo));
	b->lossy_at = calloc(n ? n : 1, sizeof(*b->lossy_at));
	if (!b->photo || !b->lossy_at)
		return false;
	/* Frame markers travel as surface commands. */
	bool surface_commands = settings->SurfaceCommandsEnabled;
	b->inflight_max = surface_commands && settings->SurfaceFrameMarkerEnabled ? settings->FrameAcknowledge : 0;
	if (b->inflight_max > RDP_CLASSIC_INFLIGHT)
		b->inflight_max = RDP_CLASSIC_INFLIGHT;
	b->sent = b->acked = 0;
	if (surface_commands && settings->RemoteFxCodec &&
	    settings->MultifragMaxRequestSize < RDP_CLASSIC_RFX_MIN_UPDATE)
		log_warn("rdp: no RemoteFX: the client takes updates of %u bytes at most",
			 settings->MultifragMaxRequestSize);
	else if (surface_commands && settings->RemoteFxCodec && width && height && width <= UINT16_MAX &&
		 height <= UINT16_MAX) {
		b->rfx = rfx_context_new(TRUE);
		b->rfx_out = Stream_New(NULL, 64 * 1024);
		b->rfx_rects = calloc(n, sizeof(*b->rfx_rects));
		b->rfx_piece = malloc(n * sizeof(*b->rfx_piece));
		if (!b->rfx || !b->rfx_out || !b->rfx_rects || !b->rfx_piece ||
		    !rfx_context_reset(b->rfx, width, height)) {
			log_error("rdp: no memory for RemoteFX at %ux%u", width, height);
			return false;
		}
		memset(b->rfx_piece, 0xff, n * sizeof(*b->rfx_piece));
		b->rfx->mode = RLGR3;
		rfx_context_set_pixel_format(b->rfx, PIXEL_FORMAT_BGRX32);
	}
	const char *motion = getenv("VDI_RDP_MOTION");
	if (settings->OrderSupport[NEG_SCRBLT_INDEX] && (!motion || strcmp(motion, "off")) && n) {
		b->motion = motion_new();
		b->held = malloc((size_t)width * height * 4);
		b->lossy = calloc(n, sizeof(*b->lossy));
		if (!b->motion || !b->held || !b->lossy) {
			log_warn("rdp: no memory for the client's %ux%u picture: no ScrBlt", width, height);
			rdp_classic_drop_motion(b);
		}
	}
	log_info("rdp: bitmap updates at %ux%u%s%s, %s", width, height,
		 b->rfx ? " with RemoteFX for photographic tiles" : "", b->motion ? " and ScrBlt for moves" : "",
		 b->inflight_max ? "frames paced by acknowledgements" : "no frame acknowledgements");
	return true;
}

bool rdp_classic_can_send(struct rdp_classic *b)
{
	if (!b->inflight_max || b->sent - b->acked < b->inflight_max)
		return true;
	if (GetTickCount64() - b->sent_at < RDP_CLASSIC_ACK_WAIT_MS)
		return false;
	log_warn("rdp: the client acknowledged no frame in %u ms; frames no longer wait for acknowledgements",
		 RDP_CLASSIC_ACK_WAIT_MS);
	b->inflight_max = 0;
	return true;
}

uint32_t rdp_classic_wait_in(const struct rdp_classic *b)
{
	if (!b->inflight_max || b->sent - b->acked < b->inflight_max)
		return UINT32_MAX;
	uint64_t waited = GetTickCount64() - b->sent_at;
	return waited >= RDP_CLASSIC_ACK_WAIT_MS ? 0 : (uint32_t)(RDP_CLASSIC_ACK_WAIT_MS - waited);
}

void rdp_classic_acknowledged(struct rdp_classic *b, uint32_t id)
{
	/* Only a frame sent and not yet acknowledged moves the count. */
	if (id - b->acked <= b->sent - b->acked)
		b->acked = id;
}

uint32_t rdp_classic_refine_in(const struct rdp_classic *b)
{
	uint64_t oldest = 0;
	for (size_t t = 0; b->lossy_at && t < (size_t)b->cols * b->rows; t++)
		if (b->lossy_at[t] && (!oldest || b->lossy_at[t] < oldest))
			oldest = b->lossy_at[t];
	if (!oldest)
		return UINT32_MAX;
	uint64_t idle = GetTickCount64() - oldest;
	return idle >= RDP_CLASSIC_REFINE_MS ? 0 : (uint32_t)(RDP_CLASSIC_REFINE_MS - idle);
}

/* Sends the batched tiles as one bitmap update. */
static bool rdp_classic_flush(struct rdp_classic *b)
{
	if (!b->nbatch)
		return true;
	BITMAP_UPDATE bu = {.count = b->nbatch, .number = b->nbatch, .rectangles = b->batch};
	bool ok = b->ctx->update->BitmapUpdate(b->ctx, &bu);
	b->nbatch = 0;
	b->batch_bytes = 0;
	return ok;
}

/* Planar needs tiles of at least 4x4: a thin piece is widened back into
 * pixels already sent, which only repeats them. */
static void rdp_classic_widen(uint32_t *pos, uint32_t *len, uint32_t limit)
{
	if (*len >= 4 || limit < 4)
		return;
	if (*pos + 4 > limit)
		*pos = limit - 4;
	*len = 4;
}

/* w x h of f at (x, y), within one tile, as planar into the batch (sent
 * first when the client's largest update would not hold another tile);
 * *bytes_out: what planar made of it. */
static bool rdp_classic_planar(struct rdp_classic *b, const struct surface_update *f, uint32_t x, uint32_t y,
			       uint32_t w, uint32_t h, uint32_t *bytes_out)
{
	size_t limit = b->ctx->settings->MultifragMaxRequestSize;
	if (limit < 2 * RDP_CLASSIC_TILE_MAX)
		limit = 2 * RDP_CLASSIC_TILE_MAX;
	limit -= 1024; /* PDU and per-rectangle headers */
	if ((b->nbatch == RDP_CLASSIC_BATCH || b->batch_bytes + RDP_CLASSIC_TILE_MAX > limit) && !rdp_classic_flush(b))
		return false;
	uint8_t *dst = b->tiles + (size_t)b->nbatch * RDP_CLASSIC_TILE_MAX;
	uint32_t size = 0;
	const uint8_t *src = f->pixels + (size_t)y * f->stride + (size_t)x * 4;
	if (!freerdp_bitmap_compress_planar(b->planar, src, PIXEL_FORMAT_BGRX32, w, h, f->stride, dst, &size) ||
	    size > RDP_CLASSIC_TILE_MAX) {
		log_error("rdp: planar compression of a %ux%u tile failed", w, h);
		return false;
	}
	b->batch[b->nbatch++] = (BITMAP_DATA){
	    .destLeft = x,
	    .destTop = y,
	    .destRight = x + w - 1,
	    .destBottom = y + h - 1,
	    .width = w,
	    .height = h,
	    .bitsPerPixel = 32,
	    .compressed = TRUE,
	    .bitmapDataStream = dst,
	    .bitmapLength = size,
	    .cbCompMainBodySize = size,
	    .cbScanWidth = w * 4,
	    .cbUncompressedSize = w * h * 4,
	};
	b->batch_bytes += size + 32;
	b->bytes += size;
	b->planar_tiles++;
	*bytes_out = size;
	return true;
}

/* The piece [x0, x1) x [y0, y1) of tile t. */
static bool rdp_classic_piece(struct rdp_classic *b, const struct surface_update *f, uint32_t t, uint32_t x0,
			      uint32_t y0, uint32_t x1, uint32_t y1, uint64_t now)
{
	uint32_t w = x1 - x0, h = y1 - y0;
	if (b->rfx && b->photo[t]) {
		/* Rectangles that share a tile share its piece: their union. */
		RFX_RECT *r = &b->rfx_rects[b->rfx_piece[t] != UINT32_MAX ? b->rfx_piece[t] : b->nrfx];
		if (b->rfx_piece[t] == UINT32_MAX) {
			b->rfx_piece[t] = b->nrfx++;
			*r = (RFX_RECT){(UINT16)x0, (UINT16)y0, (UINT16)w, (UINT16)h};
		} else {
			uint32_t ux0 = r->x < x0 ? r->x : x0, uy0 = r->y < y0 ? r->y : y0;
			uint32_t ux1 = r->x + r->width > x1 ? r->x + r->width : x1;
			uint32_t uy1 = r->y + r->height > y1 ? r->y + r->height : y1;
			*r = (RFX_RECT){(UINT16)ux0, (UINT16)uy0, (UINT16)(ux1 - ux0), (UINT16)(uy1 - uy0)};
		}
		b->lossy_at[t] = now;
		return true;
	}
	uint32_t x = x0, y = y0, size = 0;
	rdp_classic_widen(&x, &w, b->clip_w);
	rdp_classic_widen(&y, &h, b->clip_h);
	if (!rdp_classic_planar(b, f, x, y, w, h, &size))
		return false;
	/* Thin pieces say nothing of what the tile shows. */
	if (x1 - x0 >= 4 && y1 - y0 >= 4)
		b->photo[t] = size > (x1 - x0) * (y1 - y0) * RDP_CLASSIC_PHOTO;
	/* Lossless again only when the piece was the whole tile. */
	uint32_t col = t % b->cols, row = t / b->cols;
	uint32_t tx1 = (col + 1) * RDP_CLASSIC_TILE, ty1 = (row + 1) * RDP_CLASSIC_TILE;
	if (x0 == col * RDP_CLASSIC_TILE && y0 == row * RDP_CLASSIC_TILE && x1 == (tx1 < b->clip_w ? tx1 : b->clip_w) &&
	    y1 == (ty1 < b->clip_h ? ty1 : b->clip_h))
		b->lossy_at[t] = 0;
	return true;
}

/* No RemoteFX pieces (for the next frame). */
static void rdp_classic_rfx_clear(struct rdp_classic *b)
{
	for (uint32_t i = 0; i < b->nrfx; i++)
		b->rfx_piece[(b->rfx_rects[i].y / RDP_CLASSIC_TILE) * b->cols + b->rfx_rects[i].x / RDP_CLASSIC_TILE] =
		    UINT32_MAX;
	b->nrfx = 0;
}

/* This frame's RemoteFX pieces as surface bits, in messages the client's
 * largest update holds. */
static bool rdp_classic_send_rfx(struct rdp_classic *b, const struct surface_update *f)
{
	if (!b->nrfx)
		return true;
	rdpSettings *settings = b->ctx->settings;
	size_t nmessages = 0;
	RFX_MESSAGE *messages = rfx_encode_messages_ex(b->rfx, b->rfx_rects, b->nrfx, f->pixels, f->width, f->height,
						       f->stride, &nmessages, settings->MultifragMaxRequestSize);
	b->rfx_tiles += b->nrfx;
	rdp_classic_rfx_clear(b);
	if (!messages) {
		log_error("rdp: RemoteFX encoding failed");
		return false;
	}
	SURFACE_BITS_COMMAND cmd = {
	    .cmdType = CMDTYPE_STREAM_SURFACE_BITS,
	    .destRight = b->width,
	    .destBottom = b->height,
	    .bmp = {.bpp = 32, .codecID = (UINT16)settings->RemoteFxCodecId, .width = b->width, .height = b->height},
	    .skipCompression = TRUE,
	};
	bool ok = true;
	for (size_t i = 0; i < nmessages; i++) {
		Stream_SetPosition(b->rfx_out, 0);
		if (ok && !rfx_write_message(b->rfx, b->rfx_out, &messages[i])) {
			log_error("rdp: writing a RemoteFX message failed");
			ok = false;
		}
		if (ok) {
			cmd.bmp.bitmapDataLength = (UINT32)Stream_GetPosition(b->rfx_out);
			cmd.bmp.bitmapData = Stream_Buffer(b->rfx_out);
			b->bytes += cmd.bmp.bitmapDataLength;
			ok = b->ctx->update->SurfaceBits(b->ctx, &cmd);
		}
		rfx_message_free(b->rfx, &messages[i]);
	}
	/* The messages share the first one's rectangles. */
	if (nmessages)
		free(messages[0].rects);
	free(messages);
	return ok;
}

static bool rdp_classic_marker(struct rdp_classic *b, uint32_t action)
{
	SURFACE_FRAME_MARKER marker = {.frameAction = action, .frameId = b->sent};
	return b->ctx->update->SurfaceFrameMarker(b->ctx, &marker);
}

/* The moves among the damage as ScrBlt orders, sent before anything of the
 * frame draws over their sources; rects gets what is left to encode. */
static bool rdp_classic_send_moves(struct rdp_classic *b, const struct surface_update *f,
				   const struct surface_rect *damage, uint32_t n, struct surface_rect *rects,
				   uint32_t *nrects)
{
	for (uint32_t t = 0; t < b->cols * b->rows; t++)
		b->lossy[t] = b->lossy_at[t] != 0;
	struct motion_frame mf = {
	    .old = b->held,
	    .new = f->pixels,
	    .old_stride = b->width * 4,
	    .new_stride = f->stride,
	    .width = b->width,
	    .height = b->height,
	    .lossy = b->lossy,
	    .tile = RDP_CLASSIC_TILE,
	    .cols = b->cols,
	};
	struct motion_result res;
	int err = motion_detect(b->motion, &mf, damage, n, &res);
	if (err < 0) {
		log_warn("rdp: looking for moved content failed (%s): sending damage as it is", strerror(-err));
		memcpy(rects, damage, n * sizeof(*damage));
		*nrects = n;
		return true;
	}
	rdpUpdate *update = b->ctx->update;
	if (res.nmoves && !update->BeginPaint(b->ctx))
		return false;
	for (uint32_t i = 0; i < res.nmoves; i++) {
		const struct motion_move *mv = &res.moves[i];
		SCRBLT_ORDER blt = {
		    .nLeftRect = (INT32)mv->dst_x,
		    .nTopRect = (INT32)mv->dst_y,
		    .nWidth = (INT32)mv->src.width,
		    .nHeight = (INT32)mv->src.height,
		    .bRop = 0xcc, /* SRCCOPY */
		    .nXSrc = (INT32)mv->src.x,
		    .nYSrc = (INT32)mv->src.y,
		};
		if (!update->primary->ScrBlt(b->ctx, &blt))
			return false;
		motion_apply(b->held, (size_t)b->width * 4, mv);
		/* Tiles the copy covers whole are now exact at the client. */
		for (uint32_t row = (mv->dst_y + RDP_CLASSIC_TILE - 1) / RDP_CLASSIC_TILE;
		     (row + 1) * RDP_CLASSIC_TILE <= mv->dst_y + mv->src.height; row++)
			for (uint32_t col = (mv->dst_x + RDP_CLASSIC_TILE - 1) / RDP_CLASSIC_TILE;
			     (col + 1) * RDP_CLASSIC_TILE <= mv->dst_x + mv->src.width; col++)
				b->lossy_at[row * b->cols + col] = 0;
		b->moves++;
		b->moved_pixels += (uint64_t)mv->src.width * mv->src.height;
	}
	if (res.nmoves && !update->EndPaint(b->ctx))
		return false;
	memcpy(rects, res.residual, res.nresidual * sizeof(*res.residual));
	*nrects = res.nresidual;
	return true;
}

/* The piece of rectangle r in each tile it touches. */
static bool rdp_classic_rect(struct rdp_classic *b, const struct surface_update *f, const struct surface_rect *r,
			     uint64_t now)
{
	uint32_t x1 = r->x + r->width, y1 = r->y + r->height;
	for (uint32_t ty = r->y / RDP_CLASSIC_TILE * RDP_CLASSIC_TILE; ty < y1; ty += RDP_CLASSIC_TILE) {
		for (uint32_t tx = r->x / RDP_CLASSIC_TILE * RDP_CLASSIC_TILE; tx < x1; tx += RDP_CLASSIC_TILE) {
			uint32_t t = ty / RDP_CLASSIC_TILE * b->cols + tx / RDP_CLASSIC_TILE;
			uint32_t px0 = tx > r->x ? tx : r->x, py0 = ty > r->y ? ty : r->y;
			uint32_t px1 = tx + RDP_CLASSIC_TILE < x1 ? tx + RDP_CLASSIC_TILE : x1;
			uint32_t py1 = ty + RDP_CLASSIC_TILE < y1 ? ty + RDP_CLASSIC_TILE : y1;
			if (!rdp_classic_piece(b, f, t, px0, py0, px1, py1, now))
				return false;
		}
	}
	return true;
}

static bool rdp_classic_frame(struct rdp_classic *b, const struct surface_update *f, const struct surface_rect *rects,
			      uint32_t nrects, uint32_t w, uint32_t h, uint64_t now, bool moving, bool picture);

bool rdp_classic_send(struct rdp_classic *b, const struct surface_update *f, const struct surface_rect *rects,
		      uint32_t nrects)
{
	uint32_t w = f->width < b->width ? f->width : b->width;
	uint32_t h = f->height < b->height ? f->height : b->height;
	if (w < 4 || h < 4 || !b->photo)
		return true;
	b->clip_w = w;
	b->clip_h = h;
	uint64_t now = GetTickCount64();
	bool moving = b->motion && w == b->width && h == b->height;
	/* A shared picture, whole: the client will hold it as it is. */
	bool picture = moving && f->picture && nrects == 1 && !rects[0].x && !rects[0].y && rects[0].width >= w &&
		       rects[0].height >= h;
	if (moving && b->held_picture && !picture) {
		memcpy(b->held, surface_picture_pixels(b->held_picture), (size_t)b->width * b->height * 4);
		surface_picture_unref(b->held_picture);
		b->held_picture = NULL;
	}
	/* The batch's buffer lives while a frame is sent: an idle client costs none (common/mem_trim.h). */
	b->tiles = malloc((size_t)RDP_CLASSIC_BATCH * RDP_CLASSIC_TILE_MAX);
	if (!b->tiles) {
		log_error("rdp: no memory for a frame's tiles");
		return false;
	}
	bool ok = rdp_classic_frame(b, f, rects, nrects, w, h, now, moving, picture);
	free(b->tiles);
	b->tiles = NULL;
	return ok;
}

static bool rdp_classic_frame(struct rdp_classic *b, const struct surface_update *f, const struct surface_rect *rects,
			      uint32_t nrects, uint32_t w, uint32_t h, uint64_t now, bool moving, bool picture)
{
	if (b->inflight_max) {
		b->sent++;
		b->sent_at = now;
		if (!rdp_classic_marker(b, SURFACECMD_FRAMEACTION_BEGIN))
			return false;
	}
	if (b->rfx)
		rdp_classic_rfx_clear(b);
	/* The damage on the desktop; moves looked for among it (a surface's
	 * viewer gives SURFACE_MAX_RECTS rectangles at most). */
	struct surface_rect damage[SURFACE_MAX_RECTS], left[MOTION_MAX_RESIDUAL];
	uint32_t ndamage = 0, nleft = 0;
	bool whole = false;
	for (uint32_t i = 0; i < nrects; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= w || r->y >= h || !r->width || !r->height)
			continue;
		uint32_t rw = r->width < w - r->x ? r->width : w - r->x;
		uint32_t rh = r->height < h - r->y ? r->height : h - r->y;
		struct surface_rect clipped = {r->x, r->y, rw, rh};
		whole |= rw == b->width && rh == b->height;
		if (moving && b->held_valid && nrects <= SURFACE_MAX_RECTS)
			damage[ndamage++] = clipped;
		else if (!rdp_classic_rect(b, f, &clipped, now))
			return false;
	}
	if (ndamage && !rdp_classic_send_moves(b, f, damage, ndamage, left, &nleft))
		return false;
	for (uint32_t i = 0; i < nleft; i++)
		if (!rdp_classic_rect(b, f, &left[i], now))
			return false;
	/* The client's picture is the new one over all the damage now (lossy
	 * where RemoteFX went, which lossy_at says). */
	if (picture) {
		surface_picture_unref(b->held_picture);
		b->held_picture = surface_picture_ref(f->picture);
	}
	for (uint32_t i = 0; moving && !picture && i < nrects; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= w || r->y >= h || !r->width || !r->height)
			continue;
		uint32_t rw = r->width < w - r->x ? r->width : w - r->x;
		uint32_t rh = r->height < h - r->y ? r->height : h - r->y;
		for (uint32_t y = r->y; y < r->y + rh; y++)
			memcpy(b->held + ((size_t)y * b->width + r->x) * 4,
			       f->pixels + (size_t)y * f->stride + (size_t)r->x * 4, (size_t)rw * 4);
	}
	b->held_valid |= moving && whole;
	/* Tiles lossy and still a while (this frame's RemoteFX pieces are
	 * not): whole, as planar, which says anew whether they are photographic. */
	for (uint32_t t = 0; t < b->cols * b->rows; t++) {
		if (!b->lossy_at[t] || now - b->lossy_at[t] < RDP_CLASSIC_REFINE_MS)
			continue;
		uint32_t x0 = t % b->cols * RDP_CLASSIC_TILE, y0 = t / b->cols * RDP_CLASSIC_TILE;
		uint32_t x1 = x0 + RDP_CLASSIC_TILE < w ? x0 + RDP_CLASSIC_TILE : w;
		uint32_t y1 = y0 + RDP_CLASSIC_TILE < h ? y0 + RDP_CLASSIC_TILE : h;
		b->photo[t] = false;
		b->lossy_at[t] = 0;
		if (x1 > x0 && y1 > y0 && !rdp_classic_piece(b, f, t, x0, y0, x1, y1, now))
			return false;
		b->refined_tiles++;
	}
	if (!rdp_classic_flush(b) || !rdp_classic_send_rfx(b, f))
		return false;
	b->frames++;
	return !b->inflight_max || rdp_classic_marker(b, SURFACECMD_FRAMEACTION_END);
}
