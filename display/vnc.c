/* vnc.c — the VNC server: our own listener (IPv4 and IPv6), and per connection a thread running a libvncserver
 * (0.9.14) screen of its own in non-threaded mode, showing the surface the connection's hooks chose and carrying
 * the client's keyboard, pointer and resize requests back to it. */
#include "chan.h"
#include "conn.h"
#include "vnc_chan.h"
#include "vnc_front.h"

#include "../common/conn_deadline.h"
#include "../common/conn_limit.h"
#include "../common/fd.h"
#include "../common/log.h"
#include "../common/mem_trim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h> /* FD_SETSIZE */
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>

/* The most libvncserver's 16-bit geometry and the VMM's largest display allow. */
#define VNC_MAX_DIM        16384
/* A frame to show before the surface has one (a VMM whose guest has not set a mode yet). */
#define VNC_EMPTY_WIDTH    640
#define VNC_EMPTY_HEIGHT   480
/* How long a connection's poll() waits: bounds how late data that libvncserver buffered internally (a
 * WebSocket frame read ahead) is noticed. */
#define VNC_POLL_MS        10
/* A client that moved the pointer this recently draws its own cursor where it put it; the guest's echo of an
 * older position would make it jump back. */
#define VNC_OWN_POINTER_NS 500000000LL

/* RFB pointer mask bits. */
#define VNC_BUTTON_LEFT   0x01
#define VNC_BUTTON_MIDDLE 0x02
#define VNC_BUTTON_RIGHT  0x04
#define VNC_WHEEL_UP      0x08
#define VNC_WHEEL_DOWN    0x10
#define VNC_WHEEL_LEFT    0x20
#define VNC_WHEEL_RIGHT   0x40

#define XK_SHIFT_L 0xffe1
#define XK_SHIFT_R 0xffe2

struct vnc_server {
	struct display_hooks hooks;
	struct vnc_tls *tls;            /* NULL: no VeNCrypt, libvncserver takes every client as it is */
	struct vnc_chan_tokens *tokens; /* with tls: side streams of vdi's private channel */
	char *cert_path, *key_path;     /* with tls: libvncserver's own TLS for WebSocket (wss://) */
	int listen_fd;
	int stop_fd; /* an eventfd: readable once the server stops */
	atomic_bool stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t conns_gone;
	unsigned nconns;
	int port;
	struct conn_limit *limit;
	unsigned handshake_timeout_s;
};

/* One client: its own libvncserver screen (framebuffer, encoders, the one client) on its own thread. */
struct vnc_conn {
	struct vnc_server *srv;
	struct display_conn *dc;
	int sock;                /* the client's, or our relay's plain end (front) */
	struct vnc_front *front; /* VeNCrypt's front: the client's connection when there is one */
	struct surface *surface; /* the one shown: input goes there */
	struct surface_viewer *viewer;
	rfbScreenInfoPtr screen;
	rfbClientPtr client; /* the one client of the screen, until libvncserver frees it */
	/* What libvncserver encodes from: a shared picture the surface shows (the login screen), read-only, at no
	 * cost of our own; otherwise fb, ours, written only on `thread` between rfbProcessEvents() calls, when no
	 * encoder reads it. libvncserver also draws the cursor into its frame buffer for a client that takes no
	 * cursor shapes: such a client gets fb (see vnc_fit_fb()). */
	struct surface_picture *picture;
	char *fb;
	uint32_t width, height;
	bool chan_token_sent; /* the client was given its side stream's token */
	/* the guest's cursor, kept so that showing it again after it was hidden needs no new image */
	uint8_t cursor_argb[SURFACE_CURSOR_MAX * SURFACE_CURSOR_MAX * 4];
	uint32_t cursor_width, cursor_height, cursor_hot_x, cursor_hot_y;
	bool cursor_visible;
	bool cursor_pending; /* a cursor to give libvncserver once vnc_cursor_allowed() */
	/* The address the connection counts against, and the time limit of
	 * its handshakes (ours, then libvncserver's up to ClientInit). */
	struct sockaddr_storage sa;
	socklen_t salen;
	bool counted;
	struct conn_deadline deadline;
	bool handshaken;
	int lib_fd; /* the low number libvncserver had (0: none), kept for it again once closed */
};

struct vnc_client {
	int buttons; /* the last RFB pointer mask */
	bool shift_l, shift_r;
	uint8_t keys_down[(KEY_MAX + 1) / 8]; /* evdev codes this client holds: released when it goes */
	int64_t pointer_ns;                   /* when it last moved the pointer */
};

static int64_t vnc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* libvncserver's chatter (a line per connection, encoding, resize) goes to our log, one line each. */
static void vnc_log_lib(enum log_level level, const char *fmt, va_list ap)
{
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	/* Behind VeNCrypt's front libvncserver serves a socket pair, where TCP_NODELAY has no meaning (the front
	 * sets it on the client's socket). */
	if (strstr(line, "can't set TCP_NODELAY flag, non TCP socket"))
		level = LOG_DEBUG;
	if (n)
		log_msg(level, "vnc: %s", line);
}

static void vnc_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnc_log_lib(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static void vnc_log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnc_log_lib(LOG_WARN, fmt, ap);
	va_end(ap);
}

/* A surface's pixels are B, G, R, X bytes: XRGB8888 little-endian, depth 24. rfbGetScreen() and
 * rfbNewFramebuffer() both reset the server format to R, G, B byte order, so this follows each of them. */
static void vnc_set_format(rfbScreenInfoPtr screen)
{
	screen->depth = 24;
	screen->serverFormat.depth = 24;
	screen->serverFormat.bigEndian = FALSE;
	screen->serverFormat.redShift = 16;
	screen->serverFormat.greenShift = 8;
	screen->serverFormat.blueShift = 0;
}

