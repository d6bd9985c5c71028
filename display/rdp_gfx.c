/* rdp_gfx.c — the RDP graphics pipeline for one client: rdpgfx channel
 * setup, capability confirmation, one surface mapped to the output, and
 * frames of damage, at most RDP_GFX_INFLIGHT of them unacknowledged:
 * damage that is old content moved (scrolls, dragged windows) as
 * SurfaceToSurface copies first, then video-like regions as AVC420 (H.264),
 * the rest in tiles as SolidFill, planar or uncompressed commands.
 *
 * Each video region has an H.264 stream of its own, its picture the size of
 * the region's box. FreeRDP's clients (2.11 and 3) ignore an AVC420
 * command's destRect: they decode into the surface as if the picture's top
 * left were the surface's, with one decoder per surface. So a region's
 * stream decodes into an offscreen surface of its box's size (its destRect
 * that whole surface, as any reading of MS-RDPEGFX agrees), and
 * SurfaceToSurface copies its regions onto the desktop's surface. */
#include "rdp_gfx.h"
#include "motion.h"
#include "rdp_avc.h"

#include "../common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <freerdp/channels/wtsvc.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <freerdp/server/rdpgfx.h>
#include <winpr/synch.h>
#include <winpr/sysinfo.h>

#define RDP_GFX_TILE      64
#define RDP_GFX_TILE_MAX  (RDP_GFX_TILE * RDP_GFX_TILE * 4 + 16)
#define RDP_GFX_INFLIGHT  2 /* frames sent but not acknowledged, at most */
#define RDP_GFX_FILLS     64
#define RDP_GFX_SURFACE   1
/* Video-like: a damaged rectangle of at least this many pixels whose tiles
 * were nearly all damaged in more than 8 of the last 10 frames, or in this
 * frame and the one before when planar compressed them poorly (at more
 * than RDP_AVC_PHOTO bytes a pixel: photographic, not text or UI). */
#define RDP_AVC_MIN_AREA  (192 * 192)
#define RDP_AVC_HISTORY   0x3ffu
#define RDP_AVC_HOT       8
#define RDP_AVC_PHOTO     2
/* H.264 idle this long: the video stopped, its lossy picture is refined
 * and its streams end. */
#define RDP_AVC_REFINE_MS 300
/* H.264 streams per client at most, each with its offscreen surface; their
 * boxes never overlap, so they hold at most the desktop's pixels. */
#define RDP_AVC_STREAMS   4
#define RDP_AVC_ALIGN     16 /* a box's edges: H.264 macroblocks */
#define RDP_AVC_SURFACE0  (RDP_GFX_SURFACE + 1)
/* H.264 bytes a frame per client (VDI_RDP_AVC_KB, in KiB; 0: no budget):
 * FreeRDP's AVC420 at its 5 Mbit/s and 30 frames a second. A stream gets
 * the budget in proportion to its share of the desktop, at least a
 * quarter of it. */
#define RDP_AVC_BUDGET_KB 24

/* VDI_RDP_AVC: where H.264 goes when the client takes it. */
enum rdp_avc_mode {
	RDP_AVC_AUTO, /* video-like regions */
	RDP_AVC_OFF,
	RDP_AVC_ALL, /* every damaged rectangle: least bandwidth, lossy text */
};

/* One H.264 stream: a region's box on the desktop and its encoder. */
struct rdp_gfx_stream {
	struct rdp_avc *avc; /* NULL: the slot is free */
	uint16_t surface;    /* where it decodes: an offscreen surface, or the desktop's for a whole-desktop box */
	uint32_t x, y, w, h; /* the box */
	uint64_t synced;     /* the encoder's picture holds every change up to this send */
	uint64_t used;       /* GetTickCount64() at its last picture */
	bool in_frame;       /* takes regions in the frame being sent */
};

struct rdp_gfx {
	freerdp_peer *client;
	HANDLE vcm;
	RdpgfxServerContext *ctx;
	HANDLE event; /* set from rdpgfx's thread: capabilities confirmed, a frame acknowledged */
	bool opened;
	/* Written on rdpgfx's thread, read on the peer's. */
	atomic_bool ready;
	atomic_bool acks_suspended;
	atomic_bool avc_allowed;    /* the confirmed capabilities include AVC420 */
	atomic_uint_fast32_t acked; /* the last frame the client acknowledged */
	uint32_t sent;              /* the last frame id sent */
	uint32_t width, height;     /* the surface's; 0 before the first reset */
	bool have_surface;
	BITMAP_PLANAR_CONTEXT *planar;
	uint8_t *tile;    /* one compressed or raw tile */
	uint8_t *flipped; /* one tile's pixels bottom-up, for planar */
	RECTANGLE_16 fills[RDP_GFX_FILLS];
	uint32_t nfills, fill_colour;
	enum rdp_avc_mode avc_mode;
	bool avc_on;         /* H.264 is allowed, wanted and there */
	uint32_t avc_budget; /* bytes a frame, all streams together; 0: none */
	struct rdp_gfx_stream streams[RDP_AVC_STREAMS];
	uint64_t sends; /* rdp_gfx_send calls, for changed[] */
	/* Per tile: which of the last frames damaged it (bit 0 the newest), and
	 * whether the client holds it lossy from H.264. */
	uint16_t *history;
	bool *lossy;
	bool *photo;       /* per tile: its last tiles compressed poorly */
	uint64_t *changed; /* per tile: the send that last changed it */
	uint32_t cols, rows;
	uint64_t last_avc; /* GetTickCount64() at the last AVC420 command */
	/* SurfaceToSurface (VDI_RDP_MOTION=off: none): the picture the client
	 * holds, as the source pixels of everything sent (where it holds them
	 * lossy, lossy[] says so and nothing is copied from there); valid once
	 * a whole frame went out after the last reset. */
	struct motion *motion;
	uint8_t *held;
	bool held_valid;
	bool detached; /* ctx is the caller's (rdp_gfx_new_detached) */
	uint64_t frames, solid, planar_tiles, raw_tiles, avc_frames, avc_streams, moves,
	    moved_pixels; /* for the log at the end */
};

static struct rdp_gfx *rdp_gfx_of(RdpgfxServerContext *ctx)
{
	return ctx->custom;
}

