/* control.c — the control socket server: status, pause, resume, power off,
 * statistics, served on a thread of its own to any number of clients. */
#include "control.h"

#include "../common/ipc.h"
#include "../common/log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_MAX_CLIENTS 16

struct control {
	struct vm *vm;
	char *path;
	int listen_fd;
	int wake_fd; /* eventfd: control_stop() */
	int clients[CONTROL_MAX_CLIENTS];
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

size_t control_handle_request(struct vm *vm, const uint8_t *msg, size_t len, uint8_t *reply, size_t cap)
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
	default:
		return control_reply(reply, cap, h.id, -EINVAL, NULL, 0);
	}
}

static void control_serve_client(struct control *ctl, int slot)
{
	int fd = ctl->clients[slot];
	ssize_t n = ipc_recv(fd, ctl->in, sizeof(ctl->in), NULL, NULL);
	if (n == -EAGAIN)
		return;
	if (n <= 0 && n != -EMSGSIZE) {
		close(fd);
		ctl->clients[slot] = -1;
		return;
	}
	size_t len = n == -EMSGSIZE ? 0 : (size_t)n;
	size_t reply = control_handle_request(ctl->vm, ctl->in, len, ctl->out, sizeof(ctl->out));
	if (ipc_send(fd, ctl->out, reply, NULL, 0) < 0) {
		close(fd);
		ctl->clients[slot] = -1;
	}
}

static void control_accept(struct control *ctl)
{
	int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (ctl->clients[i] < 0) {
			ctl->clients[i] = fd;
			return;
		}
	}
	log_warn("control socket: more than %d clients, refusing one", CONTROL_MAX_CLIENTS);
	close(fd);
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	pthread_setname_np(pthread_self(), "control");
	for (;;) {
		struct pollfd p[CONTROL_MAX_CLIENTS + 2];
		int slot_of[CONTROL_MAX_CLIENTS + 2];
		int n = 0;
		p[n++] = (struct pollfd){.fd = ctl->wake_fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = ctl->listen_fd, .events = POLLIN};
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			if (ctl->clients[i] >= 0) {
				slot_of[n] = i;
				p[n++] = (struct pollfd){.fd = ctl->clients[i], .events = POLLIN};
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
		for (int i = 2; i < n; i++)
			if (p[i].revents)
				control_serve_client(ctl, slot_of[i]);
	}
}

struct control *control_start(struct vm *vm, const char *path)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->vm = vm;
	ctl->wake_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i] = -1;
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
		if (ctl->clients[i] >= 0)
			close(ctl->clients[i]);
	close(ctl->listen_fd);
	close(ctl->wake_fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
