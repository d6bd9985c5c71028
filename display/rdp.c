/* rdp.c — the RDP server (FreeRDP 2): TLS (our front's, rdp_front.c, with
 * FreeRDP on a socket pair behind it), one thread and one surface viewer
 * per client, damaged rectangles over the graphics pipeline where the client
 * has it (rdp_gfx.c) and as bitmap updates and RemoteFX where not
 * (rdp_classic.c), the surface's cursor as pointer updates, keyboard and
 * mouse back as evdev input. */
#include "chan.h"
#include "conn.h"
#include "rdp_chan.h"
#include "rdp_classic.h"
#include "rdp_disp.h"
#include "rdp_front.h"
#include "rdp_gfx.h"

#include "../common/conn_deadline.h"
#include "../common/conn_limit.h"
#include "../common/log.h"
#include "../common/mem_trim.h"
#include "../common/tls.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/select.h> /* FD_SETSIZE */
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/channels/channels.h>
#include <freerdp/codec/color.h>
#include <freerdp/freerdp.h>
#include <freerdp/listener.h>
#include <freerdp/peer.h>
#include <freerdp/pointer.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <winpr/synch.h>
#include <winpr/wtsapi.h>

#define RDP_PATH_MAX 4096

struct rdp_server {
	struct display_hooks hooks;
	freerdp_listener *listener;
	HANDLE stop; /* manual-reset: set once, seen by the listener and every peer */
	pthread_t thread;
	char cert_path[RDP_PATH_MAX];
	char key_path[RDP_PATH_MAX];
	struct rdp_front_tls *front_tls;
	struct conn_limit *limit;
	unsigned handshake_timeout_s, login_timeout_s;
	pthread_mutex_t lock;
	pthread_cond_t peers_gone;
	unsigned npeers;
};

/* A client's state; FreeRDP allocates it as the peer's context, so the
 * rdpContext comes first. */
struct rdp_peer {
	rdpContext ctx;
	struct rdp_server *srv;
	struct display_conn *dc;
	struct surface *s; /* the surface shown (the connection's reference); input goes there */
	struct surface_viewer *viewer;
	HANDLE wake;       /* the viewer's */
	HANDLE conn_event; /* a switch or close from the broker */
	struct rdp_gfx *gfx;
	struct rdp_disp *disp;
	struct rdp_chan *chan;       /* vdi's private channel */
	struct rdp_classic *classic; /* graphics without GFX */
	struct surface_update frame; /* the last take: its pixels stay whole until the next */
	bool activated;              /* between Activate and a reactivation: updates may be sent */
	bool suppressed;             /* the client asked for no output (minimised) */
	bool need_full;              /* the client's picture is stale as a whole */
	bool need_cursor;            /* the client lacks the current cursor image */
	bool cursor_visible;
	/* The cursor image's shape: an update carries it only when it changed;
	 * the pixels stay in the viewer's buffer. */
	uint32_t cursor_width, cursor_height, cursor_hot_x, cursor_hot_y;
	uint32_t width, height; /* the desktop size the client has */
	uint32_t buttons;
	int32_t input_x, input_y; /* where this client last put the pointer */
	/* Before the login: the address the connection counts against, and the
	 * time limit of the stage it is in (TLS handshake, then the rest of the
	 * connection sequence up to the client info PDU). */
	struct sockaddr_storage sa;
	socklen_t salen;
	bool counted;            /* held in srv->limit */
	struct rdp_front *front; /* owns the client's socket and TLS; FreeRDP serves its pair */
	bool tls_done;
	int64_t connected_s;
	struct conn_deadline deadline;
};

static int64_t rdp_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct rdp_peer *rdp_peer_of(rdpContext *ctx)
{
	return (struct rdp_peer *)ctx;
}

/* Graphics */

/* The cursor as a 32 bpp pointer with alpha. RDP's masks run bottom-up; the
 * AND mask marks fully transparent pixels for clients that ignore alpha. */
