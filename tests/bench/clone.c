/* clone.c — `make bench` figures for snapshots and instant clones: time to a
 * running desktop's first frame (cold boot, resume from suspend, instant
 * clone), clones started back to back, and the memory of an idle clone. */
#include "../../common/ipc.h"
#include "../../hypervisor/vmm_control.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS         10 /* first-frame timings of each kind */
#define CLONES       20 /* started back to back */
#define GUEST_MIB    256
#define DISPLAY      "1024x768"
#define SCREEN_BYTES (1024ul * 768 * 4) /* DISPLAY at 4 bytes a pixel */
#define WAIT_MS      10000.0            /* for any one step: far beyond a healthy VM, short of a hung bench */
#define SETTLE_MS    2000.0             /* idle clones: past their first clock ticks */
#define MAX_VMS      (CLONES + 1)
#define ID_SUBSCRIBE 1
#define ID_CALL      2

static const char *vmm = "build/bin/vdi-vmm";
static char work[] = "/tmp/vdi-bench-clone-XXXXXX";
static char snap[PATH_MAX];
static int created_fd = -1;               /* inotify: a file (a control socket) appeared in `work` */
static volatile sig_atomic_t interrupted; /* ^C: stop, power the VMs off, remove `work` */

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* One vdi-vmm and what a consumer of its control socket has seen. Times
 * are milliseconds since just before its fork; negative: not yet. */
struct vm {
	pid_t pid; /* 0: reaped */
	int status;
	char sock[PATH_MAX];
	char err[PATH_MAX]; /* its stderr, for a failure's reason */
	char label[64];     /* a clone's own label, "" for none */
	int ctl, serial;
	char line[512];
	size_t line_len;
	bool failed;
	double t0, t_listen, t_frame, t_label;
	uint8_t *map;
	size_t map_len;
	uint64_t surface_serial;
	uint32_t reply_id;
	int32_t reply_result;
};

static struct vm vms[MAX_VMS];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double percentile(const double *sorted, int n, int pct)
{
	int rank = (n * pct + 99) / 100;
	return sorted[rank > 0 ? rank - 1 : 0];
}

static void vm_reset(struct vm *v, const char *name)
{
	*v = (struct vm){.ctl = -1, .serial = -1, .t_listen = -1, .t_frame = -1, .t_label = -1};
	snprintf(v->sock, sizeof(v->sock), "%s/%s.sock", work, name);
	snprintf(v->err, sizeof(v->err), "%s/%s.err", work, name);
}

/* Starts vdi-vmm with `args` and a control socket; its serial console on a
 * pipe, its stderr in a file. It dies with the bench (PDEATHSIG), so an
 * interrupted bench leaves no VM behind. */
