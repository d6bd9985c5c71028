/* vncpixels — a libvncclient test client that saves exactly the pixels a VNC server sends, as PPM. */
#include <rfb/rfbclient.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *out_path;
static bool frame_done;
/* Which pixels some update has carried: updates can be cursor shapes alone, so the first one is not the frame. */
static uint8_t *covered;
static size_t uncovered;

static void usage(void)
{
	fprintf(stderr, "usage: vncpixels [-e ENCODINGS] [-t TEXT] [-s SECONDS] HOST PORT OUT.ppm\n"
			"  saves the first full frame; with -t types TEXT after it; with -s keeps the\n"
			"  connection SECONDS, saving again after every update\n");
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
	const rfbPixelFormat *pf = &client->format;
	fprintf(f, "P6\n%d %d\n255\n", w, h);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			uint32_t p;
			memcpy(&p, client->frameBuffer + ((size_t)y * w + x) * 4, 4);
			unsigned char rgb[3] = {(unsigned char)((p >> pf->redShift) & pf->redMax),
						(unsigned char)((p >> pf->greenShift) & pf->greenMax),
						(unsigned char)((p >> pf->blueShift) & pf->blueMax)};
			fwrite(rgb, 1, 3, f);
		}
	}
	if (fclose(f) != 0 || rename(tmp, out_path) != 0)
		return -1;
	return 0;
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

int main(int argc, char **argv)
{
	const char *encodings = "raw", *text = NULL;
	double seconds = 0;
	int opt;
	while ((opt = getopt(argc, argv, "e:t:s:")) != -1) {
		if (opt == 'e')
			encodings = optarg;
		else if (opt == 't')
			text = optarg;
		else if (opt == 's')
			seconds = atof(optarg);
		else {
			usage();
			return 2;
		}
	}
	if (argc - optind != 3) {
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
	client->GotFrameBufferUpdate = got_update;
	client->FinishedFrameBufferUpdate = finished_update;
	/* Host and port set directly: libvncclient's own HOST::PORT parsing trips over IPv4 addresses. */
	client->serverHost = strdup(argv[optind]);
	client->serverPort = atoi(argv[optind + 1]);
	int nargs = 1;
	if (!client->serverHost || !rfbInitClient(client, &nargs, argv)) /* frees the client on failure */
		return 1;

	/* A DesktopSize change after this would restart the count; the tests keep the size fixed per client. */
	uncovered = (size_t)client->width * client->height;
	covered = calloc(uncovered, 1);
	if (!covered) {
		rfbClientCleanup(client);
		return 1;
	}
	int rc = 0;
	if (!pump(client, now() + 20, true) || !frame_done) {
		fprintf(stderr, "vncpixels: no full frame\n");
		rc = 1;
	}
	for (const char *c = text; rc == 0 && c && *c; c++) {
		if (!SendKeyEvent(client, (uint8_t)*c, TRUE) || !SendKeyEvent(client, (uint8_t)*c, FALSE))
			rc = 1;
	}
	if (rc == 0 && seconds > 0 && !pump(client, now() + seconds, false)) {
		fprintf(stderr, "vncpixels: connection lost\n");
		rc = 1;
	}
	rfbClientCleanup(client);
	free(covered);
	return rc;
}
