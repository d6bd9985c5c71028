/* display.c — `make bench` figures for the display gateway's codecs on canned 1920x1080 workloads: server CPU,
 * megapixels per second per core, bytes and PSNR per frame, VNC through our server and a real client, RDP
 * through the encoders the server uses, through the server's whole GFX pipeline (display/rdp_gfx.c, with and
 * without SurfaceToSurface for moved content) and through its path for clients without GFX (display/rdp_classic.c,
 * for a client taking RemoteFX), their output applied as a client would. */
#include "../../common/log.h"
#include "../../display/display.h"
#include "../../display/rdp_avc.h"
#include "../../display/rdp_classic.h"
#include "../../display/rdp_gfx.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>

#include <freerdp/codec/color.h>
#include <freerdp/codec/h264.h>
#include <freerdp/codec/planar.h>
#include <freerdp/codec/region.h>
#include <freerdp/codec/rfx.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <rfb/rfbclient.h>
#include <winpr/stream.h>

#define W            1920u
#define H            1080u
#define STRIDE       (W * 4u)
#define FRAMES       40
/* Video runs three times as long: H.264's rate control lets a stream's first frames borrow up to half a second of
 * its budget (display/rdp_avc.c), which 40 frames would count as the steady rate. */
#define VIDEO_FRAMES 120
#define MAXRECT      4
#define TILE         64 /* display/rdp.c's planar tile */

enum workload { TYPING, SCROLL, DRAG, REGION, FULL, NWORKLOADS };
static const char *workload_name[] = {"typing", "scrolling", "window drag", "video 640x360", "video full"};

struct rect {
	uint32_t x, y, w, h;
};

/* ---- the canned workloads: each pixel a pure function of (workload, frame, x, y) ---- */

static uint32_t hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352du;
	v ^= v >> 15;
	v *= 0x846ca68bu;
	v ^= v >> 16;
	return v;
}

static uint32_t bgrx(uint32_t r, uint32_t g, uint32_t b)
{
	return b | g << 8 | r << 16;
}

static uint32_t desktop(uint32_t x, uint32_t y)
{
	/* icons on a grid, as a desktop has, so the background is not one flat gradient */
	if (x % 96 >= 24 && x % 96 < 72 && y % 112 >= 24 && y % 112 < 72 && x < 192) {
		uint32_t h = hash32(y / 112 * 7 + x / 96);
		return bgrx(h & 255, h >> 8 & 255, h >> 16 & 255);
	}
	return bgrx(30 + x * 60 / W, 70 + y * 60 / H, 120);
}

/* Glyph-like ink: an 8x16 cell of character c with anti-aliased edges, 9x18 with spacing. */
static uint32_t glyph(uint32_t c, uint32_t gx, uint32_t gy, uint32_t paper)
{
	if (c == ' ' || gx >= 7 || gy < 3 || gy >= 15)
		return paper;
	uint32_t h = hash32(c * 131u + (gy / 2) * 8u + gx);
	if ((h & 3) == 0)
		return bgrx(32, 32, 32);
	if ((h & 7) == 1)
		return bgrx(150, 150, 150);
	return paper;
}

static uint32_t text_char(uint32_t i)
{
	uint32_t h = hash32(i * 2654435761u);
	return h % 6 == 0 ? ' ' : 33 + h % 94;
}

/* A window: title bar, white body; *bx, *by are body coordinates when it returns 0. */
static int window_part(uint32_t x, uint32_t y, uint32_t wx, uint32_t wy, uint32_t ww, uint32_t wh, uint32_t *px)
{
	if (x < wx || y < wy || x >= wx + ww || y >= wy + wh)
		return 0;
	if (y < wy + 24) {
		*px = x >= wx + ww - 20 && x < wx + ww - 6 && y >= wy + 5 && y < wy + 19 ? bgrx(200, 60, 50)
											 : bgrx(60, 70, 90);
		return 1;
	}
	return 2;
}

static uint32_t tri(uint32_t v)
{
	return v & 256 ? 255 - (v & 255) : v & 255;
}

/* Smoothly moving gradients with sensor-like noise: what a video player shows. */
static uint32_t video(uint32_t k, uint32_t x, uint32_t y)
{
	int n = (int)(hash32(x * 7919u + y * 104729u + k * 15485863u) & 15) - 8;
	int r = (int)tri(x / 3 + k * 5) + n, g = (int)tri(y / 2 + x / 7 + k * 4) + n,
	    b = (int)tri((x + y) / 4 + k * 7) + n;
	r = r < 0 ? 0 : r > 255 ? 255 : r;
	g = g < 0 ? 0 : g > 255 ? 255 : g;
	b = b < 0 ? 0 : b > 255 ? 255 : b;
	return bgrx((uint32_t)r, (uint32_t)g, (uint32_t)b);
}

#define TYPE_X    200u
#define TYPE_Y    150u
#define TYPE_W    1000u
#define TYPE_H    700u
#define TYPE_COLS ((TYPE_W - 16) / 9)
#define TYPED0    300u /* characters already in the window at frame 0 */
#define SCROLL_X  160u
#define SCROLL_Y  90u
#define SCROLL_W  1600u
#define SCROLL_H  900u
#define DRAG_W    640u
#define DRAG_H    480u
#define VID_X     640u
#define VID_Y     360u
#define VID_W     640u
#define VID_H     360u

static int frames(enum workload wl)
{
	return wl == REGION || wl == FULL ? VIDEO_FRAMES : FRAMES;
}

/* A drag at a changing pace, as a hand moves a mouse: no two frames in a row need be the same move. */
static uint32_t drag_x(uint32_t k)
{
	return 200 + 16 * k + 4 * (k % 3);
}

static uint32_t drag_y(uint32_t k)
{
	return 100 + 8 * k + 2 * (k % 4);
}

static uint32_t pixel(enum workload wl, uint32_t k, uint32_t x, uint32_t y)
{
	uint32_t px;
	int part;
	switch (wl) {
	case TYPING:
		part = window_part(x, y, TYPE_X, TYPE_Y, TYPE_W, TYPE_H, &px);
		if (part == 1)
			return px;
		if (part == 2) {
			uint32_t white = bgrx(255, 255, 255);
			if (x < TYPE_X + 8 || y < TYPE_Y + 32 || x >= TYPE_X + 8 + TYPE_COLS * 9)
				return white;
			uint32_t col = (x - TYPE_X - 8) / 9, row = (y - TYPE_Y - 32) / 18;
			uint32_t i = row * TYPE_COLS + col, typed = TYPED0 + k;
			if (i < typed)
				return glyph(text_char(i), (x - TYPE_X - 8) % 9, (y - TYPE_Y - 32) % 18, white);
			if (i == typed && (x - TYPE_X - 8) % 9 < 2)
				return bgrx(0, 0, 0); /* the caret */
			return white;
		}
		return desktop(x, y);
	case SCROLL:
		part = window_part(x, y, SCROLL_X, SCROLL_Y, SCROLL_W, SCROLL_H, &px);
		if (part == 1)
			return px;
		if (part == 2) {
			uint32_t white = bgrx(255, 255, 255);
			uint32_t yy = y - SCROLL_Y - 24 + k * 18, line = yy / 18, col = (x - SCROLL_X) / 9;
			if (col >= hash32(line) % 177)
				return white;
			return glyph(text_char(line * 177 + col), (x - SCROLL_X) % 9, yy % 18, white);
		}
		return desktop(x, y);
	case DRAG:
		part = window_part(x, y, drag_x(k), drag_y(k), DRAG_W, DRAG_H, &px);
		if (part == 1)
			return px;
		if (part == 2) {
			uint32_t bx = x - drag_x(k), by = y - drag_y(k) - 24, white = bgrx(255, 255, 255);
			if (by / 18 % 3 == 2)
				return white;
			return glyph(text_char(by / 18 * 71 + bx / 9), bx % 9, by % 18, white);
		}
		return desktop(x, y);
	case REGION:
		if (x >= VID_X && y >= VID_Y && x < VID_X + VID_W && y < VID_Y + VID_H)
			return video(k, x, y);
		return desktop(x, y);
	case FULL:
	default:
		return video(k, x, y);
	}
}

