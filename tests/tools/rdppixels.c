/* rdppixels — a libfreerdp test client: connects over TLS with or without the graphics pipeline, decodes into its
 * own gdi, runs a script of waits, screenshots (PNG) and input from its arguments, and counts what it received. */
#include "../../common/png.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/channels/channels.h>
#include <freerdp/channels/rdpgfx.h>
#include <freerdp/client.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <freerdp/graphics.h>
#include <freerdp/input.h>
#include <freerdp/scancode.h>
#include <winpr/synch.h>

#define MAX_ACTIONS 256
#define MAX_IGNORE  8
#define MAX_CODECS  17 /* GFX codec ids 0 to 15, then every other id */

enum action_kind {
	ACT_WAIT_STABLE,
	ACT_SLEEP,
	ACT_PNG,
	ACT_TYPE,
	ACT_UNICODE,
	ACT_KEY,
	ACT_POINTER,
	ACT_WHEEL,
	ACT_HWHEEL,
};

struct ignore_rect {
	uint32_t x, y, w, h;
};

struct action {
	enum action_kind kind;
	const char *text; /* PNG path, string to type, key name */
	double seconds;
	int32_t x, y, n;
	uint32_t buttons; /* bit 0 left, 1 right, 2 middle */
	/* For waiting: the rectangles given by --ignore before it, which may change while the rest is stable. */
	struct ignore_rect ignore[MAX_IGNORE];
	size_t nignore;
};

/* One client per process: its options, script and counters are globals, as the FreeRDP callbacks give only the
 * context. */
static struct {
	const char *host, *user, *pass;
	int port;
	uint32_t width, height;
	bool gfx, avc, rfx, stats;
	int timeout;
	double key_delay;
	struct action actions[MAX_ACTIONS];
	size_t nactions;
	struct ignore_rect ignore[MAX_IGNORE];
	size_t nignore;
} opt = {.host = "127.0.0.1",
	 .user = "",
	 .pass = "",
	 .width = 1024,
	 .height = 768,
	 .gfx = true,
	 .timeout = 60,
	 .key_delay = 0.03};

static struct {
	uint64_t gfx_frames, bitmap_updates, bitmap_rects, solid_fills, surface_to_surface, cache_to_surface,
	    pointer_sets, resets;
	uint64_t codec[MAX_CODECS];
	/* Without GFX: surface bits by codec (RemoteFX or other), their bytes, frames ended by a marker */
	uint64_t surface_bits_rfx, surface_bits_other, rfx_bytes, frame_ends;
	uint64_t scrblts; /* screen-to-screen copies (ScrBlt orders) */
	/* AVC420: the largest destRect, region rectangles outside their destRect; copies between surfaces */
	uint32_t avc_dest_w, avc_dest_h;
	uint64_t avc_rects_outside, surface_to_other, avc_bytes;
	bool gfx_used;
} stats;

static pcRdpgfxSurfaceCommand gdi_surface_command;
static pcRdpgfxEndFrame gdi_end_frame;
static pcRdpgfxSolidFill gdi_solid_fill;
static pcRdpgfxSurfaceToSurface gdi_surface_to_surface;
static pcRdpgfxCacheToSurface gdi_cache_to_surface;
static pcRdpgfxResetGraphics gdi_reset_graphics;
static pBitmapUpdate gdi_bitmap_update;
static pSurfaceBits gdi_surface_bits;
static pSurfaceFrameMarker gdi_surface_frame_marker;
static pScrBlt gdi_scrblt;

/* What the script is doing, for the message when the overall timeout strikes. */
static const char *volatile doing = "connecting";