static bool rdp_send_cursor(struct rdp_peer *p)
{
	const struct surface_update *f = &p->frame;
	rdpPointerUpdate *pointer = p->ctx.update->pointer;
	if (!f->cursor_visible || !p->cursor_width || !p->cursor_height) {
		POINTER_SYSTEM_UPDATE none = {.type = SYSPTR_NULL};
		return pointer->PointerSystem(&p->ctx, &none);
	}
	uint32_t w = p->cursor_width, h = p->cursor_height;
	uint32_t and_stride = (w + 15) / 16 * 2;
	uint8_t xor_mask[SURFACE_CURSOR_MAX * SURFACE_CURSOR_MAX * 4];
	uint8_t and_mask[(SURFACE_CURSOR_MAX + 15) / 16 * 2 * SURFACE_CURSOR_MAX];
	if (w > SURFACE_CURSOR_MAX || h > SURFACE_CURSOR_MAX)
		return true;
	memset(and_mask, 0, sizeof(and_mask));
	for (uint32_t y = 0; y < h; y++) {
		const uint8_t *src = f->cursor_argb + (size_t)y * w * 4;
		uint8_t *xor_row = xor_mask + (size_t)(h - 1 - y) * w * 4;
		uint8_t *and_row = and_mask + (size_t)(h - 1 - y) * and_stride;
		for (uint32_t x = 0; x < w; x++) {
			if (src[x * 4 + 3] == 0) {
				memset(xor_row + x * 4, 0, 4);
				and_row[x / 8] |= 0x80 >> (x % 8);
			} else {
				memcpy(xor_row + x * 4, src + x * 4, 4);
			}
		}
	}
	POINTER_NEW_UPDATE pn = {
	    .xorBpp = 32,
	    .colorPtrAttr =
		{
		    .cacheIndex = 0,
		    .xPos = p->cursor_hot_x < w ? p->cursor_hot_x : 0,
		    .yPos = p->cursor_hot_y < h ? p->cursor_hot_y : 0,
		    .width = w,
		    .height = h,
		    .lengthAndMask = and_stride * h,
		    .lengthXorMask = w * h * 4,
		    .xorMaskData = xor_mask,
		    .andMaskData = and_mask,
		},
	};
	return pointer->PointerNew(&p->ctx, &pn);
}

/* The VM's display changed size: the client reactivates at the new size,
 * and Activate asks for everything again. */
static bool rdp_resize_client(struct rdp_peer *p)
{
	rdpSettings *settings = p->ctx.settings;
	settings->DesktopWidth = p->frame.width;
	settings->DesktopHeight = p->frame.height;
	p->activated = false;
	log_info("rdp: resizing the client to %ux%u", p->frame.width, p->frame.height);
	return p->ctx.update->DesktopResize(&p->ctx);
}

/* Takes the viewer's update into p->frame, noting a new cursor shape. */
static bool rdp_take(struct rdp_peer *p, struct surface_update *u)
{
	bool any = surface_viewer_take(p->viewer, u);
	p->frame = *u;
	if (u->cursor_changed) {
		p->cursor_width = u->cursor_width;
		p->cursor_height = u->cursor_height;
		p->cursor_hot_x = u->cursor_hot_x;
		p->cursor_hot_y = u->cursor_hot_y;
	}
	if (u->cursor_changed || u->cursor_visible != p->cursor_visible)
		p->need_cursor = true;
	p->cursor_visible = u->cursor_visible;
	return any;
}

/* Few enough frames unacknowledged (over GFX, or between frame markers)
 * to send another. */
static bool rdp_can_send(struct rdp_peer *p)
{
	return rdp_gfx_ready(p->gfx) ? rdp_gfx_can_send(p->gfx) : rdp_classic_can_send(p->classic);
}

/* Milliseconds until something is due (INFINITE: nothing): lossy pictures'
 * refinement; without GFX, the end of the wait for a client's frame
 * acknowledgements. */
static DWORD rdp_due_in(struct rdp_peer *p)
{
	if (rdp_gfx_ready(p->gfx))
		return rdp_gfx_can_send(p->gfx) ? rdp_gfx_refine_in(p->gfx) : INFINITE;
	return rdp_classic_can_send(p->classic) ? rdp_classic_refine_in(p->classic) : rdp_classic_wait_in(p->classic);
}

/* Takes what is new for this client and sends it. Called only while the
 * client is active and wants output, so damage accumulates in the viewer
 * while it is not and while a send blocks on a slow connection. */
