/* vnc.c — a VNC session through libvncclient: VeNCrypt X509Plain (the certificate checked first by
 * vnc_probe), Tight with JPEG, ZRLE, the rich cursor as the window's cursor, updates copied to the window
 * rectangle by rectangle, QEMU extended key events (scancodes) where the server takes them and keysyms
 * otherwise, and SetDesktopSize when the window is resized. */
#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#define VNC_HANDSHAKE_S 20

struct vnc_session {
	const struct client_opts *o;
	const struct tls_policy *p;
	struct client_chan *ch;
	struct vnc_side *side; /* the private channel's side stream, once the server gave its token */
	struct window *w;
	const char *ca_file;
	bool updated;
	int x, y;
	uint32_t buttons;
	rfbBool (*default_malloc)(rfbClient *client);
};

static int tag; /* the address keys the session in libvncclient's client data */

static struct vnc_session *session_of(rfbClient *client)
{
	return rfbClientGetClientData(client, &tag);
}

static void log_quiet(const char *format, ...)
{
	(void)format;
}

static void log_error(const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	fputs("vdi-client: vnc: ", stderr);
	vfprintf(stderr, format, ap);
	va_end(ap);
}

static rfbCredential *get_credential(rfbClient *client, int type)
{
	struct vnc_session *s = session_of(client);
	rfbCredential *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (type == rfbCredentialTypeX509) {
		c->x509Credential.x509CACertFile = strdup(s->ca_file);
		c->x509Credential.x509CrlVerifyMode = rfbX509CrlVerifyNone;
		if (c->x509Credential.x509CACertFile)
			return c;
	} else if (type == rfbCredentialTypeUser) {
		c->userCredential.username = strdup(s->o->user);
		c->userCredential.password = strdup(s->o->password);
		if (c->userCredential.username && c->userCredential.password)
			return c;
		free(c->userCredential.username);
		free(c->userCredential.password);
	}
	free(c);
	return NULL;
}

/* libvncclient allocates the framebuffer at connect and on every desktop size change. */
static rfbBool malloc_framebuffer(rfbClient *client)
{
	struct vnc_session *s = session_of(client);
	if (client->width <= 0 || client->height <= 0 || client->width > 8192 || client->height > 8192)
		return FALSE;
	if (!s->default_malloc(client))
		return FALSE;
	memset(client->frameBuffer, 0, (size_t)client->width * client->height * 4);
	return window_set_desktop_size(s->w, (uint32_t)client->width, (uint32_t)client->height) == 0;
}

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
	struct vnc_session *s = session_of(client);
	window_update(s->w, client->frameBuffer, (uint32_t)client->width * 4, x, y, w, h);
	s->updated = true;
}

/* The cursor's pixels are in the framebuffer's format (0x00RRGGBB) with a mask of one byte a pixel. */
static void got_cursor(rfbClient *client, int xhot, int yhot, int width, int height, int bpp)
{
	struct vnc_session *s = session_of(client);
	if (bpp != 4 || !client->rcSource || !client->rcMask || width <= 0 || height <= 0 || width > 512 ||
	    height > 512)
		return;
	uint32_t *argb = malloc((size_t)width * height * 4);
	if (!argb)
		return;
	const uint32_t *src = (const uint32_t *)client->rcSource;
	for (size_t i = 0; i < (size_t)width * height; i++)
		argb[i] = client->rcMask[i] ? (src[i] & 0xffffff) | 0xff000000u : 0;
	window_set_cursor(s->w, argb, width, height, xhot, yhot);
	free(argb);
}

/* The server's token for the private channel's side stream (common/channel.h): a rectangle of our pseudo-encoding
 * whose width is the token's length. */
static rfbBool got_channel_token(rfbClient *client, rfbFramebufferUpdateRectHeader *rect)
{
	if (rect->encoding != CHANNEL_RFB_ENCODING)
		return FALSE;
	struct vnc_session *s = session_of(client);
	char token[CHANNEL_TOKEN_MAX + 1];
	if (rect->r.w == 0 || rect->r.w > CHANNEL_TOKEN_MAX || !ReadFromRFBServer(client, token, rect->r.w))
		return FALSE;
	token[rect->r.w] = '\0';
	if (s && !s->side && strlen(token) == rect->r.w)
		s->side = vnc_side_start(s->o, s->p, s->ch, token);
	memset(token, 0, sizeof(token));
	return TRUE;
}

static int channel_encodings[] = {CHANNEL_RFB_ENCODING, 0};
static rfbClientProtocolExtension channel_extension = {
    .encodings = channel_encodings,
    .handleEncoding = got_channel_token,
};

static void send_key(void *arg, uint32_t scancode, uint32_t keysym, bool down)
{
	rfbClient *client = arg;
	uint32_t xt = (scancode & 0x7f) | (scancode & 0x100 ? 0x80 : 0);
	if (scancode && SendExtendedKeyEvent(client, keysym, xt, down))
		return;
	if (keysym)
		SendKeyEvent(client, keysym, down);
}

static void send_pointer(void *arg, int x, int y, uint32_t buttons, uint32_t changed)
{
	rfbClient *client = arg;
	struct vnc_session *s = session_of(client);
	(void)changed;
	s->x = x < 0 ? 0 : x >= client->width ? client->width - 1 : x;
	s->y = y < 0 ? 0 : y >= client->height ? client->height - 1 : y;
	s->buttons = buttons;
	SendPointerEvent(client, s->x, s->y, (int)buttons);
}