/* What frame k (k >= 1) changed since frame k - 1: disjoint rectangles. */
static uint32_t damage(enum workload wl, uint32_t k, struct rect *r)
{
	switch (wl) {
	case TYPING: {
		/* the new character's cell and the caret's new cell (perhaps on the next line) */
		uint32_t n = 0;
		for (uint32_t i = TYPED0 + k - 1; i <= TYPED0 + k; i++)
			r[n++] = (struct rect){TYPE_X + 8 + i % TYPE_COLS * 9, TYPE_Y + 32 + i / TYPE_COLS * 18, 9, 18};
		return n;
	}
	case SCROLL:
		r[0] = (struct rect){SCROLL_X, SCROLL_Y + 24, SCROLL_W, SCROLL_H - 24};
		return 1;
	case DRAG:
		/* where the window was and is: the moves are small, so their bounding box is about their union */
		r[0] = (struct rect){drag_x(k - 1), drag_y(k - 1), DRAG_W + drag_x(k) - drag_x(k - 1),
				     DRAG_H + drag_y(k) - drag_y(k - 1)};
		return 1;
	case REGION:
		r[0] = (struct rect){VID_X, VID_Y, VID_W, VID_H};
		return 1;
	case FULL:
	default:
		r[0] = (struct rect){0, 0, W, H};
		return 1;
	}
}

static void render(enum workload wl, uint32_t k, const struct rect *r, uint8_t *fb)
{
	for (uint32_t y = r->y; y < r->y + r->h; y++) {
		uint32_t *row = (uint32_t *)(fb + (size_t)y * STRIDE);
		for (uint32_t x = r->x; x < r->x + r->w; x++)
			row[x] = pixel(wl, k, x, y);
	}
}

static uint64_t area(const struct rect *r, uint32_t n)
{
	uint64_t a = 0;
	for (uint32_t i = 0; i < n; i++)
		a += (uint64_t)r[i].w * r[i].h;
	return a;
}

/* Squared error over the rectangles between a decoded frame (bytes r_off, g_off, b_off within each pixel) and
 * the BGRX source. */
static double sse(const uint8_t *dec, size_t dec_stride, int r_off, int g_off, int b_off, const uint8_t *src,
		  const struct rect *rects, uint32_t n)
{
	double e = 0;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t y = rects[i].y; y < rects[i].y + rects[i].h; y++) {
			const uint8_t *d = dec + y * dec_stride + (size_t)rects[i].x * 4;
			const uint8_t *s = src + (size_t)y * STRIDE + (size_t)rects[i].x * 4;
			uint64_t row = 0;
			for (uint32_t x = 0; x < rects[i].w; x++, d += 4, s += 4) {
				int dr = d[r_off] - s[2], dg = d[g_off] - s[1], db = d[b_off] - s[0];
				row += (uint64_t)(dr * dr + dg * dg + db * db);
			}
			e += (double)row;
		}
	return e;
}

/* ---- results ---- */

struct result {
	double cpu_s;   /* server (or encoder) CPU over the measured frames */
	uint64_t bytes; /* on the wire (VNC) or encoded (RDP) */
	uint64_t pixels;
	double sse;
	uint64_t samples; /* channel samples the squared error is over */
	int frames;
	/* GFX: the frames that sent H.264, their CPU and bytes, the largest picture */
	int h264_frames;
	double h264_cpu_s;
	uint64_t h264_bytes;
	uint32_t h264_w, h264_h;
	bool failed;
};

/* `make bench` links no libm: the natural logarithm by halving into [1, 2) and the atanh series. */
static double ln(double x)
{
	double e = 0;
	while (x >= 2) {
		x /= 2;
		e++;
	}
	while (x < 1) {
		x *= 2;
		e--;
	}
	double z = (x - 1) / (x + 1), z2 = z * z, term = z, sum = 0;
	for (int i = 1; i < 60; i += 2, term *= z2)
		sum += term / i;
	return 2 * sum + e * 0.69314718055994531;
}

static void print_header(void)
{
	printf("  %-14s %-14s %12s %12s %10s %9s\n", "workload", "codec", "ms CPU/frame", "Mpix/s/core", "KB/frame",
	       "PSNR dB");
}

static void print_result(enum workload wl, const char *codec, const struct result *r)
{
	if (r->failed || !r->frames) {
		printf("  %-14s %-14s %12s\n", workload_name[wl], codec, "failed");
		return;
	}
	char psnr[16];
	if (r->sse == 0)
		snprintf(psnr, sizeof(psnr), "lossless");
	else
		snprintf(psnr, sizeof(psnr), "%.1f",
			 10 * ln(255.0 * 255.0 * (double)r->samples / r->sse) / 2.302585092994046);
	printf("  %-14s %-14s %12.3f %12.1f %10.2f %9s\n", workload_name[wl], codec, r->cpu_s * 1e3 / r->frames,
	       r->cpu_s > 0 ? (double)r->pixels / r->cpu_s / 1e6 : 0, (double)r->bytes / r->frames / 1024, psnr);
	fflush(stdout);
}

static double cpu_now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- VNC: our server in this process, libvncclient in a child ---- */

/* libvncclient is not among the libraries `make bench` links (the server needs only libvncserver): the child
 * loads it. */
struct vncclient_lib {
	rfbClient *(*get_client)(int, int, int);
	rfbBool (*init_client)(rfbClient *, int *, char **);
	rfbBool (*handle_message)(rfbClient *);
	rfbClientLogProc *log, *err;
};

struct frame_report {
	uint64_t bytes;
	double sse;
	uint64_t samples;
	int ok;
};

static uint64_t client_area; /* pixels of the rectangles received since the last frame completed */

static void client_got_rect(rfbClient *cl, int x, int y, int w, int h)
{
	(void)cl;
	(void)x;
	(void)y;
	client_area += (uint64_t)w * (uint64_t)h;
}

static void client_quiet(const char *fmt, ...)
{
	(void)fmt;
}

static uint64_t socket_bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_bytes_received;
}

/* Reads server messages until rectangles covering `want` pixels have come, then reports the bytes that took
 * and the error of the decoded rectangles against the child's own rendering of the frame. */
static int client_frame(const struct vncclient_lib *lib, rfbClient *cl, uint64_t want, const uint8_t *ref,
			const struct rect *r, uint32_t n, int out)
{
	static uint64_t last_bytes;
	alarm(30); /* a server that never sends ends the run rather than the bench */
	while (client_area < want)
		if (!lib->handle_message(cl))
			return -1;
	client_area = 0;
	uint64_t bytes = socket_bytes_received(cl->sock);
	struct frame_report rep = {
	    .bytes = bytes - last_bytes,
	    .sse = sse(cl->frameBuffer, (size_t)cl->width * 4, 0, 1, 2, ref, r, n),
	    .samples = area(r, n) * 3,
	    .ok = 1,
	};
	last_bytes = bytes;
	return write(out, &rep, sizeof(rep)) == sizeof(rep) ? 0 : -1;
}

