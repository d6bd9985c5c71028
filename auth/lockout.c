/* lockout.c — failed-login counters per user name and per address in a bounded hash table with
 * least-recently-used eviction, so an attacker spraying addresses cannot grow memory. */
#include "auth_lockout.h"

#include "../common/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Keys longer than this are cut: auth_check() refuses longer user names, and no address is this long. */
#define KEY_MAX           255
/* How many locked entries eviction steps over, looking for one that is merely counting, before it
 * gives up and evicts a locked one. */
#define EVICT_SKIP_LOCKED 16

enum key_kind { KEY_USER = 'u', KEY_ADDRESS = 'a' };

struct entry {
	struct entry *chain;         /* next in the hash bucket */
	struct entry *newer, *older; /* LRU list */
	uint64_t window_start;       /* time of the first failure counted */
	uint64_t locked_until;       /* 0 or the time the lockout ends */
	unsigned failures;
	uint64_t hash;
	char kind;
	char key[];
};

struct auth_lockout {
	pthread_mutex_t mutex;
	unsigned attempts, window_s, duration_s;
	uint64_t (*clock)(void);
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count, max_entries;
	struct entry *newest, *oldest;
	uint64_t seed; /* random, so bucket chains cannot be planned from outside */
	bool warned_full;
};

struct auth_lockout *auth_lockout_create(unsigned attempts, unsigned window_s, unsigned duration_s, size_t max_entries,
					 uint64_t (*clock)(void))
{
	if (!attempts || !window_s || !duration_s || !max_entries || !clock || max_entries > (SIZE_MAX >> 4))
		return NULL;
	struct auth_lockout *lo = calloc(1, sizeof(*lo));
	if (!lo)
		return NULL;
	lo->nbuckets = 16;
	while (lo->nbuckets < max_entries)
		lo->nbuckets <<= 1;
	lo->buckets = calloc(lo->nbuckets, sizeof(*lo->buckets));
	if (!lo->buckets) {
		free(lo);
		return NULL;
	}
	if (getrandom(&lo->seed, sizeof(lo->seed), GRND_NONBLOCK) != sizeof(lo->seed))
		lo->seed = (uint64_t)(uintptr_t)lo ^ 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&lo->mutex, NULL);
	lo->attempts = attempts;
	lo->window_s = window_s;
	lo->duration_s = duration_s;
	lo->max_entries = max_entries;
	lo->clock = clock;
	return lo;
}

void auth_lockout_destroy(struct auth_lockout *lo)
{
	if (!lo)
		return;
	for (struct entry *e = lo->newest, *next; e; e = next) {
		next = e->older;
		free(e);
	}
	free(lo->buckets);
	pthread_mutex_destroy(&lo->mutex);
	free(lo);
}

static size_t key_len(const char *key)
{
	return strnlen(key, KEY_MAX);
}

