/* session.c — connections and sessions: each connection starts on a greeter
 * (or with the credentials its RDP client sent), logs in through auth/ on a
 * worker thread, gets a desktop of a pool it is entitled to and switches to
 * its screen; disconnects keep the session for the pool's timeout,
 * reconnects land on the same desktop, logoff applies the pool's rule. */
#include "internal.h"

#include "../common/channel.h"
#include "../common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUTH_QUEUE_MAX 256 /* logins waiting for a worker; more are told to retry */

static void conn_unref(struct broker_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void conn_message(struct broker_conn *c, enum greeter_message_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_message(struct broker_conn *c, enum greeter_message_kind kind, const char *fmt, ...)
{
	if (!c->greeter)
		return;
	char text[GREETER_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	greeter_message(c->greeter, kind, text);
}

/* Back to the login form with a message. The message is made first: arg
 * may be c->user, which is cleared. */
static void conn_refuse(struct broker_conn *c, const char *fmt, const char *arg)
{
	conn_message(c, GREETER_ERROR, fmt, arg);
	c->phase = CONN_GREETER;
	c->user[0] = '\0';
	if (c->greeter)
		greeter_busy(c->greeter, false);
}

/* Under the lock: the connection shows its desktop. */
static void conn_show_desktop(struct broker_conn *c, struct broker_desktop *d)
{
	if (c->dc && d->surface) {
		display_conn_switch(c->dc, d->surface);
		c->phase = CONN_DESKTOP;
		if (c->greeter)
			greeter_busy(c->greeter, false);
	}
}

/* Under the lock: user c->user gets pool's desktop on this connection. */
static void conn_assign(struct broker *b, struct broker_conn *c, struct broker_pool *pool)
{
	assert_locked(b);
	snprintf(c->pool, sizeof(c->pool), "%s", pool->spec.name);
	bool starting;
	struct broker_desktop *d = broker_desktop_take(b, pool, c->user, &starting);
	if (!d) {
		broker_audit(b, "no_desktop", c->user, c->address, pool->spec.name, NULL, NULL);
		conn_refuse(c, "no desktop available in pool %s", pool->spec.name);
		return;
	}
	/* The user's other connection to this desktop gives way (a user holds
	 * one desktop per pool, shown on their latest connection). */
	if (d->conn && d->conn != c) {
		struct broker_conn *old = d->conn;
		old->desktop = NULL;
		old->phase = CONN_GONE;
		if (old->dc)
			display_conn_close_why(old->dc, CHANNEL_BYE_TAKEOVER,
					       "your session was opened on another device");
		broker_audit(b, "takeover", c->user, old->address, d->pool, d->name, c->address);
	}
	struct store_session s;
	bool again = store_session_get(b->store, c->user, pool->spec.name, &s) == 0;
	store_session_upsert(b->store, c->user, pool->spec.name, d->store_id, STORE_SESSION_CONNECTED, c->protocol,
			     c->address, NULL);
	broker_audit(b, again ? "reconnect" : "connect", c->user, c->address, d->pool, d->name, c->protocol);
	c->desktop = d;
	d->conn = c;
	if (!starting && d->surface) {
		conn_show_desktop(c, d);
		return;
	}
	c->phase = CONN_WAIT;
	if (c->greeter)
		greeter_busy(c->greeter, true);
	conn_message(c, GREETER_INFO, "starting your desktop...");
}

void entitlements_copy(struct broker *b, struct pool_entitlements *e, const char *only)
{
	assert_locked(b);
	e->n = 0;
	for (struct broker_pool *p = b->pool_list; p && e->n < GREETER_POOLS_MAX; p = p->next) {
		if (p->deleting || (only && strcmp(p->spec.name, only) != 0))
			continue;
		snprintf(e->pool[e->n].name, sizeof(e->pool[e->n].name), "%s", p->spec.name);
		snprintf(e->pool[e->n].entitlement, sizeof(e->pool[e->n].entitlement), "%s", p->spec.entitlement);
		e->pool[e->n].entitled = false;
		e->n++;
	}
}

/* Without the lock. */
void entitlements_check(struct auth *auth, const char *user, struct pool_entitlements *e)
{
	for (size_t i = 0; i < e->n; i++)
		e->pool[i].entitled = auth_in_list(auth, user, e->pool[i].entitlement);
}

struct pool_entitlements *entitlements_of(struct broker *b, const char *user, const char *only)
{
	struct pool_entitlements *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	broker_lock(b);
	entitlements_copy(b, e, only);
	broker_unlock(b);
	entitlements_check(b->auth, user, e);
	return e;
}

/* Under the lock: after a successful login, the pools the user may use
 * (checked outside the lock; a pool removed since is passed over). */
static void conn_logged_in(struct broker *b, struct broker_conn *c, const struct pool_entitlements *e)
{
	assert_locked(b);
	const char *names[GREETER_POOLS_MAX];
	size_t n = 0;
	struct broker_pool *only = NULL, *entitled[GREETER_POOLS_MAX];
	for (size_t i = 0; i < e->n; i++) {
		struct broker_pool *p = e->pool[i].entitled ? broker_pool_find(b, e->pool[i].name) : NULL;
		if (!p || p->deleting)
			continue;
		entitled[n] = p;
		names[n++] = p->spec.name;
		only = p;
	}
	if (n == 0) {
		broker_audit(b, "not_entitled", c->user, c->address, NULL, NULL, NULL);
		conn_refuse(c, "%s may not use any desktop pool", c->user);
		return;
	}
	/* Someone who had a session in one pool goes back to it. */
	for (size_t i = 0; i < n && n > 1; i++) {
		struct store_session s;
		if (store_session_get(b->store, c->user, entitled[i]->spec.name, &s) == 0) {
			conn_assign(b, c, entitled[i]);
			return;
		}
	}
	if (n == 1) {
		conn_assign(b, c, only);
		return;
	}
	c->phase = CONN_CHOOSE;
	if (c->greeter) {
		/* "signing in..." is over: the list speaks for itself. */
		greeter_message(c->greeter, GREETER_INFO, NULL);
		greeter_choose_pool(c->greeter, names, n);
	}
}

/* Under the lock: a login to check, for a worker. */
static void conn_queue_login(struct broker *b, struct broker_conn *c, const char *user, const char *password)
{
	assert_locked(b);
	if (b->njobs >= AUTH_QUEUE_MAX) {
		conn_refuse(c, "%s", "the server is busy; try again in a moment");
		return;
	}
	struct auth_job *job = calloc(1, sizeof(*job));
	if (!job) {
		conn_refuse(c, "%s", "the server is out of memory");
		return;
	}
	snprintf(job->user, sizeof(job->user), "%s", user);
	snprintf(job->password, sizeof(job->password), "%s", password);
	job->conn = c;
	c->refs++;
	c->phase = CONN_AUTH;
	snprintf(c->user, sizeof(c->user), "%s", user);
	*b->jobs_tail = job;
	b->jobs_tail = &job->next;
	b->njobs++;
	pthread_cond_signal(&b->jobs_ready);
	if (c->greeter) {
		greeter_busy(c->greeter, true);
		greeter_message(c->greeter, GREETER_INFO, "signing in...");
	}
}

static void greeter_on_submit(void *opaque, const char *user, const char *password)
{
	struct broker_conn *c = opaque;
	struct broker *b = c->b;
	broker_lock(b);
	if (c->phase == CONN_GREETER)
		conn_queue_login(b, c, user, password);
	broker_unlock(b);
}

static void greeter_on_choose(void *opaque, const char *pool_name)
{
	struct broker_conn *c = opaque;
	struct broker *b = c->b;
	struct pool_entitlements *e = malloc(sizeof(*e));
	if (!e)
		return;
	char user[BROKER_USER_MAX + 1];
	broker_lock(b);
	entitlements_copy(b, e, pool_name);
	snprintf(user, sizeof(user), "%s", c->user);
	broker_unlock(b);
	entitlements_check(b->auth, user, e);
	broker_lock(b);
	struct broker_pool *p = e->n && e->pool[0].entitled ? broker_pool_find(b, pool_name) : NULL;
	if (c->phase == CONN_CHOOSE && p && !p->deleting && strcmp(c->user, user) == 0)
		conn_assign(b, c, p);
	broker_unlock(b);
	free(e);
}

static void *auth_worker(void *opaque)
{
	struct broker *b = opaque;
	struct pool_entitlements *pools = malloc(sizeof(*pools));
	if (!pools) {
		log_error("broker: no memory for an authentication worker");
		return NULL;
	}
	broker_lock(b);
	for (;;) {
		while (!b->jobs && !b->stopping)
			broker_wait(b, &b->jobs_ready);
		if (b->stopping && !b->jobs)
			break;
		struct auth_job *job = b->jobs;
		b->jobs = job->next;
		if (!b->jobs)
			b->jobs_tail = &b->jobs;
		b->njobs--;
		char address[64], ticket_pool[POOL_NAME_MAX + 1] = "";
		snprintf(address, sizeof(address), "%s", job->conn->address);
		/* A ticket from the user API stands in for the password once, for its pool; the lockout
		 * still comes first. */
		bool ticket = broker_ticket_take(b, job->user, job->password, ticket_pool);
		broker_unlock(b);
		unsigned locked_for = 0;
		enum auth_result r = ticket ? auth_check_remembered(b->auth, job->user, address, &locked_for)
					    : auth_check(b->auth, job->user, job->password, address, &locked_for);
		explicit_bzero(job->password, sizeof(job->password));
		/* The pools this user may use (the ticket's alone), looked up without the lock. */
		broker_lock(b);
		if (ticket && r == AUTH_OK)
			broker_audit(b, "login_ok", job->user, address, ticket_pool, NULL, "ticket");
		entitlements_copy(b, pools, ticket ? ticket_pool : NULL);
		broker_unlock(b);
		if (r == AUTH_OK)
			entitlements_check(b->auth, job->user, pools);
		broker_lock(b);
		struct broker_conn *c = job->conn;
		if (c->phase == CONN_AUTH && !b->stopping) {
			if (r == AUTH_OK) {
				conn_logged_in(b, c, pools);
			} else if (r == AUTH_LOCKED) {
				char text[64];
				snprintf(text, sizeof(text), "%u", locked_for);
				conn_refuse(c, "locked out, try again in %s s", text);
			} else if (r == AUTH_DENIED) {
				conn_refuse(c, "%s", "wrong user name or password");
			} else {
				conn_refuse(c, "%s", "cannot check passwords right now; try again later");
			}
		}
		conn_unref(c);
		free(job);
	}
	broker_unlock(b);
	free(pools);
	return NULL;
}

int session_start_workers(struct broker *b, unsigned n)
{
	if (!n)
		n = 4;
	b->workers = calloc(n, sizeof(*b->workers));
	if (!b->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&b->workers[i], NULL, auth_worker, b) != 0)
			return -EAGAIN;
		b->nworkers++;
	}
	return 0;
}

void session_stop_workers(struct broker *b)
{
	broker_lock(b);
	b->stopping = true;
	pthread_cond_broadcast(&b->jobs_ready);
	broker_unlock(b);
	for (unsigned i = 0; i < b->nworkers; i++)
		pthread_join(b->workers[i], NULL);
	free(b->workers);
	b->workers = NULL;
	b->nworkers = 0;
}

struct surface *session_connect(void *opaque, struct display_conn *dc, const struct display_conn_info *info)
{
	struct broker *b = opaque;
	struct broker_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->b = b;
	c->refs = 1;
	c->dc = dc;
	snprintf(c->protocol, sizeof(c->protocol), "%s", info->protocol);
	snprintf(c->address, sizeof(c->address), "%s", info->address);
	struct greeter_ops ops = {.submit = greeter_on_submit, .choose = greeter_on_choose, .opaque = c};
	uint32_t w = info->width ? info->width : b->greeter_width;
	uint32_t h = info->height ? info->height : b->greeter_height;
	c->greeter = greeter_create(w, h, &ops);
	if (!c->greeter) {
		free(c);
		return NULL;
	}
	struct surface *s = greeter_surface(c->greeter);
	broker_lock(b);
	c->next = b->conns;
	b->conns = c;
	/* RDP autologon: the client sent credentials inside TLS. */
	if (info->user && info->password && *info->password)
		conn_queue_login(b, c, info->user, info->password);
	broker_unlock(b);
	return s;
}

void session_disconnect(void *opaque, struct display_conn *dc)
{
	struct broker *b = opaque;
	broker_lock(b);
	struct broker_conn *c = NULL;
	for (struct broker_conn **it = &b->conns; *it; it = &(*it)->next) {
		if ((*it)->dc == dc) {
			c = *it;
			*it = c->next;
			break;
		}
	}
	if (!c) {
		broker_unlock(b);
		return;
	}
	c->dc = NULL;
	struct broker_desktop *d = c->desktop;
	if (d && d->conn == c) {
		d->conn = NULL;
		struct store_session s;
		if (store_session_get(b->store, c->user, d->pool, &s) == 0)
			store_session_set_state(b->store, s.id, STORE_SESSION_DISCONNECTED);
		broker_audit(b, "disconnect", c->user, c->address, d->pool, d->name, c->protocol);
	}
	c->desktop = NULL;
	c->phase = CONN_GONE;
	struct greeter *g = c->greeter;
	c->greeter = NULL;
	conn_unref(c);
	broker_unlock(b);
	/* On the connection's own thread: no input call of this greeter is
	 * under way, and nobody else touches it once it is out of c. */
	greeter_destroy(g);
}

void session_desktop_changed(struct broker *b, struct broker_desktop *d, const char *reason)
{
	assert_locked(b);
	struct broker_conn *c = d->conn;
	if (!c || !c->dc)
		return;
	if (d->state == DESKTOP_RUNNING) {
		if (c->phase == CONN_WAIT)
			conn_show_desktop(c, d);
		return;
	}
	/* pools/ stopped trying: the user is told instead of waiting. */
	struct desktop_info info;
	if (d->state == DESKTOP_FAILED && (c->phase == CONN_WAIT || c->phase == CONN_DESKTOP) &&
	    pools_desktop_info(b->pools, d->name, &info) == 0 && info.given_up) {
		log_warn("broker: desktop %s of %s failed for good: %s", d->name, c->user, reason);
		if (c->phase == CONN_DESKTOP)
			display_conn_switch(c->dc, greeter_surface(c->greeter));
		c->phase = CONN_GREETER;
		if (c->greeter)
			greeter_busy(c->greeter, false);
		conn_message(c, GREETER_ERROR, "%s", "your desktop cannot be started; please tell an administrator");
		return;
	}
	if (c->phase != CONN_DESKTOP)
		return;
	/* The desktop went away under the user (its VMM died): the greeter
	 * says so, and the desktop comes back when pools has restarted it.
	 * The reason is for the log: on the greeter it would not fit. */
	log_info("broker: %s's desktop %s stopped (%s); the greeter shows until it is back", c->user, d->name, reason);
	c->phase = CONN_WAIT;
	if (c->greeter) {
		display_conn_switch(c->dc, greeter_surface(c->greeter));
		greeter_busy(c->greeter, true);
		conn_message(c, GREETER_ERROR, "%s", "your desktop stopped; restarting it...");
	}
}

/* Under the lock: ends a session (its timeout passed, or an admin asked). */
static void session_end(struct broker *b, const struct store_session *s, const char *why)
{
	assert_locked(b);
	struct broker_desktop *d = broker_desktop_by_id(b, s->desktop_id);
	if (d) {
		if (d->conn) {
			struct broker_conn *c = d->conn;
			c->desktop = NULL;
			c->phase = CONN_GONE;
			d->conn = NULL;
			if (c->dc)
				display_conn_close_why(c->dc, CHANNEL_BYE_LOGOFF, why);
		}
		broker_desktop_logoff(b, d);
	}
	store_session_delete(b->store, s->id);
	broker_audit(b, "session_end", s->user, NULL, s->pool, d ? d->name : NULL, why);
}

void session_tick(struct broker *b)
{
	assert_locked(b);
	for (struct broker_conn *c = b->conns; c; c = c->next) {
		if (c->greeter && (c->phase == CONN_AUTH || c->phase == CONN_WAIT))
			greeter_tick(c->greeter);
		/* Nobody at the login screen (or the pool choice): its place goes to someone else. */
		if ((c->phase == CONN_GREETER || c->phase == CONN_CHOOSE) && c->dc && b->greeter_timeout_s &&
		    display_conn_idle_seconds(c->dc) >= b->greeter_timeout_s) {
			log_info("broker: %s %s: nothing typed at the login screen for %u s; closing", c->protocol,
				 c->address, b->greeter_timeout_s);
			display_conn_close(c->dc);
			c->phase = CONN_GONE;
		}
		/* Nobody at the keyboard for the pool's idle timeout: disconnected
		 * (the session stays; on_disconnect applies). */
		struct broker_pool *p = c->desktop ? broker_pool_find(b, c->desktop->pool) : NULL;
		if (c->phase == CONN_DESKTOP && c->dc && p && p->spec.idle_timeout_s &&
		    display_conn_idle_seconds(c->dc) >= p->spec.idle_timeout_s) {
			broker_audit(b, "idle_disconnect", c->user, c->address, p->spec.name, c->desktop->name, NULL);
			display_conn_close_why(c->dc, CHANNEL_BYE_IDLE, "disconnected after being idle too long");
			c->phase = CONN_GONE;
		}
	}
	struct store_session *list = NULL;
	size_t n = 0;
	if (store_session_list(b->store, &list, &n) < 0)
		return;
	int64_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		const struct store_session *s = &list[i];
		struct broker_pool *p = broker_pool_find(b, s->pool);
		if (s->state != STORE_SESSION_DISCONNECTED || !p)
			continue;
		/* Disconnected a while: the desktop is suspended or powered off
		 * (its session stays; reconnecting brings it back). */
		struct broker_desktop *d = broker_desktop_by_id(b, s->desktop_id);
		if (d && d->state == DESKTOP_RUNNING && !d->conn && !d->acts &&
		    p->spec.on_disconnect != POOL_DISCONNECT_NONE && s->disconnected_at &&
		    now - s->disconnected_at >= (int64_t)p->spec.on_disconnect_after_s) {
			bool suspend = p->spec.on_disconnect == POOL_DISCONNECT_SUSPEND;
			broker_audit(b, suspend ? "suspend" : "poweroff", s->user, NULL, d->pool, d->name,
				     "disconnected");
			broker_act(b, suspend ? ACT_SUSPEND : ACT_STOP, d->name, NULL, NULL);
		}
		if (!p->spec.disconnect_timeout_s)
			continue;
		if (s->disconnected_at && now - s->disconnected_at >= (int64_t)p->spec.disconnect_timeout_s)
			session_end(b, s, "disconnect timeout");
	}
	free(list);
}

/* Under the lock: the session with this id, from the store. */
static int session_by_id(struct broker *b, int64_t id, struct store_session *out)
{
	struct store_session *list = NULL;
	size_t n = 0;
	int r = store_session_list(b->store, &list, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (list[i].id == id) {
			*out = list[i];
			r = 0;
		}
	}
	free(list);
	return r;
}

int session_disconnect_id(struct broker *b, int64_t id)
{
	assert_locked(b);
	struct store_session s;
	int r = session_by_id(b, id, &s);
	if (r < 0)
		return r;
	struct broker_desktop *d = broker_desktop_by_id(b, s.desktop_id);
	/* The disconnect hook records it when the connection has gone. */
	if (d && d->conn && d->conn->dc)
		display_conn_close_why(d->conn->dc, CHANNEL_BYE_DISCONNECTED, "disconnected by an admin");
	return 0;
}

int session_logoff_id(struct broker *b, int64_t id, const char *why)
{
	assert_locked(b);
	struct store_session s;
	int r = session_by_id(b, id, &s);
	if (r == 0)
		session_end(b, &s, why);
	return r;
}
