/* test_rdp_classic.c — display/rdp_classic.c through FreeRDP's real encoders
 * and decoders, its update callbacks caught in a context of our own: text
 * goes as planar and decodes exactly; photographic tiles go as RemoteFX
 * (close, not exact) to a client that takes it, and as planar again once
 * still; frames are marked and at most two unacknowledged; stale and
 * unknown acknowledgements change nothing; rectangles outside the desktop
 * are ignored; scrolled content goes as ScrBlt orders to a client that
 * takes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/rdp_classic.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/planar.h>
#include <freerdp/codec/region.h>
#include <freerdp/codec/rfx.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>

#define W 512
#define H 256

/* The client: what it was sent, and its picture decoded from it. */
static struct {
	rdpContext ctx;
	rdpUpdate update;
	rdpPrimaryUpdate primary;
	BITMAP_PLANAR_CONTEXT *planar;
	RFX_CONTEXT *rfx;
	uint8_t picture[W * H * 4];
	uint32_t bitmap_updates, bitmap_tiles, surface_bits, begins, ends, scrblts, paints;
	bool painting;       /* between BeginPaint and EndPaint */
	uint32_t open_frame; /* between a begin and its end: that frame's id */
	uint32_t last_id;
} client;

static BOOL on_bitmap_update(rdpContext *ctx, const BITMAP_UPDATE *bu)
{
	(void)ctx;
	client.bitmap_updates++;
	for (uint32_t i = 0; i < bu->number; i++) {
		const BITMAP_DATA *b = &bu->rectangles[i];
		assert_true(b->compressed);
		assert_true(b->destLeft + b->width <= W && b->destTop + b->height <= H);
		/* Planar bitmap updates run bottom-up. */
		assert_true(planar_decompress(client.planar, b->bitmapDataStream, b->bitmapLength, b->width, b->height,
					      client.picture, PIXEL_FORMAT_BGRX32, W * 4, b->destLeft, b->destTop,
					      b->width, b->height, TRUE));
		client.bitmap_tiles++;
	}
	return TRUE;
}

static BOOL on_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
	assert_int_equal(cmd->bmp.codecID, ctx->settings->RemoteFxCodecId);
	/* Each message fits the client's largest update. */
	assert_true(cmd->bmp.bitmapDataLength <= ctx->settings->MultifragMaxRequestSize);
	REGION16 invalid;
	region16_init(&invalid);
	assert_true(rfx_process_message(client.rfx, cmd->bmp.bitmapData, cmd->bmp.bitmapDataLength, cmd->destLeft,
					cmd->destTop, client.picture, PIXEL_FORMAT_BGRX32, W * 4, H, &invalid));
	region16_uninit(&invalid);
	client.surface_bits++;
	return TRUE;
}

static BOOL on_frame_marker(rdpContext *ctx, const SURFACE_FRAME_MARKER *m)
{
	(void)ctx;
	if (m->frameAction == SURFACECMD_FRAMEACTION_BEGIN) {
		assert_int_equal(client.open_frame, 0);
		client.open_frame = m->frameId;
		client.begins++;
	} else {
		assert_int_equal(client.open_frame, m->frameId);
		client.open_frame = 0;
		client.last_id = m->frameId;
		client.ends++;
	}
	return TRUE;
}

static BOOL on_begin_paint(rdpContext *ctx)
{
	(void)ctx;
	assert_false(client.painting);
	client.painting = true;
	return TRUE;
}

static BOOL on_end_paint(rdpContext *ctx)
{
	(void)ctx;
	assert_true(client.painting);
	client.painting = false;
	client.paints++;
	return TRUE;
}

/* A screen-to-screen copy, rows in the order that reads each before it is
 * overwritten. */
static BOOL on_scrblt(rdpContext *ctx, const SCRBLT_ORDER *o)
{
	(void)ctx;
	assert_true(client.painting);
	assert_int_equal(o->bRop, 0xcc);
	assert_true(o->nWidth > 0 && o->nHeight > 0);
	assert_true(o->nXSrc >= 0 && o->nYSrc >= 0 && o->nXSrc + o->nWidth <= W && o->nYSrc + o->nHeight <= H);
	assert_true(o->nLeftRect >= 0 && o->nTopRect >= 0 && o->nLeftRect + o->nWidth <= W &&
		    o->nTopRect + o->nHeight <= H);
	for (int32_t j = 0; j < o->nHeight; j++) {
		int32_t row = o->nTopRect > o->nYSrc ? o->nHeight - 1 - j : j;
		memmove(client.picture + ((size_t)(o->nTopRect + row) * W + (size_t)o->nLeftRect) * 4,
			client.picture + ((size_t)(o->nYSrc + row) * W + (size_t)o->nXSrc) * 4, (size_t)o->nWidth * 4);
	}
	client.scrblts++;
	return TRUE;
}