static int vm_start(struct vm *v, const char *name, const char *const *args, int nargs, const char *label)
{
	vm_reset(v, name);
	if (label)
		snprintf(v->label, sizeof(v->label), "%s", label);
	const char *argv[16];
	int argc = 0;
	argv[argc++] = vmm;
	for (int i = 0; i < nargs && argc < 12; i++)
		argv[argc++] = args[i];
	if (label) {
		argv[argc++] = "--label";
		argv[argc++] = label;
	}
	argv[argc++] = "--control";
	argv[argc++] = v->sock;
	argv[argc] = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	v->t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int efd = open(v->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(p[1], STDOUT_FILENO);
		if (efd >= 0)
			dup2(efd, STDERR_FILENO);
		execv(vmm, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	v->pid = pid;
	v->serial = p[0];
	fcntl(v->serial, F_SETFL, O_NONBLOCK);
	return 0;
}

static void vm_fail(struct vm *v, const char *why)
{
	if (v->failed)
		return;
	v->failed = true;
	char last[256] = "";
	FILE *f = fopen(v->err, "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			snprintf(last, sizeof(last), "%s", line);
		fclose(f);
	}
	last[strcspn(last, "\n")] = '\0';
	printf("  %s: %s%s%s\n", v->sock, why, *last ? "; it said: " : "", last);
}

/* A frame counts once the consumer's mapping holds a drawn picture, not
 * the black of a scanout the guest has not painted yet. */
static bool vm_drawn(const struct vm *v)
{
	if (!v->map)
		return false;
	for (size_t off = 0; off + 4 <= v->map_len; off += 4 * 4099) {
		uint32_t px;
		memcpy(&px, v->map + off, sizeof(px));
		if (px & 0xffffffu)
			return true;
	}
	return false;
}

static void vm_map(struct vm *v, const struct vmm_surface *s, int fd)
{
	if (v->map)
		munmap(v->map, v->map_len);
	v->map = NULL;
	v->map_len = 0;
	v->surface_serial = s->serial;
	if (!s->width || !s->height || fd < 0 || s->stride / 4 < s->width || s->height > 16384 || s->stride > 65536)
		return;
	size_t len = (size_t)s->stride * s->height;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return;
	v->map = m;
	v->map_len = len;
}

static void vm_on_msg(struct vm *v, const uint8_t *buf, ssize_t n, int *fds, int nfds)
{
	struct vmm_msg h;
	double t = now_ms() - v->t0;
	if (n < (ssize_t)sizeof(h))
		goto out;
	memcpy(&h, buf, sizeof(h));
	if (h.length != (size_t)n - sizeof(h))
		goto out;
	const uint8_t *p = buf + sizeof(h);
	struct vmm_surface s;
	if (h.type == VMM_REPLY && h.id == ID_SUBSCRIBE) {
		if (h.result != 0 || h.length != sizeof(s)) {
			vm_fail(v, "DISPLAY_SUBSCRIBE refused");
			goto out;
		}
		memcpy(&s, p, sizeof(s));
		vm_map(v, &s, nfds ? fds[0] : -1);
		/* A restored VM hands over the screen it had: that is its frame. */
		if (v->t_frame < 0 && vm_drawn(v))
			v->t_frame = t;
	} else if (h.type == VMM_REPLY) {
		v->reply_id = h.id;
		v->reply_result = h.result;
	} else if (h.type == VMM_EVENT_SURFACE && h.length == sizeof(s)) {
		memcpy(&s, p, sizeof(s));
		vm_map(v, &s, nfds ? fds[0] : -1);
	} else if (h.type == VMM_EVENT_DAMAGE && h.length >= sizeof(struct vmm_damage)) {
		struct vmm_damage d;
		memcpy(&d, p, sizeof(d));
		if (v->t_frame < 0 && d.serial == v->surface_serial && vm_drawn(v))
			v->t_frame = t;
	}
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

static void vm_read_ctl(struct vm *v)
{
	static uint8_t buf[VMM_MSG_MAX];
	int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
	ssize_t n = ipc_recv(v->ctl, buf, sizeof(buf), fds, &nfds);
	if (n == -EINTR || n == -EAGAIN)
		return;
	if (n <= 0) {
		close(v->ctl);
		v->ctl = -1;
		if (v->t_frame < 0)
			vm_fail(v, "closed its control socket before its first frame");
		return;
	}
	vm_on_msg(v, buf, n, fds, nfds);
}

/* The guest logs `label "TEXT"` once its taskbar shows it (it flushes
 * before it logs). */
static void vm_read_serial(struct vm *v)
{
	char buf[4096];
	ssize_t n = read(v->serial, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(v->serial);
		v->serial = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (v->line_len < sizeof(v->line) - 1)
				v->line[v->line_len++] = buf[i];
			continue;
		}
		v->line[v->line_len] = '\0';
		v->line_len = 0;
		char want[96];
		snprintf(want, sizeof(want), "label \"%s\"", v->label);
		if (*v->label && v->t_label < 0 && strstr(v->line, want))
			v->t_label = now_ms() - v->t0;
	}
}

static void vm_send(struct vm *v, uint16_t type, uint32_t id, const void *payload, uint32_t len)
{
	uint8_t buf[sizeof(struct vmm_msg) + sizeof(struct vmm_snapshot) + PATH_MAX];
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = id, .length = len};
	if (v->ctl < 0 || sizeof(h) + len > sizeof(buf))
		return;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	if (ipc_send(v->ctl, buf, sizeof(h) + len, NULL, 0) < 0)
		vm_fail(v, "cannot send on its control socket");
}

enum want { WANT_FRAME, WANT_LABEL, WANT_REPLY, WANT_NOTHING };

static bool vm_done(const struct vm *v, enum want want)
{
	if (v->failed)
		return true;
	switch (want) {
	case WANT_FRAME:
		return v->t_frame >= 0;
	case WANT_LABEL:
		return v->t_frame >= 0 && v->t_label >= 0;
	case WANT_REPLY:
		return v->reply_id == ID_CALL;
	default:
		return false;
	}
}

/* Drives VMs [0, n) until each has what `want` asks for or `ms` pass:
 * connects (retrying until vdi-vmm listens), subscribes to the screen,
 * reads replies, events and serial lines. Returns 0, -ETIMEDOUT or
 * -ECANCELED (interrupted). */
static int vms_pump(struct vm *v, int n, enum want want, double ms)
{
	double deadline = now_ms() + ms;
	for (;;) {
		if (interrupted) {
			for (int i = 0; i < n; i++)
				if (!vm_done(&v[i], want))
					vm_fail(&v[i], "interrupted");
			return -ECANCELED;
		}
		bool done = true, connecting = false;
		for (int i = 0; i < n; i++) {
			if (!v[i].failed && v[i].pid && v[i].ctl < 0 && v[i].t_frame < 0) {
				int fd = ipc_connect(v[i].sock);
				if (fd >= 0) {
					v[i].ctl = fd;
					v[i].t_listen = now_ms() - v[i].t0;
					vm_send(&v[i], VMM_REQ_DISPLAY_SUBSCRIBE, ID_SUBSCRIBE, NULL, 0);
				} else if (fd != -ENOENT || created_fd < 0) {
					connecting = true; /* bound but not listening yet */
				}
			}
			if (v[i].pid && !v[i].failed && waitpid(v[i].pid, &v[i].status, WNOHANG) == v[i].pid) {
				v[i].pid = 0;
				if (!vm_done(&v[i], want))
					vm_fail(&v[i], "exited early");
			}
			done = done && vm_done(&v[i], want);
		}
		if (done && want != WANT_NOTHING)
			return 0;
		double left = deadline - now_ms();
		if (left <= 0) {
			if (want == WANT_NOTHING)
				return 0;
			for (int i = 0; i < n; i++)
				if (!vm_done(&v[i], want))
					vm_fail(&v[i], "timed out");
			return -ETIMEDOUT;
		}
		struct pollfd pfd[2 * MAX_VMS + 1];
		struct vm *owner[2 * MAX_VMS + 1];
		int np = 0;
		if (created_fd >= 0) {
			pfd[np] = (struct pollfd){.fd = created_fd, .events = POLLIN};
			owner[np++] = NULL;
		}
		for (int i = 0; i < n; i++) {
			if (v[i].ctl >= 0) {
				pfd[np] = (struct pollfd){.fd = v[i].ctl, .events = POLLIN};
				owner[np++] = &v[i];
			}
			if (v[i].serial >= 0) {
				pfd[np] = (struct pollfd){.fd = v[i].serial, .events = POLLIN};
				owner[np++] = &v[i];
			}
		}
		/* A socket that exists but refused the connection is about to
		 * listen: retry in 100 us. Before it exists, inotify wakes us,
		 * so twenty clones waiting cost no CPU of their own. */
		double wait = connecting ? 0.1 : (left < 20 ? left : 20);
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e6)};
		if (ppoll(pfd, (nfds_t)np, &ts, NULL) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!owner[k]) {
				char events[4096];
				while (read(created_fd, events, sizeof(events)) > 0) {
				}
				continue;
			}
			if (pfd[k].fd == owner[k]->ctl)
				vm_read_ctl(owner[k]);
			else if (pfd[k].fd == owner[k]->serial)
				vm_read_serial(owner[k]);
		}
	}
}

