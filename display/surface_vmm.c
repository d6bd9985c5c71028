/* surface_vmm.c — a surface that follows a vdi-vmm's scanout: one control
 * connection subscribed to the screen (read by a thread of its own), a second
 * one for input, so a keystroke never waits behind a burst of damage. */
#include "surface_internal.h"

#include "../common/fd.h"
#include "../common/ipc.h"
#include "../common/log.h"
#include "../hypervisor/vmm_control.h"

#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VMM_ATTACH_REPLY_MS     2000 /* a request's reply; they are small and the VMM answers at once */
#define VMM_ATTACH_LOG_EVERY_MS 10000

struct vmm_attach {
	struct surface *s;
	char *path;
	int screen_fd; /* subscribed: replies and events, read by `thread` */
	pthread_t thread;
	atomic_bool stopping; /* the end of file the thread reads next is ours, not the VM's */
	/* the mapping the surface's pixels point at; only `thread` changes it */
	uint8_t *map;
	size_t map_len;
	uint64_t serial;
	uint8_t buf[VMM_MSG_MAX];

	pthread_mutex_t input_lock; /* input_fd, next_id, the rate limit */
	int input_fd;
	uint32_t next_id;
	int64_t last_log_ms;
	uint64_t dropped;
};

static int64_t vmm_attach_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends a request and waits for its reply, skipping events and replies to
 * earlier requests that timed out. Returns the reply's result or -errno;
 * the reply's payload is left in buf, its size in *len and a passed
 * descriptor in *fd (when asked for). */
static int vmm_attach_call(int sock, uint32_t id, uint16_t type, const void *payload, uint32_t length, uint8_t *buf,
			   size_t cap, uint32_t *len, int *fd)
{
	struct vmm_msg req = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = id, .length = length};
	if (sizeof(req) + length > cap)
		return -EMSGSIZE;
	memcpy(buf, &req, sizeof(req));
	if (length)
		memcpy(buf + sizeof(req), payload, length);
	int r = ipc_send(sock, buf, sizeof(req) + length, NULL, 0);
	if (r < 0)
		return r;
	int64_t deadline = vmm_attach_now_ms() + VMM_ATTACH_REPLY_MS;
	for (;;) {
		int64_t left = deadline - vmm_attach_now_ms();
		struct pollfd p = {.fd = sock, .events = POLLIN};
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
		ssize_t n = ipc_recv(sock, buf, cap, fds, &nfds);
		if (n < 0)
			return (int)n;
		if (n < (ssize_t)sizeof(struct vmm_msg))
			return n == 0 ? -EPIPE : -EPROTO;
		struct vmm_msg rep;
		memcpy(&rep, buf, sizeof(rep));
		bool ours = rep.type == VMM_REPLY && rep.id == id && rep.length == (size_t)n - sizeof(rep);
		for (int i = 0; i < nfds; i++) {
			if (ours && fd && *fd < 0)
				*fd = fds[i];
			else
				close(fds[i]);
		}
		if (!ours)
			continue;
		if (len)
			*len = rep.length;
		return rep.result;
	}
}

/* Maps a surface the VMM describes (and passes `fd` for) and points the
 * surface at it; 0x0 means no scanout. Takes `fd`. The VMM is trusted more
 * than a guest, but its sizes are still checked against the file so that a
 * short memfd cannot fault us. */
static int vmm_attach_map(struct vmm_attach *a, const struct vmm_surface *vs, int fd)
{
	uint8_t *map = NULL;
	size_t len = 0;
	if (vs->width && vs->height) {
		struct stat st;
		if (fd < 0 || vs->format != VMM_FORMAT_XRGB8888 || vs->width > 16384 || vs->height > 16384 ||
		    vs->stride / 4 < vs->width) {
			log_error("display: %s: unusable surface %ux%u stride %u format %u", a->path, vs->width,
				  vs->height, vs->stride, vs->format);
			goto fail;
		}
		len = (size_t)vs->stride * vs->height;
		if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < len) {
			log_error("display: %s: surface memfd smaller than %ux%u", a->path, vs->width, vs->height);
			goto fail;
		}
		map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			log_error("display: %s: cannot map the surface: %s", a->path, strerror(errno));
			goto fail;
		}
	}
	if (fd >= 0)
		close(fd);
	surface_set_external(a->s, map, vs->width, vs->height, vs->stride);
	if (a->map)
		munmap(a->map, a->map_len);
	a->map = map;
	a->map_len = len;
	a->serial = vs->serial;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -EINVAL;
}