/* A client with the given capabilities; its picture black. */
static void client_setup(bool rfx, uint32_t frame_acks, bool surface_commands, bool scrblt)
{
	memset(&client, 0, sizeof(client));
	client.ctx.update = &client.update;
	client.update.context = &client.ctx;
	client.update.BitmapUpdate = on_bitmap_update;
	client.update.SurfaceBits = on_surface_bits;
	client.update.SurfaceFrameMarker = on_frame_marker;
	client.update.BeginPaint = on_begin_paint;
	client.update.EndPaint = on_end_paint;
	client.update.primary = &client.primary;
	client.primary.context = &client.ctx;
	client.primary.ScrBlt = on_scrblt;
	rdpSettings *s = freerdp_settings_new(FREERDP_SETTINGS_SERVER_MODE);
	assert_non_null(s);
	s->SurfaceCommandsEnabled = surface_commands;
	s->SurfaceFrameMarkerEnabled = surface_commands;
	s->FrameAcknowledge = frame_acks;
	s->RemoteFxCodec = rfx;
	s->RemoteFxCodecId = RDP_CODEC_ID_REMOTEFX;
	s->OrderSupport[NEG_SCRBLT_INDEX] = scrblt;
	/* Small enough that a frame of video takes several RemoteFX messages. */
	s->MultifragMaxRequestSize = 40000;
	client.ctx.settings = s;
	client.planar = freerdp_bitmap_planar_context_new(0, 64, 64);
	client.rfx = rfx_context_new(FALSE);
	assert_true(client.planar && client.rfx);
	rfx_context_set_pixel_format(client.rfx, PIXEL_FORMAT_BGRX32);
}

/* The client above, and a server side for it, reset to W x H. */
static struct rdp_classic *client_connect(bool rfx, uint32_t frame_acks, bool surface_commands, bool scrblt)
{
	client_setup(rfx, frame_acks, surface_commands, scrblt);
	struct rdp_classic *c = rdp_classic_new(&client.ctx);
	assert_non_null(c);
	assert_true(rdp_classic_reset(c, W, H));
	return c;
}

static void client_disconnect(struct rdp_classic *c)
{
	rdp_classic_free(c);
	freerdp_settings_free(client.ctx.settings);
	freerdp_bitmap_planar_context_free(client.planar);
	rfx_context_free(client.rfx);
}

/* The desktop's pixels, for one test at a time. */
static uint8_t screen[W * H * 4];

static uint32_t hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352du;
	v ^= v >> 15;
	v *= 0x846ca68bu;
	v ^= v >> 16;
	return v;
}

/* The desktop: light paper with dark text-like strokes, and frame k of
 * noisy video below its first row of tiles when k is not 0. */
static void draw(uint8_t *px, uint32_t k)
{
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint8_t *p = px + ((size_t)y * W + x) * 4;
			bool ink = (y % 16) > 4 && (y % 16) < 12 && (x * 7 + y / 16 * 3) % 11 < 3;
			uint8_t v = ink ? 40 : 245;
			p[0] = p[1] = p[2] = v;
			p[3] = 0;
			if (k && y >= 64) {
				uint32_t n = hash32(x * 7919u + y * 104729u + k * 15485863u);
				p[0] = (uint8_t)(x + k * 3 + (n & 31));
				p[1] = (uint8_t)(y * 2 + k + (n >> 8 & 31));
				p[2] = (uint8_t)(x + y + k * 5 + (n >> 16 & 31));
			}
		}
}

/* A document of text lines 16 pixels apart, from its row `top` on: every
 * row of it differs from the others, as text's do. */