static char *vnc_fb_alloc(uint32_t width, uint32_t height)
{
	if (!width || !height || width > VNC_MAX_DIM || height > VNC_MAX_DIM)
		return NULL;
	return calloc((size_t)width * height, 4);
}

/* ---- from the surface to the clients ---- */

/* A shared picture may be shown as it is unless libvncserver would draw the cursor into it: for a client
 * whose encodings (SetEncodings) include no cursor shapes. */
static bool vnc_may_share(const struct vnc_conn *vnc)
{
	const rfbClientRec *cl = vnc->client;
	return !cl || cl->preferredEncoding == -1 || cl->enableCursorShapeUpdates;
}

/* libvncserver may hold a cursor (screen->cursor) once drawing it touches no shared picture: with a frame
 * buffer of our own, or for a client known to take cursor shapes. Until then the cursor waits. */
static bool vnc_cursor_allowed(const struct vnc_conn *vnc)
{
	const rfbClientRec *cl = vnc->client;
	return vnc->fb || (cl && cl->preferredEncoding != -1 && cl->enableCursorShapeUpdates);
}

/* Shows `picture` (a reference taken) or, when NULL, a frame buffer of our own (allocated, or NULL when out of
 * memory) at width x height. */
static bool vnc_resize(struct vnc_conn *vnc, uint32_t width, uint32_t height, struct surface_picture *picture)
{
	char *fb = picture ? (char *)surface_picture_pixels(picture) : vnc_fb_alloc(width, height);
	if (!fb) {
		log_error("vnc: no frame buffer for %ux%u; clients keep seeing %ux%u", width, height, vnc->width,
			  vnc->height);
		return false;
	}
	if (width == vnc->width && height == vnc->height) {
		vnc->screen->frameBuffer = fb; /* the same size: nothing for the clients to hear */
	} else {
		rfbNewFramebuffer(vnc->screen, fb, (int)width, (int)height, 8, 3, 4);
		vnc_set_format(vnc->screen);
		/* The clients' pixel translation was chosen for the format rfbNewFramebuffer() set; choose again. */
		rfbClientIteratorPtr it = rfbGetClientIterator(vnc->screen);
		rfbClientPtr cl;
		while ((cl = rfbClientIteratorNext(it)))
			vnc->screen->setTranslateFunction(cl);
		rfbReleaseClientIterator(it);
	}
	free(vnc->fb);
	surface_picture_unref(vnc->picture);
	vnc->fb = picture ? NULL : fb;
	vnc->picture = surface_picture_ref(picture);
	vnc->width = width;
	vnc->height = height;
	return true;
}

static rfbCursorPtr vnc_cursor_make(const struct vnc_conn *vnc);

/* Before libvncserver runs: the shared picture shown stops being enough (the client takes no cursor shapes)
 * and becomes a copy of our own; the cursor waiting for that (or for the client's encodings) is set. */
static void vnc_fit_fb(struct vnc_conn *vnc)
{
	if (vnc->cursor_pending && vnc_cursor_allowed(vnc)) {
		rfbCursorPtr c = vnc_cursor_make(vnc);
		if (c)
			rfbSetCursor(vnc->screen, c);
		vnc->cursor_pending = false;
	}
	if (!vnc->picture || vnc_may_share(vnc))
		return;
	char *fb = vnc_fb_alloc(vnc->width, vnc->height);
	if (!fb) {
		log_error("vnc: no frame buffer for %ux%u; closing the client", vnc->width, vnc->height);
		rfbCloseClient(vnc->client);
		return;
	}
	memcpy(fb, surface_picture_pixels(vnc->picture), (size_t)vnc->width * vnc->height * 4);
	vnc->screen->frameBuffer = fb;
	vnc->fb = fb;
	surface_picture_unref(vnc->picture);
	vnc->picture = NULL;
	vnc_fit_fb(vnc); /* the cursor, now that it may be drawn */
}

static void vnc_copy_rect(struct vnc_conn *vnc, const struct surface_update *u, const struct surface_rect *r)
{
	if (r->x >= vnc->width || r->y >= vnc->height)
		return;
	uint32_t w = r->width < vnc->width - r->x ? r->width : vnc->width - r->x;
	uint32_t h = r->height < vnc->height - r->y ? r->height : vnc->height - r->y;
	if (!w || !h)
		return;
	for (uint32_t row = r->y; row < r->y + h; row++)
		memcpy(vnc->fb + ((size_t)row * vnc->width + r->x) * 4,
		       u->pixels + (size_t)row * u->stride + (size_t)r->x * 4, (size_t)w * 4);
	rfbMarkRectAsModified(vnc->screen, (int)r->x, (int)r->y, (int)(r->x + w), (int)(r->y + h));
}

static void vnc_apply_frame(struct vnc_conn *vnc, const struct surface_update *u)
{
	/* A 0x0 surface (no mode yet) leaves the last frame up. */
	if (!u->pixels || !u->width || !u->height || u->stride != u->width * 4)
		return;
	bool share = u->picture && vnc_may_share(vnc);
	bool whole = false; /* the frame buffer is new to what it shows: all of it is copied */
	if (u->width != vnc->width || u->height != vnc->height || (share && u->picture != vnc->picture) ||
	    (!share && !vnc->fb)) {
		if (!vnc_resize(vnc, u->width, u->height, share ? u->picture : NULL))
			return;
		whole = !share;
	}
	if (whole) {
		struct surface_rect all = {0, 0, u->width, u->height};
		vnc_copy_rect(vnc, u, &all);
	}
	for (uint32_t i = 0; i < u->nrects && i < SURFACE_MAX_RECTS; i++) {
		const struct surface_rect *r = &u->rects[i];
		if (vnc->fb && !whole)
			vnc_copy_rect(vnc, u, r);
		else if (r->x < vnc->width && r->y < vnc->height)
			rfbMarkRectAsModified(
			    vnc->screen, (int)r->x, (int)r->y,
			    (int)(r->x + (r->width < vnc->width - r->x ? r->width : vnc->width - r->x)),
			    (int)(r->y + (r->height < vnc->height - r->y ? r->height : vnc->height - r->y)));
	}
}

