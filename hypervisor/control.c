/* control.c — the control socket server: status, pause, resume, power off,
 * statistics, the screen's and the sound's consumers, input and the label, served on a
 * thread of its own to any number of clients. */
#include "control.h"

#include "../common/ipc.h"
#include "../common/log.h"
#include "audio.h"
#include "scanout.h"

#include <linux/input-event-codes.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_MAX_CLIENTS     16
/* A client that leaves a reply unread this long is dropped, so one stuck
 * client cannot hold up the others. */
#define CONTROL_SEND_TIMEOUT_MS 2000

struct control_client {
	int fd;       /* -1: free */
	int consumer; /* scanout slot, -1 when not subscribed */
	int listener; /* audio slot, -1 when not subscribed */
	bool blocked; /* its socket was full: wait until writable */
};

struct control {
	struct vm *vm;
	struct control_devices *devices;
	char *path;
	int listen_fd;
	int wake_fd; /* eventfd: control_stop() */
	struct control_client clients[CONTROL_MAX_CLIENTS];
	pthread_t thread;
	uint8_t in[VMM_MSG_MAX]; /* one request and its reply at a time */
	uint8_t out[VMM_MSG_MAX];
};

static uint64_t control_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t control_reply(uint8_t *out, size_t cap, uint32_t id, int32_t result, const void *payload, uint32_t length)
{
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = VMM_REPLY, .id = id, .result = result};
	if (sizeof(h) + length > cap)
		length = 0, h.result = -EMSGSIZE;
	h.length = length;
	memcpy(out, &h, sizeof(h));
	if (length)
		memcpy(out + sizeof(h), payload, length);
	return sizeof(h) + length;
}

static void control_status(struct vm *vm, struct vmm_status *s)
{
	memset(s, 0, sizeof(*s));
	s->state = vm_stopped(vm) ? VMM_STATE_STOPPING : vm->paused ? VMM_STATE_PAUSED : VMM_STATE_RUNNING;
	s->vcpus = (uint32_t)vm->ncpus;
	s->mem_bytes = vm->mem_bytes;
	s->uptime_ns = vm->start_ns ? control_now_ns() - vm->start_ns : 0;
	s->pid = (uint32_t)getpid();
}

static void control_stats(struct vm *vm, struct vmm_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < VMM_EXIT_KINDS; i++)
		s->exits[i] = atomic_load(&vm->exits[i]);
	s->unhandled_pio = atomic_load(&vm->unhandled_pio);
	s->unhandled_mmio = atomic_load(&vm->unhandled_mmio);
	s->guest_ram_bytes = vm->mem_bytes;
	s->guest_ram_touched_bytes = vm_guest_ram_touched(vm);
	s->vmm_rss_bytes = vm_process_rss();
}

/* The tablet reports absolute positions over 0..VIRTIO_TABLET_ABS_MAX across
 * the whole display. */
static int32_t control_scale(int32_t v, uint32_t extent)
{
	if (v <= 0 || extent <= 1)
		return 0;
	if ((uint32_t)v >= extent - 1)
		return VIRTIO_TABLET_ABS_MAX;
	return (int32_t)(((int64_t)v * VIRTIO_TABLET_ABS_MAX + (extent - 1) / 2) / (extent - 1));
}

static bool control_is_button(uint32_t code)
{
	return code >= BTN_LEFT && code <= BTN_TASK;
}

static const uint16_t control_buttons[] = {BTN_LEFT, BTN_RIGHT, BTN_MIDDLE};

/* Turns the requests' input into evdev event batches for the keyboard and
 * the tablet, each ended by SYN_REPORT. All of it is checked before any of
 * it reaches the guest, so a bad request changes nothing. */
