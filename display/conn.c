/* conn.c — client connections: which surface each shows, switched and closed
 * from the broker's threads and applied on the connection's own thread. */
#include "conn.h"
#include "chan.h"

#include "../common/channel.h"
#include "../common/fd.h"
#include "../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct display_conn {
	struct display_hooks hooks;
	char protocol[8];
	char address[64];
	int event_fd;
	bool opened; /* connect() gave a surface: disconnect() is owed */
	struct display_chan *chan;
	/* Under lock: changed by any thread. */
	pthread_mutex_t lock;
	struct surface *current; /* written on the connection's thread only */
	struct surface *next;    /* a pending switch */
	bool closing;
	uint32_t want_width, want_height;
	_Atomic int64_t input_s; /* CLOCK_MONOTONIC seconds of the last input */
};

static int64_t display_conn_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct display_conn *display_conn_new(const struct display_hooks *hooks, const char *protocol, const char *address)
{
	struct display_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("display: no memory for a connection from %s", address);
		return NULL;
	}
	c->event_fd = fd_move_high(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (c->event_fd < 0) {
		log_error("display: cannot create a connection's eventfd: %s", strerror(errno));
		free(c);
		return NULL;
	}
	c->chan = display_chan_new(address);
	if (!c->chan) {
		log_error("display: no memory for a connection from %s", address);
		close(c->event_fd);
		free(c);
		return NULL;
	}
	c->hooks = *hooks;
	atomic_store(&c->input_s, display_conn_now_s());
	snprintf(c->protocol, sizeof(c->protocol), "%s", protocol);
	snprintf(c->address, sizeof(c->address), "%s", address ? address : "");
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

struct surface *display_conn_open(struct display_conn *c, struct display_conn_info *info)
{
	info->protocol = c->protocol;
	info->address = c->address;
	pthread_mutex_lock(&c->lock);
	c->want_width = info->width;
	c->want_height = info->height;
	pthread_mutex_unlock(&c->lock);
	struct surface *s = c->hooks.connect ? c->hooks.connect(c->hooks.opaque, c, info) : NULL;
	if (!s)
		return NULL;
	c->opened = true;
	pthread_mutex_lock(&c->lock);
	c->current = surface_ref(s);
	pthread_mutex_unlock(&c->lock);
	return s;
}

int display_conn_event_fd(const struct display_conn *c)
{
	return c->event_fd;
}

static void display_conn_wake(struct display_conn *c)
{
	uint64_t one = 1;
	ssize_t n = write(c->event_fd, &one, sizeof(one));
	(void)n; /* only a full counter fails, and then it is readable anyway */
}

void display_conn_switch(struct display_conn *c, struct surface *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&c->lock);
	struct surface *old = c->next;
	c->next = surface_ref(s);
	pthread_mutex_unlock(&c->lock);
	surface_destroy(old);
	display_conn_wake(c);
}

void display_conn_close_why(struct display_conn *c, uint32_t reason, const char *text)
{
	display_chan_bye(c->chan, reason, text);
	display_conn_close(c);
}

void display_conn_shutdown(struct display_conn *c, int wait_ms)
{
	display_chan_bye(c->chan, CHANNEL_BYE_SHUTDOWN, "the server is shutting down");
	display_chan_drain(c->chan, wait_ms);
}

struct display_chan *display_conn_chan(const struct display_conn *c)
{
	return c->chan;
}

void display_conn_chan_tick(struct display_conn *c)
{
	if (!c->opened || !c->hooks.ticket || !display_chan_ticket_due(c->chan))
		return;
	struct display_ticket t = {0};
	if (c->hooks.ticket(c->hooks.opaque, c, &t) == 0 && t.ticket[0])
		display_chan_session(c->chan, t.ttl_s, t.ticket, t.user, t.pool);
	explicit_bzero(&t, sizeof(t));
}

void display_conn_close(struct display_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	display_conn_wake(c);
}

struct surface *display_conn_take(struct display_conn *c, bool *close, struct surface **old)
{
	uint64_t count;
	ssize_t n = read(c->event_fd, &count, sizeof(count));
	(void)n;
	pthread_mutex_lock(&c->lock);
	*close = c->closing;
	struct surface *next = c->next;
	uint32_t w = c->want_width, h = c->want_height;
	c->next = NULL;
	*old = NULL;
	if (next) {
		*old = c->current;
		c->current = next;
	}
	pthread_mutex_unlock(&c->lock);
	if (!next)
		return NULL;
	/* A new surface may be the session's desktop: a ticket can be had now. */
	display_chan_ticket_soon(c->chan);
	if (w && h)
		surface_request_size(next, w, h);
	return next;
}

struct surface *display_conn_surface(const struct display_conn *c)
{
	return c->current;
}

void display_conn_request_size(struct display_conn *c, uint32_t width, uint32_t height)
{
	/* The reference keeps the surface whole across the call even if the
	 * connection's thread switches away meanwhile. */
	pthread_mutex_lock(&c->lock);
	c->want_width = width;
	c->want_height = height;
	struct surface *s = surface_ref(c->current);
	pthread_mutex_unlock(&c->lock);
	if (s)
		surface_request_size(s, width, height);
	surface_destroy(s);
}

void display_conn_touch(struct display_conn *c)
{
	atomic_store(&c->input_s, display_conn_now_s());
}

unsigned display_conn_idle_seconds(struct display_conn *c)
{
	int64_t idle = display_conn_now_s() - atomic_load(&c->input_s);
	return idle > 0 ? (unsigned)idle : 0;
}

const char *display_conn_address(const struct display_conn *c)
{
	return c->address;
}

void display_conn_end(struct display_conn *c)
{
	if (!c)
		return;
	if (c->opened && c->hooks.disconnect)
		c->hooks.disconnect(c->hooks.opaque, c);
	display_chan_end(c->chan);
	display_chan_unref(c->chan);
	surface_destroy(c->current);
	surface_destroy(c->next);
	close(c->event_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct surface *display_one_connect(void *opaque, struct display_conn *c, const struct display_conn_info *info)
{
	(void)c;
	(void)info;
	return opaque;
}

struct display_hooks display_hooks_one_surface(struct surface *s)
{
	return (struct display_hooks){.connect = display_one_connect, .opaque = s};
}
