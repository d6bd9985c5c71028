/* rtc.c — the CMOS real-time clock (ports 0x70/0x71, UTC): reading a
 * consistent date and time in whatever format status register B selects,
 * and test=rtc. */
#include "arch.h"
#include "guest.h"

#define RTC_PORT_INDEX 0x70
#define RTC_PORT_DATA  0x71

#define RTC_SECONDS  0x00
#define RTC_MINUTES  0x02
#define RTC_HOURS    0x04
#define RTC_DAY      0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_CENTURY  0x32

#define STATUS_A_UPDATING 0x80
#define STATUS_B_24H      0x02
#define STATUS_B_BINARY   0x04
#define HOURS_PM          0x80 /* 12-hour mode */

/* An update cycle lasts under 2 ms; this many polls is far longer. */
#define RTC_UIP_POLL_LIMIT 20000u
#define RTC_READ_ATTEMPTS  5

enum { RAW_SEC, RAW_MIN, RAW_HOUR, RAW_DAY, RAW_MONTH, RAW_YEAR, RAW_CENTURY, RAW_COUNT };
static const uint8_t rtc_raw_registers[RAW_COUNT] = {
    RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY, RTC_MONTH, RTC_YEAR, RTC_CENTURY,
};

struct rtc_time {
	unsigned year, month, day, hour, minute, second;
};

uint8_t rtc_read_register(uint8_t reg)
{
	outb(RTC_PORT_INDEX, reg);
	return inb(RTC_PORT_DATA);
}

static bool rtc_wait_not_updating(void)
{
	for (uint32_t i = 0; i < RTC_UIP_POLL_LIMIT; i++) {
		if (!(rtc_read_register(RTC_STATUS_A) & STATUS_A_UPDATING))
			return true;
	}
	return false;
}

static bool rtc_read_raw(uint8_t raw[RAW_COUNT])
{
	if (!rtc_wait_not_updating())
		return false;
	for (int i = 0; i < RAW_COUNT; i++)
		raw[i] = rtc_read_register(rtc_raw_registers[i]);
	return true;
}

/* BCD or binary to a number; false for a BCD byte with a digit above 9. */
static bool rtc_decode(uint8_t raw, bool binary, unsigned *out)
{
	if (binary) {
		*out = raw;
		return true;
	}
	if ((raw & 0x0f) > 9 || (raw >> 4) > 9)
		return false;
	*out = (raw >> 4) * 10u + (raw & 0x0fu);
	return true;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
	static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* Fills `t` and returns NULL, or returns why the clock's contents are bad
 * (`t` then holds what could be decoded, for the report). */
static const char *rtc_read_time(struct rtc_time *t)
{
	uint8_t raw[RAW_COUNT], again[RAW_COUNT];
	int attempt = 0;
	*t = (struct rtc_time){0};
	for (;;) {
		if (!rtc_read_raw(raw) || !rtc_read_raw(again))
			return "update-in-progress never cleared";
		if (!memcmp(raw, again, sizeof(raw)))
			break;
		if (++attempt == RTC_READ_ATTEMPTS)
			return "time never read the same twice";
	}

	uint8_t status_b = rtc_read_register(RTC_STATUS_B);
	bool binary = status_b & STATUS_B_BINARY;
	bool pm = !(status_b & STATUS_B_24H) && (raw[RAW_HOUR] & HOURS_PM);
	if (!(status_b & STATUS_B_24H))
		raw[RAW_HOUR] &= (uint8_t)~HOURS_PM;

	unsigned century = 0, year = 0;
	if (!rtc_decode(raw[RAW_SEC], binary, &t->second) || !rtc_decode(raw[RAW_MIN], binary, &t->minute) ||
	    !rtc_decode(raw[RAW_HOUR], binary, &t->hour) || !rtc_decode(raw[RAW_DAY], binary, &t->day) ||
	    !rtc_decode(raw[RAW_MONTH], binary, &t->month) || !rtc_decode(raw[RAW_YEAR], binary, &year) ||
	    !rtc_decode(raw[RAW_CENTURY], binary, &century))
		return "invalid BCD digit";

	if (!(status_b & STATUS_B_24H)) {
		if (t->hour < 1 || t->hour > 12)
			return "12-hour hour out of range";
		t->hour = t->hour % 12 + (pm ? 12 : 0);
	}
	t->year = (century ? century : 20) * 100 + year;

	if (year > 99)
		return "year out of range";
	if (t->month < 1 || t->month > 12)
		return "month out of range";
	if (t->day < 1 || t->day > days_in_month(t->year, t->month))
		return "day out of range";
	if (t->hour > 23)
		return "hour out of range";
	if (t->minute > 59)
		return "minute out of range";
	if (t->second > 59)
		return "second out of range";
	return NULL;
}

bool rtc_test(void)
{
	struct rtc_time t;
	const char *why = rtc_read_time(&t);
	if (why) {
		guest_log("rtc FAILED %s: %04u-%02u-%02u %02u:%02u:%02u", why, t.year, t.month, t.day, t.hour, t.minute,
			  t.second);
		return false;
	}
	guest_log("rtc %04u-%02u-%02u %02u:%02u:%02u", t.year, t.month, t.day, t.hour, t.minute, t.second);
	return true;
}
