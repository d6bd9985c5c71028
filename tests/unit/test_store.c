/* test_store.c — broker/store.c on real SQLite files: opening, refusing what
 * is not ours, every table's functions and their failures, audit paging,
 * transactions, threads, and durability across a SIGKILL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../broker/store.h"
#include "../../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
	int64_t now;
};

static int64_t fake_clock(void *ctx)
{
	return ((struct fixture *)ctx)->now;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	char err[256];
	f->s = store_open(f->path, err, sizeof(err));
	if (!f->s) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->now = 1700000000;
	store_set_clock(f->s, fake_clock, f);
	*state = f;
	return 0;
}

static void remove_tree(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static struct store *reopen(struct fixture *f)
{
	store_close(f->s);
	char err[256];
	f->s = store_open(f->path, err, sizeof(err));
	assert_non_null(f->s);
	store_set_clock(f->s, fake_clock, f);
	return f->s;
}

/* One integer from SQL run on a separate, plain SQLite connection. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- opening ---- */

static void test_create_and_reopen(void **state)
{
	struct fixture *f = *state;
	/* Missing directories are made, private. */
	char path[192];
	snprintf(path, sizeof(path), "%s/a/b/state.db", f->dir);
	char err[256];
	struct store *s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char sub[160];
	snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);

	int64_t did, sid;
	assert_int_equal(store_pool_put(s, "demo", "{\"size\":2}", STORE_POOL_CONFIG), 0);
	assert_int_equal(store_desktop_insert(s, "demo-1", "demo", STORE_DESKTOP_RUNNING, &did), 0);
	assert_int_equal(store_desktop_set_vmm(s, did, 4242, "/run/vdi/demo-1.sock"), 0);
	assert_int_equal(store_desktop_assign(s, did, "alice"), 0);
	assert_int_equal(
	    store_session_upsert(s, "alice", "demo", did, STORE_SESSION_CONNECTED, "rdp", "10.0.0.5:50123", &sid), 0);
	assert_int_equal(store_audit_append(s, "login", "alice", "10.0.0.5:50123", "demo", NULL, "ok", NULL), 0);
	/* The WAL file exists beside it, with the same private mode. */
	char wal[200];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	store_close(s);

	s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	struct store_pool p;
	assert_int_equal(store_pool_get(s, "demo", &p), 0);
	assert_string_equal(p.spec, "{\"size\":2}");
	assert_int_equal(p.source, STORE_POOL_CONFIG);
	store_pool_clear(&p);
	struct store_desktop d;
	assert_int_equal(store_desktop_get_by_name(s, "demo-1", &d), 0);
	assert_int_equal(d.id, did);
	assert_int_equal(d.state, STORE_DESKTOP_RUNNING);
	assert_int_equal(d.vmm_pid, 4242);
	assert_string_equal(d.socket, "/run/vdi/demo-1.sock");
	assert_string_equal(d.assigned_user, "alice");
	struct store_session x;
	assert_int_equal(store_session_get(s, "alice", "demo", &x), 0);
	assert_int_equal(x.id, sid);
	assert_int_equal(x.desktop_id, did);
	assert_string_equal(x.protocol, "rdp");
	assert_string_equal(x.address, "10.0.0.5:50123");
	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 10, "login", &a, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].user, "alice");
	assert_string_equal(a[0].detail, "ok");
	assert_string_equal(a[0].desktop, "");
	free(a);
	store_close(s);
}

static void test_wal_and_pragmas(void **state)
{
	struct fixture *f = *state;
	/* journal_mode is persistent: a fresh connection sees WAL. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 0x76646931);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
					  " ('pools', 'desktops', 'sessions', 'audit')"),
			 4);
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
}

static void test_migrates_old_empty_database(void **state)
{
	struct fixture *f = *state;
	/* An empty SQLite file (version 0) is brought up to date. */
	char path[160];
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	assert_int_equal(raw_exec(path, "PRAGMA user_version = 0"), SQLITE_OK);
	char err[256];
	struct store *s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	store_close(s);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_exec(f->path, "PRAGMA user_version = 99"), SQLITE_OK);
	char err[256];
	assert_null(store_open(f->path, err, sizeof(err)));
	char want[256];
	snprintf(want, sizeof(want), "%s: made by a newer vdi-server: schema 99, this one knows %d", f->path,
		 STORE_SCHEMA_VERSION);
	assert_string_equal(err, want);
	/* Left as it was. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 99);
	char back[64];
	snprintf(back, sizeof(back), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	assert_int_equal(raw_exec(f->path, back), SQLITE_OK);
	reopen(f);
}

/* A version 1 database with a desktop and its session: migrated to 2, the
 * session still points at its desktop, and desktops can be suspended. */
