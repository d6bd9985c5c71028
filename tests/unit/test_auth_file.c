/* test_auth_file.c — auth/'s users file backend on real files and real libcrypt: add, check, passwd,
 * del, list, name rules, file mode and hash format, malformed lines, changes made by other processes
 * picked up, and two processes writing at once both landing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../auth/auth.h"
#include "../../auth/auth_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];
	struct auth *auth;
};

static struct auth *open_auth(const char *path)
{
	struct auth_config cfg = {.backend = AUTH_BACKEND_FILE, .users_file = path, .admins = "root @wheel"};
	char err[256] = "";
	struct auth *a = auth_create(&cfg, err, sizeof(err));
	if (!a)
		fail_msg("auth_create: %s", err);
	return a;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	strcpy(fx->dir, "/tmp/vdi-auth-file.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/users", fx->dir);
	fx->auth = open_auth(fx->path);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	auth_destroy(fx->auth);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static enum auth_result check(struct auth *a, const char *user, const char *password)
{
	return auth_check(a, user, password, "192.0.2.1", NULL);
}

static void add_check_right_and_wrong(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "correct horse", "staff,dev"), 0);
	assert_int_equal(check(fx->auth, "alice", "correct horse"), AUTH_OK);
	assert_int_equal(check(fx->auth, "alice", "correct hors"), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "alice", ""), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "Alice", "correct horse"), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "nobody", "correct horse"), AUTH_DENIED);
}

static void hash_is_yescrypt_and_file_private(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "secret-1", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "secret-1", "staff"), 0);
	char *text = read_text(fx->path);
	assert_non_null(strstr(text, "alice:$y$"));
	assert_non_null(strstr(text, "bob:$y$"));
	assert_non_null(strstr(text, ":staff\n"));
	assert_null(strstr(text, "secret-1"));
	/* Salted: the same password gives two different hashes. */
	char *a = strstr(text, "alice:") + 6, *b = strstr(text, "bob:") + 4;
	assert_true(strncmp(a, b, (size_t)(strchr(a, ':') - a)) != 0);
	struct stat st;
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void bad_names_and_duplicates_refused(void **state)
{
	struct fixture *fx = *state;
	char name64[65], name65[66];
	memset(name64, 'a', 64);
	name64[64] = '\0';
	memset(name65, 'a', 65);
	name65[65] = '\0';
	const char *bad[] = {"", "-alice", "al ice", "al:ice", "al\nice", "al/ice", "\xc3\xa9lise", "al,ice", name65};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(auth_user_add(fx->auth, bad[i], "pw", NULL), -EINVAL);
	assert_int_equal(auth_user_add(fx->auth, name64, "pw", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "a.b_c-d9", "pw", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "a.b_c-d9", "other", NULL), -EEXIST);
	assert_int_equal(auth_user_add(fx->auth, "carol", "", NULL), -EINVAL);
	assert_int_equal(auth_user_add(fx->auth, "carol", "pw", "a,,b"), -EINVAL);
	assert_int_equal(auth_user_add(fx->auth, "carol", "pw", ",a"), -EINVAL);
	assert_int_equal(auth_user_add(fx->auth, "carol", "pw", "a b"), -EINVAL);
	assert_int_equal(auth_user_add(fx->auth, "carol", "pw", "a:b"), -EINVAL);
	/* The refused ones left nothing behind and the first password still works. */
	assert_int_equal(auth_user_list(fx->auth, NULL, NULL), 2);
	assert_int_equal(check(fx->auth, "a.b_c-d9", "pw"), AUTH_OK);
}

static void passwd_and_del(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "old password", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "bobs password", NULL), 0);
	assert_int_equal(auth_user_passwd(fx->auth, "alice", "new password"), 0);
	assert_int_equal(check(fx->auth, "alice", "old password"), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "alice", "new password"), AUTH_OK);
	assert_int_equal(auth_user_passwd(fx->auth, "nobody", "x"), -ENOENT);
	assert_int_equal(auth_user_del(fx->auth, "alice"), 0);
	assert_int_equal(check(fx->auth, "alice", "new password"), AUTH_DENIED);
	assert_int_equal(auth_user_del(fx->auth, "alice"), -ENOENT);
	assert_int_equal(check(fx->auth, "bob", "bobs password"), AUTH_OK);
	assert_null(strstr(read_text(fx->path), "alice"));
}

static void collect(void *opaque, const char *user, const char *groups)
{
	char *out = opaque;
	size_t n = strlen(out);
	snprintf(out + n, 1024 - n, "%s=%s;", user, groups);
}

static void list_never_shows_hashes(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "pw1", "staff,dev"), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "pw2", NULL), 0);
	char out[1024] = "";
	assert_int_equal(auth_user_list(fx->auth, collect, out), 2);
	assert_string_equal(out, "alice=staff,dev;bob=;");
}

