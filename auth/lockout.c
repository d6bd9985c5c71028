/* lockout.c — failed-login counters per (user, address) pair, per address and per user name, and the
 * addresses users logged in from, in bounded hash tables with least-recently-used eviction, so an
 * attacker spraying names or addresses cannot grow memory. The rules are in auth_lockout.h. */
#include "auth_lockout.h"

#include "../common/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Parts of keys longer than this are cut: auth_check() refuses longer user names and cuts addresses. */
#define PART_MAX          256
/* How many locked entries eviction steps over, looking for one that is merely counting, before it
 * gives up and evicts a locked one. */
#define EVICT_SKIP_LOCKED 16
/* Lockout durations double at most this many times (then max_duration_s caps them anyway). */
#define LEVEL_MAX         20

enum key_kind { KEY_PAIR = 'p', KEY_ADDRESS = 'a', KEY_USER = 'u', KEY_KNOWN = 'k' };

struct entry {
	struct entry *chain;         /* next in the hash bucket */
	struct entry *newer, *older; /* LRU list */
	uint64_t window_start;       /* time of the first failure counted (known: of the last success) */
	uint64_t locked_until;       /* 0 or the time the lockout or delay ends */
	unsigned failures;
	unsigned level; /* lockouts so far: the next lasts duration << level */
	uint64_t hash;
	size_t len;
	char kind;
	char key[];
};

struct table {
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count, max_entries;
	struct entry *newest, *oldest;
	bool warned_full;
};

struct auth_lockout {
	pthread_mutex_t mutex;
	struct auth_lockout_config cfg;
	struct table counts, known;
	uint64_t seed; /* random, so bucket chains cannot be planned from outside */
};

/* A key: for a pair the address, then 0x1f (never in an address), then the user name. */
struct key {
	char kind;
	size_t len;
	char text[2 * PART_MAX + 2];
};

static void make_key(struct key *k, char kind, const char *user, const char *address)
{
	k->kind = kind;
	k->len = 0;
	if (address) {
		size_t n = strnlen(address, PART_MAX);
		memcpy(k->text, address, n);
		k->len = n;
	}
	if (address && user)
		k->text[k->len++] = 0x1f;
	if (user) {
		size_t n = strnlen(user, PART_MAX);
		memcpy(k->text + k->len, user, n);
		k->len += n;
	}
}

static int table_init(struct table *t, size_t max_entries)
{
	t->nbuckets = 16;
	while (t->nbuckets < max_entries)
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->max_entries = max_entries;
	return t->buckets ? 0 : -1;
}

static void table_free(struct table *t)
{
	for (struct entry *e = t->newest, *next; e; e = next) {
		next = e->older;
		free(e);
	}
	free(t->buckets);
}

struct auth_lockout *auth_lockout_create(const struct auth_lockout_config *cfg)
{
	if (!cfg->pair_attempts || !cfg->address_attempts || !cfg->user_attempts || !cfg->window_s ||
	    !cfg->duration_s || !cfg->max_delay_s || !cfg->max_entries || !cfg->clock ||
	    cfg->max_entries > (SIZE_MAX >> 4))
		return NULL;
	struct auth_lockout *lo = calloc(1, sizeof(*lo));
	if (!lo)
		return NULL;
	lo->cfg = *cfg;
	if (lo->cfg.max_duration_s < lo->cfg.duration_s)
		lo->cfg.max_duration_s = lo->cfg.duration_s;
	if (table_init(&lo->counts, cfg->max_entries) < 0 || table_init(&lo->known, cfg->max_entries) < 0) {
		free(lo->counts.buckets);
		free(lo->known.buckets);
		free(lo);
		return NULL;
	}
	if (getrandom(&lo->seed, sizeof(lo->seed), GRND_NONBLOCK) != sizeof(lo->seed))
		lo->seed = (uint64_t)(uintptr_t)lo ^ 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&lo->mutex, NULL);
	return lo;
}

void auth_lockout_destroy(struct auth_lockout *lo)
{
	if (!lo)
		return;
	table_free(&lo->counts);
	table_free(&lo->known);
	pthread_mutex_destroy(&lo->mutex);
	free(lo);
}