/* rdpgfx's thread: confirm the newest capability set we understand. Every
 * version up to 10.7 keeps the codecs we use (planar, uncompressed). */
static UINT rdp_gfx_on_caps(RdpgfxServerContext *ctx, const RDPGFX_CAPS_ADVERTISE_PDU *advertise)
{
	struct rdp_gfx *g = rdp_gfx_of(ctx);
	const RDPGFX_CAPSET *best = NULL;
	for (UINT16 i = 0; i < advertise->capsSetCount; i++) {
		const RDPGFX_CAPSET *c = &advertise->capsSets[i];
		if (c->version > RDPGFX_CAPVERSION_107 || c->version == RDPGFX_CAPVERSION_106_ERR)
			continue;
		if (!best || c->version > best->version)
			best = c;
	}
	if (!best) {
		log_warn("rdp: the client offers no GFX capability set we know");
		return CHANNEL_RC_UNSUPPORTED_VERSION;
	}
	RDPGFX_CAPSET confirm = *best;
	if (confirm.version == RDPGFX_CAPVERSION_81)
		atomic_store(&g->avc_allowed, (confirm.flags & RDPGFX_CAPS_FLAG_AVC420_ENABLED) != 0);
	else if (confirm.version >= RDPGFX_CAPVERSION_10)
		atomic_store(&g->avc_allowed, (confirm.flags & RDPGFX_CAPS_FLAG_AVC_DISABLED) == 0);
	RDPGFX_CAPS_CONFIRM_PDU pdu = {.capsSet = &confirm};
	log_debug("rdp: GFX capabilities 0x%08x flags 0x%x confirmed", confirm.version, confirm.flags);
	UINT rc = ctx->CapsConfirm(ctx, &pdu);
	if (rc == CHANNEL_RC_OK) {
		atomic_store(&g->ready, true);
		SetEvent(g->event);
	}
	return rc;
}

static UINT rdp_gfx_on_ack(RdpgfxServerContext *ctx, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack)
{
	struct rdp_gfx *g = rdp_gfx_of(ctx);
	atomic_store(&g->acks_suspended, ack->queueDepth == SUSPEND_FRAME_ACKNOWLEDGEMENT);
	atomic_store(&g->acked, ack->frameId);
	SetEvent(g->event);
	return CHANNEL_RC_OK;
}

/* What every pipeline has; false (logged) when something is missing. */
static bool rdp_gfx_init(struct rdp_gfx *g)
{
	g->event = CreateEvent(NULL, FALSE, FALSE, NULL);
	g->planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE, RDP_GFX_TILE,
						      RDP_GFX_TILE);
	g->tile = malloc(RDP_GFX_TILE_MAX);
	g->flipped = malloc(RDP_GFX_TILE * RDP_GFX_TILE * 4);
	const char *motion = getenv("VDI_RDP_MOTION");
	bool want_motion = !motion || strcmp(motion, "off");
	if (want_motion)
		g->motion = motion_new();
	if (!g->ctx || !g->event || !g->planar || !g->tile || !g->flipped || (want_motion && !g->motion)) {
		log_error("rdp: cannot set up the graphics pipeline");
		return false;
	}
	const char *mode = getenv("VDI_RDP_AVC");
	g->avc_mode = mode && !strcmp(mode, "off")   ? RDP_AVC_OFF
		      : mode && !strcmp(mode, "all") ? RDP_AVC_ALL
						     : RDP_AVC_AUTO;
	const char *kb = getenv("VDI_RDP_AVC_KB");
	char *end = NULL;
	unsigned long budget = kb ? strtoul(kb, &end, 10) : RDP_AVC_BUDGET_KB;
	if (kb && (!*kb || *end || budget > 1024 * 1024)) {
		log_warn("rdp: VDI_RDP_AVC_KB=%s is not a number of KiB up to 1048576; using %u", kb,
			 RDP_AVC_BUDGET_KB);
		budget = RDP_AVC_BUDGET_KB;
	}
	g->avc_budget = (uint32_t)budget * 1024;
	return true;
}

struct rdp_gfx *rdp_gfx_new(freerdp_peer *client)
{
	struct rdp_gfx *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->client = client;
	g->vcm = WTSOpenServerA((LPSTR)client->context);
	if (!g->vcm || g->vcm == INVALID_HANDLE_VALUE) {
		log_error("rdp: cannot open the virtual channel manager");
		g->vcm = NULL;
		goto fail;
	}
	g->ctx = rdpgfx_server_context_new(g->vcm);
	if (!rdp_gfx_init(g))
		goto fail;
	g->ctx->custom = g;
	g->ctx->rdpcontext = client->context;
	g->ctx->CapsAdvertise = rdp_gfx_on_caps;
	g->ctx->FrameAcknowledge = rdp_gfx_on_ack;
	return g;
fail:
	rdp_gfx_free(g);
	return NULL;
}

struct rdp_gfx *rdp_gfx_new_detached(RdpgfxServerContext *ctx, bool avc)
{
	struct rdp_gfx *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->ctx = ctx;
	g->detached = true;
	if (!rdp_gfx_init(g)) {
		rdp_gfx_free(g);
		return NULL;
	}
	atomic_store(&g->ready, true);
	atomic_store(&g->acks_suspended, true);
	atomic_store(&g->avc_allowed, avc);
	return g;
}

void rdp_gfx_free(struct rdp_gfx *g)
{
	if (!g)
		return;
	if (g->frames)
		log_info("rdp: GFX sent %llu frames: %llu solid fills, %llu planar and %llu uncompressed tiles, "
			 "%llu AVC420 frames in %llu H.264 streams, %llu SurfaceToSurface moves of %llu pixels",
			 (unsigned long long)g->frames, (unsigned long long)g->solid,
			 (unsigned long long)g->planar_tiles, (unsigned long long)g->raw_tiles,
			 (unsigned long long)g->avc_frames, (unsigned long long)g->avc_streams,
			 (unsigned long long)g->moves, (unsigned long long)g->moved_pixels);
	if (g->ctx && !g->detached) {
		if (g->opened)
			g->ctx->Close(g->ctx);
		rdpgfx_server_context_free(g->ctx);
	}
	if (g->vcm)
		WTSCloseServer(g->vcm);
	if (g->event)
		CloseHandle(g->event);
	for (int i = 0; i < RDP_AVC_STREAMS; i++)
		rdp_avc_free(g->streams[i].avc);
	free(g->history);
	free(g->lossy);
	free(g->photo);
	free(g->changed);
	motion_free(g->motion);
	free(g->held);
	freerdp_bitmap_planar_context_free(g->planar);
	free(g->tile);
	free(g->flipped);
	free(g);
}