static bool rdp_pump(struct rdp_peer *p)
{
	bool gfx = rdp_gfx_ready(p->gfx);
	/* A client with too many frames unacknowledged gets nothing yet: its
	 * damage accumulates in the viewer. */
	if (!rdp_can_send(p))
		return true;
	struct surface_update u;
	bool any = rdp_take(p, &u);
	if (!u.width || !u.height)
		return true;
	if (gfx) {
		uint32_t gw, gh;
		rdp_gfx_size(p->gfx, &gw, &gh);
		if (gw != u.width || gh != u.height) {
			if (!rdp_gfx_reset(p->gfx, u.width, u.height))
				return false;
			p->width = u.width;
			p->height = u.height;
			p->need_full = true;
		}
	} else if ((u.width != p->width || u.height != p->height) && p->ctx.settings->DesktopResize) {
		/* A client that cannot resize keeps its size and sees what fits. */
		return rdp_resize_client(p);
	}
	bool refine = !any && rdp_due_in(p) == 0;
	if (!any && !p->need_full && !p->need_cursor && !refine)
		return true;
	struct surface_rect all = {0, 0, u.width, u.height};
	bool full = p->need_full;
	p->need_full = false;
	const struct surface_rect *rects = full ? &all : u.rects;
	uint32_t nrects = full ? 1 : u.nrects;
	if ((full || u.nrects || refine) && !(gfx ? rdp_gfx_send(p->gfx, &p->frame, rects, nrects)
						  : rdp_classic_send(p->classic, &p->frame, rects, nrects)))
		return false;
	if (p->need_cursor) {
		p->need_cursor = false;
		if (!rdp_send_cursor(p))
			return false;
	}
	/* Moves this client caused echo back from the guest; only a move from
	 * elsewhere (the guest, another client) repositions its pointer. */
	if (u.cursor_moved && u.cursor_visible && (u.cursor_x != p->input_x || u.cursor_y != p->input_y) &&
	    u.cursor_x >= 0 && u.cursor_y >= 0) {
		POINTER_POSITION_UPDATE pos = {.xPos = (uint32_t)u.cursor_x, .yPos = (uint32_t)u.cursor_y};
		if (!p->ctx.update->pointer->PointerPosition(&p->ctx, &pos))
			return false;
	}
	return true;
}

/* Input */

/* Set 1 scancodes with the E0 prefix (KBD_FLAGS_EXTENDED) to evdev; those
 * without it are the evdev codes themselves from 1 to 88. */
static int rdp_extended_key(uint16_t code)
{
	switch (code) {
	case 0x1c:
		return KEY_KPENTER;
	case 0x1d:
		return KEY_RIGHTCTRL;
	case 0x35:
		return KEY_KPSLASH;
	case 0x37:
		return KEY_SYSRQ;
	case 0x38:
		return KEY_RIGHTALT;
	case 0x47:
		return KEY_HOME;
	case 0x48:
		return KEY_UP;
	case 0x49:
		return KEY_PAGEUP;
	case 0x4b:
		return KEY_LEFT;
	case 0x4d:
		return KEY_RIGHT;
	case 0x4f:
		return KEY_END;
	case 0x50:
		return KEY_DOWN;
	case 0x51:
		return KEY_PAGEDOWN;
	case 0x52:
		return KEY_INSERT;
	case 0x53:
		return KEY_DELETE;
	case 0x5b:
		return KEY_LEFTMETA;
	case 0x5c:
		return KEY_RIGHTMETA;
	case 0x5d:
		return KEY_COMPOSE;
	default:
		return -1;
	}
}

static BOOL rdp_on_keyboard(rdpInput *input, UINT16 flags, UINT16 code)
{
	struct rdp_peer *p = rdp_peer_of(input->context);
	display_conn_touch(p->dc);
	int key;
	if (flags & KBD_FLAGS_EXTENDED)
		key = rdp_extended_key(code);
	else
		key = code >= 1 && code <= 88 ? code : -1;
	if (key < 0) {
		log_debug("rdp: scancode 0x%x (flags 0x%x) has no key", code, flags);
		return TRUE;
	}
	surface_key(p->s, (uint32_t)key, !(flags & KBD_FLAGS_RELEASE));
	return TRUE;
}

/* Unicode input (a UTF-16 unit) for what the US layout can type: the key,
 * with shift held around it where the character needs it. */
