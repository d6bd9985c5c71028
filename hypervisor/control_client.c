/* control_client.c — `vdi-vmm ctl SOCKET COMMAND`, the command-line face of
 * the control socket for admins and tests. */
#include "control.h"

#include "../common/ipc.h"
#include "../common/log.h"
#include "../common/png.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/input-event-codes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char control_usage[] =
    "usage: vdi-vmm ctl SOCKET COMMAND\n"
    "\n"
    "  status | pause | resume | poweroff | stats\n"
    "  screenshot FILE.png     the guest's screen as a PNG\n"
    "  type TEXT               type TEXT on the keyboard (US layout; \\n is Enter)\n"
    "  key NAME                press and release a key or chord: enter, f5, a, ctrl+alt+delete\n"
    "  pointer X Y [BUTTONS]   move the pointer to X,Y (pixels) holding BUTTONS: left, right,\n"
    "                          middle, joined with + (none given: all released)\n"
    "  wheel N [H]             scroll N clicks (positive: up) and H horizontally\n"
    "  display WxH             ask the guest to change its display size\n"
    "  label TEXT              set the label the desktop shows (the user's name)\n"
    "  events [SECONDS]        print the screen's events for SECONDS (default 5)\n"
    "  snapshot DIR [--pause|--stop]\n"
    "                          write the VM's RAM and state to DIR/memory and DIR/state,\n"
    "                          then resume it, keep it paused, or power it off (suspend\n"
    "                          to disk); vdi-vmm --restore DIR starts it again\n"
    "  audio-record FILE.wav SECONDS\n"
    "                          what the guest plays during SECONDS, as a 48 kHz stereo WAV\n"
    "  audio-play FILE.wav     play a 16-bit 48 kHz WAV (mono or stereo) into the guest's\n"
    "                          microphone, in real time\n";

/* How long `type` keeps retrying while the guest is not taking input. */
#define CONTROL_INPUT_PATIENCE_MS 10000
#define CONTROL_TYPE_CHUNK        64 /* characters per request */

struct ctl {
	int fd;
	const char *path;
	uint32_t next_id;
	uint8_t buf[VMM_MSG_MAX];
};

static int64_t control_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends a request and waits for its reply, skipping events. Returns the
 * reply's result (or -errno when the exchange failed, logged); the payload
 * stays in c->buf after the header, *len its size, fds[0..max_fds) the
 * descriptors passed with it (the rest closed; unfilled ones keep -1). */
static int control_call_fds(struct ctl *c, uint16_t type, const void *payload, uint32_t length, uint32_t *len,
			    int *fds_out, int max_fds)
{
	struct vmm_msg req = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = ++c->next_id, .length = length};
	if (sizeof(req) + length > sizeof(c->buf))
		return -EMSGSIZE;
	memcpy(c->buf, &req, sizeof(req));
	if (length)
		memcpy(c->buf + sizeof(req), payload, length);
	int r = ipc_send(c->fd, c->buf, sizeof(req) + length, NULL, 0);
	if (r < 0) {
		log_error("ctl: cannot send to %s: %s", c->path, strerror(-r));
		return r;
	}
	for (;;) {
		int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
		ssize_t n = ipc_recv(c->fd, c->buf, sizeof(c->buf), fds, &nfds);
		struct vmm_msg rep;
		if (n < (ssize_t)sizeof(rep)) {
			log_error("ctl: no reply from %s%s%s", c->path, n < 0 ? ": " : "",
				  n < 0 ? strerror((int)-n) : "");
			return n < 0 ? (int)n : -EPIPE;
		}
		memcpy(&rep, c->buf, sizeof(rep));
		if (rep.length != (size_t)n - sizeof(rep)) {
			log_error("ctl: malformed message from %s", c->path);
			return -EPROTO;
		}
		if (rep.type != VMM_REPLY || rep.id != req.id) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]); /* an event's surface: not what we wait for */
			continue;
		}
		for (int i = 0; i < nfds; i++) {
			if (i < max_fds)
				fds_out[i] = fds[i];
			else
				close(fds[i]);
		}
		if (len)
			*len = rep.length;
		return rep.result;
	}
}

static int control_call(struct ctl *c, uint16_t type, const void *payload, uint32_t length, uint32_t *len, int *fd)
{
	return control_call_fds(c, type, payload, length, len, fd, fd ? 1 : 0);
}