static void draw_document(uint8_t *px, uint32_t top)
{
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint32_t row = y + top, line = row / 16, r = row % 16;
			bool ink = r >= 3 && r < 13 && (hash32(line * 131u + x / 4) >> r & 1);
			uint8_t *p = px + ((size_t)y * W + x) * 4;
			p[0] = p[1] = p[2] = ink ? 40 : 245;
			p[3] = 0;
		}
}

static struct surface_update frame_of(uint8_t *px)
{
	struct surface_update f = {.width = W, .height = H, .stride = W * 4, .pixels = px};
	return f;
}

/* Pixels of the client's picture in r unlike px (the unused byte aside), and their mean absolute difference. */
static uint32_t differing_in(const uint8_t *px, struct surface_rect r, double *mad)
{
	uint32_t n = 0;
	uint64_t sum = 0;
	for (uint32_t y = r.y; y < r.y + r.height; y++)
		for (uint32_t x = r.x; x < r.x + r.width; x++) {
			size_t i = (size_t)y * W + x;
			bool same = true;
			for (int c = 0; c < 3; c++) {
				int d = (int)client.picture[i * 4 + c] - (int)px[i * 4 + c];
				sum += (uint64_t)(d < 0 ? -d : d);
				same = same && d == 0;
			}
			n += !same;
		}
	if (mad)
		*mad = (double)sum / ((double)r.width * r.height * 3);
	return n;
}

static uint32_t differing(const uint8_t *px, double *mad)
{
	return differing_in(px, (struct surface_rect){0, 0, W, H}, mad);
}

static const struct surface_rect all = {0, 0, W, H};
static const struct surface_rect video = {0, 64, W, H - 64};

/* Text goes as planar and arrives exact; a client without surface commands
 * gets no frame markers and is never held back. */
static void test_planar_exact(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(false, 2, false, false);
	uint8_t *px = screen;
	draw(px, 0);
	struct surface_update f = frame_of(px);
	for (int i = 0; i < 3; i++) {
		assert_true(rdp_classic_can_send(c));
		assert_true(rdp_classic_send(c, &f, &all, 1));
	}
	assert_int_equal(differing(px, NULL), 0);
	assert_int_equal(client.surface_bits, 0);
	assert_int_equal(client.begins + client.ends, 0);
	assert_true(client.bitmap_tiles >= 3 * 32);
	assert_int_equal(rdp_classic_refine_in(c), UINT32_MAX);
	client_disconnect(c);
}

/* Video: its first frame planar (which shows it photographic), then
 * RemoteFX in several messages, close to the source; the text stays
 * planar; once the video held still, its tiles go again as planar and the
 * picture is exact. */
static void test_photo_tiles_remotefx_then_refined(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(true, 2, true, false);
	uint8_t *px = screen;
	draw(px, 1);
	struct surface_update f = frame_of(px);
	assert_true(rdp_classic_send(c, &f, &all, 1));
	assert_int_equal(client.surface_bits, 0);
	assert_int_equal(differing(px, NULL), 0);
	rdp_classic_acknowledged(c, client.last_id);
	uint32_t tiles_before = client.bitmap_tiles;
	for (uint32_t k = 2; k < 5; k++) {
		draw(px, k);
		assert_true(rdp_classic_send(c, &f, &video, 1));
		rdp_classic_acknowledged(c, client.last_id);
	}
	/* More than one message a frame. */
	print_message("RemoteFX: %u messages for 3 frames\n", client.surface_bits);
	assert_true(client.surface_bits > 3);
	assert_int_equal(client.bitmap_tiles, tiles_before);
	double mad;
	uint32_t lossy = differing(px, &mad);
	print_message("RemoteFX: %u of %u pixels differ, mean difference %.2f\n", lossy, W * H, mad);
	assert_true(lossy > 0);
	assert_true(mad < 6);
	uint32_t due = rdp_classic_refine_in(c);
	assert_true(due > 0 && due <= 300);
	/* A frame with no damage before then refines nothing. */
	assert_true(rdp_classic_send(c, &f, NULL, 0));
	assert_int_equal(client.bitmap_tiles, tiles_before);
	rdp_classic_acknowledged(c, client.last_id);
	usleep((useconds_t)(due + 20) * 1000);
	assert_int_equal(rdp_classic_refine_in(c), 0);
	assert_true(rdp_classic_send(c, &f, NULL, 0));
	/* The video's tiles: rows 1 to 3. */
	assert_int_equal(client.bitmap_tiles, tiles_before + 24);
	assert_int_equal(differing(px, NULL), 0);
	assert_int_equal(rdp_classic_refine_in(c), UINT32_MAX);
	rdp_classic_acknowledged(c, client.last_id);
	/* Still photographic: the next frame of video goes RemoteFX again. */
	uint32_t bits = client.surface_bits;
	draw(px, 5);
	assert_true(rdp_classic_send(c, &f, &video, 1));
	assert_true(client.surface_bits > bits);
	client_disconnect(c);
}