/* Powers the VM off (SIGKILL if it does not go within 5 s) and reaps it. */
static void vm_stop(struct vm *v)
{
	if (v->pid) {
		vm_send(v, VMM_REQ_POWEROFF, 3, NULL, 0);
		double until = now_ms() + 5000;
		while (waitpid(v->pid, &v->status, WNOHANG) == 0) {
			if (now_ms() > until || v->ctl < 0) {
				kill(v->pid, SIGKILL);
				waitpid(v->pid, &v->status, 0);
				break;
			}
			usleep(1000);
		}
		v->pid = 0;
	}
	if (v->ctl >= 0)
		close(v->ctl);
	if (v->serial >= 0)
		close(v->serial);
	if (v->map)
		munmap(v->map, v->map_len);
	v->ctl = v->serial = -1;
	v->map = NULL;
	unlink(v->sock);
}

/* Memory of one process, KiB: the whole; the mapping of guest RAM (its
 * pages this process has mapped, shared or its own copies); and the
 * screen's two copies, the scanout surface (memfd) and the guest's 2D
 * resource (an anonymous mapping of at least the screen's size). */
struct mem {
	unsigned long rss, pss, private_kib;
	unsigned long guest_rss, guest_private;
	unsigned long screen_rss;
};

static int mem_read(pid_t pid, const char *guest_path, struct mem *m)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	*m = (struct mem){0};
	const unsigned long screen_kib = SCREEN_BYTES / 1024;
	bool guest = false, scanout = false, anon = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, kib;
		int name = 0;
		char key[64];
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &name) == 2 && name > 0) {
			const char *file = line + name;
			guest = strstr(file, guest_path) != NULL;
			scanout = strstr(file, "memfd:vdi-scanout") != NULL;
			anon = *file == '\0' || *file == '\n';
			continue;
		}
		if (sscanf(line, "%63[^:]: %lu kB", key, &kib) != 2)
			continue;
		if (!strcmp(key, "Rss")) {
			m->rss += kib;
			m->guest_rss += guest ? kib : 0;
			m->screen_rss += scanout || (anon && kib >= screen_kib) ? kib : 0;
		} else if (!strcmp(key, "Pss")) {
			m->pss += kib;
		} else if (!strcmp(key, "Private_Clean") || !strcmp(key, "Private_Dirty")) {
			m->private_kib += kib;
			m->guest_private += guest ? kib : 0;
		}
	}
	fclose(f);
	return 0;
}