static void test_migrate_v1_keeps_sessions(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_store_v1.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/v1.db", dir);
	char err[256];
	struct store *s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	int64_t d, sid;
	assert_int_equal(store_desktop_insert(s, "demo-1", "demo", STORE_DESKTOP_RUNNING, &d), 0);
	assert_int_equal(
	    store_session_upsert(s, "alice", "demo", d, STORE_SESSION_DISCONNECTED, "rdp", "1.2.3.4", &sid), 0);
	store_close(s);
	/* Back to version 1's table, as an older vdi-server left it. */
	assert_int_equal(
	    raw_exec(path, "PRAGMA foreign_keys = OFF;"
			   "CREATE TABLE d1(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, pool TEXT NOT NULL,"
			   " state TEXT NOT NULL CHECK(state IN "
			   "('provisioning','stopped','starting','running','stopping','failed')),"
			   " vmm_pid INTEGER, socket TEXT, assigned_user TEXT, created INTEGER, updated INTEGER);"
			   "INSERT INTO d1 SELECT id, name, pool, state, vmm_pid, socket,"
			   " assigned_user, created, updated FROM desktops; DROP TABLE desktops;"
			   "ALTER TABLE d1 RENAME TO desktops; PRAGMA user_version = 1;"),
	    SQLITE_OK);
	s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	struct store_session x;
	assert_int_equal(store_session_get(s, "alice", "demo", &x), 0);
	assert_int_equal(x.desktop_id, d);
	assert_int_equal(store_desktop_set_state(s, d, STORE_DESKTOP_ANY, STORE_DESKTOP_SUSPENDED), 0);
	struct store_desktop got;
	assert_int_equal(store_desktop_get(s, d, &got), 0);
	assert_int_equal(got.state, STORE_DESKTOP_SUSPENDED);
	/* v3: not held until an admin holds it, and the hold is kept. */
	assert_false(got.held);
	assert_int_equal(store_desktop_set_held(s, d, true), 0);
	store_close(s);
	s = store_open(path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(store_desktop_get(s, d, &got), 0);
	assert_true(got.held);
	assert_int_equal(store_desktop_set_held(s, d, false), 0);
	assert_int_equal(store_desktop_get(s, d, &got), 0);
	assert_false(got.held);
	assert_int_equal(store_desktop_set_held(s, d + 100, true), -ENOENT);
	store_close(s);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_garbage_refused(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256];
	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	char junk[8192];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)("this is not a database\n"[i % 23]);
	size_t sizes[] = {sizeof(junk), 4096, 100, 10};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_file(path, junk, sizes[i]);
		err[0] = 0;
		assert_null(store_open(path, err, sizeof(err)));
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, "not an SQLite database"));
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, (off_t)sizes[i]); /* untouched */
	}
}

static void test_foreign_database_refused(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256];
	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	assert_int_equal(raw_exec(path, "CREATE TABLE songs(title TEXT)"), SQLITE_OK);
	assert_null(store_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not vdi-server's"));
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 0);

	/* A directory, a symlink, an empty path. */
	assert_null(store_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, f->dir));
	char link[160];
	snprintf(link, sizeof(link), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_null(store_open(link, err, sizeof(err)));
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(store_open("", err, sizeof(err)));
	assert_null(store_open(NULL, err, sizeof(err)));
	/* A file where a directory should be. */
	char under[200];
	snprintf(under, sizeof(under), "%s/state.db/x.db", f->dir);
	assert_null(store_open(under, err, sizeof(err)));
	assert_non_null(strstr(err, under));
}

/* ---- pools ---- */

