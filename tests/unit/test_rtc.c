/* test_rtc.c — unit tests for the CMOS clock and NVRAM in
 * hypervisor/devices/rtc.c, through ports 0x70/0x71 on a real PIO bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REG_A    0x0a
#define REG_B    0x0b
#define REG_C    0x0c
#define REG_D    0x0d
#define B_SET    0x80
#define B_BINARY 0x04
#define B_24H    0x02

struct fixture {
	struct bus pio;
	struct rtc *rtc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	f->rtc = rtc_create(&f->pio);
	if (!f->rtc)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rtc_destroy(f->rtc);
	assert_int_equal(f->pio.count, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint8_t cmos_read(struct fixture *f, uint8_t index)
{
	uint8_t v = 0;
	assert_true(bus_write(&f->pio, RTC_PORT_INDEX, &index, 1));
	assert_true(bus_read(&f->pio, RTC_PORT_INDEX + 1, &v, 1));
	return v;
}

static void cmos_write(struct fixture *f, uint8_t index, uint8_t value)
{
	assert_true(bus_write(&f->pio, RTC_PORT_INDEX, &index, 1));
	assert_true(bus_write(&f->pio, RTC_PORT_INDEX + 1, &value, 1));
}

static int from_bcd(uint8_t v)
{
	assert_true((v >> 4) <= 9 && (v & 0x0f) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t to_bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* Read the clock as an OS does: until two passes agree, so a tick between
 * fields cannot tear the result. Decodes per the current register B. */
static time_t read_clock(struct fixture *f, int *wday)
{
	static const uint8_t regs[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32};
	uint8_t a[8], b[8];
	for (int tries = 0;; tries++) {
		assert_true(tries < 10);
		for (int i = 0; i < 8; i++)
			a[i] = cmos_read(f, regs[i]);
		for (int i = 0; i < 8; i++)
			b[i] = cmos_read(f, regs[i]);
		if (!memcmp(a, b, sizeof(a)))
			break;
	}
	uint8_t mode = cmos_read(f, REG_B);
	bool binary = mode & B_BINARY;
	int v[8];
	for (int i = 0; i < 8; i++) {
		uint8_t raw = a[i];
		if (i == 2 && !(mode & B_24H))
			raw &= 0x7f;
		v[i] = binary ? raw : from_bcd(raw);
	}
	int hour = v[2];
	if (!(mode & B_24H)) {
		assert_true(hour >= 1 && hour <= 12);
		hour = hour % 12 + (a[2] & 0x80 ? 12 : 0);
	} else {
		assert_true(hour < 24);
		assert_int_equal(a[2] & 0x80, 0);
	}
	struct tm tm = {
	    .tm_sec = v[0],
	    .tm_min = v[1],
	    .tm_hour = hour,
	    .tm_mday = v[4],
	    .tm_mon = v[5] - 1,
	    .tm_year = v[7] * 100 + v[6] - 1900,
	};
	if (wday)
		*wday = v[3];
	return timegm(&tm);
}

static void assert_near_host(struct fixture *f, time_t offset)
{
	int wday;
	time_t guest = read_clock(f, &wday);
	time_t host = time(NULL) + offset;
	assert_true(guest >= host - 2 && guest <= host + 2);
	struct tm tm;
	gmtime_r(&guest, &tm);
	assert_int_equal(wday, tm.tm_wday + 1);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(cmos_read(f, REG_A) & 0x7f, 0x26);
	assert_int_equal(cmos_read(f, REG_B), 0x02);
	assert_int_equal(cmos_read(f, REG_C), 0x00);
	assert_int_equal(cmos_read(f, REG_D), 0x80);
}

static void test_time_bcd_24h(void **state)
{
	struct fixture *f = *state;
	assert_near_host(f, 0);
	/* The century register is BCD too. */
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	assert_int_equal(cmos_read(f, 0x32), to_bcd((tm.tm_year + 1900) / 100));
}

static void test_time_binary(void **state)
{
	struct fixture *f = *state;
	cmos_write(f, REG_B, B_24H | B_BINARY);
	assert_near_host(f, 0);
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	assert_int_equal(cmos_read(f, 0x32), (tm.tm_year + 1900) / 100);
}

