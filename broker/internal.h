/* internal.h — what broker.c (desktops, pools, the store) and session.c
 * (connections, logins, sessions) share inside broker/. */
#ifndef VDI_BROKER_INTERNAL_H
#define VDI_BROKER_INTERNAL_H

#include "api.h"
#include "broker.h"
#include "greeter.h"
#include "store.h"

#include <jansson.h>

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>

#define BROKER_USER_MAX 64

struct broker_conn;

struct broker_desktop {
	struct broker_desktop *next;
	char name[DESKTOP_NAME_MAX + 1];
	char pool[POOL_NAME_MAX + 1];
	int64_t store_id;
	enum desktop_state state;
	struct surface *surface;        /* its screen while running, else NULL */
	char user[BROKER_USER_MAX + 1]; /* assigned to; "" free */
	struct broker_conn *conn;       /* the connection showing it, if any */
	bool deleting;                  /* on_logoff delete: gone once stopped */
	int64_t free_since;             /* when it last became free (its user logged off, it was made) */
	bool held_off;                  /* an admin powered or suspended it: the scheduler leaves it be */
	unsigned acts;                  /* actions asked of pools/ and not finished yet (act.c) */
	enum power_state heads_for;     /* with acts: the power state they lead to */
};

struct broker_pool {
	struct broker_pool *next;
	struct pool_spec spec;
	bool from_api; /* created through the API (kept in the store), not the configuration file */
	bool deleting; /* removed: gone once its desktops are */
};

/* A long admin operation (creating a pool's desktops), followed by polling. */
#define BROKER_OPS 64
struct broker_op {
	char id[32];
	char pool[POOL_NAME_MAX + 1];
	unsigned total;
};

enum conn_phase { CONN_GREETER, CONN_AUTH, CONN_CHOOSE, CONN_WAIT, CONN_DESKTOP, CONN_GONE };

struct broker_conn {
	struct broker_conn *next;
	struct broker *b;
	unsigned refs;           /* under b->lock */
	struct display_conn *dc; /* NULL once disconnected */
	struct greeter *greeter;
	char protocol[8];
	char address[64];
	enum conn_phase phase;
	char user[BROKER_USER_MAX + 1];
	char pool[POOL_NAME_MAX + 1];
	struct broker_desktop *desktop;
};

struct auth_job {
	struct auth_job *next;
	struct broker_conn *conn; /* holds a reference */
	char user[BROKER_USER_MAX + 1];
	char password[257];
};

/* What the broker asks of pools/, done outside its lock (act.c). */
enum act_kind { ACT_START, ACT_CREATE_OFF, ACT_STOP, ACT_RESTART, ACT_SUSPEND, ACT_RESUME, ACT_REMOVE, ACT_LABEL };
struct act;
#define BROKER_ACT_WORKERS 4

/* One-time login tickets (user_api.c). */
#define BROKER_TICKETS  1024 /* the API's, and one reconnect ticket per vdi-client connection */
#define TICKET_TEXT_MAX 64
struct broker_ticket {
	uint8_t hash[32]; /* SHA-256 of the ticket's text */
	char user[BROKER_USER_MAX + 1];
	char pool[POOL_NAME_MAX + 1];
	int64_t expires;   /* CLOCK_MONOTONIC seconds; 0: free */
	const void *owner; /* the connection a reconnect ticket is for (compared, never followed); NULL: the API's */
};

/* The pools as they are now, for an entitlement check made outside the
 * lock (group look-ups may block): names and entitlement lists, copied
 * under the lock (session.c). */
struct pool_entitlements {
	size_t n;
	struct {
		char name[POOL_NAME_MAX + 1];
		char entitlement[POOL_ENTITLE_MAX];
		bool entitled;
	} pool[GREETER_POOLS_MAX];
};
/* Under the lock: every pool's, or only `only`'s. */
void entitlements_copy(struct broker *b, struct pool_entitlements *e, const char *only);
/* Without the lock: fills each pool's `entitled` for user. */
void entitlements_check(struct auth *auth, const char *user, struct pool_entitlements *e);
/* Without the lock: both of the above, in memory the caller frees; NULL without memory. */
struct pool_entitlements *entitlements_of(struct broker *b, const char *user, const char *only);

struct broker {
	pthread_mutex_t lock; /* everything below; taken with broker_lock() */
	pthread_t lock_owner; /* for assert_locked() */
	bool lock_held;
	struct auth *auth;
	struct store *store;
	struct audit_limiter *audit; /* auth's records go through it (audit.c) */
	struct pools *pools;
	char *data_dir, *run_dir, *host_name;
	uint32_t greeter_width, greeter_height;
	struct broker_pool *pool_list;
	struct broker_desktop *desktops;
	struct broker_conn *conns;
	/* authentication workers */
	struct auth_job *jobs, **jobs_tail;
	unsigned njobs;
	pthread_cond_t jobs_ready;
	pthread_t *workers;
	unsigned nworkers;
	/* the ticker: disconnect timeouts, greeter progress */
	pthread_t ticker;
	pthread_cond_t tick;
	bool stopping;
	/* the power scheduler */
	unsigned power_ops;
	unsigned greeter_timeout_s; /* 0: none */
	struct conn_limit *limit;
	unsigned handshake_timeout_s, api_idle_timeout_s;
	long long clock_start, clock_base;
	unsigned clock_speed;
	/* actions on desktops, carried out by workers outside the lock (act.c) */
	struct act *acts, **acts_tail;
	struct act *acts_running[BROKER_ACT_WORKERS];
	pthread_cond_t acts_ready, acts_done;
	pthread_t act_workers[BROKER_ACT_WORKERS];
	unsigned nact_workers, nact_workers_started;
	bool acts_stopping;
	struct broker_ticket tickets[BROKER_TICKETS];
	/* the admin API */
	struct api *api;
	struct broker_op ops[BROKER_OPS];
	unsigned next_op;
};