static BOOL rdp_on_unicode(rdpInput *input, UINT16 flags, UINT16 code)
{
	struct rdp_peer *p = rdp_peer_of(input->context);
	display_conn_touch(p->dc);
	if (flags & KBD_FLAGS_RELEASE)
		return TRUE;
	bool shift = false;
	int key = code < 0x80 ? keysym_to_evdev(code, &shift) : -1;
	if (key < 0) {
		log_debug("rdp: unicode U+%04x has no key", code);
		return TRUE;
	}
	struct surface *s = p->s;
	if (!s)
		return TRUE;
	if (shift)
		surface_key(s, KEY_LEFTSHIFT, true);
	surface_key(s, (uint32_t)key, true);
	surface_key(s, (uint32_t)key, false);
	if (shift)
		surface_key(s, KEY_LEFTSHIFT, false);
	return TRUE;
}

static void rdp_pointer_at(struct rdp_peer *p, UINT16 x, UINT16 y)
{
	p->input_x = p->width && x >= p->width ? (int32_t)p->width - 1 : x;
	p->input_y = p->height && y >= p->height ? (int32_t)p->height - 1 : y;
	surface_pointer(p->s, p->input_x, p->input_y, p->buttons);
}

static BOOL rdp_on_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
	struct rdp_peer *p = rdp_peer_of(input->context);
	display_conn_touch(p->dc);
	if (flags & (PTR_FLAGS_WHEEL | PTR_FLAGS_HWHEEL)) {
		/* A 9-bit two's complement rotation, 120 to a click. */
		int32_t rotation = flags & 0xff;
		if (flags & PTR_FLAGS_WHEEL_NEGATIVE)
			rotation -= 0x100;
		int32_t clicks = rotation / 120;
		if (!clicks)
			clicks = rotation < 0 ? -1 : 1;
		if (flags & PTR_FLAGS_HWHEEL)
			surface_wheel(p->s, 0, clicks);
		else
			surface_wheel(p->s, clicks, 0);
		return TRUE;
	}
	uint32_t bit = 0;
	if (flags & PTR_FLAGS_BUTTON1)
		bit = 1u << 0;
	else if (flags & PTR_FLAGS_BUTTON2)
		bit = 1u << 1;
	else if (flags & PTR_FLAGS_BUTTON3)
		bit = 1u << 2;
	if (bit && (flags & PTR_FLAGS_DOWN))
		p->buttons |= bit;
	else if (bit)
		p->buttons &= ~bit;
	rdp_pointer_at(p, x, y);
	return TRUE;
}

/* The side buttons have no place in the surface's button mask; their
 * events still carry a position. */
static BOOL rdp_on_extended_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
	(void)flags;
	rdp_pointer_at(rdp_peer_of(input->context), x, y);
	return TRUE;
}

static BOOL rdp_on_synchronize(rdpInput *input, UINT32 flags)
{
	(void)input;
	(void)flags;
	return TRUE;
}

/* Connection */

static BOOL rdp_on_refresh_rect(rdpContext *ctx, BYTE count, const RECTANGLE_16 *areas)
{
	(void)count;
	(void)areas;
	rdp_peer_of(ctx)->need_full = true;
	return TRUE;
}

static BOOL rdp_on_frame_acknowledge(rdpContext *ctx, UINT32 id)
{
	rdp_classic_acknowledged(rdp_peer_of(ctx)->classic, id);
	return TRUE;
}

static BOOL rdp_on_suppress_output(rdpContext *ctx, BYTE allow, const RECTANGLE_16 *area)
{
	(void)area;
	struct rdp_peer *p = rdp_peer_of(ctx);
	p->suppressed = !allow;
	if (allow)
		p->need_full = true;
	return TRUE;
}

/* Waits (bounded) for the viewer's first frame: its size is the desktop
 * size the client is offered. */
static void rdp_first_frame(struct rdp_peer *p)
{
	for (int i = 0; i < 20; i++) {
		struct surface_update u;
		rdp_take(p, &u);
		if (p->frame.width && p->frame.height)
			return;
		WaitForSingleObject(p->wake, 100);
	}
}

/* The connection shows surface `s` from now on: a viewer of it, whose
 * first take is the whole frame, and its wake handle. */
