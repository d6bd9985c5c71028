/* store.c — the broker's state store on SQLite: schema and migrations, one
 * shared connection behind a lock, typed reads and writes, the audit log. */
#include "store.h"

#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* PRAGMA application_id of a vdi-server database ("vdi1"), so that another
 * program's SQLite file is not taken for ours and migrated. */
#define STORE_APPLICATION_ID 1986292017 /* 0x76646931 */
#define STORE_STR_(x)        #x
#define STORE_STR(x)         STORE_STR_(x)

/* Migration i takes a database from user_version i to i + 1; each runs in
 * its own transaction together with the user_version bump. Append only. */
static const char *const store_migrations[STORE_SCHEMA_VERSION] = {
    "PRAGMA application_id = " STORE_STR(
	STORE_APPLICATION_ID) ";"
			      "CREATE TABLE pools(name TEXT PRIMARY KEY, spec TEXT NOT NULL,"
			      " source TEXT NOT NULL CHECK(source IN ('config','api')), created INTEGER, updated "
			      "INTEGER);"
			      "CREATE TABLE desktops(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, pool TEXT NOT "
			      "NULL,"
			      " state TEXT NOT NULL CHECK(state IN "
			      "('provisioning','stopped','starting','running','stopping','failed')),"
			      " vmm_pid INTEGER, socket TEXT, assigned_user TEXT, created INTEGER, updated INTEGER);"
			      "CREATE INDEX desktops_pool ON desktops(pool, id);"
			      "CREATE INDEX desktops_user ON desktops(assigned_user);"
			      "CREATE TABLE sessions(id INTEGER PRIMARY KEY, user TEXT NOT NULL, pool TEXT NOT NULL,"
			      " desktop_id INTEGER REFERENCES desktops(id) ON DELETE SET NULL,"
			      " state TEXT NOT NULL CHECK(state IN ('connected','disconnected')), protocol TEXT, "
			      "address TEXT,"
			      " started INTEGER, last_seen INTEGER, disconnected_at INTEGER, UNIQUE(user, pool));"
			      "CREATE INDEX sessions_desktop ON sessions(desktop_id);"
			      "CREATE TABLE audit(id INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL, "
			      "user TEXT,"
			      " address TEXT, pool TEXT, desktop TEXT, detail TEXT);"
			      "CREATE INDEX audit_event ON audit(event, id);"
			      "CREATE INDEX audit_time ON audit(time);",
    /* v2: desktops can be suspended (to disk), and a desktop's id is never
     * used again (AUTOINCREMENT), so nothing left pointing at a deleted
     * desktop can find a new one. SQLite cannot change a table's
     * definition in place: it is rebuilt, keeping ids; dropping the old one
     * nulls the sessions' references (ON DELETE SET NULL), so they are kept
     * aside and put back. */
    "CREATE TEMP TABLE sessions_keep AS SELECT id, desktop_id FROM sessions;"
    "CREATE TABLE desktops_v2(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, pool TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN "
    "('provisioning','stopped','starting','running','stopping','failed','suspended')),"
    " vmm_pid INTEGER, socket TEXT, assigned_user TEXT, created INTEGER, updated INTEGER);"
    "INSERT INTO desktops_v2 SELECT id, name, pool, state, vmm_pid, socket, assigned_user, created, updated"
    " FROM desktops;"
    "DROP TABLE desktops;"
    "ALTER TABLE desktops_v2 RENAME TO desktops;"
    "CREATE INDEX desktops_pool ON desktops(pool, id);"
    "CREATE INDEX desktops_user ON desktops(assigned_user);"
    "UPDATE sessions SET desktop_id = (SELECT k.desktop_id FROM sessions_keep k WHERE k.id = sessions.id);"
    "DROP TABLE sessions_keep;",
    /* v3: an admin's hold on a desktop (powered off or suspended by hand)
     * outlives a restart of vdi-server. */
    "ALTER TABLE desktops ADD COLUMN held INTEGER NOT NULL DEFAULT 0;",
};

#define DESKTOP_COLS "id, name, pool, state, vmm_pid, socket, assigned_user, created, updated, held"
#define SESSION_COLS "id, user, pool, desktop_id, state, protocol, address, started, last_seen, disconnected_at"
#define AUDIT_COLS   "id, time, event, user, address, pool, desktop, detail"

enum stmt_id {
	ST_POOL_PUT,
	ST_POOL_GET,
	ST_POOL_LIST,
	ST_POOL_HAS_DESKTOPS,
	ST_POOL_DELETE,
	ST_DESK_INSERT,
	ST_DESK_GET,
	ST_DESK_GET_NAME,
	ST_DESK_LIST,
	ST_DESK_LIST_POOL,
	ST_DESK_SET_STATE,
	ST_DESK_SET_VMM,
	ST_DESK_ASSIGN,
	ST_DESK_SET_HELD,
	ST_DESK_DELETE,
	ST_SESS_UPSERT,
	ST_SESS_GET,
	ST_SESS_GET_DESK,
	ST_SESS_LIST,
	ST_SESS_SET_STATE,
	ST_SESS_TOUCH,
	ST_SESS_DELETE,
	ST_AUDIT_APPEND,
	ST_AUDIT_LIST,
	ST_AUDIT_LIST_EVENT,
	ST_AUDIT_PRUNE,
	ST_AUDIT_LOGINS,
	ST_COUNT_DESK,
	ST_COUNT_SESS,
	ST_COUNT_EVENTS,
	ST_COUNT
};

