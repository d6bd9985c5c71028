/* audit.c — the audit of refused logins, rate-limited and aggregated so that a flood of bad logins grows
 * the audit table and the log by a bounded amount; the audit table's retention; the site's key of
 * unknown user names.
 *
 * Refused attempts are "login_failed", "locked_refused" and "lockout" records. In each period of
 * AUDIT_PERIOD_S from the first of them: the first AUDIT_ADDRESS_ROWS failed or locked attempts from an
 * address are written one by one (lockouts do not count against that), and at most AUDIT_PERIOD_ROWS
 * refused records in all; the others are counted, and when the period ends one record per (address,
 * event) says how many more there were ("N more ... not recorded one by one"), and one per event for
 * the addresses beyond AUDIT_ADDRESSES_MAX. So a period adds at most AUDIT_PERIOD_ROWS +
 * 2 * AUDIT_ADDRESSES_MAX + 3 records, whatever the flood. Every other event is written as it comes. */
#include "internal.h"
#include "store.h"

#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_PERIOD_S      60
#define AUDIT_ADDRESS_ROWS  10
#define AUDIT_PERIOD_ROWS   100
#define AUDIT_ADDRESSES_MAX 100
#define AUDIT_PRUNE_EVERY_S 3600
#define AUDIT_PRUNE_BATCH   5000

enum refused_kind { R_FAILED, R_LOCKED, R_LOCKOUT, R_KINDS };
static const char *const refused_events[R_KINDS] = {"login_failed", "locked_refused", "lockout"};

struct tracked {
	char address[STORE_ADDRESS_MAX];
	unsigned rows;                /* written one by one this period */
	uint64_t suppressed[R_KINDS]; /* counted instead */
};

struct audit_limiter {
	struct store *store;
	int64_t retention_s; /* 0: forever */
	pthread_mutex_t mutex;
	pthread_cond_t wake;
	pthread_t thread;
	bool stopping;
	/* the current period; period_start 0: none open */
	uint64_t period_start;
	unsigned rows;
	struct tracked tracked[AUDIT_ADDRESSES_MAX];
	size_t ntracked;
	uint64_t overflow[R_KINDS]; /* from addresses beyond the tracked ones */
	uint64_t next_prune;
};

static uint64_t monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static int refused_kind(const char *event)
{
	for (int k = 0; k < R_KINDS; k++)
		if (!strcmp(event, refused_events[k]))
			return k;
	return -1;
}

/* With the mutex: writes the period's counts as summary records and starts afresh. */
static void flush_period(struct audit_limiter *l)
{
	char detail[160];
	for (size_t i = 0; i < l->ntracked; i++)
		for (int k = 0; k < R_KINDS; k++) {
			if (!l->tracked[i].suppressed[k])
				continue;
			snprintf(detail, sizeof(detail), "%llu more from this address in %u s, not recorded one by one",
				 (unsigned long long)l->tracked[i].suppressed[k], AUDIT_PERIOD_S);
			store_audit_append(l->store, refused_events[k], NULL, l->tracked[i].address, NULL, NULL, detail,
					   NULL);
		}
	for (int k = 0; k < R_KINDS; k++) {
		if (!l->overflow[k])
			continue;
		snprintf(detail, sizeof(detail), "%llu more from other addresses in %u s, not recorded one by one",
			 (unsigned long long)l->overflow[k], AUDIT_PERIOD_S);
		store_audit_append(l->store, refused_events[k], NULL, NULL, NULL, NULL, detail, NULL);
	}
	l->period_start = 0;
	l->rows = 0;
	l->ntracked = 0;
	memset(l->overflow, 0, sizeof(l->overflow));
}

static struct tracked *track(struct audit_limiter *l, const char *address)
{
	for (size_t i = 0; i < l->ntracked; i++)
		if (!strncmp(l->tracked[i].address, address, sizeof(l->tracked[i].address) - 1))
			return &l->tracked[i];
	if (l->ntracked == AUDIT_ADDRESSES_MAX)
		return NULL;
	struct tracked *t = &l->tracked[l->ntracked++];
	memset(t, 0, sizeof(*t));
	snprintf(t->address, sizeof(t->address), "%s", address);
	return t;
}