static int client_main(enum workload wl, const char *encodings, int port, int in, int out)
{
	void *so = dlopen("libvncclient.so.1", RTLD_NOW);
	if (!so) {
		fprintf(stderr, "display bench: %s\n", dlerror());
		return 1;
	}
	struct vncclient_lib lib = {
	    .get_client = (rfbClient * (*)(int, int, int)) dlsym(so, "rfbGetClient"),
	    .init_client = (rfbBool(*)(rfbClient *, int *, char **))dlsym(so, "rfbInitClient"),
	    .handle_message = (rfbBool(*)(rfbClient *))dlsym(so, "HandleRFBServerMessage"),
	    .log = dlsym(so, "rfbClientLog"),
	    .err = dlsym(so, "rfbClientErr"),
	};
	if (!lib.get_client || !lib.init_client || !lib.handle_message || !lib.log || !lib.err)
		return 1;
	*lib.log = client_quiet;
	*lib.err = client_quiet;
	/* 32 bpp, bytes R, G, B, X: what Tight's JPEG needs */
	rfbClient *cl = lib.get_client(8, 3, 4);
	cl->serverHost = strdup("127.0.0.1");
	cl->serverPort = port;
	cl->appData.encodingsString = encodings;
	cl->appData.qualityLevel = 6;
	cl->GotFrameBufferUpdate = client_got_rect;
	int argc = 0;
	if (!lib.init_client(cl, &argc, NULL))
		return 1;
	uint8_t *ref = malloc((size_t)STRIDE * H);
	if (!ref)
		return 1;
	struct rect all = {0, 0, W, H}, r[MAXRECT];
	render(wl, 0, &all, ref);
	/* the whole first frame, which the parent takes as the start */
	if (client_frame(&lib, cl, (uint64_t)W * H, ref, &all, 1, out) < 0)
		return 1;
	int k;
	while (read(in, &k, sizeof(k)) == sizeof(k) && k > 0) {
		uint32_t n = damage(wl, (uint32_t)k, r);
		for (uint32_t i = 0; i < n; i++)
			render(wl, (uint32_t)k, &r[i], ref);
		if (client_frame(&lib, cl, area(r, n), ref, r, n, out) < 0)
			return 1;
	}
	return 0;
}

static double cpu_server(void)
{
	/* everything in this process but the main thread, which only draws and waits */
	return cpu_now(CLOCK_PROCESS_CPUTIME_ID) - cpu_now(CLOCK_THREAD_CPUTIME_ID);
}

static struct result bench_vnc(struct surface *s, int port, enum workload wl, const char *encodings, uint8_t *fb)
{
	struct result res = {0};
	struct rect all = {0, 0, W, H}, r[MAXRECT];
	render(wl, 0, &all, fb);
	memcpy(surface_pixels(s), fb, (size_t)STRIDE * H);
	surface_damage(s, 0, 0, W, H);
	/* The server's thread takes the damage at once (it waits on the viewer's eventfd): let it, so the new
	 * client's first frame is this one. */
	usleep(200000);
	int to_child[2], from_child[2];
	if (pipe(to_child) < 0 || pipe(from_child) < 0) {
		res.failed = true;
		return res;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		_exit(client_main(wl, encodings, port, to_child[0], from_child[1]));
	}
	close(to_child[0]);
	close(from_child[1]);
	struct frame_report rep;
	if (pid < 0 || read(from_child[0], &rep, sizeof(rep)) != sizeof(rep)) {
		res.failed = true;
		goto out;
	}
	double cpu0 = cpu_server();
	for (int k = 1; k <= frames(wl); k++) {
		uint32_t n = damage(wl, (uint32_t)k, r);
		for (uint32_t i = 0; i < n; i++) {
			render(wl, (uint32_t)k, &r[i], fb);
			for (uint32_t y = r[i].y; y < r[i].y + r[i].h; y++)
				memcpy(surface_pixels(s) + (size_t)y * STRIDE + r[i].x * 4,
				       fb + (size_t)y * STRIDE + r[i].x * 4, (size_t)r[i].w * 4);
		}
		for (uint32_t i = 0; i < n; i++)
			surface_damage(s, r[i].x, r[i].y, r[i].w, r[i].h);
		if (write(to_child[1], &k, sizeof(k)) != sizeof(k) ||
		    read(from_child[0], &rep, sizeof(rep)) != sizeof(rep) || !rep.ok) {
			res.failed = true;
			break;
		}
		res.bytes += rep.bytes;
		res.sse += rep.sse;
		res.samples += rep.samples;
		res.pixels += area(r, n);
		res.frames++;
	}
	res.cpu_s = cpu_server() - cpu0;
out:
	close(to_child[1]);
	close(from_child[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return res;
}

/* A free port for the VNC server on loopback. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* ---- RDP: the encoders, timed on this thread, decoded to measure quality ---- */

enum rdp_codec { PLANAR, REMOTEFX, AVC420, FREERDP_AVC420, NRDP };

/* FreeRDP 2.11's own H.264 encoder as its shadow server runs it, for the anchor on the same content: whole
 * frames, its rate control at 5 Mbit/s and 30 frames a second. */
#define FREERDP_AVC_BITRATE 5000000u
#define FREERDP_AVC_FPS     30.0f
/* What display/rdp_gfx.c gives a client's H.264 by default (VDI_RDP_AVC_KB). */
#define AVC_BUDGET          (24u * 1024)

struct rdp_codec_state {
	enum rdp_codec codec;
	BITMAP_PLANAR_CONTEXT *planar_enc, *planar_dec;
	RFX_CONTEXT *rfx_enc, *rfx_dec;
	struct rdp_avc *avc; /* the server's H.264 encoder */
	H264_CONTEXT *freerdp_avc;
	AVCodecContext *h264; /* libavcodec's decoder, the client's stand-in */
	AVPacket *packet;
	AVFrame *decoded;
	wStream *stream;
	uint8_t *tile;
	uint8_t *client; /* what the client shows */
};

/* Planar as display/rdp.c sends it: each rectangle in 64x64 tiles, thin edge tiles widened to 4. */
static bool planar_frame(struct rdp_codec_state *c, const uint8_t *fb, const struct rect *r, uint32_t n, double *cpu,
			 uint64_t *bytes)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t ty = r[i].y; ty < r[i].y + r[i].h; ty += TILE)
			for (uint32_t tx = r[i].x; tx < r[i].x + r[i].w; tx += TILE) {
				uint32_t x = tx, y = ty;
				uint32_t tw = r[i].x + r[i].w - tx < TILE ? r[i].x + r[i].w - tx : TILE;
				uint32_t th = r[i].y + r[i].h - ty < TILE ? r[i].y + r[i].h - ty : TILE;
				if (tw < 4) {
					x = x + 4 > W ? W - 4 : x;
					tw = 4;
				}
				if (th < 4) {
					y = y + 4 > H ? H - 4 : y;
					th = 4;
				}
				uint32_t size = TILE * TILE * 4 + 16;
				double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
				BYTE *out =
				    freerdp_bitmap_compress_planar(c->planar_enc, fb + (size_t)y * STRIDE + x * 4,
								   PIXEL_FORMAT_BGRX32, tw, th, STRIDE, c->tile, &size);
				*cpu += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
				if (!out)
					return false;
				*bytes += size;
				/* bottom-up, as a client decodes planar bitmap updates */
				if (!planar_decompress(c->planar_dec, c->tile, size, tw, th, c->client,
						       PIXEL_FORMAT_BGRX32, STRIDE, x, y, tw, th, TRUE))
					return false;
			}
	return true;
}