static void vmm_attach_event(struct vmm_attach *a, const struct vmm_msg *h, const uint8_t *p, int fd)
{
	if (h->type == VMM_EVENT_SURFACE && h->length == sizeof(struct vmm_surface)) {
		struct vmm_surface vs;
		memcpy(&vs, p, sizeof(vs));
		vmm_attach_map(a, &vs, fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	if (h->type == VMM_EVENT_DAMAGE && h->length >= sizeof(struct vmm_damage)) {
		struct vmm_damage d;
		memcpy(&d, p, sizeof(d));
		if (d.serial != a->serial)
			return; /* for a surface we no longer show */
		size_t room = (h->length - sizeof(d)) / sizeof(struct vmm_rect);
		for (uint32_t i = 0; i < d.count && i < room; i++) {
			struct vmm_rect r;
			memcpy(&r, p + sizeof(d) + i * sizeof(r), sizeof(r));
			surface_damage(a->s, r.x, r.y, r.width, r.height);
		}
	} else if (h->type == VMM_EVENT_CURSOR_IMAGE && h->length >= sizeof(struct vmm_cursor_image)) {
		struct vmm_cursor_image ci;
		memcpy(&ci, p, sizeof(ci));
		if (ci.width <= VMM_CURSOR_MAX && ci.height <= VMM_CURSOR_MAX &&
		    h->length - sizeof(ci) >= (size_t)ci.width * ci.height * 4)
			surface_set_cursor(a->s, p + sizeof(ci), ci.width, ci.height, ci.hot_x, ci.hot_y);
	} else if (h->type == VMM_EVENT_CURSOR_MOVE && h->length == sizeof(struct vmm_cursor_pos)) {
		struct vmm_cursor_pos cp;
		memcpy(&cp, p, sizeof(cp));
		surface_move_cursor(a->s, cp.x, cp.y, cp.visible != 0);
	}
}

static void *vmm_attach_thread(void *opaque)
{
	struct vmm_attach *a = opaque;
	for (;;) {
		int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
		ssize_t n = ipc_recv(a->screen_fd, a->buf, sizeof(a->buf), fds, &nfds);
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			/* Viewers keep the last frame; the broker decides what a gone VM means. */
			bool ours = atomic_load(&a->stopping);
			if (!ours && n < 0 && n != -ECONNRESET)
				log_warn("display: %s: reading the screen failed: %s", a->path, strerror((int)-n));
			else if (!ours)
				log_info("display: %s: the VM's screen connection closed", a->path);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			return NULL;
		}
		struct vmm_msg h;
		memcpy(&h, a->buf, sizeof(h));
		if ((size_t)n < sizeof(h) || h.length != (size_t)n - sizeof(h)) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		for (int i = 1; i < nfds; i++)
			close(fds[i]);
		vmm_attach_event(a, &h, a->buf + sizeof(h), nfds ? fds[0] : -1);
	}
}

/* One input request; failures are logged at most every
 * VMM_ATTACH_LOG_EVERY_MS, since input comes at the rate a user moves. */
static void vmm_attach_request(struct vmm_attach *a, uint16_t type, const void *payload, uint32_t length)
{
	uint8_t buf[sizeof(struct vmm_msg) + sizeof(struct vmm_input) + sizeof(struct vmm_display_size)];
	pthread_mutex_lock(&a->input_lock);
	int r = vmm_attach_call(a->input_fd, ++a->next_id, type, payload, length, buf, sizeof(buf), NULL, NULL);
	if (r < 0) {
		a->dropped++;
		int64_t now = vmm_attach_now_ms();
		if (a->dropped == 1 || now - a->last_log_ms >= VMM_ATTACH_LOG_EVERY_MS) {
			log_warn("display: %s: input dropped (%s; %llu so far)", a->path,
				 r == -ENOBUFS ? "the guest is not taking input" : strerror(-r),
				 (unsigned long long)a->dropped);
			a->last_log_ms = now;
		}
	}
	pthread_mutex_unlock(&a->input_lock);
}

static void vmm_attach_key(void *opaque, uint32_t code, bool down)
{
	struct vmm_input in = {.kind = VMM_INPUT_KEY, .code = code, .x = down ? 1 : 0};
	vmm_attach_request(opaque, VMM_REQ_INPUT, &in, sizeof(in));
}

static void vmm_attach_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
	struct vmm_input in = {.kind = VMM_INPUT_POINTER,
			       .code = buttons & (VMM_BUTTON_LEFT | VMM_BUTTON_RIGHT | VMM_BUTTON_MIDDLE),
			       .x = x,
			       .y = y};
	vmm_attach_request(opaque, VMM_REQ_INPUT, &in, sizeof(in));
}

