/* rdp.c — an RDP session through FreeRDP 2's client library: TLS with our certificate check, autologon, the
 * graphics pipeline (AVC420, progressive, RemoteFX, planar) decoded by FreeRDP's gdi into a BGRX32 buffer and
 * copied to the window where it was invalidated; input as scancodes; the server's pointer as the window's
 * cursor; a resized window resizes the desktop through the display control channel. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freerdp/client.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/disp.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/codec/color.h>
#include <freerdp/error.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <freerdp/graphics.h>
#include <freerdp/input.h>
#include <freerdp/scancode.h>
#include <openssl/pem.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#define RDP_HANDSHAKE_S 20

struct rdp_client {
	rdpClientContext common; /* first: FreeRDP allocates ContextSize and hands back its rdpContext */
	const struct client_opts *o;
	struct client_chan *ch;
	const struct tls_policy *p;
	struct window *w;
	struct client_error *e;
	bool cert_refused;
	DispClientContext *disp;
	bool disp_ready;
	uint32_t want_w, want_h; /* a window size the desktop should follow once disp is ready */
	UINT16 x, y;
};

struct client_pointer {
	rdpPointer base;
	uint32_t *argb;
};

/* The certificate chain FreeRDP shows (PEM, leaf first) goes to tls_check: FreeRDP's own store is not used. */
static int verify_x509(freerdp *instance, const BYTE *pem, size_t length, const char *host, UINT16 port, DWORD flags)
{
	(void)flags;
	struct rdp_client *c = (struct rdp_client *)instance->context;
	BIO *bio = BIO_new_mem_buf(pem, (int)length);
	X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *more;
	while (bio && chain && (more = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(chain, more);
	BIO_free(bio);
	int rc = tls_check(c->p, host, port, leaf, chain, NULL, 0, NULL, c->e);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	c->cert_refused = rc != 0;
	return rc == 0 ? 1 : 0;
}

static UINT on_disp_caps(DispClientContext *disp, UINT32 max_monitors, UINT32 factor_a, UINT32 factor_b)
{
	(void)max_monitors, (void)factor_a, (void)factor_b;
	struct rdp_client *c = disp->custom;
	c->disp_ready = true;
	return CHANNEL_RC_OK;
}

static void on_channel_connected(void *context, ChannelConnectedEventArgs *ev)
{
	struct rdp_client *c = context;
	rdpContext *ctx = context;
	if (!strcmp(ev->name, RDPGFX_DVC_CHANNEL_NAME)) {
		gdi_graphics_pipeline_init(ctx->gdi, ev->pInterface);
	} else if (!strcmp(ev->name, DISP_DVC_CHANNEL_NAME)) {
		c->disp = ev->pInterface;
		c->disp->custom = c;
		c->disp->DisplayControlCaps = on_disp_caps;
	}
}

static void on_channel_disconnected(void *context, ChannelDisconnectedEventArgs *ev)
{
	struct rdp_client *c = context;
	rdpContext *ctx = context;
	if (!strcmp(ev->name, RDPGFX_DVC_CHANNEL_NAME)) {
		gdi_graphics_pipeline_uninit(ctx->gdi, ev->pInterface);
	} else if (!strcmp(ev->name, DISP_DVC_CHANNEL_NAME)) {
		c->disp = NULL;
		c->disp_ready = false;
	}
}

/* The pointer: FreeRDP decodes the server's shapes to ARGB; SDL makes them cursors. */
static BOOL pointer_new(rdpContext *ctx, rdpPointer *pointer)
{
	struct client_pointer *p = (struct client_pointer *)pointer;
	if (pointer->width > 384 || pointer->height > 384)
		return FALSE;
	p->argb = calloc((size_t)pointer->width * pointer->height + 1, 4);
	if (!p->argb)
		return FALSE;
	if (!freerdp_image_copy_from_pointer_data((BYTE *)p->argb, PIXEL_FORMAT_BGRA32, pointer->width * 4, 0, 0,
						  pointer->width, pointer->height, pointer->xorMaskData,
						  pointer->lengthXorMask, pointer->andMaskData, pointer->lengthAndMask,
						  pointer->xorBpp, &ctx->gdi->palette)) {
		free(p->argb);
		p->argb = NULL;
		return FALSE;
	}
	return TRUE;
}

static void pointer_free(rdpContext *ctx, rdpPointer *pointer)
{
	(void)ctx;
	struct client_pointer *p = (struct client_pointer *)pointer;
	free(p->argb);
	p->argb = NULL;
}

static BOOL pointer_set(rdpContext *ctx, const rdpPointer *pointer)
{
	const struct client_pointer *p = (const struct client_pointer *)pointer;
	if (p->argb)
		window_set_cursor(((struct rdp_client *)ctx)->w, p->argb, (int)pointer->width, (int)pointer->height,
				  (int)pointer->xPos, (int)pointer->yPos);
	return TRUE;
}

static BOOL pointer_set_null(rdpContext *ctx)
{
	static const uint32_t none;
	window_set_cursor(((struct rdp_client *)ctx)->w, &none, 0, 0, 0, 0);
	return TRUE;
}

static BOOL pointer_set_default(rdpContext *ctx)
{
	window_set_cursor(((struct rdp_client *)ctx)->w, NULL, 0, 0, 0, 0);
	return TRUE;
}

static BOOL pointer_set_position(rdpContext *ctx, UINT32 x, UINT32 y)
{
	(void)ctx, (void)x, (void)y;
	return TRUE;
}

static BOOL on_begin_paint(rdpContext *ctx)
{
	HGDI_WND hwnd = ctx->gdi->primary->hdc->hwnd;
	hwnd->invalid->null = TRUE;
	hwnd->ninvalid = 0;
	return TRUE;
}

/* Only the rectangles gdi invalidated reach the texture. */
static BOOL on_end_paint(rdpContext *ctx)
{
	struct rdp_client *c = (struct rdp_client *)ctx;
	rdpGdi *gdi = ctx->gdi;
	HGDI_WND hwnd = gdi->primary->hdc->hwnd;
	if (hwnd->invalid->null || hwnd->ninvalid <= 0)
		return TRUE;
	for (INT32 i = 0; i < hwnd->ninvalid; i++) {
		const GDI_RGN *r = &hwnd->cinvalid[i];
		window_update(c->w, gdi->primary_buffer, gdi->stride, r->x, r->y, r->w, r->h);
	}
	window_present(c->w);
	return TRUE;
}

static BOOL on_desktop_resize(rdpContext *ctx)
{
	struct rdp_client *c = (struct rdp_client *)ctx;
	if (!gdi_resize(ctx->gdi, ctx->settings->DesktopWidth, ctx->settings->DesktopHeight) ||
	    window_set_desktop_size(c->w, ctx->settings->DesktopWidth, ctx->settings->DesktopHeight) < 0)
		return FALSE;
	window_update(c->w, ctx->gdi->primary_buffer, ctx->gdi->stride, 0, 0, ctx->gdi->width, ctx->gdi->height);
	window_present(c->w);
	return TRUE;
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
	struct rdp_client *c = (struct rdp_client *)ctx;
	if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
		return FALSE;
	rdpPointer pointer = {.size = sizeof(struct client_pointer),
			      .New = pointer_new,
			      .Free = pointer_free,
			      .Set = pointer_set,
			      .SetNull = pointer_set_null,
			      .SetDefault = pointer_set_default,
			      .SetPosition = pointer_set_position};
	graphics_register_pointer(ctx->graphics, &pointer);
	ctx->update->BeginPaint = on_begin_paint;
	ctx->update->EndPaint = on_end_paint;
	ctx->update->DesktopResize = on_desktop_resize;
	return window_set_desktop_size(c->w, (uint32_t)ctx->gdi->width, (uint32_t)ctx->gdi->height) == 0;
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
	instance->VerifyX509Certificate = verify_x509;
	return TRUE;
}

static bool configure(struct rdp_client *c, rdpSettings *s)
{
	const struct client_opts *o = c->o;
	s->ServerPort = (UINT32)o->port;
	/* The window's size now (a kiosk's screen, a window resized in an earlier session), else --size. */
	uint32_t ww = 0, wh = 0;
	window_size(c->w, &ww, &wh);
	s->DesktopWidth = ww >= 200 && wh >= 200 ? ww & ~1u : o->width;
	s->DesktopHeight = ww >= 200 && wh >= 200 ? wh : o->height;
	s->ColorDepth = 32;
	s->SoftwareGdi = TRUE;
	/* vdi's broker takes the credentials from the client info PDU inside TLS (autologon). */
	s->RdpSecurity = FALSE;
	s->TlsSecurity = TRUE;
	s->NlaSecurity = FALSE;
	s->ExtSecurity = FALSE;
	s->AutoLogonEnabled = TRUE;
	s->ExternalCertificateManagement = TRUE;
	s->SupportGraphicsPipeline = TRUE;
	s->GfxH264 = !o->lossless;
	s->GfxAVC444 = FALSE;
	s->GfxAVC444v2 = FALSE;
	s->GfxProgressive = !o->lossless;
	s->RemoteFxCodec = !o->lossless;
	s->SupportDisplayControl = TRUE;
	s->DynamicResolutionUpdate = TRUE;
	s->TcpConnectTimeout = 10000;
	/* vdi's private channel: a dynamic channel the server opens (stock servers never do). */
	if (rdp_chan_register(s, c->ch) < 0)
		return false;
	return freerdp_settings_set_string(s, FreeRDP_ServerHostname, o->host) &&
	       freerdp_settings_set_string(s, FreeRDP_Username, o->user) &&
	       freerdp_settings_set_string(s, FreeRDP_Password, o->password);
}

/* Input from the window */

static void send_key(void *arg, uint32_t scancode, uint32_t keysym, bool down)
{
	(void)keysym;
	rdpContext *ctx = arg;
	if (scancode)
		freerdp_input_send_keyboard_event_ex(ctx->input, down,
						     MAKE_RDP_SCANCODE(scancode & 0xff, (scancode & 0x100) != 0));
}

static void send_pointer(void *arg, int x, int y, uint32_t buttons, uint32_t changed)
{
	struct rdp_client *c = arg;
	rdpContext *ctx = arg;
	int maxx = ctx->gdi ? ctx->gdi->width - 1 : 0, maxy = ctx->gdi ? ctx->gdi->height - 1 : 0;
	c->x = (UINT16)(x < 0 ? 0 : x > maxx ? maxx : x);
	c->y = (UINT16)(y < 0 ? 0 : y > maxy ? maxy : y);
	/* RFB's mask (1 left, 2 middle, 4 right) to RDP's buttons (1 left, 2 right, 3 middle). */
	UINT16 flags = changed == 1   ? PTR_FLAGS_BUTTON1
		       : changed == 2 ? PTR_FLAGS_BUTTON3
		       : changed == 4 ? PTR_FLAGS_BUTTON2
				      : PTR_FLAGS_MOVE;
	if (changed && (buttons & changed))
		flags |= PTR_FLAGS_DOWN;
	freerdp_input_send_mouse_event(ctx->input, flags, c->x, c->y);
}

/* Clicks of 120 as a 9-bit two's complement rotation; positive is away from the user, or to the right. */
static void send_wheel(void *arg, int dx, int dy)
{
	struct rdp_client *c = arg;
	rdpContext *ctx = arg;
	for (int axis = 0; axis < 2; axis++) {
		int n = axis ? dx : dy;
		UINT16 base = axis ? PTR_FLAGS_HWHEEL : PTR_FLAGS_WHEEL;
		for (int i = 0; i < (n < 0 ? -n : n) && i < 20; i++)
			freerdp_input_send_mouse_event(ctx->input,
						       n > 0 ? (UINT16)(base | 0x78)
							     : (UINT16)(base | PTR_FLAGS_WHEEL_NEGATIVE | 0x88),
						       c->x, c->y);
	}
}

static void request_size(void *arg, uint32_t width, uint32_t height)
{
	struct rdp_client *c = arg;
	c->want_w = width & ~1u; /* the protocol wants an even width */
	c->want_h = height;
}

/* Asks the server for the window's size once the channel is ready and the size differs from the desktop's. */
static void follow_window(struct rdp_client *c)
{
	rdpContext *ctx = (rdpContext *)c;
	if (!c->want_w || !c->disp || !c->disp_ready || !ctx->gdi)
		return;
	if (c->want_w < DISPLAY_CONTROL_MIN_MONITOR_WIDTH || c->want_h < DISPLAY_CONTROL_MIN_MONITOR_HEIGHT ||
	    c->want_w > DISPLAY_CONTROL_MAX_MONITOR_WIDTH || c->want_h > DISPLAY_CONTROL_MAX_MONITOR_HEIGHT ||
	    (c->want_w == (uint32_t)ctx->gdi->width && c->want_h == (uint32_t)ctx->gdi->height)) {
		c->want_w = 0;
		return;
	}
	DISPLAY_CONTROL_MONITOR_LAYOUT layout = {.Flags = DISPLAY_CONTROL_MONITOR_PRIMARY,
						 .Width = c->want_w,
						 .Height = c->want_h,
						 .PhysicalWidth = c->want_w * 254 / 960,
						 .PhysicalHeight = c->want_h * 254 / 960,
						 .Orientation = ORIENTATION_LANDSCAPE,
						 .DesktopScaleFactor = 100,
						 .DeviceScaleFactor = 100};
	c->disp->SendMonitorLayout(c->disp, 1, &layout);
	c->want_w = 0;
}

static int connect_error(struct rdp_client *c)
{
	rdpContext *ctx = (rdpContext *)c;
	if (c->cert_refused)
		return c->e->status;
	UINT32 err = freerdp_get_last_error(ctx);
	const struct client_opts *o = c->o;
	switch (err) {
	case FREERDP_ERROR_CONNECT_FAILED:
	case FREERDP_ERROR_DNS_NAME_NOT_FOUND:
	case FREERDP_ERROR_DNS_ERROR:
	case FREERDP_ERROR_CONNECT_TRANSPORT_FAILED: {
		/* FreeRDP says "transport failed" for a refused connection and for garbage alike: a connection of
		 * our own tells them apart (only after a failure, so a good connect costs nothing). */
		int fd = net_connect(o->host, o->port, 5000);
		if (fd < 0)
			return client_fail(c->e, CLIENT_UNREACHABLE, "cannot reach %s:%d: %s", o->host, o->port,
					   strerror(-fd));
		close(fd);
		break;
	}
	case FREERDP_ERROR_AUTHENTICATION_FAILED:
	case FREERDP_ERROR_CONNECT_LOGON_FAILURE:
	case FREERDP_ERROR_CONNECT_WRONG_PASSWORD:
		return client_fail(c->e, CLIENT_BAD_PASSWORD, "%s:%d refused the user name or password", o->host,
				   o->port);
	case FREERDP_ERROR_CONNECT_ACCOUNT_LOCKED_OUT:
		return client_fail(c->e, CLIENT_LOCKED_OUT, "%s is locked out", o->user);
	default:
		break;
	}
	return client_fail(c->e, CLIENT_PROTOCOL, "RDP with %s:%d failed in the handshake: %s", o->host, o->port,
			   freerdp_get_last_error_string(err));
}

static int session_loop(struct rdp_client *c)
{
	rdpContext *ctx = (rdpContext *)c;
	freerdp *instance = ctx->instance;
	struct input_sink sink = {
	    .arg = c, .key = send_key, .pointer = send_pointer, .wheel = send_wheel, .resize = request_size};
	c->ch->established = true;
	for (;;) {
		uint32_t reason;
		char why[CHANNEL_TEXT_MAX + 1];
		/* The server said why it ends the connection: that is the end, whatever follows on the wire. */
		if (client_chan_said_bye(c->ch, &reason, why, sizeof(why)))
			return client_fail(c->e, CLIENT_OK, "the server ended the connection: %s", why);
		HANDLE handles[MAXIMUM_WAIT_OBJECTS];
		DWORD n = freerdp_get_event_handles(ctx, handles, MAXIMUM_WAIT_OBJECTS);
		if (!n)
			return client_fail(c->e, CLIENT_PROTOCOL, "RDP: no event handles");
		WaitForMultipleObjects(n, handles, FALSE, 10);
		if (!freerdp_check_event_handles(ctx) || freerdp_shall_disconnect(instance)) {
			UINT32 err = freerdp_get_last_error(ctx);
			/* The server ending the session (log off, disconnect by the broker) is a normal end. */
			if (err == FREERDP_ERROR_SUCCESS || freerdp_error_info(instance) != 0)
				return CLIENT_OK;
			return client_fail(c->e, CLIENT_PROTOCOL, "the RDP connection broke: %s",
					   freerdp_get_last_error_string(err));
		}
		if (window_poll(c->w, &sink, 0)) {
			c->ch->user_closed = true;
			return CLIENT_OK;
		}
		follow_window(c);
	}
}

int rdp_run(const struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
	    struct client_error *e)
{
	/* FreeRDP's own log lines would bury vdi-client's one-line errors. */
	WLog_SetLogLevel(WLog_GetRoot(), WLOG_OFF);
	RDP_CLIENT_ENTRY_POINTS entry = {
	    .Size = sizeof(RDP_CLIENT_ENTRY_POINTS_V1),
	    .Version = RDP_CLIENT_INTERFACE_VERSION,
	    .ContextSize = sizeof(struct rdp_client),
	    .ClientNew = on_client_new,
	};
	rdpContext *ctx = freerdp_client_context_new(&entry);
	if (!ctx)
		return client_fail(e, CLIENT_FAILED, "cannot create a FreeRDP client");
	struct rdp_client *c = (struct rdp_client *)ctx;
	c->o = o;
	c->ch = ch;
	c->p = p;
	c->w = w;
	c->e = e;
	int rc;
	if (!configure(c, ctx->settings)) {
		rc = client_fail(e, CLIENT_FAILED, "cannot configure the FreeRDP client");
	} else {
		char msg[CLIENT_HOST_MAX + 64];
		snprintf(msg, sizeof(msg), "%s:%d did not finish the RDP handshake within %d s", o->host, o->port,
			 RDP_HANDSHAKE_S);
		watchdog_arm(RDP_HANDSHAKE_S, msg);
		BOOL connected = freerdp_connect(ctx->instance);
		watchdog_disarm();
		rc = connected ? session_loop(c) : connect_error(c);
		freerdp_disconnect(ctx->instance);
		/* drdynvc's thread delivered what came before the end (a BYE) as it stopped. */
		uint32_t reason;
		char why[CHANNEL_TEXT_MAX + 1];
		if (connected && !ch->user_closed && client_chan_said_bye(ch, &reason, why, sizeof(why)))
			rc = client_fail(e, CLIENT_OK, "the server ended the connection: %s", why);
	}
	freerdp_client_context_free(ctx);
	return rc;
}
