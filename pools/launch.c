/* launch.c — starting a desktop's vdi-vmm process in a session of its own,
 * and single requests on a VMM's control socket. */
#include "launch.h"

#include "../common/ipc.h"
#include "../common/log.h"
#include "../hypervisor/vmm_control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAUNCH_ARGS 32

static int64_t launch_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child, between fork and exec: only async-signal-safe calls. Its
 * own session, so signals aimed at vdi-server's (a terminal's ^C) do not
 * reach it and it outlives vdi-server. An exec failure's errno goes back
 * through the close-on-exec pipe; success closes it empty. */
static void launch_child(int status_pipe, const char *vmm_path, char *const argv[], int log_fd)
{
	int err = 0;
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (setsid() < 0 || null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		err = errno;
	/* Nothing of vdi-server's (listening sockets, the database) leaks in. */
	for (int fd = 3; !err && fd < 1024; fd++)
		if (fd != status_pipe)
			close(fd);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (!err) {
		execv(vmm_path, argv);
		err = errno;
	}
	ssize_t n = write(status_pipe, &err, sizeof(err));
	(void)n;
	_exit(127);
}

/* Runs vdi-vmm with argv (NULL-terminated) for desktop `name`. */
static int launch_argv(const char *vmm_path, const char *run_dir, const char *name, const char **argv, pid_t *pid)
{
	char log_path[POOL_PATH_MAX];
	if ((size_t)snprintf(log_path, sizeof(log_path), "%s/%s.log", run_dir, name) >= sizeof(log_path))
		return -ENAMETOOLONG;
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		int err = errno;
		log_error("pools: cannot open %s: %s", log_path, strerror(err));
		return -err;
	}
	int status[2];
	if (pipe2(status, O_CLOEXEC) < 0) {
		int err = errno;
		close(log_fd);
		return -err;
	}
	pid_t child = fork();
	if (child < 0) {
		int err = errno;
		log_error("pools: cannot start %s: fork: %s", name, strerror(err));
		close(log_fd);
		close(status[0]);
		close(status[1]);
		return -err;
	}
	if (child == 0) {
		close(status[0]);
		launch_child(status[1], vmm_path, (char *const *)argv, log_fd);
	}
	close(status[1]);
	close(log_fd);
	int child_err = 0;
	ssize_t got;
	while ((got = read(status[0], &child_err, sizeof(child_err))) < 0 && errno == EINTR)
		;
	close(status[0]);
	if (got > 0) {
		int wstatus;
		while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
			;
		log_error("pools: cannot run %s for %s: %s", vmm_path, name, strerror(child_err));
		return child_err ? -child_err : -ECHILD;
	}
	*pid = child;
	return 0;
}

bool pool_serial_path(const char *run_dir, const char *name, char *path, size_t size)
{
	return (size_t)snprintf(path, size, "%s/%s.serial", run_dir, name) < size;
}

/* The --serial and --serial-max arguments for spec's policy. */
static int launch_serial(const char *run_dir, const struct pool_spec *spec, const char *name, char *serial, size_t size,
			 char *max, size_t maxsize, const char **argv, int *n)
{
	argv[(*n)++] = "--serial";
	if (spec->serial != POOL_SERIAL_FILE) {
		argv[(*n)++] = "none";
		return 0;
	}
	memcpy(serial, "file:", 5);
	if (!pool_serial_path(run_dir, name, serial + 5, size - 5))
		return -ENAMETOOLONG;
	snprintf(max, maxsize, "%u", spec->serial_max);
	argv[(*n)++] = serial;
	argv[(*n)++] = "--serial-max";
	argv[(*n)++] = max;
	return 0;
}

