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
    "                          to disk); vdi-vmm --restore DIR starts it again\n";

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
 * stays in c->buf after the header, *len its size, *fd a passed descriptor. */
static int control_call(struct ctl *c, uint16_t type, const void *payload, uint32_t length, uint32_t *len, int *fd)
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
			if (fd && *fd < 0)
				*fd = fds[i];
			else
				close(fds[i]);
		}
		if (len)
			*len = rep.length;
		return rep.result;
	}
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
	log_error("ctl: wrong arguments for '%s' (see vdi-vmm ctl --help)", cmd);
	return 1;
}

/* Commands and how many arguments each takes, checked before connecting. */
static const struct {
	const char *name;
	int min_args, max_args;
} control_commands[] = {
    {"status", 0, 0},     {"stats", 0, 0}, {"pause", 0, 0},  {"resume", 0, 0},   {"poweroff", 0, 0},
    {"screenshot", 1, 1}, {"type", 1, 1},  {"key", 1, 1},    {"pointer", 2, 3},  {"wheel", 1, 2},
    {"display", 1, 1},    {"label", 1, 1}, {"events", 0, 1}, {"snapshot", 1, 2},
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