HANDLE rdp_gfx_vcm(const struct rdp_gfx *g)
{
	return g->vcm;
}

DWORD rdp_gfx_handles(struct rdp_gfx *g, HANDLE *handles)
{
	handles[0] = WTSVirtualChannelManagerGetEventHandle(g->vcm);
	handles[1] = g->event;
	return 2;
}

bool rdp_gfx_check(struct rdp_gfx *g, bool client_offers_gfx)
{
	/* Whatever set it is seen by the caller's next look at ready and acked. */
	ResetEvent(g->event);
	if (!WTSVirtualChannelManagerIsChannelJoined(g->vcm, "drdynvc"))
		return true;
	/* Sends what is queued, and the first call starts drdynvc. */
	if (!WTSVirtualChannelManagerCheckFileDescriptor(g->vcm))
		return false;
	if (g->opened || !client_offers_gfx || WTSVirtualChannelManagerGetDrdynvcState(g->vcm) != DRDYNVC_STATE_READY)
		return true;
	g->opened = true;
	if (!g->ctx->Open(g->ctx)) {
		log_warn("rdp: the client offers GFX but its channel does not open; staying with bitmap updates");
		return true;
	}
	log_debug("rdp: GFX channel opened");
	return true;
}

bool rdp_gfx_ready(const struct rdp_gfx *g)
{
	return atomic_load(&g->ready);
}

bool rdp_gfx_can_send(const struct rdp_gfx *g)
{
	if (!rdp_gfx_ready(g))
		return false;
	if (atomic_load(&g->acks_suspended))
		return true;
	return g->sent - (uint32_t)atomic_load(&g->acked) < RDP_GFX_INFLIGHT;
}

void rdp_gfx_size(const struct rdp_gfx *g, uint32_t *width, uint32_t *height)
{
	*width = g->width;
	*height = g->height;
}

/* Ends a stream: its encoder freed, its offscreen surface deleted at the
 * client. false when the channel failed. */
static bool rdp_gfx_stream_end(struct rdp_gfx *g, struct rdp_gfx_stream *st)
{
	if (!st->avc)
		return true;
	rdp_avc_free(st->avc);
	st->avc = NULL;
	st->in_frame = false;
	if (st->surface == RDP_GFX_SURFACE)
		return true;
	RDPGFX_DELETE_SURFACE_PDU del = {.surfaceId = st->surface};
	return g->ctx->DeleteSurface(g->ctx, &del) == CHANNEL_RC_OK;
}

bool rdp_gfx_reset(struct rdp_gfx *g, uint32_t width, uint32_t height)
{
	RdpgfxServerContext *ctx = g->ctx;
	/* A new surface starts new H.264 streams. */
	for (int i = 0; i < RDP_AVC_STREAMS; i++)
		if (!rdp_gfx_stream_end(g, &g->streams[i]))
			return false;
	if (g->have_surface) {
		RDPGFX_DELETE_SURFACE_PDU del = {.surfaceId = RDP_GFX_SURFACE};
		if (ctx->DeleteSurface(ctx, &del) != CHANNEL_RC_OK)
			return false;
		g->have_surface = false;
	}
	MONITOR_DEF monitor = {.left = 0, .top = 0, .right = width - 1, .bottom = height - 1, .flags = MONITOR_PRIMARY};
	RDPGFX_RESET_GRAPHICS_PDU reset = {
	    .width = width, .height = height, .monitorCount = 1, .monitorDefArray = &monitor};
	RDPGFX_CREATE_SURFACE_PDU create = {
	    .surfaceId = RDP_GFX_SURFACE,
	    .width = width,
	    .height = height,
	    .pixelFormat = GFX_PIXEL_FORMAT_XRGB_8888,
	};
	RDPGFX_MAP_SURFACE_TO_OUTPUT_PDU map = {.surfaceId = RDP_GFX_SURFACE};
	if (ctx->ResetGraphics(ctx, &reset) != CHANNEL_RC_OK || ctx->CreateSurface(ctx, &create) != CHANNEL_RC_OK ||
	    ctx->MapSurfaceToOutput(ctx, &map) != CHANNEL_RC_OK) {
		log_error("rdp: resetting GFX graphics to %ux%u failed", width, height);
		return false;
	}
	g->have_surface = true;
	free(g->history);
	free(g->lossy);
	free(g->photo);
	free(g->changed);
	g->cols = (width + RDP_GFX_TILE - 1) / RDP_GFX_TILE;
	g->rows = (height + RDP_GFX_TILE - 1) / RDP_GFX_TILE;
	g->history = calloc((size_t)g->cols * g->rows, sizeof(*g->history));
	g->lossy = calloc((size_t)g->cols * g->rows, sizeof(*g->lossy));
	g->photo = calloc((size_t)g->cols * g->rows, sizeof(*g->photo));
	g->changed = calloc((size_t)g->cols * g->rows, sizeof(*g->changed));
	if (!g->history || !g->lossy || !g->photo || !g->changed)
		return false;
	free(g->held);
	g->held = NULL;
	g->held_valid = false;
	if (g->motion && !(g->held = malloc((size_t)width * height * 4))) {
		log_warn("rdp: no memory for the client's %ux%u picture: no SurfaceToSurface", width, height);
		motion_free(g->motion);
		g->motion = NULL;
	}
	g->avc_on = atomic_load(&g->avc_allowed) && g->avc_mode != RDP_AVC_OFF && rdp_avc_available();
	g->width = width;
	g->height = height;
	if (g->client) {
		g->client->settings->DesktopWidth = width;
		g->client->settings->DesktopHeight = height;
	}
	log_info("rdp: GFX surface %ux%u", width, height);
	return true;
}

