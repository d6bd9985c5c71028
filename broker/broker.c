/* broker.c — the broker: the state store, the pools' desktops (provisioned
 * to each pool's size, adopted after a restart, followed through every state
 * change), assignment of desktops to users and what happens at logoff. */
#include "api.h"
#include "internal.h"

#include "../common/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void broker_audit(struct broker *b, const char *event, const char *user, const char *address, const char *pool,
		  const char *desktop, const char *detail)
{
	/* The store also writes each audit record as a log line. */
	store_audit_append(b->store, event, user, address, pool, desktop, detail, NULL);
}

/* auth/'s audit: every login attempt and lockout, refused ones rate-limited and aggregated. */
static void broker_auth_audit(void *opaque, const char *event, const char *user, const char *address,
			      const char *detail)
{
	struct broker *b = opaque;
	audit_limiter_record(b->audit, event, user, address, detail);
}

struct broker_pool *broker_pool_find(struct broker *b, const char *name)
{
	for (struct broker_pool *p = b->pool_list; p; p = p->next)
		if (strcmp(p->spec.name, name) == 0)
			return p;
	return NULL;
}

struct broker_desktop *broker_desktop_find(struct broker *b, const char *name)
{
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

struct broker_desktop *broker_desktop_by_id(struct broker *b, int64_t id)
{
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		if (d->store_id == id)
			return d;
	return NULL;
}

/* The pool's settings as the store keeps them. */
static char *broker_pool_json(const struct pool_spec *s)
{
	json_t *j = broker_pool_to_json(s);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return text;
}

/* Under the lock: a new desktop of `pool`, recorded, and started when
 * `start` (else it exists powered off until wanted). */
static struct broker_desktop *broker_provision(struct broker *b, struct broker_pool *pool, bool start)
{
	assert_locked(b);
	/* Numbered after the highest in use, so a replaced desktop gets a new
	 * name (the audit log never mixes the old one with the new). */
	char name[DESKTOP_NAME_MAX + 1];
	size_t prefix = strlen(pool->spec.name);
	unsigned n = 1;
	for (struct broker_desktop *d = b->desktops; d; d = d->next) {
		char *end;
		if (strcmp(d->pool, pool->spec.name) != 0 || strncmp(d->name, pool->spec.name, prefix) != 0 ||
		    d->name[prefix] != '-')
			continue;
		unsigned long k = strtoul(d->name + prefix + 1, &end, 10);
		if (!*end && k >= n && k < 1000000)
			n = (unsigned)k + 1;
	}
	for (;; n++) {
		snprintf(name, sizeof(name), "%s-%u", pool->spec.name, n);
		struct store_desktop existing;
		if (!broker_desktop_find(b, name) && store_desktop_get_by_name(b->store, name, &existing) == -ENOENT)
			break;
	}
	struct broker_desktop *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->pool, sizeof(d->pool), "%s", pool->spec.name);
	d->state = DESKTOP_PROVISIONING;
	d->free_since = time(NULL);
	int r = store_desktop_insert(b->store, d->name, d->pool, STORE_DESKTOP_PROVISIONING, &d->store_id);
	if (r < 0) {
		free(d);
		return NULL;
	}
	d->next = b->desktops;
	b->desktops = d;
	if (start) {
		broker_act(b, ACT_START, d->name, NULL, &pool->spec);
	} else {
		/* Known to pools, powered off. */
		broker_act(b, ACT_CREATE_OFF, d->name, NULL, &pool->spec);
		d->state = DESKTOP_STOPPED;
		store_desktop_set_state(b->store, d->store_id, STORE_DESKTOP_ANY, STORE_DESKTOP_STOPPED);
	}
	return d;
}

