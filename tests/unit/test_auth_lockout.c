/* test_auth_lockout.c — auth/'s lockout through auth_check() on a real users file with an injected
 * clock (no sleeping): a (user, address) pair locked while the same user from another address is not,
 * lockouts that double up to a cap, the per-address limit against spraying names, the per-user
 * slow-down (growing delays, never for an address the user logged in from, never for an address that
 * has not failed), release after the period, no backend call while locked, audit events with unknown
 * names as keyed hashes; and the table staying bounded under a spray. */
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
	char events[32768]; /* "event user address detail|" per audit call */
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
	static const unsigned char key[32] = "a site's key of unknown names..";
	struct auth_config cfg = {
	    .backend = AUTH_BACKEND_FILE,
	    .users_file = fx->path,
	    .lockout_attempts = attempts,
	    .lockout_window_s = window,
	    .lockout_duration_s = duration,
	    .name_key = key,
	    .name_key_len = sizeof(key),
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
	/* The defaults: 5 failures of a pair or 20 of an address in 600 s lock for 300 s, doubling up to an
	 * hour; past 10 failures of a user, delays from 1 s up to 60 s. */
	fx->auth = make_auth(fx, 0, 0, 0);
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

static void wrong(struct fixture *fx, const char *user, const char *addr, unsigned expect_left)
{
	unsigned left = 99;
	assert_int_equal(auth_check(fx->auth, user, "wrong", addr, &left), AUTH_DENIED);
	assert_int_equal(left, expect_left);
}

static void five_failures_lock_the_pair_not_the_user(void **state)
{
	struct fixture *fx = *state;
	unsigned left = 99;
	for (int i = 0; i < 4; i++) {
		wrong(fx, "alice", "192.0.2.1", 0);
		fake_now += 10;
	}
	wrong(fx, "alice", "192.0.2.1", 300);
	assert_non_null(strstr(fx->events, "lockout alice 192.0.2.1 user from this address locked out for 300 s|"));
	uint64_t calls = backend_calls(fx->auth);
	assert_int_equal(calls, 5);

	/* The attacker's address, even with the right password: locked, truthfully, without a hash. */
	fake_now += 100;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "192.0.2.1", &left), AUTH_LOCKED);
	assert_int_equal(left, 200);
	assert_int_equal(backend_calls(fx->auth), calls);
	assert_non_null(strstr(fx->events, "locked_refused alice 192.0.2.1 locked out for 200 more s|"));
	/* The real alice from her own address is not locked out by those failures. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.9", &left), AUTH_OK);
	assert_int_equal(left, 0);
	/* Nor is another user from the attacker's address (5 failures are far from the address's 20). */
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "192.0.2.1", NULL), AUTH_OK);

	/* Released after the period. */
	fake_now += 199;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "192.0.2.1", &left), AUTH_LOCKED);
	assert_int_equal(left, 1);
	fake_now += 1;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "192.0.2.1", &left), AUTH_OK);
	assert_int_equal(left, 0);

	struct auth_stats st;
	auth_get_stats(fx->auth, &st);
	assert_int_equal(st.lockouts, 1);
	assert_int_equal(st.locked_refused, 2);
	assert_int_equal(st.logins_failed, 5);
	assert_int_equal(st.logins_ok, 3);
}

/* A pair that keeps failing after each release is locked twice as long each time, up to the cap; a
 * window after its last lockout ended it starts again from the first duration. */