static int control_input(struct control_devices *d, const struct vmm_input *in, size_t count)
{
	enum { MAX_EVENTS = 1024 };
	static struct virtio_input_event kbd[MAX_EVENTS], tab[MAX_EVENTS];
	size_t nk = 0, nt = 0;
	uint32_t buttons = d->pointer_buttons;
	uint32_t width = 0, height = 0;
	if (d->scanout)
		scanout_size(d->scanout, &width, &height);
	for (size_t i = 0; i < count; i++) {
		/* Room for the largest expansion (a pointer: x, y, 3 buttons, syn). */
		if (nk + 6 > MAX_EVENTS || nt + 6 > MAX_EVENTS)
			return -E2BIG;
		const struct vmm_input *e = &in[i];
		switch (e->kind) {
		case VMM_INPUT_KEY:
			if (e->x != 0 && e->x != 1)
				return -EINVAL;
			if (control_is_button(e->code)) {
				if (!d->tablet)
					return -ENODEV;
				tab[nt++] = (struct virtio_input_event){EV_KEY, (uint16_t)e->code, e->x};
				tab[nt++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
			} else if (e->code >= 1 && e->code <= 255) {
				if (!d->keyboard)
					return -ENODEV;
				kbd[nk++] = (struct virtio_input_event){EV_KEY, (uint16_t)e->code, e->x};
				kbd[nk++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
			} else {
				return -EINVAL;
			}
			break;
		case VMM_INPUT_POINTER:
			if (!d->tablet)
				return -ENODEV;
			if (e->code & ~(VMM_BUTTON_LEFT | VMM_BUTTON_RIGHT | VMM_BUTTON_MIDDLE))
				return -EINVAL;
			tab[nt++] = (struct virtio_input_event){EV_ABS, ABS_X, control_scale(e->x, width)};
			tab[nt++] = (struct virtio_input_event){EV_ABS, ABS_Y, control_scale(e->y, height)};
			for (int b = 0; b < 3; b++) {
				uint32_t bit = 1u << b;
				if ((buttons ^ e->code) & bit)
					tab[nt++] =
					    (struct virtio_input_event){EV_KEY, control_buttons[b], !!(e->code & bit)};
			}
			buttons = e->code;
			tab[nt++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
			break;
		case VMM_INPUT_WHEEL:
			if (!d->tablet)
				return -ENODEV;
			if (e->y < -120 || e->y > 120 || e->x < -120 || e->x > 120)
				return -EINVAL;
			if (e->y)
				tab[nt++] = (struct virtio_input_event){EV_REL, REL_WHEEL, e->y};
			if (e->x)
				tab[nt++] = (struct virtio_input_event){EV_REL, REL_HWHEEL, e->x};
			tab[nt++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
			break;
		default:
			return -EINVAL;
		}
	}
	int r = 0;
	if (nk)
		r = virtio_input_send(d->keyboard, kbd, nk);
	if (nt && r == 0)
		r = virtio_input_send(d->tablet, tab, nt);
	if (r == 0)
		d->pointer_buttons = buttons;
	return r;
}

/* The request is checked whole before the VM is paused for it. */
static int control_snapshot(struct vm *vm, struct control_devices *devices, const uint8_t *payload, uint32_t length)
{
	struct vmm_snapshot req;
	if (length <= sizeof(req) || length - sizeof(req) > VMM_SNAPSHOT_PATH_MAX)
		return -EINVAL;
	memcpy(&req, payload, sizeof(req));
	size_t n = length - sizeof(req);
	const char *text = (const char *)payload + sizeof(req);
	if (req.flags & ~(VMM_SNAPSHOT_PAUSE | VMM_SNAPSHOT_STOP) || req.reserved || text[0] != '/' ||
	    memchr(text, '\0', n))
		return -EINVAL;
	if (!devices || !devices->all)
		return -ENODEV;
	char *dir = strndup(text, n);
	if (!dir)
		return -ENOMEM;
	int r = snapshot_save(vm, devices->all, dir, req.flags);
	free(dir);
	return r;
}

size_t control_handle_request(struct vm *vm, struct control_devices *devices, const uint8_t *msg, size_t len,
			      uint8_t *reply, size_t cap)
{
	struct vmm_msg h;
	if (len < sizeof(h))
		return control_reply(reply, cap, 0, -EINVAL, NULL, 0);
	memcpy(&h, msg, sizeof(h));
	if (h.version != VMM_PROTOCOL_VERSION)
		return control_reply(reply, cap, h.id, -EPROTO, NULL, 0);
	if (h.length != len - sizeof(h))
		return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
	switch (h.type) {
	case VMM_REQ_STATUS: {
		struct vmm_status s;
		control_status(vm, &s);
		return control_reply(reply, cap, h.id, 0, &s, sizeof(s));
	}
	case VMM_REQ_STATS: {
		struct vmm_stats s;
		control_stats(vm, &s);
		return control_reply(reply, cap, h.id, 0, &s, sizeof(s));
	}
	case VMM_REQ_PAUSE:
		return control_reply(reply, cap, h.id, vm_pause(vm), NULL, 0);
	case VMM_REQ_RESUME:
		return control_reply(reply, cap, h.id, vm_resume(vm), NULL, 0);
	case VMM_REQ_POWEROFF:
		vm_stop(vm, VM_STOP_POWEROFF, 0, "powered off through the control socket");
		return control_reply(reply, cap, h.id, 0, NULL, 0);
	case VMM_REQ_DISPLAY_SIZE: {
		struct vmm_display_size size;
		if (h.length != sizeof(size))
			return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
		memcpy(&size, msg + sizeof(h), sizeof(size));
		int r = devices && devices->gpu ? virtio_gpu_set_display_size(devices->gpu, size.width, size.height)
						: -ENODEV;
		return control_reply(reply, cap, h.id, r, NULL, 0);
	}
	case VMM_REQ_INPUT: {
		if (h.length == 0 || h.length % sizeof(struct vmm_input))
			return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
		size_t count = h.length / sizeof(struct vmm_input);
		struct vmm_input *in = malloc(h.length);
		if (!in)
			return control_reply(reply, cap, h.id, -ENOMEM, NULL, 0);
		memcpy(in, msg + sizeof(h), h.length);
		int r = devices ? control_input(devices, in, count) : -ENODEV;
		free(in);
		return control_reply(reply, cap, h.id, r, NULL, 0);
	}
	case VMM_REQ_SET_LABEL: {
		if (h.length > VMM_LABEL_MAX)
			return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
		int r = devices && devices->label ? label_set(devices->label, (const char *)msg + sizeof(h), h.length)
						  : -ENODEV;
		return control_reply(reply, cap, h.id, r, NULL, 0);
	}
	case VMM_REQ_SNAPSHOT:
		return control_reply(reply, cap, h.id, control_snapshot(vm, devices, msg + sizeof(h), h.length), NULL,
				     0);
	default:
		return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
	}
}

static void control_drop(struct control *ctl, struct control_client *c)
{
	if (c->consumer >= 0 && ctl->devices && ctl->devices->scanout)
		scanout_unsubscribe(ctl->devices->scanout, c->consumer);
	if (c->listener >= 0 && ctl->devices && ctl->devices->audio)
		audio_unsubscribe(ctl->devices->audio, c->listener);
	close(c->fd);
	*c = (struct control_client){.fd = -1, .consumer = -1, .listener = -1};
}

static void control_push_events(struct control *ctl, struct control_client *c)
{
	int r = scanout_send_pending(ctl->devices->scanout, c->consumer);
	c->blocked = r == -EAGAIN;
	if (r < 0 && r != -EAGAIN)
		control_drop(ctl, c);
}

/* Subscribing hands over a descriptor, so it is answered here rather than
 * by control_handle_request(). Returns the reply's length, fd in *fd. */
static size_t control_subscribe(struct control *ctl, struct control_client *c, uint32_t id, int *fd)
{
	struct scanout *s = ctl->devices ? ctl->devices->scanout : NULL;
	if (!s)
		return control_reply(ctl->out, sizeof(ctl->out), id, -ENODEV, NULL, 0);
	if (c->consumer >= 0)
		scanout_unsubscribe(s, c->consumer);
	struct vmm_surface surface;
	c->consumer = scanout_subscribe(s, c->fd, &surface, fd);
	if (c->consumer < 0) {
		int err = c->consumer;
		c->consumer = -1;
		return control_reply(ctl->out, sizeof(ctl->out), id, err, NULL, 0);
	}
	return control_reply(ctl->out, sizeof(ctl->out), id, 0, &surface, sizeof(surface));
}

/* Sound: the rings and an eventfd of the connection's own. */
static size_t control_audio_subscribe(struct control *ctl, struct control_client *c, uint32_t id, int *fds, int *nfds)
{
	struct audio *a = ctl->devices ? ctl->devices->audio : NULL;
	if (!a)
		return control_reply(ctl->out, sizeof(ctl->out), id, -ENODEV, NULL, 0);
	if (c->listener >= 0)
		audio_unsubscribe(a, c->listener);
	struct vmm_audio reply;
	c->listener = audio_subscribe(a, &reply, fds);
	if (c->listener < 0) {
		int err = c->listener;
		c->listener = -1;
		return control_reply(ctl->out, sizeof(ctl->out), id, err, NULL, 0);
	}
	*nfds = 3;
	return control_reply(ctl->out, sizeof(ctl->out), id, 0, &reply, sizeof(reply));
}

static void control_serve_client(struct control *ctl, struct control_client *c)
{
	ssize_t n = ipc_recv(c->fd, ctl->in, sizeof(ctl->in), NULL, NULL);
	if (n == -EAGAIN)
		return;
	if (n <= 0 && n != -EMSGSIZE) {
		control_drop(ctl, c);
		return;
	}
	size_t len = n == -EMSGSIZE ? 0 : (size_t)n;
	struct vmm_msg h;
	size_t reply;
	int fds[3] = {-1, -1, -1}, nfds = 0;
	bool ours = len >= sizeof(h) && (memcpy(&h, ctl->in, sizeof(h)), h.version == VMM_PROTOCOL_VERSION) &&
		    h.length == len - sizeof(h);
	if (ours && h.type == VMM_REQ_DISPLAY_SUBSCRIBE) {
		reply = control_subscribe(ctl, c, h.id, &fds[0]);
		nfds = fds[0] >= 0;
	} else if (ours && h.type == VMM_REQ_AUDIO_SUBSCRIBE) {
		reply = control_audio_subscribe(ctl, c, h.id, fds, &nfds);
	} else {
		reply = control_handle_request(ctl->vm, ctl->devices, ctl->in, len, ctl->out, sizeof(ctl->out));
	}
	if (ipc_send(c->fd, ctl->out, reply, nfds ? fds : NULL, nfds) < 0) {
		control_drop(ctl, c);
		return;
	}
	if (c->consumer >= 0)
		control_push_events(ctl, c);
}

static void control_accept(struct control *ctl)
{
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = {.tv_sec = CONTROL_SEND_TIMEOUT_MS / 1000,
			     .tv_usec = (CONTROL_SEND_TIMEOUT_MS % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (ctl->clients[i].fd < 0) {
			ctl->clients[i] = (struct control_client){.fd = fd, .consumer = -1, .listener = -1};
			return;
		}
	}
	log_warn("control socket: more than %d clients, refusing one", CONTROL_MAX_CLIENTS);
	close(fd);
}

/* The screen's events: every consumer not waiting for room gets what is
 * pending for it. */
static void control_scanout_woken(struct control *ctl)
{
	uint64_t count;
	if (read(scanout_wake_fd(ctl->devices->scanout), &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = &ctl->clients[i];
		if (c->fd >= 0 && c->consumer >= 0 && !c->blocked)
			control_push_events(ctl, c);
	}
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	pthread_setname_np(pthread_self(), "control");
	bool have_scanout = ctl->devices && ctl->devices->scanout;
	for (;;) {
		struct pollfd p[CONTROL_MAX_CLIENTS + 3];
		int slot_of[CONTROL_MAX_CLIENTS + 3];
		int n = 0;
		p[n++] = (struct pollfd){.fd = ctl->wake_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = ctl->listen_fd, .events = POLLIN};
		p[n++] =
		    (struct pollfd){.fd = have_scanout ? scanout_wake_fd(ctl->devices->scanout) : -1, .events = POLLIN};
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *c = &ctl->clients[i];
			if (c->fd >= 0) {
				slot_of[n] = i;
				p[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN | (c->blocked ? POLLOUT : 0)};
			}
		}
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("control socket poll: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN)
			control_accept(ctl);
		if (p[2].revents & POLLIN)
			control_scanout_woken(ctl);
		for (int i = 3; i < n; i++) {
			struct control_client *c = &ctl->clients[slot_of[i]];
			if (c->fd < 0 || !p[i].revents)
				continue;
			if ((p[i].revents & POLLOUT) && c->consumer >= 0)
				control_push_events(ctl, c);
			if (c->fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				control_serve_client(ctl, c);
		}
	}
}

struct control *control_start(struct vm *vm, struct control_devices *devices, const char *path)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->vm = vm;
	ctl->devices = devices;
	ctl->wake_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i] = (struct control_client){.fd = -1, .consumer = -1, .listener = -1};
	ctl->listen_fd = ipc_listen(path);
	if (ctl->listen_fd < 0) {
		log_error("control socket %s: %s", path,
			  ctl->listen_fd == -EEXIST ? "a file that is not a socket is in the way"
						    : strerror(-ctl->listen_fd));
		free(ctl);
		return NULL;
	}
	ctl->path = strdup(path);
	ctl->wake_fd = eventfd(0, EFD_CLOEXEC);
	int err = ctl->path && ctl->wake_fd >= 0 ? pthread_create(&ctl->thread, NULL, control_thread, ctl) : ENOMEM;
	if (err) {
		log_error("control socket thread: %s", strerror(err));
		unlink(path);
		close(ctl->listen_fd);
		if (ctl->wake_fd >= 0)
			close(ctl->wake_fd);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	uint64_t one = 1;
	if (write(ctl->wake_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(ctl->thread, NULL);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0)
			control_drop(ctl, &ctl->clients[i]);
	close(ctl->listen_fd);
	close(ctl->wake_fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