/* A request whose only answer is success or failure. */
static int control_simple(struct ctl *c, const char *what, uint16_t type, const void *payload, uint32_t length)
{
	int r = control_call(c, type, payload, length, NULL, NULL);
	if (r < 0) {
		log_error("ctl: %s failed: %s", what, strerror(-r));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static void control_print_status(const struct vmm_status *s)
{
	const char *state = s->state == VMM_STATE_RUNNING  ? "running"
			    : s->state == VMM_STATE_PAUSED ? "paused"
							   : "stopping";
	printf("state %s\nvcpus %u\nmem_mib %" PRIu64 "\nuptime_ms %" PRIu64 "\npid %u\n", state, s->vcpus,
	       s->mem_bytes >> 20, s->uptime_ns / 1000000, s->pid);
}

static void control_print_stats(const struct vmm_stats *s)
{
	static const char *const names[] = VMM_EXIT_KIND_NAMES;
	for (int i = 0; i < VMM_EXIT_KINDS; i++)
		printf("exits.%s %" PRIu64 "\n", names[i], s->exits[i]);
	printf("unhandled.pio %" PRIu64 "\nunhandled.mmio %" PRIu64 "\n", s->unhandled_pio, s->unhandled_mmio);
	printf("guest_ram_bytes %" PRIu64 "\nguest_ram_touched_bytes %" PRIu64 "\nvmm_rss_bytes %" PRIu64 "\n",
	       s->guest_ram_bytes, s->guest_ram_touched_bytes, s->vmm_rss_bytes);
	uint64_t overhead =
	    s->vmm_rss_bytes > s->guest_ram_touched_bytes ? s->vmm_rss_bytes - s->guest_ram_touched_bytes : 0;
	printf("vmm_overhead_bytes %" PRIu64 "\n", overhead);
}

static int control_query(struct ctl *c, const char *cmd, uint16_t type, size_t want)
{
	uint32_t len = 0;
	int r = control_call(c, type, NULL, 0, &len, NULL);
	if (r < 0) {
		log_error("ctl: %s failed: %s", cmd, strerror(-r));
		return 1;
	}
	if (len != want) {
		log_error("ctl: reply of unexpected size %u", len);
		return 1;
	}
	if (type == VMM_REQ_STATUS) {
		struct vmm_status s;
		memcpy(&s, c->buf + sizeof(struct vmm_msg), sizeof(s));
		control_print_status(&s);
	} else {
		struct vmm_stats s;
		memcpy(&s, c->buf + sizeof(struct vmm_msg), sizeof(s));
		control_print_stats(&s);
	}
	return 0;
}

static int control_screenshot(struct ctl *c, const char *file)
{
	uint32_t len = 0;
	int fd = -1;
	int r = control_call(c, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0, &len, &fd);
	struct vmm_surface s;
	if (r < 0 || len != sizeof(s)) {
		log_error("ctl: screenshot: %s", r < 0 ? strerror(-r) : "reply of unexpected size");
		goto fail;
	}
	memcpy(&s, c->buf + sizeof(struct vmm_msg), sizeof(s));
	if (!s.width || !s.height || fd < 0) {
		log_error("ctl: screenshot: the guest has not set up its display");
		goto fail;
	}
	size_t bytes = (size_t)s.stride * s.height;
	uint8_t *pixels = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (pixels == MAP_FAILED) {
		log_error("ctl: screenshot: cannot map the surface: %s", strerror(errno));
		goto fail;
	}
	FILE *out = fopen(file, "wb");
	r = out ? png_write_xrgb(out, pixels, s.width, s.height, s.stride) : -errno;
	if (out && fclose(out) && !r)
		r = -EIO;
	munmap(pixels, bytes);
	close(fd);
	if (r < 0) {
		log_error("ctl: screenshot: cannot write %s: %s", file, strerror(-r));
		return 1;
	}
	printf("screenshot %ux%u %s\n", s.width, s.height, file);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return 1;
}

/* Input requests, retried while the guest is not taking input (-ENOBUFS)
 * for at most CONTROL_INPUT_PATIENCE_MS. */
static int control_send_input(struct ctl *c, const struct vmm_input *in, size_t count)
{
	int64_t deadline = control_now_ms() + CONTROL_INPUT_PATIENCE_MS;
	for (;;) {
		int r = control_call(c, VMM_REQ_INPUT, in, (uint32_t)(count * sizeof(*in)), NULL, NULL);
		if (r != -ENOBUFS || control_now_ms() > deadline)
			return r;
		usleep(20000);
	}
}

static struct vmm_input control_key(uint32_t code, int down)
{
	return (struct vmm_input){.kind = VMM_INPUT_KEY, .code = code, .x = down};
}

static int control_type(struct ctl *c, const char *text)
{
	struct vmm_input in[CONTROL_TYPE_CHUNK * 4];
	size_t len = strlen(text);
	for (size_t start = 0; start < len; start += CONTROL_TYPE_CHUNK) {
		size_t n = 0;
		for (size_t i = start; i < len && i < start + CONTROL_TYPE_CHUNK; i++) {
			bool shift;
			int code = control_key_for_char(text[i], &shift);
			if (code < 0) {
				log_error("ctl: type: no key for character 0x%02x", (unsigned char)text[i]);
				return 1;
			}
			if (shift)
				in[n++] = control_key(KEY_LEFTSHIFT, 1);
			in[n++] = control_key((uint32_t)code, 1);
			in[n++] = control_key((uint32_t)code, 0);
			if (shift)
				in[n++] = control_key(KEY_LEFTSHIFT, 0);
		}
		int r = control_send_input(c, in, n);
		if (r < 0) {
			log_error("ctl: type failed: %s", strerror(-r));
			return 1;
		}
	}
	printf("ok\n");
	return 0;
}

static int control_chord(struct ctl *c, const char *chord)
{
	enum { MAX_KEYS = 8 };
	uint32_t keys[MAX_KEYS];
	int n = 0;
	for (const char *p = chord;;) {
		const char *plus = strchr(p, '+');
		size_t len = plus ? (size_t)(plus - p) : strlen(p);
		int code = control_key_for_name(p, len);
		if (code < 0 || n == MAX_KEYS) {
			log_error("ctl: key: unknown key '%.*s' (names: enter, tab, esc, f1..f12, a, 1, ctrl, alt, "
				  "shift, ...; chords joined with +)",
				  (int)len, p);
			return 1;
		}
		keys[n++] = (uint32_t)code;
		if (!plus)
			break;
		p = plus + 1;
	}
	struct vmm_input in[2 * MAX_KEYS];
	for (int i = 0; i < n; i++)
		in[i] = control_key(keys[i], 1);
	for (int i = 0; i < n; i++)
		in[n + i] = control_key(keys[n - 1 - i], 0);
	int r = control_send_input(c, in, (size_t)(2 * n));
	if (r < 0) {
		log_error("ctl: key failed: %s", strerror(-r));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static bool control_parse_int(const char *text, long min, long max, int32_t *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return false;
	*out = (int32_t)v;
	return true;
}

static int control_pointer(struct ctl *c, int argc, char **argv)
{
	struct vmm_input in = {.kind = VMM_INPUT_POINTER};
	if (argc < 2 || argc > 3 || !control_parse_int(argv[0], 0, 65535, &in.x) ||
	    !control_parse_int(argv[1], 0, 65535, &in.y)) {
		log_error("ctl: pointer X Y [BUTTONS]: X and Y are pixels from 0");
		return 1;
	}
	for (const char *p = argc == 3 ? argv[2] : ""; *p;) {
		size_t len = strcspn(p, "+");
		if (len == 4 && !strncmp(p, "left", 4))
			in.code |= VMM_BUTTON_LEFT;
		else if (len == 5 && !strncmp(p, "right", 5))
			in.code |= VMM_BUTTON_RIGHT;
		else if (len == 6 && !strncmp(p, "middle", 6))
			in.code |= VMM_BUTTON_MIDDLE;
		else if (!(len == 4 && !strncmp(p, "none", 4))) {
			log_error("ctl: pointer: unknown button '%.*s' (left, right, middle, none)", (int)len, p);
			return 1;
		}
		p += len + (p[len] == '+');
	}
	int r = control_send_input(c, &in, 1);
	if (r < 0) {
		log_error("ctl: pointer failed: %s", strerror(-r));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int control_wheel(struct ctl *c, int argc, char **argv)
{
	struct vmm_input in = {.kind = VMM_INPUT_WHEEL};
	if (argc < 1 || argc > 2 || !control_parse_int(argv[0], -120, 120, &in.y) ||
	    (argc == 2 && !control_parse_int(argv[1], -120, 120, &in.x))) {
		log_error("ctl: wheel N [H]: clicks from -120 to 120");
		return 1;
	}
	int r = control_send_input(c, &in, 1);
	if (r < 0) {
		log_error("ctl: wheel failed: %s", strerror(-r));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int control_display(struct ctl *c, const char *size)
{
	struct vmm_display_size d;
	char extra;
	if (sscanf(size, "%ux%u%c", &d.width, &d.height, &extra) != 2) {
		log_error("ctl: display WxH: e.g. 1280x720");
		return 1;
	}
	return control_simple(c, "display", VMM_REQ_DISPLAY_SIZE, &d, sizeof(d));
}

/* One line per event, for people and test scripts. */
static void control_print_event(const uint8_t *msg, size_t n)
{
	struct vmm_msg h;
	memcpy(&h, msg, sizeof(h));
	const uint8_t *p = msg + sizeof(h);
	if (h.type == VMM_EVENT_SURFACE && h.length == sizeof(struct vmm_surface)) {
		struct vmm_surface s;
		memcpy(&s, p, sizeof(s));
		printf("surface %ux%u serial %" PRIu64 "\n", s.width, s.height, s.serial);
	} else if (h.type == VMM_EVENT_DAMAGE && h.length >= sizeof(struct vmm_damage)) {
		struct vmm_damage d;
		memcpy(&d, p, sizeof(d));
		for (uint32_t i = 0; i < d.count && sizeof(d) + (i + 1) * sizeof(struct vmm_rect) <= h.length; i++) {
			struct vmm_rect r;
			memcpy(&r, p + sizeof(d) + i * sizeof(r), sizeof(r));
			printf("damage %u,%u %ux%u\n", r.x, r.y, r.width, r.height);
		}
	} else if (h.type == VMM_EVENT_CURSOR_IMAGE && h.length >= sizeof(struct vmm_cursor_image)) {
		struct vmm_cursor_image ci;
		memcpy(&ci, p, sizeof(ci));
		printf("cursor-image %ux%u hot %u,%u\n", ci.width, ci.height, ci.hot_x, ci.hot_y);
	} else if (h.type == VMM_EVENT_CURSOR_MOVE && h.length == sizeof(struct vmm_cursor_pos)) {
		struct vmm_cursor_pos cp;
		memcpy(&cp, p, sizeof(cp));
		printf("cursor %d,%d %s\n", cp.x, cp.y, cp.visible ? "visible" : "hidden");
	} else {
		printf("event type %u, %zu bytes\n", h.type, n);
	}
	fflush(stdout);
}

static int control_events(struct ctl *c, int argc, char **argv)
{
	int32_t seconds = 5;
	if (argc > 1 || (argc == 1 && !control_parse_int(argv[0], 0, 86400, &seconds))) {
		log_error("ctl: events [SECONDS]");
		return 1;
	}
	uint32_t len = 0;
	int fd = -1;
	int r = control_call(c, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0, &len, &fd);
	if (fd >= 0)
		close(fd);
	if (r < 0 || len != sizeof(struct vmm_surface)) {
		log_error("ctl: events: %s", r < 0 ? strerror(-r) : "reply of unexpected size");
		return 1;
	}
	struct vmm_surface s;
	memcpy(&s, c->buf + sizeof(struct vmm_msg), sizeof(s));
	printf("surface %ux%u serial %" PRIu64 "\n", s.width, s.height, s.serial);
	fflush(stdout);
	int64_t deadline = control_now_ms() + (int64_t)seconds * 1000;
	for (int64_t left; (left = deadline - control_now_ms()) > 0;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
		ssize_t n = ipc_recv(c->fd, c->buf, sizeof(c->buf), fds, &nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n <= 0) {
			log_error("ctl: events: the VMM closed the connection");
			return 1;
		}
		if ((size_t)n >= sizeof(struct vmm_msg))
			control_print_event(c->buf, (size_t)n);
	}
	return 0;
}

/* The VMM may run in another directory: a relative DIR is made absolute
 * here, where the user meant it. */
static int control_snapshot(struct ctl *c, int argc, char **argv)
{
	uint32_t flags = 0;
	if (argc == 2 && !strcmp(argv[1], "--pause"))
		flags = VMM_SNAPSHOT_PAUSE;
	else if (argc == 2 && !strcmp(argv[1], "--stop"))
		flags = VMM_SNAPSHOT_STOP;
	else if (argc != 1) {
		log_error("ctl: snapshot DIR [--pause|--stop]");
		return 1;
	}
	struct {
		struct vmm_snapshot req;
		char path[VMM_SNAPSHOT_PATH_MAX + 1];
	} msg = {.req.flags = flags};
	char cwd[VMM_SNAPSHOT_PATH_MAX];
	int n;
	if (argv[0][0] == '/')
		n = snprintf(msg.path, sizeof(msg.path), "%s", argv[0]);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(msg.path, sizeof(msg.path), "%s/%s", cwd, argv[0]);
	else
		n = -1;
	if (n <= 0 || n > VMM_SNAPSHOT_PATH_MAX) {
		log_error("ctl: snapshot %s: path too long", argv[0]);
		return 1;
	}
	return control_simple(c, "snapshot", VMM_REQ_SNAPSHOT, &msg, (uint32_t)(sizeof(msg.req) + (size_t)n));
}

/* --- Sound --- */

#define WAV_HEADER_BYTES 44
#define WAV_FILE_MAX     (64u << 20) /* audio-play reads at most this much */
#define AUDIO_PLAY_LEAD  960         /* frames written ahead of the clock: 20 ms */

struct audio_rings {
	int fds[3]; /* output, microphone, eventfd */
	struct vmm_audio info;
	const struct vmm_audio_ring *out;
	struct vmm_audio_ring *mic;
};

static void control_audio_close(struct audio_rings *a)
{
	if (a->out)
		munmap((void *)a->out, a->info.out_bytes);
	if (a->mic)
		munmap(a->mic, a->info.mic_bytes);
	for (int i = 0; i < 3; i++)
		if (a->fds[i] >= 0)
			close(a->fds[i]);
}

static bool control_ring_valid(const struct vmm_audio_ring *r, uint64_t bytes, uint32_t channels)
{
	return r->rate == VMM_AUDIO_RATE && r->channels == channels && r->format == VMM_AUDIO_FORMAT_S16 && r->frames &&
	       !(r->frames & (r->frames - 1)) && bytes == sizeof(*r) + (uint64_t)r->frames * channels * sizeof(int16_t);
}

/* Subscribes and maps both rings, checking what the VMM says of them. */
static int control_audio_open(struct ctl *c, const char *cmd, struct audio_rings *a)
{
	*a = (struct audio_rings){.fds = {-1, -1, -1}};
	uint32_t len = 0;
	int r = control_call_fds(c, VMM_REQ_AUDIO_SUBSCRIBE, NULL, 0, &len, a->fds, 3);
	if (r < 0 || len != sizeof(a->info) || a->fds[2] < 0) {
		log_error("ctl: %s: %s", cmd,
			  r == -ENODEV ? "the VM has no sound device (vdi-vmm --sound)"
			  : r < 0      ? strerror(-r)
				       : "reply of unexpected shape");
		control_audio_close(a);
		return -1;
	}
	memcpy(&a->info, c->buf + sizeof(struct vmm_msg), sizeof(a->info));
	void *out = MAP_FAILED, *mic = MAP_FAILED;
	if (a->info.out_bytes >= sizeof(struct vmm_audio_ring) && a->info.out_bytes <= (1u << 30) &&
	    a->info.mic_bytes >= sizeof(struct vmm_audio_ring) && a->info.mic_bytes <= (1u << 30)) {
		out = mmap(NULL, a->info.out_bytes, PROT_READ, MAP_SHARED, a->fds[0], 0);
		mic = mmap(NULL, a->info.mic_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, a->fds[1], 0);
	}
	a->out = out == MAP_FAILED ? NULL : out;
	a->mic = mic == MAP_FAILED ? NULL : mic;
	if (!a->out || !a->mic || !control_ring_valid(a->out, a->info.out_bytes, 2) ||
	    !control_ring_valid(a->mic, a->info.mic_bytes, 1)) {
		log_error("ctl: %s: the VMM's audio rings cannot be used", cmd);
		control_audio_close(a);
		return -1;
	}
	return 0;
}

static void control_put_le(uint8_t *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t control_get_le(const uint8_t *p, int bytes)
{
	uint32_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static int control_write_wav(const char *file, const int16_t *samples, uint32_t frames, uint32_t channels)
{
	uint32_t data = frames * channels * 2;
	uint8_t h[WAV_HEADER_BYTES];
	memcpy(h, "RIFF", 4);
	control_put_le(h + 4, 36 + data, 4);
	memcpy(h + 8, "WAVEfmt ", 8);
	control_put_le(h + 16, 16, 4);
	control_put_le(h + 20, 1, 2); /* PCM */
	control_put_le(h + 22, channels, 2);
	control_put_le(h + 24, VMM_AUDIO_RATE, 4);
	control_put_le(h + 28, VMM_AUDIO_RATE * channels * 2, 4);
	control_put_le(h + 32, channels * 2, 2);
	control_put_le(h + 34, 16, 2);
	memcpy(h + 36, "data", 4);
	control_put_le(h + 40, data, 4);
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(h, sizeof(h), 1, f) != 1 || (data && fwrite(samples, data, 1, f) != 1) || fclose(f)) {
		log_error("ctl: audio-record: cannot write %s: %s", file, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	return 0;
}

/* What the guest played during SECONDS, on the device's clock: each chunk
 * goes where its timestamp puts it, so a pause in the guest's playback is
 * silence in the file, as a listener would have heard it. */
static int control_audio_record(struct ctl *c, const char *file, const char *seconds_text)
{
	int32_t seconds;
	if (!control_parse_int(seconds_text, 1, 3600, &seconds)) {
		log_error("ctl: audio-record FILE.wav SECONDS (1 to 3600)");
		return 1;
	}
	struct audio_rings a;
	if (control_audio_open(c, "audio-record", &a) < 0)
		return 1;
	const uint32_t frames = a.out->frames;
	uint32_t total = (uint32_t)seconds * VMM_AUDIO_RATE;
	int16_t *pcm = calloc((size_t)total * 2, sizeof(int16_t));
	int16_t *chunk = malloc((size_t)frames * 2 * sizeof(int16_t));
	if (!pcm || !chunk) {
		log_error("ctl: audio-record: out of memory");
		free(pcm);
		free(chunk);
		control_audio_close(&a);
		return 1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	uint64_t taken = __atomic_load_n(&a.out->write, __ATOMIC_ACQUIRE);
	int64_t next_at = -1; /* where the next chunk goes if it follows on from the last */
	int64_t deadline = control_now_ms() + (int64_t)seconds * 1000;
	for (int64_t left; (left = deadline - control_now_ms()) > 0;) {
		struct pollfd p = {.fd = a.fds[2], .events = POLLIN};
		if (poll(&p, 1, left < 50 ? (int)left : 50) > 0) {
			uint64_t count;
			if (read(a.fds[2], &count, sizeof(count)) < 0 && errno != EAGAIN)
				break;
		}
		uint64_t w, end_ns;
		do {
			w = __atomic_load_n(&a.out->write, __ATOMIC_ACQUIRE);
			end_ns = __atomic_load_n(&a.out->write_ns, __ATOMIC_RELAXED);
		} while (__atomic_load_n(&a.out->write, __ATOMIC_ACQUIRE) != w);
		if (w == taken)
			continue;
		uint64_t from = w - taken > frames ? w - frames : taken;
		for (uint64_t f = from; f < w; f++)
			for (int ch = 0; ch < 2; ch++)
				chunk[(f - from) * 2 + ch] = __atomic_load_n(
				    &((const int16_t *)(a.out + 1))[(f & (frames - 1)) * 2 + ch], __ATOMIC_RELAXED);
		/* Frames overwritten while they were copied are not kept. */
		uint64_t now_w = __atomic_load_n(&a.out->write, __ATOMIC_ACQUIRE);
		uint64_t keep_from = now_w - from > frames ? now_w - frames : from;
		int64_t end_index =
		    end_ns > start_ns ? (int64_t)((end_ns - start_ns) * VMM_AUDIO_RATE / 1000000000ull) : 0;
		int64_t at = end_index - (int64_t)(w - from);
		if (from == taken && next_at >= 0 && at - next_at <= 2 && next_at - at <= 2)
			at = next_at;
		for (uint64_t f = keep_from; f < w; f++) {
			int64_t i = at + (int64_t)(f - from);
			if (i >= 0 && i < (int64_t)total)
				memcpy(&pcm[i * 2], &chunk[(f - from) * 2], 2 * sizeof(int16_t));
		}
		next_at = at + (int64_t)(w - from);
		taken = w;
	}
	int r = control_write_wav(file, pcm, total, 2);
	free(pcm);
	free(chunk);
	control_audio_close(&a);
	if (r < 0)
		return 1;
	printf("ok\n");
	return 0;
}

/* A 16-bit PCM WAV at VMM_AUDIO_RATE, mono or stereo, as mono frames. */
static int16_t *control_read_wav(const char *file, uint32_t *frames_out)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		log_error("ctl: audio-play: %s: %s", file, strerror(errno));
		return NULL;
	}
	uint8_t *buf = malloc(WAV_FILE_MAX);
	size_t n = buf ? fread(buf, 1, WAV_FILE_MAX, f) : 0;
	bool too_big = buf && n == WAV_FILE_MAX && fgetc(f) != EOF;
	fclose(f);
	const char *why = !buf ? "out of memory" : too_big ? "larger than 64 MiB" : NULL;
	uint32_t channels = 0, rate = 0, bits = 0, format = 0;
	const uint8_t *data = NULL;
	uint32_t data_len = 0;
	if (!why && (n < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4)))
		why = "not a RIFF WAVE file";
	for (size_t at = 12; !why && at + 8 <= n && !data;) {
		uint32_t len = control_get_le(buf + at + 4, 4);
		if (len > n - at - 8) {
			why = "a chunk runs past the end of the file";
			break;
		}
		if (!memcmp(buf + at, "fmt ", 4) && len >= 16) {
			format = control_get_le(buf + at + 8, 2);
			channels = control_get_le(buf + at + 10, 2);
			rate = control_get_le(buf + at + 12, 4);
			bits = control_get_le(buf + at + 22, 2);
		} else if (!memcmp(buf + at, "data", 4)) {
			data = buf + at + 8;
			data_len = len;
		}
		at += 8 + (size_t)len + (len & 1);
	}
	if (!why && (!data || !format))
		why = "no fmt or data chunk";
	if (!why && (format != 1 || bits != 16 || rate != VMM_AUDIO_RATE || (channels != 1 && channels != 2)))
		why = "not 16-bit PCM at 48000 Hz, mono or stereo";
	if (why) {
		log_error("ctl: audio-play: %s: %s", file, why);
		free(buf);
		return NULL;
	}
	uint32_t frames = data_len / (2 * channels);
	int16_t *mono = malloc(((size_t)frames + 1) * sizeof(int16_t));
	for (uint32_t i = 0; mono && i < frames; i++) {
		int32_t sum = 0;
		for (uint32_t ch = 0; ch < channels; ch++)
			sum += (int16_t)control_get_le(data + ((size_t)i * channels + ch) * 2, 2);
		mono[i] = (int16_t)(sum / (int32_t)channels);
	}
	free(buf);
	if (!mono)
		log_error("ctl: audio-play: out of memory");
	*frames_out = frames;
	return mono;
}

/* Feeds the file to the microphone in real time, a little ahead of the
 * clock, and returns once it has all been heard. */
static int control_audio_play(struct ctl *c, const char *file)
{
	uint32_t frames;
	int16_t *pcm = control_read_wav(file, &frames);
	if (!pcm)
		return 1;
	struct audio_rings a;
	if (control_audio_open(c, "audio-play", &a) < 0) {
		free(pcm);
		return 1;
	}
	int16_t *ring = (int16_t *)(a.mic + 1);
	const uint32_t mask = a.mic->frames - 1;
	uint64_t w = __atomic_load_n(&a.mic->write, __ATOMIC_RELAXED);
	int64_t start = control_now_ms();
	uint32_t sent = 0;
	while (sent < frames) {
		uint64_t due = (uint64_t)(control_now_ms() - start) * VMM_AUDIO_RATE / 1000 + AUDIO_PLAY_LEAD;
		uint32_t upto = due < frames ? (uint32_t)due : frames;
		for (; sent < upto; sent++, w++)
			__atomic_store_n(&ring[w & mask], pcm[sent], __ATOMIC_RELAXED);
		__atomic_store_n(&a.mic->write, w, __ATOMIC_RELEASE);
		struct timespec nap = {.tv_nsec = 5000000};
		nanosleep(&nap, NULL);
	}
	struct timespec drain = {.tv_nsec = 50000000};
	nanosleep(&drain, NULL);
	free(pcm);
	control_audio_close(&a);
	printf("ok\n");
	return 0;
}

static int control_run(struct ctl *c, const char *cmd, int argc, char **argv)
{
	bool none = argc == 0, one = argc == 1;
	if (!strcmp(cmd, "status") && none)
		return control_query(c, cmd, VMM_REQ_STATUS, sizeof(struct vmm_status));
	if (!strcmp(cmd, "stats") && none)
		return control_query(c, cmd, VMM_REQ_STATS, sizeof(struct vmm_stats));
	if (!strcmp(cmd, "pause") && none)
		return control_simple(c, cmd, VMM_REQ_PAUSE, NULL, 0);
	if (!strcmp(cmd, "resume") && none)
		return control_simple(c, cmd, VMM_REQ_RESUME, NULL, 0);
	if (!strcmp(cmd, "poweroff") && none)
		return control_simple(c, cmd, VMM_REQ_POWEROFF, NULL, 0);
	if (!strcmp(cmd, "screenshot") && one)
		return control_screenshot(c, argv[0]);
	if (!strcmp(cmd, "type") && one)
		return control_type(c, argv[0]);
	if (!strcmp(cmd, "key") && one)
		return control_chord(c, argv[0]);
	if (!strcmp(cmd, "pointer"))
		return control_pointer(c, argc, argv);
	if (!strcmp(cmd, "wheel"))
		return control_wheel(c, argc, argv);
	if (!strcmp(cmd, "display") && one)
		return control_display(c, argv[0]);
	if (!strcmp(cmd, "label") && one)
		return control_simple(c, cmd, VMM_REQ_SET_LABEL, argv[0], (uint32_t)strlen(argv[0]));
	if (!strcmp(cmd, "events"))
		return control_events(c, argc, argv);
	if (!strcmp(cmd, "snapshot"))
		return control_snapshot(c, argc, argv);
	if (!strcmp(cmd, "audio-record") && argc == 2)
		return control_audio_record(c, argv[0], argv[1]);
	if (!strcmp(cmd, "audio-play") && one)
		return control_audio_play(c, argv[0]);
	log_error("ctl: wrong arguments for '%s' (see vdi-vmm ctl --help)", cmd);
	return 1;
}

/* Commands and how many arguments each takes, checked before connecting. */
static const struct {
	const char *name;
	int min_args, max_args;
} control_commands[] = {
    {"status", 0, 0},   {"stats", 0, 0},      {"pause", 0, 0},        {"resume", 0, 0},
    {"poweroff", 0, 0}, {"screenshot", 1, 1}, {"type", 1, 1},         {"key", 1, 1},
    {"pointer", 2, 3},  {"wheel", 1, 2},      {"display", 1, 1},      {"label", 1, 1},
    {"events", 0, 1},   {"snapshot", 1, 2},   {"audio-record", 2, 2}, {"audio-play", 1, 1},
};

static int control_check(const char *cmd, int argc)
{
	for (size_t i = 0; i < sizeof(control_commands) / sizeof(control_commands[0]); i++) {
		if (strcmp(cmd, control_commands[i].name))
			continue;
		if (argc >= control_commands[i].min_args && argc <= control_commands[i].max_args)
			return 0;
		log_error("ctl: wrong arguments for '%s' (see vdi-vmm ctl --help)", cmd);
		return -EINVAL;
	}
	log_error("ctl: unknown command '%s' (see vdi-vmm ctl --help)", cmd);
	return -EINVAL;
}

int control_client_main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(control_usage, stdout);
		return 0;
	}
	if (argc < 3) {
		fputs(control_usage, stderr);
		return 1;
	}
	if (control_check(argv[2], argc - 3) < 0)
		return 1;
	static struct ctl c;
	c.path = argv[1];
	c.fd = ipc_connect(c.path);
	if (c.fd < 0) {
		log_error("ctl: cannot connect to %s: %s", c.path, strerror(-c.fd));
		return 1;
	}
	int status = control_run(&c, argv[2], argc - 3, argv + 3);
	close(c.fd);
	return status;
}