static bool rdp_show(struct rdp_peer *p, struct surface *s)
{
	struct surface_viewer *viewer = surface_viewer_add(s);
	if (!viewer)
		return false;
	HANDLE wake = CreateFileDescriptorEvent(NULL, FALSE, FALSE, surface_viewer_wake_fd(viewer), WINPR_FD_READ);
	if (!wake) {
		surface_viewer_remove(viewer);
		return false;
	}
	if (p->wake)
		CloseHandle(p->wake);
	surface_viewer_remove(p->viewer);
	p->viewer = viewer;
	p->wake = wake;
	p->s = s;
	p->need_full = true;
	p->need_cursor = true;
	return true;
}

/* A switch or close from the broker. false: the connection ends. */
static bool rdp_conn_event(struct rdp_peer *p)
{
	bool close = false;
	struct surface *old = NULL;
	struct surface *next = display_conn_take(p->dc, &close, &old);
	if (next) {
		/* Buttons held on the old surface are let go there. */
		if (p->buttons && p->s)
			surface_pointer(p->s, p->input_x, p->input_y, 0);
		p->buttons = 0;
		if (!rdp_show(p, next)) {
			log_error("rdp: %s: cannot switch surfaces; closing", p->ctx.peer->hostname);
			close = true;
		}
		surface_destroy(old);
	}
	return !close;
}

static BOOL rdp_on_post_connect(freerdp_peer *client)
{
	struct rdp_peer *p = rdp_peer_of(client->context);
	rdpSettings *settings = client->settings;
	/* The client info PDU is in: from here on the broker's limits apply. */
	conn_deadline_disarm(&p->deadline);
	uint32_t want_w = settings->DesktopWidth, want_h = settings->DesktopHeight;
	/* The password stays unlogged: it is in settings->Password. */
	log_info("rdp: %s connected as user '%s', asking for %ux%u at %u bpp", client->hostname,
		 settings->Username ? settings->Username : "", want_w, want_h, settings->ColorDepth);
	struct display_conn_info info = {
	    .user = settings->Username && *settings->Username ? settings->Username : NULL,
	    .password = settings->Password,
	    .domain = settings->Domain && *settings->Domain ? settings->Domain : NULL,
	    .width = want_w,
	    .height = want_h,
	};
	if (!info.user)
		info.password = NULL;
	struct surface *s = display_conn_open(p->dc, &info);
	if (!s) {
		log_info("rdp: %s refused", client->hostname);
		return FALSE;
	}
	if (!rdp_show(p, s))
		return FALSE;
	rdp_first_frame(p);
	if (p->frame.width && p->frame.height) {
		settings->DesktopWidth = p->frame.width;
		settings->DesktopHeight = p->frame.height;
	}
	p->width = settings->DesktopWidth;
	p->height = settings->DesktopHeight;
	/* Planar bitmap updates need 32 bpp; the client takes the server's
	 * preferred depth from the demand active PDU. */
	settings->ColorDepth = 32;
	if (want_w && want_h && (want_w != p->width || want_h != p->height))
		display_conn_request_size(p->dc, want_w, want_h);
	return TRUE;
}

static BOOL rdp_on_activate(freerdp_peer *client)
{
	struct rdp_peer *p = rdp_peer_of(client->context);
	rdpSettings *settings = client->settings;
	if (settings->ColorDepth != 32) {
		log_error("rdp: %s uses %u bpp; only 32 bpp is served", client->hostname, settings->ColorDepth);
		return FALSE;
	}
	p->width = settings->DesktopWidth;
	p->height = settings->DesktopHeight;
	if (!rdp_classic_reset(p->classic, p->width, p->height))
		return FALSE;
	p->activated = true;
	p->need_full = true;
	p->need_cursor = true;
	log_info("rdp: %s active at %ux%u", client->hostname, p->width, p->height);
	return TRUE;
}

