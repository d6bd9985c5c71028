/* apiserver — runs the real admin API (broker/api) over a small in-memory backend (two pools,
 * desktops, a session, audit events, pool creation as an operation that advances one desktop per
 * poll, suspend and resume) and the real users file, so integration tests can drive vdictl against
 * it. */
#include "../../auth/auth.h"
#include "../../broker/api.h"
#include "../../common/log.h"
#include "../../common/png.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *pools;    /* name -> pool object */
static json_t *desktops; /* array of desktop objects */
static json_t *sessions; /* array */
static json_t *events;   /* array, ids ascending */
static json_t *ops;      /* id -> operation object (with a private "pool" key) */
static int64_t next_event = 1, next_op = 1;

static void event_add(const char *kind, const char *user, const char *pool, const char *desktop, const char *detail)
{
	json_array_append_new(events, json_pack("{s:I,s:I,s:s,s:s?,s:s?,s:s?,s:s?}", "id", (json_int_t)next_event++,
						"time", (json_int_t)time(NULL), "event", kind, "user", user, "pool",
						pool, "desktop", desktop, "detail", detail));
}

static json_t *desktop_find(const char *name, size_t *index)
{
	size_t i;
	json_t *d;
	json_array_foreach(desktops, i, d)
	{
		if (!strcmp(json_string_value(json_object_get(d, "name")), name)) {
			if (index)
				*index = i;
			return d;
		}
	}
	return NULL;
}

static void desktop_add(const char *pool, int n, const char *state)
{
	char name[160];
	snprintf(name, sizeof(name), "%s-%d", pool, n);
	json_array_append_new(desktops,
			      json_pack("{s:s,s:s,s:s,s:s}", "name", name, "pool", pool, "state", state, "user", ""));
}

static void be_pools_list(void *o, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *arr = json_array();
	const char *k;
	json_t *p;
	json_object_foreach(pools, k, p) json_array_append(arr, p);
	res->json = json_pack("{s:o}", "pools", arr);
	pthread_mutex_unlock(&lock);
}

static void be_pool_create(void *o, const char *name, json_t *body, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *size = json_object_get(body, "size");
	if (json_object_get(pools, name)) {
		api_result_error(res, 409, "pool %s exists", name);
	} else if (size && (!json_is_integer(size) || json_integer_value(size) < 0 || json_integer_value(size) > 100)) {
		api_result_error(res, 400, "field \"size\" must be 0 to 100");
	} else {
		json_t *pool = json_deep_copy(body);
		json_object_set_new(pool, "state", json_string(size ? "provisioning" : "ready"));
		json_object_set_new(pools, name, pool);
		event_add("pool_created", NULL, name, NULL, NULL);
		if (!size) {
			res->status = 201;
			res->json = json_incref(pool);
		} else {
			char id[32];
			snprintf(id, sizeof(id), "op-%lld", (long long)next_op++);
			json_object_set_new(ops, id,
					    json_pack("{s:s,s:s,s:i,s:I,s:n,s:s}", "id", id, "state", "running", "done",
						      0, "total", json_integer_value(size), "error", "pool", name));
			res->status = 202;
			res->json = json_pack("{s:s}", "operation", id);
		}
	}
	pthread_mutex_unlock(&lock);
}

static void be_pool_get(void *o, const char *name, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *p = json_object_get(pools, name);
	if (p)
		res->json = json_incref(p);
	else
		api_result_error(res, 404, "no pool %s", name);
	pthread_mutex_unlock(&lock);
}

/* The few checks the broker makes that the tests lean on: counts are integers, a schedule is one
 * string or an array of strings. False with res set when the body is refused. */
static bool setting_checked(json_t *body, struct api_result *res)
{
	static const char *const counts[] = {"size", "min", "spare", "on_disconnect_after", "idle_timeout"};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		json_t *v = json_object_get(body, counts[i]);
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
			api_result_error(res, 400, "field \"%s\" must be a whole number", counts[i]);
			return false;
		}
	}
	json_t *sched = json_object_get(body, "schedule"), *w;
	size_t i;
	bool ok = !sched || json_is_string(sched) || json_is_array(sched);
	if (json_is_array(sched))
		json_array_foreach(sched, i, w) ok = ok && json_is_string(w);
	if (!ok)
		api_result_error(res, 400, "field \"schedule\" must be a string or an array of strings");
	return ok;
}

