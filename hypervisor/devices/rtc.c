/* rtc.c — the MC146818 CMOS clock and its NVRAM at ports 0x70/0x71.
 *
 * Time is the host's UTC clock plus an offset the guest may change: writing
 * the time registers (normally between setting and clearing the SET bit of
 * register B, as Linux and Windows do) moves the guest's clock without
 * touching the host's. Values that do not form a valid date are ignored. */
#include "devices.h"

#include "../../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_WEEKDAY = 0x06,
	RTC_DAY = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,
	RTC_NREGS = 128,
};

#define RTC_A_UIP           0x80
#define RTC_A_DIVIDER_MASK  0x70
#define RTC_A_DIVIDER_32KHZ 0x20
#define RTC_A_DEFAULT       0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define RTC_B_SET           0x80
#define RTC_B_BINARY        0x04
#define RTC_B_24H           0x02
#define RTC_B_DEFAULT       RTC_B_24H
#define RTC_D_VRT           0x80 /* battery good: RAM and time are valid */
#define RTC_HOUR_PM         0x80

/* The real part raises UIP this long before each update so software never
 * reads a half-updated time. */
#define RTC_UIP_NS 244000L

struct rtc {
	pthread_mutex_t lock;
	struct bus *pio;
	uint8_t index;
	uint8_t cmos[RTC_NREGS]; /* time registers hold the latched time */
	int64_t offset;          /* guest time minus host time, in seconds */
};

static bool rtc_is_time_reg(unsigned reg)
{
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_WEEKDAY:
	case RTC_DAY:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

static struct timespec rtc_host_now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		memset(&ts, 0, sizeof(ts));
	return ts;
}

static uint8_t rtc_encode(const struct rtc *r, unsigned value)
{
	value %= 100;
	if (r->cmos[RTC_REG_B] & RTC_B_BINARY)
		return (uint8_t)value;
	return (uint8_t)((value / 10) << 4 | value % 10);
}

/* -1 when `v` is not a valid number in the current mode (a BCD nibble > 9). */
static int rtc_decode(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_BINARY)
		return v;
	if ((v >> 4) > 9 || (v & 0x0f) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_encode_hour(const struct rtc *r, int hour)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_encode(r, (unsigned)hour);
	int h12 = hour % 12 ? hour % 12 : 12;
	return rtc_encode(r, (unsigned)h12) | (hour >= 12 ? RTC_HOUR_PM : 0);
}

static int rtc_decode_hour(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H) {
		int h = rtc_decode(r, v);
		return h >= 0 && h < 24 ? h : -1;
	}
	int h = rtc_decode(r, v & (uint8_t)~RTC_HOUR_PM);
	if (h < 1 || h > 12)
		return -1;
	return h % 12 + (v & RTC_HOUR_PM ? 12 : 0);
}

/* Copy the guest's current time into the time registers, in the format
 * register B selects. */
static void rtc_latch(struct rtc *r, time_t host_sec)
{
	time_t t = (time_t)(host_sec + r->offset);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	int year = tm.tm_year + 1900;
	r->cmos[RTC_SECONDS] = rtc_encode(r, (unsigned)tm.tm_sec);
	r->cmos[RTC_MINUTES] = rtc_encode(r, (unsigned)tm.tm_min);
	r->cmos[RTC_HOURS] = rtc_encode_hour(r, tm.tm_hour);
	r->cmos[RTC_WEEKDAY] = rtc_encode(r, (unsigned)tm.tm_wday + 1); /* 1 = Sunday */
	r->cmos[RTC_DAY] = rtc_encode(r, (unsigned)tm.tm_mday);
	r->cmos[RTC_MONTH] = rtc_encode(r, (unsigned)tm.tm_mon + 1);
	r->cmos[RTC_YEAR] = rtc_encode(r, (unsigned)(year % 100));
	r->cmos[RTC_CENTURY] = rtc_encode(r, (unsigned)(year / 100));
}

/* Make the time registers the guest's clock from now on. The weekday is
 * derived from the date, as every OS does, so it is not read back. */
static void rtc_commit(struct rtc *r, time_t host_sec)
{
	int sec = rtc_decode(r, r->cmos[RTC_SECONDS]);
	int min = rtc_decode(r, r->cmos[RTC_MINUTES]);
	int hour = rtc_decode_hour(r, r->cmos[RTC_HOURS]);
	int day = rtc_decode(r, r->cmos[RTC_DAY]);
	int month = rtc_decode(r, r->cmos[RTC_MONTH]);
	int year = rtc_decode(r, r->cmos[RTC_YEAR]);
	int century = rtc_decode(r, r->cmos[RTC_CENTURY]);
	if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || day < 1 || day > 31 || month < 1 || month > 12 ||
	    year < 0 || year > 99 || century < 0 || century > 99) {
		log_debug("rtc: guest set an invalid time; clock unchanged");
		return;
	}
	struct tm tm = {
	    .tm_sec = sec,
	    .tm_min = min,
	    .tm_hour = hour,
	    .tm_mday = day,
	    .tm_mon = month - 1,
	    .tm_year = century * 100 + year - 1900,
	};
	time_t t = timegm(&tm);
	r->offset = (int64_t)t - (int64_t)host_sec;
}