static uint64_t key_hash(const struct auth_lockout *lo, char kind, const char *key, size_t len)
{
	uint64_t h = lo->seed ^ 0xcbf29ce484222325ull;
	h = (h ^ (unsigned char)kind) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
	/* Final mix so the low bits used for the bucket depend on every byte. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static struct entry *lookup(struct auth_lockout *lo, char kind, const char *key, uint64_t *hash_out)
{
	size_t len = key_len(key);
	uint64_t h = key_hash(lo, kind, key, len);
	if (hash_out)
		*hash_out = h;
	for (struct entry *e = lo->buckets[h & (lo->nbuckets - 1)]; e; e = e->chain)
		if (e->hash == h && e->kind == kind && !strncmp(e->key, key, len) && e->key[len] == '\0')
			return e;
	return NULL;
}

static void lru_unlink(struct auth_lockout *lo, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		lo->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		lo->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push_newest(struct auth_lockout *lo, struct entry *e)
{
	e->older = lo->newest;
	e->newer = NULL;
	if (lo->newest)
		lo->newest->newer = e;
	lo->newest = e;
	if (!lo->oldest)
		lo->oldest = e;
}

static void remove_entry(struct auth_lockout *lo, struct entry *e)
{
	struct entry **p = &lo->buckets[e->hash & (lo->nbuckets - 1)];
	while (*p != e)
		p = &(*p)->chain;
	*p = e->chain;
	lru_unlink(lo, e);
	lo->count--;
	free(e);
}

static bool is_locked(const struct entry *e, uint64_t now)
{
	return e->locked_until > now;
}

/* Nothing left to remember: not locked, and no failure inside the window. */
static bool is_expired(const struct auth_lockout *lo, const struct entry *e, uint64_t now)
{
	return !is_locked(e, now) && (e->failures == 0 || now - e->window_start >= lo->window_s);
}

/* Makes room for one more entry: drops expired entries from the old end, then, if the table is still
 * full, the least recently failed entry that is not locked (a locked one only as a last resort). */
static void make_room(struct auth_lockout *lo, uint64_t now)
{
	while (lo->oldest && is_expired(lo, lo->oldest, now))
		remove_entry(lo, lo->oldest);
	if (lo->count < lo->max_entries)
		return;
	if (!lo->warned_full) {
		log_warn("lockout table full (%zu entries): forgetting the oldest failure counts", lo->max_entries);
		lo->warned_full = true;
	}
	struct entry *victim = lo->oldest;
	for (int i = 0; i < EVICT_SKIP_LOCKED && victim && is_locked(victim, now); i++)
		victim = victim->newer;
	remove_entry(lo, victim && !is_locked(victim, now) ? victim : lo->oldest);
}

static struct entry *get_or_add(struct auth_lockout *lo, char kind, const char *key, uint64_t now)
{
	uint64_t h;
	struct entry *e = lookup(lo, kind, key, &h);
	if (e)
		return e;
	make_room(lo, now);
	size_t len = key_len(key);
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, len);
	e->kind = kind;
	e->hash = h;
	size_t b = h & (lo->nbuckets - 1);
	e->chain = lo->buckets[b];
	lo->buckets[b] = e;
	lru_push_newest(lo, e);
	lo->count++;
	return e;
}

static uint64_t remaining_of(const struct entry *e, uint64_t now)
{
	return e && is_locked(e, now) ? e->locked_until - now : 0;
}

unsigned auth_lockout_remaining(struct auth_lockout *lo, const char *user, const char *address)
{
	pthread_mutex_lock(&lo->mutex);
	uint64_t now = lo->clock();
	uint64_t left = remaining_of(lookup(lo, KEY_USER, user, NULL), now);
	if (address && *address) {
		uint64_t a = remaining_of(lookup(lo, KEY_ADDRESS, address, NULL), now);
		if (a > left)
			left = a;
	}
	pthread_mutex_unlock(&lo->mutex);
	return left > UINT32_MAX ? UINT32_MAX : (unsigned)left;
}

/* Returns true when this failure locked e. */
static bool count_failure(struct auth_lockout *lo, struct entry *e, uint64_t now)
{
	lru_unlink(lo, e);
	lru_push_newest(lo, e);
	if (is_locked(e, now))
		return false; /* a concurrent attempt that was let in before the lockout began */
	if (e->failures == 0 || now - e->window_start >= lo->window_s) {
		e->failures = 0;
		e->window_start = now;
	}
	if (++e->failures < lo->attempts)
		return false;
	e->failures = 0;
	e->locked_until = now + lo->duration_s;
	return true;
}

int auth_lockout_failure(struct auth_lockout *lo, const char *user, const char *address)
{
	int reached = 0;
	pthread_mutex_lock(&lo->mutex);
	uint64_t now = lo->clock();
	struct entry *e = get_or_add(lo, KEY_USER, user, now);
	if (e && count_failure(lo, e, now))
		reached |= AUTH_LOCKOUT_USER;
	if (address && *address) {
		e = get_or_add(lo, KEY_ADDRESS, address, now);
		if (e && count_failure(lo, e, now))
			reached |= AUTH_LOCKOUT_ADDRESS;
	}
	pthread_mutex_unlock(&lo->mutex);
	return reached;
}

void auth_lockout_success(struct auth_lockout *lo, const char *user)
{
	pthread_mutex_lock(&lo->mutex);
	struct entry *e = lookup(lo, KEY_USER, user, NULL);
	if (e)
		remove_entry(lo, e);
	pthread_mutex_unlock(&lo->mutex);
}

size_t auth_lockout_entries(struct auth_lockout *lo)
{
	pthread_mutex_lock(&lo->mutex);
	size_t n = lo->count;
	pthread_mutex_unlock(&lo->mutex);
	return n;
}