static void on_alarm(int sig)
{
	(void)sig;
	static const char a[] = "rdppixels: timed out while ";
	const char *d = doing;
	/* Only async-signal-safe calls here: the main loop may be anywhere. */
	if (write(STDERR_FILENO, a, sizeof(a) - 1) < 0 || write(STDERR_FILENO, d, strlen(d)) < 0 ||
	    write(STDERR_FILENO, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t frames_seen(void)
{
	return stats.gfx_frames + stats.bitmap_updates + stats.surface_bits_rfx + stats.surface_bits_other;
}

/* Counting wrappers around gdi's GFX handlers: the codec of every surface command, frames, fills and copies. */

static UINT count_surface_command(RdpgfxClientContext *ctx, const RDPGFX_SURFACE_COMMAND *cmd)
{
	stats.codec[cmd->codecId < MAX_CODECS - 1 ? cmd->codecId : MAX_CODECS - 1]++;
	const RDPGFX_AVC420_BITMAP_STREAM *avc = cmd->extra;
	if (cmd->codecId == RDPGFX_CODECID_AVC420 && avc) {
		stats.avc_bytes += avc->length;
		uint32_t w = cmd->right > cmd->left ? cmd->right - cmd->left : 0;
		uint32_t h = cmd->bottom > cmd->top ? cmd->bottom - cmd->top : 0;
		if ((uint64_t)w * h > (uint64_t)stats.avc_dest_w * stats.avc_dest_h) {
			stats.avc_dest_w = w;
			stats.avc_dest_h = h;
		}
		for (UINT32 i = 0; i < avc->meta.numRegionRects; i++) {
			const RECTANGLE_16 *r = &avc->meta.regionRects[i];
			if (r->left < cmd->left || r->top < cmd->top || r->right > cmd->right ||
			    r->bottom > cmd->bottom)
				stats.avc_rects_outside++;
		}
	}
	return gdi_surface_command(ctx, cmd);
}

static UINT count_end_frame(RdpgfxClientContext *ctx, const RDPGFX_END_FRAME_PDU *end)
{
	UINT rc = gdi_end_frame(ctx, end);
	stats.gfx_frames++;
	return rc;
}

static UINT count_solid_fill(RdpgfxClientContext *ctx, const RDPGFX_SOLID_FILL_PDU *fill)
{
	stats.solid_fills += fill->fillRectCount;
	return gdi_solid_fill(ctx, fill);
}

static UINT count_surface_to_surface(RdpgfxClientContext *ctx, const RDPGFX_SURFACE_TO_SURFACE_PDU *copy)
{
	stats.surface_to_surface += copy->destPtsCount;
	if (copy->surfaceIdSrc != copy->surfaceIdDest)
		stats.surface_to_other += copy->destPtsCount;
	return gdi_surface_to_surface(ctx, copy);
}

static UINT count_cache_to_surface(RdpgfxClientContext *ctx, const RDPGFX_CACHE_TO_SURFACE_PDU *copy)
{
	stats.cache_to_surface++;
	return gdi_cache_to_surface(ctx, copy);
}

static UINT count_reset_graphics(RdpgfxClientContext *ctx, const RDPGFX_RESET_GRAPHICS_PDU *reset)
{
	stats.resets++;
	return gdi_reset_graphics(ctx, reset);
}

static BOOL count_bitmap_update(rdpContext *ctx, const BITMAP_UPDATE *bitmap)
{
	stats.bitmap_updates++;
	stats.bitmap_rects += bitmap->number;
	return gdi_bitmap_update(ctx, bitmap);
}

static BOOL count_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
	if (cmd->bmp.codecID == RDP_CODEC_ID_REMOTEFX) {
		stats.surface_bits_rfx++;
		stats.rfx_bytes += cmd->bmp.bitmapDataLength;
	} else {
		stats.surface_bits_other++;
	}
	return gdi_surface_bits(ctx, cmd);
}

static BOOL count_scrblt(rdpContext *ctx, const SCRBLT_ORDER *order)
{
	stats.scrblts++;
	return gdi_scrblt(ctx, order);
}

/* gdi acknowledges the frame a marker ends (FrameAcknowledge is on by default). */
static BOOL count_frame_marker(rdpContext *ctx, const SURFACE_FRAME_MARKER *marker)
{
	if (marker->frameAction == SURFACECMD_FRAMEACTION_END)
		stats.frame_ends++;
	return gdi_surface_frame_marker(ctx, marker);
}

static void on_channel_connected(void *context, ChannelConnectedEventArgs *e)
{
	rdpContext *ctx = context;
	if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) != 0)
		return;
	RdpgfxClientContext *gfx = e->pInterface;
	if (!gdi_graphics_pipeline_init(ctx->gdi, gfx)) {
		fprintf(stderr, "rdppixels: cannot set up the graphics pipeline's decoder\n");
		return;
	}
	stats.gfx_used = true;
	gdi_surface_command = gfx->SurfaceCommand;
	gdi_end_frame = gfx->EndFrame;
	gdi_solid_fill = gfx->SolidFill;
	gdi_surface_to_surface = gfx->SurfaceToSurface;
	gdi_cache_to_surface = gfx->CacheToSurface;
	gdi_reset_graphics = gfx->ResetGraphics;
	gfx->SurfaceCommand = count_surface_command;
	gfx->EndFrame = count_end_frame;
	gfx->SolidFill = count_solid_fill;
	gfx->SurfaceToSurface = count_surface_to_surface;
	gfx->CacheToSurface = count_cache_to_surface;
	gfx->ResetGraphics = count_reset_graphics;
}

static void on_channel_disconnected(void *context, ChannelDisconnectedEventArgs *e)
{
	rdpContext *ctx = context;
	if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) == 0 && stats.gfx_used)
		gdi_graphics_pipeline_uninit(ctx->gdi, e->pInterface);
}

/* The test servers have self-signed certificates: accept for this session only, store nothing. */
static DWORD accept_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
				const char *subject, const char *issuer, const char *fingerprint, DWORD flags)
{
	(void)instance, (void)host, (void)port, (void)common_name, (void)subject, (void)issuer, (void)fingerprint;
	(void)flags;
	return 2;
}

static DWORD accept_changed_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
					const char *subject, const char *issuer, const char *new_fingerprint,
					const char *old_subject, const char *old_issuer, const char *old_fingerprint,
					DWORD flags)
{
	(void)old_subject, (void)old_issuer, (void)old_fingerprint;
	return accept_certificate(instance, host, port, common_name, subject, issuer, new_fingerprint, flags);
}

/* Pointer images are counted, not drawn: the picture is the desktop alone, as the server's surface has it. */
static BOOL pointer_new(rdpContext *ctx, rdpPointer *pointer)
{
	(void)ctx, (void)pointer;
	return TRUE;
}

static void pointer_free(rdpContext *ctx, rdpPointer *pointer)
{
	(void)ctx, (void)pointer;
}

static BOOL pointer_set(rdpContext *ctx, const rdpPointer *pointer)
{
	(void)ctx, (void)pointer;
	stats.pointer_sets++;
	return TRUE;
}