static void be_pool_update(void *o, const char *name, json_t *body, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *p = json_object_get(pools, name);
	if (!p) {
		api_result_error(res, 404, "no pool %s", name);
	} else if (json_object_get(body, "name")) {
		api_result_error(res, 400, "field \"name\" cannot be changed");
	} else if (setting_checked(body, res)) {
		json_object_update(p, body);
		res->json = json_incref(p);
	}
	pthread_mutex_unlock(&lock);
}

static void be_pool_delete(void *o, const char *name, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	size_t i;
	json_t *s;
	bool busy = false;
	json_array_foreach(sessions, i, s) busy = busy || !strcmp(json_string_value(json_object_get(s, "pool")), name);
	if (!json_object_get(pools, name)) {
		api_result_error(res, 404, "no pool %s", name);
	} else if (busy) {
		api_result_error(res, 409, "pool %s has sessions", name);
	} else {
		for (i = json_array_size(desktops); i-- > 0;)
			if (!strcmp(json_string_value(json_object_get(json_array_get(desktops, i), "pool")), name))
				json_array_remove(desktops, i);
		json_object_del(pools, name);
		event_add("pool_deleted", NULL, name, NULL, NULL);
		res->status = 204;
	}
	pthread_mutex_unlock(&lock);
}

static void be_desktops_list(void *o, const char *pool, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *arr = json_array(), *d;
	size_t i;
	json_array_foreach(desktops, i, d)
	{
		if (!pool || !strcmp(json_string_value(json_object_get(d, "pool")), pool))
			json_array_append(arr, d);
	}
	res->json = json_pack("{s:o}", "desktops", arr);
	pthread_mutex_unlock(&lock);
}

static void be_desktop_get(void *o, const char *name, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *d = desktop_find(name, NULL);
	if (d)
		res->json = json_incref(d);
	else
		api_result_error(res, 404, "no desktop %s", name);
	pthread_mutex_unlock(&lock);
}

/* Called with the lock held. */
static void set_state_locked(json_t *d, const char *state, struct api_result *res)
{
	json_object_set_new(d, "state", json_string(state));
	event_add("desktop_state", NULL, json_string_value(json_object_get(d, "pool")),
		  json_string_value(json_object_get(d, "name")), state);
	res->json = json_incref(d);
}

static void set_state(const char *name, const char *state, struct api_result *res)
{
	pthread_mutex_lock(&lock);
	json_t *d = desktop_find(name, NULL);
	if (d)
		set_state_locked(d, state, res);
	else
		api_result_error(res, 404, "no desktop %s", name);
	pthread_mutex_unlock(&lock);
}

static void be_poweron(void *o, const char *name, struct api_result *res)
{
	(void)o;
	set_state(name, "running", res);
}

static void be_poweroff(void *o, const char *name, struct api_result *res)
{
	(void)o;
	set_state(name, "stopped", res);
}

static void be_refresh(void *o, const char *name, struct api_result *res)
{
	(void)o;
	set_state(name, "running", res);
}

/* Moves a desktop from state `from` to `to`; 409 from any other state, as the broker does. */
static void transition(const char *name, const char *from, const char *to, struct api_result *res)
{
	pthread_mutex_lock(&lock);
	json_t *d = desktop_find(name, NULL);
	const char *state = d ? json_string_value(json_object_get(d, "state")) : NULL;
	if (!d)
		api_result_error(res, 404, "no desktop %s", name);
	else if (strcmp(state, from) != 0)
		api_result_error(res, 409, "desktop %s is %s, not %s", name, state, from);
	else
		set_state_locked(d, to, res);
	pthread_mutex_unlock(&lock);
}

static void be_suspend(void *o, const char *name, struct api_result *res)
{
	(void)o;
	transition(name, "running", "suspended", res);
}

static void be_resume(void *o, const char *name, struct api_result *res)
{
	(void)o;
	transition(name, "suspended", "running", res);
}

static void be_desktop_delete(void *o, const char *name, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	size_t i;
	if (desktop_find(name, &i)) {
		json_array_remove(desktops, i);
		event_add("desktop_deleted", NULL, NULL, name, NULL);
		res->status = 204;
	} else {
		api_result_error(res, 404, "no desktop %s", name);
	}
	pthread_mutex_unlock(&lock);
}

/* A 64x48 gradient, encoded with vdi's own PNG writer. */
static void be_screenshot(void *o, const char *name, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	bool found = desktop_find(name, NULL) != NULL;
	pthread_mutex_unlock(&lock);
	if (!found) {
		api_result_error(res, 404, "no desktop %s", name);
		return;
	}
	uint8_t px[64 * 48 * 4];
	for (int y = 0; y < 48; y++)
		for (int x = 0; x < 64; x++) {
			uint8_t *p = px + (y * 64 + x) * 4;
			p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5), p[2] = 200, p[3] = 0;
		}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = f ? png_write_xrgb(f, px, 64, 48, 64 * 4) : -ENOMEM;
	if (f)
		fclose(f);
	if (rc < 0) {
		free(buf);
		api_result_error(res, 500, "screenshot failed");
		return;
	}
	res->bytes = buf;
	res->len = len;
	res->content_type = "image/png";
}

