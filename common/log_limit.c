/* log_limit.c — refused connections logged at most once a minute per port,
 * address and reason, the rest counted (see log_limit.h). */
#include "log_limit.h"

#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct limit_slot {
	const char *port; /* NULL: free */
	const char *reason;
	char address[64];
	int64_t since_ms;         /* its minute began */
	unsigned long suppressed; /* refusals counted, not logged, this minute */
};

struct log_limit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t (*clock_ms)(void);
	struct limit_slot slots[LOG_LIMIT_KEYS];
	/* Refusals of keys that found no free slot: counted together. */
	bool other_active;
	int64_t other_since_ms;
	unsigned long other_suppressed;
	bool thread_tried, thread_started, stopping;
	pthread_t thread;
};

static int64_t limit_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t limit_now(const struct log_limit *ll)
{
	return ll->clock_ms ? ll->clock_ms() : limit_monotonic_ms();
}

static void limit_log_count(const struct limit_slot *s)
{
	log_warn("%s: %lu more refusal%s of %s in the last minute: %s", s->port, s->suppressed,
		 s->suppressed == 1 ? "" : "s", s->address, s->reason);
}

static void limit_log_other(const struct log_limit *ll)
{
	log_warn("%lu more refusal%s of other addresses in the last minute (more than %d addresses refused at once)",
		 ll->other_suppressed, ll->other_suppressed == 1 ? "" : "s", LOG_LIMIT_KEYS);
}

/* Ends the minutes that are over (all when `all`): their counts logged, a
 * key with a count starts counting a new minute, one without is forgotten
 * (its next refusal is logged). Called locked. */
static void limit_flush_locked(struct log_limit *ll, int64_t now, bool all)
{
	for (size_t i = 0; i < LOG_LIMIT_KEYS; i++) {
		struct limit_slot *s = &ll->slots[i];
		if (!s->port || (!all && now - s->since_ms < LOG_LIMIT_WINDOW_MS))
			continue;
		if (s->suppressed) {
			limit_log_count(s);
			s->suppressed = 0;
			s->since_ms = now;
		} else {
			s->port = NULL;
		}
	}
	if (ll->other_active && (all || now - ll->other_since_ms >= LOG_LIMIT_WINDOW_MS)) {
		limit_log_other(ll);
		ll->other_active = false;
		ll->other_suppressed = 0;
	}
}

/* The first count of a minute to log, INT64_MAX when none. Called locked. */
static int64_t limit_next_due(const struct log_limit *ll)
{
	int64_t due = ll->other_active ? ll->other_since_ms + LOG_LIMIT_WINDOW_MS : INT64_MAX;
	for (size_t i = 0; i < LOG_LIMIT_KEYS; i++) {
		const struct limit_slot *s = &ll->slots[i];
		if (s->port && s->suppressed && s->since_ms + LOG_LIMIT_WINDOW_MS < due)
			due = s->since_ms + LOG_LIMIT_WINDOW_MS;
	}
	return due;
}

/* Logs each count when its minute ends, so the end of a flood is told
 * without waiting for the next refusal. */
static void *limit_thread(void *opaque)
{
	struct log_limit *ll = opaque;
	pthread_mutex_lock(&ll->lock);
	while (!ll->stopping) {
		int64_t due = limit_next_due(ll), now = limit_now(ll);
		if (due == INT64_MAX) {
			pthread_cond_wait(&ll->cond, &ll->lock);
		} else if (due <= now) {
			limit_flush_locked(ll, now, false);
		} else {
			struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (due % 1000) * 1000000};
			pthread_cond_timedwait(&ll->cond, &ll->lock, &ts);
		}
	}
	pthread_mutex_unlock(&ll->lock);
	return NULL;
}

struct log_limit *log_limit_new(int64_t (*clock_ms)(void))
{
	struct log_limit *ll = calloc(1, sizeof(*ll));
	if (!ll)
		return NULL;
	ll->clock_ms = clock_ms;
	pthread_mutex_init(&ll->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ll->cond, &ca);
	pthread_condattr_destroy(&ca);
	return ll;
}

void log_limit_free(struct log_limit *ll)
{
	if (!ll)
		return;
	pthread_mutex_lock(&ll->lock);
	ll->stopping = true;
	pthread_cond_signal(&ll->cond);
	pthread_mutex_unlock(&ll->lock);
	if (ll->thread_started)
		pthread_join(ll->thread, NULL);
	limit_flush_locked(ll, limit_now(ll), true);
	pthread_cond_destroy(&ll->cond);
	pthread_mutex_destroy(&ll->lock);
	free(ll);
}

/* A count began: the thread (started now if need be) learns its minute's end. Called locked. */
static void limit_counting(struct log_limit *ll)
{
	if (ll->clock_ms)
		return;
	if (!ll->thread_tried) {
		ll->thread_tried = true;
		int err = pthread_create(&ll->thread, NULL, limit_thread, ll);
		ll->thread_started = err == 0;
		if (err)
			log_error("refusals counted are logged only with the next refusal: cannot start a thread: %s",
				  strerror(err));
		return;
	}
	if (ll->thread_started)
		pthread_cond_signal(&ll->cond);
}

void log_limit_refusal(struct log_limit *ll, const char *port, const char *address, const char *reason)
{
	if (!ll) {
		log_warn("%s: refusing %s: %s", port, address, reason);
		return;
	}
	pthread_mutex_lock(&ll->lock);
	int64_t now = limit_now(ll);
	limit_flush_locked(ll, now, false);
	struct limit_slot *free_slot = NULL;
	for (size_t i = 0; i < LOG_LIMIT_KEYS; i++) {
		struct limit_slot *s = &ll->slots[i];
		if (!s->port) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (!strcmp(s->port, port) && !strcmp(s->reason, reason) &&
		    !strncmp(s->address, address, sizeof(s->address) - 1)) {
			if (!s->suppressed++)
				limit_counting(ll);
			pthread_mutex_unlock(&ll->lock);
			return;
		}
	}
	if (free_slot) {
		free_slot->port = port;
		free_slot->reason = reason;
		snprintf(free_slot->address, sizeof(free_slot->address), "%s", address);
		free_slot->since_ms = now;
		free_slot->suppressed = 0;
		log_warn("%s: refusing %s: %s", port, address, reason);
	} else {
		if (!ll->other_active) {
			ll->other_active = true;
			ll->other_since_ms = now;
			limit_counting(ll);
		}
		ll->other_suppressed++;
	}
	pthread_mutex_unlock(&ll->lock);
}

void log_limit_flush(struct log_limit *ll)
{
	if (!ll)
		return;
	pthread_mutex_lock(&ll->lock);
	limit_flush_locked(ll, limit_now(ll), false);
	pthread_mutex_unlock(&ll->lock);
}