static bool rdp_peer_setup(freerdp_peer *client, struct rdp_server *srv)
{
	struct rdp_peer *p = rdp_peer_of(client->context);
	rdpSettings *settings = client->settings;
	p->srv = srv;
	p->dc = display_conn_new(&srv->hooks, "rdp", client->hostname);
	if (!p->dc)
		return false;
	p->conn_event = CreateFileDescriptorEvent(NULL, FALSE, FALSE, display_conn_event_fd(p->dc), WINPR_FD_READ);
	p->classic = rdp_classic_new(&p->ctx);
	p->gfx = rdp_gfx_new(client);
	if (p->gfx) {
		p->disp = rdp_disp_new(client, rdp_gfx_vcm(p->gfx), p->dc);
		p->chan = rdp_chan_new(rdp_gfx_vcm(p->gfx), p->dc);
	}
	if (!p->conn_event || !p->classic || !p->gfx || !p->disp || !p->chan)
		return false;
	if (!freerdp_settings_set_string(settings, FreeRDP_CertificateFile, srv->cert_path) ||
	    !freerdp_settings_set_string(settings, FreeRDP_PrivateKeyFile, srv->key_path))
		return false;
	settings->RdpSecurity = FALSE;
	settings->TlsSecurity = TRUE;
	settings->NlaSecurity = FALSE;
	settings->ExtSecurity = FALSE;
	settings->ColorDepth = 32;
	/* For clients without GFX: photographic tiles as RemoteFX. */
	settings->RemoteFxCodec = TRUE;
	settings->NSCodec = FALSE;
	settings->SupportGraphicsPipeline = TRUE;
	settings->DesktopResize = TRUE;
	/* Said in the capabilities, or clients keep these events to themselves. */
	settings->UnicodeInput = TRUE;
	settings->HasHorizontalWheel = TRUE;
	settings->HasExtendedMouseEvent = TRUE;
	client->PostConnect = rdp_on_post_connect;
	client->Activate = rdp_on_activate;
	client->input->SynchronizeEvent = rdp_on_synchronize;
	client->input->KeyboardEvent = rdp_on_keyboard;
	client->input->UnicodeKeyboardEvent = rdp_on_unicode;
	client->input->MouseEvent = rdp_on_mouse;
	client->input->ExtendedMouseEvent = rdp_on_extended_mouse;
	client->update->RefreshRect = rdp_on_refresh_rect;
	client->update->SuppressOutput = rdp_on_suppress_output;
	client->update->SurfaceFrameAcknowledge = rdp_on_frame_acknowledge;
	return true;
}

/* Frees what the peer holds but not the peer itself: when PeerAccepted
 * fails, the listener frees that. */
static void rdp_peer_release(freerdp_peer *client)
{
	struct rdp_peer *p = rdp_peer_of(client->context);
	struct rdp_front *front = p->front;
	conn_deadline_disarm(&p->deadline);
	if (p->counted)
		conn_limit_release(p->srv->limit, (struct sockaddr *)&p->sa, p->salen);
	if (p->wake)
		CloseHandle(p->wake);
	if (p->conn_event)
		CloseHandle(p->conn_event);
	surface_viewer_remove(p->viewer);
	/* disp's and ours live on gfx's channel manager: they go first. */
	rdp_chan_free(p->chan);
	display_conn_end(p->dc);
	rdp_disp_free(p->disp);
	rdp_gfx_free(p->gfx);
	rdp_classic_free(p->classic);
	/* FreeRDP's end of the pair closes with its context; then the front. */
	freerdp_peer_context_free(client);
	rdp_front_stop(front);
}

/* FreeRDP accepts TLS inside the call that negotiated it: once the
 * negotiation's outcome is set, the handshake is over. What is left of the
 * connection sequence gets what is left of login_timeout_s. */
static void rdp_tls_done(struct rdp_peer *p)
{
	p->tls_done = true;
	struct rdp_server *srv = p->srv;
	if (!srv->login_timeout_s) {
		conn_deadline_disarm(&p->deadline);
		return;
	}
	int64_t left = p->connected_s + srv->login_timeout_s - rdp_now_s();
	conn_deadline_arm(&p->deadline, rdp_front_socket(p->front), left > 0 ? (unsigned)left : 1, "RDP login",
			  p->ctx.peer->hostname);
}

