/* drawserver — a test server over libvdi: a deterministic scene (gradient, a text panel that scrolls, a window that
 * moves, a 640x360 video region) drawn into a surface and served over RDP and VNC, driven by commands on stdin and
 * printing the input its clients send. */
#include "../../common/log.h"
#include "../../common/png.h"
#include "../../display/display.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_H        18 /* the text panel's line pitch */
#define TITLE_H       24
#define VIDEO_W       640
#define VIDEO_H       360
#define VIDEO_PERIOD  33 /* ms between video frames */
#define CMD_LINE_MAX  4096
#define SCROLL_MAX    (1 << 30)
#define PANEL_PAPER   0xfbfbf7
#define PANEL_INK     0x30343c
#define WINDOW_BORDER 0x1c2433
#define WINDOW_BODY   0xe8ebf0

struct rect {
	int32_t x, y, w, h;
};

/* Everything the picture depends on: each pixel is a function of this alone, so any rectangle can be repainted. */
struct scene {
	uint32_t width, height;
	struct rect panel, window, video;
	int64_t scroll; /* pixels the panel's text has moved up */
	bool video_on;
	uint32_t video_frame;
};

static bool in_rect(const struct rect *r, int32_t x, int32_t y)
{
	return x >= r->x && y >= r->y && x - r->x < r->w && y - r->y < r->h;
}

static uint32_t mix(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352d;
	v ^= v >> 15;
	v *= 0x846ca68b;
	v ^= v >> 16;
	return v;
}

static uint32_t background(const struct scene *sc, int32_t x, int32_t y)
{
	uint32_t r = (uint32_t)x * 255 / sc->width, g = (uint32_t)y * 255 / sc->height;
	uint32_t b = 96 + ((uint32_t)(x + y) * 64 / (sc->width + sc->height));
	return r << 16 | g << 8 | b;
}

/* Is (x, y) of a text line inside one of its word blocks? Words are 12 to 75 pixels wide with 8-pixel gaps; a line's
 * words and its length come from its number alone. */
static bool in_word(uint64_t line, int32_t x)
{
	int32_t pos = 6, end = 6 + (int32_t)(mix((uint32_t)line * 2654435761u + 7) % 340) + 40;
	for (uint32_t i = 0; pos < end; i++) {
		int32_t w = 12 + (int32_t)(mix((uint32_t)line * 131 + i * 977 + 1) % 64);
		if (x < pos)
			return false;
		if (x < pos + w)
			return true;
		pos += w + 8;
	}
	return false;
}

static uint32_t panel_pixel(const struct scene *sc, int32_t x, int32_t y)
{
	const struct rect *p = &sc->panel;
	if (x == p->x || y == p->y || x == p->x + p->w - 1 || y == p->y + p->h - 1)
		return WINDOW_BORDER;
	uint64_t v = (uint64_t)(y - p->y) + (uint64_t)sc->scroll;
	uint64_t line = v / LINE_H;
	uint32_t row = (uint32_t)(v % LINE_H);
	if (row >= 4 && row < 14 && in_word(line, x - p->x))
		return line % 7 == 3 ? 0x2f6fd6 : PANEL_INK;
	return PANEL_PAPER;
}

static uint32_t window_pixel(const struct scene *sc, int32_t x, int32_t y)
{
	const struct rect *w = &sc->window;
	int32_t wx = x - w->x, wy = y - w->y;
	if (wx == 0 || wy == 0 || wx == w->w - 1 || wy == w->h - 1)
		return WINDOW_BORDER;
	if (wy < TITLE_H) {
		uint32_t shade = 0x60 - (uint32_t)wy * 2;
		if (wx >= w->w - 22 && wx < w->w - 8 && wy >= 5 && wy < 19)
			return 0xd04040;
		return shade << 16 | (shade + 0x10) << 8 | (shade + 0x30);
	}
	/* Three coloured buttons and rows of label blocks. */
	int32_t bx = (wx - 16) / 72, by = wy - TITLE_H - 16;
	if (wx >= 16 && bx < 3 && (wx - 16) % 72 < 60 && by >= 0 && by < 28)
		return (uint32_t[]){0x3d8bfd, 0x2fa84f, 0xe0a030}[bx];
	int32_t ly = wy - TITLE_H - 60;
	if (ly >= 0 && ly % LINE_H >= 4 && ly % LINE_H < 12 && in_word((uint64_t)(1000 + ly / LINE_H), wx - 10))
		return 0x505866;
	return WINDOW_BODY;
}

/* Noise over moving bands: each frame differs everywhere, as video does. */
static uint32_t video_pixel(const struct scene *sc, int32_t x, int32_t y)
{
	uint32_t f = sc->video_frame, vx = (uint32_t)(x - sc->video.x), vy = (uint32_t)(y - sc->video.y);
	uint32_t n = mix(vx * 73856093u ^ vy * 19349663u ^ f * 83492791u) & 0x3f;
	uint32_t r = ((vx + f * 6) & 0xff) / 2 + n, g = ((vy * 2 + f * 3) & 0xff) / 2 + n,
		 b = (((vx + vy) / 2 + f * 5) & 0xff) / 2 + (n ^ 0x20);
	return r << 16 | g << 8 | b;
}