static BOOL pointer_plain(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

static BOOL pointer_position(rdpContext *ctx, UINT32 x, UINT32 y)
{
	(void)ctx, (void)x, (void)y;
	return TRUE;
}

/* Updates are decoded straight into gdi's picture; a paint has nothing more to show. */
static BOOL on_begin_paint(rdpContext *ctx)
{
	ctx->gdi->primary->hdc->hwnd->invalid->null = TRUE;
	return TRUE;
}

static BOOL on_end_paint(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

static BOOL on_desktop_resize(rdpContext *ctx)
{
	return gdi_resize(ctx->gdi, ctx->settings->DesktopWidth, ctx->settings->DesktopHeight);
}

static BOOL on_pre_connect(freerdp *instance)
{
	rdpContext *ctx = instance->context;
	if (PubSub_SubscribeChannelConnected(ctx->pubSub, on_channel_connected) < 0 ||
	    PubSub_SubscribeChannelDisconnected(ctx->pubSub, on_channel_disconnected) < 0)
		return FALSE;
	return freerdp_client_load_addins(ctx->channels, instance->settings);
}

static BOOL on_post_connect(freerdp *instance)
{
	rdpContext *ctx = instance->context;
	if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
		return FALSE;
	rdpPointer pointer = {.size = sizeof(rdpPointer),
			      .New = pointer_new,
			      .Free = pointer_free,
			      .Set = pointer_set,
			      .SetNull = pointer_plain,
			      .SetDefault = pointer_plain,
			      .SetPosition = pointer_position};
	graphics_register_pointer(ctx->graphics, &pointer);
	gdi_bitmap_update = ctx->update->BitmapUpdate;
	ctx->update->BitmapUpdate = count_bitmap_update;
	gdi_surface_bits = ctx->update->SurfaceBits;
	ctx->update->SurfaceBits = count_surface_bits;
	gdi_surface_frame_marker = ctx->update->SurfaceFrameMarker;
	ctx->update->SurfaceFrameMarker = count_frame_marker;
	gdi_scrblt = ctx->update->primary->ScrBlt;
	ctx->update->primary->ScrBlt = count_scrblt;
	ctx->update->BeginPaint = on_begin_paint;
	ctx->update->EndPaint = on_end_paint;
	ctx->update->DesktopResize = on_desktop_resize;
	return TRUE;
}

static void on_post_disconnect(freerdp *instance)
{
	PubSub_UnsubscribeChannelConnected(instance->context->pubSub, on_channel_connected);
	PubSub_UnsubscribeChannelDisconnected(instance->context->pubSub, on_channel_disconnected);
	gdi_free(instance);
}

static BOOL on_client_new(freerdp *instance, rdpContext *ctx)
{
	(void)ctx;
	instance->PreConnect = on_pre_connect;
	instance->PostConnect = on_post_connect;
	instance->PostDisconnect = on_post_disconnect;
	instance->VerifyCertificateEx = accept_certificate;
	instance->VerifyChangedCertificateEx = accept_changed_certificate;
	return TRUE;
}

static bool configure(rdpSettings *s)
{
	s->ServerPort = (UINT32)opt.port;
	s->DesktopWidth = opt.width;
	s->DesktopHeight = opt.height;
	s->ColorDepth = 32;
	s->SoftwareGdi = TRUE;
	/* The server offers TLS alone; the credentials travel in the client info PDU. */
	s->RdpSecurity = FALSE;
	s->TlsSecurity = TRUE;
	s->NlaSecurity = FALSE;
	s->ExtSecurity = FALSE;
	s->AutoLogonEnabled = TRUE;
	s->SupportGraphicsPipeline = opt.gfx;
	s->GfxH264 = opt.gfx && opt.avc;
	s->GfxAVC444 = FALSE;
	s->GfxAVC444v2 = FALSE;
	s->GfxProgressive = FALSE;
	/* RemoteFX only without GFX, where it is a bitmap codec. */
	s->RemoteFxCodec = !opt.gfx && opt.rfx;
	s->NSCodec = FALSE;
	return freerdp_settings_set_string(s, FreeRDP_ServerHostname, opt.host) &&
	       freerdp_settings_set_string(s, FreeRDP_Username, opt.user) &&
	       freerdp_settings_set_string(s, FreeRDP_Password, opt.pass);
}

/* The picture */

static bool ignored(const struct action *a, uint32_t x, uint32_t y)
{
	for (size_t i = 0; i < a->nignore; i++) {
		const struct ignore_rect *r = &a->ignore[i];
		if (x >= r->x && x - r->x < r->w && y >= r->y && y - r->y < r->h)
			return true;
	}
	return false;
}

/* A hash of the picture outside the ignored rectangles (a ticking clock), to see when it stops changing. */
static uint64_t picture_hash(const rdpGdi *gdi, const struct action *a)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)gdi->width << 32 | (uint32_t)gdi->height);
	for (uint32_t y = 0; y < (uint32_t)gdi->height; y++) {
		const uint8_t *row = gdi->primary_buffer + (size_t)y * gdi->stride;
		for (uint32_t x = 0; x < (uint32_t)gdi->width; x++) {
			if (a->nignore && ignored(a, x, y))
				continue;
			uint32_t px;
			memcpy(&px, row + (size_t)x * 4, 4);
			h = (h ^ (px & 0x00ffffff)) * 1099511628211ull;
		}
	}
	return h;
}