/* The broker's lock. assert_locked() checks "under the lock" where a
 * function says so (assert() is on in every build but NDEBUG ones). */
static inline void lock_taken(struct broker *b)
{
	b->lock_owner = pthread_self();
	b->lock_held = true;
}
static inline void lock_released(struct broker *b)
{
	b->lock_held = false;
}
static inline void broker_lock(struct broker *b)
{
	pthread_mutex_lock(&b->lock);
	lock_taken(b);
}
static inline void broker_unlock(struct broker *b)
{
	lock_released(b);
	pthread_mutex_unlock(&b->lock);
}
/* Waits on cond, the lock released meanwhile. */
static inline void broker_wait(struct broker *b, pthread_cond_t *cond)
{
	lock_released(b);
	pthread_cond_wait(cond, &b->lock);
	lock_taken(b);
}
#define assert_locked(b) assert((b)->lock_held &&pthread_equal((b)->lock_owner, pthread_self()))

/* act.c. Under the lock: asks for an action on desktop `name` (`label` for
 * ACT_LABEL, or the label to start with; `spec` for ACT_START and
 * ACT_CREATE_OFF); it runs soon, on a worker, without the lock. */
void broker_act(struct broker *b, enum act_kind kind, const char *name, const char *label,
		const struct pool_spec *spec);
/* Under the lock: the same, waiting (the lock released meanwhile) until it
 * has run; pools/' result. */
int broker_act_wait(struct broker *b, enum act_kind kind, const char *name);
int broker_act_start(struct broker *b);
/* Joins the workers; actions not begun are dropped. */
void broker_act_stop(struct broker *b);

/* broker.c */
/* A desktop's power state as the scheduler sees it (headed for, while actions are pending). */
enum power_state broker_power_state(enum desktop_state s);
struct broker_pool *broker_pool_find(struct broker *b, const char *name);
struct broker_desktop *broker_desktop_find(struct broker *b, const char *name);
struct broker_desktop *broker_desktop_by_id(struct broker *b, int64_t id);
/* Under the lock: a running desktop of `pool` for `user` (their dedicated
 * one, else a free one), assigned to them; or NULL. *starting is set when
 * theirs exists but is not running yet. */
struct broker_desktop *broker_desktop_take(struct broker *b, struct broker_pool *pool, const char *user,
					   bool *starting);
/* Under the lock, every second: the power scheduler's next operations. */
void broker_power_tick(struct broker *b);
/* The time schedules go by (real, or a test's faster clock). */
int64_t broker_now(struct broker *b);
/* Under the lock: the desktop's user logged off: the pool's on_logoff. */
void broker_desktop_logoff(struct broker *b, struct broker_desktop *d);
/* Under the lock: pools created, changed, removed at run time. */
int broker_pool_add(struct broker *b, const struct pool_spec *spec, bool from_api);
int broker_pool_change(struct broker *b, struct broker_pool *p, const struct pool_spec *spec);
int broker_pool_remove(struct broker *b, const char *name);
void broker_audit(struct broker *b, const char *event, const char *user, const char *address, const char *pool,
		  const char *desktop, const char *detail);

/* audit.c: auth's records, refused ones rate-limited and aggregated; the retention (a thread of its
 * own, never under the broker's lock). Any thread may record. */
struct audit_limiter;
struct audit_limiter *audit_limiter_create(struct store *store, int64_t retention_s);
/* Writes what was counted and not yet written. */
void audit_limiter_destroy(struct audit_limiter *l);
void audit_limiter_record(struct audit_limiter *l, const char *event, const char *user, const char *address,
			  const char *detail);
#define AUDIT_NAME_KEY_LEN 32
/* DATA_DIR/audit.key, made (0600, random) on first use: the key of unknown user names in the audit. */
int audit_name_key(const char *data_dir, unsigned char key[AUDIT_NAME_KEY_LEN], char *err, size_t errlen);

/* admin.c: pools as the API and the store see them */
json_t *broker_pool_to_json(const struct pool_spec *s);
int broker_pool_from_json(json_t *j, struct pool_spec *s, char *err, size_t errlen);

/* user_api.c: the API's routes for a user's own things. */
void user_api_pools(void *opaque, const char *user, struct api_result *res);
void user_api_ticket(void *opaque, const char *user, const char *pool, struct api_result *res);
/* Under the lock: whether text is a live ticket of user's (it is used up); its pool into pool. */
bool broker_ticket_take(struct broker *b, const char *user, const char *text, char pool[POOL_NAME_MAX + 1]);
/* The display's ticket hook: a reconnect ticket for the connection's user and pool, once it shows its desktop. */
int broker_reconnect_ticket(void *opaque, struct display_conn *dc, struct display_ticket *t);

/* session.c */
struct surface *session_connect(void *opaque, struct display_conn *dc, const struct display_conn_info *info);
void session_disconnect(void *opaque, struct display_conn *dc);
/* Under the lock: desktop d is running now, or stopped being so. */
void session_desktop_changed(struct broker *b, struct broker_desktop *d, const char *reason);
/* n authentication workers (0: 4). */
int session_start_workers(struct broker *b, unsigned n);
void session_stop_workers(struct broker *b);
/* Under the lock, every second: disconnect timeouts, greeter progress. */
void session_tick(struct broker *b);
/* Under the lock: an admin ends a session's connection, or the session. */
int session_disconnect_id(struct broker *b, int64_t id);
int session_logoff_id(struct broker *b, int64_t id, const char *why);

#endif