/* Every statement binds its values; none is built from them. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_POOL_PUT] = "INSERT INTO pools(name, spec, source, created, updated) VALUES(?1, ?2, ?3, ?4, ?4)"
		    " ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, source = excluded.source,"
		    " updated = excluded.updated",
    [ST_POOL_GET] = "SELECT name, spec, source, created, updated FROM pools WHERE name = ?1",
    [ST_POOL_LIST] = "SELECT name, spec, source, created, updated FROM pools ORDER BY name",
    [ST_POOL_HAS_DESKTOPS] = "SELECT 1 FROM desktops WHERE pool = ?1 LIMIT 1",
    [ST_POOL_DELETE] = "DELETE FROM pools WHERE name = ?1",
    [ST_DESK_INSERT] = "INSERT INTO desktops(name, pool, state, created, updated) VALUES(?1, ?2, ?3, ?4, ?4)",
    [ST_DESK_GET] = "SELECT " DESKTOP_COLS " FROM desktops WHERE id = ?1",
    [ST_DESK_GET_NAME] = "SELECT " DESKTOP_COLS " FROM desktops WHERE name = ?1",
    [ST_DESK_LIST] = "SELECT " DESKTOP_COLS " FROM desktops ORDER BY id",
    [ST_DESK_LIST_POOL] = "SELECT " DESKTOP_COLS " FROM desktops WHERE pool = ?1 ORDER BY id",
    [ST_DESK_SET_STATE] = "UPDATE desktops SET state = ?2, updated = ?3 WHERE id = ?1",
    [ST_DESK_SET_VMM] = "UPDATE desktops SET vmm_pid = ?2, socket = ?3, updated = ?4 WHERE id = ?1",
    [ST_DESK_ASSIGN] = "UPDATE desktops SET assigned_user = ?2, updated = ?3 WHERE id = ?1",
    [ST_DESK_SET_HELD] = "UPDATE desktops SET held = ?2, updated = ?3 WHERE id = ?1",
    [ST_DESK_DELETE] = "DELETE FROM desktops WHERE id = ?1",
    [ST_SESS_UPSERT] = "INSERT INTO sessions(user, pool, desktop_id, state, protocol, address, started, last_seen,"
		       " disconnected_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7,"
		       " CASE WHEN ?4 = 'disconnected' THEN ?7 END)"
		       " ON CONFLICT(user, pool) DO UPDATE SET desktop_id = excluded.desktop_id,"
		       " state = excluded.state, protocol = excluded.protocol, address = excluded.address,"
		       " last_seen = excluded.last_seen, disconnected_at = CASE"
		       " WHEN excluded.state = 'connected' THEN NULL"
		       " WHEN sessions.state = 'disconnected' AND sessions.disconnected_at IS NOT NULL"
		       " THEN sessions.disconnected_at ELSE excluded.disconnected_at END"
		       " RETURNING id",
    [ST_SESS_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE user = ?1 AND pool = ?2",
    [ST_SESS_GET_DESK] = "SELECT " SESSION_COLS " FROM sessions WHERE desktop_id = ?1 ORDER BY id LIMIT 1",
    [ST_SESS_LIST] = "SELECT " SESSION_COLS " FROM sessions ORDER BY id",
    [ST_SESS_SET_STATE] = "UPDATE sessions SET state = ?2, last_seen = ?3, disconnected_at = CASE"
			  " WHEN ?2 = 'connected' THEN NULL"
			  " WHEN state = 'disconnected' AND disconnected_at IS NOT NULL THEN disconnected_at"
			  " ELSE ?3 END WHERE id = ?1",
    [ST_SESS_TOUCH] = "UPDATE sessions SET last_seen = ?2 WHERE id = ?1",
    [ST_SESS_DELETE] = "DELETE FROM sessions WHERE id = ?1",
    [ST_AUDIT_APPEND] = "INSERT INTO audit(time, event, user, address, pool, desktop, detail)"
			" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_AUDIT_LIST_EVENT] = "SELECT " AUDIT_COLS " FROM audit WHERE id > ?1 AND event = ?3 ORDER BY id LIMIT ?2",
    [ST_AUDIT_PRUNE] = "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ?1 ORDER BY time LIMIT ?2)",
    [ST_AUDIT_LOGINS] = "SELECT user, address, max(time) AS t FROM audit WHERE event = 'login_ok' AND time >= ?1 AND "
			"ifnull(user, '') <> '' AND ifnull(address, '') <> '' GROUP BY user, address ORDER BY t LIMIT ?2",
    [ST_COUNT_DESK] = "SELECT state, count(*) FROM desktops GROUP BY state",
    [ST_COUNT_SESS] = "SELECT state, count(*) FROM sessions GROUP BY state",
    [ST_COUNT_EVENTS] = "SELECT event, count(*) FROM audit WHERE time >= ?1 GROUP BY event ORDER BY event",
};

struct store {
	sqlite3 *db;
	/* Recursive: store_begin() holds it until store_commit(), and the
	 * calls in between take it again. */
	pthread_mutex_t lock;
	bool in_txn; /* an explicit store_begin() transaction is open */
	store_clock_fn clock;
	void *clock_ctx;
	sqlite3_stmt *stmts[ST_COUNT];
};

static const char *const desktop_state_names[STORE_DESKTOP_STATE_COUNT] = {
    [STORE_DESKTOP_PROVISIONING] = "provisioning", [STORE_DESKTOP_STOPPED] = "stopped",
    [STORE_DESKTOP_STARTING] = "starting",         [STORE_DESKTOP_RUNNING] = "running",
    [STORE_DESKTOP_STOPPING] = "stopping",         [STORE_DESKTOP_FAILED] = "failed",
    [STORE_DESKTOP_SUSPENDED] = "suspended",
};
static const char *const session_state_names[STORE_SESSION_STATE_COUNT] = {
    [STORE_SESSION_CONNECTED] = "connected",
    [STORE_SESSION_DISCONNECTED] = "disconnected",
};
static const char *const pool_source_names[] = {[STORE_POOL_CONFIG] = "config", [STORE_POOL_API] = "api"};

const char *store_desktop_state_name(enum store_desktop_state state)
{
	if ((unsigned)state >= STORE_DESKTOP_STATE_COUNT)
		return NULL;
	return desktop_state_names[state];
}