static void *rdp_peer_thread(void *arg)
{
	freerdp_peer *client = arg;
	struct rdp_peer *p = rdp_peer_of(client->context);
	struct rdp_server *srv = p->srv;
	if (client->Initialize(client)) {
		for (;;) {
			HANDLE handles[MAXIMUM_WAIT_OBJECTS];
			DWORD n = client->GetEventHandles(client, handles, MAXIMUM_WAIT_OBJECTS - 6);
			if (!n)
				break;
			n += rdp_gfx_handles(p->gfx, handles + n);
			n += rdp_chan_handles(p->chan, handles + n);
			handles[n++] = srv->stop;
			handles[n++] = p->conn_event;
			/* The viewer's wake joins the wait only while the client can
			 * take a frame; otherwise its damage keeps accumulating. */
			if (p->wake && p->activated && !p->suppressed && rdp_can_send(p))
				handles[n++] = p->wake;
			/* Woken when lossy regions are due for refinement too, or a
			 * client without GFX is no longer waited for. */
			DWORD timeout = p->activated && !p->suppressed ? rdp_due_in(p) : INFINITE;
			int chan_due = display_chan_due_ms(display_conn_chan(p->dc));
			if (chan_due >= 0 && (timeout == INFINITE || (DWORD)chan_due < timeout))
				timeout = (DWORD)chan_due;
			if (WaitForMultipleObjects(n, handles, FALSE, timeout) == WAIT_FAILED)
				break;
			if (WaitForSingleObject(srv->stop, 0) == WAIT_OBJECT_0) {
				display_conn_shutdown(p->dc, 0);
				rdp_chan_flush(p->chan);
				break;
			}
			if (WaitForSingleObject(p->conn_event, 0) == WAIT_OBJECT_0 && !rdp_conn_event(p)) {
				/* A BYE the broker queued goes out before the connection ends. */
				rdp_chan_flush(p->chan);
				break;
			}
			if (!client->CheckFileDescriptor(client))
				break;
			if (!p->tls_done && client->settings->SelectedProtocol)
				rdp_tls_done(p);
			if (!rdp_gfx_check(p->gfx, client->settings->SupportGraphicsPipeline))
				break;
			rdp_disp_check(p->disp);
			rdp_chan_check(p->chan);
			if (p->viewer && p->activated && !p->suppressed && !rdp_pump(p))
				break;
		}
	}
	log_info("rdp: %s disconnected", client->hostname);
	client->Disconnect(client);
	rdp_peer_release(client);
	freerdp_peer_free(client);
	pthread_mutex_lock(&srv->lock);
	bool none_left = !--srv->npeers;
	pthread_cond_broadcast(&srv->peers_gone);
	pthread_mutex_unlock(&srv->lock);
	mem_trim_after_close(none_left);
	return NULL;
}

static BOOL rdp_on_peer_accepted(freerdp_listener *listener, freerdp_peer *client)
{
	struct rdp_server *srv = listener->info;
	/* Counted before anything is spent on the client: a refused one is
	 * closed at once, before TLS (a client sees the connection closed
	 * during its negotiation). */
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	if (getpeername(client->sockfd, (struct sockaddr *)&sa, &salen) < 0)
		salen = 0;
	enum conn_verdict v = conn_limit_acquire(srv->limit, (struct sockaddr *)&sa, salen);
	if (v != CONN_OK) {
		conn_limit_log_refusal(srv->limit, "rdp", client->hostname, conn_verdict_reason(v));
		return FALSE;
	}
	/* The front owns the client's socket (a copy above FD_SETSIZE: the low numbers are for
	 * libvncserver, common/fd.h; the listener closes the number it accepted when this returns FALSE,
	 * and we close it once the connection is under way) and its TLS; FreeRDP serves the front's pair. */
	int low = client->sockfd;
	int sock = fcntl(low, F_DUPFD_CLOEXEC, FD_SETSIZE);
	if (sock < 0)
		sock = fcntl(low, F_DUPFD_CLOEXEC, 0);
	int peer_fd = -1;
	struct rdp_front *front = sock >= 0 ? rdp_front_start(srv->front_tls, sock, client->hostname, &peer_fd) : NULL;
	if (!front) {
		conn_limit_release(srv->limit, (struct sockaddr *)&sa, salen);
		return FALSE;
	}
	client->sockfd = peer_fd;
	client->ContextSize = sizeof(struct rdp_peer);
	if (!freerdp_peer_context_new(client)) {
		rdp_front_stop(front);
		conn_limit_release(srv->limit, (struct sockaddr *)&sa, salen);
		return FALSE;
	}
	struct rdp_peer *p = rdp_peer_of(client->context);
	p->srv = srv;
	p->front = front;
	p->sa = sa;
	p->salen = salen;
	p->counted = true;
	p->connected_s = rdp_now_s();
	if (srv->handshake_timeout_s)
		conn_deadline_arm(&p->deadline, sock, srv->handshake_timeout_s, "TLS handshake", client->hostname);
	else
		conn_deadline_arm(&p->deadline, sock, srv->login_timeout_s, "RDP login", client->hostname);
	if (!rdp_peer_setup(client, srv)) {
		log_error("rdp: cannot set up a connection from %s", client->hostname);
		rdp_peer_release(client);
		return FALSE;
	}
	pthread_attr_t attr;
	pthread_t thread;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&srv->lock);
	int err = pthread_create(&thread, &attr, rdp_peer_thread, client);
	if (!err)
		srv->npeers++;
	pthread_mutex_unlock(&srv->lock);
	pthread_attr_destroy(&attr);
	if (err) {
		log_error("rdp: cannot start a connection thread: %s", strerror(err));
		rdp_peer_release(client);
		return FALSE;
	}
	close(low);
	return TRUE;
}

