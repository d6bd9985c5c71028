/* test_conn_limit.c — common/conn_limit.c: the cap in all with its places
 * kept for admins, the cap per address (IPv6 per /64, IPv4-mapped IPv6 as
 * its IPv4 address), admins past the per-address limits, places given back
 * on release, the new connections a second on an injected clock, admin
 * lists refused with the offending word, and refusals logged once a minute. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/conn_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static int64_t fake_ms;
static int64_t fake_clock(void)
{
	return fake_ms;
}

/* A client address as accept() gives it: IPv4 or IPv6 by its text. */
struct client {
	struct sockaddr_storage sa;
	socklen_t len;
};

static struct client at(const char *text)
{
	struct client c;
	memset(&c, 0, sizeof(c));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&c.sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c.sa;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(40000);
		c.len = sizeof(*v4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(40001);
		c.len = sizeof(*v6);
	}
	return c;
}

static enum conn_verdict take(struct conn_limit *l, const char *text)
{
	struct client c = at(text);
	return conn_limit_acquire(l, (struct sockaddr *)&c.sa, c.len);
}

static void give(struct conn_limit *l, const char *text)
{
	struct client c = at(text);
	conn_limit_release(l, (struct sockaddr *)&c.sa, c.len);
}

static const char *v4(unsigned i)
{
	static char buf[4][32];
	static unsigned n;
	char *b = buf[n++ % 4];
	snprintf(b, 32, "198.51.%u.%u", i / 250, i % 250 + 1);
	return b;
}

