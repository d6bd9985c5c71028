/* store.h — the broker's state store: pools, desktops, sessions and the audit
 * log in one SQLite database (WAL), shared by the broker's and the API's threads.
 *
 * Private to broker/. Every function takes the store's lock, so any thread
 * may call any function. Every write is its own transaction unless the caller
 * wrapped several in store_begin()/store_commit(). Functions return 0 or a
 * negative errno: -EINVAL bad argument, -ENAMETOOLONG a string longer than
 * its field, -ENOENT no such row, -EEXIST a duplicate, -EBUSY locked by
 * another process past the busy timeout, -ENOSPC disk full, -EIO anything
 * else from SQLite (logged once with SQLite's message). Strings in the
 * structs are NUL-terminated; "" stands for SQL NULL, 0 for a NULL time,
 * pid or desktop id. */
#ifndef VDI_BROKER_STORE_H
#define VDI_BROKER_STORE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Field sizes, terminating NUL included. Longer input is refused with
 * -ENAMETOOLONG, except in audit records, which are cut (at a UTF-8
 * boundary) rather than lost. */
#define STORE_NAME_MAX     128 /* pool and desktop names */
#define STORE_USER_MAX     256
#define STORE_PATH_MAX     256 /* a VMM's control socket */
#define STORE_ADDRESS_MAX  64  /* "[v6 address]:port" */
#define STORE_PROTOCOL_MAX 16
#define STORE_EVENT_MAX    64
#define STORE_DETAIL_MAX   512
#define STORE_SPEC_MAX     (1 << 20) /* a pool's JSON; longer is -E2BIG */

/* The schema version this build creates and understands (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 3
/* Most audit records one store_audit_list() call returns. */
#define STORE_AUDIT_PAGE_MAX 1000

struct store;

/* Returns the time in Unix seconds; the store calls it for every timestamp. */
typedef int64_t (*store_clock_fn)(void *ctx);

/* Opens (creating, mode 0600, with any missing directories, mode 0700) the
 * database at `path`, switches it to WAL, applies the migrations it lacks.
 * Refuses a file that is not an SQLite database, an SQLite database of
 * another program, and one made by a newer vdi-server. On failure returns
 * NULL with a one-line reason naming the path in err (nothing logged). */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);
/* Replaces time(): tests and callers that already know "now". NULL restores time(). */
void store_set_clock(struct store *s, store_clock_fn fn, void *ctx);
/* PRAGMA user_version of the open database (STORE_SCHEMA_VERSION after store_open). */
int store_schema_version(struct store *s);

/* Groups writes into one transaction. store_begin() keeps the store's lock
 * for the calling thread until store_commit() or store_rollback(), so reads
 * and writes in between see no other thread's changes (read, decide, write
 * is safe). A write that fails inside leaves the transaction as it was
 * before that write. store_begin() while already in one returns -EBUSY. A
 * failed store_commit() rolls back. */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

/* ---- pools: the pool's settings as JSON, opaque to the store ---- */

enum store_pool_source { STORE_POOL_CONFIG, STORE_POOL_API };

struct store_pool {
	char name[STORE_NAME_MAX];
	char *spec; /* malloc'd JSON; store_pool_clear() frees it */
	enum store_pool_source source;
	int64_t created, updated;
};

/* Inserts, or replaces the spec and source of, pool `name` (created kept). */
int store_pool_put(struct store *s, const char *name, const char *spec, enum store_pool_source source);
/* Fills *out (caller clears it with store_pool_clear()); -ENOENT. */
int store_pool_get(struct store *s, const char *name, struct store_pool *out);
/* *out is a malloc'd array of *count pools by name; free with store_pool_list_free(). */
int store_pool_list(struct store *s, struct store_pool **out, size_t *count);
/* -ENOENT; -ENOTEMPTY while desktops of the pool remain (delete those first). */
int store_pool_delete(struct store *s, const char *name);
void store_pool_clear(struct store_pool *p);
void store_pool_list_free(struct store_pool *pools, size_t count);

/* ---- desktops ---- */

enum store_desktop_state {
	STORE_DESKTOP_ANY = -1, /* for store_desktop_set_state(): whatever it is now */
	STORE_DESKTOP_PROVISIONING,
	STORE_DESKTOP_STOPPED,
	STORE_DESKTOP_STARTING,
	STORE_DESKTOP_RUNNING,
	STORE_DESKTOP_STOPPING,
	STORE_DESKTOP_FAILED,
	STORE_DESKTOP_SUSPENDED, /* its memory and state on disk; resumes where it was */
	STORE_DESKTOP_STATE_COUNT
};
/* "provisioning", ... ; NULL for a value outside the enum. */
const char *store_desktop_state_name(enum store_desktop_state state);
/* Parses a name from store_desktop_state_name(); -EINVAL for anything else. */
int store_desktop_state_parse(const char *name, enum store_desktop_state *out);

struct store_desktop {
	int64_t id;
	char name[STORE_NAME_MAX];
	char pool[STORE_NAME_MAX];
	enum store_desktop_state state;
	int64_t vmm_pid;                    /* 0: no VMM */
	char socket[STORE_PATH_MAX];        /* the VMM's control socket, "" when none */
	char assigned_user[STORE_USER_MAX]; /* "" when unassigned */
	int64_t created, updated;
	bool held; /* an admin powered it off or suspended it: it stays so until an admin says otherwise */
};

/* Adds a desktop in `state`; *id (may be NULL) gets its id. -EEXIST for a taken name. */
int store_desktop_insert(struct store *s, const char *name, const char *pool, enum store_desktop_state state,
			 int64_t *id);