int store_desktop_state_parse(const char *name, enum store_desktop_state *out)
{
	for (unsigned i = 0; name && i < STORE_DESKTOP_STATE_COUNT; i++)
		if (!strcmp(name, desktop_state_names[i])) {
			*out = (enum store_desktop_state)i;
			return 0;
		}
	return -EINVAL;
}

const char *store_session_state_name(enum store_session_state state)
{
	if ((unsigned)state >= STORE_SESSION_STATE_COUNT)
		return NULL;
	return session_state_names[state];
}

static int session_state_parse(const char *name, enum store_session_state *out)
{
	for (unsigned i = 0; name && i < STORE_SESSION_STATE_COUNT; i++)
		if (!strcmp(name, session_state_names[i])) {
			*out = (enum store_session_state)i;
			return 0;
		}
	return -EINVAL;
}

static int64_t store_now(struct store *s)
{
	return s->clock ? s->clock(s->clock_ctx) : (int64_t)time(NULL);
}

static void store_lock(struct store *s)
{
	pthread_mutex_lock(&s->lock);
}

static void store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* Maps an SQLite result to -errno. Constraint failures are the caller's to
 * judge; anything else is logged here, the one place SQLite's message is. */
static int sql_error(struct store *s, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	}
	log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

/* Our own constant SQL (transaction control) only. */
static int store_exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_error(s, rc, sql);
}

/* The cached statement `id`, prepared on first use; NULL (logged) on failure. */
static sqlite3_stmt *stmt(struct store *s, enum stmt_id id)
{
	if (!s->stmts[id] &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id], NULL) != SQLITE_OK) {
		log_error("store: preparing statement %d: %s", (int)id, sqlite3_errmsg(s->db));
		s->stmts[id] = NULL;
	}
	return s->stmts[id];
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds a string, "" and NULL as SQL NULL. */
static int bind_opt(sqlite3_stmt *st, int idx, const char *v)
{
	if (!v || !*v)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

static int bind_str(sqlite3_stmt *st, int idx, const char *v)
{
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : sql_error(s, rc, what);
	stmt_done(st);
	return ret;
}

/* A required (non-empty) or optional string argument that must fit `cap`. */
static int check_str(const char *v, size_t cap, bool required)
{
	if (!v || !*v)
		return required ? -EINVAL : 0;
	return strnlen(v, cap) < cap ? 0 : -ENAMETOOLONG;
}

/* Copies a text column; a value longer than the field means the file was
 * written by something else, and is refused rather than cut. */
static int col_copy(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	if (!t || n <= 0) {
		dst[0] = 0;
		return 0;
	}
	if ((size_t)n >= cap) {
		log_error("store: column %s holds %d bytes, more than the %zu this build keeps",
			  sqlite3_column_name(st, col), n, cap - 1);
		dst[0] = 0;
		return -EOVERFLOW;
	}
	memcpy(dst, t, (size_t)n);
	dst[n] = 0;
	return 0;
}

/* Copies at most cap - 1 bytes of src, cutting at a UTF-8 character boundary. */
static void copy_cut(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap) {
		len = cap - 1;
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = 0;
}

static void col_cut(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	copy_cut(dst, cap, t ? t : "", t && n > 0 ? (size_t)n : 0);
}

/* Takes the lock and opens a transaction for one write: the outermost one
 * when none is open, else a savepoint inside the caller's, so a failing
 * write undoes only itself. Unlocks again on failure. */
static int write_begin(struct store *s)
{
	store_lock(s);
	int rc = store_exec(s, s->in_txn ? "SAVEPOINT store_write" : "BEGIN IMMEDIATE");
	if (rc)
		store_unlock(s);
	return rc;
}

/* Commits (rc == 0) or rolls back what write_begin() opened, and unlocks. */
static int write_end(struct store *s, int rc)
{
	if (rc == 0)
		rc = store_exec(s, s->in_txn ? "RELEASE store_write" : "COMMIT");
	if (rc) {
		if (s->in_txn) {
			store_exec(s, "ROLLBACK TO store_write");
			store_exec(s, "RELEASE store_write");
		} else if (!sqlite3_get_autocommit(s->db)) {
			store_exec(s, "ROLLBACK");
		}
	}
	store_unlock(s);
	return rc;
}

/* Reads rows into a growing malloc'd array of `size`-byte elements; `clear`
 * (may be NULL) releases what one element owns when the read fails. */
static int collect(struct store *s, sqlite3_stmt *st, size_t size, int (*read)(sqlite3_stmt *, void *),
		   void (*clear)(void *), void **out, size_t *count)
{
	char *arr = NULL;
	size_t n = 0, cap = 0;
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			if (ncap > SIZE_MAX / size) {
				ret = -ENOMEM;
				break;
			}
			char *na = realloc(arr, ncap * size);
			if (!na) {
				ret = -ENOMEM;
				break;
			}
			arr = na;
			cap = ncap;
		}
		memset(arr + n * size, 0, size);
		ret = read(st, arr + n * size);
		if (ret) {
			if (clear)
				clear(arr + n * size);
			break;
		}
		n++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = sql_error(s, rc, "reading rows");
	stmt_done(st);
	if (ret) {
		for (size_t i = 0; clear && i < n; i++)
			clear(arr + i * size);
		free(arr);
		return ret;
	}
	if (n == 0) {
		free(arr);
		arr = NULL;
	}
	*out = arr;
	*count = n;
	return 0;
}

/* Runs a statement expected to return at most one row, read by `read`. */
static int get_one(struct store *s, sqlite3_stmt *st, int (*read)(sqlite3_stmt *, void *), void *out)
{
	int rc = sqlite3_step(st);
	int ret;
	if (rc == SQLITE_ROW)
		ret = read(st, out);
	else if (rc == SQLITE_DONE)
		ret = -ENOENT;
	else
		ret = sql_error(s, rc, "reading a row");
	stmt_done(st);
	return ret;
}