static void be_sessions_list(void *o, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	res->json = json_pack("{s:O}", "sessions", sessions);
	pthread_mutex_unlock(&lock);
}

static json_t *session_find(int64_t id, size_t *index)
{
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s)
	{
		if (json_integer_value(json_object_get(s, "id")) == id) {
			*index = i;
			return s;
		}
	}
	return NULL;
}

static void be_disconnect(void *o, int64_t id, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	size_t i;
	json_t *s = session_find(id, &i);
	if (s) {
		json_object_set_new(s, "state", json_string("disconnected"));
		event_add("disconnect", json_string_value(json_object_get(s, "user")), NULL, NULL, "by admin");
		res->json = json_incref(s);
	} else {
		api_result_error(res, 404, "no session %lld", (long long)id);
	}
	pthread_mutex_unlock(&lock);
}

static void be_logoff(void *o, int64_t id, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	size_t i;
	json_t *s = session_find(id, &i);
	if (s) {
		event_add("logoff", json_string_value(json_object_get(s, "user")), NULL, NULL, "by admin");
		json_array_remove(sessions, i);
		res->status = 204;
	} else {
		api_result_error(res, 404, "no session %lld", (long long)id);
	}
	pthread_mutex_unlock(&lock);
}

static void be_events(void *o, int64_t after, unsigned limit, const char *kind, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *arr = json_array(), *e;
	size_t i;
	json_array_foreach(events, i, e)
	{
		if (json_array_size(arr) >= limit)
			break;
		if (json_integer_value(json_object_get(e, "id")) <= after)
			continue;
		if (kind && strcmp(json_string_value(json_object_get(e, "event")), kind) != 0)
			continue;
		json_array_append(arr, e);
	}
	res->json = json_pack("{s:o}", "events", arr);
	pthread_mutex_unlock(&lock);
}

/* Each poll provisions one more desktop, so progress is visible. */
static void be_operation(void *o, const char *id, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	json_t *op = json_object_get(ops, id);
	if (!op) {
		api_result_error(res, 404, "no operation %s", id);
		pthread_mutex_unlock(&lock);
		return;
	}
	json_int_t done = json_integer_value(json_object_get(op, "done"));
	json_int_t total = json_integer_value(json_object_get(op, "total"));
	const char *pool = json_string_value(json_object_get(op, "pool"));
	if (done < total) {
		desktop_add(pool, (int)done + 1, "stopped");
		json_object_set_new(op, "done", json_integer(++done));
	}
	if (done == total && !strcmp(json_string_value(json_object_get(op, "state")), "running")) {
		json_object_set_new(op, "state", json_string("done"));
		json_object_set_new(json_object_get(pools, pool), "state", json_string("ready"));
	}
	res->json = json_deep_copy(op);
	json_object_del(res->json, "pool");
	pthread_mutex_unlock(&lock);
}

static void be_metrics(void *o, struct api_result *res)
{
	(void)o;
	pthread_mutex_lock(&lock);
	static const char *const states[] = {"provisioning", "stopped",   "starting", "running",
					     "stopping",     "suspended", "failed"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f) {
		fprintf(f, "# HELP vdi_desktops Desktops by state.\n# TYPE vdi_desktops gauge\n");
		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
			size_t i, n = 0;
			json_t *d;
			json_array_foreach(desktops, i, d) n +=
			    !strcmp(json_string_value(json_object_get(d, "state")), states[s]);
			fprintf(f, "vdi_desktops{state=\"%s\"} %zu\n", states[s], n);
		}
		fprintf(f, "# HELP vdi_sessions Sessions.\n# TYPE vdi_sessions gauge\nvdi_sessions %zu\n",
			json_array_size(sessions));
		fclose(f);
	}
	pthread_mutex_unlock(&lock);
	res->bytes = buf;
	res->len = len;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void be_audit(void *o, const char *user, const char *method, const char *path, unsigned status)
{
	(void)o;
	char detail[400];
	snprintf(detail, sizeof(detail), "%s %s %u", method, path, status);
	pthread_mutex_lock(&lock);
	event_add("api", user, NULL, NULL, detail);
	pthread_mutex_unlock(&lock);
}