DWORD rdp_gfx_refine_in(const struct rdp_gfx *g)
{
	bool lossy = false;
	/* Everything in H.264 stays so: nothing to refine. */
	for (uint32_t t = 0; g->avc_mode != RDP_AVC_ALL && g->lossy && t < g->cols * g->rows && !lossy; t++)
		lossy = g->lossy[t];
	if (!lossy)
		return INFINITE;
	uint64_t idle = GetTickCount64() - g->last_avc;
	return idle >= RDP_AVC_REFINE_MS ? 0 : (DWORD)(RDP_AVC_REFINE_MS - idle);
}

/* The tiles [x0, x1) x [y0, y1) touches (not empty): columns c0 to c1 and
 * rows r0 to r1, inclusive. */
struct rdp_gfx_span {
	uint32_t c0, r0, c1, r1;
};

static struct rdp_gfx_span rdp_gfx_span(uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1)
{
	return (struct rdp_gfx_span){x0 / RDP_GFX_TILE, y0 / RDP_GFX_TILE, (x1 - 1) / RDP_GFX_TILE,
				     (y1 - 1) / RDP_GFX_TILE};
}

/* What the pixels of w x h at (x, y), just sent, say of the tiles they lie in. */
static void rdp_gfx_mark_photo(struct rdp_gfx *g, uint32_t x, uint32_t y, uint32_t w, uint32_t h, bool photo)
{
	struct rdp_gfx_span sp = rdp_gfx_span(x, y, x + w, y + h);
	for (uint32_t row = sp.r0; row <= sp.r1 && row < g->rows; row++)
		for (uint32_t col = sp.c0; col <= sp.c1 && col < g->cols; col++)
			g->photo[row * g->cols + col] = photo;
}

/* The colour when every pixel of the tile has it (the unused byte aside);
 * a tile that differs stops the scan at the first pixel that does. */
static bool rdp_gfx_solid(const struct surface_update *f, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			  uint32_t *colour)
{
	const uint8_t *row = f->pixels + (size_t)y * f->stride + (size_t)x * 4;
	uint32_t first;
	memcpy(&first, row, 4);
	first &= 0x00ffffff;
	for (uint32_t j = 0; j < h; j++, row += f->stride) {
		for (uint32_t i = 0; i < w; i++) {
			uint32_t px;
			memcpy(&px, row + (size_t)i * 4, 4);
			if ((px & 0x00ffffff) != first)
				return false;
		}
	}
	*colour = first;
	return true;
}

static bool rdp_gfx_flush_fills(struct rdp_gfx *g)
{
	if (!g->nfills)
		return true;
	RDPGFX_SOLID_FILL_PDU fill = {
	    .surfaceId = RDP_GFX_SURFACE,
	    .fillPixel = {.B = g->fill_colour & 0xff,
			  .G = (g->fill_colour >> 8) & 0xff,
			  .R = (g->fill_colour >> 16) & 0xff,
			  .XA = 0xff},
	    .fillRectCount = (UINT16)g->nfills,
	    .fillRects = g->fills,
	};
	g->solid += g->nfills;
	g->nfills = 0;
	return g->ctx->SolidFill(g->ctx, &fill) == CHANNEL_RC_OK;
}

/* Solid tiles of one colour go out together in one SolidFill. */
static bool rdp_gfx_fill(struct rdp_gfx *g, uint32_t colour, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	if (g->nfills && (g->fill_colour != colour || g->nfills == RDP_GFX_FILLS) && !rdp_gfx_flush_fills(g))
		return false;
	g->fill_colour = colour;
	g->fills[g->nfills++] = (RECTANGLE_16){.left = x, .top = y, .right = x + w, .bottom = y + h};
	return true;
}

/* A tile as planar, or uncompressed when it is too thin for planar's
 * encoder (under 4 pixels a side) or planar would not save anything. */
static bool rdp_gfx_tile(struct rdp_gfx *g, const struct surface_update *f, uint32_t x, uint32_t y, uint32_t w,
			 uint32_t h)
{
	uint32_t colour;
	if (rdp_gfx_solid(f, x, y, w, h, &colour)) {
		rdp_gfx_mark_photo(g, x, y, w, h, false);
		return rdp_gfx_fill(g, colour, x, y, w, h);
	}
	const uint8_t *src = f->pixels + (size_t)y * f->stride + (size_t)x * 4;
	RDPGFX_SURFACE_COMMAND cmd = {
	    .surfaceId = RDP_GFX_SURFACE,
	    .format = PIXEL_FORMAT_BGRX32,
	    .left = x,
	    .top = y,
	    .right = x + w,
	    .bottom = y + h,
	    .width = w,
	    .height = h,
	    .data = g->tile,
	};
	uint32_t size = 0;
	/* FreeRDP's planar encoder writes rows bottom-up, as bitmap updates
	 * want; GFX's planar runs top-down, so it gets the tile upside down. */
	for (uint32_t j = 0; j < h; j++)
		memcpy(g->flipped + (size_t)(h - 1 - j) * w * 4, src + (size_t)j * f->stride, (size_t)w * 4);
	if (w >= 4 && h >= 4 &&
	    freerdp_bitmap_compress_planar(g->planar, g->flipped, PIXEL_FORMAT_BGRX32, w, h, w * 4, g->tile, &size) &&
	    size < w * h * 4) {
		cmd.codecId = RDPGFX_CODECID_PLANAR;
		cmd.length = size;
		g->planar_tiles++;
	} else {
		for (uint32_t j = 0; j < h; j++)
			memcpy(g->tile + (size_t)j * w * 4, src + (size_t)j * f->stride, (size_t)w * 4);
		cmd.codecId = RDPGFX_CODECID_UNCOMPRESSED;
		cmd.length = w * h * 4;
		g->raw_tiles++;
	}
	/* Thin tiles go raw whatever they show: they say nothing. */
	if (w >= 4 && h >= 4)
		rdp_gfx_mark_photo(g, x, y, w, h, cmd.length > w * h * RDP_AVC_PHOTO);
	return g->ctx->SurfaceCommand(g->ctx, &cmd) == CHANNEL_RC_OK;
}