/* ---- opening ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Creates the missing directories above `path` (mode 0700). */
static int make_parents(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(dir)) {
		set_err(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (mkdir(dir, 0700) && errno != EEXIST) {
			int e = errno;
			set_err(err, errlen, "%s: cannot create directory %s: %s", path, dir, strerror(e));
			return -e;
		}
		*p = '/';
	}
	return 0;
}

/* Creates the file 0600 before SQLite does, so its mode does not depend on
 * the umask (SQLite gives the -wal and -shm files the same mode), and
 * refuses what is not a regular file. */
static int create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	bool created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, "%s: %s", path, e == ELOOP ? "is a symbolic link" : strerror(e));
		return -e;
	}
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st)) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
	} else if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		set_err(err, errlen, "%s: not a regular file", path);
	} else if (created && fchmod(fd, 0600)) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
	}
	close(fd);
	return ret;
}

/* One integer from a PRAGMA; SQLite's result code on failure. */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_ERROR; /* the pragma is not supported by this SQLite */
	}
	sqlite3_finalize(st);
	return rc;
}

/* Is this file ours, and not newer than us? Reads only, so a foreign or
 * newer database is left exactly as it was. */
static int check_identity(sqlite3 *db, const char *path, int64_t *version, char *err, size_t errlen)
{
	int64_t app_id = 0, objects = 0;
	int rc = pragma_int(db, "PRAGMA application_id", &app_id);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA user_version", version);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &objects);
	if ((rc & 0xff) == SQLITE_NOTADB) {
		set_err(err, errlen, "%s: not an SQLite database (%s)", path, sqlite3_errmsg(db));
		return -EINVAL;
	}
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: cannot read the database: %s", path, sqlite3_errmsg(db));
		return -EIO;
	}
	bool empty = app_id == 0 && *version == 0 && objects == 0;
	if (!empty && app_id != STORE_APPLICATION_ID) {
		set_err(err, errlen, "%s: an SQLite database, but not vdi-server's (application_id %lld)", path,
			(long long)app_id);
		return -EINVAL;
	}
	if (*version > STORE_SCHEMA_VERSION) {
		set_err(err, errlen, "%s: made by a newer vdi-server: schema %lld, this one knows %d", path,
			(long long)*version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (*version < 0) {
		set_err(err, errlen, "%s: damaged: schema version %lld", path, (long long)*version);
		return -EINVAL;
	}
	return 0;
}

/* Sets the connection's pragmas and checks each one took: WAL needs shared
 * memory the file system may not offer, and a pragma SQLite was built
 * without is silently ignored. */
static int configure(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char mode[16] = "";
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	if (strcmp(mode, "wal")) {
		set_err(err, errlen, "%s: cannot switch to WAL journaling (journal mode is \"%s\": %s)", path, mode,
			sqlite3_errmsg(db));
		return -EIO;
	}
	int64_t sync = -1, fk = -1;
	if (sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
	    pragma_int(db, "PRAGMA synchronous", &sync) != SQLITE_OK || sync != 1) {
		set_err(err, errlen, "%s: cannot set synchronous = NORMAL", path);
		return -EIO;
	}
	if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK ||
	    pragma_int(db, "PRAGMA foreign_keys", &fk) != SQLITE_OK || fk != 1) {
		set_err(err, errlen, "%s: this SQLite does not enforce foreign keys", path);
		return -EIO;
	}
	return 0;
}