static void print_times(const char *what, double *t, int n, const char *anchor)
{
	if (n < RUNS) {
		printf("%-44s FAILED (%d of %d runs)\n", what, n, RUNS);
		return;
	}
	qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
	printf("%-44s %7.1f ms median, p90 %.1f ms (min %.1f, %d runs)%s%s\n", what, percentile(t, n, 50),
	       percentile(t, n, 90), t[0], n, anchor ? " | anchor: " : "", anchor ? anchor : "");
}

/* Each of RUNS VMs started alone, timed to its first frame (and its label),
 * then powered off. */
static void bench_first_frame(const char *what, const char *const *args, int nargs, bool labelled, const char *anchor)
{
	double listen[RUNS], frame[RUNS], label[RUNS];
	int n = 0, nl = 0, nc = 0;
	for (int i = 0; i < RUNS; i++) {
		char name[32], text[32];
		snprintf(name, sizeof(name), "run%d", i);
		snprintf(text, sizeof(text), "bench %d", i);
		if (vm_start(&vms[0], name, args, nargs, labelled ? text : NULL) < 0)
			break;
		vms_pump(&vms[0], 1, labelled ? WANT_LABEL : WANT_FRAME, WAIT_MS);
		if (vms[0].t_listen >= 0)
			listen[nc++] = vms[0].t_listen;
		if (vms[0].t_frame >= 0)
			frame[n++] = vms[0].t_frame;
		if (vms[0].t_label >= 0)
			label[nl++] = vms[0].t_label;
		bool failed = vms[0].failed;
		vm_stop(&vms[0]);
		if (failed)
			break;
	}
	print_times(what, frame, n, anchor);
	if (n < RUNS)
		return;
	print_times("  of which: to its control socket listening", listen, nc, NULL);
	if (labelled)
		print_times("  and to its own label on the taskbar", label, nl, NULL);
}