/* RFB's wheel is buttons 4 and 5 (up, down), 6 and 7 (left, right), each click a press and a release. */
static void send_wheel(void *arg, int dx, int dy)
{
	rfbClient *client = arg;
	struct vnc_session *s = session_of(client);
	for (int axis = 0; axis < 2; axis++) {
		int n = axis ? dx : dy;
		int bit = axis ? (n > 0 ? 1 << 6 : 1 << 5) : (n > 0 ? 1 << 3 : 1 << 4);
		for (int i = 0; i < (n < 0 ? -n : n) && i < 20; i++) {
			SendPointerEvent(client, s->x, s->y, (int)s->buttons | bit);
			SendPointerEvent(client, s->x, s->y, (int)s->buttons);
		}
	}
}

static void request_size(void *arg, uint32_t width, uint32_t height)
{
	rfbClient *client = arg;
	if ((int)width != client->width || (int)height != client->height)
		SendExtDesktopSize(client, (uint16_t)width, (uint16_t)height);
}

static int session_loop(rfbClient *client, struct vnc_session *s, struct client_error *e)
{
	struct input_sink sink = {
	    .arg = client, .key = send_key, .pointer = send_pointer, .wheel = send_wheel, .resize = request_size};
	s->ch->established = true;
	for (;;) {
		uint32_t reason;
		char why[CHANNEL_TEXT_MAX + 1];
		if (client_chan_said_bye(s->ch, &reason, why, sizeof(why)))
			return client_fail(e, CLIENT_OK, "the server ended the connection: %s", why);
		int n = WaitForMessage(client, 10000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(client))) {
			/* A quit interrupts the wait (SIGTERM becomes SDL's quit event, and the read sees EINTR): the
			 * user's end, not a loss. */
			if (window_poll(s->w, &sink, 0)) {
				s->ch->user_closed = true;
				return CLIENT_OK;
			}
			/* The server writes its BYE to the side stream before it closes this connection. */
			vnc_side_stop(s->side, 1000);
			s->side = NULL;
			if (client_chan_said_bye(s->ch, &reason, why, sizeof(why)))
				return client_fail(e, CLIENT_OK, "the server ended the connection: %s", why);
			/* A server with the channel says why it ends a session: an end without a word is a loss. */
			pthread_mutex_lock(&s->ch->lock);
			bool said_hello = s->ch->open;
			pthread_mutex_unlock(&s->ch->lock);
			if (said_hello)
				return client_fail(e, CLIENT_PROTOCOL, "the VNC connection broke");
			return client_fail(e, CLIENT_OK, "the VNC server closed the session");
		}
		if (s->updated) {
			s->updated = false;
			window_present(s->w);
		}
		if (window_poll(s->w, &sink, 0)) {
			s->ch->user_closed = true;
			return CLIENT_OK;
		}
	}
}

int vnc_run(const struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
	    struct client_error *e)
{
	char ca[4096];
	bool ca_is_temp = false;
	int rc = vnc_probe(o, p, ca, sizeof(ca), &ca_is_temp, e);
	if (rc)
		return rc;
	struct vnc_session s = {.o = o, .p = p, .ch = ch, .w = w, .ca_file = ca};
	static bool registered;
	if (!registered) {
		rfbClientRegisterExtension(&channel_extension);
		registered = true;
	}
	rfbClientLog = log_quiet;
	rfbClientErr = log_error;
	rfbClient *client = rfbGetClient(8, 3, 4);
	if (!client) {
		rc = client_fail(e, CLIENT_FAILED, "cannot create a VNC client");
		goto out;
	}
	rfbClientSetClientData(client, &tag, &s);
	/* 0x00RRGGBB in memory order B, G, R, X: the window's texture format. */
	client->format.redShift = 16;
	client->format.greenShift = 8;
	client->format.blueShift = 0;
	client->appData.encodingsString = "tight zrle copyrect hextile raw";
	client->appData.useRemoteCursor = TRUE;
	client->appData.enableJPEG = !o->lossless;
	client->appData.qualityLevel = 9;
	client->appData.compressLevel = 1;
	client->connectTimeout = 10;
	client->readTimeout = VNC_HANDSHAKE_S;
	client->GetCredential = get_credential;
	static const uint32_t vencrypt[] = {rfbVeNCrypt};
	SetClientAuthSchemes(client, vencrypt, 1);
	s.default_malloc = client->MallocFrameBuffer;
	client->MallocFrameBuffer = malloc_framebuffer;
	client->GotFrameBufferUpdate = got_update;
	client->GotCursorShape = got_cursor;
	client->serverHost = strdup(o->host);
	client->serverPort = o->port;
	int argc = 1;
	char *argv[] = {"vdi-client", NULL};
	char msg[CLIENT_HOST_MAX + 64];
	snprintf(msg, sizeof(msg), "%s:%d did not finish the VNC handshake within %d s", o->host, o->port,
		 VNC_HANDSHAKE_S);
	watchdog_arm(VNC_HANDSHAKE_S, msg);
	bool ok = client->serverHost && rfbInitClient(client, &argc, argv); /* frees the client on failure */
	watchdog_disarm();
	if (!ok) {
		rc = client_fail(e, CLIENT_PROTOCOL, "the VNC login at %s:%d failed", o->host, o->port);
		goto out;
	}
	rc = session_loop(client, &s, e);
	rfbClientCleanup(client);
	vnc_side_stop(s.side, 0);
out:
	if (ca_is_temp)
		unlink(ca);
	return rc;
}