static int migrate(sqlite3 *db, const char *path, int64_t from, char *err, size_t errlen)
{
	for (int64_t v = from; v < STORE_SCHEMA_VERSION; v++) {
		/* user_version cannot be bound; the value is our own loop counter. */
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %lld", (long long)v + 1);
		int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, store_migrations[v], NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, bump, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			set_err(err, errlen, "%s: migrating the schema from version %lld to %lld: %s", path,
				(long long)v, (long long)v + 1, sqlite3_errmsg(db));
			if (!sqlite3_get_autocommit(db))
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
	}
	return 0;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	set_err(err, errlen, "%s", "");
	if (!path || !*path) {
		set_err(err, errlen, "no database path given");
		return NULL;
	}
	if (make_parents(path, err, errlen) || create_file(path, err, errlen))
		return NULL;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	int64_t version = 0;
	if (sqlite3_db_readonly(db, "main") == 1) {
		set_err(err, errlen, "%s: read-only", path);
		goto fail;
	}
	if (check_identity(db, path, &version, err, errlen) || configure(db, path, err, errlen) ||
	    migrate(db, path, version, err, errlen))
		goto fail;

	struct store *s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	s->db = db;
	return s;
fail:
	sqlite3_close(db);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_lock(s);
	if (s->in_txn) {
		log_warn("store: closed inside a transaction; rolling it back");
		store_exec(s, "ROLLBACK");
		s->in_txn = false;
	}
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_error("store: closing the database: %s", sqlite3_errmsg(s->db));
	store_unlock(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void store_set_clock(struct store *s, store_clock_fn fn, void *ctx)
{
	store_lock(s);
	s->clock = fn;
	s->clock_ctx = ctx;
	store_unlock(s);
}

int store_schema_version(struct store *s)
{
	int64_t v = -1;
	store_lock(s);
	int rc = pragma_int(s->db, "PRAGMA user_version", &v);
	int ret = rc == SQLITE_OK ? (int)v : sql_error(s, rc, "reading the schema version");
	store_unlock(s);
	return ret;
}

/* ---- explicit transactions ---- */

int store_begin(struct store *s)
{
	store_lock(s);
	if (s->in_txn) {
		store_unlock(s);
		return -EBUSY;
	}
	int rc = store_exec(s, "BEGIN IMMEDIATE");
	if (rc) {
		store_unlock(s);
		return rc;
	}
	s->in_txn = true;
	return 0; /* the lock stays held until commit or rollback */
}

static int txn_end(struct store *s, bool commit)
{
	store_lock(s);
	if (!s->in_txn) {
		store_unlock(s);
		return -EINVAL;
	}
	int rc = commit ? store_exec(s, "COMMIT") : 0;
	if (!commit || rc) {
		if (!sqlite3_get_autocommit(s->db))
			store_exec(s, "ROLLBACK");
	}
	s->in_txn = false;
	store_unlock(s);
	store_unlock(s); /* the hold from store_begin() */
	return rc;
}

int store_commit(struct store *s)
{
	return txn_end(s, true);
}

int store_rollback(struct store *s)
{
	return txn_end(s, false);
}

/* ---- pools ---- */

static int read_pool(sqlite3_stmt *st, void *out)
{
	struct store_pool *p = out;
	int rc = col_copy(st, 0, p->name, sizeof(p->name));
	if (rc)
		return rc;
	const char *spec = (const char *)sqlite3_column_text(st, 1);
	p->spec = strdup(spec ? spec : "");
	if (!p->spec)
		return -ENOMEM;
	const char *source = (const char *)sqlite3_column_text(st, 2);
	p->source = source && !strcmp(source, "api") ? STORE_POOL_API : STORE_POOL_CONFIG;
	p->created = sqlite3_column_int64(st, 3);
	p->updated = sqlite3_column_int64(st, 4);
	return 0;
}

void store_pool_clear(struct store_pool *p)
{
	if (!p)
		return;
	free(p->spec);
	p->spec = NULL;
}

static void clear_pool(void *p)
{
	store_pool_clear(p);
}

void store_pool_list_free(struct store_pool *pools, size_t count)
{
	for (size_t i = 0; pools && i < count; i++)
		store_pool_clear(&pools[i]);
	free(pools);
}

int store_pool_put(struct store *s, const char *name, const char *spec, enum store_pool_source source)
{
	int rc = check_str(name, STORE_NAME_MAX, true);
	if (rc)
		return rc;
	if (!spec || (unsigned)source > STORE_POOL_API)
		return -EINVAL;
	if (strnlen(spec, STORE_SPEC_MAX) >= STORE_SPEC_MAX)
		return -E2BIG;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_POOL_PUT);
	if (!st)
		return write_end(s, -EIO);
	bind_str(st, 1, name);
	bind_str(st, 2, spec);
	bind_str(st, 3, pool_source_names[source]);
	sqlite3_bind_int64(st, 4, store_now(s));
	return write_end(s, step_done(s, st, "saving a pool"));
}

int store_pool_get(struct store *s, const char *name, struct store_pool *out)
{
	int rc = check_str(name, STORE_NAME_MAX, true);
	if (rc)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	memset(out, 0, sizeof(*out));
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_POOL_GET);
	if (st) {
		bind_str(st, 1, name);
		rc = get_one(s, st, read_pool, out);
		if (rc)
			store_pool_clear(out);
	} else {
		rc = -EIO;
	}
	store_unlock(s);
	return rc;
}

int store_pool_list(struct store *s, struct store_pool **out, size_t *count)
{
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_POOL_LIST);
	int rc = st ? collect(s, st, sizeof(**out), read_pool, clear_pool, (void **)out, count) : -EIO;
	store_unlock(s);
	return rc;
}

int store_pool_delete(struct store *s, const char *name)
{
	int rc = check_str(name, STORE_NAME_MAX, true);
	if (rc)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_POOL_HAS_DESKTOPS);
	if (!st)
		return write_end(s, -EIO);
	bind_str(st, 1, name);
	int step = sqlite3_step(st);
	rc = step == SQLITE_ROW ? -ENOTEMPTY : step == SQLITE_DONE ? 0 : sql_error(s, step, "checking a pool");
	stmt_done(st);
	if (!rc) {
		st = stmt(s, ST_POOL_DELETE);
		if (!st)
			return write_end(s, -EIO);
		bind_str(st, 1, name);
		rc = step_done(s, st, "deleting a pool");
		if (!rc && sqlite3_changes(s->db) == 0)
			rc = -ENOENT;
	}
	return write_end(s, rc);
}

/* ---- desktops ---- */

static int read_desktop(sqlite3_stmt *st, void *out)
{
	struct store_desktop *d = out;
	d->id = sqlite3_column_int64(st, 0);
	int rc = col_copy(st, 1, d->name, sizeof(d->name));
	if (!rc)
		rc = col_copy(st, 2, d->pool, sizeof(d->pool));
	if (!rc && store_desktop_state_parse((const char *)sqlite3_column_text(st, 3), &d->state)) {
		log_error("store: desktop %lld has an unknown state", (long long)d->id);
		rc = -EIO;
	}
	if (!rc)
		rc = col_copy(st, 5, d->socket, sizeof(d->socket));
	if (!rc)
		rc = col_copy(st, 6, d->assigned_user, sizeof(d->assigned_user));
	d->vmm_pid = sqlite3_column_int64(st, 4);
	d->created = sqlite3_column_int64(st, 7);
	d->updated = sqlite3_column_int64(st, 8);
	d->held = sqlite3_column_int64(st, 9) != 0;
	return rc;
}

int store_desktop_insert(struct store *s, const char *name, const char *pool, enum store_desktop_state state,
			 int64_t *id)
{
	int rc = check_str(name, STORE_NAME_MAX, true);
	if (!rc)
		rc = check_str(pool, STORE_NAME_MAX, true);
	if (rc)
		return rc;
	if (!store_desktop_state_name(state))
		return -EINVAL;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DESK_INSERT);
	if (!st)
		return write_end(s, -EIO);
	bind_str(st, 1, name);
	bind_str(st, 2, pool);
	bind_str(st, 3, store_desktop_state_name(state));
	sqlite3_bind_int64(st, 4, store_now(s));
	rc = step_done(s, st, "adding a desktop");
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(s->db);
	return write_end(s, rc);
}