/* The template: a cold-booted desktop, left idle, measured, then suspended
 * to disk with --stop. Returns 0 once `snap` holds its snapshot. */
static int make_template(void)
{
	static const char *const args[] = {"--mem", "256", "--guest", "desktop", "--display", DISPLAY};
	struct vm *v = &vms[0];
	if (vm_start(v, "template", args, 6, NULL) < 0 || vms_pump(v, 1, WANT_FRAME, WAIT_MS) < 0 || v->failed) {
		printf("the template desktop: FAILED to come up\n");
		vm_stop(v);
		return -1;
	}
	vms_pump(v, 1, WANT_NOTHING, SETTLE_MS);
	struct mem m;
	if (mem_read(v->pid, "vdi-guest-ram", &m) == 0)
		printf("%-44s %7.1f MiB Pss, %.1f MiB RSS; VMM overhead (RSS - guest RAM mapped) %.1f MiB, %.1f MiB "
		       "without the screen's two copies\n",
		       "idle cold-booted desktop", m.pss / 1024.0, m.rss / 1024.0,
		       (double)(m.rss - m.guest_rss) / 1024.0, (double)(m.rss - m.guest_rss - m.screen_rss) / 1024.0);
	uint8_t req[sizeof(struct vmm_snapshot) + PATH_MAX];
	struct vmm_snapshot s = {.flags = VMM_SNAPSHOT_STOP};
	size_t len = strlen(snap);
	memcpy(req, &s, sizeof(s));
	memcpy(req + sizeof(s), snap, len);
	double t0 = now_ms();
	vm_send(v, VMM_REQ_SNAPSHOT, ID_CALL, req, (uint32_t)(sizeof(s) + len));
	vms_pump(v, 1, WANT_REPLY, WAIT_MS);
	double took = now_ms() - t0;
	int r = v->reply_id == ID_CALL ? v->reply_result : -ETIMEDOUT;
	/* --stop: vdi-vmm exits 0 by itself once the files are complete. */
	bool exited = false;
	for (double until = now_ms() + 5000; r == 0 && !exited && now_ms() < until; usleep(1000))
		exited = waitpid(v->pid, &v->status, WNOHANG) == v->pid;
	if (exited)
		v->pid = 0;
	vm_stop(v);
	if (r < 0 || !exited || !WIFEXITED(v->status) || WEXITSTATUS(v->status) != 0) {
		printf("snapshot --stop of the template: FAILED (%s)\n",
		       r < 0 ? strerror(-r) : "vdi-vmm did not exit 0");
		return -1;
	}
	char mem_path[PATH_MAX + 16];
	snprintf(mem_path, sizeof(mem_path), "%s/memory", snap);
	struct stat st;
	long on_disk = stat(mem_path, &st) == 0 ? (long)st.st_blocks / 2 : -1;
	printf("%-44s %7.1f ms (memory file %ld KiB on disk of %d MiB)\n", "suspend to disk (snapshot --stop)", took,
	       on_disk, GUEST_MIB);
	return 0;
}

/* CLONES instant clones started back to back, each as soon as the one
 * before is forked; then, once idle, their memory. */