/* Layers, bottom up: background, text panel, video, window. */
static uint32_t scene_pixel(const struct scene *sc, int32_t x, int32_t y)
{
	if (in_rect(&sc->window, x, y))
		return window_pixel(sc, x, y);
	if (in_rect(&sc->video, x, y))
		return video_pixel(sc, x, y);
	if (in_rect(&sc->panel, x, y))
		return panel_pixel(sc, x, y);
	return background(sc, x, y);
}

/* Repaints r (clipped to the surface) and tells the surface. */
static void paint(struct surface *s, const struct scene *sc, struct rect r)
{
	int32_t x0 = r.x < 0 ? 0 : r.x, y0 = r.y < 0 ? 0 : r.y;
	int64_t x1 = (int64_t)r.x + r.w, y1 = (int64_t)r.y + r.h;
	if (x1 > sc->width)
		x1 = sc->width;
	if (y1 > sc->height)
		y1 = sc->height;
	if (x0 >= x1 || y0 >= y1)
		return;
	uint8_t *px = surface_pixels(s);
	for (int32_t y = y0; y < y1; y++) {
		uint32_t *row = (uint32_t *)(px + (size_t)y * sc->width * 4);
		for (int32_t x = x0; x < x1; x++)
			row[x] = scene_pixel(sc, x, y);
	}
	surface_damage(s, (uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0));
}

/* The layout for a size: the panel top left, the window top right, the video bottom right. */
static void scene_layout(struct scene *sc, uint32_t width, uint32_t height)
{
	int32_t w = (int32_t)width, h = (int32_t)height;
	*sc = (struct scene){.width = width, .height = height};
	sc->panel = (struct rect){32, 32, w / 2 - 64 > 120 ? w / 2 - 64 : 120, h / 2 - 64 > 90 ? h / 2 - 64 : 90};
	sc->window = (struct rect){w / 2 + 16, 48, w / 3 > 240 ? w / 3 : 240, h / 3 > 180 ? h / 3 : 180};
	sc->video = (struct rect){w - VIDEO_W - 40 > 0 ? w - VIDEO_W - 40 : 0,
				  h - VIDEO_H - 40 > 0 ? h - VIDEO_H - 40 : 0, VIDEO_W, VIDEO_H};
}

/* Input from the clients, printed for the test to read. Called on the servers' threads: one printf a line. */

static void on_key(void *opaque, uint32_t code, bool down)
{
	(void)opaque;
	printf("key %u %s\n", code, down ? "down" : "up");
	fflush(stdout);
}

static void on_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
	(void)opaque;
	printf("pointer %d %d %u\n", x, y, buttons);
	fflush(stdout);
}

static void on_wheel(void *opaque, int32_t dy, int32_t dx)
{
	(void)opaque;
	printf("wheel %d %d\n", dy, dx);
	fflush(stdout);
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
	(void)opaque;
	printf("resize %u %u\n", width, height);
	fflush(stdout);
}

struct servers {
	struct display_hooks hooks;
	struct rdp_server *rdp;
	struct vnc_server *vnc;
};

/* The one place that knows how the display servers start: every client is shown surface s. */
static int servers_start(struct servers *sv, struct surface *s, int rdp_port, int vnc_port, const char *data_dir)
{
	sv->hooks = display_hooks_one_surface(s);
	struct display_listen rdp_listen = {.port = rdp_port}, vnc_listen = {.port = vnc_port};
	sv->rdp = NULL;
	sv->vnc = NULL;
	char cert[4096], key[4096];
	snprintf(cert, sizeof(cert), "%s/tls.crt", data_dir);
	snprintf(key, sizeof(key), "%s/tls.key", data_dir);
	if (vnc_port && !(sv->vnc = vnc_server_start(&sv->hooks, &vnc_listen,
						     &(struct vnc_security){.cert_path = cert, .key_path = key})))
		return -EADDRINUSE;
	if (rdp_port && !(sv->rdp = rdp_server_start(&sv->hooks, &rdp_listen, cert, key))) {
		vnc_server_stop(sv->vnc);
		sv->vnc = NULL;
		return -EADDRINUSE;
	}
	return 0;
}

static void servers_stop(struct servers *sv)
{
	rdp_server_stop(sv->rdp);
	vnc_server_stop(sv->vnc);
}