static bool rfx_frame(struct rdp_codec_state *c, const uint8_t *fb, const struct rect *r, uint32_t n, double *cpu,
		      uint64_t *bytes)
{
	RFX_RECT rects[MAXRECT];
	for (uint32_t i = 0; i < n; i++)
		rects[i] = (RFX_RECT){(UINT16)r[i].x, (UINT16)r[i].y, (UINT16)r[i].w, (UINT16)r[i].h};
	Stream_SetPosition(c->stream, 0);
	/* process CPU: RemoteFX encodes its tiles on a pool of threads */
	double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	RFX_MESSAGE *msg = rfx_encode_message(c->rfx_enc, rects, n, fb, W, H, STRIDE);
	bool ok = msg && rfx_write_message(c->rfx_enc, c->stream, msg);
	*cpu += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
	if (msg)
		rfx_message_free(c->rfx_enc, msg);
	if (!ok)
		return false;
	size_t size = Stream_GetPosition(c->stream);
	*bytes += size;
	REGION16 invalid;
	region16_init(&invalid);
	ok = rfx_process_message(c->rfx_dec, Stream_Buffer(c->stream), (UINT32)size, 0, 0, c->client,
				 PIXEL_FORMAT_BGRX32, STRIDE, H, &invalid);
	region16_uninit(&invalid);
	return ok;
}

static uint8_t clamp255(double v)
{
	return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5);
}

/* The decoded picture back to BGRX over the rectangles: BT.709 full range, the inverse of rdp_avc.c's
 * conversion (and what FreeRDP's client does). */
static void avc_to_bgrx(const AVFrame *f, uint8_t *out, size_t stride, const struct rect *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t y = r[i].y; y < r[i].y + r[i].h; y++) {
			const uint8_t *py = f->data[0] + (size_t)y * (size_t)f->linesize[0];
			const uint8_t *pu = f->data[1] + (size_t)(y / 2) * (size_t)f->linesize[1];
			const uint8_t *pv = f->data[2] + (size_t)(y / 2) * (size_t)f->linesize[2];
			uint8_t *d = out + (size_t)y * stride;
			for (uint32_t x = r[i].x; x < r[i].x + r[i].w; x++) {
				double l = py[x], cb = pu[x / 2] - 128.0, cr = pv[x / 2] - 128.0;
				d[x * 4 + 0] = clamp255(l + 1.8556 * cb);
				d[x * 4 + 1] = clamp255(l - 0.1873 * cb - 0.4681 * cr);
				d[x * 4 + 2] = clamp255(l + 1.5748 * cr);
				d[x * 4 + 3] = 0;
			}
		}
}

/* AVC420 as display/rdp_avc.c makes it: the damaged rectangles into the encoder's picture, one access unit a
 * frame; decoded whole, compared over the rectangles. */
static bool avc_frame(struct rdp_codec_state *c, const uint8_t *fb, const struct rect *r, uint32_t n, double *cpu,
		      uint64_t *bytes)
{
	struct surface_update f = {.width = W, .height = H, .stride = STRIDE, .pixels = fb, .nrects = n};
	for (uint32_t i = 0; i < n; i++)
		f.rects[i] = (struct surface_rect){r[i].x, r[i].y, r[i].w, r[i].h};
	const uint8_t *data;
	size_t size;
	int err;
	/* process CPU: x264 may encode on threads */
	double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	if (c->freerdp_avc) {
		BYTE *out = NULL;
		UINT32 out_size = 0;
		err = avc420_compress(c->freerdp_avc, fb, PIXEL_FORMAT_BGRX32, STRIDE, W, H, &out, &out_size) < 0 ? -EIO
														  : 0;
		data = out;
		size = out_size;
	} else {
		rdp_avc_update(c->avc, &f, 0, 0, f.rects, n);
		err = rdp_avc_encode(c->avc, &data, &size);
	}
	*cpu += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
	if (err < 0 || !data || !size || size > INT32_MAX)
		return false;
	*bytes += size;
	av_packet_unref(c->packet);
	if (av_new_packet(c->packet, (int)size) < 0)
		return false;
	memcpy(c->packet->data, data, size);
	if (avcodec_send_packet(c->h264, c->packet) < 0)
		return false;
	/* low delay, no B-frames: each access unit decodes to its picture at once */
	av_frame_unref(c->decoded);
	if (avcodec_receive_frame(c->h264, c->decoded) < 0)
		return false;
	AVFrame *d = c->decoded;
	/* FreeRDP's encoder codes 1920x1088 (whole macroblocks) and leaves the cropping out */
	if ((d->format != AV_PIX_FMT_YUV420P && d->format != AV_PIX_FMT_YUVJ420P) || d->width < (int)W ||
	    d->height < (int)H)
		return false;
	avc_to_bgrx(d, c->client, STRIDE, r, n);
	return true;
}

static bool rdp_codec_frame(struct rdp_codec_state *c, const uint8_t *fb, const struct rect *r, uint32_t n, double *cpu,
			    uint64_t *bytes)
{
	switch (c->codec) {
	case PLANAR:
		return planar_frame(c, fb, r, n, cpu, bytes);
	case REMOTEFX:
		return rfx_frame(c, fb, r, n, cpu, bytes);
	default:
		return avc_frame(c, fb, r, n, cpu, bytes);
	}
}

static void rdp_codec_free(struct rdp_codec_state *c)
{
	freerdp_bitmap_planar_context_free(c->planar_enc);
	freerdp_bitmap_planar_context_free(c->planar_dec);
	rfx_context_free(c->rfx_enc);
	rfx_context_free(c->rfx_dec);
	rdp_avc_free(c->avc);
	if (c->freerdp_avc)
		h264_context_free(c->freerdp_avc);
	avcodec_free_context(&c->h264);
	av_packet_free(&c->packet);
	av_frame_free(&c->decoded);
	if (c->stream)
		Stream_Free(c->stream, TRUE);
	free(c->tile);
	free(c->client);
}

/* video: the content is photographic, as display/rdp_gfx.c tells display/rdp_avc.c. */
static bool rdp_codec_init(struct rdp_codec_state *c, enum rdp_codec codec, bool video)
{
	memset(c, 0, sizeof(*c));
	c->codec = codec;
	c->client = calloc(H, STRIDE);
	c->tile = malloc(TILE * TILE * 4 + 16);
	c->stream = Stream_New(NULL, 16u << 20);
	if (!c->client || !c->tile || !c->stream)
		return false;
	if (codec == PLANAR) {
		c->planar_enc =
		    freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE, TILE, TILE);
		c->planar_dec = freerdp_bitmap_planar_context_new(0, TILE, TILE);
		return c->planar_enc && c->planar_dec;
	}
	if (codec == FREERDP_AVC420) {
		c->freerdp_avc = h264_context_new(TRUE);
		if (!c->freerdp_avc)
			return false;
		c->freerdp_avc->BitRate = FREERDP_AVC_BITRATE;
		c->freerdp_avc->FrameRate = FREERDP_AVC_FPS;
		if (!h264_context_reset(c->freerdp_avc, W, H))
			return false;
	}
	if (codec == AVC420 || codec == FREERDP_AVC420) {
		const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
		c->avc = codec == AVC420 ? rdp_avc_new(W, H, AVC_BUDGET, video) : NULL;
		c->h264 = h264 ? avcodec_alloc_context3(h264) : NULL;
		c->packet = av_packet_alloc();
		c->decoded = av_frame_alloc();
		if ((!c->avc && !c->freerdp_avc) || !c->h264 || !c->packet || !c->decoded)
			return false;
		/* one thread, low delay: a picture out for each access unit in */
		c->h264->thread_count = 1;
		c->h264->flags |= AV_CODEC_FLAG_LOW_DELAY;
		return avcodec_open2(c->h264, h264, NULL) == 0;
	}
	c->rfx_enc = rfx_context_new(TRUE);
	c->rfx_dec = rfx_context_new(FALSE);
	if (!c->rfx_enc || !c->rfx_dec)
		return false;
	/* RLGR3, as FreeRDP's own servers configure it */
	c->rfx_enc->mode = RLGR3;
	rfx_context_set_pixel_format(c->rfx_enc, PIXEL_FORMAT_BGRX32);
	rfx_context_set_pixel_format(c->rfx_dec, PIXEL_FORMAT_BGRX32);
	return rfx_context_reset(c->rfx_enc, W, H) && rfx_context_reset(c->rfx_dec, W, H);
}

