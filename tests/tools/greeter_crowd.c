/* greeter_crowd — idle clients at vdi-server's login screen, for measuring
 * what each costs the server: VNC clients through the whole RFB 3.8
 * handshake (security None), a full-frame request and its picture read to
 * the end; RDP clients (libfreerdp, TLS, no credentials) through the
 * connection sequence until the first picture arrives, with or without the
 * graphics pipeline. The clients decode nothing (no gdi), so a thousand of
 * them fit in one small process.
 *
 *   greeter_crowd [--vnc PORT N] [--rdp PORT N] [--gfx] [--threads T] [--size WxH]
 *
 * Connects T clients at a time (8), prints "holding V R" once every one has
 * its picture (V VNC, R RDP), keeps them idle until standard input closes,
 * then closes them all and prints "closed". A client that fails ends the run
 * with status 1 and its reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/client.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/channels/rdpgfx.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/gdi/gfx.h>
#include <freerdp/graphics.h>
#include <winpr/synch.h>

#define WAIT_S 60 /* for one client's picture */

static struct {
	int vnc_port, rdp_port, nvnc, nrdp, threads;
	bool gfx;
	uint32_t width, height;
} opt = {.threads = 8, .width = 1024, .height = 768};

static int *vnc_fds;
static freerdp **rdp_clients;
static atomic_int next_client, failed;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- VNC ---- */

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool skip_bytes(int fd, size_t len)
{
	uint8_t buf[65536];
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		if (!read_full(fd, buf, n))
			return false;
		len -= n;
	}
	return true;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The handshake, Raw encoding alone, the whole frame read; the socket, or -1 with *why set. */