static void test_time_12h(void **state)
{
	struct fixture *f = *state;
	cmos_write(f, REG_B, 0x00); /* BCD, 12-hour */
	assert_near_host(f, 0);
	cmos_write(f, REG_B, B_BINARY);
	assert_near_host(f, 0);
}

/* Set the guest clock to a given UTC date in BCD/24h, through the SET bit. */
static void set_clock(struct fixture *f, int year, int mon, int day, int hour, int min, int sec)
{
	cmos_write(f, REG_B, B_SET | B_24H);
	cmos_write(f, 0x00, to_bcd(sec));
	cmos_write(f, 0x02, to_bcd(min));
	cmos_write(f, 0x04, to_bcd(hour));
	cmos_write(f, 0x07, to_bcd(day));
	cmos_write(f, 0x08, to_bcd(mon));
	cmos_write(f, 0x09, to_bcd(year % 100));
	cmos_write(f, 0x32, to_bcd(year / 100));
	/* While SET is on the registers hold what was written. */
	assert_int_equal(cmos_read(f, 0x00), to_bcd(sec));
	assert_int_equal(cmos_read(f, 0x04), to_bcd(hour));
	cmos_write(f, REG_B, B_24H);
}

static void test_12h_encoding(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int hour;
		uint8_t bcd, bin;
	} cases[] = {
	    {0, 0x12, 12}, {1, 0x01, 1}, {11, 0x11, 11}, {12, 0x92, 0x80 | 12}, {13, 0x81, 0x81}, {23, 0x91, 0x80 | 11},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_clock(f, 2031, 7, 4, cases[i].hour, 30, 5);
		cmos_write(f, REG_B, 0x00);
		assert_int_equal(cmos_read(f, 0x04), cases[i].bcd);
		cmos_write(f, REG_B, B_BINARY);
		assert_int_equal(cmos_read(f, 0x04), cases[i].bin);
		cmos_write(f, REG_B, B_24H | B_BINARY);
		assert_int_equal(cmos_read(f, 0x04), cases[i].hour);
	}
}

static void test_guest_sets_clock(void **state)
{
	struct fixture *f = *state;
	set_clock(f, 2031, 7, 4, 13, 5, 9);
	struct tm want = {.tm_year = 131, .tm_mon = 6, .tm_mday = 4, .tm_hour = 13, .tm_min = 5, .tm_sec = 9};
	time_t target = timegm(&want);
	time_t guest = read_clock(f, NULL);
	assert_true(guest >= target && guest <= target + 2);
	assert_int_equal(cmos_read(f, 0x06), 6); /* a Friday, derived from the date */
	assert_int_equal(cmos_read(f, 0x32), 0x20);

	/* A 12-hour write while the clock runs: 2 PM. */
	cmos_write(f, REG_B, 0x00);
	cmos_write(f, 0x04, 0x82);
	cmos_write(f, REG_B, B_24H);
	assert_int_equal(cmos_read(f, 0x04), 0x14);

	/* An impossible date is refused; the clock keeps its time. */
	time_t before = read_clock(f, NULL);
	cmos_write(f, REG_B, B_SET | B_24H);
	cmos_write(f, 0x08, 0x13); /* month 13 */
	cmos_write(f, REG_B, B_24H);
	time_t after = read_clock(f, NULL);
	assert_true(after >= before && after <= before + 2);
	cmos_write(f, 0x02, 0x7a); /* not BCD */
	cmos_write(f, 0x04, 0x24); /* hour 24 */
	after = read_clock(f, NULL);
	assert_true(after >= before && after <= before + 2);

	/* A new RTC starts from the host clock again: the offset is per device. */
	rtc_destroy(f->rtc);
	f->rtc = rtc_create(&f->pio);
	assert_non_null(f->rtc);
	assert_near_host(f, 0);
}