/* An rfbCursor libvncserver owns and frees: the rich image in the server's pixel format (the surface's, so the
 * bytes copy as they are), its alpha, and the 1-bit mask the RichCursor and XCursor encodings send. A hidden
 * cursor is libvncserver's "no cursor": 1x1 with an empty mask. */
static rfbCursorPtr vnc_cursor_make(const struct vnc_conn *vnc)
{
	bool shown = vnc->cursor_visible && vnc->cursor_width && vnc->cursor_height;
	uint32_t w = shown ? vnc->cursor_width : 1, h = shown ? vnc->cursor_height : 1;
	size_t n = (size_t)w * h;
	rfbCursorPtr c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cleanup = c->cleanupSource = c->cleanupMask = c->cleanupRichSource = TRUE;
	c->width = (unsigned short)w;
	c->height = (unsigned short)h;
	c->xhot = (unsigned short)(shown ? vnc->cursor_hot_x : 0);
	c->yhot = (unsigned short)(shown ? vnc->cursor_hot_y : 0);
	/* XCursor clients get white where the image is not black. */
	c->foreRed = c->foreGreen = c->foreBlue = 0xffff;
	c->richSource = malloc(n * 4);
	c->alphaSource = calloc(n, 1);
	c->mask = calloc((w + 7) / 8, h);
	if (!c->richSource || !c->alphaSource || !c->mask) {
		rfbFreeCursor(c);
		return NULL;
	}
	if (!shown) {
		memset(c->richSource, 0, n * 4);
		return c;
	}
	memcpy(c->richSource, vnc->cursor_argb, n * 4);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint8_t a = vnc->cursor_argb[((size_t)y * w + x) * 4 + 3];
			c->alphaSource[(size_t)y * w + x] = a;
			if (a >= 0x80)
				c->mask[y * ((w + 7) / 8) + x / 8] |= (uint8_t)(0x80 >> (x % 8));
		}
	return c;
}

static void vnc_apply_cursor(struct vnc_conn *vnc, const struct surface_update *u)
{
	bool reshape = false;
	if (u->cursor_changed && u->cursor_argb && u->cursor_width <= SURFACE_CURSOR_MAX &&
	    u->cursor_height <= SURFACE_CURSOR_MAX) {
		vnc->cursor_width = u->cursor_width;
		vnc->cursor_height = u->cursor_height;
		vnc->cursor_hot_x = u->cursor_hot_x < u->cursor_width ? u->cursor_hot_x : 0;
		vnc->cursor_hot_y = u->cursor_hot_y < u->cursor_height ? u->cursor_hot_y : 0;
		memcpy(vnc->cursor_argb, u->cursor_argb, (size_t)u->cursor_width * u->cursor_height * 4);
		reshape = true;
	}
	if (u->cursor_visible != vnc->cursor_visible) {
		vnc->cursor_visible = u->cursor_visible;
		reshape = true;
	}
	if (reshape && !vnc_cursor_allowed(vnc)) {
		vnc->cursor_pending = true;
	} else if (reshape) {
		rfbCursorPtr c = vnc_cursor_make(vnc);
		if (c)
			rfbSetCursor(vnc->screen, c);
	}
	if (!u->cursor_moved || u->cursor_x < 0 || u->cursor_y < 0 || (uint32_t)u->cursor_x >= vnc->width ||
	    (uint32_t)u->cursor_y >= vnc->height)
		return;
	rfbScreenInfoPtr screen = vnc->screen;
	if (screen->cursorX == u->cursor_x && screen->cursorY == u->cursor_y)
		return;
	/* libvncserver 0.9.14 has no call to move the cursor from the server side: set the position it draws the
	 * cursor at for clients without cursor shapes, and send it to clients that take position updates. */
	screen->cursorX = u->cursor_x;
	screen->cursorY = u->cursor_y;
	int64_t now = vnc_now_ns();
	rfbClientIteratorPtr it = rfbGetClientIterator(screen);
	rfbClientPtr cl;
	while ((cl = rfbClientIteratorNext(it))) {
		const struct vnc_client *c = cl->clientData;
		if (cl->enableCursorPosUpdates && c && now - c->pointer_ns > VNC_OWN_POINTER_NS)
			cl->cursorWasMoved = TRUE;
	}
	rfbReleaseClientIterator(it);
}

static void vnc_take(struct vnc_conn *vnc)
{
	struct surface_update u;
	if (!surface_viewer_take(vnc->viewer, &u))
		return;
	vnc_apply_frame(vnc, &u);
	vnc_apply_cursor(vnc, &u);
}

/* ---- from the clients to the surface ---- */

static struct vnc_conn *vnc_of(rfbClientPtr cl)
{
	return cl->screen->screenData;
}

static void vnc_key_send(rfbClientPtr cl, uint32_t code, bool down)
{
	struct vnc_client *c = cl->clientData;
	if (!c || code > KEY_MAX)
		return;
	display_conn_touch(vnc_of(cl)->dc);
	uint8_t bit = (uint8_t)(1u << (code % 8));
	if (down)
		c->keys_down[code / 8] |= bit;
	else
		c->keys_down[code / 8] &= (uint8_t)~bit;
	surface_key(vnc_of(cl)->surface, code, down);
}

/* A keysym says what character the client's user meant, not which key: type it on a US keyboard, holding
 * Shift around it when the character needs Shift and the client holds none. A character that needs no Shift
 * while the client holds one goes as it is (Caps Lock and the like are the client's business). */