static int vnc_client(const char **why)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)opt.vnc_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = WAIT_S};
	uint8_t version[12], ntypes, types[255], result[4], init[24];
	*why = "connect";
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	*why = "handshake";
	if (!read_full(fd, version, 12) || memcmp(version, "RFB 003.", 8) || write(fd, "RFB 003.008\n", 12) != 12 ||
	    !read_full(fd, &ntypes, 1) || !ntypes || !read_full(fd, types, ntypes) || !memchr(types, 1, ntypes) ||
	    write(fd, "\x01", 1) != 1 || !read_full(fd, result, 4) || memcmp(result, "\0\0\0\0", 4) ||
	    write(fd, "\x01", 1) != 1 || !read_full(fd, init, 24) || !skip_bytes(fd, be32(init + 20)))
		goto fail;
	uint16_t w = be16(init), h = be16(init + 2);
	/* SetEncodings: Raw and, as every common viewer, the cursor as a shape (RichCursor); then the whole frame. */
	uint8_t enc[12] = {2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x11};
	uint8_t req[10] = {3, 0, 0, 0, 0, 0, init[0], init[1], init[2], init[3]};
	*why = "frame";
	if (write(fd, enc, sizeof(enc)) != (ssize_t)sizeof(enc) || write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
		goto fail;
	uint64_t covered = 0;
	while (covered < (uint64_t)w * h) {
		uint8_t head[4], rect[12];
		if (!read_full(fd, head, 4) || head[0] != 0)
			goto fail;
		for (uint16_t i = 0; i < be16(head + 2); i++) {
			if (!read_full(fd, rect, 12))
				goto fail;
			uint32_t w = be16(rect + 4), h = be16(rect + 6);
			if (be32(rect + 8) == 0xffffff11) { /* RichCursor: pixels and a bit mask */
				if (!skip_bytes(fd, (size_t)w * h * 4 + (size_t)(w + 7) / 8 * h))
					goto fail;
				continue;
			}
			if (be32(rect + 8) != 0)
				continue; /* another pseudo-encoding: nothing follows */
			uint64_t n = (uint64_t)w * h;
			if (!skip_bytes(fd, n * 4))
				goto fail;
			covered += n;
		}
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- RDP ---- */

struct crowd_rdp {
	rdpClientContext client; /* first: FreeRDP allocates ContextSize bytes */
	uint64_t frames;
};

/* Before the graphics pipeline is up the server draws with bitmap updates: a
 * GFX client counts only the pipeline's frames. */
static BOOL on_bitmap(rdpContext *ctx, const BITMAP_UPDATE *bitmap)
{
	(void)bitmap;
	((struct crowd_rdp *)ctx)->frames += !opt.gfx;
	return TRUE;
}

static BOOL on_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
	(void)cmd;
	((struct crowd_rdp *)ctx)->frames += !opt.gfx;
	return TRUE;
}

static BOOL on_marker(rdpContext *ctx, const SURFACE_FRAME_MARKER *marker)
{
	(void)ctx, (void)marker;
	return TRUE;
}

static BOOL on_scrblt(rdpContext *ctx, const SCRBLT_ORDER *order)
{
	(void)ctx, (void)order;
	return TRUE;
}

static BOOL on_paint(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

static pcRdpgfxEndFrame gdi_end_frame;

static UINT on_gfx_end_frame(RdpgfxClientContext *gfx, const RDPGFX_END_FRAME_PDU *end)
{
	rdpGdi *gdi = gfx->custom;
	((struct crowd_rdp *)gdi->context)->frames++;
	return gdi_end_frame(gfx, end);
}

/* The graphics pipeline's other messages are taken as they come (no handler: fine). */
static void on_channel_connected(void *context, ChannelConnectedEventArgs *e)
{
	if (strcmp(e->name, RDPGFX_DVC_CHANNEL_NAME) != 0)
		return;
	RdpgfxClientContext *gfx = e->pInterface;
	rdpContext *ctx = context;
	if (!gdi_graphics_pipeline_init(ctx->gdi, gfx))
		return;
	gdi_end_frame = gfx->EndFrame;
	gfx->EndFrame = on_gfx_end_frame;
}

static BOOL pointer_new(rdpContext *ctx, rdpPointer *p)
{
	(void)ctx, (void)p;
	return TRUE;
}
static void pointer_free(rdpContext *ctx, rdpPointer *p)
{
	(void)ctx, (void)p;
}
static BOOL pointer_set(rdpContext *ctx, const rdpPointer *p)
{
	(void)ctx, (void)p;
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

/* The server's pointer is not drawn here: its updates are taken as they come. */
static BOOL on_pointer_position(rdpContext *ctx, const POINTER_POSITION_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}
static BOOL on_pointer_system(rdpContext *ctx, const POINTER_SYSTEM_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}
static BOOL on_pointer_color(rdpContext *ctx, const POINTER_COLOR_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}
static BOOL on_pointer_new(rdpContext *ctx, const POINTER_NEW_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}
static BOOL on_pointer_cached(rdpContext *ctx, const POINTER_CACHED_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}
static BOOL on_pointer_large(rdpContext *ctx, const POINTER_LARGE_UPDATE *u)
{
	(void)ctx, (void)u;
	return TRUE;
}

static BOOL on_pre_connect(freerdp *instance)
{
	rdpContext *ctx = instance->context;
	if (!opt.gfx)
		return TRUE;
	if (PubSub_SubscribeChannelConnected(ctx->pubSub, on_channel_connected) < 0)
		return FALSE;
	return freerdp_client_load_addins(ctx->channels, instance->settings);
}

static BOOL on_post_connect(freerdp *instance)
{
	rdpContext *ctx = instance->context;
	if (opt.gfx && !gdi_init(instance, PIXEL_FORMAT_BGRX32))
		return FALSE;
	rdpPointer pointer = {.size = sizeof(rdpPointer),
			      .New = pointer_new,
			      .Free = pointer_free,
			      .Set = pointer_set,
			      .SetNull = pointer_plain,
			      .SetDefault = pointer_plain,
			      .SetPosition = pointer_position};
	graphics_register_pointer(ctx->graphics, &pointer);
	rdpPointerUpdate *pu = ctx->update->pointer;
	pu->PointerPosition = on_pointer_position;
	pu->PointerSystem = on_pointer_system;
	pu->PointerColor = on_pointer_color;
	pu->PointerNew = on_pointer_new;
	pu->PointerCached = on_pointer_cached;
	pu->PointerLarge = on_pointer_large;
	ctx->update->BitmapUpdate = on_bitmap;
	ctx->update->SurfaceBits = on_surface_bits;
	ctx->update->SurfaceFrameMarker = on_marker;
	ctx->update->primary->ScrBlt = on_scrblt;
	ctx->update->BeginPaint = on_paint;
	ctx->update->EndPaint = on_paint;
	ctx->update->DesktopResize = on_paint;
	return TRUE;
}

static DWORD accept_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
				const char *subject, const char *issuer, const char *fingerprint, DWORD flags)
{
	(void)instance, (void)host, (void)port, (void)common_name, (void)subject, (void)issuer, (void)fingerprint;
	(void)flags;
	return 2; /* this session only */
}

static void on_post_disconnect(freerdp *instance)
{
	if (opt.gfx)
		gdi_free(instance);
}

static BOOL on_client_new(freerdp *instance, rdpContext *ctx)
{
	(void)ctx;
	instance->PreConnect = on_pre_connect;
	instance->PostConnect = on_post_connect;
	instance->PostDisconnect = on_post_disconnect;
	instance->VerifyCertificateEx = accept_certificate;
	return TRUE;
}

static void rdp_free(freerdp *instance)
{
	if (instance)
		freerdp_client_context_free(instance->context);
}

/* Connected and its first picture in; NULL with *why set. */
static freerdp *rdp_client(const char **why)
{
	*why = "out of memory";
	RDP_CLIENT_ENTRY_POINTS entry = {
	    .Size = sizeof(RDP_CLIENT_ENTRY_POINTS_V1),
	    .Version = RDP_CLIENT_INTERFACE_VERSION,
	    .ContextSize = sizeof(struct crowd_rdp),
	    .ClientNew = on_client_new,
	};
	rdpContext *ctx = freerdp_client_context_new(&entry);
	if (!ctx)
		return NULL;
	freerdp *instance = ctx->instance;
	rdpSettings *s = instance->settings;
	s->ServerPort = (UINT32)opt.rdp_port;
	s->DesktopWidth = opt.width;
	s->DesktopHeight = opt.height;
	s->ColorDepth = 32;
	s->RdpSecurity = FALSE;
	s->TlsSecurity = TRUE;
	s->NlaSecurity = FALSE;
	s->ExtSecurity = FALSE;
	s->SupportGraphicsPipeline = opt.gfx;
	s->GfxH264 = FALSE;
	s->GfxAVC444 = FALSE;
	s->GfxAVC444v2 = FALSE;
	s->GfxProgressive = FALSE;
	s->RemoteFxCodec = FALSE;
	s->NSCodec = FALSE;
	s->IgnoreCertificate = TRUE;
	s->FrameAcknowledge = 0; /* nothing here would acknowledge bitmap frames */
	if (!freerdp_settings_set_string(s, FreeRDP_ServerHostname, "127.0.0.1")) {
		rdp_free(instance);
		return NULL;
	}
	*why = "connect";
	if (!freerdp_connect(instance)) {
		rdp_free(instance);
		return NULL;
	}
	*why = "no picture";
	struct crowd_rdp *r = (struct crowd_rdp *)instance->context;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < WAIT_S * 1000;) {
		if (r->frames)
			return instance;
		if (freerdp_shall_disconnect(instance))
			break;
		HANDLE handles[MAXIMUM_WAIT_OBJECTS];
		DWORD n = freerdp_get_event_handles(instance->context, handles, MAXIMUM_WAIT_OBJECTS);
		if (!n || WaitForMultipleObjects(n, handles, FALSE, 100) == WAIT_FAILED ||
		    !freerdp_check_event_handles(instance->context))
			break;
	}
	freerdp_disconnect(instance);
	rdp_free(instance);
	return NULL;
}

/* ---- the crowd ---- */

static void *crowd_thread(void *arg)
{
	(void)arg;
	int i;
	while (!atomic_load(&failed) && (i = atomic_fetch_add(&next_client, 1)) < opt.nvnc + opt.nrdp) {
		const char *why = NULL;
		bool ok;
		if (i < opt.nvnc)
			ok = (vnc_fds[i] = vnc_client(&why)) >= 0;
		else
			ok = (rdp_clients[i - opt.nvnc] = rdp_client(&why)) != NULL;
		if (!ok && !atomic_exchange(&failed, 1))
			fprintf(stderr, "greeter_crowd: %s client %d: %s (%s)\n", i < opt.nvnc ? "VNC" : "RDP",
				i < opt.nvnc ? i + 1 : i - opt.nvnc + 1, why, strerror(errno));
	}
	return NULL;
}

static bool parse_size(const char *text, uint32_t *w, uint32_t *h)
{
	return sscanf(text, "%ux%u", w, h) == 2 && *w >= 64 && *h >= 64 && *w <= 8192 && *h <= 8192;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"vnc", required_argument, NULL, 'v'},
					     {"rdp", required_argument, NULL, 'r'},
					     {"gfx", no_argument, NULL, 'g'},
					     {"threads", required_argument, NULL, 't'},
					     {"size", required_argument, NULL, 's'},
					     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
		case 'r':
			if (optind >= argc)
				goto usage;
			*(c == 'v' ? &opt.vnc_port : &opt.rdp_port) = atoi(optarg);
			*(c == 'v' ? &opt.nvnc : &opt.nrdp) = atoi(argv[optind++]);
			break;
		case 'g':
			opt.gfx = true;
			break;
		case 't':
			opt.threads = atoi(optarg);
			break;
		case 's':
			if (!parse_size(optarg, &opt.width, &opt.height))
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || opt.nvnc < 0 || opt.nrdp < 0 || opt.nvnc + opt.nrdp == 0 || opt.threads < 1 ||
	    opt.threads > 256 || (opt.nvnc && opt.vnc_port <= 0) || (opt.nrdp && opt.rdp_port <= 0))
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	vnc_fds = calloc((size_t)opt.nvnc + 1, sizeof(*vnc_fds));
	rdp_clients = calloc((size_t)opt.nrdp + 1, sizeof(*rdp_clients));
	pthread_t *threads = calloc((size_t)opt.threads, sizeof(*threads));
	if (!vnc_fds || !rdp_clients || !threads)
		return 1;
	for (int i = 0; i < opt.nvnc; i++)
		vnc_fds[i] = -1;
	int started = 0;
	for (; started < opt.threads; started++)
		if (pthread_create(&threads[started], NULL, crowd_thread, NULL) != 0)
			break;
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	int status = 0;
	if (!started || atomic_load(&failed)) {
		status = 1;
	} else {
		printf("holding %d %d\n", opt.nvnc, opt.nrdp);
		fflush(stdout);
		char buf[256];
		while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
			;
	}
	for (int i = 0; i < opt.nvnc; i++)
		if (vnc_fds[i] >= 0)
			close(vnc_fds[i]);
	for (int i = 0; i < opt.nrdp; i++) {
		if (rdp_clients[i]) {
			freerdp_disconnect(rdp_clients[i]);
			rdp_free(rdp_clients[i]);
		}
	}
	printf("closed\n");
	return status;
usage:
	fprintf(stderr, "usage: greeter_crowd [--vnc PORT N] [--rdp PORT N] [--gfx] [--threads T] [--size WxH]\n");
	return 2;
}
