/* conn_limit.c — connection caps in all and per address, and a token
 * bucket of new connections a second per address (see conn_limit.h). */
#include "conn_limit.h"

#include "log_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIMIT_BUCKETS      4096
/* Entries kept for addresses that hold nothing (only their token bucket):
 * past this many, they are dropped, forgetting their recent rate. */
#define LIMIT_IDLE_ENTRIES 65536
/* A bucket holds this many seconds of new connections. */
#define LIMIT_BURST_S      2
#define LIMIT_ADMIN_MAX    64

struct limit_key {
	uint8_t b[16]; /* IPv6, or IPv4 mapped; an IPv6 one cut to its /64 */
};

struct limit_entry {
	struct limit_entry *next;
	struct limit_key key;
	unsigned held;
	double tokens;
	int64_t refilled_ns;
};

struct limit_cidr {
	uint8_t b[16];
	unsigned bits; /* of the 128 */
};

struct conn_limit {
	pthread_mutex_t lock;
	struct conn_limit_config cfg;
	unsigned held;
	size_t idle_entries;
	struct limit_entry *buckets[LIMIT_BUCKETS];
	size_t nadmin;
	struct limit_cidr admin[LIMIT_ADMIN_MAX];
	struct log_limit *refusals;
};

static int64_t limit_now_ns(const struct conn_limit *l)
{
	if (l->cfg.clock_ms)
		return l->cfg.clock_ms() * 1000000;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The full 128-bit address (IPv4 as ::ffff:a.b.c.d); false for other families. */
static bool limit_address(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool limit_mapped_v4(const uint8_t a[16])
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return !memcmp(a, prefix, sizeof(prefix));
}

static bool limit_key_of(const struct sockaddr *sa, socklen_t len, struct limit_key *k)
{
	if (!limit_address(sa, len, k->b))
		return false;
	if (!limit_mapped_v4(k->b))
		memset(k->b + 8, 0, 8); /* per /64 */
	return true;
}

static size_t limit_hash(const struct limit_key *k)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < sizeof(k->b); i++)
		h = (h ^ k->b[i]) * 1099511628211ull;
	return (size_t)(h % LIMIT_BUCKETS);
}

static bool limit_in_cidr(const struct limit_cidr *c, const uint8_t a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->b, a, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->b[full] & mask) == (a[full] & mask);
}

/* One word: ADDRESS or ADDRESS/BITS. */
static int limit_parse_cidr(const char *word, size_t n, struct limit_cidr *out)
{
	char buf[64];
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, word, n);
	buf[n] = '\0';
	char *slash = strchr(buf, '/');
	long bits = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		errno = 0;
		bits = slash[1] >= '0' && slash[1] <= '9' ? strtol(slash + 1, &end, 10) : -1;
		if (bits < 0 || errno || *end)
			return -EINVAL;
	}
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		if (bits > 32)
			return -EINVAL;
		memset(out->b, 0, 10);
		out->b[10] = out->b[11] = 0xff;
		memcpy(out->b + 12, &v4, 4);
		out->bits = (unsigned)(bits < 0 ? 32 : bits) + 96;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &v6) == 1) {
		if (bits > 128)
			return -EINVAL;
		memcpy(out->b, &v6, 16);
		out->bits = (unsigned)(bits < 0 ? 128 : bits);
		return 0;
	}
	return -EINVAL;
}

/* The words of an address list into out (up to max); stops at the first bad one. */
static int limit_parse_list(const char *text, struct limit_cidr *out, size_t max, size_t *count, char *err,
			    size_t errlen)
{
	*count = 0;
	const char *s = text ? text : "";
	while (*s) {
		s += strspn(s, " \t,");
		if (!*s)
			break;
		size_t n = strcspn(s, " \t,");
		struct limit_cidr c;
		if (limit_parse_cidr(s, n, &c) < 0) {
			snprintf(err, errlen,
				 "'%.*s' is not an address or CIDR (such as 10.0.0.5, 192.168.1.0/24, ::1 or "
				 "2001:db8::/48)",
				 (int)(n > 60 ? 60 : n), s);
			return -EINVAL;
		}
		if (*count == max) {
			snprintf(err, errlen, "more than %zu addresses", max);
			return -EINVAL;
		}
		if (out)
			out[*count] = c;
		(*count)++;
		s += n;
	}
	return 0;
}

int conn_limit_parse_addresses(const char *text, char *err, size_t errlen)
{
	struct limit_cidr tmp[LIMIT_ADMIN_MAX];
	size_t n;
	return limit_parse_list(text, tmp, LIMIT_ADMIN_MAX, &n, err, errlen);
}