static void vnc_keysym(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	if (!c)
		return;
	if (keysym == XK_SHIFT_L)
		c->shift_l = down;
	else if (keysym == XK_SHIFT_R)
		c->shift_r = down;
	bool shift = false;
	int code = keysym_to_evdev(keysym, &shift);
	if (code < 0) {
		log_debug("vnc: keysym 0x%x has no key", (unsigned)keysym);
		return;
	}
	bool wrap = down && shift && !c->shift_l && !c->shift_r;
	if (wrap)
		vnc_key_send(cl, KEY_LEFTSHIFT, true);
	vnc_key_send(cl, (uint32_t)code, down);
	if (wrap)
		vnc_key_send(cl, KEY_LEFTSHIFT, false);
}

/* QEMU extended key events carry the key itself as an XT scancode ("E0 xx" folded into 0x80 | xx). Set 1
 * scancodes below 0x59 are evdev codes already; the extended keys need this table. */
static int vnc_xt_to_evdev(uint32_t xt)
{
	static const uint16_t extended[0x80] = {
	    [0x1c] = KEY_KPENTER,   [0x1d] = KEY_RIGHTCTRL, [0x35] = KEY_KPSLASH, [0x37] = KEY_SYSRQ,
	    [0x38] = KEY_RIGHTALT,  [0x47] = KEY_HOME,      [0x48] = KEY_UP,      [0x49] = KEY_PAGEUP,
	    [0x4b] = KEY_LEFT,      [0x4d] = KEY_RIGHT,     [0x4f] = KEY_END,     [0x50] = KEY_DOWN,
	    [0x51] = KEY_PAGEDOWN,  [0x52] = KEY_INSERT,    [0x53] = KEY_DELETE,  [0x5b] = KEY_LEFTMETA,
	    [0x5c] = KEY_RIGHTMETA, [0x5d] = KEY_COMPOSE,   [0x20] = KEY_MUTE,    [0x2e] = KEY_VOLUMEDOWN,
	    [0x30] = KEY_VOLUMEUP,
	};
	if (xt >= 1 && xt < 0x59 && xt != 0x54 && xt != 0x55)
		return (int)xt;
	if (xt >= 0x80 && xt < 0x100 && extended[xt - 0x80])
		return extended[xt - 0x80];
	return -1;
}

static rfbBool vnc_qemu_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *msg)
{
	(void)data;
	if (msg->type != rfbQemuEvent)
		return FALSE;
	rfbQemuExtendedKeyEventMsg m;
	int n = rfbReadExact(cl, (char *)&m + 1, sz_rfbQemuExtendedKeyEventMsg - 1);
	if (n <= 0) {
		rfbCloseClient(cl);
		return TRUE;
	}
	if (m.subtype != 0) {
		/* Other QEMU messages (audio) have other lengths: the stream cannot be followed past one. */
		log_warn("vnc: client %s sent QEMU message subtype %u; closing it",
			 display_conn_address(vnc_of(cl)->dc), m.subtype);
		rfbCloseClient(cl);
		return TRUE;
	}
	bool down = ntohs(m.down) != 0;
	int code = vnc_xt_to_evdev(ntohl(m.keycode));
	struct vnc_client *c = cl->clientData;
	/* Shift held through a scancode still counts when a later key comes only as a keysym. */
	if (c && code == KEY_LEFTSHIFT)
		c->shift_l = down;
	else if (c && code == KEY_RIGHTSHIFT)
		c->shift_r = down;
	if (code >= 0)
		vnc_key_send(cl, (uint32_t)code, down);
	else
		vnc_keysym(down, ntohl(m.keysym), cl);
	return TRUE;
}

/* The client offered QEMU extended key events: say yes with the empty rectangle of that pseudo-encoding, after
 * which it sends scancodes. It goes out at once, between messages (non-threaded mode: no update is half sent). */
static rfbBool vnc_qemu_enable(rfbClientPtr cl, void **data, int encoding)
{
	(void)data;
	if (encoding != (int)rfbEncodingQemuExtendedKeyEvent)
		return FALSE;
	struct {
		rfbFramebufferUpdateMsg msg;
		rfbFramebufferUpdateRectHeader rect;
	} ack;
	memset(&ack, 0, sizeof(ack));
	ack.msg.type = rfbFramebufferUpdate;
	ack.msg.nRects = htons(1);
	ack.rect.encoding = htonl(rfbEncodingQemuExtendedKeyEvent);
	char buf[sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader];
	memcpy(buf, &ack.msg, sz_rfbFramebufferUpdateMsg);
	memcpy(buf + sz_rfbFramebufferUpdateMsg, &ack.rect, sz_rfbFramebufferUpdateRectHeader);
	if (rfbWriteExact(cl, buf, sizeof(buf)) < 0)
		rfbCloseClient(cl);
	return TRUE;
}

static int vnc_qemu_encodings[] = {(int)rfbEncodingQemuExtendedKeyEvent, 0};
static rfbProtocolExtension vnc_qemu_extension = {
    .pseudoEncodings = vnc_qemu_encodings,
    .enablePseudoEncoding = vnc_qemu_enable,
    .handleMessage = vnc_qemu_message,
};

/* vdi-client lists VNC_CHAN_ENCODING: it is given the token for its private channel's side stream, once, between
 * messages (as the QEMU acknowledgement above). Only with TLS, which the side stream needs. */