/* Written to a temporary name and renamed, so a test polling the file never reads half a picture. */
static int write_png(const rdpGdi *gdi, const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	int rc = png_write_xrgb(f, gdi->primary_buffer, (uint32_t)gdi->width, (uint32_t)gdi->height, gdi->stride);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Input */

/* US layout: a character's set-1 scancode and whether it needs shift. */
static int char_scancode(unsigned char c, bool *shift)
{
	static const char plain[] = "\0\0331234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./";
	static const char shifted[] = "\0\0!@#$%^&*()_+\0\0QWERTYUIOP{}\0\0ASDFGHJKL:\"~\0|ZXCVBNM<>?";
	*shift = false;
	if (c == ' ')
		return 0x39;
	if (c == 0)
		return -1;
	for (int i = 1; i < (int)sizeof(plain) - 1; i++) {
		if (plain[i] == (char)c)
			return i;
		if (shifted[i] == (char)c) {
			*shift = true;
			return i;
		}
	}
	return -1;
}

struct key_name {
	const char *name;
	uint32_t scancode; /* an RDP scancode: KBDEXT marks extended keys */
};

static const struct key_name key_names[] = {
    {"enter", 0x1c},
    {"return", 0x1c},
    {"tab", 0x0f},
    {"escape", 0x01},
    {"esc", 0x01},
    {"backspace", 0x0e},
    {"space", 0x39},
    {"ctrl", 0x1d},
    {"rctrl", MAKE_RDP_SCANCODE(0x1d, TRUE)},
    {"shift", 0x2a},
    {"rshift", 0x36},
    {"alt", 0x38},
    {"altgr", MAKE_RDP_SCANCODE(0x38, TRUE)},
    {"meta", MAKE_RDP_SCANCODE(0x5b, TRUE)},
    {"super", MAKE_RDP_SCANCODE(0x5b, TRUE)},
    {"capslock", 0x3a},
    {"home", MAKE_RDP_SCANCODE(0x47, TRUE)},
    {"up", MAKE_RDP_SCANCODE(0x48, TRUE)},
    {"pageup", MAKE_RDP_SCANCODE(0x49, TRUE)},
    {"left", MAKE_RDP_SCANCODE(0x4b, TRUE)},
    {"right", MAKE_RDP_SCANCODE(0x4d, TRUE)},
    {"end", MAKE_RDP_SCANCODE(0x4f, TRUE)},
    {"down", MAKE_RDP_SCANCODE(0x50, TRUE)},
    {"pagedown", MAKE_RDP_SCANCODE(0x51, TRUE)},
    {"insert", MAKE_RDP_SCANCODE(0x52, TRUE)},
    {"delete", MAKE_RDP_SCANCODE(0x53, TRUE)},
    {"f11", 0x57},
    {"f12", 0x58},
};

/* A key name (enter, f5, a, '!') as a scancode; *shift when the character needs it. */
static int key_scancode(const char *name, size_t len, bool *shift)
{
	*shift = false;
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (strlen(key_names[i].name) == len && !strncmp(key_names[i].name, name, len))
			return (int)key_names[i].scancode;
	if (len >= 2 && len <= 3 && name[0] == 'f') {
		int n = atoi(name + 1);
		if (n >= 1 && n <= 10)
			return 0x3a + n;
	}
	if (len == 1)
		return char_scancode((unsigned char)name[0], shift);
	return -1;
}

static bool valid_key_chord(const char *chord)
{
	for (const char *p = chord;;) {
		const char *plus = strchr(p, '+');
		/* A trailing '+' is the plus key itself ("shift++"). */
		size_t len = plus && plus != p ? (size_t)(plus - p) : strlen(p);
		bool shift;
		if (!len || key_scancode(p, len, &shift) < 0)
			return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

static void send_scancode(rdpInput *input, uint32_t scancode, bool down)
{
	freerdp_input_send_keyboard_event_ex(input, down, scancode);
}

/* Presses the keys of "ctrl+alt+delete" in order, then lets them go in reverse. */
static void send_key_chord(rdpInput *input, const char *chord)
{
	uint32_t keys[8];
	size_t n = 0;
	for (const char *p = chord; n < 8;) {
		const char *plus = strchr(p, '+');
		size_t len = plus && plus != p ? (size_t)(plus - p) : strlen(p);
		bool shift;
		int code = key_scancode(p, len, &shift);
		if (code < 0)
			break;
		if (shift && n < 7)
			keys[n++] = 0x2a;
		keys[n++] = (uint32_t)code;
		if (!p[len])
			break;
		p += len + 1;
	}
	for (size_t i = 0; i < n; i++)
		send_scancode(input, keys[i], true);
	while (n--)
		send_scancode(input, keys[n], false);
}

/* One UTF-8 character at *s: its code point and length, or -1 when malformed. */
static int32_t utf8_next(const char *s, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;
	size_t n;
	if (u[0] < 0x80)
		cp = u[0], n = 1;
	else if ((u[0] & 0xe0) == 0xc0)
		cp = u[0] & 0x1f, n = 2;
	else if ((u[0] & 0xf0) == 0xe0)
		cp = u[0] & 0x0f, n = 3;
	else if ((u[0] & 0xf8) == 0xf0)
		cp = u[0] & 0x07, n = 4;
	else
		return -1;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (u[i] & 0x3f);
	}
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n;
	return (int32_t)cp;
}

static bool valid_utf8(const char *s)
{
	size_t len;
	for (; *s; s += len)
		if (utf8_next(s, &len) < 0)
			return false;
	return true;
}

/* A code point as unicode keyboard events: UTF-16 units, a surrogate pair above the BMP. */
static void send_unicode(rdpInput *input, uint32_t cp)
{
	uint16_t units[2];
	size_t n = 0;
	if (cp >= 0x10000) {
		units[n++] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
		units[n++] = (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
	} else {
		units[n++] = (uint16_t)cp;
	}
	for (size_t i = 0; i < n; i++)
		freerdp_input_send_unicode_keyboard_event(input, 0, units[i]);
	for (size_t i = 0; i < n; i++)
		freerdp_input_send_unicode_keyboard_event(input, KBD_FLAGS_RELEASE, units[i]);
}

static const uint16_t button_flags[3] = {PTR_FLAGS_BUTTON1, PTR_FLAGS_BUTTON2, PTR_FLAGS_BUTTON3};

/* Where the pointer is and which buttons are held, so a move with other buttons becomes presses and releases. */
static struct {
	UINT16 x, y;
	uint32_t buttons;
	bool placed;
} ptr;

/* A move only where the pointer goes somewhere new, so a press or release is one event, as a real mouse's is. */
static void send_pointer(rdpInput *input, int32_t x, int32_t y, uint32_t buttons)
{
	if (!ptr.placed || ptr.x != (UINT16)x || ptr.y != (UINT16)y) {
		ptr.x = (UINT16)x;
		ptr.y = (UINT16)y;
		ptr.placed = true;
		freerdp_input_send_mouse_event(input, PTR_FLAGS_MOVE, ptr.x, ptr.y);
	}
	for (int b = 0; b < 3; b++) {
		uint32_t bit = 1u << b;
		if ((buttons & bit) == (ptr.buttons & bit))
			continue;
		freerdp_input_send_mouse_event(input, button_flags[b] | ((buttons & bit) ? PTR_FLAGS_DOWN : 0), ptr.x,
					       ptr.y);
	}
	ptr.buttons = buttons;
}

/* Wheel clicks of 120 as a 9-bit two's complement rotation. */
static void send_wheel(rdpInput *input, int32_t clicks, bool horizontal)
{
	uint16_t base = horizontal ? PTR_FLAGS_HWHEEL : PTR_FLAGS_WHEEL;
	for (int32_t i = 0; i < (clicks < 0 ? -clicks : clicks); i++) {
		uint16_t flags =
		    clicks > 0 ? (uint16_t)(base | 0x78) : (uint16_t)(base | PTR_FLAGS_WHEEL_NEGATIVE | 0x88);
		freerdp_input_send_mouse_event(input, flags, ptr.x, ptr.y);
	}
}

/* The script */

struct runner {
	size_t index;     /* the action under way */
	size_t pos;       /* for typing: the next byte of its text */
	double started;   /* when the action began */
	double next_at;   /* for typing: when the next character goes */
	uint64_t hash;    /* for waiting: the picture last seen */
	double stable_at; /* since when the picture has been the same */
};

/* Advances the script; true once the action under way is done. Returns -1 on failure. */
static int run_action(rdpContext *ctx, struct runner *r, double t)
{
	const struct action *a = &opt.actions[r->index];
	rdpInput *input = ctx->input;
	switch (a->kind) {
	case ACT_WAIT_STABLE: {
		doing = "waiting for a stable picture";
		if (!frames_seen())
			return 0;
		uint64_t h = picture_hash(ctx->gdi, a);
		if (h != r->hash || r->stable_at == 0) {
			r->hash = h;
			r->stable_at = t;
			return 0;
		}
		return t - r->stable_at >= a->seconds;
	}
	case ACT_SLEEP:
		doing = "sleeping";
		return t - r->started >= a->seconds;
	case ACT_PNG: {
		int rc = write_png(ctx->gdi, a->text);
		if (rc < 0) {
			fprintf(stderr, "rdppixels: cannot write %s: %s\n", a->text, strerror(-rc));
			return -1;
		}
		printf("png %s %dx%d\n", a->text, ctx->gdi->width, ctx->gdi->height);
		fflush(stdout);
		return 1;
	}
	case ACT_TYPE:
	case ACT_UNICODE:
		doing = "typing";
		if (t < r->next_at)
			return 0;
		if (!a->text[r->pos])
			return 1;
		if (a->kind == ACT_TYPE) {
			bool shift;
			int code = char_scancode((unsigned char)a->text[r->pos], &shift);
			if (shift)
				send_scancode(input, 0x2a, true);
			send_scancode(input, (uint32_t)code, true);
			send_scancode(input, (uint32_t)code, false);
			if (shift)
				send_scancode(input, 0x2a, false);
			r->pos++;
		} else {
			size_t len = 1;
			int32_t cp = utf8_next(a->text + r->pos, &len);
			send_unicode(input, (uint32_t)cp);
			r->pos += len;
		}
		r->next_at = t + opt.key_delay;
		return 0;
	case ACT_KEY:
		send_key_chord(input, a->text);
		return 1;
	case ACT_POINTER:
		send_pointer(input, a->x, a->y, a->buttons);
		return 1;
	case ACT_WHEEL:
	case ACT_HWHEEL:
		send_wheel(input, a->n, a->kind == ACT_HWHEEL);
		return 1;
	}
	return -1;
}

static void print_stats(const rdpContext *ctx)
{
	static const struct {
		const char *name;
		uint16_t id;
	} codecs[] = {
	    {"uncompressed", RDPGFX_CODECID_UNCOMPRESSED},
	    {"remotefx", RDPGFX_CODECID_CAVIDEO},
	    {"clearcodec", RDPGFX_CODECID_CLEARCODEC},
	    {"progressive", RDPGFX_CODECID_CAPROGRESSIVE},
	    {"planar", RDPGFX_CODECID_PLANAR},
	    {"avc420", RDPGFX_CODECID_AVC420},
	    {"alpha", RDPGFX_CODECID_ALPHA},
	    {"progressive_v2", RDPGFX_CODECID_CAPROGRESSIVE_V2},
	    {"avc444", RDPGFX_CODECID_AVC444},
	    {"avc444v2", RDPGFX_CODECID_AVC444v2},
	    {"other", MAX_CODECS - 1},
	};
	printf("stat gfx %d\n", stats.gfx_used);
	printf("stat size %dx%d\n", ctx->gdi ? ctx->gdi->width : 0, ctx->gdi ? ctx->gdi->height : 0);
	printf("stat gfx_frames %llu\n", (unsigned long long)stats.gfx_frames);
	printf("stat gfx_resets %llu\n", (unsigned long long)stats.resets);
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		printf("stat codec_%s %llu\n", codecs[i].name, (unsigned long long)stats.codec[codecs[i].id]);
	printf("stat solid_fills %llu\n", (unsigned long long)stats.solid_fills);
	printf("stat avc420_dest %ux%u\n", stats.avc_dest_w, stats.avc_dest_h);
	printf("stat avc420_rects_outside %llu\n", (unsigned long long)stats.avc_rects_outside);
	printf("stat avc420_bytes %llu\n", (unsigned long long)stats.avc_bytes);
	printf("stat surface_to_surface %llu\n", (unsigned long long)stats.surface_to_surface);
	printf("stat surface_to_other %llu\n", (unsigned long long)stats.surface_to_other);
	printf("stat cache_to_surface %llu\n", (unsigned long long)stats.cache_to_surface);
	printf("stat bitmap_updates %llu\n", (unsigned long long)stats.bitmap_updates);
	printf("stat bitmap_rects %llu\n", (unsigned long long)stats.bitmap_rects);
	printf("stat pointer_sets %llu\n", (unsigned long long)stats.pointer_sets);
	printf("stat surface_bits_rfx %llu\n", (unsigned long long)stats.surface_bits_rfx);
	printf("stat surface_bits_other %llu\n", (unsigned long long)stats.surface_bits_other);
	printf("stat rfx_bytes %llu\n", (unsigned long long)stats.rfx_bytes);
	printf("stat frame_ends %llu\n", (unsigned long long)stats.frame_ends);
	printf("stat scrblt %llu\n", (unsigned long long)stats.scrblts);
	fflush(stdout);
}

/* Connects, runs the script, disconnects. 0, or 1 when connecting or an action failed. */
static int run(rdpContext *ctx)
{
	freerdp *instance = ctx->instance;
	if (!freerdp_connect(instance)) {
		UINT32 err = freerdp_get_last_error(ctx);
		fprintf(stderr, "rdppixels: cannot connect to %s:%d: %s (0x%08x)\n", opt.host, opt.port,
			freerdp_get_last_error_string(err), err);
		return 1;
	}
	int rc = 0;
	struct runner r = {.started = now()};
	while (r.index < opt.nactions) {
		if (freerdp_shall_disconnect(instance)) {
			fprintf(stderr, "rdppixels: the server disconnected while %s\n", doing);
			rc = 1;
			break;
		}
		HANDLE handles[MAXIMUM_WAIT_OBJECTS];
		DWORD n = freerdp_get_event_handles(ctx, handles, MAXIMUM_WAIT_OBJECTS);
		if (!n || WaitForMultipleObjects(n, handles, FALSE, 20) == WAIT_FAILED ||
		    !freerdp_check_event_handles(ctx)) {
			fprintf(stderr, "rdppixels: the connection broke while %s\n", doing);
			rc = 1;
			break;
		}
		/* Input and pictures only once the session shows something. */
		if (!ctx->gdi || !frames_seen()) {
			doing = "waiting for the first frame";
			continue;
		}
		double t = now();
		int done = run_action(ctx, &r, t);
		if (done < 0) {
			rc = 1;
			break;
		}
		if (done) {
			r = (struct runner){.index = r.index + 1, .started = t};
		}
	}
	if (opt.stats)
		print_stats(ctx);
	doing = "disconnecting";
	freerdp_disconnect(instance);
	return rc;
}

/* Options */

static const char usage[] =
    "usage: rdppixels --port N [--host H] [--user U] [--pass P] [--size WxH] [--gfx|--no-gfx] [--avc|--no-avc]\n"
    "                 [--rfx] [--timeout S] [--key-delay MS] [--stats] ACTION...\n"
    "actions, run in order once the first frame is in:\n"
    "  --ignore X,Y,W,H   later waits ignore changes in this rectangle (up to 8; --ignore none: forget them)\n"
    "  --wait-stable S    until the picture (outside ignored rectangles) is unchanged for S seconds\n"
    "  --sleep S          let S seconds pass, taking updates\n"
    "  --png FILE         write the picture as it is now (prints 'png FILE WxH')\n"
    "  --type TEXT        type ASCII TEXT as scancodes (US layout)\n"
    "  --unicode TEXT     type UTF-8 TEXT as unicode keyboard events\n"
    "  --key CHORD        press keys such as enter, f5, a, ctrl+alt+delete\n"
    "  --pointer X,Y[,B]  move the pointer holding buttons B (left, right, middle, joined with +)\n"
    "  --click X,Y[,B]    move there, press and release B (default left)\n"
    "  --wheel N          N wheel clicks, positive away from the user; --hwheel N: positive right\n"
    "Without --gfx the server sends bitmap updates (and RemoteFX surface bits with --rfx, which offers it);\n"
    "--avc offers H.264 (AVC420) in the graphics pipeline.\n"
    "--stats prints counters at the end: frames, GFX commands by codec (AVC420's largest destRect, its region\n"
    "rectangles outside their destRect), copies (those from another surface), bitmap updates, surface bits\n"
    "(RemoteFX and other, RemoteFX bytes), frames ended by a marker (each acknowledged), ScrBlt orders.\n"
    "Exit status: 0 done, 1 connecting or an action failed, 2 bad arguments, 3 timed out.\n";

static bool parse_number(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static bool parse_buttons(const char *s, uint32_t *out)
{
	*out = 0;
	while (*s) {
		size_t len = strcspn(s, "+");
		if (len == 4 && !strncmp(s, "left", 4))
			*out |= 1;
		else if (len == 5 && !strncmp(s, "right", 5))
			*out |= 2;
		else if (len == 6 && !strncmp(s, "middle", 6))
			*out |= 4;
		else
			return false;
		s += len;
		if (*s == '+')
			s++;
	}
	return true;
}

/* "X,Y" or "X,Y,BUTTONS" within 0..65535. */
static bool parse_point(const char *s, struct action *a)
{
	char *end;
	long x = strtol(s, &end, 10);
	if (end == s || *end != ',' || x < 0 || x > 65535)
		return false;
	s = end + 1;
	long y = strtol(s, &end, 10);
	if (end == s || (*end && *end != ',') || y < 0 || y > 65535)
		return false;
	a->x = (int32_t)x;
	a->y = (int32_t)y;
	return *end ? parse_buttons(end + 1, &a->buttons) && a->buttons : true;
}

/* 1 to run, 0 after --help, -1 on a bad argument (said on stderr). */
static int parse_args(int argc, char **argv)
{
	enum {
		O_HOST = 256,
		O_PORT,
		O_USER,
		O_PASS,
		O_SIZE,
		O_GFX,
		O_NO_GFX,
		O_AVC,
		O_NO_AVC,
		O_RFX,
		O_TIMEOUT,
		O_KEY_DELAY,
		O_IGNORE,
		O_STATS,
		O_WAIT_STABLE,
		O_SLEEP,
		O_PNG,
		O_TYPE,
		O_UNICODE,
		O_KEY,
		O_POINTER,
		O_CLICK,
		O_WHEEL,
		O_HWHEEL,
	};
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, O_HOST},
	    {"port", required_argument, NULL, O_PORT},
	    {"user", required_argument, NULL, O_USER},
	    {"pass", required_argument, NULL, O_PASS},
	    {"size", required_argument, NULL, O_SIZE},
	    {"gfx", no_argument, NULL, O_GFX},
	    {"no-gfx", no_argument, NULL, O_NO_GFX},
	    {"avc", no_argument, NULL, O_AVC},
	    {"no-avc", no_argument, NULL, O_NO_AVC},
	    {"rfx", no_argument, NULL, O_RFX},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"key-delay", required_argument, NULL, O_KEY_DELAY},
	    {"ignore", required_argument, NULL, O_IGNORE},
	    {"stats", no_argument, NULL, O_STATS},
	    {"wait-stable", required_argument, NULL, O_WAIT_STABLE},
	    {"sleep", required_argument, NULL, O_SLEEP},
	    {"png", required_argument, NULL, O_PNG},
	    {"type", required_argument, NULL, O_TYPE},
	    {"unicode", required_argument, NULL, O_UNICODE},
	    {"key", required_argument, NULL, O_KEY},
	    {"pointer", required_argument, NULL, O_POINTER},
	    {"click", required_argument, NULL, O_CLICK},
	    {"wheel", required_argument, NULL, O_WHEEL},
	    {"hwheel", required_argument, NULL, O_HWHEEL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	opterr = 0;
	int c;
	int index = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, &index)) != -1) {
		double v;
		if (c >= O_WAIT_STABLE && opt.nactions + 3 > MAX_ACTIONS) {
			fprintf(stderr, "rdppixels: more than %d actions\n", MAX_ACTIONS - 3);
			return -1;
		}
		struct action *a = &opt.actions[opt.nactions];
		*a = (struct action){0};
		switch (c) {
		case O_HOST:
			opt.host = optarg;
			break;
		case O_PORT:
			if (!parse_number(optarg, 1, 65535, &v))
				goto bad;
			opt.port = (int)v;
			break;
		case O_USER:
			opt.user = optarg;
			break;
		case O_PASS:
			opt.pass = optarg;
			break;
		case O_SIZE: {
			unsigned w, h;
			char tail;
			if (sscanf(optarg, "%ux%u%c", &w, &h, &tail) != 2 || w < 64 || h < 64 || w > 8192 || h > 8192)
				goto bad;
			opt.width = w;
			opt.height = h;
			break;
		}
		case O_GFX:
			opt.gfx = true;
			break;
		case O_NO_GFX:
			opt.gfx = false;
			break;
		case O_AVC:
			opt.avc = true;
			break;
		case O_NO_AVC:
			opt.avc = false;
			break;
		case O_RFX:
			opt.rfx = true;
			break;
		case O_TIMEOUT:
			if (!parse_number(optarg, 1, 3600, &v))
				goto bad;
			opt.timeout = (int)v;
			break;
		case O_KEY_DELAY:
			if (!parse_number(optarg, 0, 10000, &v))
				goto bad;
			opt.key_delay = v / 1000;
			break;
		case O_IGNORE: {
			unsigned x, y, w, h;
			char tail;
			if (!strcmp(optarg, "none")) {
				opt.nignore = 0;
				break;
			}
			if (opt.nignore == MAX_IGNORE || sscanf(optarg, "%u,%u,%u,%u%c", &x, &y, &w, &h, &tail) != 4)
				goto bad;
			opt.ignore[opt.nignore++] = (struct ignore_rect){x, y, w, h};
			break;
		}
		case O_STATS:
			opt.stats = true;
			break;
		case O_WAIT_STABLE:
		case O_SLEEP:
			if (!parse_number(optarg, 0, 3600, &a->seconds))
				goto bad;
			a->kind = c == O_SLEEP ? ACT_SLEEP : ACT_WAIT_STABLE;
			memcpy(a->ignore, opt.ignore, sizeof(a->ignore));
			a->nignore = opt.nignore;
			opt.nactions++;
			break;
		case O_PNG:
			a->kind = ACT_PNG;
			a->text = optarg;
			opt.nactions++;
			break;
		case O_TYPE:
			a->kind = ACT_TYPE;
			a->text = optarg;
			for (const char *p = optarg; *p; p++) {
				bool shift;
				if (char_scancode((unsigned char)*p, &shift) < 0) {
					fprintf(stderr, "rdppixels: --type cannot type '%c' (0x%02x) on a US layout\n",
						*p, (unsigned char)*p);
					return -1;
				}
			}
			opt.nactions++;
			break;
		case O_UNICODE:
			if (!valid_utf8(optarg))
				goto bad;
			a->kind = ACT_UNICODE;
			a->text = optarg;
			opt.nactions++;
			break;
		case O_KEY:
			if (!valid_key_chord(optarg))
				goto bad;
			a->kind = ACT_KEY;
			a->text = optarg;
			opt.nactions++;
			break;
		case O_POINTER:
			if (!parse_point(optarg, a))
				goto bad;
			a->kind = ACT_POINTER;
			opt.nactions++;
			break;
		case O_CLICK:
			/* A click is three pointer actions: there, pressed, released. */
			if (!parse_point(optarg, a))
				goto bad;
			a->kind = ACT_POINTER;
			if (!a->buttons)
				a->buttons = 1;
			uint32_t b = a->buttons;
			a->buttons = 0;
			opt.actions[opt.nactions + 1] = *a;
			opt.actions[opt.nactions + 1].buttons = b;
			opt.actions[opt.nactions + 2] = *a;
			opt.nactions += 3;
			break;
		case O_WHEEL:
		case O_HWHEEL:
			if (!parse_number(optarg, -100, 100, &v) || v != (int)v)
				goto bad;
			a->kind = c == O_WHEEL ? ACT_WHEEL : ACT_HWHEEL;
			a->n = (int32_t)v;
			opt.nactions++;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			fprintf(stderr, "rdppixels: %s needs a value\n%s", argv[optind - 1], usage);
			return -1;
		default:
			fprintf(stderr, "rdppixels: unknown option '%s'\n%s", argv[optind - 1], usage);
			return -1;
		}
		continue;
	bad:
		fprintf(stderr, "rdppixels: bad value '%s' for --%s\n", optarg, longopts[index].name);
		return -1;
	}
	if (optind < argc || !opt.port) {
		fprintf(stderr, "rdppixels: %s\n%s", optind < argc ? "unexpected argument" : "--port is needed", usage);
		return -1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	int parsed = parse_args(argc, argv);
	if (parsed <= 0)
		return parsed < 0 ? 2 : 0;
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)opt.timeout);

	RDP_CLIENT_ENTRY_POINTS entry = {
	    .Size = sizeof(RDP_CLIENT_ENTRY_POINTS_V1),
	    .Version = RDP_CLIENT_INTERFACE_VERSION,
	    .ContextSize = sizeof(rdpClientContext),
	    .ClientNew = on_client_new,
	};
	rdpContext *ctx = freerdp_client_context_new(&entry);
	if (!ctx) {
		fprintf(stderr, "rdppixels: cannot create a FreeRDP client\n");
		return 1;
	}
	int rc = configure(ctx->settings) ? run(ctx) : 1;
	freerdp_client_context_free(ctx);
	return rc;
}
