/* test_log_limit.c — common/log_limit.c on an injected clock: a flood of
 * refusals logs its first line and then one count a minute, keys apart by
 * port, address and reason, a quiet minute forgets a key, more keys than
 * the table holds are counted together, and nothing counted is lost at
 * the end. What is asserted is the log as an administrator reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const FAST = "too many new connections from your address; try again in a few seconds";
static const char *const HELD = "too many connections from your address; try again later";

static int64_t fake_ms;
static int64_t fake_clock(void)
{
	return fake_ms;
}

/* stderr, where log lines go, into a file while a step runs. */
static FILE *capture_file;
static int saved_stderr = -1;
static char captured[65536];

static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(capture_file), 2), 2);
}

/* What was logged since capture_begin(). */
static const char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(capture_file);
	size_t n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	return captured;
}

static unsigned count_lines(const char *log, const char *needle)
{
	unsigned n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static unsigned all_lines(const char *log)
{
	return count_lines(log, "\n");
}

/* 1: a flood from one address: one line, then one count once the minute is over. */
static void test_flood_one_line_then_a_count(void **state)
{
	(void)state;
	fake_ms = 5000;
	struct log_limit *ll = log_limit_new(fake_clock);
	assert_non_null(ll);
	capture_begin();
	for (int i = 0; i < 1000; i++) {
		log_limit_refusal(ll, "vnc", "192.0.2.1", FAST);
		fake_ms += 59; /* 1000 refusals within 59 s */
	}
	log_limit_flush(ll);
	const char *log = capture_end();
	assert_int_equal(all_lines(log), 1);
	assert_int_equal(count_lines(log, "vnc: refusing 192.0.2.1: too many new connections from your address"), 1);

	fake_ms = 5000 + 60000;
	capture_begin();
	log_limit_flush(ll);
	log_limit_flush(ll);
	log = capture_end();
	assert_int_equal(all_lines(log), 1);
	assert_int_equal(count_lines(log, "vnc: 999 more refusals of 192.0.2.1 in the last minute: too many new "
					  "connections from your address"),
			 1);
	log_limit_free(ll);
}

/* 2: a flood that lasts: a count every minute, never a line per refusal;
 * once a minute passes without one, the next refusal is logged again. */
static void test_lasting_flood_and_quiet_minute(void **state)
{
	(void)state;
	fake_ms = 0;
	struct log_limit *ll = log_limit_new(fake_clock);
	capture_begin();
	log_limit_refusal(ll, "rdp", "2001:db8::7", HELD);
	for (int minute = 0; minute < 5; minute++)
		for (int i = 0; i < 10; i++) {
			fake_ms += 6000;
			log_limit_refusal(ll, "rdp", "2001:db8::7", HELD);
		}
	const char *log = capture_end();
	/* The first line, then a count as each of the 5 minutes ends (the refusal that ends one counts in the
	 * next). */
	assert_int_equal(count_lines(log, "rdp: refusing 2001:db8::7: too many connections"), 1);
	assert_int_equal(count_lines(log, "rdp: 9 more refusals of 2001:db8::7 in the last minute: too many"), 1);
	assert_int_equal(count_lines(log, "rdp: 10 more refusals of 2001:db8::7 in the last minute: too many"), 4);
	assert_int_equal(all_lines(log), 6);

	/* The flood stops: its last count comes out at its minute's end, then the key is forgotten. */
	capture_begin();
	fake_ms += 60000;
	log_limit_flush(ll);
	fake_ms += 60000;
	log_limit_flush(ll);
	log_limit_refusal(ll, "rdp", "2001:db8::7", HELD);
	log = capture_end();
	assert_int_equal(count_lines(log, "rdp: 1 more refusal of 2001:db8::7 in the last minute"), 1);
	assert_int_equal(count_lines(log, "rdp: refusing 2001:db8::7: too many connections"), 1);
	assert_int_equal(all_lines(log), 2);
	log_limit_free(ll);
}

/* 3: port, address and reason each make their own key; one more is "1 more refusal". */
static void test_keys_apart(void **state)
{
	(void)state;
	fake_ms = 100;
	struct log_limit *ll = log_limit_new(fake_clock);
	capture_begin();
	for (int i = 0; i < 2; i++) {
		log_limit_refusal(ll, "vnc", "192.0.2.1", FAST);
		log_limit_refusal(ll, "rdp", "192.0.2.1", FAST);
		log_limit_refusal(ll, "vnc", "192.0.2.2", FAST);
		log_limit_refusal(ll, "vnc", "192.0.2.1", HELD);
	}
	fake_ms += 60000;
	log_limit_flush(ll);
	const char *log = capture_end();
	assert_int_equal(count_lines(log, "vnc: refusing 192.0.2.1: too many new"), 1);
	assert_int_equal(count_lines(log, "rdp: refusing 192.0.2.1: too many new"), 1);
	assert_int_equal(count_lines(log, "vnc: refusing 192.0.2.2: too many new"), 1);
	assert_int_equal(count_lines(log, "vnc: refusing 192.0.2.1: too many connections"), 1);
	assert_int_equal(count_lines(log, "vnc: 1 more refusal of 192.0.2.1 in the last minute: too many new"), 1);
	assert_int_equal(count_lines(log, "rdp: 1 more refusal of 192.0.2.1 in the last minute: too many new"), 1);
	assert_int_equal(count_lines(log, "vnc: 1 more refusal of 192.0.2.2 in the last minute"), 1);
	assert_int_equal(count_lines(log, "vnc: 1 more refusal of 192.0.2.1 in the last minute: too many connections"),
			 1);
	assert_int_equal(all_lines(log), 8);
	log_limit_free(ll);
}

/* 4: refusals of many addresses (a spread-out flood): the table's worth
 * logged, the rest counted together, so the log stays bounded. */
static void test_many_addresses_counted_together(void **state)
{
	(void)state;
	fake_ms = 0;
	struct log_limit *ll = log_limit_new(fake_clock);
	capture_begin();
	char address[64];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 1000; i++) {
			snprintf(address, sizeof(address), "2001:db8:%x::1", i);
			log_limit_refusal(ll, "api", address, HELD);
		}
	const char *log = capture_end();
	assert_int_equal(count_lines(log, "api: refusing 2001:db8:"), LOG_LIMIT_KEYS);
	assert_int_equal(all_lines(log), LOG_LIMIT_KEYS);
	capture_begin();
	fake_ms = 60000;
	log_limit_flush(ll);
	log = capture_end();
	/* Each logged address was refused twice more; the others 3 times each. */
	assert_int_equal(count_lines(log, "2 more refusals of 2001:db8:"), LOG_LIMIT_KEYS);
	char other[128];
	snprintf(other, sizeof(other), "%d more refusals of other addresses in the last minute",
		 3 * (1000 - LOG_LIMIT_KEYS));
	assert_int_equal(count_lines(log, other), 1);
	assert_int_equal(all_lines(log), LOG_LIMIT_KEYS + 1);
	/* A minute later the table is free again: a new address is logged. */
	capture_begin();
	fake_ms = 180000;
	log_limit_flush(ll);
	log_limit_refusal(ll, "api", "198.51.100.1", HELD);
	log = capture_end();
	assert_int_equal(count_lines(log, "api: refusing 198.51.100.1"), 1);
	assert_int_equal(all_lines(log), 1);
	log_limit_free(ll);
}