/* 1: the cap in all: everyone up to the cap less the admins' reserve, admins up to the cap itself. */
static void test_global_cap_and_admin_reserve(void **state)
{
	(void)state;
	struct conn_limit_config cfg = {.max_connections = 100, .admin_addresses = "192.0.2.50"};
	struct conn_limit *l = conn_limit_new(&cfg);
	assert_non_null(l);
	unsigned open = 100 - CONN_LIMIT_ADMIN_RESERVE;
	for (unsigned i = 0; i < open; i++)
		assert_int_equal(take(l, v4(i)), CONN_OK);
	assert_int_equal(take(l, v4(open)), CONN_FULL);
	assert_int_equal(take(l, "2001:db8:77::1"), CONN_FULL);
	assert_int_equal(conn_limit_held(l), open);
	/* The admin gets the reserved places, and no more than the cap. */
	for (unsigned i = 0; i < CONN_LIMIT_ADMIN_RESERVE; i++)
		assert_int_equal(take(l, "192.0.2.50"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.50"), CONN_FULL);
	assert_int_equal(conn_limit_held(l), 100);
	/* A place given back goes to nobody but an admin until the held fall under everyone's cap. */
	give(l, v4(0));
	assert_int_equal(take(l, v4(open)), CONN_FULL);
	assert_int_equal(take(l, "192.0.2.50"), CONN_OK);
	for (unsigned i = 0; i < CONN_LIMIT_ADMIN_RESERVE + 1; i++)
		give(l, "192.0.2.50");
	assert_int_equal(conn_limit_held(l), open - 1);
	assert_int_equal(take(l, v4(open)), CONN_OK);
	assert_int_equal(take(l, v4(open + 1)), CONN_FULL);
	conn_limit_free(l);

	/* A small cap keeps half for admins. */
	cfg.max_connections = 10;
	l = conn_limit_new(&cfg);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(take(l, v4(i)), CONN_OK);
	assert_int_equal(take(l, v4(5)), CONN_FULL);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(take(l, "192.0.2.50"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.50"), CONN_FULL);
	conn_limit_free(l);
}

/* 2: the cap per address, its place given back on release; another address is apart. */
static void test_per_address_cap_and_release(void **state)
{
	(void)state;
	struct conn_limit_config cfg = {.max_connections = 1000, .per_address = 3};
	struct conn_limit *l = conn_limit_new(&cfg);
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(l, "203.0.113.7"), CONN_OK);
	assert_int_equal(take(l, "203.0.113.7"), CONN_ADDRESS_FULL);
	assert_int_equal(take(l, "203.0.113.8"), CONN_OK);
	assert_int_equal(conn_limit_held(l), 4);
	give(l, "203.0.113.7");
	assert_int_equal(conn_limit_held(l), 3);
	assert_int_equal(take(l, "203.0.113.7"), CONN_OK);
	assert_int_equal(take(l, "203.0.113.7"), CONN_ADDRESS_FULL);
	/* No limits at all: always taken. */
	assert_int_equal(conn_limit_acquire(NULL, NULL, 0), CONN_OK);
	conn_limit_free(l);
}

/* 3: IPv6 counts per /64: one host's many addresses are one. */
static void test_ipv6_per_64(void **state)
{
	(void)state;
	struct conn_limit_config cfg = {.per_address = 2};
	struct conn_limit *l = conn_limit_new(&cfg);
	assert_int_equal(take(l, "2001:db8:1:2::1"), CONN_OK);
	assert_int_equal(take(l, "2001:db8:1:2:ffff:ffff:ffff:5"), CONN_OK);
	assert_int_equal(take(l, "2001:db8:1:2:abcd::9"), CONN_ADDRESS_FULL);
	assert_int_equal(take(l, "2001:db8:1:3::1"), CONN_OK); /* the next /64 */
	give(l, "2001:db8:1:2:1234::1");                       /* any address of the /64 gives its place back */
	assert_int_equal(take(l, "2001:db8:1:2::77"), CONN_OK);
	assert_int_equal(take(l, "2001:db8:1:2::78"), CONN_ADDRESS_FULL);
	conn_limit_free(l);
}

/* 4: an IPv4-mapped IPv6 address is its IPv4 address (not the /64 all IPv4 shares). */
static void test_ipv4_mapped_is_ipv4(void **state)
{
	(void)state;
	struct conn_limit_config cfg = {.per_address = 2};
	struct conn_limit *l = conn_limit_new(&cfg);
	assert_int_equal(take(l, "::ffff:192.0.2.7"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.7"), CONN_OK);
	assert_int_equal(take(l, "::ffff:192.0.2.7"), CONN_ADDRESS_FULL);
	assert_int_equal(take(l, "192.0.2.7"), CONN_ADDRESS_FULL);
	assert_int_equal(take(l, "::ffff:192.0.2.8"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.8"), CONN_OK);
	give(l, "::ffff:192.0.2.7");
	assert_int_equal(take(l, "192.0.2.7"), CONN_OK);
	conn_limit_free(l);
}

/* 5: admin addresses (an IPv4 one, an IPv6 prefix) pass the per-address limits. */
static void test_admin_passes_per_address_limits(void **state)
{
	(void)state;
	fake_ms = 1000;
	struct conn_limit_config cfg = {.max_connections = 1000,
					.per_address = 1,
					.per_second = 1,
					.admin_addresses = "192.0.2.50, 2001:db8:ad::/48",
					.clock_ms = fake_clock};
	struct conn_limit *l = conn_limit_new(&cfg);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(take(l, "192.0.2.50"), CONN_OK);
		assert_int_equal(take(l, "::ffff:192.0.2.50"), CONN_OK);
		assert_int_equal(take(l, "2001:db8:ad:ffff::1"), CONN_OK);
	}
	struct client c = at("2001:db8:ad::9"), d = at("2001:db8:ae::9"), e = at("::ffff:192.0.2.50");
	assert_true(conn_limit_is_admin(l, (struct sockaddr *)&c.sa, c.len));
	assert_true(conn_limit_is_admin(l, (struct sockaddr *)&e.sa, e.len));
	assert_false(conn_limit_is_admin(l, (struct sockaddr *)&d.sa, d.len));
	assert_false(conn_limit_is_admin(NULL, (struct sockaddr *)&c.sa, c.len));
	/* Everyone else keeps to them. */
	assert_int_equal(take(l, "2001:db8:ae::9"), CONN_OK);
	assert_int_equal(take(l, "2001:db8:ae::9"), CONN_ADDRESS_FULL);
	assert_int_equal(conn_limit_held(l), 61);
	conn_limit_free(l);
}

/* 6: new connections a second: a burst of two seconds' worth, then one per
 * 1/rate; an address's bucket is its own. Time is the injected clock's. */
static void test_new_connections_a_second(void **state)
{
	(void)state;
	fake_ms = 50000;
	struct conn_limit_config cfg = {.per_second = 2, .clock_ms = fake_clock};
	struct conn_limit *l = conn_limit_new(&cfg);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(take(l, "192.0.2.1"), CONN_OK);
		give(l, "192.0.2.1"); /* closing at once gives back a place, not the rate */
	}
	assert_int_equal(take(l, "192.0.2.1"), CONN_TOO_FAST);
	assert_int_equal(take(l, "192.0.2.2"), CONN_OK);
	fake_ms += 250; /* half a connection's worth */
	assert_int_equal(take(l, "192.0.2.1"), CONN_TOO_FAST);
	fake_ms += 250;
	assert_int_equal(take(l, "192.0.2.1"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.1"), CONN_TOO_FAST);
	/* A long pause fills the bucket to its burst, no further. */
	fake_ms += 3600 * 1000;
	for (int i = 0; i < 4; i++)
		assert_int_equal(take(l, "192.0.2.1"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.1"), CONN_TOO_FAST);
	/* A refusal costs nothing: a second later two more. */
	fake_ms += 1000;
	assert_int_equal(take(l, "192.0.2.1"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.1"), CONN_OK);
	assert_int_equal(take(l, "192.0.2.1"), CONN_TOO_FAST);
	conn_limit_free(l);
}

/* 7: a bad admin list is refused, naming the word; conn_limit_new() will not take it. */
static void test_bad_admin_lists(void **state)
{
	(void)state;
	char err[256];
	static const struct {
		const char *list, *word;
	} bad[] = {
	    {"10.0.0.1 10.0.0.300/24", "'10.0.0.300/24'"},
	    {"10.0.0.0/33", "'10.0.0.0/33'"},
	    {"::1/129", "'::1/129'"},
	    {"10.0.0.0/", "'10.0.0.0/'"},
	    {"10.0.0.0/-1", "'10.0.0.0/-1'"},
	    {"10.0.0.0/8x", "'10.0.0.0/8x'"},
	    {"::1,admin.example.com", "'admin.example.com'"},
	    {"10.1.2.3;10.1.2.4", "'10.1.2.3;10.1.2.4'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(conn_limit_parse_addresses(bad[i].list, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].word))
			fail_msg("%s: \"%s\" does not name %s", bad[i].list, err, bad[i].word);
		struct conn_limit_config cfg = {.admin_addresses = bad[i].list};
		assert_null(conn_limit_new(&cfg));
	}
	/* Too many. */
	char many[4096] = "";
	for (int i = 0; i < 65; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%d.1 ", i);
	assert_int_equal(conn_limit_parse_addresses(many, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 64 addresses"));
	/* Good ones, blanks and commas between. */
	assert_int_equal(conn_limit_parse_addresses(" 10.1.2.0/24,\t::1 , 2001:db8::/32", err, sizeof(err)), 0);
	assert_int_equal(conn_limit_parse_addresses("", err, sizeof(err)), 0);
	assert_int_equal(conn_limit_parse_addresses(NULL, err, sizeof(err)), 0);
}

/* 8: a flood of refusals logs one line, and its count once the minute on the injected clock is over. */
static void test_refusals_logged_once_a_minute(void **state)
{
	(void)state;
	fake_ms = 0;
	struct conn_limit_config cfg = {.per_address = 1, .clock_ms = fake_clock};
	struct conn_limit *l = conn_limit_new(&cfg);
	assert_int_equal(take(l, "192.0.2.3"), CONN_OK);
	fflush(stderr);
	FILE *log = tmpfile();
	int saved = dup(2);
	dup2(fileno(log), 2);
	for (int i = 0; i < 500; i++) {
		enum conn_verdict v = take(l, "192.0.2.3");
		conn_limit_log_refusal(l, "vnc", "192.0.2.3", conn_verdict_reason(v));
		fake_ms += 100;
	}
	fake_ms = 60000;
	conn_limit_log_refusal(l, "vnc", "192.0.2.3", conn_verdict_reason(CONN_ADDRESS_FULL));
	conn_limit_free(l); /* what was counted and not logged yet is logged */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char text[4096];
	rewind(log);
	size_t n = fread(text, 1, sizeof(text) - 1, log);
	text[n] = '\0';
	fclose(log);
	assert_string_equal(strchr(text, ':') + 2,
			    "vnc: refusing 192.0.2.3: too many connections from your address; try again later\n"
			    "vdi: vnc: 499 more refusals of 192.0.2.3 in the last minute: too many connections from "
			    "your address; try again later\n"
			    "vdi: vnc: 1 more refusal of 192.0.2.3 in the last minute: too many connections from "
			    "your address; try again later\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_global_cap_and_admin_reserve),
	    cmocka_unit_test(test_per_address_cap_and_release),
	    cmocka_unit_test(test_ipv6_per_64),
	    cmocka_unit_test(test_ipv4_mapped_is_ipv4),
	    cmocka_unit_test(test_admin_passes_per_address_limits),
	    cmocka_unit_test(test_new_connections_a_second),
	    cmocka_unit_test(test_bad_admin_lists),
	    cmocka_unit_test(test_refusals_logged_once_a_minute),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