static int desktop_get_locked(struct store *s, int64_t id, struct store_desktop *out)
{
	sqlite3_stmt *st = stmt(s, ST_DESK_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return get_one(s, st, read_desktop, out);
}

int store_desktop_get(struct store *s, int64_t id, struct store_desktop *out)
{
	memset(out, 0, sizeof(*out));
	store_lock(s);
	int rc = desktop_get_locked(s, id, out);
	store_unlock(s);
	return rc;
}

int store_desktop_get_by_name(struct store *s, const char *name, struct store_desktop *out)
{
	int rc = check_str(name, STORE_NAME_MAX, true);
	if (rc)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	memset(out, 0, sizeof(*out));
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_DESK_GET_NAME);
	if (st) {
		bind_str(st, 1, name);
		rc = get_one(s, st, read_desktop, out);
	} else {
		rc = -EIO;
	}
	store_unlock(s);
	return rc;
}

int store_desktop_list(struct store *s, const char *pool, struct store_desktop **out, size_t *count)
{
	if (pool && strnlen(pool, STORE_NAME_MAX) >= STORE_NAME_MAX) {
		*out = NULL;
		*count = 0;
		return 0; /* no pool has such a name */
	}
	store_lock(s);
	sqlite3_stmt *st = stmt(s, pool ? ST_DESK_LIST_POOL : ST_DESK_LIST);
	int rc = -EIO;
	if (st) {
		if (pool)
			bind_str(st, 1, pool);
		rc = collect(s, st, sizeof(**out), read_desktop, NULL, (void **)out, count);
	}
	store_unlock(s);
	return rc;
}

static int audit_insert_locked(struct store *s, int64_t time, const char *event, const char *user, const char *address,
			       const char *pool, const char *desktop, const char *detail, int64_t *id);
static void audit_log_line(const char *event, const char *user, const char *address, const char *pool,
			   const char *desktop, const char *detail);

int store_desktop_set_state(struct store *s, int64_t id, enum store_desktop_state expect, enum store_desktop_state to)
{
	if (!store_desktop_state_name(to) || (expect != STORE_DESKTOP_ANY && !store_desktop_state_name(expect)))
		return -EINVAL;
	int rc = write_begin(s);
	if (rc)
		return rc;
	struct store_desktop d;
	memset(&d, 0, sizeof(d));
	rc = desktop_get_locked(s, id, &d);
	if (!rc && expect != STORE_DESKTOP_ANY && d.state != expect)
		rc = -ESTALE;
	if (rc || d.state == to)
		return write_end(s, rc);
	char detail[64];
	snprintf(detail, sizeof(detail), "%s -> %s", store_desktop_state_name(d.state), store_desktop_state_name(to));
	int64_t now = store_now(s);
	sqlite3_stmt *st = stmt(s, ST_DESK_SET_STATE);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	bind_str(st, 2, store_desktop_state_name(to));
	sqlite3_bind_int64(st, 3, now);
	rc = step_done(s, st, "setting a desktop's state");
	if (!rc)
		rc = audit_insert_locked(s, now, "desktop_state", d.assigned_user, NULL, d.pool, d.name, detail, NULL);
	rc = write_end(s, rc);
	if (!rc)
		audit_log_line("desktop_state", d.assigned_user, NULL, d.pool, d.name, detail);
	return rc;
}

/* Runs an UPDATE/DELETE of one desktop or session by id: -ENOENT when no row matched. */
static int change_one(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = step_done(s, st, what);
	if (!rc && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
	return rc;
}

int store_desktop_set_vmm(struct store *s, int64_t id, int64_t pid, const char *socket)
{
	if (pid < 0 || pid > INT_MAX)
		return -EINVAL;
	int rc = check_str(socket, STORE_PATH_MAX, false);
	if (rc)
		return rc;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DESK_SET_VMM);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	if (pid)
		sqlite3_bind_int64(st, 2, pid);
	bind_opt(st, 3, socket);
	sqlite3_bind_int64(st, 4, store_now(s));
	return write_end(s, change_one(s, st, "setting a desktop's VMM"));
}

int store_desktop_set_held(struct store *s, int64_t id, bool held)
{
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DESK_SET_HELD);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, held);
	sqlite3_bind_int64(st, 3, store_now(s));
	return write_end(s, change_one(s, st, "holding a desktop"));
}

int store_desktop_assign(struct store *s, int64_t id, const char *user)
{
	int rc = check_str(user, STORE_USER_MAX, false);
	if (rc)
		return rc;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DESK_ASSIGN);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	bind_opt(st, 2, user);
	sqlite3_bind_int64(st, 3, store_now(s));
	return write_end(s, change_one(s, st, "assigning a desktop"));
}

int store_desktop_delete(struct store *s, int64_t id)
{
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_DESK_DELETE);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	return write_end(s, change_one(s, st, "deleting a desktop"));
}

/* ---- sessions ---- */

static int read_session(sqlite3_stmt *st, void *out)
{
	struct store_session *x = out;
	x->id = sqlite3_column_int64(st, 0);
	int rc = col_copy(st, 1, x->user, sizeof(x->user));
	if (!rc)
		rc = col_copy(st, 2, x->pool, sizeof(x->pool));
	x->desktop_id = sqlite3_column_int64(st, 3);
	if (!rc && session_state_parse((const char *)sqlite3_column_text(st, 4), &x->state)) {
		log_error("store: session %lld has an unknown state", (long long)x->id);
		rc = -EIO;
	}
	if (!rc)
		rc = col_copy(st, 5, x->protocol, sizeof(x->protocol));
	if (!rc)
		rc = col_copy(st, 6, x->address, sizeof(x->address));
	x->started = sqlite3_column_int64(st, 7);
	x->last_seen = sqlite3_column_int64(st, 8);
	x->disconnected_at = sqlite3_column_int64(st, 9);
	return rc;
}

