/* test_auth.c — auth/'s face: configuration errors, user management refused with PAM, system group
 * membership for PAM users (the real passwd and group databases), admin lists, audit of a login. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../auth/auth.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bad_configurations_are_refused_with_a_reason(void **state)
{
	(void)state;
	char err[256];
	struct auth_config cfg = {.backend = AUTH_BACKEND_FILE};
	assert_null(auth_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "users file"));

	cfg = (struct auth_config){.backend = AUTH_BACKEND_PAM, .pam_service = "../../etc/shadow"};
	assert_null(auth_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "PAM service name"));
	cfg.pam_service = "";
	assert_null(auth_create(&cfg, err, sizeof(err)));

	cfg = (struct auth_config){.backend = AUTH_BACKEND_PAM, .admins = "alice *"};
	assert_null(auth_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "admins"));
	cfg.admins = "alice @ bob";
	assert_null(auth_create(&cfg, err, sizeof(err)));

	cfg = (struct auth_config){.backend = AUTH_BACKEND_FILE, .users_file = "/"};
	assert_null(auth_create(&cfg, err, sizeof(err)));
	assert_string_equal(err, "/: cannot read the users file");

	cfg = (struct auth_config){.backend = (enum auth_backend)7};
	assert_null(auth_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "backend"));
}

static void pam_backend_has_no_user_management(void **state)
{
	(void)state;
	struct auth_config cfg = {.backend = AUTH_BACKEND_PAM};
	struct auth *a = auth_create(&cfg, NULL, 0);
	assert_non_null(a);
	assert_int_equal(auth_user_add(a, "alice", "pw", NULL), -ENOTSUP);
	assert_int_equal(auth_user_passwd(a, "alice", "pw"), -ENOTSUP);
	assert_int_equal(auth_user_del(a, "alice"), -ENOTSUP);
	assert_int_equal(auth_user_list(a, NULL, NULL), -ENOTSUP);
	/* Nobody is an admin unless named. */
	assert_false(auth_is_admin(a, "root"));
	auth_destroy(a);
}

/* A user who is a supplementary member of some group on this machine, if there is one. */
static bool find_supplementary(char *user, size_t ulen, char *group, size_t glen)
{
	bool found = false;
	setgrent();
	for (struct group *g; !found && (g = getgrent());) {
		for (char **m = g->gr_mem; m && *m && !found; m++) {
			struct passwd *pw = getpwnam(*m);
			if (pw && pw->pw_gid != g->gr_gid) {
				snprintf(user, ulen, "%s", *m);
				snprintf(group, glen, "%s", g->gr_name);
				found = true;
			}
		}
	}
	endgrent();
	return found;
}

static void pam_users_have_system_groups(void **state)
{
	(void)state;
	struct auth_config cfg = {.backend = AUTH_BACKEND_PAM, .admins = "@root operator"};
	struct auth *a = auth_create(&cfg, NULL, 0);
	assert_non_null(a);
	/* Primary groups, from the real passwd database. */
	assert_true(auth_in_list(a, "root", "@root"));
	assert_true(auth_in_list(a, "daemon", "@nogroup-xyz @daemon"));
	assert_false(auth_in_list(a, "daemon", "@root"));
	assert_false(auth_in_list(a, "no-such-user-xyz", "@root"));
	assert_false(auth_in_list(a, "root", "@no-such-group-xyz"));
	assert_true(auth_in_list(a, "no-such-user-xyz", "*"));
	assert_true(auth_is_admin(a, "root"));
	assert_true(auth_is_admin(a, "operator"));
	assert_false(auth_is_admin(a, "daemon"));
	char user[256], group[256], list[300];
	if (find_supplementary(user, sizeof(user), group, sizeof(group))) {
		snprintf(list, sizeof(list), "@%s", group);
		assert_true(auth_in_list(a, user, list));
	} else {
		print_message("no supplementary group member on this machine; primary groups only\n");
	}
	auth_destroy(a);
}

struct audit_log {
	char text[1024];
};

static void record(void *opaque, const char *event, const char *user, const char *address, const char *detail)
{
	struct audit_log *log = opaque;
	size_t n = strlen(log->text);
	snprintf(log->text + n, sizeof(log->text) - n, "%s %s %s %s|", event, user, address, detail);
}

static void logins_are_audited(void **state)
{
	(void)state;
	char dir[] = "/tmp/vdi-auth.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/users", dir);
	struct audit_log log = {""};
	struct auth_config cfg = {
	    .backend = AUTH_BACKEND_FILE, .users_file = path, .audit = record, .audit_opaque = &log};
	struct auth *a = auth_create(&cfg, NULL, 0);
	assert_non_null(a);
	assert_int_equal(auth_user_add(a, "alice", "s3cret-pass", NULL), 0);
	assert_int_equal(auth_check(a, "alice", "s3cret-pass", "192.0.2.1", NULL), AUTH_OK);
	assert_int_equal(auth_check(a, "alice", "guess", "192.0.2.1", NULL), AUTH_DENIED);
	assert_string_equal(log.text, "login_ok alice 192.0.2.1 file|login_failed alice 192.0.2.1 wrong user name or "
				      "password|");
	/* The password appears nowhere in the audit trail. */
	assert_null(strstr(log.text, "s3cret"));
	assert_null(strstr(log.text, "guess"));
	auth_destroy(a);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_configurations_are_refused_with_a_reason),
	    cmocka_unit_test(pam_backend_has_no_user_management),
	    cmocka_unit_test(pam_users_have_system_groups),
	    cmocka_unit_test(logins_are_audited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
