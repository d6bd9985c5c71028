/* vncpixels — a libvncclient test client that saves exactly the pixels a VNC server sends (PPM after every
 * update, PNG on request) and runs a script of typing, waiting and screenshots from its arguments; with a user
 * name it logs in through VeNCrypt X509Plain (TLS checked against a CA file), without one it takes no security. */
#include "../../common/png.h"

#include <rfb/rfbclient.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ACTIONS_MAX 64

enum action_kind { ACT_TYPE, ACT_PUMP, ACT_PNG, ACT_COLOUR };

struct action {
	enum action_kind kind;
	const char *arg;
	double seconds;
	uint32_t rgb; /* ACT_COLOUR */
};

static const char *out_path;
static const char *login_user, *login_password, *ca_file;
static bool frame_done;
/* Which pixels some update has carried: updates can be cursor shapes alone, so the first one is not the frame. */
static uint8_t *covered;
static size_t uncovered;
static rfbBool (*default_malloc_framebuffer)(rfbClient *client);

static void usage(void)
{
	fprintf(stderr,
		"usage: vncpixels [-e ENCODINGS] [-u USER -w PASSWORD -a CA.pem] [-t TEXT] [-s SECONDS] [-p FILE.png]\n"
		"                 [-c RRGGBB]... HOST PORT OUT.ppm\n"
		"  -u, -w, -a  log in with VeNCrypt X509Plain, the server's certificate checked against CA.pem;\n"
		"              without -u the client offers only None (no security)\n"
		"  saves the first full frame to OUT.ppm, then after every update; then, in order:\n"
		"  -t TEXT     types TEXT as keysyms; escapes: \\n Return, \\t Tab, \\b BackSpace,\n"
		"              \\e Escape, \\u Up, \\d Down, \\\\ a backslash\n"
		"  -s SECONDS  keeps the connection SECONDS, taking updates\n"
		"  -p FILE     writes the picture as it is now as PNG (prints 'png FILE WxH')\n"
		"  -c RRGGBB   waits (up to 20 s) until some pixel has exactly this colour\n"
		"exit status: 0 done, 1 connecting, the first frame or an action failed, 2 bad arguments\n");
}

/* The framebuffer's pixel at x,y as 0xRRGGBB. */
static uint32_t pixel_rgb(const rfbClient *client, int x, int y)
{
	uint32_t p;
	const rfbPixelFormat *pf = &client->format;
	memcpy(&p, client->frameBuffer + ((size_t)y * client->width + x) * 4, 4);
	uint32_t r = (p >> pf->redShift) & pf->redMax, g = (p >> pf->greenShift) & pf->greenMax,
		 b = (p >> pf->blueShift) & pf->blueMax;
	return r << 16 | g << 8 | b;
}

/* Written to a temporary name and renamed, so a test polling OUT never reads half a picture. */
static int save_ppm(rfbClient *client)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out_path) >= (int)sizeof(tmp))
		return -1;
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -1;
	int w = client->width, h = client->height;
	fprintf(f, "P6\n%d %d\n255\n", w, h);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			uint32_t p = pixel_rgb(client, x, y);
			unsigned char rgb[3] = {(unsigned char)(p >> 16), (unsigned char)(p >> 8), (unsigned char)p};
			fwrite(rgb, 1, 3, f);
		}
	}
	if (fclose(f) != 0 || rename(tmp, out_path) != 0)
		return -1;
	return 0;
}

/* The picture as an 8-bit RGB PNG, the same format as `vdi-vmm ctl screenshot`, for exact comparisons. */
static int save_png(rfbClient *client, const char *path)
{
	int w = client->width, h = client->height;
	uint32_t *xrgb = malloc((size_t)w * h * 4);
	if (!xrgb)
		return -ENOMEM;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			xrgb[(size_t)y * w + x] = pixel_rgb(client, x, y);
	FILE *f = fopen(path, "wb");
	int rc = f ? png_write_xrgb(f, (const uint8_t *)xrgb, (uint32_t)w, (uint32_t)h, (uint32_t)w * 4) : -errno;
	if (f && fclose(f) != 0 && rc == 0)
		rc = -EIO;
	free(xrgb);
	return rc;
}

