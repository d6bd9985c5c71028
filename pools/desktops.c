/* desktops.c — the desktops' VMM processes: started, watched through pidfds
 * and their control sockets, stopped, restarted after failures, adopted
 * after a vdi-server restart; every state change reported from one thread. */
#include "launch.h"
#include "pools.h"
#include "template.h"

#include "../common/log.h"
#include "../hypervisor/vmm_control.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/pidfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_EVERY_MS   100
#define PROBE_TIMEOUT_MS 500
#define STOP_CALL_MS     2000
#define EVENTS_MAX       256

struct desktop {
	struct desktop *next;
	struct desktop_info info;
	struct pool_spec spec;
	char label[DESKTOP_LABEL_MAX + 1];
	int pidfd;           /* -1: no VMM watched */
	int64_t deadline_ms; /* starting: give up; stopping: SIGKILL; failed: restart; 0: none */
	int64_t probe_ms;    /* starting: next look at the control socket */
	bool then_remove, then_start;
	bool suspending; /* stopping: a snapshot is being written (suspend to disk) */
	bool resuming;   /* starting from its suspend snapshot */
	bool cloned;     /* started as a clone of its pool's template */
	bool awaiting;   /* starting: no VMM yet, waits for its pool's template */
};

/* A pool's template for instant clones, one per source (a pool's desktops
 * started before its settings changed keep cloning the one they came from). */
enum template_state { TEMPLATE_PREPARING, TEMPLATE_READY, TEMPLATE_FAILED };
struct template
{
	struct template *next;
	char pool[POOL_NAME_MAX + 1];
	enum template_state state;
	char dir[POOL_PATH_MAX]; /* SNAPSHOT_DIR/template-POOL/HASH, HASH of its source */
	struct template_source src;
	struct pool_spec spec;
	struct pools *p;
	int booted; /* atomic: its guest has shown a screen (snapshotted in seconds) */
};

struct pending_event {
	struct desktop_info info;
	enum desktop_state from;
	char reason[96];
};

struct pools {
	char *vmm_path, *run_dir, *snapshot_dir;
	struct template *templates;
	unsigned preparing; /* template threads running */
	pthread_cond_t prepared;
	struct pools_events events;
	unsigned start_timeout_s, stop_timeout_s, restart_limit;
	pthread_mutex_t lock;
	struct desktop *desktops;
	struct pending_event *pending;
	size_t npending;
	int wake_fd;
	bool stop;
	pthread_t thread;
};

static int64_t pools_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pools_wake(struct pools *p)
{
	uint64_t one = 1;
	ssize_t n = write(p->wake_fd, &one, sizeof(one));
	(void)n;
}

/* Under the lock: a state change, reported later from the pools thread. */
static void desktop_set_state(struct pools *p, struct desktop *d, enum desktop_state to, const char *reason)
{
	enum desktop_state from = d->info.state;
	d->info.state = to;
	if (p->npending < EVENTS_MAX) {
		struct pending_event *e = &p->pending[p->npending++];
		e->info = d->info;
		e->from = from;
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	} else {
		log_warn("pools: too many state changes at once; %s %s -> %s not reported", d->info.name,
			 desktop_state_name(from), desktop_state_name(to));
	}
	log_info("pools: desktop %s: %s -> %s (%s)", d->info.name, desktop_state_name(from), desktop_state_name(to),
		 reason);
	pools_wake(p);
}

static struct desktop *desktop_find(struct pools *p, const char *name)
{
	for (struct desktop *d = p->desktops; d; d = d->next)
		if (strcmp(d->info.name, name) == 0)
			return d;
	return NULL;
}

static void desktop_unwatch(struct desktop *d)
{
	if (d->pidfd >= 0)
		close(d->pidfd);
	d->pidfd = -1;
	d->info.pid = 0;
}

static int desktop_launch(struct pools *p, struct desktop *d, const char *why);

/* Removes a snapshot directory: its files, then itself. Clones running from
 * it keep their open file. */
static void remove_snapshot_dir(const char *dir)
{
	char file[POOL_PATH_MAX + 64];
	DIR *it = opendir(dir);
	if (!it)
		return;
	struct dirent *e;
	while ((e = readdir(it)))
		if (e->d_name[0] != '.' && (size_t)snprintf(file, sizeof(file), "%s/%s", dir, e->d_name) < sizeof(file))
			unlink(file);
	closedir(it);
	rmdir(dir);
}