static struct result bench_rdp(enum workload wl, enum rdp_codec codec, uint8_t *fb)
{
	struct result res = {0};
	struct rdp_codec_state c;
	struct rect all = {0, 0, W, H}, r[MAXRECT];
	double cpu = 0;
	uint64_t bytes = 0;
	render(wl, 0, &all, fb);
	/* frame 0 whole, as a client's first picture, so later frames decode onto it */
	if (!rdp_codec_init(&c, codec, wl == REGION || wl == FULL) || !rdp_codec_frame(&c, fb, &all, 1, &cpu, &bytes)) {
		res.failed = true;
		goto out;
	}
	cpu = 0;
	for (int k = 1; k <= frames(wl); k++) {
		uint32_t n = damage(wl, (uint32_t)k, r);
		for (uint32_t i = 0; i < n; i++)
			render(wl, (uint32_t)k, &r[i], fb);
		if (!rdp_codec_frame(&c, fb, r, n, &cpu, &res.bytes)) {
			res.failed = true;
			break;
		}
		res.sse += sse(c.client, STRIDE, 2, 1, 0, fb, r, n);
		res.samples += area(r, n) * 3;
		res.pixels += area(r, n);
		res.frames++;
	}
	res.cpu_s = cpu;
out:
	rdp_codec_free(&c);
	return res;
}

/* ---- RDP without GFX: display/rdp_classic.c itself, its updates caught and decoded as a client would ---- */

/* The client of display/rdp_classic.c: its decoders and picture; the bytes it got; the CPU its decoding took,
 * which is not the server's. */
static struct {
	rdpContext ctx;
	rdpUpdate update;
	rdpPrimaryUpdate primary;
	BITMAP_PLANAR_CONTEXT *planar;
	RFX_CONTEXT *rfx;
	uint8_t *picture;
	uint64_t bytes;
	double decode_s;
	bool failed;
} classic;

static BOOL classic_bitmap_update(rdpContext *ctx, const BITMAP_UPDATE *bu)
{
	(void)ctx;
	double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	for (uint32_t i = 0; i < bu->number; i++) {
		const BITMAP_DATA *b = &bu->rectangles[i];
		classic.bytes += b->bitmapLength;
		classic.failed |= !planar_decompress(classic.planar, b->bitmapDataStream, b->bitmapLength, b->width,
						     b->height, classic.picture, PIXEL_FORMAT_BGRX32, STRIDE,
						     b->destLeft, b->destTop, b->width, b->height, TRUE);
	}
	classic.decode_s += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
	return TRUE;
}

static BOOL classic_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
	(void)ctx;
	double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	classic.bytes += cmd->bmp.bitmapDataLength;
	REGION16 invalid;
	region16_init(&invalid);
	classic.failed |=
	    !rfx_process_message(classic.rfx, cmd->bmp.bitmapData, cmd->bmp.bitmapDataLength, cmd->destLeft,
				 cmd->destTop, classic.picture, PIXEL_FORMAT_BGRX32, STRIDE, H, &invalid);
	region16_uninit(&invalid);
	classic.decode_s += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
	return TRUE;
}

