/* test_power.c — the power scheduler's planner (pools/power.c): windows
 * parsed and refused, targets through a simulated week at minute
 * resolution, spares kept as users come and go, suspended desktops resumed
 * before stopped ones boot, the host budget bounding a schedule boundary,
 * assigned desktops never stopped, min and max held. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../pools/pools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Local time for a given weekday (0 Monday) and minute, in a week of 2026. */
static time_t at(int day, int hour, int minute)
{
	struct tm tm = {.tm_year = 126,
			.tm_mon = 10,
			.tm_mday = 16 + day,
			.tm_hour = hour,
			.tm_min = minute,
			.tm_isdst = -1}; /* 16 Nov 2026 is a Monday */
	return mktime(&tm);
}

static void test_window_parse(void **state)
{
	(void)state;
	struct power_window w;
	char err[200];
	assert_int_equal(power_window_parse("mon-fri 07:00-18:30 min=4 spare=2", &w, err, sizeof(err)), 0);
	assert_int_equal(w.days, 0x1f);
	assert_int_equal(w.start_min, 7 * 60);
	assert_int_equal(w.end_min, 18 * 60 + 30);
	assert_int_equal(w.min, 4);
	assert_int_equal(w.spare, 2);
	assert_int_equal(power_window_parse("sat,sun 10:00-12:00 spare=1", &w, err, sizeof(err)), 0);
	assert_int_equal(w.days, 0x60);
	assert_int_equal(power_window_parse("fri-mon 00:00-24:00 spare=1", &w, err, sizeof(err)), 0);
	assert_int_equal(w.days, 0x10 | 0x20 | 0x40 | 0x01);
	assert_int_equal(power_window_parse("daily 08:00-09:00 min=1", &w, err, sizeof(err)), 0);
	assert_int_equal(w.days, 0x7f);
	static const char *const bad[] = {
	    "mon-fri 07:00-18:30",         /* no targets */
	    "07:00-18:30 spare=1",         /* no days */
	    "mon-fri spare=1",             /* no times */
	    "mon-fri 18:00-07:00 spare=1", /* end before start */
	    "mon-fri 25:00-26:00 spare=1",
	    "monday 07:00-08:00 spare=1",
	    "mon-fri 07:00-08:00 spare=-1",
	    "mon-fri 07:00-08:00 spare=1 colour=red",
	    "mon, 07:00-08:00 spare=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(power_window_parse(bad[i], &w, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
}

static void test_targets_through_a_week(void **state)
{
	(void)state;
	struct power_policy p = {.min = 1, .max = 20, .spare = 0, .nwindows = 2};
	char err[200];
	assert_int_equal(power_window_parse("mon-fri 07:00-18:30 min=10 spare=4", &p.windows[0], err, sizeof(err)), 0);
	assert_int_equal(power_window_parse("sat 09:00-12:00 spare=1", &p.windows[1], err, sizeof(err)), 0);
	unsigned weekday_minutes = 0, saturday_minutes = 0;
	for (int day = 0; day < 7; day++) {
		for (int m = 0; m < 24 * 60; m++) {
			unsigned min, spare;
			power_targets(&p, at(day, m / 60, m % 60), &min, &spare);
			if (spare == 4) {
				assert_true(day < 5 && m >= 7 * 60 && m < 18 * 60 + 30);
				assert_int_equal(min, 10);
				weekday_minutes++;
			} else if (spare == 1) {
				assert_true(day == 5 && m >= 9 * 60 && m < 12 * 60);
				assert_int_equal(min, 0);
				saturday_minutes++;
			} else {
				assert_int_equal(min, 1);
				assert_int_equal(spare, 0);
			}
		}
	}
	assert_int_equal(weekday_minutes, 5 * (11 * 60 + 30));
	assert_int_equal(saturday_minutes, 3 * 60);
	/* Capped by max. */
	p.max = 3;
	unsigned min, spare;
	power_targets(&p, at(1, 8, 0), &min, &spare);
	assert_int_equal(min, 3);
	assert_int_equal(spare, 3);
}

/* Applies a plan the way the broker would, at once. */
#define POWER_DELETED ((enum power_state)99)
static void apply(struct power_desktop *d, size_t *n, const struct power_action *a, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		switch (a[i].op) {
		case POWER_CREATE:
			d[(*n)++] = (struct power_desktop){.state = POWER_OFF};
			break;
		case POWER_CREATE_ON:
			d[(*n)++] = (struct power_desktop){.state = POWER_ON};
			break;
		case POWER_START:
		case POWER_RESUME:
			d[a[i].desktop].state = POWER_ON;
			break;
		case POWER_STOP:
			d[a[i].desktop].state = POWER_OFF;
			break;
		case POWER_DELETE:
			d[a[i].desktop].state = POWER_DELETED;
			break;
		}
	}
	/* Deleted ones leave the list, as the broker's do. */
	size_t kept = 0;
	for (size_t i = 0; i < *n; i++)
		if (d[i].state != POWER_DELETED)
			d[kept++] = d[i];
	*n = kept;
}

static size_t count(const struct power_desktop *d, size_t n, enum power_state s, bool assigned)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += d[i].state == s && d[i].assigned == assigned;
	return c;
}