static uint64_t key_hash(const struct auth_lockout *lo, const struct key *k)
{
	uint64_t h = lo->seed ^ 0xcbf29ce484222325ull;
	h = (h ^ (unsigned char)k->kind) * 0x100000001b3ull;
	for (size_t i = 0; i < k->len; i++)
		h = (h ^ (unsigned char)k->text[i]) * 0x100000001b3ull;
	/* Final mix so the low bits used for the bucket depend on every byte. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static struct entry *lookup(struct auth_lockout *lo, struct table *t, const struct key *k, uint64_t *hash_out)
{
	uint64_t h = key_hash(lo, k);
	if (hash_out)
		*hash_out = h;
	for (struct entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->chain)
		if (e->hash == h && e->kind == k->kind && e->len == k->len && !memcmp(e->key, k->text, k->len))
			return e;
	return NULL;
}

static void lru_unlink(struct table *t, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push_newest(struct table *t, struct entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest)
		t->newest->newer = e;
	t->newest = e;
	if (!t->oldest)
		t->oldest = e;
}

static void touch(struct table *t, struct entry *e)
{
	lru_unlink(t, e);
	lru_push_newest(t, e);
}

static void remove_entry(struct table *t, struct entry *e)
{
	struct entry **p = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*p != e)
		p = &(*p)->chain;
	*p = e->chain;
	lru_unlink(t, e);
	t->count--;
	free(e);
}

static bool is_locked(const struct entry *e, uint64_t now)
{
	return e->locked_until > now;
}

/* Nothing left to remember: not locked, no failure inside the window, and (for the doubling) no
 * lockout that ended less than a window ago. A known address lasts AUTH_LOCKOUT_KNOWN_S. */
static bool is_expired(const struct auth_lockout *lo, const struct entry *e, uint64_t now)
{
	if (e->kind == KEY_KNOWN)
		return now - e->window_start >= AUTH_LOCKOUT_KNOWN_S;
	return !is_locked(e, now) && (e->failures == 0 || now - e->window_start >= lo->cfg.window_s) &&
	       (e->level == 0 || now - e->locked_until >= lo->cfg.window_s);
}

/* Makes room for one more entry: drops expired entries from the old end, then, if the table is still
 * full, the least recently used entry that is not locked (a locked one only as a last resort). */
static void make_room(struct auth_lockout *lo, struct table *t, uint64_t now)
{
	while (t->oldest && is_expired(lo, t->oldest, now))
		remove_entry(t, t->oldest);
	if (t->count < t->max_entries)
		return;
	if (!t->warned_full) {
		log_warn("lockout table full (%zu entries): forgetting the oldest %s", t->max_entries,
			 t == &lo->known ? "known addresses" : "failure counts");
		t->warned_full = true;
	}
	struct entry *victim = t->oldest;
	for (int i = 0; i < EVICT_SKIP_LOCKED && victim && is_locked(victim, now); i++)
		victim = victim->newer;
	remove_entry(t, victim && !is_locked(victim, now) ? victim : t->oldest);
}

/* The entry of k, added if new, made the most recently used. */
static struct entry *get_or_add(struct auth_lockout *lo, struct table *t, const struct key *k, uint64_t now)
{
	uint64_t h;
	struct entry *e = lookup(lo, t, k, &h);
	if (e) {
		touch(t, e);
		return e;
	}
	make_room(lo, t, now);
	e = calloc(1, sizeof(*e) + k->len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, k->text, k->len);
	e->len = k->len;
	e->kind = k->kind;
	e->hash = h;
	size_t b = h & (t->nbuckets - 1);
	e->chain = t->buckets[b];
	t->buckets[b] = e;
	lru_push_newest(t, e);
	t->count++;
	return e;
}

static uint64_t remaining_of(const struct entry *e, uint64_t now)
{
	return e && is_locked(e, now) ? e->locked_until - now : 0;
}

static uint64_t remaining_locked(struct auth_lockout *lo, const char *user, const char *address, uint64_t now)
{
	struct key k;
	make_key(&k, KEY_PAIR, user, address ? address : "");
	uint64_t left = remaining_of(lookup(lo, &lo->counts, &k, NULL), now);
	if (address && *address) {
		make_key(&k, KEY_ADDRESS, NULL, address);
		uint64_t a = remaining_of(lookup(lo, &lo->counts, &k, NULL), now);
		if (a > left)
			left = a;
	}
	return left;
}

unsigned auth_lockout_remaining(struct auth_lockout *lo, const char *user, const char *address)
{
	pthread_mutex_lock(&lo->mutex);
	uint64_t left = remaining_locked(lo, user, address, lo->cfg.clock());
	pthread_mutex_unlock(&lo->mutex);
	return left > UINT32_MAX ? UINT32_MAX : (unsigned)left;
}

/* Starts a new window when the last one has passed, forgetting the doubling a window after the last
 * lockout ended; returns the failures counted in the window, this one included. */
static unsigned count_one(const struct auth_lockout *lo, struct entry *e, uint64_t now)
{
	if (e->level && !is_locked(e, now) && now - e->locked_until >= lo->cfg.window_s)
		e->level = 0;
	if (e->failures == 0 || now - e->window_start >= lo->cfg.window_s) {
		e->failures = 0;
		e->window_start = now;
	}
	return ++e->failures;
}

/* Locks e for duration << level (up to max_duration_s) and raises its level. */
static void lock(const struct auth_lockout *lo, struct entry *e, uint64_t now)
{
	uint64_t d = (uint64_t)lo->cfg.duration_s << e->level;
	if (d > lo->cfg.max_duration_s)
		d = lo->cfg.max_duration_s;
	e->failures = 0;
	e->locked_until = now + d;
	if (e->level < LEVEL_MAX)
		e->level++;
}

static bool is_known(struct auth_lockout *lo, const char *user, const char *address, uint64_t now)
{
	if (!address || !*address)
		return false;
	struct key k;
	make_key(&k, KEY_KNOWN, user, address);
	struct entry *e = lookup(lo, &lo->known, &k, NULL);
	return e && !is_expired(lo, e, now);
}

int auth_lockout_failure(struct auth_lockout *lo, const char *user, const char *address)
{
	int reached = 0;
	struct key k;
	if (!address)
		address = "";
	pthread_mutex_lock(&lo->mutex);
	uint64_t now = lo->cfg.clock();
	/* An attempt that was let in just before a lockout or delay began: counted once already. */
	if (remaining_locked(lo, user, address, now)) {
		pthread_mutex_unlock(&lo->mutex);
		return 0;
	}
	/* The user's count over all addresses decides the delay: how far past the limit. */
	unsigned over = 0;
	make_key(&k, KEY_USER, user, NULL);
	struct entry *e = get_or_add(lo, &lo->counts, &k, now);
	if (e) {
		unsigned n = count_one(lo, e, now);
		over = n > lo->cfg.user_attempts ? n - lo->cfg.user_attempts : 0;
	}
	make_key(&k, KEY_PAIR, user, address);
	e = get_or_add(lo, &lo->counts, &k, now);
	if (e) {
		if (count_one(lo, e, now) >= lo->cfg.pair_attempts) {
			lock(lo, e, now);
			reached |= AUTH_LOCKOUT_PAIR;
		} else if (over && !is_known(lo, user, address, now)) {
			uint64_t d = over > 32 ? lo->cfg.max_delay_s : 1ull << (over - 1);
			if (d > lo->cfg.max_delay_s)
				d = lo->cfg.max_delay_s;
			e->locked_until = now + d;
			reached |= AUTH_LOCKOUT_DELAY;
		}
	}
	if (*address) {
		make_key(&k, KEY_ADDRESS, NULL, address);
		e = get_or_add(lo, &lo->counts, &k, now);
		if (e && count_one(lo, e, now) >= lo->cfg.address_attempts) {
			lock(lo, e, now);
			reached |= AUTH_LOCKOUT_ADDRESS;
		}
	}
	pthread_mutex_unlock(&lo->mutex);
	return reached;
}

void auth_lockout_success(struct auth_lockout *lo, const char *user, const char *address)
{
	struct key k;
	if (!address)
		address = "";
	pthread_mutex_lock(&lo->mutex);
	uint64_t now = lo->cfg.clock();
	make_key(&k, KEY_PAIR, user, address);
	struct entry *e = lookup(lo, &lo->counts, &k, NULL);
	if (e)
		remove_entry(&lo->counts, e);
	if (*address) {
		make_key(&k, KEY_KNOWN, user, address);
		e = get_or_add(lo, &lo->known, &k, now);
		if (e)
			e->window_start = now;
	}
	pthread_mutex_unlock(&lo->mutex);
}

void auth_lockout_known_since(struct auth_lockout *lo, const char *user, const char *address, uint64_t age_s)
{
	if (!address || !*address || age_s >= AUTH_LOCKOUT_KNOWN_S)
		return;
	struct key k;
	pthread_mutex_lock(&lo->mutex);
	uint64_t now = lo->cfg.clock();
	make_key(&k, KEY_KNOWN, user, address);
	struct entry *e = get_or_add(lo, &lo->known, &k, now);
	/* A monotonic clock younger than the login: known from the clock's start. */
	if (e)
		e->window_start = now > age_s ? now - age_s : 0;
	pthread_mutex_unlock(&lo->mutex);
}

int auth_lockout_known(struct auth_lockout *lo, const char *user, const char *address)
{
	pthread_mutex_lock(&lo->mutex);
	bool known = is_known(lo, user, address, lo->cfg.clock());
	pthread_mutex_unlock(&lo->mutex);
	return known;
}

size_t auth_lockout_entries(struct auth_lockout *lo)
{
	pthread_mutex_lock(&lo->mutex);
	size_t n = lo->counts.count;
	pthread_mutex_unlock(&lo->mutex);
	return n;
}