/* Under the lock: template directories of pool `t->pool` that no template
 * of this run owns (older settings, an earlier vdi-server) go. */
static void template_sweep(struct pools *p, const struct template *t)
{
	char parent[POOL_PATH_MAX], dir[POOL_PATH_MAX + 64];
	snprintf(parent, sizeof(parent), "%s/template-%s", p->snapshot_dir, t->pool);
	DIR *it = opendir(parent);
	if (!it)
		return;
	struct dirent *e;
	while ((e = readdir(it))) {
		if (e->d_name[0] == '.' || (size_t)snprintf(dir, sizeof(dir), "%s/%s", parent, e->d_name) >= sizeof(dir))
			continue;
		bool owned = false;
		for (const struct template *o = p->templates; o && !owned; o = o->next)
			owned = strcmp(o->dir, dir) == 0;
		if (!owned)
			remove_snapshot_dir(dir);
	}
	closedir(it);
}

/* A thread of its own: boots the pool's template and snapshots it; then
 * the pool's desktops that waited for it start, as its clones (or cold if
 * it failed). */
static void *template_thread(void *opaque)
{
	struct template *t = opaque;
	struct pools *p = t->p;
	int r = pool_template_prepare(p->vmm_path, p->run_dir, &t->spec, t->dir, &t->booted);
	pthread_mutex_lock(&p->lock);
	t->state = r == 0 ? TEMPLATE_READY : TEMPLATE_FAILED;
	if (r == 0)
		template_sweep(p, t);
	for (struct desktop *d = p->desktops; d && !p->stop; d = d->next) {
		if (!d->awaiting || strcmp(d->spec.name, t->pool) != 0)
			continue;
		d->awaiting = false;
		desktop_launch(p, d, r == 0 ? "started as a clone of its template" : "started cold: no template");
	}
	p->preparing--;
	pthread_cond_broadcast(&p->prepared);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* FNV-1a: names a source's directory. */
static uint32_t template_hash(const struct template_source *src)
{
	const unsigned char *b = (const unsigned char *)src;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(*src); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* Under the lock: the template a desktop of `spec` starts from. Ready: it
 * is returned. Being made: NULL with *wait set, so the desktop waits for
 * it, unless `urgent` (a user waits for this desktop) and the template's
 * guest has not booted yet, when booting cold is as soon. None yet for
 * this source (new settings or image files): its making starts, and the
 * same holds. Failed: NULL, the desktop boots cold. */
static struct template *template_for(struct pools *p, const struct pool_spec *spec, bool urgent, bool *wait)
{
	struct template_source src;
	pool_template_source(p->vmm_path, spec, &src);
	*wait = false;
	struct template *t = p->templates;
	while (t && (strcmp(t->pool, spec->name) != 0 || memcmp(&t->src, &src, sizeof(src)) != 0))
		t = t->next;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		char parent[POOL_PATH_MAX];
		if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/template-%s/%08x", p->snapshot_dir, spec->name,
				     template_hash(&src)) >= sizeof(t->dir)) {
			log_error("pools: the template directory of pool %s: its path is too long", spec->name);
			free(t);
			return NULL;
		}
		snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(t->dir, '/') - t->dir), t->dir);
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			log_warn("pools: %s: %s", parent, strerror(errno));
		snprintf(t->pool, sizeof(t->pool), "%s", spec->name);
		t->src = src;
		t->spec = *spec;
		t->p = p;
		t->state = TEMPLATE_PREPARING;
		t->next = p->templates;
		p->templates = t;
		pthread_t thread;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&thread, &attr, template_thread, t) == 0)
			p->preparing++;
		else
			t->state = TEMPLATE_FAILED;
		pthread_attr_destroy(&attr);
	}
	if (t->state == TEMPLATE_READY)
		return t;
	*wait = t->state == TEMPLATE_PREPARING && (!urgent || __atomic_load_n(&t->booted, __ATOMIC_ACQUIRE));
	return NULL;
}