/* Sends the tiles of [x, x1) x [y, y1). */
static bool rdp_gfx_tiles(struct rdp_gfx *g, const struct surface_update *f, uint32_t x0, uint32_t y0, uint32_t x1,
			  uint32_t y1)
{
	for (uint32_t ty = y0; ty < y1; ty += RDP_GFX_TILE) {
		for (uint32_t tx = x0; tx < x1; tx += RDP_GFX_TILE) {
			uint32_t tw = x1 - tx < RDP_GFX_TILE ? x1 - tx : RDP_GFX_TILE;
			uint32_t th = y1 - ty < RDP_GFX_TILE ? y1 - ty : RDP_GFX_TILE;
			if (!rdp_gfx_tile(g, f, tx, ty, tw, th))
				return false;
		}
	}
	return true;
}

/* Video-like: large, and its tiles damaged in most recent frames (this one
 * counted as damaging them when now is 1). */
static bool rdp_gfx_video_like(const struct rdp_gfx *g, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1,
			       uint16_t now)
{
	if (g->avc_mode == RDP_AVC_ALL)
		return true;
	if ((uint64_t)(x1 - x0) * (y1 - y0) < RDP_AVC_MIN_AREA)
		return false;
	struct rdp_gfx_span sp = rdp_gfx_span(x0, y0, x1, y1);
	uint32_t hot = 0, all = (sp.c1 - sp.c0 + 1) * (sp.r1 - sp.r0 + 1);
	for (uint32_t row = sp.r0; row <= sp.r1; row++)
		for (uint32_t col = sp.c0; col <= sp.c1; col++) {
			uint32_t t = row * g->cols + col, seen = (g->history[t] | now) & RDP_AVC_HISTORY;
			if (__builtin_popcount(seen) > RDP_AVC_HOT || (g->photo[t] && (seen & 3) == 3))
				hot++;
		}
	return hot * 4 >= all * 3;
}

/* [x0, x1) x [y0, y1) of the surface. */
struct rdp_gfx_area {
	uint32_t x0, y0, x1, y1;
};