int64_t broker_now(struct broker *b)
{
	if (!b->clock_speed)
		return time(NULL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return b->clock_start + (ts.tv_sec - b->clock_base) * (int64_t)b->clock_speed;
}

enum power_state broker_power_state(enum desktop_state s)
{
	switch (s) {
	case DESKTOP_RUNNING:
		return POWER_ON;
	case DESKTOP_PROVISIONING:
	case DESKTOP_STARTING:
	case DESKTOP_FAILED: /* pools/ starts it again */
		return POWER_STARTING;
	case DESKTOP_STOPPING:
		return POWER_STOPPING;
	case DESKTOP_SUSPENDED:
		return POWER_SUSPENDED;
	default:
		return POWER_OFF;
	}
}

#define BROKER_PLAN_MAX 64

/* Under the lock: the power scheduler's operations for every pool, within
 * the host's budget of operations at once (starts and stops under way
 * count against it). */
static void broker_fill_pools(struct broker *b)
{
	assert_locked(b);
	if (!b->pools)
		return;
	size_t busy = 0;
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		busy += d->acts || d->state == DESKTOP_STARTING || d->state == DESKTOP_STOPPING ||
			d->state == DESKTOP_PROVISIONING;
	size_t budget = b->power_ops > busy ? b->power_ops - busy : 0;
	int64_t now = time(NULL);
	for (struct broker_pool *p = b->pool_list; p && budget; p = p->next) {
		if (p->deleting)
			continue;
		struct broker_desktop *list[1024];
		struct power_desktop pd[1024];
		size_t n = 0;
		for (struct broker_desktop *d = b->desktops; d && n < 1024; d = d->next) {
			if (strcmp(d->pool, p->spec.name) != 0 || d->deleting)
				continue;
			list[n] = d;
			/* An admin's power-off or suspend stands: it is not a spare. */
			bool assigned = d->user[0] || d->conn || d->held_off;
			pd[n] = (struct power_desktop){
			    .state = d->acts ? d->heads_for : broker_power_state(d->state),
			    .assigned = assigned,
			    .settling = !assigned && (p->spec.surplus == POOL_SURPLUS_KEEP ||
						      now - d->free_since < (int64_t)p->spec.surplus_after_s),
			};
			n++;
		}
		struct power_policy policy = {
		    .min = p->spec.min, .max = p->spec.size, .spare = p->spec.spare, .nwindows = p->spec.nwindows};
		memcpy(policy.windows, p->spec.windows, sizeof(policy.windows));
		struct power_action a[BROKER_PLAN_MAX];
		size_t k = power_plan(&policy, (time_t)broker_now(b), pd, n, budget, a, BROKER_PLAN_MAX);
		budget -= k;
		for (size_t i = 0; i < k; i++) {
			struct broker_desktop *d =
			    a[i].op == POWER_CREATE || a[i].op == POWER_CREATE_ON ? NULL : list[a[i].desktop];
			switch (a[i].op) {
			case POWER_CREATE:
			case POWER_CREATE_ON:
				broker_provision(b, p, a[i].op == POWER_CREATE_ON);
				break;
			case POWER_START:
				broker_act(b, ACT_RESTART, d->name, NULL, NULL);
				break;
			case POWER_RESUME:
				broker_act(b, ACT_RESUME, d->name, NULL, NULL);
				break;
			case POWER_STOP:
				broker_act(b,
					   p->spec.surplus == POOL_SURPLUS_SUSPEND && d->state == DESKTOP_RUNNING
					       ? ACT_SUSPEND
					       : ACT_STOP,
					   d->name, NULL, NULL);
				break;
			case POWER_DELETE:
				d->deleting = true;
				broker_act(b, ACT_REMOVE, d->name, NULL, NULL);
				break;
			}
		}
	}
}

void broker_power_tick(struct broker *b)
{
	if (!b->stopping)
		broker_fill_pools(b);
}

static void broker_unlink_desktop(struct broker *b, struct broker_desktop *gone)
{
	for (struct broker_desktop **it = &b->desktops; *it; it = &(*it)->next) {
		if (*it == gone) {
			*it = gone->next;
			break;
		}
	}
	surface_destroy(gone->surface);
	free(gone);
}

/* Under the lock: a removed pool goes once its last desktop has. */
static void broker_pool_reap(struct broker *b, const char *name)
{
	struct broker_pool *p = broker_pool_find(b, name);
	if (!p || !p->deleting)
		return;
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		if (strcmp(d->pool, name) == 0)
			return;
	for (struct broker_pool **it = &b->pool_list; *it; it = &(*it)->next) {
		if (*it == p) {
			*it = p->next;
			break;
		}
	}
	store_pool_delete(b->store, name);
	broker_audit(b, "pool_deleted", NULL, NULL, name, NULL, NULL);
	free(p);
}

int broker_pool_add(struct broker *b, const struct pool_spec *spec, bool from_api)
{
	assert_locked(b);
	if (broker_pool_find(b, spec->name))
		return -EEXIST;
	struct broker_pool *p = calloc(1, sizeof(*p));
	char *json = broker_pool_json(spec);
	if (!p || !json) {
		free(p);
		free(json);
		return -ENOMEM;
	}
	p->spec = *spec;
	p->from_api = from_api;
	int r = store_pool_put(b->store, spec->name, json, from_api ? STORE_POOL_API : STORE_POOL_CONFIG);
	free(json);
	if (r < 0) {
		free(p);
		return r;
	}
	/* In configuration order: the list is built back to front at start. */
	p->next = b->pool_list;
	b->pool_list = p;
	if (from_api && b->pools)
		broker_audit(b, "pool_created", NULL, NULL, spec->name, NULL, NULL);
	if (b->pools)
		broker_fill_pools(b);
	return 0;
}

int broker_pool_change(struct broker *b, struct broker_pool *p, const struct pool_spec *spec)
{
	/* A pool from the configuration file can be overridden at run time
	 * (its spares for a busy morning, say); the file wins at the next
	 * start. */
	char *json = broker_pool_json(spec);
	if (!json)
		return -ENOMEM;
	int r = store_pool_put(b->store, spec->name, json, p->from_api ? STORE_POOL_API : STORE_POOL_CONFIG);
	free(json);
	if (r < 0)
		return r;
	p->spec = *spec;
	broker_audit(b, "pool_changed", NULL, NULL, spec->name, NULL, NULL);
	/* Smaller: free desktops beyond the size go; larger: more start. The
	 * other settings apply to desktops started from now on. */
	unsigned have = 0;
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		have += strcmp(d->pool, p->spec.name) == 0 && !d->deleting;
	for (struct broker_desktop *d = b->desktops; d && have > p->spec.size; d = d->next) {
		if (strcmp(d->pool, p->spec.name) != 0 || d->deleting || d->user[0] || d->conn)
			continue;
		d->deleting = true;
		broker_act(b, ACT_REMOVE, d->name, NULL, NULL);
		have--;
	}
	broker_fill_pools(b);
	return 0;
}

int broker_pool_remove(struct broker *b, const char *name)
{
	struct broker_pool *p = broker_pool_find(b, name);
	if (!p || p->deleting)
		return -ENOENT;
	if (!p->from_api)
		return -EPERM;
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		if (strcmp(d->pool, name) == 0 && (d->user[0] || d->conn))
			return -EBUSY;
	p->deleting = true;
	for (struct broker_desktop *d = b->desktops; d; d = d->next) {
		if (strcmp(d->pool, name) == 0 && !d->deleting) {
			d->deleting = true;
			broker_act(b, ACT_REMOVE, d->name, NULL, NULL);
		}
	}
	broker_pool_reap(b, name);
	return 0;
}

/* pools/ reports a desktop's new state (on pools' thread). */
static void broker_on_state(void *opaque, const struct desktop_info *info, enum desktop_state from, const char *reason)
{
	struct broker *b = opaque;
	(void)from;
	/* The screen of a desktop that runs now, attached before the lock is taken: the VMM may take
	 * seconds to answer. */
	struct surface *attached = info->state == DESKTOP_RUNNING ? surface_attach_vmm(info->socket) : NULL;
	broker_lock(b);
	struct broker_desktop *d = broker_desktop_find(b, info->name);
	if (!d) {
		broker_unlock(b);
		surface_destroy(attached);
		return;
	}
	enum desktop_state was = d->state;
	d->state = info->state;
	/* The VMM first, so a reader who sees the new state sees its VMM too. */
	if (info->state == DESKTOP_STARTING || info->state == DESKTOP_RUNNING)
		store_desktop_set_vmm(b->store, d->store_id, info->pid, info->socket);
	else if (info->state == DESKTOP_STOPPED || info->state == DESKTOP_SUSPENDED)
		store_desktop_set_vmm(b->store, d->store_id, 0, NULL);
	store_desktop_set_state(b->store, d->store_id, STORE_DESKTOP_ANY, (enum store_desktop_state)info->state);
	if (info->state == DESKTOP_RUNNING && !d->surface) {
		d->surface = attached;
		attached = NULL;
		if (d->user[0])
			broker_act(b, ACT_LABEL, d->name, d->user, NULL);
	} else if (info->state != DESKTOP_RUNNING && d->surface) {
		surface_destroy(d->surface);
		d->surface = NULL;
	}
	if (was != d->state)
		session_desktop_changed(b, d, reason);
	if (info->state == DESKTOP_STOPPED && d->deleting) {
		store_desktop_delete(b->store, d->store_id);
		broker_audit(b, "desktop_deleted", NULL, NULL, d->pool, d->name, reason);
		char pool[POOL_NAME_MAX + 1];
		snprintf(pool, sizeof(pool), "%s", d->pool);
		/* The replacement is numbered while the old one still counts, so
		 * it gets a new name. */
		d->state = DESKTOP_STOPPING;
		if (!b->stopping)
			broker_fill_pools(b);
		broker_unlink_desktop(b, d);
		broker_pool_reap(b, pool);
	}
	broker_unlock(b);
	surface_destroy(attached); /* not wanted: it had one already */
}

struct broker_desktop *broker_desktop_take(struct broker *b, struct broker_pool *pool, const char *user, bool *starting)
{
	assert_locked(b);
	*starting = false;
	/* Theirs first; then a free one, the readiest: running, starting,
	 * suspended (resumes in milliseconds), powered off (boots). */
	static const enum desktop_state order[] = {DESKTOP_RUNNING,   DESKTOP_STARTING, DESKTOP_PROVISIONING,
						   DESKTOP_SUSPENDED, DESKTOP_STOPPED,  DESKTOP_FAILED};
	struct broker_desktop *mine = NULL, *pick[sizeof(order) / sizeof(order[0])] = {0};
	unsigned count = 0;
	for (struct broker_desktop *d = b->desktops; d; d = d->next) {
		if (strcmp(d->pool, pool->spec.name) != 0 || d->deleting)
			continue;
		count++;
		if (strcmp(d->user, user) == 0) {
			mine = d;
			continue;
		}
		if (d->user[0] || d->conn || d->held_off)
			continue;
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			if (d->state == order[i] && !pick[i])
				pick[i] = d;
	}
	struct broker_desktop *d = mine;
	for (size_t i = 0; !d && i < sizeof(order) / sizeof(order[0]); i++)
		d = pick[i];
	/* None free: one more, started now for this user (they wait for one
	 * start, not for the scheduler's queue). */
	if (!d && count < pool->spec.size)
		d = broker_provision(b, pool, true);
	if (!d)
		return NULL;
	if (!mine) {
		snprintf(d->user, sizeof(d->user), "%s", user);
		store_desktop_assign(b->store, d->store_id, user);
		broker_audit(b, "assign", user, NULL, d->pool, d->name, NULL);
		/* Shown now if it runs, kept for its start if not. */
		broker_act(b, ACT_LABEL, d->name, user, NULL);
	}
	/* Started unless that is under way (a pending action already heads for it). */
	bool heading = d->acts && d->heads_for == POWER_STARTING;
	if (d->state == DESKTOP_SUSPENDED && !heading)
		broker_act(b, ACT_RESUME, d->name, NULL, NULL);
	else if ((d->state == DESKTOP_STOPPED || d->state == DESKTOP_FAILED) && !heading)
		broker_act(b, ACT_RESTART, d->name, NULL, NULL);
	*starting = d->state != DESKTOP_RUNNING;
	/* A spare was taken: the scheduler starts the next. */
	broker_fill_pools(b);
	return d;
}

void broker_desktop_logoff(struct broker *b, struct broker_desktop *d)
{
	assert_locked(b);
	struct broker_pool *pool = broker_pool_find(b, d->pool);
	enum pool_on_logoff what = pool ? pool->spec.on_logoff : POOL_LOGOFF_KEEP;
	bool keep_user = pool && pool->spec.assignment == POOL_DEDICATED && what != POOL_LOGOFF_DELETE;
	broker_audit(b, "logoff", d->user, NULL, d->pool, d->name,
		     what == POOL_LOGOFF_REFRESH  ? "refresh"
		     : what == POOL_LOGOFF_DELETE ? "delete"
						  : "keep");
	if (!keep_user) {
		d->free_since = time(NULL);
		d->user[0] = '\0';
		store_desktop_assign(b->store, d->store_id, NULL);
		broker_act(b, ACT_LABEL, d->name, "", NULL);
	}
	if (what == POOL_LOGOFF_REFRESH) {
		broker_act(b, ACT_RESTART, d->name, NULL, NULL);
	} else if (what == POOL_LOGOFF_DELETE) {
		d->deleting = true;
		broker_act(b, ACT_REMOVE, d->name, NULL, NULL);
	}
}

/* Under the lock: the desktops the store remembers, adopted. */
/* At start, before any listener, API or login worker runs: the lock held across its probes of the VMMs
 * makes nobody wait (only the pools thread's first events). */
static void broker_adopt(struct broker *b)
{
	struct store_desktop *list = NULL;
	size_t n = 0;
	if (store_desktop_list(b->store, NULL, &list, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct store_desktop *s = &list[i];
		struct broker_pool *pool = broker_pool_find(b, s->pool);
		if (!pool) {
			log_warn("broker: desktop %s belongs to pool %s, which is not configured; left alone", s->name,
				 s->pool);
			continue;
		}
		struct broker_desktop *d = calloc(1, sizeof(*d));
		if (!d)
			break;
		snprintf(d->name, sizeof(d->name), "%.*s", DESKTOP_NAME_MAX, s->name);
		snprintf(d->pool, sizeof(d->pool), "%.*s", POOL_NAME_MAX, s->pool);
		snprintf(d->user, sizeof(d->user), "%.*s", BROKER_USER_MAX, s->assigned_user);
		d->store_id = s->id;
		d->held_off = s->held;
		d->state = DESKTOP_RUNNING;
		d->next = b->desktops;
		b->desktops = d;
		if (s->vmm_pid > 0 && s->socket[0]) {
			pools_adopt(b->pools, &pool->spec, s->name, (pid_t)s->vmm_pid, s->socket);
		} else {
			/* Off or suspended: the scheduler (or its user) starts it. */
			pools_adopt(b->pools, &pool->spec, s->name, 0, NULL);
			struct desktop_info info;
			if (pools_desktop_info(b->pools, s->name, &info) == 0)
				d->state = info.state;
			store_desktop_set_state(b->store, d->store_id, STORE_DESKTOP_ANY,
						(enum store_desktop_state)d->state);
			if (d->user[0])
				broker_act(b, ACT_LABEL, d->name, d->user, NULL);
		}
		/* An adopted running desktop has its screen at once. */
		struct desktop_info info;
		if (pools_desktop_info(b->pools, s->name, &info) == 0 && info.state == DESKTOP_RUNNING) {
			d->surface = surface_attach_vmm(info.socket);
			log_info("broker: desktop %s adopted, running (user '%s')", d->name, d->user);
		}
	}
	free(list);
}

/* The addresses each user logged in from lately (the audit's login_ok records), so a restart does not
 * make a user's usual address a stranger to the lockout. */
static void broker_remember_logins(struct broker *b)
{
	struct store_login *list = NULL;
	size_t n = 0;
	if (store_audit_logins(b->store, AUTH_KNOWN_ADDRESS_S, AUTH_KNOWN_ADDRESSES_MAX, &list, &n) < 0) {
		log_warn("broker: the audit's past logins cannot be read; users' usual addresses are learnt anew");
		return;
	}
	for (size_t i = 0; i < n; i++)
		auth_remember_login(b->auth, list[i].user, list[i].address, (uint64_t)list[i].age_s);
	free(list);
}

/* Pools created through the API in an earlier run, from the store. */
static void broker_load_api_pools(struct broker *b)
{
	struct store_pool *list = NULL;
	size_t n = 0;
	if (store_pool_list(b->store, &list, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (list[i].source != STORE_POOL_API || broker_pool_find(b, list[i].name))
			continue;
		struct pool_spec spec;
		char err[256];
		json_error_t jerr;
		json_t *j = json_loads(list[i].spec, 0, &jerr);
		pool_spec_defaults(&spec, list[i].name);
		json_object_del(j, "name");
		if (!j || broker_pool_from_json(j, &spec, err, sizeof(err)) < 0 || broker_pool_add(b, &spec, true) < 0)
			log_error("broker: pool %s from the store is not usable: %s", list[i].name,
				  j ? err : jerr.text);
		json_decref(j);
	}
	store_pool_list_free(list, n);
}

static void *broker_ticker(void *opaque)
{
	struct broker *b = opaque;
	broker_lock(b);
	while (!b->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		lock_released(b);
		pthread_cond_timedwait(&b->tick, &b->lock, &until);
		lock_taken(b);
		if (!b->stopping) {
			session_tick(b);
			broker_power_tick(b);
		}
	}
	broker_unlock(b);
	return NULL;
}

struct broker *broker_start(const struct broker_config *cfg, char *err, size_t errlen)
{
	struct broker *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->jobs_ready, NULL);
	pthread_cond_init(&b->tick, NULL);
	pthread_cond_init(&b->acts_ready, NULL);
	pthread_cond_init(&b->acts_done, NULL);
	b->jobs_tail = &b->jobs;
	b->acts_tail = &b->acts;
	b->greeter_width = cfg->greeter_width ? cfg->greeter_width : 1024;
	b->power_ops = cfg->power_ops ? cfg->power_ops : 4;
	b->greeter_timeout_s = cfg->greeter_timeout_s;
	b->limit = cfg->limit;
	b->handshake_timeout_s = cfg->handshake_timeout_s;
	b->api_idle_timeout_s = cfg->api_idle_timeout_s;
	b->clock_start = cfg->clock_start;
	b->clock_speed = cfg->clock_speed;
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	b->clock_base = mono.tv_sec;
	b->greeter_height = cfg->greeter_height ? cfg->greeter_height : 768;
	char host[256] = "";
	if (cfg->host_name)
		snprintf(host, sizeof(host), "%s", cfg->host_name);
	else
		gethostname(host, sizeof(host) - 1);
	b->host_name = strdup(host);
	b->data_dir = strdup(cfg->data_dir);
	size_t len = strlen(cfg->data_dir) + 16;
	b->run_dir = malloc(len);
	char *db = malloc(len);
	if (!b->host_name || !b->data_dir || !b->run_dir || !db) {
		snprintf(err, errlen, "no memory");
		free(db);
		broker_stop(b);
		return NULL;
	}
	snprintf(b->run_dir, len, "%s/run", cfg->data_dir);
	snprintf(db, len, "%s/vdi.db", cfg->data_dir);
	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", cfg->data_dir, strerror(errno));
		free(db);
		broker_stop(b);
		return NULL;
	}
	b->store = store_open(db, err, errlen);
	free(db);
	if (!b->store) {
		broker_stop(b);
		return NULL;
	}
	unsigned char name_key[AUDIT_NAME_KEY_LEN];
	b->audit = audit_limiter_create(b->store, cfg->audit_retention_s);
	if (!b->audit || audit_name_key(cfg->data_dir, name_key, err, errlen) < 0) {
		if (!b->audit)
			snprintf(err, errlen, "cannot start the audit's thread");
		broker_stop(b);
		return NULL;
	}
	struct auth_config ac = cfg->auth;
	ac.audit = broker_auth_audit;
	ac.audit_opaque = b;
	ac.name_key = name_key;
	ac.name_key_len = sizeof(name_key);
	b->auth = auth_create(&ac, err, errlen);
	explicit_bzero(name_key, sizeof(name_key));
	if (!b->auth) {
		broker_stop(b);
		return NULL;
	}
	broker_remember_logins(b);
	broker_lock(b); /* nobody else runs yet; the functions below check that it is held */
	for (size_t i = cfg->npools; i-- > 0;) {
		char why[160];
		int r = pool_spec_check(&cfg->pools[i], why, sizeof(why));
		if (r == 0)
			r = broker_pool_add(b, &cfg->pools[i], false);
		if (r < 0) {
			snprintf(err, errlen, "%s", r == -EINVAL ? why : strerror(-r));
			broker_unlock(b);
			broker_stop(b);
			return NULL;
		}
	}
	broker_load_api_pools(b);
	broker_unlock(b);
	char snapshots[4096];
	snprintf(snapshots, sizeof(snapshots), "%s/snapshots", cfg->data_dir);
	struct pools_config pc = {
	    .vmm_path = cfg->vmm_path,
	    .run_dir = b->run_dir,
	    .snapshot_dir = snapshots,
	    .events = {.state = broker_on_state, .opaque = b},
	};
	b->pools = pools_create(&pc, err, errlen);
	if (!b->pools || broker_act_start(b) < 0) {
		if (b->pools)
			snprintf(err, errlen, "cannot start the broker's threads");
		broker_stop(b);
		return NULL;
	}
	broker_lock(b);
	broker_adopt(b);
	/* Connections of the previous run are gone: their sessions are
	 * disconnected from now, and their timeouts run. */
	struct store_session *sessions = NULL;
	size_t nsessions = 0;
	if (store_session_list(b->store, &sessions, &nsessions) == 0) {
		for (size_t i = 0; i < nsessions; i++)
			if (sessions[i].state == STORE_SESSION_CONNECTED)
				store_session_set_state(b->store, sessions[i].id, STORE_SESSION_DISCONNECTED);
		free(sessions);
	}
	broker_fill_pools(b);
	broker_unlock(b);
	if (session_start_workers(b, cfg->auth_workers) < 0 ||
	    pthread_create(&b->ticker, NULL, broker_ticker, b) != 0) {
		snprintf(err, errlen, "cannot start the broker's threads");
		broker_stop(b);
		return NULL;
	}
	return b;
}

void broker_stop(struct broker *b)
{
	if (!b)
		return;
	broker_lock(b);
	bool ticking = b->workers != NULL;
	b->stopping = true;
	pthread_cond_broadcast(&b->tick);
	broker_unlock(b);
	if (ticking)
		pthread_join(b->ticker, NULL);
	api_stop(b->api);
	session_stop_workers(b);
	broker_act_stop(b);
	/* VMMs keep running: the next vdi-server adopts them. */
	pools_destroy(b->pools);
	while (b->desktops)
		broker_unlink_desktop(b, b->desktops);
	while (b->pool_list) {
		struct broker_pool *p = b->pool_list;
		b->pool_list = p->next;
		free(p);
	}
	auth_destroy(b->auth);
	audit_limiter_destroy(b->audit);
	store_close(b->store);
	free(b->host_name);
	free(b->data_dir);
	free(b->run_dir);
	pthread_cond_destroy(&b->tick);
	pthread_cond_destroy(&b->acts_ready);
	pthread_cond_destroy(&b->acts_done);
	pthread_cond_destroy(&b->jobs_ready);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct display_hooks broker_display_hooks(struct broker *b)
{
	return (struct display_hooks){.connect = session_connect,
				      .disconnect = session_disconnect,
				      .ticket = broker_reconnect_ticket,
				      .opaque = b};
}

struct auth *broker_auth(struct broker *b)
{
	return b->auth;
}