static rfbBool vnc_chan_enable(rfbClientPtr cl, void **data, int encoding)
{
	(void)data;
	struct vnc_conn *vnc = vnc_of(cl);
	if (encoding != VNC_CHAN_ENCODING)
		return FALSE;
	if (!vnc->srv->tokens || vnc->chan_token_sent)
		return TRUE;
	char token[VNC_FRONT_TOKEN_MAX + 1];
	int n = vnc_chan_token_issue(vnc->srv->tokens, vnc->dc, token);
	if (n <= 0)
		return TRUE;
	vnc->chan_token_sent = true;
	struct {
		rfbFramebufferUpdateMsg msg;
		rfbFramebufferUpdateRectHeader rect;
	} head;
	memset(&head, 0, sizeof(head));
	head.msg.type = rfbFramebufferUpdate;
	head.msg.nRects = htons(1);
	head.rect.r.w = htons((uint16_t)n);
	head.rect.encoding = htonl(VNC_CHAN_ENCODING);
	char buf[sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader + VNC_FRONT_TOKEN_MAX];
	memcpy(buf, &head.msg, sz_rfbFramebufferUpdateMsg);
	memcpy(buf + sz_rfbFramebufferUpdateMsg, &head.rect, sz_rfbFramebufferUpdateRectHeader);
	memcpy(buf + sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader, token, (size_t)n);
	explicit_bzero(token, sizeof(token));
	if (rfbWriteExact(cl, buf, sz_rfbFramebufferUpdateMsg + sz_rfbFramebufferUpdateRectHeader + n) < 0)
		rfbCloseClient(cl);
	explicit_bzero(buf, sizeof(buf));
	return TRUE;
}

static int vnc_chan_encodings[] = {VNC_CHAN_ENCODING, 0};
static rfbProtocolExtension vnc_chan_extension = {
    .pseudoEncodings = vnc_chan_encodings,
    .enablePseudoEncoding = vnc_chan_enable,
};

static void vnc_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_conn *vnc = vnc_of(cl);
	struct vnc_client *c = cl->clientData;
	if (!c)
		return;
	x = x < 0 ? 0 : (uint32_t)x >= vnc->width ? (int)vnc->width - 1 : x;
	y = y < 0 ? 0 : (uint32_t)y >= vnc->height ? (int)vnc->height - 1 : y;
	uint32_t buttons = (mask & VNC_BUTTON_LEFT ? 1u : 0) | (mask & VNC_BUTTON_RIGHT ? 2u : 0) |
			   (mask & VNC_BUTTON_MIDDLE ? 4u : 0);
	int pressed = mask & ~c->buttons;
	c->buttons = mask;
	c->pointer_ns = vnc_now_ns();
	display_conn_touch(vnc->dc);
	surface_pointer(vnc->surface, x, y, buttons);
	/* The wheel is a button pressed and released per click: count the presses. */
	if (pressed & VNC_WHEEL_UP)
		surface_wheel(vnc->surface, 1, 0);
	if (pressed & VNC_WHEEL_DOWN)
		surface_wheel(vnc->surface, -1, 0);
	if (pressed & VNC_WHEEL_LEFT)
		surface_wheel(vnc->surface, 0, -1);
	if (pressed & VNC_WHEEL_RIGHT)
		surface_wheel(vnc->surface, 0, 1);
	rfbDefaultPtrAddEvent(mask, x, y, cl);
}

/* SetDesktopSize: ask the surface's owner (the VM) for the size. Success here means "asked"; the reply to the
 * client goes out with the new frame when the guest follows. */
static int vnc_set_desktop_size(int width, int height, int nscreens, struct rfbExtDesktopScreen *screens,
				rfbClientPtr cl)
{
	(void)nscreens;
	(void)screens;
	if (width <= 0 || height <= 0 || width > VNC_MAX_DIM || height > VNC_MAX_DIM)
		return rfbExtDesktopSize_InvalidScreenLayout;
	display_conn_request_size(vnc_of(cl)->dc, (uint32_t)width, (uint32_t)height);
	return rfbExtDesktopSize_Success;
}

/* Keys and buttons a client holds would stay held in the surface it leaves (it went, or switched surfaces). */
static void vnc_release_input(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	if (!c)
		return;
	for (uint32_t code = 0; code <= KEY_MAX; code++)
		if (c->keys_down[code / 8] & (1u << (code % 8)))
			vnc_key_send(cl, code, false);
	struct vnc_conn *vnc = vnc_of(cl);
	if (c->buttons & (VNC_BUTTON_LEFT | VNC_BUTTON_MIDDLE | VNC_BUTTON_RIGHT))
		surface_pointer(vnc->surface, cl->screen->cursorX, cl->screen->cursorY, 0);
	c->buttons = 0;
	c->shift_l = c->shift_r = false;
}

static void vnc_client_gone(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	if (!c)
		return;
	vnc_release_input(cl);
	cl->clientData = NULL;
	free(c);
	/* libvncserver 0.9.14 never frees a WebSocket client's context (about 45 KB a connection; fixed upstream
	 * after 0.9.14 by freeing it, and skipping it when NULL, in rfbClientConnectionGone(), which calls us
	 * after the last use of it). */
	free(cl->wsctx);
	cl->wsctx = NULL;
	/* Nor the record of an extension a client enabled (ours: QEMU key events, the private channel); nothing reads
	 * it after us. */
	for (rfbExtensionData **e = &cl->extensions; *e;) {
		rfbExtensionData *d = *e;
		if (d->extension != &vnc_qemu_extension && d->extension != &vnc_chan_extension) {
			e = &d->next;
			continue;
		}
		*e = d->next;
		free(d);
	}
}

static enum rfbNewClientAction vnc_client_new(rfbClientPtr cl)
{
	struct vnc_client *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("vnc: no memory for client %s", display_conn_address(vnc_of(cl)->dc));
		return RFB_CLIENT_REFUSE;
	}
	cl->clientData = c;
	cl->clientGoneHook = vnc_client_gone;
	log_info("vnc: client %s connected", display_conn_address(vnc_of(cl)->dc));
	return RFB_CLIENT_ACCEPT;
}

/* ---- a connection's thread ---- */