/* A clone failed to start: its template is not trusted again this run. */
static void template_distrust(struct pools *p, const char *pool)
{
	for (struct template *t = p->templates; t; t = t->next)
		if (strcmp(t->pool, pool) == 0 && t->state == TEMPLATE_READY) {
			log_warn("pools: clones of pool %s's template fail; its desktops boot cold from now on", pool);
			t->state = TEMPLATE_FAILED;
		}
}

static void desktop_snapshot_dir(const struct pools *p, const struct desktop *d, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", p->snapshot_dir, d->info.name);
}

/* Removes a desktop's suspend snapshot. */
static void desktop_forget_snapshot(const struct pools *p, const struct desktop *d)
{
	char dir[POOL_PATH_MAX];
	desktop_snapshot_dir(p, d, dir, sizeof(dir));
	remove_snapshot_dir(dir);
}

/* Under the lock: launches the VMM and watches it; starting. A suspended
 * desktop resumes from its snapshot; a pool with clones starts one from its
 * template, waiting (starting, no VMM yet) while that is made; otherwise
 * the desktop boots. */
static int desktop_launch(struct pools *p, struct desktop *d, const char *why)
{
	pid_t pid;
	/* A socket file left by a VMM that died would look like an answer. */
	unlink(d->info.socket);
	int r;
	bool wait = false;
	struct template *t =
	    !d->resuming && d->spec.clone ? template_for(p, &d->spec, d->label[0] != '\0', &wait) : NULL;
	d->cloned = t != NULL;
	if (wait) {
		d->awaiting = true;
		d->deadline_ms = 0;
		desktop_set_state(p, d, DESKTOP_STARTING, "waiting for its pool's template");
		return 0;
	}
	if (d->resuming) {
		char dir[POOL_PATH_MAX];
		desktop_snapshot_dir(p, d, dir, sizeof(dir));
		r = pool_launch_restore(p->vmm_path, p->run_dir, &d->spec, dir, false, d->info.name, d->label,
					d->info.socket, &pid);
	} else if (t) {
		r = pool_launch_restore(p->vmm_path, p->run_dir, &d->spec, t->dir, true, d->info.name, d->label,
					d->info.socket, &pid);
	} else {
		r = pool_launch(p->vmm_path, p->run_dir, &d->spec, d->info.name, d->label, d->info.socket, &pid);
	}
	if (r < 0) {
		desktop_set_state(p, d, DESKTOP_FAILED, "the VMM could not be started");
		return r;
	}
	int fd = pidfd_open(pid, 0);
	if (fd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		desktop_set_state(p, d, DESKTOP_FAILED, "the VMM could not be watched");
		return r;
	}
	d->pidfd = fd;
	d->info.pid = pid;
	int64_t now = pools_now_ms();
	d->deadline_ms = now + (int64_t)p->start_timeout_s * 1000;
	d->probe_ms = now;
	if (d->info.state == DESKTOP_STARTING) { /* it waited for its template */
		log_info("pools: desktop %s: %s", d->info.name, why);
		pools_wake(p); /* its VMM to watch and probe */
	} else
		desktop_set_state(p, d, DESKTOP_STARTING, why);
	return 0;
}