static void test_nmi_bit_masked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(cmos_read(f, 0x80 | REG_D), 0x80);
	assert_int_equal(cmos_read(f, 0x80 | REG_B), 0x02);
	cmos_write(f, 0x80 | 0x40, 0x5c);
	assert_int_equal(cmos_read(f, 0x40), 0x5c);
	/* The index port itself is write-only. */
	uint8_t v = 0;
	assert_true(bus_read(&f->pio, RTC_PORT_INDEX, &v, 1));
	assert_int_equal(v, 0xff);
}

static void test_status_registers(void **state)
{
	struct fixture *f = *state;
	cmos_write(f, REG_C, 0xff);
	assert_int_equal(cmos_read(f, REG_C), 0);
	assert_int_equal(cmos_read(f, REG_C), 0);
	cmos_write(f, REG_D, 0x00);
	assert_int_equal(cmos_read(f, REG_D), 0x80);
	/* UIP is read-only and never stays set for long. */
	cmos_write(f, REG_A, 0xa6);
	int clear = 0;
	for (int i = 0; i < 1000 && !clear; i++)
		clear = !(cmos_read(f, REG_A) & 0x80);
	assert_true(clear);
	assert_int_equal(cmos_read(f, REG_A) & 0x7f, 0x26);
	/* With the divider stopped there are no updates, so no UIP either. */
	cmos_write(f, REG_A, 0x76);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cmos_read(f, REG_A), 0x76);
	cmos_write(f, REG_A, 0x26);
}

static void test_nvram_round_trip(void **state)
{
	struct fixture *f = *state;
	static const uint8_t alarms[] = {0x01, 0x03, 0x05};
	for (size_t i = 0; i < sizeof(alarms); i++) {
		cmos_write(f, alarms[i], (uint8_t)(0x11 * (i + 1)));
		assert_int_equal(cmos_read(f, alarms[i]), 0x11 * (i + 1));
	}
	cmos_write(f, 0x0f, 0x0a); /* shutdown status */
	assert_int_equal(cmos_read(f, 0x0f), 0x0a);
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			cmos_write(f, (uint8_t)i, (uint8_t)(i * 7 + 3));
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			assert_int_equal(cmos_read(f, (uint8_t)i), (uint8_t)(i * 7 + 3));
	/* The time registers were not disturbed by NVRAM traffic. */
	assert_near_host(f, 0);
}

static void test_every_index(void **state)
{
	struct fixture *f = *state;
	for (unsigned i = 0; i < 256; i++)
		cmos_read(f, (uint8_t)i);
	/* Writing every value everywhere (status registers included) leaves a
	 * device a guest can put back in order. */
	for (unsigned i = 0; i < 256; i++)
		for (unsigned v = 0; v < 256; v += 17)
			cmos_write(f, (uint8_t)i, (uint8_t)v);
	cmos_write(f, REG_B, B_24H);
	cmos_write(f, REG_A, 0x26);
	read_clock(f, NULL);
	assert_int_equal(cmos_read(f, REG_D), 0x80);
}

static void test_wide_accesses(void **state)
{
	struct fixture *f = *state;
	/* A 16-bit write to 0x70 selects the index and writes the data. */
	uint8_t w[2] = {0x50, 0xc3};
	assert_true(bus_write(&f->pio, RTC_PORT_INDEX, w, 2));
	assert_int_equal(cmos_read(f, 0x50), 0xc3);
	uint8_t r[4] = {0};
	assert_true(bus_read(&f->pio, RTC_PORT_INDEX, r, 2));
	assert_int_equal(r[0], 0xff);
	assert_int_equal(r[1], 0xc3);
	/* Four bytes would run past 0x71 and are not ours. */
	assert_false(bus_read(&f->pio, RTC_PORT_INDEX, r, 4));
	assert_false(bus_write(&f->pio, RTC_PORT_INDEX + 1, w, 2));
}

static void test_create_conflict(void **state)
{
	struct fixture *f = *state;
	errno = 0;
	assert_null(rtc_create(&f->pio));
	assert_int_equal(errno, EEXIST);
	rtc_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_bcd_24h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_12h, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_12h_encoding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_sets_clock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nmi_bit_masked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nvram_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_conflict, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