/* The connection shows another surface: a new viewer, whose first take is the whole frame. */
static bool vnc_show(struct vnc_conn *vnc, struct surface *s)
{
	struct surface_viewer *viewer = surface_viewer_add(s);
	if (!viewer)
		return false;
	surface_viewer_remove(vnc->viewer);
	vnc->viewer = viewer;
	vnc->surface = s;
	return true;
}

/* A switch or a close the broker asked for. */
static void vnc_conn_event(struct vnc_conn *vnc)
{
	bool close = false;
	struct surface *old = NULL;
	struct surface *next = display_conn_take(vnc->dc, &close, &old);
	if (next) {
		if (vnc->client)
			vnc_release_input(vnc->client);
		if (!vnc_show(vnc, next)) {
			log_error("vnc: %s: cannot switch surfaces; closing", display_conn_address(vnc->dc));
			close = true;
		}
		/* The old viewer is gone; nothing of ours reads `old` any more. */
		surface_destroy(old);
	}
	if (close && vnc->client) {
		/* A BYE for the side stream goes out before the picture's connection ends. */
		display_chan_drain(display_conn_chan(vnc->dc), 1000);
		rfbCloseClient(vnc->client);
	}
}

static void vnc_conn_loop(struct vnc_conn *vnc)
{
	int event = display_conn_event_fd(vnc->dc);
	while (!atomic_load(&vnc->srv->stop) && vnc->screen->clientHead) {
		/* Wait for the client's bytes, the surface or the broker; then let libvncserver read and send. poll(),
		 * not select(): our descriptors live above FD_SETSIZE (common/fd.h). */
		struct pollfd p[4] = {{.fd = vnc->screen->clientHead->sock, .events = POLLIN},
				      {.fd = surface_viewer_wake_fd(vnc->viewer), .events = POLLIN},
				      {.fd = event, .events = POLLIN},
				      {.fd = vnc->srv->stop_fd, .events = POLLIN}};
		int n = poll(p, 4, VNC_POLL_MS);
		if (n > 0 && p[2].revents)
			vnc_conn_event(vnc);
		if (n > 0 && (p[1].revents || p[2].revents))
			vnc_take(vnc);
		vnc_fit_fb(vnc);
		rfbProcessEvents(vnc->screen, 0);
		display_conn_chan_tick(vnc->dc);
		/* libvncserver frees a closed client on the next round; rfbProcessEvents did it, or will. */
		if (vnc->client && vnc->screen->clientHead != vnc->client)
			vnc->client = NULL;
		if (!vnc->handshaken && vnc->client && vnc->client->state == RFB_NORMAL) {
			vnc->handshaken = true;
			conn_deadline_disarm(&vnc->deadline);
		}
	}
}

/* The client hears why it is refused in its own protocol (an RFB 3.3 failure, or HTTP for a WebSocket client,
 * which spoke first) rather than the server failing. Closes sock. */