int store_session_upsert(struct store *s, const char *user, const char *pool, int64_t desktop_id,
			 enum store_session_state state, const char *protocol, const char *address, int64_t *id)
{
	int rc = check_str(user, STORE_USER_MAX, true);
	if (!rc)
		rc = check_str(pool, STORE_NAME_MAX, true);
	if (!rc)
		rc = check_str(protocol, STORE_PROTOCOL_MAX, false);
	if (!rc)
		rc = check_str(address, STORE_ADDRESS_MAX, false);
	if (rc)
		return rc;
	if (desktop_id < 0 || !store_session_state_name(state))
		return -EINVAL;
	rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_SESS_UPSERT);
	if (!st)
		return write_end(s, -EIO);
	bind_str(st, 1, user);
	bind_str(st, 2, pool);
	if (desktop_id)
		sqlite3_bind_int64(st, 3, desktop_id);
	bind_str(st, 4, store_session_state_name(state));
	bind_opt(st, 5, protocol);
	bind_opt(st, 6, address);
	sqlite3_bind_int64(st, 7, store_now(s));
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		if (id)
			*id = sqlite3_column_int64(st, 0);
		step = sqlite3_step(st);
	}
	rc = step == SQLITE_DONE ? 0 : sql_error(s, step, "saving a session");
	stmt_done(st);
	return write_end(s, rc);
}

int store_session_get(struct store *s, const char *user, const char *pool, struct store_session *out)
{
	int rc = check_str(user, STORE_USER_MAX, true);
	if (!rc)
		rc = check_str(pool, STORE_NAME_MAX, true);
	if (rc)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	memset(out, 0, sizeof(*out));
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_SESS_GET);
	if (st) {
		bind_str(st, 1, user);
		bind_str(st, 2, pool);
		rc = get_one(s, st, read_session, out);
	} else {
		rc = -EIO;
	}
	store_unlock(s);
	return rc;
}

int store_session_get_by_desktop(struct store *s, int64_t desktop_id, struct store_session *out)
{
	if (desktop_id <= 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_SESS_GET_DESK);
	int rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, desktop_id);
		rc = get_one(s, st, read_session, out);
	}
	store_unlock(s);
	return rc;
}

int store_session_list(struct store *s, struct store_session **out, size_t *count)
{
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_SESS_LIST);
	int rc = st ? collect(s, st, sizeof(**out), read_session, NULL, (void **)out, count) : -EIO;
	store_unlock(s);
	return rc;
}

int store_session_set_state(struct store *s, int64_t id, enum store_session_state state)
{
	if (!store_session_state_name(state))
		return -EINVAL;
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_SESS_SET_STATE);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	bind_str(st, 2, store_session_state_name(state));
	sqlite3_bind_int64(st, 3, store_now(s));
	return write_end(s, change_one(s, st, "setting a session's state"));
}

int store_session_touch(struct store *s, int64_t id)
{
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_SESS_TOUCH);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, store_now(s));
	return write_end(s, change_one(s, st, "touching a session"));
}

int store_session_delete(struct store *s, int64_t id)
{
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_SESS_DELETE);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, id);
	return write_end(s, change_one(s, st, "deleting a session"));
}

/* ---- audit ---- */

/* Appends "key=value" to a log line, control characters shown as '?' so a
 * user name cannot forge log lines. */
static size_t log_field(char *line, size_t len, size_t cap, const char *key, const char *v)
{
	if (!v || !*v || len + 1 >= cap)
		return len;
	int n = snprintf(line + len, cap - len, " %s=", key);
	if (n < 0 || (size_t)n >= cap - len)
		return cap - 1;
	len += (size_t)n;
	for (; *v && len + 1 < cap; v++)
		line[len++] = ((unsigned char)*v < 0x20 || *v == 0x7f) ? '?' : *v;
	line[len] = 0;
	return len;
}

static void audit_log_line(const char *event, const char *user, const char *address, const char *pool,
			   const char *desktop, const char *detail)
{
	char line[900] = "";
	size_t len = log_field(line, 0, sizeof(line), "event", event);
	len = log_field(line, len, sizeof(line), "user", user);
	len = log_field(line, len, sizeof(line), "address", address);
	len = log_field(line, len, sizeof(line), "pool", pool);
	len = log_field(line, len, sizeof(line), "desktop", desktop);
	log_field(line, len, sizeof(line), "detail", detail);
	log_info("audit:%s", line);
}

static int audit_insert_locked(struct store *s, int64_t time, const char *event, const char *user, const char *address,
			       const char *pool, const char *desktop, const char *detail, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_AUDIT_APPEND);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, time);
	bind_str(st, 2, event);
	bind_opt(st, 3, user);
	bind_opt(st, 4, address);
	bind_opt(st, 5, pool);
	bind_opt(st, 6, desktop);
	bind_opt(st, 7, detail);
	int rc = step_done(s, st, "appending to the audit log");
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

/* Cuts an optional audit field to its size; NULL stays NULL. */
static const char *audit_cut(char *buf, size_t cap, const char *v)
{
	if (!v)
		return NULL;
	copy_cut(buf, cap, v, strnlen(v, cap));
	return buf;
}

