/* conn_deadline.c — one watchdog thread that shuts down the sockets of
 * connections still in a stage before login at their deadline (see
 * conn_deadline.h). Armed deadlines are kept sorted, earliest first. */
#include "conn_deadline.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h> /* FD_SETSIZE */
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t deadline_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deadline_cond;
static struct conn_deadline *deadline_head, *deadline_tail;
static pthread_once_t deadline_once = PTHREAD_ONCE_INIT;
static int deadline_start_err;

static int64_t deadline_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_unlink(struct conn_deadline *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		deadline_head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		deadline_tail = d->prev;
	d->next = d->prev = NULL;
	d->armed = false;
}

/* From the tail: deadlines are mostly armed in the order they fall due. */
static void deadline_insert(struct conn_deadline *d)
{
	struct conn_deadline *after = deadline_tail;
	while (after && after->due_ms > d->due_ms)
		after = after->prev;
	d->prev = after;
	d->next = after ? after->next : deadline_head;
	if (d->next)
		d->next->prev = d;
	else
		deadline_tail = d;
	if (after)
		after->next = d;
	else
		deadline_head = d;
	d->armed = true;
}

static void *deadline_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&deadline_lock);
	for (;;) {
		int64_t now = deadline_now_ms();
		struct conn_deadline *d = deadline_head;
		if (d && d->due_ms <= now) {
			deadline_unlink(d);
			d->fired = true;
			/* Wakes whoever is blocked on the socket with end of file. */
			shutdown(d->fd1 - 1, SHUT_RDWR);
			close(d->fd1 - 1);
			d->fd1 = 0;
			log_info("%s: no %s within its time limit; closed", d->address, d->what);
			continue;
		}
		if (!d) {
			pthread_cond_wait(&deadline_cond, &deadline_lock);
			continue;
		}
		struct timespec ts = {.tv_sec = d->due_ms / 1000, .tv_nsec = (d->due_ms % 1000) * 1000000};
		pthread_cond_timedwait(&deadline_cond, &deadline_lock, &ts);
	}
	return NULL;
}

static void deadline_start(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&deadline_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	deadline_start_err = pthread_create(&t, &attr, deadline_thread, NULL);
	pthread_attr_destroy(&attr);
	if (deadline_start_err)
		log_error("connection time limits are not enforced: cannot start their thread: %s",
			  strerror(deadline_start_err));
}

int conn_deadline_arm(struct conn_deadline *d, int sock, unsigned seconds, const char *what, const char *address)
{
	if (!seconds) {
		conn_deadline_disarm(d);
		return 0;
	}
	pthread_once(&deadline_once, deadline_start);
	if (deadline_start_err)
		return -deadline_start_err;
	pthread_mutex_lock(&deadline_lock);
	if (!d->fd1 && !d->fired) {
		/* Kept above FD_SETSIZE: the low numbers are libvncserver's (common/fd.h). */
		int fd = fcntl(sock, F_DUPFD_CLOEXEC, FD_SETSIZE);
		if (fd < 0)
			fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
		d->fd1 = fd + 1;
		if (fd < 0) {
			int err = errno;
			pthread_mutex_unlock(&deadline_lock);
			return -err;
		}
	}
	if (d->fired) {
		pthread_mutex_unlock(&deadline_lock);
		return 0;
	}
	if (d->armed)
		deadline_unlink(d);
	d->due_ms = deadline_now_ms() + (int64_t)seconds * 1000;
	d->what = what;
	snprintf(d->address, sizeof(d->address), "%s", address ? address : "?");
	deadline_insert(d);
	if (deadline_head == d)
		pthread_cond_signal(&deadline_cond);
	pthread_mutex_unlock(&deadline_lock);
	return 0;
}

void conn_deadline_disarm(struct conn_deadline *d)
{
	pthread_mutex_lock(&deadline_lock);
	if (d->armed)
		deadline_unlink(d);
	if (d->fd1)
		close(d->fd1 - 1);
	d->fd1 = 0;
	pthread_mutex_unlock(&deadline_lock);
}

bool conn_deadline_fired(const struct conn_deadline *d)
{
	pthread_mutex_lock(&deadline_lock);
	bool fired = d->fired;
	pthread_mutex_unlock(&deadline_lock);
	return fired;
}