/* 5: freeing logs what was counted and not logged yet; with the real
 * clock the count's thread starts and is ended. */
static void test_free_logs_the_rest(void **state)
{
	(void)state;
	struct log_limit *ll = log_limit_new(NULL);
	assert_non_null(ll);
	capture_begin();
	for (int i = 0; i < 4; i++)
		log_limit_refusal(ll, "vnc", "203.0.113.5", HELD);
	log_limit_free(ll);
	const char *log = capture_end();
	assert_int_equal(count_lines(log, "vnc: refusing 203.0.113.5"), 1);
	assert_int_equal(count_lines(log, "vnc: 3 more refusals of 203.0.113.5 in the last minute"), 1);
	assert_int_equal(all_lines(log), 2);
}

/* 6: without a limiter every refusal is logged. */
static void test_no_limiter_logs_each(void **state)
{
	(void)state;
	capture_begin();
	for (int i = 0; i < 3; i++)
		log_limit_refusal(NULL, "rdp", "192.0.2.9", FAST);
	log_limit_flush(NULL);
	log_limit_free(NULL);
	const char *log = capture_end();
	assert_int_equal(count_lines(log, "rdp: refusing 192.0.2.9: too many new"), 3);
	assert_int_equal(all_lines(log), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flood_one_line_then_a_count),
	    cmocka_unit_test(test_lasting_flood_and_quiet_minute),
	    cmocka_unit_test(test_keys_apart),
	    cmocka_unit_test(test_many_addresses_counted_together),
	    cmocka_unit_test(test_free_logs_the_rest),
	    cmocka_unit_test(test_no_limiter_logs_each),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
