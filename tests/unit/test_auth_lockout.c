/* test_auth_lockout.c — auth/'s lockout through auth_check() on a real users file with an injected
 * clock: per-user and per-address lockouts, no backend call while locked, release after the duration,
 * the window, success resetting, audit events; and the table staying bounded under a spray. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../auth/auth.h"
#include "../../auth/auth_lockout.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t fake_now = 1000;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct fixture {
	char dir[64];
	char path[128];
	char events[4096]; /* "event user address detail|" per audit call */
	struct auth *auth;
};

static void record(void *opaque, const char *event, const char *user, const char *address, const char *detail)
{
	struct fixture *fx = opaque;
	size_t n = strlen(fx->events);
	snprintf(fx->events + n, sizeof(fx->events) - n, "%s %s %s %s|", event, user, address, detail);
}

static struct auth *make_auth(struct fixture *fx, unsigned attempts, unsigned window, unsigned duration)
{
	struct auth_config cfg = {
	    .backend = AUTH_BACKEND_FILE,
	    .users_file = fx->path,
	    .lockout_attempts = attempts,
	    .lockout_window_s = window,
	    .lockout_duration_s = duration,
	    .clock = fake_clock,
	    .audit = record,
	    .audit_opaque = fx,
	};
	char err[256] = "";
	struct auth *a = auth_create(&cfg, err, sizeof(err));
	if (!a)
		fail_msg("auth_create: %s", err);
	return a;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	strcpy(fx->dir, "/tmp/vdi-auth-lockout.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/users", fx->dir);
	fx->auth = make_auth(fx, 0, 0, 0); /* the defaults: 5 in 600 s lock for 300 s */
	assert_int_equal(auth_user_add(fx->auth, "alice", "right", NULL), 0);
	assert_int_equal(auth_user_add(fx->auth, "bob", "bobs", NULL), 0);
	fake_now = 1000;
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

static uint64_t backend_calls(struct auth *a)
{
	struct auth_stats st;
	auth_get_stats(a, &st);
	return st.backend_calls;
}

static void five_failures_lock_the_user(void **state)
{
	struct fixture *fx = *state;
	unsigned left = 99;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(auth_check(fx->auth, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
		assert_int_equal(left, 0);
		fake_now += 10;
	}
	assert_int_equal(auth_check(fx->auth, "alice", "wrong", "192.0.2.2", &left), AUTH_DENIED);
	assert_int_equal(left, 300);
	assert_non_null(strstr(fx->events, "lockout alice 192.0.2.2 user locked out for 300 s|"));
	uint64_t calls = backend_calls(fx->auth);
	assert_int_equal(calls, 5);

	/* The right password, from another address: still locked, and no hash was computed. */
	fake_now += 100;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.9", &left), AUTH_LOCKED);
	assert_int_equal(left, 200);
	assert_int_equal(backend_calls(fx->auth), calls);
	assert_non_null(strstr(fx->events, "locked_refused alice 198.51.100.9 locked out for 200 more s|"));
	/* Other users are not affected. */
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "198.51.100.9", NULL), AUTH_OK);

	fake_now += 199;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.9", &left), AUTH_LOCKED);
	assert_int_equal(left, 1);
	fake_now += 1;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.9", &left), AUTH_OK);
	assert_int_equal(left, 0);

	struct auth_stats st;
	auth_get_stats(fx->auth, &st);
	assert_int_equal(st.lockouts, 1);
	assert_int_equal(st.locked_refused, 2);
	assert_int_equal(st.logins_failed, 5);
	assert_int_equal(st.logins_ok, 2);
}

static void failures_outside_the_window_do_not_add_up(void **state)
{
	struct fixture *fx = *state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_check(fx->auth, "alice", "wrong", NULL, NULL), AUTH_DENIED);
	fake_now += 600;
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_check(fx->auth, "alice", "wrong", NULL, NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "alice", "right", NULL, NULL), AUTH_OK);
	assert_null(strstr(fx->events, "lockout"));
}