static void test_spares_kept_as_users_come_and_go(void **state)
{
	(void)state;
	struct power_policy p = {.min = 0, .max = 10, .spare = 2};
	struct power_desktop d[64];
	size_t n = 0;
	struct power_action a[16];
	time_t now = at(2, 10, 0);
	/* An empty pool gets its two spares at once. */
	apply(d, &n, a, power_plan(&p, now, d, n, 8, a, 16));
	assert_int_equal(count(d, n, POWER_ON, false), 2);
	assert_int_equal(n, 2);
	/* Users take spares one by one: each time a new spare comes up. */
	for (int user = 0; user < 5; user++) {
		for (size_t i = 0; i < n; i++)
			if (d[i].state == POWER_ON && !d[i].assigned) {
				d[i].assigned = true;
				break;
			}
		for (int round = 0; round < 3; round++)
			apply(d, &n, a, power_plan(&p, now, d, n, 8, a, 16));
		assert_int_equal(count(d, n, POWER_ON, false), 2);
		assert_int_equal(count(d, n, POWER_ON, true), (size_t)user + 1);
	}
	/* Users log off: their desktops are free again, the extra spares stop,
	 * and never an assigned one. */
	for (size_t i = 0; i < n; i++)
		d[i].assigned = i == 0;
	apply(d, &n, a, power_plan(&p, now, d, n, 8, a, 16));
	assert_int_equal(count(d, n, POWER_ON, false), 2);
	assert_int_equal(count(d, n, POWER_ON, true), 1);
	/* A desktop freed a moment ago settles before it may stop. */
	for (size_t i = 0; i < n; i++)
		d[i].assigned = false;
	d[0].assigned = true;
	d[1].settling = true;
	size_t k = power_plan(&p, now, d, n, 8, a, 16);
	for (size_t i = 0; i < k; i++)
		assert_int_not_equal(a[i].desktop, 1);
	d[1].settling = false;
	/* The pool is full: no more than max. */
	p.spare = 50;
	for (int round = 0; round < 5; round++)
		apply(d, &n, a, power_plan(&p, now, d, n, 8, a, 16));
	assert_int_equal(n, 10);
}

static void test_resume_before_boot_and_budget(void **state)
{
	(void)state;
	struct power_policy p = {.min = 0, .max = 100, .spare = 30};
	struct power_desktop d[128];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		d[n++] = (struct power_desktop){.state = POWER_OFF};
	for (int i = 0; i < 10; i++)
		d[n++] = (struct power_desktop){.state = POWER_SUSPENDED};
	struct power_action a[64];
	/* A schedule boundary wants 30 spares at once; the host allows 4
	 * operations: suspended desktops first. */
	size_t k = power_plan(&p, at(0, 7, 0), d, n, 4, a, 64);
	assert_int_equal(k, 4);
	for (size_t i = 0; i < k; i++) {
		assert_int_equal(a[i].op, POWER_RESUME);
		assert_int_equal(d[a[i].desktop].state, POWER_SUSPENDED);
	}
	apply(d, &n, a, k);
	/* Rounds of 4 get there: resumes, then boots, then new ones. */
	int rounds = 1;
	while ((k = power_plan(&p, at(0, 7, 0), d, n, 4, a, 64)) > 0) {
		assert_true(k <= 4);
		apply(d, &n, a, k);
		rounds++;
	}
	assert_int_equal(count(d, n, POWER_ON, false), 30);
	assert_int_equal(rounds, 8);
	assert_int_equal(count(d, n, POWER_SUSPENDED, false), 0);
}

static void test_min_and_max(void **state)
{
	(void)state;
	struct power_policy p = {.min = 5, .max = 6, .spare = 1};
	struct power_desktop d[16];
	size_t n = 0;
	struct power_action a[16];
	apply(d, &n, a, power_plan(&p, at(3, 3, 0), d, n, 16, a, 16));
	assert_int_equal(n, 5);
	apply(d, &n, a, power_plan(&p, at(3, 3, 0), d, n, 16, a, 16));
	assert_int_equal(count(d, n, POWER_ON, false), 1);
	assert_int_equal(count(d, n, POWER_OFF, false), 4);
	/* The admin lowers max: free desktops that are off go, down to it. */
	for (int i = 0; i < 4; i++)
		d[n++] = (struct power_desktop){.state = POWER_OFF, .assigned = i == 0};
	p.max = 6;
	apply(d, &n, a, power_plan(&p, at(3, 3, 0), d, n, 16, a, 16));
	assert_int_equal(n, 6);
	/* The assigned one is still there. */
	assert_int_equal(count(d, n, POWER_OFF, true), 1);
	/* Nothing to do once settled. */
	assert_int_equal(power_plan(&p, at(3, 3, 0), d, n, 16, a, 16), 0);
}

/* A desktop on its way down (an admin suspends it) still counts against
 * max: a full pool makes no new one meanwhile. */
static void test_stopping_still_exists(void **state)
{
	(void)state;
	struct power_policy p = {.min = 0, .max = 2, .spare = 2};
	struct power_desktop d[4] = {
	    {.state = POWER_STOPPING, .assigned = true}, /* held by the admin's suspend */
	    {.state = POWER_ON},
	};
	struct power_action a[8];
	assert_int_equal(power_plan(&p, at(3, 3, 0), d, 2, 8, a, 8), 0);
	/* Not held (a surplus stop under way): still there, not ready. */
	d[0].assigned = false;
	size_t k = power_plan(&p, at(3, 3, 0), d, 2, 8, a, 8);
	for (size_t i = 0; i < k; i++)
		assert_true(a[i].op != POWER_CREATE && a[i].op != POWER_CREATE_ON);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window_parse),
	    cmocka_unit_test(test_targets_through_a_week),
	    cmocka_unit_test(test_spares_kept_as_users_come_and_go),
	    cmocka_unit_test(test_resume_before_boot_and_budget),
	    cmocka_unit_test(test_min_and_max),
	    cmocka_unit_test(test_stopping_still_exists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