static int write_surface_png(struct surface *s, const struct scene *sc, const char *path)
{
	char tmp[CMD_LINE_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	int rc = png_write_xrgb(f, surface_pixels(s), sc->width, sc->height, sc->width * 4);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* One command line. Returns 1 to go on, 0 to quit. */
static int run_command(struct surface *s, struct scene *sc, char *line)
{
	char word[16], arg[CMD_LINE_MAX];
	long a, b;
	if (sscanf(line, "%15s", word) != 1)
		return 1;
	if (!strcmp(word, "quit"))
		return 0;
	if (!strcmp(word, "scroll") && sscanf(line, "%*s %ld", &a) == 1 && a >= 0 && a <= SCROLL_MAX) {
		sc->scroll += a;
		paint(s, sc, sc->panel);
	} else if (!strcmp(word, "drag") && sscanf(line, "%*s %ld %ld", &a, &b) == 2 && labs(a) <= 8192 &&
		   labs(b) <= 8192) {
		struct rect old = sc->window;
		sc->window.x += (int32_t)a;
		sc->window.y += (int32_t)b;
		paint(s, sc, old);
		paint(s, sc, sc->window);
	} else if (!strcmp(word, "video") && sscanf(line, "%*s %15s", arg) == 1 &&
		   (!strcmp(arg, "on") || !strcmp(arg, "off"))) {
		sc->video_on = !strcmp(arg, "on");
	} else if (!strcmp(word, "png") && sscanf(line, "%*s %4095s", arg) == 1) {
		int rc = write_surface_png(s, sc, arg);
		if (rc < 0) {
			log_error("cannot write %s: %s", arg, strerror(-rc));
			return 1;
		}
		printf("png %s\n", arg);
	} else {
		log_warn("unknown command '%s' (scroll N, drag DX DY, video on|off, png FILE, quit)", line);
		return 1;
	}
	fflush(stdout);
	return 1;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Commands from stdin, video frames between them, until quit, end of input or a signal. */
static void serve(struct surface *s, struct scene *sc)
{
	char buf[CMD_LINE_MAX];
	size_t used = 0;
	double next_frame = now_ms();
	while (!stopping) {
		int timeout = -1;
		if (sc->video_on) {
			double wait = next_frame - now_ms();
			timeout = wait > 0 ? (int)wait : 0;
		}
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		int n = poll(&pfd, 1, timeout);
		if (n < 0 && errno != EINTR)
			return;
		if (sc->video_on && now_ms() >= next_frame) {
			sc->video_frame++;
			paint(s, sc, sc->video);
			next_frame += VIDEO_PERIOD;
			if (next_frame < now_ms())
				next_frame = now_ms() + VIDEO_PERIOD;
		}
		if (n <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t got = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
		if (got <= 0)
			return;
		used += (size_t)got;
		char *nl;
		while ((nl = memchr(buf, '\n', used))) {
			*nl = 0;
			if (!run_command(s, sc, buf))
				return;
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used);
			if (!sc->video_on)
				next_frame = now_ms();
		}
		if (used == sizeof(buf) - 1) {
			log_warn("a command line longer than %d bytes: dropped", CMD_LINE_MAX);
			used = 0;
		}
	}
}

static const char usage[] =
    "usage: drawserver [--rdp-port N] [--vnc-port N] [--data-dir DIR] [--size WxH]\n"
    "Serves a drawn test scene over RDP (TLS, DIR/tls.crt) and VNC; prints 'ready' once listening.\n"
    "stdin: scroll N | drag DX DY | video on|off | png FILE | quit\n"
    "stdout: ready, png FILE, and client input as key CODE down|up, pointer X Y BUTTONS, wheel DY DX, resize W H\n";

int main(int argc, char **argv)
{
	log_set_program("drawserver");
	log_init_from_env();
	static const struct option longopts[] = {
	    {"rdp-port", required_argument, NULL, 'r'}, {"vnc-port", required_argument, NULL, 'v'},
	    {"data-dir", required_argument, NULL, 'd'}, {"size", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	int rdp_port = 0, vnc_port = 0, c;
	unsigned width = 1024, height = 768;
	const char *data_dir = "drawserver-data";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char tail;
		switch (c) {
		case 'r':
		case 'v': {
			int port;
			if (sscanf(optarg, "%d%c", &port, &tail) != 1 || port < 0 || port > 65535) {
				log_error("bad port '%s'", optarg);
				return 2;
			}
			*(c == 'r' ? &rdp_port : &vnc_port) = port;
			break;
		}
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			if (sscanf(optarg, "%ux%u%c", &width, &height, &tail) != 2 || width < 64 || height < 64 ||
			    width > 8192 || height > 8192) {
				log_error("bad size '%s' (WxH, 64 to 8192 each)", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc || (!rdp_port && !vnc_port)) {
		fputs(usage, stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct surface *s = surface_create(width, height);
	if (!s)
		return 1;
	struct scene sc;
	scene_layout(&sc, width, height);
	paint(s, &sc, (struct rect){0, 0, (int32_t)width, (int32_t)height});
	struct surface_input_ops ops = {.key = on_key, .pointer = on_pointer, .wheel = on_wheel, .resize = on_resize};
	surface_set_input(s, &ops);
	struct servers sv;
	if (servers_start(&sv, s, rdp_port, vnc_port, data_dir) < 0) {
		surface_destroy(s);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	serve(s, &sc);
	servers_stop(&sv);
	surface_set_input(s, NULL);
	surface_destroy(s);
	return 0;
}