static uint8_t rtc_read_reg(struct rtc *r, unsigned reg)
{
	bool set = r->cmos[RTC_REG_B] & RTC_B_SET;
	if (rtc_is_time_reg(reg)) {
		/* While SET is on the clock is frozen at what the guest wrote. */
		if (!set)
			rtc_latch(r, rtc_host_now().tv_sec);
		return r->cmos[reg];
	}
	switch (reg) {
	case RTC_REG_A: {
		uint8_t a = r->cmos[RTC_REG_A];
		/* Honest UIP: set only in the short window before a second
		 * boundary, so a guest waiting for it to clear never spins long. */
		if (!set && (a & RTC_A_DIVIDER_MASK) == RTC_A_DIVIDER_32KHZ &&
		    rtc_host_now().tv_nsec >= 1000000000L - RTC_UIP_NS)
			a |= RTC_A_UIP;
		return a;
	}
	case RTC_REG_C:
		/* No periodic, alarm or update interrupts are generated, so no
		 * flag is ever pending; reading would clear them. */
		return 0;
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return r->cmos[reg];
	}
}

static void rtc_write_reg(struct rtc *r, unsigned reg, uint8_t value)
{
	bool set = r->cmos[RTC_REG_B] & RTC_B_SET;
	if (rtc_is_time_reg(reg)) {
		if (set) {
			r->cmos[reg] = value;
			return;
		}
		/* A write while the clock runs changes that one field of the
		 * current time; one host reading for both steps so a second
		 * boundary in between cannot skew the clock. */
		time_t now = rtc_host_now().tv_sec;
		rtc_latch(r, now);
		r->cmos[reg] = value;
		rtc_commit(r, now);
		return;
	}
	switch (reg) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = value & (uint8_t)~RTC_A_UIP;
		break;
	case RTC_REG_B:
		if ((value & RTC_B_SET) && !set)
			rtc_latch(r, rtc_host_now().tv_sec);
		r->cmos[RTC_REG_B] = value;
		if (!(value & RTC_B_SET) && set)
			rtc_commit(r, rtc_host_now().tv_sec);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		r->cmos[reg] = value;
		break;
	}
}

/* Port 0x70 selects a register (bit 7 is the chipset's NMI mask, which has
 * no effect here), port 0x71 accesses it. Wider accesses split per byte. */
static void rtc_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < size; i++)
		data[i] = offset + i == 1 ? rtc_read_reg(r, r->index) : 0xff; /* the index port is write-only */
	pthread_mutex_unlock(&r->lock);
}

static void rtc_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < size; i++) {
		if (offset + i == 0)
			r->index = data[i] & (RTC_NREGS - 1);
		else if (offset + i == 1)
			rtc_write_reg(r, r->index, data[i]);
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_bus_ops = {
    .read = rtc_bus_read,
    .write = rtc_bus_write,
};

struct rtc *rtc_create(struct bus *pio)
{
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->pio = pio;
	r->cmos[RTC_REG_A] = RTC_A_DEFAULT;
	r->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	int err = bus_register(pio, RTC_PORT_INDEX, 2, &rtc_bus_ops, r, "rtc");
	if (err) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

void rtc_destroy(struct rtc *rtc)
{
	if (!rtc)
		return;
	bus_unregister(rtc->pio, RTC_PORT_INDEX);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

void rtc_save(struct rtc *rtc, struct snap_buf *out)
{
	pthread_mutex_lock(&rtc->lock);
	snap_put_u8(out, rtc->index);
	snap_put_bytes(out, rtc->cmos, sizeof(rtc->cmos));
	snap_put_u64(out, (uint64_t)rtc->offset);
	pthread_mutex_unlock(&rtc->lock);
}

int rtc_load(struct rtc *rtc, struct snap_cursor *in)
{
	uint8_t index = snap_get_u8(in);
	uint8_t cmos[RTC_NREGS];
	snap_get_bytes(in, cmos, sizeof(cmos));
	int64_t offset = (int64_t)snap_get_u64(in);
	/* Beyond a few thousand years gmtime() stops being meaningful. */
	const int64_t limit = 100000ll * 366 * 86400;
	if (!snap_cursor_done(in) || index >= RTC_NREGS || offset > limit || offset < -limit)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->cmos[RTC_REG_A] &= (uint8_t)~RTC_A_UIP;
	rtc->offset = offset;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}
