/* power.c — the power scheduler's planner: targets from a pool's policy and
 * its time windows, and the power operations that move the pool toward
 * them within the host's budget. No clock of its own: the caller passes
 * the time, so tests run a day of schedules in no time. */
#include "pools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const power_days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int power_day(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && strncmp(s, power_days[i], 3) == 0)
			return i;
	return -1;
}

/* "mon-fri", "sat,sun", "daily", "wed". */
static int power_parse_days(const char *s, size_t n, uint8_t *days)
{
	*days = 0;
	if (n == 5 && strncmp(s, "daily", 5) == 0) {
		*days = 0x7f;
		return 0;
	}
	while (n) {
		const char *comma = memchr(s, ',', n);
		size_t part = comma ? (size_t)(comma - s) : n;
		const char *dash = memchr(s, '-', part);
		int a = power_day(s, dash ? (size_t)(dash - s) : part);
		int b = dash ? power_day(dash + 1, part - (size_t)(dash - s) - 1) : a;
		if (a < 0 || b < 0)
			return -EINVAL;
		for (int d = a;; d = (d + 1) % 7) {
			*days |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
		s += part;
		n -= part;
		if (n) {
			s++;
			n--;
			if (!n)
				return -EINVAL;
		}
	}
	return *days ? 0 : -EINVAL;
}

static int power_parse_time(const char *s, uint16_t *minutes)
{
	unsigned h, m;
	char tail;
	if (sscanf(s, "%2u:%2u%c", &h, &m, &tail) != 2 || strlen(s) != 5 || h > 24 || m > 59 || (h == 24 && m))
		return -EINVAL;
	*minutes = (uint16_t)(h * 60 + m);
	return 0;
}

int power_window_parse(const char *text, struct power_window *out, char *err, size_t errlen)
{
	char buf[128];
	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, errlen, "a window is at most %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	memset(out, 0, sizeof(*out));
	bool have_days = false, have_time = false, have_min = false, have_spare = false;
	char *save = NULL;
	for (char *word = strtok_r(buf, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
		char *dash = strchr(word, '-');
		char *end;
		if (!strncmp(word, "min=", 4) || !strncmp(word, "spare=", 6)) {
			bool is_min = word[0] == 'm';
			const char *v = word + (is_min ? 4 : 6);
			unsigned long k = strtoul(v, &end, 10);
			if (!*v || *end || k > 1000) {
				snprintf(err, errlen, "'%s': expected a count from 0 to 1000", word);
				return -EINVAL;
			}
			if (is_min) {
				out->min = (unsigned)k;
				have_min = true;
			} else {
				out->spare = (unsigned)k;
				have_spare = true;
			}
		} else if (strchr(word, ':') && dash) {
			*dash = '\0';
			if (power_parse_time(word, &out->start_min) < 0 ||
			    power_parse_time(dash + 1, &out->end_min) < 0 || out->end_min <= out->start_min) {
				snprintf(err, errlen, "'%s-%s': expected HH:MM-HH:MM, the end after the start", word,
					 dash + 1);
				return -EINVAL;
			}
			have_time = true;
		} else if (power_parse_days(word, strlen(word), &out->days) == 0) {
			have_days = true;
		} else {
			snprintf(err, errlen,
				 "'%s': expected days (mon-fri, sat,sun, daily), HH:MM-HH:MM, min=N or spare=N", word);
			return -EINVAL;
		}
	}
	if (!have_days || !have_time || (!have_min && !have_spare)) {
		snprintf(err, errlen,
			 "a window needs days, a time range and min= or spare= (\"mon-fri 07:00-18:30 spare=2\")");
		return -EINVAL;
	}
	if (!have_min)
		out->min = 0;
	return 0;
}

int power_schedule_parse(const char *text, struct power_window *out, size_t *n, char *err, size_t errlen)
{
	*n = 0;
	char buf[1024];
	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, errlen, "a schedule is at most %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	char *save = NULL;
	for (char *w = strtok_r(buf, ";", &save); w; w = strtok_r(NULL, ";", &save)) {
		if (strspn(w, " \t") == strlen(w))
			continue;
		if (*n == POWER_WINDOWS_MAX) {
			snprintf(err, errlen, "at most %d windows", POWER_WINDOWS_MAX);
			return -EINVAL;
		}
		if (power_window_parse(w, &out[*n], err, errlen) < 0)
			return -EINVAL;
		(*n)++;
	}
	return 0;
}

void power_window_format(const struct power_window *w, char *out, size_t size)
{
	char days[40] = "";
	if (w->days == 0x7f) {
		snprintf(days, sizeof(days), "daily");
	} else {
		for (int d = 0; d < 7; d++) {
			if (!(w->days & (1u << d)))
				continue;
			size_t n = strlen(days);
			snprintf(days + n, sizeof(days) - n, "%s%s", n ? "," : "", power_days[d]);
		}
	}
	snprintf(out, size, "%s %02u:%02u-%02u:%02u min=%u spare=%u", days, w->start_min / 60u, w->start_min % 60u,
		 w->end_min / 60u, w->end_min % 60u, w->min, w->spare);
}

void power_targets(const struct power_policy *p, time_t now, unsigned *min, unsigned *spare)
{
	*min = p->min;
	*spare = p->spare;
	struct tm tm;
	localtime_r(&now, &tm);
	int day = (tm.tm_wday + 6) % 7; /* Monday first */
	unsigned minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	for (size_t i = 0; i < p->nwindows; i++) {
		const struct power_window *w = &p->windows[i];
		if ((w->days & (1u << day)) && minute >= w->start_min && minute < w->end_min) {
			*min = w->min;
			*spare = w->spare;
			break;
		}
	}
	if (*min > p->max)
		*min = p->max;
	if (*spare > p->max)
		*spare = p->max;
}

size_t power_plan(const struct power_policy *p, time_t now, const struct power_desktop *desktops, size_t n,
		  size_t budget, struct power_action *out, size_t max_out)
{
	unsigned min, spare;
	power_targets(p, now, &min, &spare);
	size_t limit = budget < max_out ? budget : max_out, k = 0;
	size_t existing = 0, ready = 0;
	/* A desktop on its way down (stopped, suspended) still exists: the
	 * caller leaves out the ones being deleted. */
	for (size_t i = 0; i < n; i++) {
		existing++;
		if (!desktops[i].assigned && (desktops[i].state == POWER_ON || desktops[i].state == POWER_STARTING))
			ready++;
	}
	/* Spares: suspended ones resume fastest, then stopped ones boot, then
	 * new ones while the pool has room. */
	for (int pass = 0; pass < 2 && ready < spare && k < limit; pass++) {
		enum power_state from = pass == 0 ? POWER_SUSPENDED : POWER_OFF;
		for (size_t i = 0; i < n && ready < spare && k < limit; i++) {
			if (desktops[i].state != from || desktops[i].assigned)
				continue;
			out[k++] = (struct power_action){pass == 0 ? POWER_RESUME : POWER_START, i};
			ready++;
		}
	}
	while (ready < spare && existing < p->max && k < limit) {
		out[k++] = (struct power_action){POWER_CREATE_ON, 0};
		existing++;
		ready++;
	}
	/* Existence: up to min, powered off until a spare is wanted. */
	while (existing < min && existing < p->max && k < limit) {
		out[k++] = (struct power_action){POWER_CREATE, 0};
		existing++;
	}
	/* Too many spares: the newest free ones stop. */
	for (size_t i = n; i-- > 0 && ready > spare && k < limit;) {
		if (desktops[i].assigned || desktops[i].settling ||
		    (desktops[i].state != POWER_ON && desktops[i].state != POWER_STARTING))
			continue;
		out[k++] = (struct power_action){POWER_STOP, i};
		ready--;
	}
	/* Beyond max: free desktops that are off go. */
	for (size_t i = n; i-- > 0 && existing > p->max && k < limit;) {
		if (desktops[i].assigned || (desktops[i].state != POWER_OFF && desktops[i].state != POWER_SUSPENDED))
			continue;
		out[k++] = (struct power_action){POWER_DELETE, i};
		existing--;
	}
	return k;
}