static void one_address_many_names(void **state)
{
	struct fixture *fx = *state;
	const char *names[] = {"root", "admin", "guest", "bob", "nobody"};
	unsigned left = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(auth_check(fx->auth, names[i], "guess", "203.0.113.5", &left), AUTH_DENIED);
	assert_int_equal(left, 300);
	assert_non_null(strstr(fx->events, "lockout nobody 203.0.113.5 address locked out for 300 s|"));
	uint64_t calls = backend_calls(fx->auth);
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.5", &left), AUTH_LOCKED);
	assert_int_equal(left, 300);
	assert_int_equal(backend_calls(fx->auth), calls);
	/* The same user from elsewhere is fine: only the address is locked. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.6", NULL), AUTH_OK);
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "203.0.113.6", NULL), AUTH_OK);
}

static void success_resets_the_user(void **state)
{
	struct fixture *fx = *state;
	char addr[32];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			snprintf(addr, sizeof(addr), "10.0.%d.%d", round, i);
			assert_int_equal(auth_check(fx->auth, "alice", "wrong", addr, NULL), AUTH_DENIED);
		}
		assert_int_equal(auth_check(fx->auth, "alice", "right", "10.1.1.1", NULL), AUTH_OK);
	}
	assert_null(strstr(fx->events, "lockout"));
}

static void limits_are_configurable(void **state)
{
	struct fixture *fx = *state;
	struct auth *a = make_auth(fx, 2, 10, 30);
	unsigned left = 0;
	assert_int_equal(auth_check(a, "alice", "wrong", NULL, &left), AUTH_DENIED);
	fake_now += 10; /* the window has passed: this is a first failure again */
	assert_int_equal(auth_check(a, "alice", "wrong", NULL, &left), AUTH_DENIED);
	assert_int_equal(left, 0);
	fake_now += 9;
	assert_int_equal(auth_check(a, "alice", "wrong", NULL, &left), AUTH_DENIED);
	assert_int_equal(left, 30);
	assert_int_equal(auth_check(a, "alice", "right", NULL, &left), AUTH_LOCKED);
	fake_now += 30;
	assert_int_equal(auth_check(a, "alice", "right", NULL, &left), AUTH_OK);
	auth_destroy(a);
}

static void over_long_input_is_denied_without_a_hash(void **state)
{
	struct fixture *fx = *state;
	char long_name[400], long_password[2000];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memset(long_password, 'p', sizeof(long_password) - 1);
	long_password[sizeof(long_password) - 1] = '\0';
	uint64_t calls = backend_calls(fx->auth);
	assert_int_equal(auth_check(fx->auth, long_name, "x", "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "alice", long_password, "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "", "x", "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, NULL, NULL, NULL, NULL), AUTH_DENIED);
	assert_int_equal(backend_calls(fx->auth), calls);
	/* They still count: with two more, five failures from that address lock it. */
	assert_int_equal(auth_check(fx->auth, "x", "y", "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "x", "z", "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "192.0.2.1", NULL), AUTH_LOCKED);
}

/* 100,000 distinct addresses each failing once: the table stays within its bound, a user locked
 * before the spray stays locked, and once the window passes the entries are reclaimed. */
static void table_stays_bounded(void **state)
{
	(void)state;
	enum { CAP = 65536, SPRAY = 100000 };
	fake_now = 5000;
	struct auth_lockout *lo = auth_lockout_create(5, 600, 300, CAP, fake_clock);
	assert_non_null(lo);
	for (int i = 0; i < 5; i++)
		auth_lockout_failure(lo, "victim", NULL);
	assert_int_equal(auth_lockout_remaining(lo, "victim", NULL), 300);
	char addr[64], user[32];
	for (int i = 0; i < SPRAY; i++) {
		snprintf(addr, sizeof(addr), "2001:db8::%x:%x", i >> 16, i & 0xffff);
		snprintf(user, sizeof(user), "u%d", i % 1000);
		auth_lockout_failure(lo, user, addr);
		assert_true(auth_lockout_entries(lo) <= CAP);
	}
	assert_int_equal(auth_lockout_entries(lo), CAP);
	assert_int_equal(auth_lockout_remaining(lo, "victim", NULL), 300);
	/* The most recent addresses are still counted: four more failures from one lock it. */
	for (int i = 0; i < 4; i++)
		auth_lockout_failure(lo, "someone", addr);
	assert_int_equal(auth_lockout_remaining(lo, "other", addr), 300);
	fake_now += 1000;
	auth_lockout_failure(lo, "late", "192.0.2.200");
	assert_true(auth_lockout_entries(lo) <= 2);
	auth_lockout_destroy(lo);
}

static void *fail_250_times(void *lo)
{
	for (int i = 0; i < 250; i++)
		auth_lockout_failure(lo, "shared", "192.0.2.77");
	return NULL;
}

/* Four threads counting failures at once lose none: exactly the 1000th locks. */
static void threads_lose_no_failures(void **state)
{
	(void)state;
	struct auth_lockout *lo = auth_lockout_create(1000, 600, 300, 64, fake_clock);
	assert_non_null(lo);
	pthread_t t[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fail_250_times, lo), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(auth_lockout_remaining(lo, "shared", "192.0.2.77"), 0);
	assert_int_equal(pthread_create(&t[3], NULL, fail_250_times, lo), 0);
	pthread_join(t[3], NULL);
	assert_int_equal(auth_lockout_remaining(lo, "shared", "192.0.2.77"), 300);
	auth_lockout_destroy(lo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(five_failures_lock_the_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(failures_outside_the_window_do_not_add_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_address_many_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(success_resets_the_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits_are_configurable, setup, teardown),
	    cmocka_unit_test_setup_teardown(over_long_input_is_denied_without_a_hash, setup, teardown),
	    cmocka_unit_test(table_stays_bounded),
	    cmocka_unit_test(threads_lose_no_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