static void bench_many_clones(void)
{
	const char *const args[] = {"--restore", snap, "--clone"};
	int started = 0;
	double t0 = now_ms();
	for (int i = 0; i < CLONES; i++) {
		char name[32], text[32];
		snprintf(name, sizeof(name), "clone%d", i);
		snprintf(text, sizeof(text), "desk %d", i);
		if (vm_start(&vms[started], name, args, 3, text) < 0)
			break;
		started++;
	}
	vms_pump(vms, started, WANT_LABEL, WAIT_MS);
	double last_frame = 0, last_label = 0;
	int ok = 0;
	for (int i = 0; i < started; i++) {
		if (vms[i].failed)
			continue;
		ok++;
		double f = vms[i].t0 - t0 + vms[i].t_frame, l = vms[i].t0 - t0 + vms[i].t_label;
		last_frame = f > last_frame ? f : last_frame;
		last_label = l > last_label ? l : last_label;
	}
	if (ok < CLONES) {
		printf("%-44s FAILED (%d of %d clones came up)\n", "instant clones back to back", ok, CLONES);
	} else {
		char what[64];
		snprintf(what, sizeof(what), "instant clones per second, %d back to back", CLONES);
		printf("%-44s %7.1f /s (all %d with a frame after %.0f ms, all showing their own label after %.0f "
		       "ms) | anchor: Horizon ~1/s\n",
		       what, CLONES * 1000.0 / last_frame, CLONES, last_frame, last_label);
		vms_pump(vms, started, WANT_NOTHING, SETTLE_MS);
		char guest[PATH_MAX + 16];
		snprintf(guest, sizeof(guest), "%s/memory", snap);
		struct mem sum = {0};
		int measured = 0;
		for (int i = 0; i < started; i++) {
			struct mem m;
			if (interrupted || !vms[i].pid || mem_read(vms[i].pid, guest, &m) < 0)
				continue;
			measured++;
			sum.rss += m.rss;
			sum.pss += m.pss;
			sum.private_kib += m.private_kib;
			sum.guest_rss += m.guest_rss;
			sum.guest_private += m.guest_private;
			sum.screen_rss += m.screen_rss;
		}
		if (measured) {
			double pss = sum.pss / 1024.0 / measured, rss = sum.rss / 1024.0 / measured;
			double own = sum.private_kib / 1024.0 / measured;
			printf("%-44s %7.1f MiB Pss, %.1f MiB RSS, %.1f MiB its own (%d clones of a %d MiB desktop, "
			       "%.0f MiB Pss in all)\n",
			       "memory per idle clone", pss, rss, own, measured, GUEST_MIB, sum.pss / 1024.0);
			printf("%-44s %7.0f from Pss (%.0f as the clones' count grows: own pages only)\n",
			       "idle desktops per GiB", 1024.0 / pss, 1024.0 / own);
			double overhead = (double)(sum.rss - sum.guest_rss) / 1024.0 / measured;
			double screen = sum.screen_rss / 1024.0 / measured;
			printf("%-44s %7.1f MiB (RSS %.1f - guest RAM mapped %.1f, %.1f of it copied on write); "
			       "%.1f MiB without the screen's two copies (%.1f MiB) | anchor: Firecracker < 5 MiB\n",
			       "VMM overhead of a clone", overhead, rss, sum.guest_rss / 1024.0 / measured,
			       sum.guest_private / 1024.0 / measured, overhead - screen, screen);
		}
	}
	for (int i = 0; i < started; i++)
		vm_stop(&vms[i]);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		vmm = argv[1];
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("snapshot and clone benchmarks skipped: no usable /dev/kvm\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!mkdtemp(work)) {
		printf("snapshot and clone benchmarks: FAILED, no work directory: %s\n", strerror(errno));
		return 1;
	}
	snprintf(snap, sizeof(snap), "%s/snap", work);
	created_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (created_fd >= 0 && inotify_add_watch(created_fd, work, IN_CREATE) < 0) {
		close(created_fd);
		created_fd = -1;
	}
	static const char *const cold[] = {"--mem", "256", "--guest", "desktop", "--display", DISPLAY};
	const char *const resume[] = {"--restore", snap};
	const char *const clone[] = {"--restore", snap, "--clone"};
	printf("desktop guest, %d MiB, %s; times from fork+exec of vdi-vmm to a control-socket consumer holding "
	       "the drawn screen\n",
	       GUEST_MIB, DISPLAY);
	bench_first_frame("cold boot -> first frame", cold, 6, false, NULL);
	int r = make_template();
	if (r == 0 && !interrupted)
		bench_first_frame("resume from suspend -> first frame", resume, 2, false,
				  "Firecracker snapshot restore 2-6 ms");
	if (r == 0 && !interrupted)
		bench_first_frame("instant clone -> first frame", clone, 3, true,
				  "Firecracker snapshot restore 2-6 ms");
	if (r == 0 && !interrupted)
		bench_many_clones();
	if (created_fd >= 0)
		close(created_fd);
	nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r == 0 && !interrupted ? 0 : 1;
}