static void lockouts_double_up_to_the_cap(void **state)
{
	struct fixture *fx = *state;
	unsigned expect[] = {300, 600, 1200, 2400, 3600, 3600};
	for (size_t round = 0; round < sizeof(expect) / sizeof(expect[0]); round++) {
		for (int i = 0; i < 4; i++)
			wrong(fx, "alice", "203.0.113.7", 0);
		wrong(fx, "alice", "203.0.113.7", expect[round]);
		/* A remembered credential (the API's cache) is refused the same. */
		unsigned left = 0;
		assert_int_equal(auth_check_remembered(fx->auth, "alice", "203.0.113.7", &left), AUTH_LOCKED);
		assert_int_equal(left, expect[round]);
		fake_now += expect[round];
	}
	fake_now += 600;
	for (int i = 0; i < 4; i++)
		wrong(fx, "alice", "203.0.113.7", 0);
	wrong(fx, "alice", "203.0.113.7", 300);
	/* All the while alice from elsewhere was never locked. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.8", NULL), AUTH_OK);
}

static void failures_outside_the_window_do_not_add_up(void **state)
{
	struct fixture *fx = *state;
	for (int i = 0; i < 4; i++)
		wrong(fx, "alice", NULL, 0);
	fake_now += 600;
	for (int i = 0; i < 4; i++)
		wrong(fx, "alice", NULL, 0);
	assert_int_equal(auth_check(fx->auth, "alice", "right", NULL, NULL), AUTH_OK);
	assert_null(strstr(fx->events, "lockout"));
}

/* One address trying many names: the 20th failure locks the address, for every name. */
static void one_address_spraying_names_is_locked(void **state)
{
	struct fixture *fx = *state;
	char name[32];
	for (int i = 0; i < 19; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		wrong(fx, name, "203.0.113.5", 0);
	}
	wrong(fx, "root", "203.0.113.5", 300);
	assert_non_null(strstr(fx->events, " 203.0.113.5 address locked out for 300 s|"));
	uint64_t calls = backend_calls(fx->auth);
	unsigned left = 0;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.5", &left), AUTH_LOCKED);
	assert_int_equal(left, 300);
	assert_int_equal(backend_calls(fx->auth), calls);
	/* The same users from elsewhere are fine: only the address is locked. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.6", NULL), AUTH_OK);
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "203.0.113.6", NULL), AUTH_OK);
	fake_now += 300;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "203.0.113.5", NULL), AUTH_OK);
}

/* Guessing alice's password from many addresses, a few tries each: past 10 failures in all, each
 * failing address waits 1, 2, 4... s (up to 60) before its next try for alice. An address that has not
 * failed is never made to wait, and the address alice logs in from is exempt. */
static void many_addresses_are_slowed_not_the_user(void **state)
{
	struct fixture *fx = *state;
	char addr[32];
	/* Alice's usual address. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.1", NULL), AUTH_OK);
	for (int i = 0; i < 10; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		wrong(fx, "alice", addr, 0);
	}
	unsigned left = 0;
	unsigned expect[] = {1, 2, 4, 8, 16, 32, 60, 60};
	for (int i = 0; i < 8; i++) {
		snprintf(addr, sizeof(addr), "10.0.1.%d", i);
		wrong(fx, "alice", addr, expect[i]);
		/* That address must wait, and is told how long (the right password makes no difference). */
		uint64_t calls = backend_calls(fx->auth);
		assert_int_equal(auth_check(fx->auth, "alice", "right", addr, &left), AUTH_LOCKED);
		assert_int_equal(left, expect[i]);
		assert_int_equal(backend_calls(fx->auth), calls);
	}
	assert_non_null(strstr(fx->events, "login_failed alice 10.0.1.2 wrong user name or password; too many "
					   "failures for this user: the next attempt from this address in 4 s|"));
	/* Once its delay has passed, the address may try again. */
	fake_now += 1;
	assert_int_equal(auth_check(fx->auth, "alice", "right", "10.0.1.0", NULL), AUTH_OK);
	/* A new address's first attempt is never delayed: alice from a café gets in. */
	assert_int_equal(auth_check(fx->auth, "alice", "right", "192.0.2.99", &left), AUTH_OK);
	assert_int_equal(left, 0);
	/* Alice's usual address: her own typos there are not delayed (only the pair's limit applies). */
	for (int i = 0; i < 4; i++)
		wrong(fx, "alice", "198.51.100.1", 0);
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.1", NULL), AUTH_OK);
	/* Other users are not slowed by alice's count. */
	wrong(fx, "bob", "10.0.1.0", 0);
	assert_int_equal(auth_check(fx->auth, "bob", "bobs", "10.0.1.0", NULL), AUTH_OK);
	/* A window later alice's count has started again. */
	fake_now += 600;
	wrong(fx, "alice", "10.0.2.1", 0);
	assert_null(strstr(fx->events, "lockout"));
}

/* Names the backend does not know are audited as a keyed hash (the same each time), real users' in
 * clear; a password typed into the name field is never in the audit. */
static void unknown_names_are_hashed(void **state)
{
	struct fixture *fx = *state;
	wrong(fx, "alice", "192.0.2.1", 0);
	wrong(fx, "Tr0ub4dor&3", "192.0.2.1", 0);
	wrong(fx, "Tr0ub4dor&3", "192.0.2.2", 0);
	assert_null(strstr(fx->events, "Tr0ub4dor"));
	assert_non_null(strstr(fx->events, "login_failed alice 192.0.2.1 "));
	const char *first = strstr(fx->events, "login_failed unknown:");
	assert_non_null(first);
	const char *hex = first + strlen("login_failed unknown:");
	assert_int_equal(strspn(hex, "0123456789abcdef"), 24);
	assert_int_equal(hex[24], ' ');
	char again[64];
	snprintf(again, sizeof(again), "login_failed unknown:%.24s 192.0.2.2 ", hex);
	assert_non_null(strstr(fx->events, again));
	/* Another name, another hash: the first one's is in the two records of that name only. */
	wrong(fx, "Tr0ub4dor&4", "192.0.2.2", 0);
	snprintf(again, sizeof(again), "unknown:%.24s", hex);
	int n = 0;
	for (const char *p = fx->events; (p = strstr(p, again)); p++)
		n++;
	assert_int_equal(n, 2);
	/* Lockouts and locked refusals too. */
	for (int i = 0; i < 5; i++)
		wrong(fx, "Tr0ub4dor&3", "192.0.2.3", i == 4 ? 300 : 0);
	assert_int_equal(auth_check(fx->auth, "Tr0ub4dor&3", "x", "192.0.2.3", NULL), AUTH_LOCKED);
	snprintf(again, sizeof(again), "locked_refused unknown:%.24s 192.0.2.3 ", hex);
	assert_non_null(strstr(fx->events, again));
	snprintf(again, sizeof(again), "lockout unknown:%.24s 192.0.2.3 ", hex);
	assert_non_null(strstr(fx->events, again));
	assert_null(strstr(fx->events, "Tr0ub4dor"));
}

static void limits_are_configurable(void **state)
{
	struct fixture *fx = *state;
	struct auth_config cfg = {
	    .backend = AUTH_BACKEND_FILE,
	    .users_file = fx->path,
	    .lockout_attempts = 2,
	    .lockout_address_attempts = 3,
	    .lockout_user_attempts = 1,
	    .lockout_window_s = 10,
	    .lockout_duration_s = 30,
	    .lockout_max_duration_s = 45,
	    .lockout_max_delay_s = 3,
	    .clock = fake_clock,
	};
	struct auth *a = auth_create(&cfg, NULL, 0);
	assert_non_null(a);
	unsigned left = 0;
	assert_int_equal(auth_check(a, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
	assert_int_equal(left, 0);
	fake_now += 10; /* the window has passed: this is a first failure again */
	assert_int_equal(auth_check(a, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
	assert_int_equal(left, 0);
	fake_now += 9;
	assert_int_equal(auth_check(a, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
	assert_int_equal(left, 30);
	assert_int_equal(auth_check(a, "alice", "right", "192.0.2.1", &left), AUTH_LOCKED);
	fake_now += 30;
	/* The second lockout doubles, up to 45 s. */
	assert_int_equal(auth_check(a, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
	assert_int_equal(auth_check(a, "alice", "wrong", "192.0.2.1", &left), AUTH_DENIED);
	assert_int_equal(left, 45);
	fake_now += 45;
	assert_int_equal(auth_check(a, "alice", "right", "192.0.2.1", &left), AUTH_OK);
	fake_now += 100;
	/* Past one failure of bob, delays (capped at 3 s) for addresses bob never logged in from. */
	assert_int_equal(auth_check(a, "bob", "wrong", "192.0.2.10", &left), AUTH_DENIED);
	assert_int_equal(left, 0);
	assert_int_equal(auth_check(a, "bob", "wrong", "192.0.2.11", &left), AUTH_DENIED);
	assert_int_equal(left, 1);
	assert_int_equal(auth_check(a, "bob", "wrong", "192.0.2.12", &left), AUTH_DENIED);
	assert_int_equal(left, 2);
	assert_int_equal(auth_check(a, "bob", "wrong", "192.0.2.13", &left), AUTH_DENIED);
	assert_int_equal(left, 3);
	/* Three names from one address lock it. */
	fake_now += 100;
	assert_int_equal(auth_check(a, "x", "wrong", "192.0.2.20", &left), AUTH_DENIED);
	assert_int_equal(auth_check(a, "y", "wrong", "192.0.2.20", &left), AUTH_DENIED);
	assert_int_equal(auth_check(a, "z", "wrong", "192.0.2.20", &left), AUTH_DENIED);
	assert_int_equal(left, 30);
	assert_int_equal(auth_check(a, "bob", "bobs", "192.0.2.20", &left), AUTH_LOCKED);
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
	/* They still count: with four more, five failures of alice from that address lock the pair. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_check(fx->auth, "alice", "y", "192.0.2.1", NULL), AUTH_DENIED);
	assert_int_equal(auth_check(fx->auth, "alice", "right", "192.0.2.1", NULL), AUTH_LOCKED);
}

static struct auth_lockout *make_lockout(unsigned pair, unsigned address, unsigned user, size_t cap)
{
	struct auth_lockout_config c = {
	    .pair_attempts = pair,
	    .address_attempts = address,
	    .user_attempts = user,
	    .window_s = 600,
	    .duration_s = 300,
	    .max_duration_s = 3600,
	    .max_delay_s = 60,
	    .max_entries = cap,
	    .clock = fake_clock,
	};
	return auth_lockout_create(&c);
}

/* 100,000 distinct addresses each failing once: the table stays within its bound, a user locked
 * before the spray stays locked, and once the window passes the entries are reclaimed. */
static void table_stays_bounded(void **state)
{
	(void)state;
	enum { CAP = 65536, SPRAY = 100000 };
	fake_now = 5000;
	struct auth_lockout *lo = make_lockout(5, 5, 1000000, CAP);
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
	assert_true(auth_lockout_entries(lo) <= 3); /* late's pair, late, the address */
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
	struct auth_lockout *lo = make_lockout(1000, 1000, 1000000, 64);
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

/* After a restart, the addresses users logged in from (the audit's) are known again: an attacker's
 * failures from elsewhere slow their own addresses, never the user's usual one. Not one older than
 * the known period. */
static void past_logins_are_known_after_a_restart(void **state)
{
	struct fixture *fx = *state;
	fake_now = 100000;
	auth_remember_login(fx->auth, "alice", "198.51.100.7", 3600);
	auth_remember_login(fx->auth, "bob", "198.51.100.8", AUTH_KNOWN_ADDRESS_S + 1);
	unsigned left = 0;
	/* Past the per-user limit (10) from ten addresses, the next failure of each waits... */
	for (int i = 0; i < 11; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "203.0.113.%d", i);
		auth_check(fx->auth, "alice", "wrong", addr, &left);
		auth_check(fx->auth, "bob", "wrong", addr, &left);
	}
	/* ...but not at alice's usual address, remembered from the audit... */
	assert_int_equal(auth_check(fx->auth, "alice", "wrong", "198.51.100.7", &left), AUTH_DENIED);
	assert_int_equal(left, 0);
	assert_int_equal(auth_check(fx->auth, "alice", "right", "198.51.100.7", &left), AUTH_OK);
	/* ...while bob's was too long ago to count. */
	assert_int_equal(auth_check(fx->auth, "bob", "wrong", "198.51.100.8", &left), AUTH_DENIED);
	assert_true(left > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(five_failures_lock_the_pair_not_the_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(lockouts_double_up_to_the_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(failures_outside_the_window_do_not_add_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_address_spraying_names_is_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(many_addresses_are_slowed_not_the_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_names_are_hashed, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits_are_configurable, setup, teardown),
	    cmocka_unit_test_setup_teardown(over_long_input_is_denied_without_a_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(past_logins_are_known_after_a_restart, setup, teardown),
	    cmocka_unit_test(table_stays_bounded),
	    cmocka_unit_test(threads_lose_no_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