static void seed(void)
{
	pools = json_object();
	desktops = json_array();
	sessions = json_array();
	events = json_array();
	ops = json_object();
	json_object_set_new(pools, "demo",
			    json_pack("{s:s,s:s,s:i,s:s,s:s}", "name", "demo", "template", "desktop", "size", 2,
				      "assignment", "floating", "state", "ready"));
	json_object_set_new(pools, "lab",
			    json_pack("{s:s,s:s,s:i,s:s,s:s}", "name", "lab", "template", "desktop", "size", 1,
				      "assignment", "dedicated", "state", "ready"));
	desktop_add("demo", 1, "running");
	desktop_add("demo", 2, "stopped");
	desktop_add("lab", 1, "running");
	json_object_set_new(json_array_get(desktops, 0), "user", json_string("alice"));
	json_array_append_new(sessions, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "id", 7, "user", "alice", "pool",
						  "demo", "desktop", "demo-1", "state", "connected", "protocol", "rdp",
						  "address", "192.0.2.7"));
	event_add("login_ok", "alice", NULL, NULL, NULL);
	event_add("assign", "alice", "demo", "demo-1", NULL);
	event_add("connect", "alice", "demo", "demo-1", "rdp");
}

static void usage(void)
{
	fprintf(stderr, "usage: apiserver --cert FILE --key FILE --users FILE [--listen ADDR:PORT] [--admins LIST]\n"
			"                 [--add USER:PASSWORD[:GROUPS]]...\n"
			"Prints \"listening on PORT\" and serves until SIGTERM or SIGINT.\n");
}

int main(int argc, char **argv)
{
	log_set_program("apiserver");
	log_init_from_env();
	struct api_config cfg = {.listen = "127.0.0.1:0"};
	struct auth_config ac = {.backend = AUTH_BACKEND_FILE, .admins = "@admins"};
	const char *adds[16];
	int nadds = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(a, "--cert"))
			cfg.cert_file = v;
		else if (!strcmp(a, "--key"))
			cfg.key_file = v;
		else if (!strcmp(a, "--users"))
			ac.users_file = v;
		else if (!strcmp(a, "--listen"))
			cfg.listen = v;
		else if (!strcmp(a, "--admins"))
			ac.admins = v;
		else if (!strcmp(a, "--add") && nadds < 16)
			adds[nadds++] = v;
		else {
			usage();
			return 2;
		}
	}
	char err[300];
	struct auth *auth = auth_create(&ac, err, sizeof(err));
	if (!auth) {
		fprintf(stderr, "apiserver: %s\n", err);
		return 1;
	}
	for (int i = 0; i < nadds; i++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s", adds[i]);
		char *pw = strchr(buf, ':');
		if (!pw) {
			usage();
			return 2;
		}
		*pw++ = '\0';
		char *groups = strchr(pw, ':');
		if (groups)
			*groups++ = '\0';
		int rc = auth_user_add(auth, buf, pw, groups);
		if (rc < 0 && rc != -EEXIST) {
			fprintf(stderr, "apiserver: cannot add %s: %s\n", buf, strerror(-rc));
			return 1;
		}
	}
	seed();
	static const struct api_backend be = {
	    .pools_list = be_pools_list,
	    .pool_create = be_pool_create,
	    .pool_get = be_pool_get,
	    .pool_update = be_pool_update,
	    .pool_delete = be_pool_delete,
	    .desktops_list = be_desktops_list,
	    .desktop_get = be_desktop_get,
	    .desktop_poweron = be_poweron,
	    .desktop_poweroff = be_poweroff,
	    .desktop_refresh = be_refresh,
	    .desktop_delete = be_desktop_delete,
	    .desktop_screenshot = be_screenshot,
	    .sessions_list = be_sessions_list,
	    .session_disconnect = be_disconnect,
	    .session_logoff = be_logoff,
	    .events_list = be_events,
	    .operation_get = be_operation,
	    .metrics = be_metrics,
	    .audit = be_audit,
	    .desktop_suspend = be_suspend,
	    .desktop_resume = be_resume,
	};
	cfg.auth = auth;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before api_start: its threads inherit the mask */
	struct api *api = api_start(&cfg, &be, err, sizeof(err));
	if (!api) {
		fprintf(stderr, "apiserver: %s\n", err);
		return 1;
	}
	printf("listening on %u\n", api_port(api));
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	api_stop(api);
	auth_destroy(auth);
	json_decref(pools);
	json_decref(desktops);
	json_decref(sessions);
	json_decref(events);
	json_decref(ops);
	return 0;
}