static void *rdp_listener_thread(void *arg)
{
	struct rdp_server *srv = arg;
	for (;;) {
		HANDLE handles[MAXIMUM_WAIT_OBJECTS];
		DWORD n = srv->listener->GetEventHandles(srv->listener, handles, MAXIMUM_WAIT_OBJECTS - 1);
		if (!n)
			break;
		handles[n++] = srv->stop;
		if (WaitForMultipleObjects(n, handles, FALSE, INFINITE) == WAIT_FAILED)
			break;
		if (WaitForSingleObject(srv->stop, 0) == WAIT_OBJECT_0)
			break;
		if (!srv->listener->CheckFileDescriptor(srv->listener))
			log_warn("rdp: accepting a connection failed");
	}
	return NULL;
}

struct rdp_server *rdp_server_start(const struct display_hooks *hooks, const struct display_listen *listen,
				    const char *cert_path, const char *key_path)
{
	if (!hooks || !listen || listen->port <= 0 || listen->port > 65535)
		return NULL;
	int port = listen->port;
	struct rdp_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->hooks = *hooks;
	srv->limit = listen->limit;
	srv->handshake_timeout_s = listen->handshake_timeout_s;
	srv->login_timeout_s = listen->login_timeout_s;
	/* The virtual channel API (GFX's dynamic channel) goes through WinPR's
	 * WTS table, which must point at FreeRDP's server side. */
	if (!WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi())) {
		log_error("rdp: cannot register the virtual channel API");
		free(srv);
		return NULL;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->peers_gone, NULL);
	if ((size_t)snprintf(srv->cert_path, sizeof(srv->cert_path), "%s", cert_path) >= sizeof(srv->cert_path) ||
	    (size_t)snprintf(srv->key_path, sizeof(srv->key_path), "%s", key_path) >= sizeof(srv->key_path) ||
	    tls_identity(cert_path, key_path) < 0 || !(srv->front_tls = rdp_front_tls_new(cert_path, key_path)))
		goto fail;
	srv->stop = CreateEvent(NULL, TRUE, FALSE, NULL);
	srv->listener = freerdp_listener_new();
	if (!srv->stop || !srv->listener)
		goto fail;
	srv->listener->info = srv;
	srv->listener->PeerAccepted = rdp_on_peer_accepted;
	/* NULL: every address, IPv4 and IPv6. */
	if (!srv->listener->Open(srv->listener, listen->bind, (UINT16)port)) {
		log_error("rdp: cannot listen on port %d", port);
		goto fail;
	}
	int err = pthread_create(&srv->thread, NULL, rdp_listener_thread, srv);
	if (err) {
		log_error("rdp: cannot start the listener thread: %s", strerror(err));
		srv->listener->Close(srv->listener);
		goto fail;
	}
	log_info("rdp: listening on port %d (TLS, certificate %s)", port, srv->cert_path);
	return srv;
fail:
	if (srv->listener)
		freerdp_listener_free(srv->listener);
	if (srv->stop)
		CloseHandle(srv->stop);
	rdp_front_tls_free(srv->front_tls);
	pthread_cond_destroy(&srv->peers_gone);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return NULL;
}

void rdp_server_stop(struct rdp_server *srv)
{
	if (!srv)
		return;
	SetEvent(srv->stop);
	pthread_join(srv->thread, NULL);
	srv->listener->Close(srv->listener);
	freerdp_listener_free(srv->listener);
	pthread_mutex_lock(&srv->lock);
	while (srv->npeers)
		pthread_cond_wait(&srv->peers_gone, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	CloseHandle(srv->stop);
	rdp_front_tls_free(srv->front_tls);
	pthread_cond_destroy(&srv->peers_gone);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