static bool rdp_gfx_overlap(struct rdp_gfx_area a, struct rdp_gfx_area b)
{
	return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

static bool rdp_gfx_inside(struct rdp_gfx_area in, struct rdp_gfx_area out)
{
	return in.x0 >= out.x0 && in.y0 >= out.y0 && in.x1 <= out.x1 && in.y1 <= out.y1;
}

static struct rdp_gfx_area rdp_gfx_union(struct rdp_gfx_area a, struct rdp_gfx_area b)
{
	return (struct rdp_gfx_area){a.x0 < b.x0 ? a.x0 : b.x0, a.y0 < b.y0 ? a.y0 : b.y0, a.x1 > b.x1 ? a.x1 : b.x1,
				     a.y1 > b.y1 ? a.y1 : b.y1};
}

/* An H.264 box for a: out to macroblock edges, clipped to the surface's
 * even part (an odd last column or row has no chroma pair), so it may not
 * hold all of a at such an edge. */
static struct rdp_gfx_area rdp_gfx_box(const struct rdp_gfx *g, struct rdp_gfx_area a)
{
	uint32_t w = g->width & ~1u, h = g->height & ~1u;
	uint32_t x1 = (a.x1 + RDP_AVC_ALIGN - 1) / RDP_AVC_ALIGN * RDP_AVC_ALIGN;
	uint32_t y1 = (a.y1 + RDP_AVC_ALIGN - 1) / RDP_AVC_ALIGN * RDP_AVC_ALIGN;
	return (struct rdp_gfx_area){a.x0 / RDP_AVC_ALIGN * RDP_AVC_ALIGN, a.y0 / RDP_AVC_ALIGN * RDP_AVC_ALIGN,
				     x1 < w ? x1 : w, y1 < h ? y1 : h};
}

/* At least half of a's tiles were photographic when last sent as tiles:
 * video, not text or UI. */
static bool rdp_gfx_photographic(const struct rdp_gfx *g, struct rdp_gfx_area a)
{
	struct rdp_gfx_span sp = rdp_gfx_span(a.x0, a.y0, a.x1, a.y1);
	uint32_t photo = 0, all = 0;
	for (uint32_t row = sp.r0; row <= sp.r1 && row < g->rows; row++)
		for (uint32_t col = sp.c0; col <= sp.c1 && col < g->cols; col++, all++)
			photo += g->photo[row * g->cols + col];
	return all && photo * 2 >= all;
}

static struct rdp_gfx_area rdp_gfx_stream_box(const struct rdp_gfx_stream *st)
{
	return (struct rdp_gfx_area){st->x, st->y, st->x + st->w, st->y + st->h};
}

/* Ends the streams idle a while: their regions were refined or soon are.
 * With VDI_RDP_AVC=all nothing is refined and the one stream stays. */
static bool rdp_gfx_streams_expire(struct rdp_gfx *g)
{
	uint64_t now = GetTickCount64();
	for (int i = 0; g->avc_mode != RDP_AVC_ALL && i < RDP_AVC_STREAMS; i++) {
		struct rdp_gfx_stream *st = &g->streams[i];
		if (st->avc && now - st->used >= RDP_AVC_REFINE_MS && !rdp_gfx_stream_end(g, st))
			return false;
	}
	return true;
}

/* A new stream for the regions in a, its picture converted from f's box:
 * the stream's index, -1 when a goes as tiles (no box holds it, a stream
 * of this frame overlaps it, none is free, no encoder), -2 when the
 * channel failed. Streams its box overlaps end: the region moved or grew. */
static int rdp_gfx_stream_start(struct rdp_gfx *g, const struct surface_update *f, struct rdp_gfx_area a)
{
	struct rdp_gfx_area box = rdp_gfx_box(g, a);
	if (!rdp_gfx_inside(a, box))
		return -1;
	for (int i = 0; i < RDP_AVC_STREAMS; i++)
		if (g->streams[i].avc && g->streams[i].in_frame &&
		    rdp_gfx_overlap(box, rdp_gfx_stream_box(&g->streams[i])))
			return -1;
	int slot = -1;
	for (int i = 0; i < RDP_AVC_STREAMS; i++) {
		struct rdp_gfx_stream *st = &g->streams[i];
		if (st->avc && rdp_gfx_overlap(box, rdp_gfx_stream_box(st)) && !rdp_gfx_stream_end(g, st))
			return -2;
		if (!st->avc)
			slot = slot < 0 ? i : slot;
	}
	/* All busy: the least recently used one not in this frame makes room. */
	bool full = slot < 0;
	for (int i = 0; full && i < RDP_AVC_STREAMS; i++) {
		const struct rdp_gfx_stream *st = &g->streams[i];
		if (!st->in_frame && (slot < 0 || st->used < g->streams[slot].used))
			slot = i;
	}
	if (slot < 0)
		return -1;
	struct rdp_gfx_stream *st = &g->streams[slot];
	if (!rdp_gfx_stream_end(g, st))
		return -2;
	uint32_t w = box.x1 - box.x0, h = box.y1 - box.y0;
	uint64_t share = g->width && g->height ? (uint64_t)g->avc_budget * w * h / ((uint64_t)g->width * g->height) : 0;
	struct rdp_avc *avc = rdp_avc_new(w, h, share > g->avc_budget / 4 ? (uint32_t)share : g->avc_budget / 4,
					  rdp_gfx_photographic(g, a));
	if (!avc)
		return -1;
	bool whole = w == g->width && h == g->height;
	uint16_t surface = whole ? RDP_GFX_SURFACE : (uint16_t)(RDP_AVC_SURFACE0 + slot);
	RDPGFX_CREATE_SURFACE_PDU create = {
	    .surfaceId = surface, .width = w, .height = h, .pixelFormat = GFX_PIXEL_FORMAT_XRGB_8888};
	if (!whole && g->ctx->CreateSurface(g->ctx, &create) != CHANNEL_RC_OK) {
		rdp_avc_free(avc);
		return -2;
	}
	struct surface_rect all = {box.x0, box.y0, w, h};
	rdp_avc_update(avc, f, box.x0, box.y0, &all, 1);
	*st = (struct rdp_gfx_stream){.avc = avc,
				      .surface = surface,
				      .x = box.x0,
				      .y = box.y0,
				      .w = w,
				      .h = h,
				      .synced = g->sends,
				      .used = GetTickCount64()};
	g->avc_streams++;
	log_debug("rdp: H.264 stream %d for %ux%u at %u,%u", slot, w, h, box.x0, box.y0);
	return slot;
}

/* The stream's picture takes every tile of its box that changed since it
 * last did, from f (the whole current picture): converting only before an
 * encode spares the colour conversion of damage that never goes as H.264
 * (text, scrolls, moves). */
static void rdp_gfx_stream_catch_up(struct rdp_gfx *g, struct rdp_gfx_stream *st, const struct surface_update *f)
{
	struct rdp_gfx_span sp = rdp_gfx_span(st->x, st->y, st->x + st->w, st->y + st->h);
	for (uint32_t row = sp.r0; row <= sp.r1; row++)
		for (uint32_t col = sp.c0; col <= sp.c1;) {
			if (g->changed[row * g->cols + col] <= st->synced) {
				col++;
				continue;
			}
			uint32_t c0 = col;
			while (col <= sp.c1 && g->changed[row * g->cols + col] > st->synced)
				col++;
			struct surface_rect run = {c0 * RDP_GFX_TILE, row * RDP_GFX_TILE, (col - c0) * RDP_GFX_TILE,
						   RDP_GFX_TILE};
			rdp_avc_update(st->avc, f, st->x, st->y, &run, 1);
		}
	st->synced = g->sends;
}

/* One AVC420 command of a stream with its regions of this frame (in the
 * surface's coordinates): decoded into the stream's surface, whose
 * destRect is the stream's box, then, from an offscreen surface, copied
 * onto the desktop region by region. */
static bool rdp_gfx_stream_send(struct rdp_gfx *g, struct rdp_gfx_stream *st, const struct surface_update *f,
				const struct surface_rect *regions, uint32_t n)
{
	const uint8_t *data;
	size_t size;
	rdp_gfx_stream_catch_up(g, st, f);
	if (rdp_avc_encode(st->avc, &data, &size) < 0 || size > UINT32_MAX)
		return false;
	/* Offscreen, the box's top left is the surface's. */
	uint32_t ox = st->surface == RDP_GFX_SURFACE ? 0 : st->x, oy = st->surface == RDP_GFX_SURFACE ? 0 : st->y;
	RECTANGLE_16 rects[SURFACE_MAX_RECTS];
	RDPGFX_H264_QUANT_QUALITY quality[SURFACE_MAX_RECTS];
	for (uint32_t i = 0; i < n; i++) {
		const struct surface_rect *r = &regions[i];
		rects[i] = (RECTANGLE_16){.left = (UINT16)(r->x - ox),
					  .top = (UINT16)(r->y - oy),
					  .right = (UINT16)(r->x + r->width - ox),
					  .bottom = (UINT16)(r->y + r->height - oy)};
		quality[i] = (RDPGFX_H264_QUANT_QUALITY){.qp = 22, .qualityVal = 100};
	}
	RDPGFX_AVC420_BITMAP_STREAM stream = {
	    .meta = {.numRegionRects = n, .regionRects = rects, .quantQualityVals = quality},
	    .length = (UINT32)size,
	    .data = (BYTE *)data,
	};
	RDPGFX_SURFACE_COMMAND cmd = {
	    .surfaceId = st->surface,
	    .codecId = RDPGFX_CODECID_AVC420,
	    .format = PIXEL_FORMAT_BGRX32,
	    .left = st->x - ox,
	    .top = st->y - oy,
	    .right = st->x - ox + st->w,
	    .bottom = st->y - oy + st->h,
	    .width = st->w,
	    .height = st->h,
	    .extra = &stream,
	};
	if (g->ctx->SurfaceCommand(g->ctx, &cmd) != CHANNEL_RC_OK)
		return false;
	for (uint32_t i = 0; st->surface != RDP_GFX_SURFACE && i < n; i++) {
		RDPGFX_POINT16 to = {.x = (UINT16)regions[i].x, .y = (UINT16)regions[i].y};
		RDPGFX_SURFACE_TO_SURFACE_PDU copy = {
		    .surfaceIdSrc = st->surface,
		    .surfaceIdDest = RDP_GFX_SURFACE,
		    .rectSrc = rects[i],
		    .destPtsCount = 1,
		    .destPts = &to,
		};
		if (g->ctx->SurfaceToSurface(g->ctx, &copy) != CHANNEL_RC_OK)
			return false;
	}
	/* Lossy until a frame leaves the tile alone: then it is refined. */
	for (uint32_t i = 0; i < n; i++) {
		struct rdp_gfx_span sp = rdp_gfx_span(regions[i].x, regions[i].y, regions[i].x + regions[i].width,
						      regions[i].y + regions[i].height);
		for (uint32_t row = sp.r0; row <= sp.r1; row++)
			for (uint32_t col = sp.c0; col <= sp.c1; col++)
				g->lossy[row * g->cols + col] = true;
	}
	st->used = g->last_avc = GetTickCount64();
	g->avc_frames++;
	return true;
}

/* The frame's video-like rectangles: those whose macroblock boxes overlap
 * go together (with VDI_RDP_AVC=all, everything in one whole-desktop
 * stream); each group goes to the stream whose box holds it, or a new one;
 * what no stream takes goes as tiles. */
static bool rdp_gfx_send_video(struct rdp_gfx *g, const struct surface_update *f, const struct surface_rect *video,
			       uint32_t n)
{
	struct rdp_gfx_area group[SURFACE_MAX_RECTS];
	uint32_t of[SURFACE_MAX_RECTS]; /* each rectangle's group */
	bool gone[SURFACE_MAX_RECTS] = {false};
	int stream_of[SURFACE_MAX_RECTS];
	uint32_t ngroups = g->avc_mode == RDP_AVC_ALL ? 1 : n;
	for (uint32_t i = 0; i < n; i++) {
		of[i] = g->avc_mode == RDP_AVC_ALL ? 0 : i;
		group[i] = (struct rdp_gfx_area){video[i].x, video[i].y, video[i].x + video[i].width,
						 video[i].y + video[i].height};
	}
	if (g->avc_mode == RDP_AVC_ALL)
		group[0] = (struct rdp_gfx_area){0, 0, g->width, g->height};
	for (bool merged = true; merged;) {
		merged = false;
		for (uint32_t a = 0; a < ngroups; a++)
			for (uint32_t b = a + 1; b < ngroups && !gone[a]; b++) {
				if (gone[b] || !rdp_gfx_overlap(rdp_gfx_box(g, group[a]), rdp_gfx_box(g, group[b])))
					continue;
				group[a] = rdp_gfx_union(group[a], group[b]);
				gone[b] = merged = true;
				for (uint32_t i = 0; i < n; i++)
					of[i] = of[i] == b ? a : of[i];
			}
	}
	for (uint32_t c = 0; c < ngroups; c++) {
		stream_of[c] = -1;
		for (int i = 0; !gone[c] && i < RDP_AVC_STREAMS && stream_of[c] < 0; i++)
			if (g->streams[i].avc && rdp_gfx_inside(group[c], rdp_gfx_stream_box(&g->streams[i])))
				stream_of[c] = i;
		if (!gone[c] && stream_of[c] < 0 && (stream_of[c] = rdp_gfx_stream_start(g, f, group[c])) == -2)
			return false;
		if (stream_of[c] >= 0)
			g->streams[stream_of[c]].in_frame = true;
	}
	for (int k = 0; k < RDP_AVC_STREAMS; k++) {
		struct rdp_gfx_stream *st = &g->streams[k];
		if (!st->avc || !st->in_frame)
			continue;
		st->in_frame = false;
		struct surface_rect mine[SURFACE_MAX_RECTS];
		uint32_t nmine = 0;
		for (uint32_t i = 0; i < n; i++)
			if (stream_of[of[i]] == k)
				mine[nmine++] = video[i];
		if (!rdp_gfx_stream_send(g, st, f, mine, nmine))
			return false;
	}
	for (uint32_t i = 0; i < n; i++)
		if (stream_of[of[i]] < 0 && !rdp_gfx_tiles(g, f, video[i].x, video[i].y, video[i].x + video[i].width,
							   video[i].y + video[i].height))
			return false;
	return true;
}

/* Sends the moves among the damage as SurfaceToSurface, before anything
 * else of the frame draws over their sources. Fills rects with what is
 * left to encode: video-like rectangles as they are (no search in them:
 * they change throughout), the rest of the damage less the moves. */
static bool rdp_gfx_send_moves(struct rdp_gfx *g, const struct surface_update *f, const struct surface_rect *damage,
			       uint32_t n, struct surface_rect *rects, uint32_t *nrects)
{
	struct surface_rect search[SURFACE_MAX_RECTS];
	uint32_t nsearch = 0;
	*nrects = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct surface_rect *r = &damage[i];
		if (g->avc_on && rdp_gfx_video_like(g, r->x, r->y, r->x + r->width, r->y + r->height, 1))
			rects[(*nrects)++] = *r;
		else
			search[nsearch++] = *r;
	}
	struct motion_frame mf = {
	    .old = g->held,
	    .new = f->pixels,
	    .old_stride = g->width * 4,
	    .new_stride = f->stride,
	    .width = g->width,
	    .height = g->height,
	    .lossy = g->lossy,
	    .tile = RDP_GFX_TILE,
	    .cols = g->cols,
	};
	struct motion_result res;
	int err = motion_detect(g->motion, &mf, search, nsearch, &res);
	if (err < 0) {
		log_warn("rdp: looking for moved content failed (%s): sending damage as it is", strerror(-err));
		memcpy(rects + *nrects, search, nsearch * sizeof(*search));
		*nrects += nsearch;
		return true;
	}
	for (uint32_t i = 0; i < res.nmoves; i++) {
		const struct motion_move *mv = &res.moves[i];
		RDPGFX_POINT16 to = {.x = (UINT16)mv->dst_x, .y = (UINT16)mv->dst_y};
		RDPGFX_SURFACE_TO_SURFACE_PDU copy = {
		    .surfaceIdSrc = RDP_GFX_SURFACE,
		    .surfaceIdDest = RDP_GFX_SURFACE,
		    .rectSrc = {.left = (UINT16)mv->src.x,
				.top = (UINT16)mv->src.y,
				.right = (UINT16)(mv->src.x + mv->src.width),
				.bottom = (UINT16)(mv->src.y + mv->src.height)},
		    .destPtsCount = 1,
		    .destPts = &to,
		};
		if (g->ctx->SurfaceToSurface(g->ctx, &copy) != CHANNEL_RC_OK)
			return false;
		motion_apply(g->held, (size_t)g->width * 4, mv);
		/* Tiles the copy covers whole are now exact at the client. */
		for (uint32_t row = (mv->dst_y + RDP_GFX_TILE - 1) / RDP_GFX_TILE;
		     (row + 1) * RDP_GFX_TILE <= mv->dst_y + mv->src.height; row++)
			for (uint32_t col = (mv->dst_x + RDP_GFX_TILE - 1) / RDP_GFX_TILE;
			     (col + 1) * RDP_GFX_TILE <= mv->dst_x + mv->src.width; col++)
				g->lossy[row * g->cols + col] = false;
		g->moves++;
		g->moved_pixels += (uint64_t)mv->src.width * mv->src.height;
	}
	memcpy(rects + *nrects, res.residual, res.nresidual * sizeof(*res.residual));
	*nrects += res.nresidual;
	return true;
}