/* At most two frames unacknowledged (whatever more the client allows);
 * acknowledgements of frames not sent, or already acknowledged, change
 * nothing; a reset forgets frames in flight; a client that stops
 * acknowledging is no longer waited for after a second. */
static void test_frames_paced(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(false, 5, true, false);
	uint8_t *px = screen;
	draw(px, 0);
	struct surface_update f = frame_of(px);
	assert_true(rdp_classic_send(c, &f, &all, 1));
	uint32_t first = client.last_id;
	assert_true(rdp_classic_can_send(c));
	assert_true(rdp_classic_send(c, &f, &video, 1));
	uint32_t second = client.last_id;
	assert_int_equal(second, first + 1);
	assert_int_equal(client.begins, 2);
	assert_int_equal(client.ends, 2);
	assert_false(rdp_classic_can_send(c));
	rdp_classic_acknowledged(c, second + 7);
	assert_false(rdp_classic_can_send(c));
	rdp_classic_acknowledged(c, first);
	assert_true(rdp_classic_can_send(c));
	rdp_classic_acknowledged(c, first - 1);
	assert_true(rdp_classic_can_send(c));
	assert_true(rdp_classic_send(c, &f, &video, 1));
	assert_false(rdp_classic_can_send(c));
	assert_true(rdp_classic_reset(c, W, H));
	assert_true(rdp_classic_can_send(c));
	assert_int_equal(rdp_classic_wait_in(c), UINT32_MAX);
	/* A client that stops acknowledging is waited for a second, then no
	 * longer: its frames go unmarked. */
	assert_true(rdp_classic_send(c, &f, &all, 1));
	assert_true(rdp_classic_send(c, &f, &video, 1));
	assert_false(rdp_classic_can_send(c));
	uint32_t wait = rdp_classic_wait_in(c);
	assert_true(wait > 0 && wait <= 1000);
	usleep((useconds_t)(wait + 20) * 1000);
	assert_int_equal(rdp_classic_wait_in(c), 0);
	assert_true(rdp_classic_can_send(c));
	uint32_t ends = client.ends;
	assert_true(rdp_classic_send(c, &f, &video, 1));
	assert_true(rdp_classic_can_send(c));
	assert_int_equal(client.ends, ends);
	assert_int_equal(rdp_classic_wait_in(c), UINT32_MAX);
	client_disconnect(c);
}

/* Rectangles outside the desktop, empty ones and a frame larger than the
 * client's desktop: only what lies on the desktop is sent. */
static void test_rectangles_clipped(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(true, 0, true, false);
	assert_true(rdp_classic_reset(c, W - 56, H - 40));
	uint8_t *px = screen;
	draw(px, 0);
	struct surface_update f = frame_of(px);
	struct surface_rect odd[] = {
	    {W, 0, 10, 10}, {0, H, 10, 10}, {5, 5, 0, 9}, {W - 66, H - 52, 500, 500}, {1, 2, 3, 1}};
	assert_true(rdp_classic_send(c, &f, odd, 5));
	assert_int_equal(client.begins + client.ends, 0);
	/* From (446, 204) to the desktop's edge lies in two tiles; the thin one in one. */
	assert_int_equal(client.bitmap_tiles, 3);
	/* Reset to a desktop smaller than planar's tiles: nothing is sent. */
	assert_true(rdp_classic_reset(c, 3, 3));
	assert_true(rdp_classic_send(c, &f, &all, 1));
	assert_int_equal(client.bitmap_tiles, 3);
	rdp_classic_free(NULL);
	client_disconnect(c);
}