int pools_desktop_start(struct pools *p, const struct pool_spec *spec, const char *name, const char *label)
{
	char err[160];
	if (!desktop_name_valid(name)) {
		log_error("pools: '%s' is not a desktop name", name);
		return -EINVAL;
	}
	if (pool_spec_check(spec, err, sizeof(err)) < 0) {
		log_error("pools: %s", err);
		return -EINVAL;
	}
	struct desktop *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pidfd = -1;
	d->spec = *spec;
	snprintf(d->label, sizeof(d->label), "%s", label ? label : "");
	snprintf(d->info.name, sizeof(d->info.name), "%s", name);
	snprintf(d->info.pool, sizeof(d->info.pool), "%s", spec->name);
	if ((size_t)snprintf(d->info.socket, sizeof(d->info.socket), "%s/%s.sock", p->run_dir, name) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error("pools: the control socket path %s/%s.sock is too long for a Unix socket", p->run_dir, name);
		free(d);
		return -ENAMETOOLONG;
	}
	d->info.state = DESKTOP_PROVISIONING;
	pthread_mutex_lock(&p->lock);
	if (desktop_find(p, name)) {
		pthread_mutex_unlock(&p->lock);
		free(d);
		return -EEXIST;
	}
	d->next = p->desktops;
	p->desktops = d;
	int r = desktop_launch(p, d, "started");
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Under the lock: asks a running VMM to power off; the pidfd tells when it
 * went. The request itself is made outside the lock by the caller. */
static void desktop_begin_stop(struct pools *p, struct desktop *d, const char *why)
{
	d->deadline_ms = pools_now_ms() + (int64_t)p->stop_timeout_s * 1000;
	desktop_set_state(p, d, DESKTOP_STOPPING, why);
}

static void desktop_free(struct pools *p, struct desktop *d)
{
	for (struct desktop **it = &p->desktops; *it; it = &(*it)->next) {
		if (*it == d) {
			*it = d->next;
			break;
		}
	}
	desktop_unwatch(d);
	unlink(d->info.socket);
	/* Its console (what its users typed may be in it) goes with it. */
	char serial[POOL_PATH_MAX];
	if (pool_serial_path(p->run_dir, d->info.name, serial, sizeof(serial)))
		unlink(serial);
	free(d);
}

/* The common shape of stop, restart and remove: a running VMM is asked to
 * power off first and the rest happens when it has gone. */
static int desktop_stop_then(struct pools *p, const char *name, bool then_start, bool then_remove, const char *why)
{
	char socket[POOL_PATH_MAX];
	pthread_mutex_lock(&p->lock);
	struct desktop *d = desktop_find(p, name);
	if (!d) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	d->then_start = then_start;
	d->then_remove = then_remove;
	if (d->pidfd < 0) {
		/* Nothing runs: act now. */
		int r = 0;
		d->awaiting = false;
		if (then_remove) {
			desktop_set_state(p, d, DESKTOP_STOPPED, "removed");
			desktop_free(p, d);
		} else if (d->info.state == DESKTOP_STARTING && !then_start) {
			desktop_set_state(p, d, DESKTOP_STOPPED, why);
		} else if (then_start) {
			d->info.restarts = 0;
			d->info.given_up = false;
			r = desktop_launch(p, d, why);
		}
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	if (d->info.state != DESKTOP_STOPPING)
		desktop_begin_stop(p, d, why);
	snprintf(socket, sizeof(socket), "%s", d->info.socket);
	pthread_mutex_unlock(&p->lock);
	/* A VMM that does not answer is killed when the deadline passes. */
	int r = pool_vmm_call(socket, VMM_REQ_POWEROFF, NULL, 0, NULL, 0, NULL, STOP_CALL_MS);
	if (r < 0)
		log_warn("pools: desktop %s did not take the power-off request (%s); it is killed at the deadline",
			 name, strerror(-r));
	return 0;
}

int pools_desktop_suspend(struct pools *p, const char *name)
{
	char socket[POOL_PATH_MAX], dir[POOL_PATH_MAX];
	pthread_mutex_lock(&p->lock);
	struct desktop *d = desktop_find(p, name);
	if (!d || d->info.state != DESKTOP_RUNNING) {
		pthread_mutex_unlock(&p->lock);
		return d ? -EINVAL : -ENOENT;
	}
	d->suspending = true;
	d->then_start = d->then_remove = false;
	desktop_begin_stop(p, d, "suspending to disk");
	/* Writing guest memory takes longer than powering off. */
	d->deadline_ms += 3 * (int64_t)p->stop_timeout_s * 1000;
	snprintf(socket, sizeof(socket), "%s", d->info.socket);
	desktop_snapshot_dir(p, d, dir, sizeof(dir));
	pthread_mutex_unlock(&p->lock);
	char payload[sizeof(struct vmm_snapshot) + VMM_SNAPSHOT_PATH_MAX];
	struct vmm_snapshot req = {.flags = VMM_SNAPSHOT_STOP};
	size_t n = strlen(dir);
	if (n > VMM_SNAPSHOT_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(payload, &req, sizeof(req));
	memcpy(payload + sizeof(req), dir, n);
	int r = pool_vmm_call(socket, VMM_REQ_SNAPSHOT, payload, (uint32_t)(sizeof(req) + n), NULL, 0, NULL, 60000);
	if (r < 0)
		log_warn("pools: desktop %s could not be suspended (%s); it is stopped at the deadline", name,
			 strerror(-r));
	return r;
}

int pools_desktop_resume(struct pools *p, const char *name)
{
	pthread_mutex_lock(&p->lock);
	struct desktop *d = desktop_find(p, name);
	int r = !d ? -ENOENT : d->info.state != DESKTOP_SUSPENDED ? -EINVAL : 0;
	if (r == 0) {
		d->resuming = true;
		d->info.restarts = 0;
		r = desktop_launch(p, d, "resuming from disk");
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int pools_desktop_stop(struct pools *p, const char *name)
{
	return desktop_stop_then(p, name, false, false, "powered off");
}

int pools_desktop_restart(struct pools *p, const char *name)
{
	return desktop_stop_then(p, name, true, false, "restarted from its template");
}

int pools_desktop_remove(struct pools *p, const char *name)
{
	return desktop_stop_then(p, name, false, true, "removed");
}

/* Whether process `pid` is the VMM answering on `socket`: its STATUS
 * reply names its pid (a pid reused by another process is not adopted). */
static bool desktop_answers(const char *socket, pid_t pid)
{
	struct vmm_status st;
	uint32_t len = 0;
	if (pool_vmm_call(socket, VMM_REQ_STATUS, NULL, 0, &st, sizeof(st), &len, PROBE_TIMEOUT_MS) < 0 ||
	    len != sizeof(st))
		return false;
	return pid <= 0 || st.pid == (uint32_t)pid;
}

int pools_adopt(struct pools *p, const struct pool_spec *spec, const char *name, pid_t pid, const char *socket)
{
	char err[160];
	if (!desktop_name_valid(name) || pool_spec_check(spec, err, sizeof(err)) < 0)
		return -EINVAL;
	struct desktop *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pidfd = -1;
	d->spec = *spec;
	snprintf(d->info.name, sizeof(d->info.name), "%s", name);
	snprintf(d->info.pool, sizeof(d->info.pool), "%s", spec->name);
	snprintf(d->info.socket, sizeof(d->info.socket), "%s", socket);
	d->info.state = DESKTOP_RUNNING;
	bool alive = pid > 0 && socket && *socket && desktop_answers(socket, pid);
	int fd = alive ? pidfd_open(pid, 0) : -1;
	pthread_mutex_lock(&p->lock);
	if (desktop_find(p, name)) {
		pthread_mutex_unlock(&p->lock);
		if (fd >= 0)
			close(fd);
		free(d);
		return -EEXIST;
	}
	d->next = p->desktops;
	p->desktops = d;
	if (fd >= 0) {
		d->pidfd = fd;
		d->info.pid = pid;
		log_info("pools: desktop %s adopted (vdi-vmm pid %d)", name, (int)pid);
	} else if (pid <= 0) {
		/* No VMM by design: suspended (its snapshot is there) or off. */
		snprintf(d->info.socket, sizeof(d->info.socket), "%s/%s.sock", p->run_dir, name);
		char state[POOL_PATH_MAX + 16];
		desktop_snapshot_dir(p, d, state, sizeof(state) - 8);
		strcat(state, "/state");
		d->info.state = access(state, R_OK) == 0 ? DESKTOP_SUSPENDED : DESKTOP_STOPPED;
		log_info("pools: desktop %s is %s", name, desktop_state_name(d->info.state));
	} else {
		/* Gone while vdi-server was away: failed, and started again at
		 * this run directory's socket. */
		snprintf(d->info.socket, sizeof(d->info.socket), "%s/%s.sock", p->run_dir, name);
		d->info.state = DESKTOP_STOPPED;
		desktop_set_state(p, d, DESKTOP_FAILED, "its VMM was gone when vdi-server started");
		d->deadline_ms = pools_now_ms();
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int pools_desktop_set_label(struct pools *p, const char *name, const char *label)
{
	char socket[POOL_PATH_MAX];
	size_t n = label ? strlen(label) : 0;
	if (n > DESKTOP_LABEL_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	struct desktop *d = desktop_find(p, name);
	if (!d) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	/* Kept for restarts: a refreshed desktop shows the same name. */
	snprintf(d->label, sizeof(d->label), "%s", label ? label : "");
	/* A user now waits for a desktop that waits for its template: booted
	 * cold when that is as soon. */
	bool wait = true;
	if (d->awaiting && d->label[0])
		template_for(p, &d->spec, true, &wait);
	if (!wait) {
		d->awaiting = false;
		desktop_launch(p, d, "started cold for its user: the template has not booted yet");
	}
	bool running = d->info.state == DESKTOP_RUNNING;
	snprintf(socket, sizeof(socket), "%s", d->info.socket);
	pthread_mutex_unlock(&p->lock);
	if (!running)
		return 0;
	return pool_vmm_call(socket, VMM_REQ_SET_LABEL, label, (uint32_t)n, NULL, 0, NULL, STOP_CALL_MS);
}

int pools_desktop_info(struct pools *p, const char *name, struct desktop_info *out)
{
	pthread_mutex_lock(&p->lock);
	struct desktop *d = desktop_find(p, name);
	if (d)
		*out = d->info;
	pthread_mutex_unlock(&p->lock);
	return d ? 0 : -ENOENT;
}

size_t pools_desktop_list(struct pools *p, const char *pool, struct desktop_info *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (struct desktop *d = p->desktops; d; d = d->next) {
		if (pool && strcmp(d->info.pool, pool) != 0)
			continue;
		if (n < max)
			out[n] = d->info;
		n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* ---- the pools thread ---- */

/* Under the lock: the VMM behind d->pidfd exited. A VMM this process
 * started is its child, reaped here with its status; an adopted one is
 * not (ECHILD), and its parent reaps it. */
static void desktop_exited(struct pools *p, struct desktop *d)
{
	siginfo_t si = {0};
	char status[64] = "";
	if (waitid(P_PIDFD, (id_t)d->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
		if (si.si_code == CLD_EXITED)
			snprintf(status, sizeof(status), ", status %d", si.si_status);
		else
			snprintf(status, sizeof(status), ", signal %d", si.si_status);
	}
	desktop_unwatch(d);
	unlink(d->info.socket);
	if (d->info.state == DESKTOP_STOPPING && d->suspending) {
		d->suspending = false;
		char state[POOL_PATH_MAX + 16];
		desktop_snapshot_dir(p, d, state, sizeof(state) - 8);
		strcat(state, "/state");
		if (!d->then_remove && access(state, R_OK) == 0) {
			desktop_set_state(p, d, DESKTOP_SUSPENDED, "suspended to disk");
			return;
		}
		log_warn("pools: desktop %s stopped without a whole snapshot; it is powered off instead", d->info.name);
	}
	if (d->info.state == DESKTOP_STOPPING) {
		if (d->then_remove) {
			desktop_set_state(p, d, DESKTOP_STOPPED, "removed");
			desktop_free(p, d);
			return;
		}
		desktop_set_state(p, d, DESKTOP_STOPPED, "powered off");
		if (d->then_start) {
			d->then_start = false;
			d->info.restarts = 0;
			d->info.given_up = false;
			desktop_launch(p, d, "restarted from its template");
		}
		return;
	}
	if (d->info.state == DESKTOP_STARTING && d->cloned)
		template_distrust(p, d->spec.name);
	if (d->resuming) {
		/* A snapshot that does not restore is not tried again: the
		 * desktop starts afresh. */
		log_warn("pools: desktop %s could not resume from its snapshot; it starts afresh", d->info.name);
		d->resuming = false;
	}
	d->info.restarts++;
	d->info.given_up = d->info.restarts > p->restart_limit;
	char why[128];
	snprintf(why, sizeof(why), "its VMM exited unexpectedly%s (%u in a row%s)", status, d->info.restarts,
		 d->info.given_up ? "; not started again" : "");
	desktop_set_state(p, d, DESKTOP_FAILED, why);
	/* Started again after a pause that grows, up to the limit. */
	d->deadline_ms = d->info.given_up ? 0 : pools_now_ms() + 1000 * (int64_t)d->info.restarts;
}

/* Under the lock: deadlines and probes due; returns ms until the next. */
static int64_t pools_tick(struct pools *p, char (*probe)[POOL_PATH_MAX], pid_t *probe_pid,
			  char (*probe_name)[DESKTOP_NAME_MAX + 1], size_t *nprobe, size_t max_probe)
{
	int64_t now = pools_now_ms(), next = INT64_MAX;
	*nprobe = 0;
	for (struct desktop *d = p->desktops, *after; d; d = after) {
		after = d->next;
		switch (d->info.state) {
		case DESKTOP_STARTING:
			if (d->awaiting)
				break; /* the template's thread starts it */
			if (now >= d->deadline_ms) {
				char why[64];
				snprintf(why, sizeof(why), "it did not start in %u s", p->start_timeout_s);
				if (d->pidfd >= 0)
					pidfd_send_signal(d->pidfd, SIGKILL, NULL, 0);
				desktop_unwatch(d);
				d->info.restarts++;
				d->info.given_up = d->info.restarts > p->restart_limit;
				desktop_set_state(p, d, DESKTOP_FAILED, why);
				d->deadline_ms = d->info.given_up ? 0 : now + 1000;
				break;
			}
			if (now >= d->probe_ms && *nprobe < max_probe) {
				snprintf(probe[*nprobe], POOL_PATH_MAX, "%s", d->info.socket);
				snprintf(probe_name[*nprobe], DESKTOP_NAME_MAX + 1, "%s", d->info.name);
				probe_pid[*nprobe] = d->info.pid;
				(*nprobe)++;
				d->probe_ms = now + PROBE_EVERY_MS;
			}
			next = d->probe_ms < next ? d->probe_ms : next;
			next = d->deadline_ms < next ? d->deadline_ms : next;
			break;
		case DESKTOP_STOPPING:
			if (now >= d->deadline_ms && d->pidfd >= 0) {
				log_warn("pools: desktop %s did not power off in %u s; killing it", d->info.name,
					 p->stop_timeout_s);
				pidfd_send_signal(d->pidfd, SIGKILL, NULL, 0);
				d->deadline_ms = now + 1000;
			}
			next = d->deadline_ms < next ? d->deadline_ms : next;
			break;
		case DESKTOP_FAILED:
			if (d->deadline_ms && now >= d->deadline_ms) {
				d->deadline_ms = 0;
				desktop_launch(p, d, "started again after a failure");
			} else if (d->deadline_ms) {
				next = d->deadline_ms < next ? d->deadline_ms : next;
			}
			break;
		default:
			break;
		}
	}
	return next == INT64_MAX ? -1 : next - now;
}

#define PROBES_MAX 16

static void *pools_thread(void *opaque)
{
	struct pools *p = opaque;
	struct pollfd *fds = NULL;
	struct desktop **owners = NULL;
	size_t cap = 0;
	struct pending_event *events = calloc(EVENTS_MAX, sizeof(*events));
	char probe[PROBES_MAX][POOL_PATH_MAX];
	char probe_name[PROBES_MAX][DESKTOP_NAME_MAX + 1];
	pid_t probe_pid[PROBES_MAX];
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		size_t nprobe;
		int64_t wait = pools_tick(p, probe, probe_pid, probe_name, &nprobe, PROBES_MAX);
		size_t n = 1;
		for (struct desktop *d = p->desktops; d; d = d->next)
			n += d->pidfd >= 0;
		if (n > cap) {
			struct pollfd *f = realloc(fds, n * sizeof(*f));
			struct desktop **o = f ? realloc(owners, n * sizeof(*o)) : NULL;
			if (f)
				fds = f;
			if (o) {
				owners = o;
				cap = n;
			}
		}
		size_t k = 0;
		fds[k] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
		owners[k++] = NULL;
		for (struct desktop *d = p->desktops; d && k < cap; d = d->next) {
			if (d->pidfd < 0)
				continue;
			fds[k] = (struct pollfd){.fd = d->pidfd, .events = POLLIN};
			owners[k++] = d;
		}
		size_t nevents = p->npending;
		memcpy(events, p->pending, nevents * sizeof(*events));
		p->npending = 0;
		pthread_mutex_unlock(&p->lock);

		for (size_t i = 0; i < nevents; i++)
			if (p->events.state)
				p->events.state(p->events.opaque, &events[i].info, events[i].from, events[i].reason);
		/* A probe answers or not within PROBE_TIMEOUT_MS; outside the lock. */
		bool ready[PROBES_MAX];
		for (size_t i = 0; i < nprobe; i++)
			ready[i] = desktop_answers(probe[i], probe_pid[i]);
		if (nprobe) {
			pthread_mutex_lock(&p->lock);
			for (size_t i = 0; i < nprobe; i++) {
				struct desktop *d = desktop_find(p, probe_name[i]);
				if (ready[i] && d && d->info.state == DESKTOP_STARTING && d->info.pid == probe_pid[i]) {
					desktop_set_state(p, d, DESKTOP_RUNNING,
							  d->resuming ? "resumed"
							  : d->cloned ? "cloned"
								      : "its VMM answers");
					/* Running from a copy of it: the suspend snapshot is spent. */
					if (d->resuming)
						desktop_forget_snapshot(p, d);
					d->resuming = false;
				}
			}
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		if (nevents)
			continue;
		int r = poll(fds, k, wait < 0 ? -1 : (int)(wait > 60000 ? 60000 : wait));
		if (r <= 0)
			continue;
		if (fds[0].revents) {
			uint64_t count;
			ssize_t got = read(p->wake_fd, &count, sizeof(count));
			(void)got;
		}
		pthread_mutex_lock(&p->lock);
		for (size_t i = 1; i < k; i++) {
			if (!fds[i].revents)
				continue;
			/* The desktop may have been freed meanwhile: match by pidfd. */
			for (struct desktop *d = p->desktops; d; d = d->next) {
				if (d == owners[i] && d->pidfd == fds[i].fd) {
					desktop_exited(p, d);
					break;
				}
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
	free(fds);
	free(owners);
	free(events);
	return NULL;
}

struct pools *pools_create(const struct pools_config *cfg, char *err, size_t errlen)
{
	if (!cfg->vmm_path || !cfg->run_dir) {
		snprintf(err, errlen, "pools: a VMM path and a run directory are needed");
		return NULL;
	}
	if (access(cfg->vmm_path, X_OK) < 0) {
		snprintf(err, errlen, "%s: cannot run the VMM: %s", cfg->vmm_path, strerror(errno));
		return NULL;
	}
	if (mkdir(cfg->run_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", cfg->run_dir, strerror(errno));
		return NULL;
	}
	struct pools *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	p->vmm_path = strdup(cfg->vmm_path);
	p->run_dir = strdup(cfg->run_dir);
	/* The VMM is told absolute paths: it runs in a directory of its own choosing. */
	const char *snaps = cfg->snapshot_dir ? cfg->snapshot_dir : cfg->run_dir;
	if (mkdir(snaps, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", snaps, strerror(errno));
		free(p->vmm_path);
		free(p->run_dir);
		free(p);
		return NULL;
	}
	p->snapshot_dir = realpath(snaps, NULL);
	pthread_cond_init(&p->prepared, NULL);
	p->pending = calloc(EVENTS_MAX, sizeof(*p->pending));
	p->events = cfg->events;
	p->start_timeout_s = cfg->start_timeout_s ? cfg->start_timeout_s : 30;
	p->stop_timeout_s = cfg->stop_timeout_s ? cfg->stop_timeout_s : 10;
	p->restart_limit = cfg->restart_limit ? cfg->restart_limit : 3;
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&p->lock, NULL);
	if (!p->vmm_path || !p->run_dir || !p->snapshot_dir || !p->pending || p->wake_fd < 0 ||
	    pthread_create(&p->thread, NULL, pools_thread, p) != 0) {
		snprintf(err, errlen, "pools: cannot start");
		if (p->wake_fd >= 0)
			close(p->wake_fd);
		pthread_mutex_destroy(&p->lock);
		free(p->pending);
		free(p->vmm_path);
		free(p->run_dir);
		free(p->snapshot_dir);
		free(p);
		return NULL;
	}
	return p;
}

void pools_destroy(struct pools *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	pools_wake(p);
	pthread_join(p->thread, NULL);
	/* A template being made finishes first (it holds p). */
	pthread_mutex_lock(&p->lock);
	while (p->preparing)
		pthread_cond_wait(&p->prepared, &p->lock);
	pthread_mutex_unlock(&p->lock);
	while (p->templates) {
		struct template *t = p->templates;
		p->templates = t->next;
		free(t);
	}
	pthread_cond_destroy(&p->prepared);
	free(p->snapshot_dir);
	while (p->desktops) {
		struct desktop *d = p->desktops;
		p->desktops = d->next;
		desktop_unwatch(d);
		free(d);
	}
	close(p->wake_fd);
	pthread_mutex_destroy(&p->lock);
	free(p->pending);
	free(p->vmm_path);
	free(p->run_dir);
	free(p);
}