static void vnc_refuse(int sock, bool spoke_first, const char *address, const char *reason)
{
	char buf[256];
	size_t len = strlen(reason) < 128 ? strlen(reason) : 128;
	int n =
	    spoke_first
		? snprintf(buf, sizeof(buf),
			   "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%.*s",
			   len, (int)len, reason)
		: snprintf(buf, sizeof(buf), "RFB 003.003\n%c%c%c%c%c%c%c%c%.*s", 0, 0, 0, 0, 0, 0, 0, (int)len,
			   (int)len, reason);
	if (send(sock, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("vnc: %s: %s", address, strerror(errno));
	close(sock);
}

/* Every low descriptor is taken. */
static void vnc_refuse_full(struct conn_limit *limit, int sock, bool spoke_first, const char *address)
{
	conn_limit_log_refusal(limit, "vnc", address, "no descriptor below 1024 is free for libvncserver");
	vnc_refuse(sock, spoke_first, address, conn_verdict_reason(CONN_FULL));
}

/* The screen of one connection, at the size of the surface's first frame, handed the accepted socket. */
static bool vnc_conn_screen(struct vnc_conn *vnc)
{
	struct surface_update u;
	surface_viewer_take(vnc->viewer, &u);
	bool have_frame = u.pixels && u.width && u.height && u.width <= VNC_MAX_DIM && u.height <= VNC_MAX_DIM;
	vnc->width = have_frame ? u.width : VNC_EMPTY_WIDTH;
	vnc->height = have_frame ? u.height : VNC_EMPTY_HEIGHT;
	/* Before the handshake a shared picture is shown as it is; otherwise a frame buffer of our own. */
	vnc->picture = have_frame ? surface_picture_ref(u.picture) : NULL;
	vnc->fb = vnc->picture ? NULL : vnc_fb_alloc(vnc->width, vnc->height);
	if (!vnc->fb && !vnc->picture)
		return false;
	int argc = 1;
	char *argv[] = {"vdi-server", NULL};
	vnc->screen = rfbGetScreen(&argc, argv, (int)vnc->width, (int)vnc->height, 8, 3, 4);
	if (!vnc->screen)
		return false;
	rfbScreenInfoPtr screen = vnc->screen;
	vnc_set_format(screen);
	screen->frameBuffer = vnc->picture ? (char *)surface_picture_pixels(vnc->picture) : vnc->fb;
	screen->screenData = vnc;
	screen->desktopName = "vdi";
	screen->alwaysShared = TRUE;
	/* No listening of its own: the connection is already accepted. */
	screen->autoPort = FALSE;
	screen->port = 0;
	screen->ipv6port = 0;
	screen->httpPort = 0;
	screen->ptrAddEvent = vnc_pointer;
	screen->kbdAddEvent = vnc_keysym;
	screen->newClientHook = vnc_client_new;
	screen->setDesktopSizeHook = vnc_set_desktop_size;
	screen->cursor = NULL;
	/* noVNC over wss://: libvncserver terminates that TLS itself (GnuTLS), with the same identity. */
	screen->sslcertfile = vnc->srv->cert_path;
	screen->sslkeyfile = vnc->srv->key_path;
	/* Updates go out as soon as the client asks; the surface already merges damage while it is busy. */
	screen->deferUpdateTime = 0;
	rfbInitServer(screen);
	vnc_apply_frame(vnc, &u);
	vnc_apply_cursor(vnc, &u);
	/* Sniffs for WebSocket (up to 100 ms), sends the RFB version; closes the socket itself on failure. */
	int sock = vnc->sock;
	vnc->sock = -1;
	vnc->lib_fd = sock;
	vnc->client = rfbNewClient(screen, sock);
	return vnc->client != NULL;
}

static void *vnc_conn_thread(void *opaque)
{
	struct vnc_conn *vnc = opaque;
	struct vnc_server *srv = vnc->srv;
	struct display_conn_info info = {0};
	struct vnc_front_credentials creds = {0};
	struct surface *s = NULL;
	char token[VNC_FRONT_TOKEN_MAX + 1];
	int rc = srv->tls ? vnc_front_handshake(srv->tls, vnc->sock, srv->stop_fd, display_conn_address(vnc->dc),
						&vnc->front, &creds, token)
			  : 1;
	if (rc <= 0 || rc == 2)
		vnc->sock = -1; /* the front's now, or closed */
	if (rc == 2) {
		/* A side stream of vdi's private channel: no picture of its own, and its handshake (TLS, the
		 * token) is over, so its time limit is too. */
		conn_deadline_disarm(&vnc->deadline);
		vnc_chan_serve(srv->tokens, vnc->front, token, display_conn_address(vnc->dc));
		explicit_bzero(token, sizeof(token));
		vnc->front = NULL;
		rc = -ECONNRESET;
	}
	if (rc == 1) {
		/* libvncserver takes the client's socket as it is, and can only hold a low one. */
		int low = fd_move_low(vnc->sock);
		if (low < 0)
			vnc_refuse_full(srv->limit, vnc->sock, srv->tls != NULL, display_conn_address(vnc->dc));
		vnc->sock = low;
		rc = low < 0 ? low : rc;
	}
	if (rc >= 0) {
		info.user = creds.given ? creds.user : NULL;
		info.password = creds.given ? creds.password : NULL;
		s = display_conn_open(vnc->dc, &info);
		explicit_bzero(&creds, sizeof(creds));
		if (!s)
			log_info("vnc: %s refused", display_conn_address(vnc->dc));
		/* What the broker took is not the client's; the rest of the handshake (ClientInit) gets its own. */
		if (s && !vnc->handshaken && srv->handshake_timeout_s)
			conn_deadline_arm(&vnc->deadline, -1, srv->handshake_timeout_s, "VNC handshake",
					  display_conn_address(vnc->dc));
	}
	/* Behind the front, libvncserver gets the relay's plain end once the client heard it is in. */
	if (vnc->front && (vnc_front_result(vnc->front, s ? NULL : "the server refused the connection") < 0 ||
			   (vnc->sock = vnc_front_relay(vnc->front)) < 0))
		s = NULL;
	if (s && vnc_show(vnc, s) && vnc_conn_screen(vnc))
		vnc_conn_loop(vnc);
	if (atomic_load(&srv->stop))
		display_conn_shutdown(vnc->dc, 1000);
	if (srv->tokens)
		vnc_chan_token_revoke(srv->tokens, vnc->dc);
	if (vnc->screen) {
		/* Closed and freed the usual way, so vnc_client_gone() runs (rfbShutdownServer() would skip it). */
		if (vnc->screen->clientHead) {
			rfbCloseClient(vnc->screen->clientHead);
			rfbProcessEvents(vnc->screen, 0);
		}
		rfbShutdownServer(vnc->screen, TRUE);
		rfbScreenCleanup(vnc->screen);
	}
	if (vnc->sock >= 0) {
		close(vnc->sock);
		fd_release_low(vnc->sock);
	}
	if (vnc->lib_fd > 0)
		fd_release_low(vnc->lib_fd);
	vnc_front_close(vnc->front);
	surface_viewer_remove(vnc->viewer);
	log_info("vnc: %s disconnected", display_conn_address(vnc->dc));
	conn_deadline_disarm(&vnc->deadline);
	if (vnc->counted)
		conn_limit_release(srv->limit, (struct sockaddr *)&vnc->sa, vnc->salen);
	display_conn_end(vnc->dc);
	free(vnc->fb);
	surface_picture_unref(vnc->picture);
	free(vnc);
	pthread_mutex_lock(&srv->lock);
	bool none_left = !--srv->nconns;
	pthread_cond_broadcast(&srv->conns_gone);
	pthread_mutex_unlock(&srv->lock);
	mem_trim_after_close(none_left);
	return NULL;
}

/* ---- the listener ---- */

/* The client's address as people write it: an IPv4 client on the dual-stack socket without its ::ffff: prefix. */
static void vnc_address(const struct sockaddr_storage *sa, socklen_t len, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	getnameinfo((const struct sockaddr *)sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	const char *h = strncmp(host, "::ffff:", 7) == 0 && strchr(host + 7, '.') ? host + 7 : host;
	snprintf(out, size, "%s", h);
}

static void vnc_accept(struct vnc_server *srv)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int sock = accept4(srv->listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("vnc: accept: %s", strerror(errno));
		return;
	}
	sock = fd_move_high(sock);
	char address[64];
	vnc_address(&sa, len, address, sizeof(address));
	/* Counted before anything is spent on the client; a refused one hears why. */
	enum conn_verdict v = conn_limit_acquire(srv->limit, (struct sockaddr *)&sa, len);
	if (v != CONN_OK) {
		conn_limit_log_refusal(srv->limit, "vnc", address, conn_verdict_reason(v));
		vnc_refuse(sock, false, address, conn_verdict_reason(v));
		return;
	}
	struct vnc_conn *vnc = calloc(1, sizeof(*vnc));
	if (vnc)
		vnc->dc = display_conn_new(&srv->hooks, "vnc", address);
	if (!vnc || !vnc->dc) {
		log_warn("vnc: refusing %s: no memory", address);
		conn_limit_release(srv->limit, (struct sockaddr *)&sa, len);
		if (vnc)
			display_conn_end(vnc->dc);
		free(vnc);
		close(sock);
		return;
	}
	vnc->srv = srv;
	vnc->sock = sock;
	vnc->sa = sa;
	vnc->salen = len;
	vnc->counted = true;
	if (srv->handshake_timeout_s)
		conn_deadline_arm(&vnc->deadline, sock, srv->handshake_timeout_s, "VNC handshake", address);
	pthread_attr_t attr;
	pthread_t thread;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&srv->lock);
	int err = pthread_create(&thread, &attr, vnc_conn_thread, vnc);
	if (!err)
		srv->nconns++;
	pthread_mutex_unlock(&srv->lock);
	pthread_attr_destroy(&attr);
	if (err) {
		log_error("vnc: cannot start a connection thread: %s", strerror(err));
		conn_deadline_disarm(&vnc->deadline);
		conn_limit_release(srv->limit, (struct sockaddr *)&sa, len);
		display_conn_end(vnc->dc);
		close(sock);
		free(vnc);
	}
}

static void *vnc_listen_thread(void *opaque)
{
	struct vnc_server *srv = opaque;
	while (!atomic_load(&srv->stop)) {
		struct pollfd fds[2] = {{.fd = srv->listen_fd, .events = POLLIN},
					{.fd = srv->stop_fd, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (fds[0].revents)
			vnc_accept(srv);
	}
	return NULL;
}

/* A listening socket on `bind` (every address, IPv6 and IPv4, when NULL) and port. */
static int vnc_listen(const char *bind_address, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo *list = NULL;
	if (!bind_address)
		hints.ai_family = AF_INET6;
	int r = getaddrinfo(bind_address, service, &hints, &list);
	if (r && !bind_address) {
		hints.ai_family = AF_INET;
		r = getaddrinfo(NULL, service, &hints, &list);
	}
	if (r) {
		log_error("vnc: cannot listen on %s port %d: %s", bind_address ? bind_address : "every address", port,
			  gai_strerror(r));
		return -EINVAL;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1, zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(list);
	if (fd < 0) {
		log_error("vnc: cannot listen on port %d: %s", port, strerror(err));
		return -err;
	}
	return fd;
}

static void vnc_register_extension(void)
{
	rfbLog = vnc_log_info;
	rfbErr = vnc_log_error;
	rfbRegisterProtocolExtension(&vnc_qemu_extension);
	rfbRegisterProtocolExtension(&vnc_chan_extension);
}

struct vnc_server *vnc_server_start(const struct display_hooks *hooks, const struct display_listen *listen,
				    const struct vnc_security *security)
{
	const char *cert_path = security ? security->cert_path : NULL, *key_path = security ? security->key_path : NULL;
	if (security && security->require_tls && (!cert_path || !key_path)) {
		log_error("vnc: TLS is required but there is no certificate and key");
		return NULL;
	}
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (!hooks || !listen || listen->port <= 0 || listen->port > 65535)
		return NULL;
	pthread_once(&once, vnc_register_extension);
	struct vnc_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->hooks = *hooks;
	srv->port = listen->port;
	srv->limit = listen->limit;
	srv->handshake_timeout_s = listen->handshake_timeout_s;
	srv->listen_fd = -1;
	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->stop_fd < 0 || (cert_path && key_path && !(srv->tls = vnc_tls_new(cert_path, key_path))))
		goto fail;
	if (srv->tls && (!(srv->cert_path = strdup(cert_path)) || !(srv->key_path = strdup(key_path)) ||
			 !(srv->tokens = vnc_chan_tokens_new())))
		goto fail;
	if (srv->tls && security->require_tls)
		vnc_tls_require(srv->tls);
	srv->listen_fd = vnc_listen(listen->bind, listen->port);
	if (srv->stop_fd < 0 || srv->listen_fd < 0)
		goto fail;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->conns_gone, NULL);
	int err = pthread_create(&srv->thread, NULL, vnc_listen_thread, srv);
	if (err) {
		log_error("vnc: cannot start its thread: %s", strerror(err));
		pthread_cond_destroy(&srv->conns_gone);
		pthread_mutex_destroy(&srv->lock);
		goto fail;
	}
	log_info("vnc: listening on port %d (%s)", listen->port,
		 !srv->tls               ? "RFB and WebSocket, no TLS"
		 : security->require_tls ? "RFB with VeNCrypt X509Plain and WebSocket over TLS, TLS required"
					 : "RFB with VeNCrypt X509Plain or None, WebSocket with or without TLS");
	return srv;
fail:
	vnc_chan_tokens_free(srv->tokens);
	vnc_tls_free(srv->tls);
	free(srv->cert_path);
	free(srv->key_path);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	free(srv);
	return NULL;
}

void vnc_server_stop(struct vnc_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stop, true);
	uint64_t one = 1;
	ssize_t n = write(srv->stop_fd, &one, sizeof(one));
	(void)n;
	pthread_join(srv->thread, NULL);
	close(srv->listen_fd);
	pthread_mutex_lock(&srv->lock);
	while (srv->nconns)
		pthread_cond_wait(&srv->conns_gone, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	close(srv->stop_fd);
	vnc_chan_tokens_free(srv->tokens);
	vnc_tls_free(srv->tls);
	free(srv->cert_path);
	free(srv->key_path);
	pthread_cond_destroy(&srv->conns_gone);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