/* libvncclient allocates the framebuffer at connect and again on every DesktopSize change: the coverage count
 * starts over with it, so a resized screen is saved once it has all arrived. */
static rfbBool malloc_framebuffer(rfbClient *client)
{
	if (!default_malloc_framebuffer(client))
		return FALSE;
	free(covered);
	uncovered = (size_t)client->width * client->height;
	covered = calloc(uncovered ? uncovered : 1, 1);
	frame_done = false;
	return covered != NULL;
}

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
	if (!covered || x < 0 || y < 0 || w < 0 || h < 0 || x + w > client->width || y + h > client->height)
		return;
	for (int yy = y; yy < y + h; yy++) {
		for (int xx = x; xx < x + w; xx++) {
			uint8_t *c = &covered[(size_t)yy * client->width + xx];
			uncovered -= !*c;
			*c = 1;
		}
	}
}

static void finished_update(rfbClient *client)
{
	if (uncovered > 0)
		return;
	frame_done = true;
	if (save_ppm(client) != 0)
		perror(out_path);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Until DEADLINE: returns false if the connection broke. */
static bool pump(rfbClient *client, double deadline, bool until_frame)
{
	while (now() < deadline && !(until_frame && frame_done)) {
		int n = WaitForMessage(client, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(client)))
			return false;
	}
	return true;
}

/* The keysym of TEXT's next character or escape; advances *text. 0 for an unknown escape. */
static uint32_t next_keysym(const char **text)
{
	const char *c = *text;
	if (*c != '\\' || !c[1]) {
		*text = c + 1;
		return (uint8_t)*c;
	}
	*text = c + 2;
	switch (c[1]) {
	case 'n':
		return XK_Return;
	case 't':
		return XK_Tab;
	case 'b':
		return XK_BackSpace;
	case 'e':
		return XK_Escape;
	case 'u':
		return XK_Up;
	case 'd':
		return XK_Down;
	case '\\':
		return '\\';
	default:
		return 0;
	}
}

static bool type_text(rfbClient *client, const char *text)
{
	while (*text) {
		uint32_t sym = next_keysym(&text);
		if (!sym) {
			fprintf(stderr, "vncpixels: unknown escape in -t\n");
			return false;
		}
		if (!SendKeyEvent(client, sym, TRUE) || !SendKeyEvent(client, sym, FALSE))
			return false;
	}
	return true;
}

static bool has_colour(const rfbClient *client, uint32_t rgb)
{
	for (int y = 0; y < client->height; y++)
		for (int x = 0; x < client->width; x++)
			if (pixel_rgb(client, x, y) == rgb)
				return true;
	return false;
}

/* Until a pixel of colour rgb is on the screen: false when it does not come or the connection broke. */
static bool wait_colour(rfbClient *client, uint32_t rgb)
{
	double deadline = now() + 20;
	while (!has_colour(client, rgb)) {
		if (now() >= deadline) {
			fprintf(stderr, "vncpixels: no pixel of colour %06x in 20 s\n", rgb);
			return false;
		}
		int n = WaitForMessage(client, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(client))) {
			fprintf(stderr, "vncpixels: connection lost\n");
			return false;
		}
	}
	printf("colour %06x\n", rgb);
	fflush(stdout);
	return true;
}

static bool run_action(rfbClient *client, const struct action *a)
{
	switch (a->kind) {
	case ACT_TYPE:
		return type_text(client, a->arg);
	case ACT_PUMP:
		if (!pump(client, now() + a->seconds, false)) {
			fprintf(stderr, "vncpixels: connection lost\n");
			return false;
		}
		return true;
	case ACT_COLOUR:
		return wait_colour(client, a->rgb);
	case ACT_PNG: {
		int rc = save_png(client, a->arg);
		if (rc < 0) {
			fprintf(stderr, "vncpixels: %s: %s\n", a->arg, strerror(-rc));
			return false;
		}
		printf("png %s %dx%d\n", a->arg, client->width, client->height);
		fflush(stdout);
		return true;
	}
	}
	return false;
}