int store_audit_append(struct store *s, const char *event, const char *user, const char *address, const char *pool,
		       const char *desktop, const char *detail, int64_t *id)
{
	if (!event || !*event)
		return -EINVAL;
	char ev[STORE_EVENT_MAX], us[STORE_USER_MAX], ad[STORE_ADDRESS_MAX], po[STORE_NAME_MAX], de[STORE_NAME_MAX],
	    dt[STORE_DETAIL_MAX];
	event = audit_cut(ev, sizeof(ev), event);
	user = audit_cut(us, sizeof(us), user);
	address = audit_cut(ad, sizeof(ad), address);
	pool = audit_cut(po, sizeof(po), pool);
	desktop = audit_cut(de, sizeof(de), desktop);
	detail = audit_cut(dt, sizeof(dt), detail);
	int rc = write_begin(s);
	if (rc)
		return rc;
	rc = write_end(s, audit_insert_locked(s, store_now(s), event, user, address, pool, desktop, detail, id));
	if (!rc)
		audit_log_line(event, user, address, pool, desktop, detail);
	return rc;
}

static int read_audit(sqlite3_stmt *st, void *out)
{
	struct store_audit *a = out;
	a->id = sqlite3_column_int64(st, 0);
	a->time = sqlite3_column_int64(st, 1);
	col_cut(st, 2, a->event, sizeof(a->event));
	col_cut(st, 3, a->user, sizeof(a->user));
	col_cut(st, 4, a->address, sizeof(a->address));
	col_cut(st, 5, a->pool, sizeof(a->pool));
	col_cut(st, 6, a->desktop, sizeof(a->desktop));
	col_cut(st, 7, a->detail, sizeof(a->detail));
	return 0;
}

int store_audit_list(struct store *s, int64_t after_id, unsigned limit, const char *event, struct store_audit **out,
		     size_t *count)
{
	if (after_id < 0 || limit == 0 || limit > STORE_AUDIT_PAGE_MAX)
		return -EINVAL;
	if (event && strnlen(event, STORE_EVENT_MAX) >= STORE_EVENT_MAX) {
		*out = NULL;
		*count = 0;
		return 0; /* no record has such an event name */
	}
	store_lock(s);
	sqlite3_stmt *st = stmt(s, event ? ST_AUDIT_LIST_EVENT : ST_AUDIT_LIST);
	int rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, after_id);
		sqlite3_bind_int64(st, 2, limit);
		if (event)
			bind_str(st, 3, event);
		rc = collect(s, st, sizeof(**out), read_audit, NULL, (void **)out, count);
	}
	store_unlock(s);
	return rc;
}

int store_audit_prune(struct store *s, int64_t age_s, unsigned limit)
{
	if (age_s < 0 || !limit)
		return -EINVAL;
	int rc = write_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_AUDIT_PRUNE);
	if (!st)
		return write_end(s, -EIO);
	sqlite3_bind_int64(st, 1, store_now(s) - age_s);
	sqlite3_bind_int64(st, 2, limit);
	rc = step_done(s, st, "removing old audit records");
	int n = rc ? 0 : sqlite3_changes(s->db);
	rc = write_end(s, rc);
	return rc ? rc : n;
}

static int read_login(sqlite3_stmt *st, void *out)
{
	struct store_login *l = out;
	col_cut(st, 0, l->user, sizeof(l->user));
	col_cut(st, 1, l->address, sizeof(l->address));
	l->time = sqlite3_column_int64(st, 2);
	return 0;
}

int store_audit_logins(struct store *s, int64_t within_s, unsigned limit, struct store_login **out, size_t *count)
{
	if (within_s < 0 || !limit)
		return -EINVAL;
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_AUDIT_LOGINS);
	int rc = -EIO;
	int64_t now = store_now(s);
	if (st) {
		sqlite3_bind_int64(st, 1, now - within_s);
		sqlite3_bind_int64(st, 2, limit);
		rc = collect(s, st, sizeof(**out), read_login, NULL, (void **)out, count);
	}
	store_unlock(s);
	for (size_t i = 0; rc == 0 && i < *count; i++)
		(*out)[i].age_s = now > (*out)[i].time ? now - (*out)[i].time : 0;
	return rc;
}

/* ---- counts ---- */

static int count_states(struct store *s, enum stmt_id id, uint64_t *counts, int (*parse)(const char *, void *))
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return -EIO;
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int idx = parse((const char *)sqlite3_column_text(st, 0), NULL);
		int64_t n = sqlite3_column_int64(st, 1);
		if (idx < 0 || n < 0) {
			log_error("store: %s holds an unknown state", id == ST_COUNT_DESK ? "desktops" : "sessions");
			ret = -EIO;
			break;
		}
		counts[idx] = (uint64_t)n;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = sql_error(s, rc, "counting states");
	stmt_done(st);
	return ret;
}

/* Index of a state name, or -EINVAL: the shape count_states() wants. */
static int desktop_index(const char *name, void *unused)
{
	(void)unused;
	enum store_desktop_state state;
	return store_desktop_state_parse(name, &state) ? -EINVAL : (int)state;
}

static int session_index(const char *name, void *unused)
{
	(void)unused;
	enum store_session_state state;
	return session_state_parse(name, &state) ? -EINVAL : (int)state;
}

int store_count_states(struct store *s, struct store_counts *out)
{
	memset(out, 0, sizeof(*out));
	store_lock(s);
	int rc = count_states(s, ST_COUNT_DESK, out->desktops, desktop_index);
	if (!rc)
		rc = count_states(s, ST_COUNT_SESS, out->sessions, session_index);
	store_unlock(s);
	return rc;
}

static int read_event_count(sqlite3_stmt *st, void *out)
{
	struct store_event_count *c = out;
	col_cut(st, 0, c->event, sizeof(c->event));
	int64_t n = sqlite3_column_int64(st, 1);
	c->count = n > 0 ? (uint64_t)n : 0;
	return 0;
}

int store_audit_count_events(struct store *s, int64_t since, struct store_event_count **out, size_t *count)
{
	store_lock(s);
	sqlite3_stmt *st = stmt(s, ST_COUNT_EVENTS);
	int rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, since);
		rc = collect(s, st, sizeof(**out), read_event_count, NULL, (void **)out, count);
	}
	store_unlock(s);
	return rc;
}