int pool_launch(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *name,
		const char *label, const char *socket, pid_t *pid)
{
	char mem[16], cpus[16], display[32], serial[POOL_PATH_MAX + 16], serial_max[16];
	snprintf(mem, sizeof(mem), "%u", spec->memory_mib);
	snprintf(cpus, sizeof(cpus), "%u", spec->vcpus);
	snprintf(display, sizeof(display), "%ux%u", spec->width, spec->height);
	const char *argv[LAUNCH_ARGS];
	int n = 0;
	argv[n++] = vmm_path;
	argv[n++] = "--mem";
	argv[n++] = mem;
	argv[n++] = "--cpus";
	argv[n++] = cpus;
	if (spec->template == POOL_TEMPLATE_DESKTOP) {
		argv[n++] = "--guest";
		argv[n++] = "desktop";
	} else {
		argv[n++] = "--kernel";
		argv[n++] = spec->kernel;
		if (spec->initrd[0]) {
			argv[n++] = "--initrd";
			argv[n++] = spec->initrd;
		}
		if (spec->cmdline[0]) {
			argv[n++] = "--cmdline";
			argv[n++] = spec->cmdline;
		}
	}
	argv[n++] = "--display";
	argv[n++] = display;
	if (launch_serial(run_dir, spec, name, serial, sizeof(serial), serial_max, sizeof(serial_max), argv, &n) < 0)
		return -ENAMETOOLONG;
	argv[n++] = "--control";
	argv[n++] = socket;
	if (label && *label) {
		argv[n++] = "--label";
		argv[n++] = label;
	}
	argv[n] = NULL;
	return launch_argv(vmm_path, run_dir, name, argv, pid);
}

int pool_launch_restore(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *snapshot,
			bool clone, const char *name, const char *label, const char *socket, pid_t *pid)
{
	char serial[POOL_PATH_MAX + 16], serial_max[16];
	const char *argv[LAUNCH_ARGS];
	int n = 0;
	argv[n++] = vmm_path;
	argv[n++] = "--restore";
	argv[n++] = snapshot;
	if (clone)
		argv[n++] = "--clone";
	if (launch_serial(run_dir, spec, name, serial, sizeof(serial), serial_max, sizeof(serial_max), argv, &n) < 0)
		return -ENAMETOOLONG;
	argv[n++] = "--control";
	argv[n++] = socket;
	if (label && *label) {
		argv[n++] = "--label";
		argv[n++] = label;
	}
	argv[n] = NULL;
	return launch_argv(vmm_path, run_dir, name, argv, pid);
}

int pool_vmm_call(const char *socket, uint16_t type, const void *payload, uint32_t length, void *reply, size_t cap,
		  uint32_t *len, int timeout_ms)
{
	uint8_t buf[sizeof(struct vmm_msg) + 4096];
	if (length > sizeof(buf) - sizeof(struct vmm_msg))
		return -EMSGSIZE;
	int fd = ipc_connect(socket);
	if (fd < 0)
		return fd;
	struct vmm_msg req = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = 1, .length = length};
	memcpy(buf, &req, sizeof(req));
	if (length)
		memcpy(buf + sizeof(req), payload, length);
	int r = ipc_send(fd, buf, sizeof(req) + length, NULL, 0);
	int64_t deadline = launch_now_ms() + timeout_ms;
	while (r == 0) {
		int64_t left = deadline - launch_now_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k = poll(&p, 1, (int)left);
		if (k < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (k <= 0)
			continue;
		/* A subscription's reply carries the surface's descriptor: not ours to keep. */
		int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
		ssize_t got = ipc_recv(fd, buf, sizeof(buf), fds, &nfds);
		for (int i = 0; i < nfds && got >= 0; i++)
			close(fds[i]);
		if (got < (ssize_t)sizeof(struct vmm_msg)) {
			r = got < 0 ? (int)got : -EPIPE;
			break;
		}
		struct vmm_msg rep;
		memcpy(&rep, buf, sizeof(rep));
		if (rep.type != VMM_REPLY || rep.id != 1)
			continue; /* an event: not ours to read */
		uint32_t body = (uint32_t)got - (uint32_t)sizeof(rep);
		if (reply) {
			uint32_t n = body < cap ? body : (uint32_t)cap;
			memcpy(reply, buf + sizeof(rep), n);
			if (len)
				*len = n;
		}
		r = rep.result;
		break;
	}
	close(fd);
	return r;
}