int store_desktop_get(struct store *s, int64_t id, struct store_desktop *out);
int store_desktop_get_by_name(struct store *s, const char *name, struct store_desktop *out);
/* All desktops (pool NULL) or one pool's, by id; *out malloc'd, caller frees. */
int store_desktop_list(struct store *s, const char *pool, struct store_desktop **out, size_t *count);
/* Moves desktop `id` to `to` and appends the audit event "desktop_state"
 * (detail "from -> to") in the same transaction. With `expect` other than
 * STORE_DESKTOP_ANY, a desktop not currently in `expect` is left alone and
 * -ESTALE returned. Setting the state it already has changes and records
 * nothing. -EINVAL for a state outside the enum, -ENOENT for an unknown id. */
int store_desktop_set_state(struct store *s, int64_t id, enum store_desktop_state expect, enum store_desktop_state to);
/* Records the desktop's VMM; pid 0 and socket NULL clear it. */
int store_desktop_set_vmm(struct store *s, int64_t id, int64_t pid, const char *socket);
/* Records whether an admin holds the desktop off (store_desktop.held). */
int store_desktop_set_held(struct store *s, int64_t id, bool held);
/* Assigns the desktop to `user`, or unassigns it (NULL). */
int store_desktop_assign(struct store *s, int64_t id, const char *user);
/* Sessions on it keep their row with desktop_id 0 (foreign key SET NULL). */
int store_desktop_delete(struct store *s, int64_t id);

/* ---- sessions: at most one per (user, pool) ---- */

enum store_session_state { STORE_SESSION_CONNECTED, STORE_SESSION_DISCONNECTED, STORE_SESSION_STATE_COUNT };
const char *store_session_state_name(enum store_session_state state);

struct store_session {
	int64_t id;
	char user[STORE_USER_MAX];
	char pool[STORE_NAME_MAX];
	int64_t desktop_id; /* 0: none (or its desktop was deleted) */
	enum store_session_state state;
	char protocol[STORE_PROTOCOL_MAX]; /* "rdp", "vnc" */
	char address[STORE_ADDRESS_MAX];   /* the client's */
	int64_t started, last_seen, disconnected_at;
};

/* Creates the session of (user, pool), or updates the existing one's desktop,
 * state, protocol and address (its id and `started` stay). last_seen is now;
 * disconnected_at is 0 when connected, now when it becomes disconnected, and
 * kept when it already was (the disconnect timeout runs from the first).
 * *id (may be NULL) gets its id. -ENOENT for a desktop_id that does not exist. */
int store_session_upsert(struct store *s, const char *user, const char *pool, int64_t desktop_id,
			 enum store_session_state state, const char *protocol, const char *address, int64_t *id);
int store_session_get(struct store *s, const char *user, const char *pool, struct store_session *out);
/* The session on desktop `desktop_id`; -ENOENT when none. */
int store_session_get_by_desktop(struct store *s, int64_t desktop_id, struct store_session *out);
/* All sessions by id; *out malloc'd, caller frees. */
int store_session_list(struct store *s, struct store_session **out, size_t *count);
/* Connected: last_seen now, disconnected_at 0. Disconnected: last_seen now,
 * disconnected_at now unless it already was disconnected. */
int store_session_set_state(struct store *s, int64_t id, enum store_session_state state);
/* last_seen = now (activity on a connected session). */
int store_session_touch(struct store *s, int64_t id);
int store_session_delete(struct store *s, int64_t id);

/* ---- audit log ---- */

struct store_audit {
	int64_t id, time;
	char event[STORE_EVENT_MAX];
	char user[STORE_USER_MAX];
	char address[STORE_ADDRESS_MAX];
	char pool[STORE_NAME_MAX];
	char desktop[STORE_NAME_MAX];
	char detail[STORE_DETAIL_MAX];
};

/* Appends an event (required) with optional (NULL) fields; each record is
 * also written as one info log line, control characters shown as '?'. *id
 * may be NULL. */
int store_audit_append(struct store *s, const char *event, const char *user, const char *address, const char *pool,
		       const char *desktop, const char *detail, int64_t *id);
/* Up to `limit` (1..STORE_AUDIT_PAGE_MAX) records with id > after_id, oldest
 * first, only `event`'s when not NULL; the next page starts after the last
 * id returned. *out malloc'd (NULL when *count is 0), caller frees. */
int store_audit_list(struct store *s, int64_t after_id, unsigned limit, const char *event, struct store_audit **out,
		     size_t *count);

/* Deletes up to `limit` of the oldest records older than age_s seconds (by the store's clock); returns
 * how many, or a negative errno. */
int store_audit_prune(struct store *s, int64_t age_s, unsigned limit);

/* The latest successful login (login_ok) of each user and address pair within the last within_s
 * seconds, at most `limit`, oldest first: what the lockout knows as a user's usual addresses after a
 * restart. *out malloc'd (NULL when *count is 0), caller frees. */
struct store_login {
	char user[STORE_USER_MAX];
	char address[STORE_ADDRESS_MAX];
	int64_t time, age_s;
};
int store_audit_logins(struct store *s, int64_t within_s, unsigned limit, struct store_login **out, size_t *count);

/* ---- counts for /metrics ---- */

struct store_counts {
	uint64_t desktops[STORE_DESKTOP_STATE_COUNT];
	uint64_t sessions[STORE_SESSION_STATE_COUNT];
};
int store_count_states(struct store *s, struct store_counts *out);

struct store_event_count {
	char event[STORE_EVENT_MAX];
	uint64_t count;
};
/* Audit records per event kind with time >= since, by event name; *out
 * malloc'd (NULL when *count is 0), caller frees. */
int store_audit_count_events(struct store *s, int64_t since, struct store_event_count **out, size_t *count);

#endif