static void test_pools(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	assert_int_equal(store_pool_put(s, "b-pool", "{\"size\":1}", STORE_POOL_API), 0);
	f->now += 10;
	assert_int_equal(store_pool_put(s, "a-pool", "{}", STORE_POOL_CONFIG), 0);
	f->now += 10;
	/* Replacing keeps created, moves updated. */
	assert_int_equal(store_pool_put(s, "b-pool", "{\"size\":5}", STORE_POOL_CONFIG), 0);
	struct store_pool p;
	assert_int_equal(store_pool_get(s, "b-pool", &p), 0);
	assert_string_equal(p.name, "b-pool");
	assert_string_equal(p.spec, "{\"size\":5}");
	assert_int_equal(p.source, STORE_POOL_CONFIG);
	assert_int_equal(p.created, 1700000000);
	assert_int_equal(p.updated, 1700000020);
	store_pool_clear(&p);

	struct store_pool *list;
	size_t n;
	assert_int_equal(store_pool_list(s, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "a-pool");
	assert_string_equal(list[1].name, "b-pool");
	store_pool_list_free(list, n);

	/* Failures. */
	char longname[STORE_NAME_MAX + 1];
	memset(longname, 'x', STORE_NAME_MAX);
	longname[STORE_NAME_MAX] = 0;
	assert_int_equal(store_pool_put(s, longname, "{}", STORE_POOL_API), -ENAMETOOLONG);
	assert_int_equal(store_pool_put(s, "", "{}", STORE_POOL_API), -EINVAL);
	assert_int_equal(store_pool_put(s, NULL, "{}", STORE_POOL_API), -EINVAL);
	assert_int_equal(store_pool_put(s, "c", NULL, STORE_POOL_API), -EINVAL);
	assert_int_equal(store_pool_put(s, "c", "{}", (enum store_pool_source)7), -EINVAL);
	assert_int_equal(store_pool_get(s, "nope", &p), -ENOENT);
	assert_null(p.spec);
	assert_int_equal(store_pool_get(s, longname, &p), -ENOENT);
	assert_int_equal(store_pool_delete(s, "nope"), -ENOENT);

	/* A pool with desktops is not deleted. */
	int64_t id;
	assert_int_equal(store_desktop_insert(s, "a-1", "a-pool", STORE_DESKTOP_STOPPED, &id), 0);
	assert_int_equal(store_pool_delete(s, "a-pool"), -ENOTEMPTY);
	assert_int_equal(store_desktop_delete(s, id), 0);
	assert_int_equal(store_pool_delete(s, "a-pool"), 0);
	assert_int_equal(store_pool_get(s, "a-pool", &p), -ENOENT);
	assert_int_equal(store_pool_delete(s, "b-pool"), 0);
	assert_int_equal(store_pool_list(s, &list, &n), 0);
	assert_int_equal(n, 0);
	assert_null(list);
}

/* ---- desktops ---- */

static void test_desktops(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t a, b, c;
	assert_int_equal(store_desktop_insert(s, "p1-a", "p1", STORE_DESKTOP_PROVISIONING, &a), 0);
	assert_int_equal(store_desktop_insert(s, "p2-b", "p2", STORE_DESKTOP_STOPPED, &b), 0);
	assert_int_equal(store_desktop_insert(s, "p1-c", "p1", STORE_DESKTOP_STOPPED, &c), 0);
	assert_true(a < b && b < c);
	assert_int_equal(store_desktop_insert(s, "p1-a", "p2", STORE_DESKTOP_STOPPED, NULL), -EEXIST);
	assert_int_equal(store_desktop_insert(s, "x", "p1", (enum store_desktop_state)42, NULL), -EINVAL);
	assert_int_equal(store_desktop_insert(s, "x", "", STORE_DESKTOP_STOPPED, NULL), -EINVAL);
	assert_int_equal(store_desktop_insert(s, NULL, "p1", STORE_DESKTOP_STOPPED, NULL), -EINVAL);

	struct store_desktop d;
	assert_int_equal(store_desktop_get(s, a, &d), 0);
	assert_string_equal(d.name, "p1-a");
	assert_string_equal(d.pool, "p1");
	assert_int_equal(d.state, STORE_DESKTOP_PROVISIONING);
	assert_int_equal(d.vmm_pid, 0);
	assert_string_equal(d.socket, "");
	assert_string_equal(d.assigned_user, "");
	assert_int_equal(d.created, f->now);
	assert_int_equal(store_desktop_get(s, 9999, &d), -ENOENT);
	assert_int_equal(store_desktop_get_by_name(s, "nope", &d), -ENOENT);
	assert_int_equal(store_desktop_get_by_name(s, "p2-b", &d), 0);
	assert_int_equal(d.id, b);

	struct store_desktop *list;
	size_t n;
	assert_int_equal(store_desktop_list(s, NULL, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(list[0].id, a);
	assert_int_equal(list[2].id, c);
	free(list);
	assert_int_equal(store_desktop_list(s, "p1", &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "p1-a");
	assert_string_equal(list[1].name, "p1-c");
	free(list);
	assert_int_equal(store_desktop_list(s, "none", &list, &n), 0);
	assert_int_equal(n, 0);

	/* VMM and assignment, then clearing them. */
	f->now += 5;
	assert_int_equal(store_desktop_set_vmm(s, a, 1234, "/tmp/a.sock"), 0);
	assert_int_equal(store_desktop_assign(s, a, "bob"), 0);
	assert_int_equal(store_desktop_get(s, a, &d), 0);
	assert_int_equal(d.vmm_pid, 1234);
	assert_string_equal(d.socket, "/tmp/a.sock");
	assert_string_equal(d.assigned_user, "bob");
	assert_int_equal(d.updated, f->now);
	assert_int_equal(store_desktop_set_vmm(s, a, 0, NULL), 0);
	assert_int_equal(store_desktop_assign(s, a, NULL), 0);
	assert_int_equal(store_desktop_get(s, a, &d), 0);
	assert_int_equal(d.vmm_pid, 0);
	assert_string_equal(d.socket, "");
	assert_string_equal(d.assigned_user, "");
	assert_int_equal(store_desktop_set_vmm(s, 9999, 1, "x"), -ENOENT);
	assert_int_equal(store_desktop_set_vmm(s, a, -1, "x"), -EINVAL);
	char longpath[STORE_PATH_MAX + 8];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(store_desktop_set_vmm(s, a, 1, longpath), -ENAMETOOLONG);
	assert_int_equal(store_desktop_assign(s, 9999, "bob"), -ENOENT);

	assert_int_equal(store_desktop_delete(s, b), 0);
	assert_int_equal(store_desktop_delete(s, b), -ENOENT);
	assert_int_equal(store_desktop_get(s, b, &d), -ENOENT);
	/* A deleted desktop's name is free again. */
	assert_int_equal(store_desktop_insert(s, "p2-b", "p2", STORE_DESKTOP_STOPPED, NULL), 0);
}

static void test_state_names(void **state)
{
	(void)state;
	enum store_desktop_state st;
	for (int i = 0; i < STORE_DESKTOP_STATE_COUNT; i++) {
		const char *name = store_desktop_state_name((enum store_desktop_state)i);
		assert_non_null(name);
		assert_int_equal(store_desktop_state_parse(name, &st), 0);
		assert_int_equal(st, i);
	}
	assert_null(store_desktop_state_name(STORE_DESKTOP_STATE_COUNT));
	assert_null(store_desktop_state_name(STORE_DESKTOP_ANY));
	assert_int_equal(store_desktop_state_parse("exploded", &st), -EINVAL);
	assert_int_equal(store_desktop_state_parse("", &st), -EINVAL);
	assert_int_equal(store_desktop_state_parse(NULL, &st), -EINVAL);
	assert_string_equal(store_desktop_state_name(STORE_DESKTOP_RUNNING), "running");
	assert_string_equal(store_session_state_name(STORE_SESSION_DISCONNECTED), "disconnected");
	assert_null(store_session_state_name(STORE_SESSION_STATE_COUNT));
}

static void test_state_transitions_audited(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t id;
	assert_int_equal(store_desktop_insert(s, "d1", "demo", STORE_DESKTOP_PROVISIONING, &id), 0);
	assert_int_equal(store_desktop_assign(s, id, "carol"), 0);
	enum store_desktop_state path[] = {STORE_DESKTOP_STOPPED, STORE_DESKTOP_STARTING, STORE_DESKTOP_RUNNING,
					   STORE_DESKTOP_STOPPING, STORE_DESKTOP_FAILED};
	for (size_t i = 0; i < 5; i++) {
		f->now++;
		assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, path[i]), 0);
	}
	struct store_desktop d;
	assert_int_equal(store_desktop_get(s, id, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_FAILED);
	assert_int_equal(d.updated, f->now);

	/* Refusals change nothing and record nothing. */
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, STORE_DESKTOP_STATE_COUNT), -EINVAL);
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, (enum store_desktop_state) - 5), -EINVAL);
	assert_int_equal(store_desktop_set_state(s, id, (enum store_desktop_state)9, STORE_DESKTOP_STOPPED), -EINVAL);
	assert_int_equal(store_desktop_set_state(s, 9999, STORE_DESKTOP_ANY, STORE_DESKTOP_STOPPED), -ENOENT);
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_RUNNING, STORE_DESKTOP_STOPPED), -ESTALE);
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, STORE_DESKTOP_FAILED), 0); /* same */
	assert_int_equal(store_desktop_get(s, id, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_FAILED);
	/* With the expected state it moves. */
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_FAILED, STORE_DESKTOP_PROVISIONING), 0);

	/* The schema itself refuses a state the enum does not have. */
	assert_int_equal(raw_exec(f->path, "UPDATE desktops SET state = 'exploded'"), SQLITE_CONSTRAINT_CHECK);

	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 100, "desktop_state", &a, &n), 0);
	assert_int_equal(n, 6);
	const char *want[] = {"provisioning -> stopped", "stopped -> starting", "starting -> running",
			      "running -> stopping",     "stopping -> failed",  "failed -> provisioning"};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(a[i].event, "desktop_state");
		assert_string_equal(a[i].detail, want[i]);
		assert_string_equal(a[i].desktop, "d1");
		assert_string_equal(a[i].pool, "demo");
		assert_string_equal(a[i].user, "carol");
		if (i < 5)
			assert_int_equal(a[i].time, 1700000001 + (int64_t)i);
	}
	free(a);
	assert_int_equal(store_audit_list(s, 0, 100, NULL, &a, &n), 0);
	assert_int_equal(n, 6); /* nothing else was recorded */
	free(a);
}