static void vmm_attach_wheel(void *opaque, int32_t dy, int32_t dx)
{
	struct vmm_input in = {.kind = VMM_INPUT_WHEEL, .x = dx, .y = dy};
	vmm_attach_request(opaque, VMM_REQ_INPUT, &in, sizeof(in));
}

static void vmm_attach_resize(void *opaque, uint32_t width, uint32_t height)
{
	struct vmm_display_size d = {.width = width, .height = height};
	vmm_attach_request(opaque, VMM_REQ_DISPLAY_SIZE, &d, sizeof(d));
}

/* Everything but the surface itself; the thread must not be running. */
static void vmm_attach_free(struct vmm_attach *a)
{
	if (a->screen_fd >= 0)
		close(a->screen_fd);
	if (a->input_fd >= 0)
		close(a->input_fd);
	if (a->map)
		munmap(a->map, a->map_len);
	pthread_mutex_destroy(&a->input_lock);
	free(a->path);
	free(a);
}

static void vmm_attach_destroy(void *opaque)
{
	struct vmm_attach *a = opaque;
	/* Input first: once this returns no viewer is inside our ops. */
	surface_set_input(a->s, NULL);
	atomic_store(&a->stopping, true);
	shutdown(a->screen_fd, SHUT_RDWR); /* wakes the thread's recv with end of file */
	pthread_join(a->thread, NULL);
	vmm_attach_free(a);
}

struct surface *surface_attach_vmm(const char *control_socket)
{
	struct vmm_attach *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->screen_fd = a->input_fd = -1;
	pthread_mutex_init(&a->input_lock, NULL);
	a->path = strdup(control_socket);
	a->s = surface_create_external();
	if (!a->path || !a->s)
		goto fail;
	a->screen_fd = fd_move_high(ipc_connect(control_socket));
	a->input_fd = a->screen_fd >= 0 ? fd_move_high(ipc_connect(control_socket)) : a->screen_fd;
	if (a->input_fd < 0) {
		log_error("display: cannot connect to %s: %s", control_socket, strerror(-a->input_fd));
		goto fail;
	}
	uint32_t len = 0;
	int fd = -1;
	int r = vmm_attach_call(a->screen_fd, 1, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0, a->buf, sizeof(a->buf), &len, &fd);
	struct vmm_surface vs;
	if (r < 0 || len != sizeof(vs)) {
		if (fd >= 0)
			close(fd);
		log_error("display: %s: cannot subscribe to the screen: %s", control_socket,
			  r < 0 ? strerror(-r) : "reply of unexpected size");
		goto fail;
	}
	memcpy(&vs, a->buf + sizeof(struct vmm_msg), sizeof(vs));
	if (vmm_attach_map(a, &vs, fd) < 0)
		goto fail;
	r = pthread_create(&a->thread, NULL, vmm_attach_thread, a);
	if (r) {
		log_error("display: cannot start the screen thread: %s", strerror(r));
		goto fail;
	}
	struct surface_input_ops ops = {
	    .key = vmm_attach_key,
	    .pointer = vmm_attach_pointer,
	    .wheel = vmm_attach_wheel,
	    .resize = vmm_attach_resize,
	    .opaque = a,
	};
	surface_set_input(a->s, &ops);
	surface_set_owner(a->s, vmm_attach_destroy, a);
	return a->s;
fail:
	surface_destroy(a->s);
	vmm_attach_free(a);
	return NULL;
}