struct conn_limit *conn_limit_new(const struct conn_limit_config *cfg)
{
	struct conn_limit *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cfg = *cfg;
	l->cfg.admin_addresses = NULL;
	char err[128];
	if (limit_parse_list(cfg->admin_addresses, l->admin, LIMIT_ADMIN_MAX, &l->nadmin, err, sizeof(err)) < 0 ||
	    !(l->refusals = log_limit_new(cfg->clock_ms))) {
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void conn_limit_free(struct conn_limit *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < LIMIT_BUCKETS; i++)
		for (struct limit_entry *e = l->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	log_limit_free(l->refusals);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static bool limit_admin(const struct conn_limit *l, const uint8_t a[16])
{
	for (size_t i = 0; i < l->nadmin; i++)
		if (limit_in_cidr(&l->admin[i], a))
			return true;
	return false;
}

bool conn_limit_is_admin(const struct conn_limit *l, const struct sockaddr *sa, socklen_t len)
{
	uint8_t a[16];
	return l && limit_address(sa, len, a) && limit_admin(l, a);
}

static double limit_burst(const struct conn_limit *l)
{
	return (double)l->cfg.per_second * LIMIT_BURST_S;
}

static void limit_refill(const struct conn_limit *l, struct limit_entry *e, int64_t now)
{
	double add = (double)(now - e->refilled_ns) / 1e9 * l->cfg.per_second;
	e->tokens = e->tokens + add > limit_burst(l) ? limit_burst(l) : e->tokens + add;
	e->refilled_ns = now;
}

/* An entry that holds nothing and whose bucket is full again carries no
 * state worth keeping. */
static bool limit_stale(const struct conn_limit *l, struct limit_entry *e, int64_t now)
{
	if (e->held)
		return false;
	limit_refill(l, e, now);
	return !l->cfg.per_second || e->tokens >= limit_burst(l);
}

static void limit_unlink(struct conn_limit *l, struct limit_entry **link)
{
	struct limit_entry *e = *link;
	*link = e->next;
	if (!e->held)
		l->idle_entries--;
	free(e);
}

/* Too many addresses that hold nothing: forget them all. */
static void limit_sweep(struct conn_limit *l)
{
	for (size_t i = 0; i < LIMIT_BUCKETS; i++)
		for (struct limit_entry **link = &l->buckets[i]; *link;) {
			if ((*link)->held)
				link = &(*link)->next;
			else
				limit_unlink(l, link);
		}
}

/* The entry of k (made, with a full bucket, when absent); stale entries
 * met on the way are dropped. NULL on no memory. */
static struct limit_entry *limit_entry(struct conn_limit *l, const struct limit_key *k, int64_t now)
{
	struct limit_entry **link = &l->buckets[limit_hash(k)];
	while (*link) {
		struct limit_entry *e = *link;
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
		if (limit_stale(l, e, now))
			limit_unlink(l, link);
		else
			link = &e->next;
	}
	if (l->idle_entries >= LIMIT_IDLE_ENTRIES)
		limit_sweep(l);
	struct limit_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = *k;
	e->tokens = limit_burst(l);
	e->refilled_ns = now;
	size_t h = limit_hash(k);
	e->next = l->buckets[h];
	l->buckets[h] = e;
	l->idle_entries++;
	return e;
}

enum conn_verdict conn_limit_acquire(struct conn_limit *l, const struct sockaddr *sa, socklen_t len)
{
	if (!l)
		return CONN_OK;
	uint8_t a[16];
	struct limit_key k;
	bool known = limit_address(sa, len, a) && limit_key_of(sa, len, &k);
	bool admin = known && limit_admin(l, a);
	enum conn_verdict v = CONN_OK;
	pthread_mutex_lock(&l->lock);
	unsigned cap = l->cfg.max_connections;
	if (cap && !admin)
		cap = cap > 2 * CONN_LIMIT_ADMIN_RESERVE ? cap - CONN_LIMIT_ADMIN_RESERVE : (cap + 1) / 2;
	if (cap && l->held >= cap) {
		v = CONN_FULL;
	} else if (known && !admin && (l->cfg.per_address || l->cfg.per_second)) {
		int64_t now = limit_now_ns(l);
		struct limit_entry *e = limit_entry(l, &k, now);
		if (!e) {
			v = CONN_FULL;
		} else {
			limit_refill(l, e, now);
			if (l->cfg.per_address && e->held >= l->cfg.per_address)
				v = CONN_ADDRESS_FULL;
			else if (l->cfg.per_second && e->tokens < 1.0)
				v = CONN_TOO_FAST;
			if (v == CONN_OK) {
				if (l->cfg.per_second)
					e->tokens -= 1.0;
				if (!e->held++)
					l->idle_entries--;
			}
		}
	}
	if (v == CONN_OK)
		l->held++;
	pthread_mutex_unlock(&l->lock);
	return v;
}

void conn_limit_release(struct conn_limit *l, const struct sockaddr *sa, socklen_t len)
{
	if (!l)
		return;
	uint8_t a[16];
	struct limit_key k;
	bool known = limit_address(sa, len, a) && limit_key_of(sa, len, &k);
	bool admin = known && limit_admin(l, a);
	pthread_mutex_lock(&l->lock);
	if (l->held)
		l->held--;
	if (known && !admin && (l->cfg.per_address || l->cfg.per_second)) {
		for (struct limit_entry *e = l->buckets[limit_hash(&k)]; e; e = e->next) {
			if (memcmp(&e->key, &k, sizeof(k)))
				continue;
			if (e->held && !--e->held)
				l->idle_entries++;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

unsigned conn_limit_held(struct conn_limit *l)
{
	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	unsigned n = l->held;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void conn_limit_log_refusal(struct conn_limit *l, const char *port, const char *address, const char *reason)
{
	log_limit_refusal(l ? l->refusals : NULL, port, address, reason);
}

const char *conn_verdict_reason(enum conn_verdict v)
{
	switch (v) {
	case CONN_OK:
		return "accepted";
	case CONN_FULL:
		return "the server is full; try again later";
	case CONN_ADDRESS_FULL:
		return "too many connections from your address; try again later";
	case CONN_TOO_FAST:
		return "too many new connections from your address; try again in a few seconds";
	}
	return "refused";
}