/* A state change and its audit record are one: when the record cannot be
 * written (a trigger refuses it here), the state does not change either. */
static void test_state_change_atomic_with_audit(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t id, ok;
	assert_int_equal(store_desktop_insert(s, "boom", "p", STORE_DESKTOP_STOPPED, &id), 0);
	assert_int_equal(store_desktop_insert(s, "fine", "p", STORE_DESKTOP_STOPPED, &ok), 0);
	assert_int_equal(raw_exec(f->path, "CREATE TRIGGER refuse BEFORE INSERT ON audit WHEN NEW.desktop = 'boom'"
					   " BEGIN SELECT RAISE(ABORT, 'refused'); END"),
			 SQLITE_OK);
	struct store_desktop d;
	assert_true(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, STORE_DESKTOP_STARTING) < 0);
	assert_int_equal(store_desktop_get(s, id, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_STOPPED);

	/* Inside a caller's transaction: that write alone is undone. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_desktop_set_state(s, ok, STORE_DESKTOP_ANY, STORE_DESKTOP_STARTING), 0);
	assert_true(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, STORE_DESKTOP_STARTING) < 0);
	assert_int_equal(store_desktop_get(s, id, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_STOPPED);
	assert_int_equal(store_commit(s), 0);
	s = reopen(f);
	assert_int_equal(store_desktop_get(s, id, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_STOPPED);
	assert_int_equal(store_desktop_get(s, ok, &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_STARTING);
	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 10, NULL, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].desktop, "fine");
	free(a);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t d1, d2, id, id2, other;
	assert_int_equal(store_desktop_insert(s, "d1", "p", STORE_DESKTOP_RUNNING, &d1), 0);
	assert_int_equal(store_desktop_insert(s, "d2", "p", STORE_DESKTOP_RUNNING, &d2), 0);
	assert_int_equal(store_session_upsert(s, "dave", "p", d1, STORE_SESSION_CONNECTED, "vnc", "1.2.3.4:5", &id), 0);
	struct store_session x;
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_int_equal(x.id, id);
	assert_int_equal(x.state, STORE_SESSION_CONNECTED);
	assert_int_equal(x.started, 1700000000);
	assert_int_equal(x.last_seen, 1700000000);
	assert_int_equal(x.disconnected_at, 0);
	assert_int_equal(store_session_get_by_desktop(s, d1, &x), 0);
	assert_int_equal(x.id, id);
	assert_int_equal(store_session_get_by_desktop(s, d2, &x), -ENOENT);

	/* Disconnect, then disconnect again: the first time is kept. */
	f->now += 60;
	assert_int_equal(store_session_set_state(s, id, STORE_SESSION_DISCONNECTED), 0);
	f->now += 60;
	assert_int_equal(store_session_set_state(s, id, STORE_SESSION_DISCONNECTED), 0);
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_int_equal(x.state, STORE_SESSION_DISCONNECTED);
	assert_int_equal(x.disconnected_at, 1700000060);
	assert_int_equal(x.last_seen, 1700000120);

	/* Reconnect through upsert from the other protocol: same session, same start. */
	f->now += 60;
	assert_int_equal(store_session_upsert(s, "dave", "p", d1, STORE_SESSION_CONNECTED, "rdp", "1.2.3.4:6", &id2),
			 0);
	assert_int_equal(id2, id);
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_string_equal(x.protocol, "rdp");
	assert_string_equal(x.address, "1.2.3.4:6");
	assert_int_equal(x.started, 1700000000);
	assert_int_equal(x.last_seen, 1700000180);
	assert_int_equal(x.disconnected_at, 0);
	f->now += 1;
	assert_int_equal(store_session_touch(s, id), 0);
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_int_equal(x.last_seen, 1700000181);
	/* Upsert as disconnected keeps the first disconnect time too. */
	assert_int_equal(store_session_upsert(s, "dave", "p", d1, STORE_SESSION_DISCONNECTED, NULL, NULL, NULL), 0);
	f->now += 9;
	assert_int_equal(store_session_upsert(s, "dave", "p", d1, STORE_SESSION_DISCONNECTED, NULL, NULL, NULL), 0);
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_int_equal(x.disconnected_at, 1700000181);
	assert_string_equal(x.protocol, "");
	assert_int_equal(store_session_set_state(s, id, STORE_SESSION_CONNECTED), 0);
	assert_int_equal(store_session_get(s, "dave", "p", &x), 0);
	assert_int_equal(x.disconnected_at, 0);

	/* One session per (user, pool): another pool is another session. */
	assert_int_equal(store_session_upsert(s, "dave", "q", 0, STORE_SESSION_CONNECTED, "rdp", NULL, &other), 0);
	assert_true(other != id);
	assert_int_equal(store_session_get(s, "dave", "q", &x), 0);
	assert_int_equal(x.desktop_id, 0);
	struct store_session *list;
	size_t n;
	assert_int_equal(store_session_list(s, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, id);
	assert_int_equal(list[1].id, other);
	free(list);
	assert_int_equal(raw_exec(f->path, "INSERT INTO sessions(user, pool, state) VALUES('dave', 'p', 'connected')"),
			 SQLITE_CONSTRAINT_UNIQUE);

	/* Failures. */
	assert_int_equal(store_session_upsert(s, "erin", "p", 9999, STORE_SESSION_CONNECTED, "rdp", NULL, NULL),
			 -ENOENT);
	assert_int_equal(store_session_get(s, "erin", "p", &x), -ENOENT);
	assert_int_equal(store_session_upsert(s, "", "p", 0, STORE_SESSION_CONNECTED, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(store_session_upsert(s, "erin", NULL, 0, STORE_SESSION_CONNECTED, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(store_session_upsert(s, "erin", "p", -1, STORE_SESSION_CONNECTED, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(store_session_upsert(s, "erin", "p", 0, (enum store_session_state)2, NULL, NULL, NULL),
			 -EINVAL);
	assert_int_equal(
	    store_session_upsert(s, "erin", "p", 0, STORE_SESSION_CONNECTED, "a-protocol-name-too-long", NULL, NULL),
	    -ENAMETOOLONG);
	assert_int_equal(store_session_set_state(s, 9999, STORE_SESSION_CONNECTED), -ENOENT);
	assert_int_equal(store_session_set_state(s, id, (enum store_session_state)5), -EINVAL);
	assert_int_equal(store_session_touch(s, 9999), -ENOENT);
	assert_int_equal(store_session_get_by_desktop(s, 0, &x), -EINVAL);

	assert_int_equal(store_session_delete(s, other), 0);
	assert_int_equal(store_session_delete(s, other), -ENOENT);
	assert_int_equal(store_session_get(s, "dave", "q", &x), -ENOENT);
}

static void test_desktop_delete_sets_session_null(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t d, id;
	assert_int_equal(store_desktop_insert(s, "gone", "p", STORE_DESKTOP_RUNNING, &d), 0);
	assert_int_equal(store_session_upsert(s, "frank", "p", d, STORE_SESSION_DISCONNECTED, "vnc", NULL, &id), 0);
	assert_int_equal(store_desktop_delete(s, d), 0);
	struct store_session x;
	assert_int_equal(store_session_get(s, "frank", "p", &x), 0);
	assert_int_equal(x.id, id);
	assert_int_equal(x.desktop_id, 0);
	assert_int_equal(store_session_get_by_desktop(s, d, &x), -ENOENT);
	reopen(f); /* and it is so on disk */
	assert_int_equal(store_session_get(f->s, "frank", "p", &x), 0);
	assert_int_equal(x.desktop_id, 0);
}

/* ---- audit ---- */

/* Records older than the retention go, in batches of the given size, the oldest first; younger ones stay. */
static void test_audit_prune(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	for (int i = 0; i < 30; i++) {
		f->now = 1700000000 + i * 86400;
		assert_int_equal(store_audit_append(s, "login_failed", "u", "10.1.1.1", NULL, NULL, "d", NULL), 0);
	}
	f->now = 1700000000 + 29 * 86400;
	/* Older than 10 days: the first 19 (day 0 to 18). */
	assert_int_equal(store_audit_prune(s, 10 * 86400, 15), 15);
	assert_int_equal(store_audit_prune(s, 10 * 86400, 15), 4);
	assert_int_equal(store_audit_prune(s, 10 * 86400, 15), 0);
	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 1000, NULL, &a, &n), 0);
	assert_int_equal(n, 11);
	assert_int_equal(a[0].time, 1700000000 + 19 * 86400);
	free(a);
	assert_int_equal(store_audit_prune(s, -1, 10), -EINVAL);
	assert_int_equal(store_audit_prune(s, 0, 0), -EINVAL);
}

static void test_audit_paging(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	const char *kinds[] = {"login", "login_failed", "connect"};
	for (int i = 0; i < 2500; i++) {
		char user[32], detail[32];
		snprintf(user, sizeof(user), "user%d", i);
		snprintf(detail, sizeof(detail), "n=%d", i);
		f->now = 1700000000 + i;
		assert_int_equal(store_audit_append(s, kinds[i % 3], user, "10.1.1.1:1", "p", NULL, detail, NULL), 0);
	}
	/* All of it, 1000 at a time, oldest first. */
	int64_t after = 0;
	int seen = 0;
	size_t pages[4];
	for (int p = 0; p < 4; p++) {
		struct store_audit *a;
		size_t n;
		assert_int_equal(store_audit_list(s, after, 1000, NULL, &a, &n), 0);
		pages[p] = n;
		for (size_t i = 0; i < n; i++, seen++) {
			char want[32];
			snprintf(want, sizeof(want), "n=%d", seen);
			assert_string_equal(a[i].detail, want);
			assert_string_equal(a[i].event, kinds[seen % 3]);
			assert_int_equal(a[i].time, 1700000000 + seen);
			assert_true(a[i].id > after);
			after = a[i].id;
		}
		free(a);
	}
	assert_int_equal(pages[0], 1000);
	assert_int_equal(pages[1], 1000);
	assert_int_equal(pages[2], 500);
	assert_int_equal(pages[3], 0);
	assert_int_equal(seen, 2500);

	/* Only one kind, in pages of 300. */
	after = 0;
	seen = 0;
	for (;;) {
		struct store_audit *a;
		size_t n;
		assert_int_equal(store_audit_list(s, after, 300, "connect", &a, &n), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++, seen++) {
			char want[32];
			snprintf(want, sizeof(want), "n=%d", seen * 3 + 2);
			assert_string_equal(a[i].detail, want);
			after = a[i].id;
		}
		free(a);
	}
	assert_int_equal(seen, 833);

	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 0, NULL, &a, &n), -EINVAL);
	assert_int_equal(store_audit_list(s, 0, 1001, NULL, &a, &n), -EINVAL);
	assert_int_equal(store_audit_list(s, -1, 10, NULL, &a, &n), -EINVAL);
	assert_int_equal(store_audit_list(s, 0, 10, "never", &a, &n), 0);
	assert_int_equal(n, 0);

	/* Counts since a time. */
	struct store_event_count *c;
	assert_int_equal(store_audit_count_events(s, 1700000000 + 2400, &c, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].event, "connect");
	assert_string_equal(c[1].event, "login");
	assert_string_equal(c[2].event, "login_failed");
	assert_int_equal(c[0].count + c[1].count + c[2].count, 100);
	assert_int_equal(c[1].count, 34); /* i in 2400..2499 with i % 3 == 0 */
	free(c);
	assert_int_equal(store_audit_count_events(s, 1800000000, &c, &n), 0);
	assert_int_equal(n, 0);
}

static void test_audit_fields(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	assert_int_equal(store_audit_append(s, NULL, "u", NULL, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(store_audit_append(s, "", "u", NULL, NULL, NULL, NULL, NULL), -EINVAL);
	/* Over-long values are cut at a character boundary, not refused. */
	char detail[2000];
	size_t len = 0;
	while (len + 2 < sizeof(detail)) {
		detail[len++] = (char)0xc3; /* "é" */
		detail[len++] = (char)0xa9;
	}
	detail[len] = 0;
	char user[1000];
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = 0;
	int64_t id;
	assert_int_equal(store_audit_append(s, "login_failed", user, "a\nb", NULL, NULL, detail, &id), 0);
	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, id - 1, 1, NULL, &a, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].id, id);
	assert_int_equal(strlen(a[0].user), STORE_USER_MAX - 1);
	assert_int_equal(strlen(a[0].detail), STORE_DETAIL_MAX - 2); /* 510 bytes: 255 whole characters */
	assert_int_equal((unsigned char)a[0].detail[strlen(a[0].detail) - 1], 0xa9);
	assert_string_equal(a[0].address, "a\nb");
	assert_string_equal(a[0].pool, "");
	free(a);
}

static void test_counts(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	int64_t ids[5];
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(
		    store_desktop_insert(s, name, "p", i < 3 ? STORE_DESKTOP_RUNNING : STORE_DESKTOP_STOPPED, &ids[i]),
		    0);
	}
	assert_int_equal(store_desktop_set_state(s, ids[4], STORE_DESKTOP_ANY, STORE_DESKTOP_FAILED), 0);
	assert_int_equal(store_session_upsert(s, "u1", "p", ids[0], STORE_SESSION_CONNECTED, "rdp", NULL, NULL), 0);
	assert_int_equal(store_session_upsert(s, "u2", "p", ids[1], STORE_SESSION_DISCONNECTED, "vnc", NULL, NULL), 0);
	assert_int_equal(store_session_upsert(s, "u3", "p", ids[2], STORE_SESSION_CONNECTED, "vnc", NULL, NULL), 0);
	struct store_counts c;
	assert_int_equal(store_count_states(s, &c), 0);
	assert_int_equal(c.desktops[STORE_DESKTOP_RUNNING], 3);
	assert_int_equal(c.desktops[STORE_DESKTOP_STOPPED], 1);
	assert_int_equal(c.desktops[STORE_DESKTOP_FAILED], 1);
	assert_int_equal(c.desktops[STORE_DESKTOP_PROVISIONING], 0);
	assert_int_equal(c.sessions[STORE_SESSION_CONNECTED], 2);
	assert_int_equal(c.sessions[STORE_SESSION_DISCONNECTED], 1);
}

/* ---- transactions ---- */

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->s;
	struct store_desktop d;
	assert_int_equal(store_commit(s), -EINVAL);
	assert_int_equal(store_rollback(s), -EINVAL);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), -EBUSY);
	int64_t id;
	assert_int_equal(store_desktop_insert(s, "t1", "p", STORE_DESKTOP_STOPPED, &id), 0);
	assert_int_equal(store_desktop_get(s, id, &d), 0); /* visible inside */
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_desktop_get_by_name(s, "t1", &d), -ENOENT);

	/* A failing write inside undoes only itself. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_desktop_insert(s, "t1", "p", STORE_DESKTOP_STOPPED, &id), 0);
	assert_int_equal(store_desktop_insert(s, "t1", "p", STORE_DESKTOP_STOPPED, NULL), -EEXIST);
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_ANY, STORE_DESKTOP_STARTING), 0);
	assert_int_equal(store_desktop_set_state(s, id, STORE_DESKTOP_STOPPED, STORE_DESKTOP_RUNNING), -ESTALE);
	assert_int_equal(store_audit_append(s, "assign", "u", NULL, "p", "t1", NULL, NULL), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_desktop_get_by_name(s, "t1", &d), 0);
	assert_int_equal(d.state, STORE_DESKTOP_STARTING);
	reopen(f);
	s = f->s;
	struct store_audit *a;
	size_t n;
	assert_int_equal(store_audit_list(s, 0, 10, NULL, &a, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].detail, "stopped -> starting");
	assert_string_equal(a[1].event, "assign");
	free(a);

	/* Closing with a transaction open rolls it back. */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_desktop_insert(s, "t2", "p", STORE_DESKTOP_STOPPED, NULL), 0);
	s = reopen(f);
	assert_int_equal(store_desktop_get_by_name(s, "t2", &d), -ENOENT);
}