/* libvncclient asks for the CA file, then the user name and password; it frees what it gets. */
static rfbCredential *get_credential(rfbClient *client, int type)
{
	(void)client;
	rfbCredential *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (type == rfbCredentialTypeX509) {
		c->x509Credential.x509CACertFile = strdup(ca_file);
		c->x509Credential.x509CrlVerifyMode = rfbX509CrlVerifyNone;
		if (c->x509Credential.x509CACertFile)
			return c;
	} else if (type == rfbCredentialTypeUser) {
		c->userCredential.username = strdup(login_user);
		c->userCredential.password = strdup(login_password);
		if (c->userCredential.username && c->userCredential.password)
			return c;
		free(c->userCredential.username);
		free(c->userCredential.password);
	}
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *encodings = "raw";
	struct action actions[ACTIONS_MAX];
	size_t nactions = 0;
	int opt;
	while ((opt = getopt(argc, argv, "e:u:w:a:t:s:p:c:")) != -1) {
		if (opt == 'e' || opt == 'u' || opt == 'w' || opt == 'a') {
			*(opt == 'e'   ? &encodings
			  : opt == 'u' ? &login_user
			  : opt == 'w' ? &login_password
				       : &ca_file) = optarg;
			continue;
		}
		if (opt != 't' && opt != 's' && opt != 'p' && opt != 'c') {
			usage();
			return 2;
		}
		if (nactions == ACTIONS_MAX) {
			fprintf(stderr, "vncpixels: at most %d actions\n", ACTIONS_MAX);
			return 2;
		}
		struct action *a = &actions[nactions++];
		a->kind = opt == 't' ? ACT_TYPE : opt == 's' ? ACT_PUMP : opt == 'p' ? ACT_PNG : ACT_COLOUR;
		a->arg = optarg;
		if (opt == 'c') {
			char *end;
			unsigned long rgb = strtoul(optarg, &end, 16);
			if (strlen(optarg) != 6 || *end || rgb > 0xffffff) {
				fprintf(stderr, "vncpixels: -c takes a colour as RRGGBB, not '%s'\n", optarg);
				return 2;
			}
			a->rgb = (uint32_t)rgb;
		}
		if (opt == 's') {
			char *end;
			a->seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(a->seconds >= 0 && a->seconds <= 3600)) {
				fprintf(stderr, "vncpixels: -s takes seconds from 0 to 3600, not '%s'\n", optarg);
				return 2;
			}
		}
	}
	if (argc - optind != 3 || (login_user && (!login_password || !ca_file))) {
		usage();
		return 2;
	}
	out_path = argv[optind + 2];

	rfbClient *client = rfbGetClient(8, 3, 4);
	if (!client)
		return 1;
	client->appData.encodingsString = encodings;
	/* The cursor as a shape, not drawn into the pixels: the picture is the scanout alone. */
	client->appData.useRemoteCursor = TRUE;
	if (login_user) {
		static const uint32_t vencrypt[] = {rfbVeNCrypt};
		client->GetCredential = get_credential;
		SetClientAuthSchemes(client, vencrypt, 1);
	} else {
		static const uint32_t none[] = {rfbNoAuth};
		SetClientAuthSchemes(client, none, 1);
	}
	client->GotFrameBufferUpdate = got_update;
	client->FinishedFrameBufferUpdate = finished_update;
	default_malloc_framebuffer = client->MallocFrameBuffer;
	client->MallocFrameBuffer = malloc_framebuffer;
	/* Host and port set directly: libvncclient's own HOST::PORT parsing trips over IPv4 addresses. */
	client->serverHost = strdup(argv[optind]);
	client->serverPort = atoi(argv[optind + 1]);
	int nargs = 1;
	if (!client->serverHost || !rfbInitClient(client, &nargs, argv)) /* frees the client on failure */
		return 1;

	int rc = 0;
	if (!pump(client, now() + 20, true) || !frame_done) {
		fprintf(stderr, "vncpixels: no full frame\n");
		rc = 1;
	}
	for (size_t i = 0; rc == 0 && i < nactions; i++)
		if (!run_action(client, &actions[i]))
			rc = 1;
	rfbClientCleanup(client);
	free(covered);
	return rc;
}