void audit_limiter_record(struct audit_limiter *l, const char *event, const char *user, const char *address,
			  const char *detail)
{
	int kind = refused_kind(event);
	if (kind < 0) {
		store_audit_append(l->store, event, user, address, NULL, NULL, detail, NULL);
		return;
	}
	pthread_mutex_lock(&l->mutex);
	uint64_t now = monotonic_s();
	if (l->period_start && now - l->period_start >= AUDIT_PERIOD_S)
		flush_period(l);
	if (!l->period_start)
		l->period_start = now;
	struct tracked *t = track(l, address ? address : "");
	bool write = l->rows < AUDIT_PERIOD_ROWS && t && (kind == R_LOCKOUT || t->rows < AUDIT_ADDRESS_ROWS);
	if (write) {
		l->rows++;
		t->rows += kind != R_LOCKOUT;
		store_audit_append(l->store, event, user, address, NULL, NULL, detail, NULL);
	} else if (t) {
		t->suppressed[kind]++;
	} else {
		l->overflow[kind]++;
	}
	pthread_mutex_unlock(&l->mutex);
}

/* With the mutex, released while SQLite deletes: old records in batches, so that no other writer waits
 * for more than one batch. */
static void prune(struct audit_limiter *l)
{
	if (!l->retention_s)
		return;
	long long total = 0;
	int n;
	pthread_mutex_unlock(&l->mutex);
	while ((n = store_audit_prune(l->store, l->retention_s, AUDIT_PRUNE_BATCH)) > 0) {
		total += n;
		if (n < AUDIT_PRUNE_BATCH)
			break;
	}
	pthread_mutex_lock(&l->mutex);
	if (total)
		log_info("audit: removed %lld records older than the retention of %lld days", total,
			 (long long)(l->retention_s / 86400));
}

static void *limiter_thread(void *opaque)
{
	struct audit_limiter *l = opaque;
	pthread_mutex_lock(&l->mutex);
	while (!l->stopping) {
		uint64_t now = monotonic_s();
		if (l->period_start && now - l->period_start >= AUDIT_PERIOD_S)
			flush_period(l);
		if (now >= l->next_prune) {
			l->next_prune = now + AUDIT_PRUNE_EVERY_S;
			prune(l);
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&l->wake, &l->mutex, &until);
	}
	pthread_mutex_unlock(&l->mutex);
	return NULL;
}

struct audit_limiter *audit_limiter_create(struct store *store, int64_t retention_s)
{
	struct audit_limiter *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->store = store;
	l->retention_s = retention_s > 0 ? retention_s : 0;
	pthread_mutex_init(&l->mutex, NULL);
	pthread_cond_init(&l->wake, NULL);
	if (pthread_create(&l->thread, NULL, limiter_thread, l) != 0) {
		pthread_cond_destroy(&l->wake);
		pthread_mutex_destroy(&l->mutex);
		free(l);
		return NULL;
	}
	return l;
}

void audit_limiter_destroy(struct audit_limiter *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mutex);
	l->stopping = true;
	pthread_cond_broadcast(&l->wake);
	pthread_mutex_unlock(&l->mutex);
	pthread_join(l->thread, NULL);
	/* The counts so far are not lost with a stop. */
	pthread_mutex_lock(&l->mutex);
	if (l->period_start)
		flush_period(l);
	pthread_mutex_unlock(&l->mutex);
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->mutex);
	free(l);
}

int audit_name_key(const char *data_dir, unsigned char key[AUDIT_NAME_KEY_LEN], char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/audit.key", data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		unsigned char fresh[AUDIT_NAME_KEY_LEN];
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
		int w = -1;
		if (getrandom(fresh, sizeof(fresh), 0) == (ssize_t)sizeof(fresh))
			w = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		bool ok = w >= 0 && write(w, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(w) == 0;
		if (w >= 0)
			close(w);
		/* link() rather than rename(): a key another vdi-server made meanwhile is kept. */
		ok = ok && (link(tmp, path) == 0 || errno == EEXIST);
		unlink(tmp);
		explicit_bzero(fresh, sizeof(fresh));
		if (!ok) {
			snprintf(err, errlen, "%s: cannot create the audit's key: %s", path, strerror(errno));
			return -EIO;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	ssize_t n = fd >= 0 ? read(fd, key, AUDIT_NAME_KEY_LEN) : -1;
	if (fd >= 0)
		close(fd);
	if (n != AUDIT_NAME_KEY_LEN) {
		snprintf(err, errlen, "%s: cannot read the audit's key (%d bytes wanted)%s%s", path, AUDIT_NAME_KEY_LEN,
			 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return -EIO;
	}
	return 0;
}