/* One rectangle: video-like ones join the frame's H.264 regions, the
 * rest goes out in tiles. */
static bool rdp_gfx_encode(struct rdp_gfx *g, const struct surface_update *f, const struct surface_rect *r,
			   struct surface_rect *video, uint32_t *nvideo)
{
	uint32_t x1 = r->x + r->width, y1 = r->y + r->height;
	struct rdp_gfx_span sp = rdp_gfx_span(r->x, r->y, x1, y1);
	for (uint32_t row = sp.r0; row <= sp.r1; row++)
		for (uint32_t col = sp.c0; col <= sp.c1; col++)
			g->history[row * g->cols + col] |= 1;
	if (!g->avc_on || *nvideo == SURFACE_MAX_RECTS || !rdp_gfx_video_like(g, r->x, r->y, x1, y1, 0))
		return rdp_gfx_tiles(g, f, r->x, r->y, x1, y1);
	video[(*nvideo)++] = *r;
	return true;
}

bool rdp_gfx_send(struct rdp_gfx *g, const struct surface_update *f, const struct surface_rect *rects, uint32_t nrects)
{
	uint32_t w = f->width < g->width ? f->width : g->width;
	uint32_t h = f->height < g->height ? f->height : g->height;
	RDPGFX_START_FRAME_PDU start = {.frameId = g->sent + 1, .timestamp = (UINT32)GetTickCount()};
	RDPGFX_END_FRAME_PDU end = {.frameId = start.frameId};
	if (g->ctx->StartFrame(g->ctx, &start) != CHANNEL_RC_OK)
		return false;
	g->sent = start.frameId;
	g->sends++;
	if (!rdp_gfx_streams_expire(g))
		return false;
	/* A frame of refinement alone is no frame of the guest's. */
	for (uint32_t t = 0; nrects && t < g->cols * g->rows; t++)
		g->history[t] <<= 1;
	struct surface_rect damage[SURFACE_MAX_RECTS];
	uint32_t ndamage = 0;
	bool whole = false;
	for (uint32_t i = 0; i < nrects && i < SURFACE_MAX_RECTS; i++) {
		const struct surface_rect *r = &rects[i];
		if (r->x >= w || r->y >= h || !r->width || !r->height)
			continue;
		uint32_t rw = r->width < w - r->x ? r->width : w - r->x;
		uint32_t rh = r->height < h - r->y ? r->height : h - r->y;
		damage[ndamage++] = (struct surface_rect){r->x, r->y, rw, rh};
		whole |= rw == g->width && rh == g->height;
		/* A stream may take any region up at any frame: its picture
		 * follows every change in its box (rdp_gfx_stream_catch_up). */
		struct rdp_gfx_span sp = rdp_gfx_span(r->x, r->y, r->x + rw, r->y + rh);
		for (uint32_t row = sp.r0; row <= sp.r1; row++)
			for (uint32_t col = sp.c0; col <= sp.c1; col++)
				g->changed[row * g->cols + col] = g->sends;
	}
	/* What is left to encode, once moves have taken their part. */
	struct surface_rect left[MOTION_MAX_RESIDUAL + SURFACE_MAX_RECTS];
	uint32_t nleft = ndamage;
	bool moving = g->motion && g->held && w == g->width && h == g->height;
	if (moving && g->held_valid) {
		if (!rdp_gfx_send_moves(g, f, damage, ndamage, left, &nleft))
			return false;
	} else {
		memcpy(left, damage, ndamage * sizeof(*damage));
	}
	struct surface_rect video[SURFACE_MAX_RECTS];
	uint32_t nvideo = 0;
	for (uint32_t i = 0; i < nleft; i++)
		if (!rdp_gfx_encode(g, f, &left[i], video, &nvideo))
			return false;
	/* The client's picture is the new one over all the damage now. */
	for (uint32_t i = 0; moving && i < ndamage; i++)
		for (uint32_t y = damage[i].y; y < damage[i].y + damage[i].height; y++)
			memcpy(g->held + ((size_t)y * g->width + damage[i].x) * 4,
			       f->pixels + (size_t)y * f->stride + (size_t)damage[i].x * 4,
			       (size_t)damage[i].width * 4);
	g->held_valid |= moving && whole;
	/* Regions that went still are sent again losslessly. */
	if (g->avc_mode != RDP_AVC_ALL && !nvideo && rdp_gfx_refine_in(g) == 0) {
		for (uint32_t t = 0; t < g->cols * g->rows; t++) {
			if (!g->lossy[t] || (nrects && (g->history[t] & 1)))
				continue;
			g->lossy[t] = false;
			uint32_t x = t % g->cols * RDP_GFX_TILE, y = t / g->cols * RDP_GFX_TILE;
			uint32_t tw = w - x < RDP_GFX_TILE ? w - x : RDP_GFX_TILE;
			uint32_t th = h - y < RDP_GFX_TILE ? h - y : RDP_GFX_TILE;
			if (x < w && y < h && !rdp_gfx_tile(g, f, x, y, tw, th))
				return false;
		}
	}
	if (nvideo && !rdp_gfx_send_video(g, f, video, nvideo))
		return false;
	if (!rdp_gfx_flush_fills(g) || g->ctx->EndFrame(g->ctx, &end) != CHANNEL_RC_OK)
		return false;
	g->frames++;
	return true;
}