static BOOL classic_paint(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

/* A ScrBlt order: its bytes on the wire are at most a header and seven
 * two-byte fields. */
static BOOL classic_scrblt(rdpContext *ctx, const SCRBLT_ORDER *o)
{
	(void)ctx;
	double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	classic.bytes += 18;
	for (int32_t j = 0; j < o->nHeight; j++) {
		int32_t row = o->nTopRect > o->nYSrc ? o->nHeight - 1 - j : j;
		memmove(classic.picture + (size_t)(o->nTopRect + row) * STRIDE + (size_t)o->nLeftRect * 4,
			classic.picture + (size_t)(o->nYSrc + row) * STRIDE + (size_t)o->nXSrc * 4,
			(size_t)o->nWidth * 4);
	}
	classic.decode_s += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
	return TRUE;
}

static struct result bench_classic(enum workload wl, uint8_t *fb)
{
	struct result res = {0};
	struct rect all = {0, 0, W, H}, r[MAXRECT];
	struct surface_rect sr[MAXRECT];
	memset(&classic, 0, sizeof(classic));
	classic.ctx.update = &classic.update;
	classic.update.context = &classic.ctx;
	classic.update.BitmapUpdate = classic_bitmap_update;
	classic.update.SurfaceBits = classic_surface_bits;
	classic.update.BeginPaint = classic_paint;
	classic.update.EndPaint = classic_paint;
	classic.update.primary = &classic.primary;
	classic.primary.context = &classic.ctx;
	classic.primary.ScrBlt = classic_scrblt;
	rdpSettings *settings = freerdp_settings_new(FREERDP_SETTINGS_SERVER_MODE);
	classic.planar = freerdp_bitmap_planar_context_new(0, TILE, TILE);
	classic.rfx = rfx_context_new(FALSE);
	classic.picture = calloc((size_t)STRIDE, H);
	struct rdp_classic *c = NULL;
	if (settings && classic.planar && classic.rfx && classic.picture) {
		/* A client taking RemoteFX (as FreeRDP's /rfx does) and ScrBlt orders, that does not
		 * acknowledge frames. */
		settings->SurfaceCommandsEnabled = TRUE;
		settings->RemoteFxCodec = TRUE;
		settings->RemoteFxCodecId = RDP_CODEC_ID_REMOTEFX;
		settings->FrameAcknowledge = 0;
		settings->OrderSupport[NEG_SCRBLT_INDEX] = TRUE;
		settings->MultifragMaxRequestSize = 0x3f0000;
		classic.ctx.settings = settings;
		rfx_context_set_pixel_format(classic.rfx, PIXEL_FORMAT_BGRX32);
		c = rdp_classic_new(&classic.ctx);
	}
	render(wl, 0, &all, fb);
	struct surface_update f = {.width = W, .height = H, .stride = STRIDE, .pixels = fb};
	struct surface_rect whole = {0, 0, W, H};
	/* frame 0 whole, as a client's first picture */
	if (!c || !rdp_classic_reset(c, W, H) || !rdp_classic_send(c, &f, &whole, 1) || classic.failed) {
		res.failed = true;
		goto out;
	}
	double cpu = 0;
	for (int k = 1; k <= frames(wl); k++) {
		uint32_t n = damage(wl, (uint32_t)k, r);
		for (uint32_t i = 0; i < n; i++) {
			render(wl, (uint32_t)k, &r[i], fb);
			sr[i] = (struct surface_rect){r[i].x, r[i].y, r[i].w, r[i].h};
		}
		classic.bytes = 0;
		classic.decode_s = 0;
		double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
		bool ok = rdp_classic_send(c, &f, sr, n);
		cpu += cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0 - classic.decode_s;
		if (!ok || classic.failed) {
			res.failed = true;
			break;
		}
		res.bytes += classic.bytes;
		res.sse += sse(classic.picture, STRIDE, 2, 1, 0, fb, r, n);
		res.samples += area(r, n) * 3;
		res.pixels += area(r, n);
		res.frames++;
	}
	res.cpu_s = cpu;
out:
	rdp_classic_free(c);
	freerdp_bitmap_planar_context_free(classic.planar);
	rfx_context_free(classic.rfx);
	freerdp_settings_free(settings);
	free(classic.picture);
	return res;
}

/* ---- RDP GFX: display/rdp_gfx.c itself, its commands caught, then applied as a client would ---- */

enum gfx_kind { GFX_FILL, GFX_COPY, GFX_PLANAR, GFX_RAW, GFX_AVC, GFX_CREATE, GFX_DELETE };

struct gfx_cmd {
	enum gfx_kind kind;
	uint16_t surface, src_surface; /* AVC420, created, deleted, copied to; copied from */
	uint32_t x, y, w, h, sx, sy, colour, nregions;
	RECTANGLE_16 regions[16];
	uint8_t *data;
	size_t len;
};

/* A client's GFX surface: the desktop's (id 1, what the client shows) or an offscreen one, each with its own
 * H.264 decoder as FreeRDP's client has. */
#define GFX_SURFACES 8
struct gfx_surface {
	uint16_t id; /* 0: unused */
	uint32_t w, h;
	uint8_t *px;
	AVCodecContext *h264;
};

struct gfx_client {
	struct gfx_cmd *cmds;
	size_t ncmds, cap;
	uint64_t bytes;  /* the commands' size as MS-RDPEGFX lays them out */
	uint8_t *client; /* what the client shows */
	struct gfx_surface surfaces[GFX_SURFACES];
	BITMAP_PLANAR_CONTEXT *planar;
	AVPacket *packet;
	AVFrame *decoded;
	uint64_t avc_cmds;     /* AVC420 commands */
	uint32_t avc_w, avc_h; /* the largest destRect */
	bool failed;
};

static struct gfx_cmd *gfx_push(RdpgfxServerContext *ctx, enum gfx_kind kind, const void *data, size_t len)
{
	struct gfx_client *c = ctx->custom;
	if (c->ncmds == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct gfx_cmd *cmds = realloc(c->cmds, cap * sizeof(*cmds));
		if (!cmds) {
			c->failed = true;
			return NULL;
		}
		c->cmds = cmds;
		c->cap = cap;
	}
	struct gfx_cmd *cmd = &c->cmds[c->ncmds++];
	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = kind;
	/* the copy a channel write makes */
	if (len) {
		cmd->data = malloc(len);
		if (!cmd->data) {
			c->failed = true;
			return NULL;
		}
		memcpy(cmd->data, data, len);
		cmd->len = len;
	}
	return cmd;
}

static UINT gfx_start(RdpgfxServerContext *ctx, const RDPGFX_START_FRAME_PDU *pdu)
{
	(void)pdu;
	((struct gfx_client *)ctx->custom)->bytes += 8 + 8;
	return CHANNEL_RC_OK;
}

static UINT gfx_end(RdpgfxServerContext *ctx, const RDPGFX_END_FRAME_PDU *pdu)
{
	(void)pdu;
	((struct gfx_client *)ctx->custom)->bytes += 8 + 4;
	return CHANNEL_RC_OK;
}

static UINT gfx_ok(RdpgfxServerContext *ctx, const void *pdu)
{
	(void)ctx;
	(void)pdu;
	return CHANNEL_RC_OK;
}

static UINT gfx_create(RdpgfxServerContext *ctx, const RDPGFX_CREATE_SURFACE_PDU *pdu)
{
	((struct gfx_client *)ctx->custom)->bytes += 8 + 7;
	struct gfx_cmd *cmd = gfx_push(ctx, GFX_CREATE, NULL, 0);
	if (!cmd)
		return ERROR_INTERNAL_ERROR;
	cmd->surface = pdu->surfaceId;
	cmd->w = pdu->width;
	cmd->h = pdu->height;
	return CHANNEL_RC_OK;
}

static UINT gfx_delete(RdpgfxServerContext *ctx, const RDPGFX_DELETE_SURFACE_PDU *pdu)
{
	((struct gfx_client *)ctx->custom)->bytes += 8 + 2;
	struct gfx_cmd *cmd = gfx_push(ctx, GFX_DELETE, NULL, 0);
	if (!cmd)
		return ERROR_INTERNAL_ERROR;
	cmd->surface = pdu->surfaceId;
	return CHANNEL_RC_OK;
}

static struct gfx_surface *gfx_surface(struct gfx_client *c, uint16_t id)
{
	for (int i = 0; id && i < GFX_SURFACES; i++)
		if (c->surfaces[i].id == id)
			return &c->surfaces[i];
	return NULL;
}

/* One thread, low delay: a picture out for each access unit in. */
static AVCodecContext *gfx_decoder(void)
{
	const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
	AVCodecContext *d = h264 ? avcodec_alloc_context3(h264) : NULL;
	if (!d)
		return NULL;
	d->thread_count = 1;
	d->flags |= AV_CODEC_FLAG_LOW_DELAY;
	if (avcodec_open2(d, h264, NULL) < 0)
		avcodec_free_context(&d);
	return d;
}

static void gfx_surface_free(struct gfx_surface *s, const uint8_t *client)
{
	if (s->px != client)
		free(s->px);
	avcodec_free_context(&s->h264);
	memset(s, 0, sizeof(*s));
}

static UINT gfx_fill(RdpgfxServerContext *ctx, const RDPGFX_SOLID_FILL_PDU *pdu)
{
	struct gfx_client *c = ctx->custom;
	c->bytes += 8 + 8 + 8u * pdu->fillRectCount;
	for (UINT16 i = 0; i < pdu->fillRectCount; i++) {
		const RECTANGLE_16 *r = &pdu->fillRects[i];
		struct gfx_cmd *cmd = gfx_push(ctx, GFX_FILL, NULL, 0);
		if (!cmd)
			return ERROR_INTERNAL_ERROR;
		*cmd = (struct gfx_cmd){.kind = GFX_FILL,
					.x = r->left,
					.y = r->top,
					.w = (uint32_t)(r->right - r->left),
					.h = (uint32_t)(r->bottom - r->top),
					.colour = bgrx(pdu->fillPixel.R, pdu->fillPixel.G, pdu->fillPixel.B)};
	}
	return CHANNEL_RC_OK;
}

static UINT gfx_copy(RdpgfxServerContext *ctx, const RDPGFX_SURFACE_TO_SURFACE_PDU *pdu)
{
	struct gfx_client *c = ctx->custom;
	c->bytes += 8 + 14 + 4u * pdu->destPtsCount;
	for (UINT16 i = 0; i < pdu->destPtsCount; i++) {
		struct gfx_cmd *cmd = gfx_push(ctx, GFX_COPY, NULL, 0);
		if (!cmd)
			return ERROR_INTERNAL_ERROR;
		*cmd = (struct gfx_cmd){.kind = GFX_COPY,
					.surface = pdu->surfaceIdDest,
					.src_surface = pdu->surfaceIdSrc,
					.sx = pdu->rectSrc.left,
					.sy = pdu->rectSrc.top,
					.w = (uint32_t)(pdu->rectSrc.right - pdu->rectSrc.left),
					.h = (uint32_t)(pdu->rectSrc.bottom - pdu->rectSrc.top),
					.x = pdu->destPts[i].x,
					.y = pdu->destPts[i].y};
	}
	return CHANNEL_RC_OK;
}

static UINT gfx_command(RdpgfxServerContext *ctx, const RDPGFX_SURFACE_COMMAND *cmd)
{
	struct gfx_client *c = ctx->custom;
	struct gfx_cmd *g;
	if (cmd->codecId == RDPGFX_CODECID_AVC420) {
		const RDPGFX_AVC420_BITMAP_STREAM *s = cmd->extra;
		uint32_t n = s->meta.numRegionRects;
		c->bytes += 8 + 17 + 4 + 10u * n + s->length;
		if (n > 16 || !(g = gfx_push(ctx, GFX_AVC, s->data, s->length)))
			return ERROR_INTERNAL_ERROR;
		c->avc_cmds++;
		if ((uint64_t)(cmd->right - cmd->left) * (cmd->bottom - cmd->top) > (uint64_t)c->avc_w * c->avc_h) {
			c->avc_w = cmd->right - cmd->left;
			c->avc_h = cmd->bottom - cmd->top;
		}
		g->surface = (uint16_t)cmd->surfaceId;
		g->nregions = n;
		memcpy(g->regions, s->meta.regionRects, n * sizeof(*g->regions));
		return CHANNEL_RC_OK;
	}
	c->bytes += 8 + 17 + cmd->length;
	g = gfx_push(ctx, cmd->codecId == RDPGFX_CODECID_PLANAR ? GFX_PLANAR : GFX_RAW, cmd->data, cmd->length);
	if (!g)
		return ERROR_INTERNAL_ERROR;
	g->x = cmd->left;
	g->y = cmd->top;
	g->w = cmd->right - cmd->left;
	g->h = cmd->bottom - cmd->top;
	return CHANNEL_RC_OK;
}

/* What the client does with each command, in order. */
static bool gfx_apply(struct gfx_client *c)
{
	bool ok = !c->failed;
	for (size_t i = 0; i < c->ncmds && ok; i++) {
		struct gfx_cmd *g = &c->cmds[i];
		struct gfx_surface *to = gfx_surface(c, g->surface), *from = gfx_surface(c, g->src_surface);
		switch (g->kind) {
		case GFX_CREATE:
			if (to) {
				ok = false;
				break;
			}
			for (int k = 0; k < GFX_SURFACES && !to; k++)
				if (!c->surfaces[k].id)
					to = &c->surfaces[k];
			if (!to || !(to->px = calloc((size_t)g->w * 4, g->h))) {
				ok = false;
				break;
			}
			to->id = g->surface;
			to->w = g->w;
			to->h = g->h;
			break;
		case GFX_DELETE:
			if (!to || to->px == c->client) {
				ok = false;
				break;
			}
			gfx_surface_free(to, c->client);
			break;
		case GFX_FILL:
			for (uint32_t y = g->y; y < g->y + g->h; y++)
				for (uint32_t x = g->x; x < g->x + g->w; x++)
					memcpy(c->client + (size_t)y * STRIDE + x * 4, &g->colour, 4);
			break;
		case GFX_COPY:
			if (!to || !from || g->sx + g->w > from->w || g->sy + g->h > from->h || g->x + g->w > to->w ||
			    g->y + g->h > to->h) {
				ok = false;
				break;
			}
			/* rows in the order that reads each before it is overwritten */
			for (uint32_t j = 0; j < g->h; j++) {
				uint32_t row = to == from && g->y > g->sy ? g->h - 1 - j : j;
				memmove(to->px + (size_t)(g->y + row) * to->w * 4 + g->x * 4,
					from->px + (size_t)(g->sy + row) * from->w * 4 + g->sx * 4, (size_t)g->w * 4);
			}
			break;
		case GFX_PLANAR:
			ok = planar_decompress(c->planar, g->data, (UINT32)g->len, g->w, g->h, c->client,
					       PIXEL_FORMAT_BGRX32, STRIDE, g->x, g->y, g->w, g->h, FALSE);
			break;
		case GFX_RAW:
			for (uint32_t y = 0; y < g->h; y++)
				memcpy(c->client + (size_t)(g->y + y) * STRIDE + g->x * 4,
				       g->data + (size_t)y * g->w * 4, (size_t)g->w * 4);
			break;
		case GFX_AVC: {
			av_packet_unref(c->packet);
			if (g->len > INT32_MAX || av_new_packet(c->packet, (int)g->len) < 0) {
				ok = false;
				break;
			}
			memcpy(c->packet->data, g->data, g->len);
			av_frame_unref(c->decoded);
			if (to && !to->h264)
				to->h264 = gfx_decoder();
			if (!to || !to->h264 || avcodec_send_packet(to->h264, c->packet) < 0 ||
			    avcodec_receive_frame(to->h264, c->decoded) < 0) {
				ok = false;
				break;
			}
			struct rect r[16];
			for (uint32_t k = 0; k < g->nregions; k++)
				r[k] = (struct rect){g->regions[k].left, g->regions[k].top,
						     (uint32_t)(g->regions[k].right - g->regions[k].left),
						     (uint32_t)(g->regions[k].bottom - g->regions[k].top)};
			/* as FreeRDP's client does: the regions, in the surface's coordinates, taken from the
			 * picture at the same coordinates */
			for (uint32_t k = 0; k < g->nregions; k++)
				if (r[k].x + r[k].w > to->w || r[k].y + r[k].h > to->h ||
				    r[k].x + r[k].w > (uint32_t)c->decoded->width ||
				    r[k].y + r[k].h > (uint32_t)c->decoded->height)
					ok = false;
			if (ok)
				avc_to_bgrx(c->decoded, to->px, to->w * 4, r, g->nregions);
			break;
		}
		}
	}
	for (size_t i = 0; i < c->ncmds; i++)
		free(c->cmds[i].data);
	c->ncmds = 0;
	return ok;
}

/* The server's GFX pipeline for a client that takes AVC420, SurfaceToSurface on or off (VDI_RDP_MOTION). */
static struct result bench_gfx(enum workload wl, bool motion, uint8_t *fb)
{
	struct result res = {0};
	struct gfx_client c = {0};
	RdpgfxServerContext ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.custom = &c;
	ctx.StartFrame = gfx_start;
	ctx.EndFrame = gfx_end;
	ctx.SolidFill = gfx_fill;
	ctx.SurfaceToSurface = gfx_copy;
	ctx.SurfaceCommand = gfx_command;
	ctx.ResetGraphics = (psRdpgfxResetGraphics)gfx_ok;
	ctx.CreateSurface = gfx_create;
	ctx.DeleteSurface = gfx_delete;
	ctx.MapSurfaceToOutput = (psRdpgfxMapSurfaceToOutput)gfx_ok;
	setenv("VDI_RDP_MOTION", motion ? "on" : "off", 1);
	struct rdp_gfx *g = rdp_gfx_new_detached(&ctx, true);
	c.client = calloc(H, STRIDE);
	/* the desktop's surface: rdp_gfx_reset's CreateSurface is not applied, as this one stands for it */
	c.surfaces[0] = (struct gfx_surface){.id = 1, .w = W, .h = H, .px = c.client, .h264 = gfx_decoder()};
	c.planar = freerdp_bitmap_planar_context_new(0, TILE, TILE);
	c.packet = av_packet_alloc();
	c.decoded = av_frame_alloc();
	struct rect all = {0, 0, W, H}, r[MAXRECT];
	struct surface_update f = {.width = W, .height = H, .stride = STRIDE, .pixels = fb};
	struct surface_rect whole = {0, 0, W, H};
	if (!g || !c.client || !c.surfaces[0].h264 || !c.planar || !c.packet || !c.decoded || !rdp_gfx_reset(g, W, H)) {
		res.failed = true;
		goto out;
	}
	c.ncmds = 0;
	render(wl, 0, &all, fb);
	/* frame 0 whole, as a client's first picture */
	if (!rdp_gfx_send(g, &f, &whole, 1) || !gfx_apply(&c)) {
		res.failed = true;
		goto out;
	}
	c.bytes = 0;
	for (int k = 1; k <= frames(wl); k++) {
		uint32_t n = damage(wl, (uint32_t)k, r);
		struct surface_rect sr[MAXRECT];
		for (uint32_t i = 0; i < n; i++) {
			render(wl, (uint32_t)k, &r[i], fb);
			sr[i] = (struct surface_rect){r[i].x, r[i].y, r[i].w, r[i].h};
		}
		/* process CPU: x264 may encode on threads */
		uint64_t avc0 = c.avc_cmds, bytes0 = c.bytes;
		double t0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
		bool ok = rdp_gfx_send(g, &f, sr, n);
		double t = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0;
		res.cpu_s += t;
		if (c.avc_cmds > avc0) {
			res.h264_frames++;
			res.h264_cpu_s += t;
			res.h264_bytes += c.bytes - bytes0;
		}
		if (!ok || !gfx_apply(&c)) {
			res.failed = true;
			break;
		}
		res.sse += sse(c.client, STRIDE, 2, 1, 0, fb, r, n);
		res.samples += area(r, n) * 3;
		res.pixels += area(r, n);
		res.frames++;
	}
	res.bytes = c.bytes;
	res.h264_w = c.avc_w;
	res.h264_h = c.avc_h;
out:
	rdp_gfx_free(g);
	gfx_apply(&c);
	free(c.cmds);
	freerdp_bitmap_planar_context_free(c.planar);
	for (int i = 0; i < GFX_SURFACES; i++)
		gfx_surface_free(&c.surfaces[i], c.client);
	free(c.client);
	av_packet_free(&c.packet);
	av_frame_free(&c.decoded);
	return res;
}

/* `display gfx [WORKLOAD]`: the GFX pipeline's rows alone, of the workloads whose name has WORKLOAD in it. */
int main(int argc, char **argv)
{
	bool gfx_only = argc > 1 && !strcmp(argv[1], "gfx");
	const char *only = gfx_only && argc > 2 ? argv[2] : "";
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARN);
	av_log_set_level(AV_LOG_WARNING); /* not x264's statistics when an encoder closes */
	uint8_t *fb = malloc((size_t)STRIDE * H);
	struct surface *s = surface_create(W, H);
	int port = free_port();
	struct display_hooks hooks = display_hooks_one_surface(s);
	struct display_listen listen = {.bind = "127.0.0.1", .port = port};
	struct vnc_server *vnc = s && port > 0 ? vnc_server_start(&hooks, &listen, NULL) : NULL;
	if (!fb || !vnc) {
		fprintf(stderr, "display bench: cannot start the VNC server\n");
		return 1;
	}
	static const struct {
		const char *name, *encodings;
	} vnc_codecs[] = {{"VNC Tight q6", "tight"}, {"VNC ZRLE", "zrle"}, {"VNC Raw", "raw"}};
	enum { NVNC = sizeof(vnc_codecs) / sizeof(vnc_codecs[0]) };
	static const char *rdp_names[] = {"RDP planar",  "RDP RemoteFX", "RDP AVC420",   "FreeRDP AVC420",
					  "RDP classic", "RDP GFX",      "RDP GFX+moves"};
	enum { NCLASSIC = 1, NGFX = 2 };
	static struct result res[NWORKLOADS][NVNC + NRDP + NCLASSIC + NGFX];
	for (int wl = 0; wl < NWORKLOADS && !gfx_only; wl++)
		for (int i = 0; i < NVNC; i++)
			res[wl][i] = bench_vnc(s, port, (enum workload)wl, vnc_codecs[i].encodings, fb);
	/* the RDP encoders are timed by process CPU, which the VNC server's thread would add to */
	vnc_server_stop(vnc);
	for (int wl = 0; wl < NWORKLOADS && !gfx_only; wl++)
		for (int i = 0; i < NRDP; i++)
			res[wl][NVNC + i] = bench_rdp((enum workload)wl, (enum rdp_codec)i, fb);
	for (int wl = 0; wl < NWORKLOADS && !gfx_only; wl++)
		res[wl][NVNC + NRDP] = bench_classic((enum workload)wl, fb);
	for (int wl = 0; wl < NWORKLOADS; wl++)
		for (int i = 0; i < NGFX && strstr(workload_name[wl], only); i++)
			res[wl][NVNC + NRDP + NCLASSIC + i] = bench_gfx((enum workload)wl, i == 1, fb);
	printf("== display codecs, %ux%u, %d frames per workload and codec (video: %d)\n", W, H, FRAMES, VIDEO_FRAMES);
	for (int wl = 0; wl < NWORKLOADS; wl++) {
		if (!strstr(workload_name[wl], only))
			continue;
		struct rect r[MAXRECT];
		uint32_t n = damage((enum workload)wl, 1, r);
		printf("-- %s: %llu pixels damaged a frame\n", workload_name[wl], (unsigned long long)area(r, n));
		print_header();
		for (int i = gfx_only ? NVNC + NRDP + NCLASSIC : 0; i < NVNC + NRDP + NCLASSIC + NGFX; i++)
			print_result((enum workload)wl, i < NVNC ? vnc_codecs[i].name : rdp_names[i - NVNC],
				     &res[wl][i]);
		for (int i = NVNC + NRDP + NCLASSIC; i < NVNC + NRDP + NCLASSIC + NGFX; i++) {
			const struct result *r = &res[wl][i];
			if (!r->failed && r->h264_frames)
				printf(
				    "    %s: %d of %d frames sent H.264: %.3f ms, %.2f KB each; pictures up to %ux%u\n",
				    rdp_names[i - NVNC], r->h264_frames, r->frames,
				    r->h264_cpu_s * 1e3 / r->h264_frames, (double)r->h264_bytes / r->h264_frames / 1024,
				    r->h264_w, r->h264_h);
		}
	}
	surface_destroy(s);
	free(fb);
	printf(
	    "   anchors (issue 4): libvncserver Tight q6 ~123 Mpix/s/core at ~194 KB per full 1080p desktop frame;\n"
	    "   FreeRDP 2.11 AVC420 (x264 medium) 38-46 Mpix/s/core at 21-24 KB/frame; RemoteFX 49-59 Mpix/s/core\n"
	    "   at ~430 KB/frame; our RDP aim: twice Tight's rate (~250 Mpix/s/core) with AVC420's bytes.\n"
	    "   FreeRDP AVC420: that anchor on this content, FreeRDP's own encoder at 5 Mbit/s and 30 frames/s.\n"
	    "   RDP AVC420: display/rdp_avc.c on whole frames, its default budget of 24 KB a frame (video: a steered\n"
	    "   quantiser; the rest: x264's rate control).\n"
	    "   RDP classic: display/rdp_classic.c, for a client without GFX taking RemoteFX and ScrBlt: moved\n"
	    "   content as ScrBlt orders, planar, and RemoteFX for tiles planar found photographic (more than 2\n"
	    "   bytes a pixel) the frame before.\n"
	    "   RDP GFX: display/rdp_gfx.c for a client taking AVC420 (H.264 where damage keeps coming), bytes as the\n"
	    "   commands are laid out; +moves: damage that is moved content sent as SurfaceToSurface copies; a region\n"
	    "   goes H.264 once damaged in 2 frames running with planar doing poorly (photographic) or in 9 of 10.\n");
	return 0;
}