/* Runs fn with stderr going to a file and returns what was logged. */
static char *capture_stderr(struct fixture *fx, void (*fn)(struct fixture *))
{
	char log_path[160];
	snprintf(log_path, sizeof(log_path), "%s/stderr", fx->dir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	close(fd);
	fn(fx);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return read_text(log_path);
}

static void reload(struct fixture *fx)
{
	assert_int_equal(check(fx->auth, "alice", "pw-a"), AUTH_OK);
}

static void malformed_lines_reported_and_skipped(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "pw-a", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "pw-b", "staff"), 0);
	char good[4096];
	snprintf(good, sizeof(good), "%s", read_text(fx->path));
	char *bob_line = strstr(good, "bob:");
	char text[8192];
	/* Line numbers: 1 comment, 2 blank, 3 alice, 4 no fields, 5 DES-style hash, 6 bad name,
	 * 7 repeated alice, 8 bad groups, 9 bob. */
	snprintf(text, sizeof(text),
		 "# vdi users\n\n%.*sjust garbage\ncarol:abcdefghijklm:\n-dave:$y$x:\nalice:$y$j9T$zz$yy:\n"
		 "erin:$y$a$b:a,,b\n%s",
		 (int)(bob_line - good), good, bob_line);
	write_text(fx->path, text);
	char *log = capture_stderr(fx, reload);
	char want[200];
	unsigned bad_lines[] = {4, 5, 6, 7, 8};
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		snprintf(want, sizeof(want), "%s:%u: line ", fx->path, bad_lines[i]);
		assert_non_null(strstr(log, want));
	}
	assert_non_null(strstr(log, "repeats a user name"));
	/* The good lines still work; the rest is skipped. */
	assert_int_equal(check(fx->auth, "bob", "pw-b"), AUTH_OK);
	assert_int_equal(check(fx->auth, "carol", "abcdefghijklm"), AUTH_DENIED);
	assert_true(auth_in_list(fx->auth, "bob", "@staff"));
	assert_int_equal(auth_user_list(fx->auth, NULL, NULL), 2);
	struct auth_file *f = auth_file_open(fx->path);
	assert_non_null(f);
	assert_int_equal(auth_file_bad_lines(f), 5);
	auth_file_close(f);
	/* A change keeps comments and the lines it could not read, for the admin to fix. */
	assert_int_equal(auth_user_add(fx->auth, "frank", "pw-f", NULL), 0);
	char *after = read_text(fx->path);
	assert_true(strncmp(after, "# vdi users\n\n", 13) == 0);
	assert_non_null(strstr(after, "\njust garbage\n"));
	assert_non_null(strstr(after, "\nfrank:$y$"));
}

/* vdictl in another process changes the file; this one sees it without a restart. */
static void changes_from_elsewhere_picked_up(void **state)
{
	struct fixture *fx = *state;
	struct auth *other = open_auth(fx->path);
	assert_int_equal(check(fx->auth, "alice", "pw-a"), AUTH_DENIED);
	assert_int_equal(auth_user_add(other, "alice", "pw-a", NULL), 0);
	assert_int_equal(check(fx->auth, "alice", "pw-a"), AUTH_OK);
	assert_int_equal(auth_user_passwd(other, "alice", "pw-b"), 0);
	assert_int_equal(check(fx->auth, "alice", "pw-a"), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "alice", "pw-b"), AUTH_OK);
	/* An editor writing in place (same inode): alice renamed to carol, in group ops. */
	char text[4096];
	snprintf(text, sizeof(text), "carol%s", strchr(read_text(fx->path), ':'));
	*strrchr(text, ':') = '\0';
	strcat(text, ":ops\n");
	write_text(fx->path, text);
	assert_int_equal(check(fx->auth, "alice", "pw-b"), AUTH_DENIED);
	assert_int_equal(check(fx->auth, "carol", "pw-b"), AUTH_OK);
	assert_true(auth_in_list(fx->auth, "carol", "@ops"));
	/* Deleted from under us: nobody is left. */
	assert_int_equal(unlink(fx->path), 0);
	assert_int_equal(check(fx->auth, "carol", "pw-b"), AUTH_DENIED);
	assert_int_equal(auth_user_list(fx->auth, NULL, NULL), 0);
	auth_destroy(other);
}

static void add_many(const char *path, const char *prefix, int n)
{
	struct auth *a = open_auth(path);
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		assert_int_equal(auth_user_add(a, name, name, NULL), 0);
	}
	auth_destroy(a);
}

static void concurrent_writers_both_land(void **state)
{
	struct fixture *fx = *state;
	enum { N = 12 };
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		add_many(fx->path, "child", N);
		_exit(0);
	}
	add_many(fx->path, "parent", N);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(auth_user_list(fx->auth, NULL, NULL), 2 * N);
	assert_int_equal(check(fx->auth, "child7", "child7"), AUTH_OK);
	assert_int_equal(check(fx->auth, "parent7", "parent7"), AUTH_OK);
}

static void in_list_users_groups_everyone(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(auth_user_add(fx->auth, "alice", "pw", "staff,dev"), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "pw", "wheel"), 0);
	assert_true(auth_in_list(fx->auth, "alice", "alice"));
	assert_true(auth_in_list(fx->auth, "alice", "  bob\talice  "));
	assert_false(auth_in_list(fx->auth, "alice", "ali alicea bob"));
	assert_true(auth_in_list(fx->auth, "alice", "@dev"));
	assert_true(auth_in_list(fx->auth, "alice", "carol @nothing @staff"));
	assert_false(auth_in_list(fx->auth, "alice", "@sta @wheel @ carol"));
	assert_false(auth_in_list(fx->auth, "alice", ""));
	assert_true(auth_in_list(fx->auth, "alice", "*"));
	assert_true(auth_in_list(fx->auth, "whoever", "bob *"));
	assert_false(auth_in_list(fx->auth, "", "*"));
	/* A user named like a group is not the group. */
	assert_false(auth_in_list(fx->auth, "staff", "@staff"));
	assert_true(auth_is_admin(fx->auth, "root"));
	assert_true(auth_is_admin(fx->auth, "bob"));
	assert_false(auth_is_admin(fx->auth, "alice"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(add_check_right_and_wrong, setup, teardown),
	    cmocka_unit_test_setup_teardown(hash_is_yescrypt_and_file_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_names_and_duplicates_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(passwd_and_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(list_never_shows_hashes, setup, teardown),
	    cmocka_unit_test_setup_teardown(malformed_lines_reported_and_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(changes_from_elsewhere_picked_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_writers_both_land, setup, teardown),
	    cmocka_unit_test_setup_teardown(in_list_users_groups_everyone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