/* Many rectangles in one photographic tile make one RemoteFX piece. */
static void test_rectangles_share_a_tile(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(true, 0, true, false);
	uint8_t *px = screen;
	draw(px, 1);
	struct surface_update f = frame_of(px);
	assert_true(rdp_classic_send(c, &f, &all, 1));
	draw(px, 2);
	struct surface_rect many[64];
	for (uint32_t i = 0; i < 64; i++)
		many[i] = (struct surface_rect){64 + i % 8 * 8, 64 + i / 8 * 8, 9, 9};
	uint32_t tiles = client.bitmap_tiles;
	assert_true(rdp_classic_send(c, &f, many, 64));
	assert_int_equal(client.surface_bits, 1);
	assert_int_equal(client.bitmap_tiles, tiles);
	double mad;
	differing_in(px, (struct surface_rect){64, 64, 64, 64}, &mad);
	assert_true(mad < 6);
	client_disconnect(c);
}

/* A frame smaller than the client's desktop, in a buffer of its own size:
 * thin pieces at its edge are widened inside it, never past it. */
static void test_frame_smaller_than_desktop(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(false, 0, false, false);
	uint32_t fw = 98, fh = 66;
	uint8_t *px = malloc((size_t)fw * fh * 4);
	assert_non_null(px);
	memset(px, 0x80, (size_t)fw * fh * 4);
	struct surface_update f = {.width = fw, .height = fh, .stride = fw * 4, .pixels = px};
	struct surface_rect edge[] = {{96, 0, 40, 40}, {0, 64, 40, 40}, {96, 64, 9, 9}};
	assert_true(rdp_classic_send(c, &f, edge, 3));
	assert_int_equal(client.bitmap_tiles, 3);
	for (uint32_t y = 0; y < fh; y++)
		for (uint32_t x = 96; x < fw && (y < 40 || y >= 64); x++)
			assert_int_equal(client.picture[((size_t)y * W + x) * 4], 0x80);
	client_disconnect(c);
	free(px);
}

/* Text scrolled up: the client copies what it holds with ScrBlt, in one
 * paint, and gets only the new lines as planar; its picture is exact. */
static void test_scrolled_content_as_scrblt(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(false, 2, true, true);
	uint8_t *px = screen;
	draw_document(px, 0);
	struct surface_update f = frame_of(px);
	assert_true(rdp_classic_send(c, &f, &all, 1));
	rdp_classic_acknowledged(c, client.last_id);
	assert_int_equal(client.scrblts, 0);
	/* Scrolled up by 20 rows: new lines at the bottom. */
	draw_document(px, 20);
	uint32_t tiles = client.bitmap_tiles;
	assert_true(rdp_classic_send(c, &f, &all, 1));
	print_message("scroll: %u ScrBlt orders in %u paints, %u planar tiles\n", client.scrblts, client.paints,
		      client.bitmap_tiles - tiles);
	assert_true(client.scrblts >= 1);
	assert_int_equal(client.paints, 1);
	assert_false(client.painting);
	assert_true(client.bitmap_tiles - tiles <= 2 * W / 64);
	assert_int_equal(differing(px, NULL), 0);
	client_disconnect(c);
}

/* The same scroll to a client without ScrBlt: planar for all of it. */
static void test_no_scrblt_without_the_order(void **state)
{
	(void)state;
	struct rdp_classic *c = client_connect(false, 0, false, false);
	uint8_t *px = screen;
	draw_document(px, 0);
	struct surface_update f = frame_of(px);
	assert_true(rdp_classic_send(c, &f, &all, 1));
	draw_document(px, 20);
	uint32_t tiles = client.bitmap_tiles;
	assert_true(rdp_classic_send(c, &f, &all, 1));
	assert_int_equal(client.scrblts, 0);
	assert_int_equal(client.bitmap_tiles - tiles, (W / 64) * (H / 64));
	assert_int_equal(differing(px, NULL), 0);
	client_disconnect(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_planar_exact),
	    cmocka_unit_test(test_photo_tiles_remotefx_then_refined),
	    cmocka_unit_test(test_frames_paced),
	    cmocka_unit_test(test_rectangles_clipped),
	    cmocka_unit_test(test_rectangles_share_a_tile),
	    cmocka_unit_test(test_frame_smaller_than_desktop),
	    cmocka_unit_test(test_scrolled_content_as_scrblt),
	    cmocka_unit_test(test_no_scrblt_without_the_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