/* ---- threads ---- */

struct worker {
	struct store *s;
	int index;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 300 && !w->rc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d-%d", w->index, i);
		int64_t id;
		w->rc = store_desktop_insert(w->s, name, "p", STORE_DESKTOP_STOPPED, &id);
		if (!w->rc)
			w->rc = store_desktop_set_state(w->s, id, STORE_DESKTOP_STOPPED, STORE_DESKTOP_RUNNING);
		if (w->rc)
			break;
		/* Read, decide, write: safe only if store_begin() keeps other threads out. */
		w->rc = store_begin(w->s);
		if (w->rc)
			break;
		struct store_pool p;
		int count = 0;
		if (store_pool_get(w->s, "counter", &p) == 0) {
			count = atoi(p.spec);
			store_pool_clear(&p);
		}
		char spec[32];
		snprintf(spec, sizeof(spec), "%d", count + 1);
		w->rc = store_pool_put(w->s, "counter", spec, STORE_POOL_API);
		int c = store_commit(w->s);
		if (!w->rc)
			w->rc = c;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[2] = {{f->s, 0, 0}, {f->s, 1, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	struct store_counts c;
	assert_int_equal(store_count_states(f->s, &c), 0);
	assert_int_equal(c.desktops[STORE_DESKTOP_RUNNING], 600);
	struct store_pool p;
	assert_int_equal(store_pool_get(f->s, "counter", &p), 0);
	assert_string_equal(p.spec, "600");
	store_pool_clear(&p);
	struct store_event_count *e;
	size_t n;
	assert_int_equal(store_audit_count_events(f->s, 0, &e, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].count, 600);
	free(e);
}

/* ---- durability ---- */

/* The child: commits rows forever, telling the parent each committed count
 * (only after store_audit_append() returned), then holds an uncommitted
 * transaction when told to. Killed by the parent with SIGKILL. */
static void child_writer(const char *path, int ack_fd, int go_fd)
{
	char err[256];
	struct store *s = store_open(path, err, sizeof(err));
	if (!s)
		_exit(2);
	for (uint32_t i = 1;; i++) {
		char detail[32];
		snprintf(detail, sizeof(detail), "row %u", i);
		if (store_audit_append(s, "durable", NULL, NULL, NULL, NULL, detail, NULL))
			_exit(3);
		if (write(ack_fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
		if (i == 500) {
			char go;
			if (read(go_fd, &go, 1) != 1)
				_exit(5);
			/* Uncommitted work the kill must discard. */
			if (store_begin(s))
				_exit(6);
			for (int j = 0; j < 50; j++)
				if (store_audit_append(s, "uncommitted", NULL, NULL, NULL, NULL, NULL, NULL))
					_exit(7);
			uint32_t mark = UINT32_MAX;
			if (write(ack_fd, &mark, sizeof(mark)) != sizeof(mark))
				_exit(8);
			pause();
		}
	}
}

static void test_sigkill_loses_nothing_committed(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	f->s = NULL;
	int ack[2], go[2];
	assert_int_equal(pipe(ack), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ack[0]);
		close(go[1]);
		child_writer(f->path, ack[1], go[0]);
		_exit(1);
	}
	close(ack[1]);
	close(go[0]);
	uint32_t last = 0, v;
	/* First kill: mid-run, wherever the child is. */
	while (last < 200 && read(ack[0], &v, sizeof(v)) == sizeof(v))
		last = v;
	assert_int_equal(last, 200);
	assert_int_equal(write(go[1], "g", 1), 1); /* read only at row 500: lets the writer run on */
	while (last < 500 && read(ack[0], &v, sizeof(v)) == sizeof(v))
		last = v;
	assert_int_equal(last, 500);
	assert_int_equal(read(ack[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(v, UINT32_MAX); /* inside its open transaction now */
	assert_int_equal(kill(pid, SIGKILL), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(ack[0]);
	close(go[1]);

	reopen(f);
	int64_t after = 0;
	uint32_t seen = 0;
	for (;;) {
		struct store_audit *a;
		size_t n;
		assert_int_equal(store_audit_list(f->s, after, 1000, NULL, &a, &n), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			seen++;
			char want[32];
			snprintf(want, sizeof(want), "row %u", seen);
			assert_string_equal(a[i].event, "durable");
			assert_string_equal(a[i].detail, want);
			after = a[i].id;
		}
		free(a);
	}
	assert_int_equal(seen, 500);
}

/* The same, killed at a moment it does not choose: every acknowledged row is there. */
static void test_sigkill_mid_run(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	f->s = NULL;
	int ack[2], go[2];
	assert_int_equal(pipe(ack), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ack[0]);
		close(go[1]);
		child_writer(f->path, ack[1], go[0]);
		_exit(1);
	}
	close(ack[1]);
	close(go[0]);
	uint32_t last = 0, v;
	while (last < 300 && read(ack[0], &v, sizeof(v)) == sizeof(v))
		last = v;
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* Acknowledgements already in the pipe were committed too. */
	while (read(ack[0], &v, sizeof(v)) == sizeof(v))
		last = v;
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(ack[0]);
	close(go[1]);
	assert_true(last >= 300);

	reopen(f);
	struct store_event_count *c;
	size_t n;
	assert_int_equal(store_audit_count_events(f->s, 0, &c, &n), 0);
	assert_int_equal(n, 1);
	/* At most one row committed but not yet acknowledged. */
	assert_true(c[0].count == last || c[0].count == last + 1);
	free(c);
}

int main(void)
{
	log_set_level(LOG_WARN); /* the audit's info lines, thousands of them */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_and_pragmas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrates_old_empty_database, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	    cmocka_unit_test(test_migrate_v1_keeps_sessions),
	    cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_desktops, setup, teardown),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test_setup_teardown(test_state_transitions_audited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_change_atomic_with_audit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_desktop_delete_sets_session_null, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_paging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_loses_nothing_committed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_mid_run, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
