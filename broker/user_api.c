/* user_api.c — the API's routes for a user's own things (any user who
 * authenticates, not only admins): the pools they may use, each with its
 * state for them, and one-time login tickets. A ticket stands in for the
 * password on the RDP or VNC login that follows (vdi-client, later the web
 * portal) and carries the pool chosen, so the user is asked once and the
 * broker's login screen never shows. Tickets live in this process, are
 * kept as SHA-256 hashes, expire after a minute and work once. */
#include "internal.h"

#include "../common/log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TICKET_PREFIX   "vdit1-"
#define TICKET_TTL_S    60
/* A reconnect ticket (vdi's private channel) outlives a network loss of a minute or two; a new one, sent
 * halfway through, replaces it. */
#define RECONNECT_TTL_S 120

static int64_t ticket_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void ticket_hash(const char *text, uint8_t out[32])
{
	SHA256((const unsigned char *)text, strlen(text), out);
}

/* Under the lock: a new ticket for user and pool into text (TICKET_TEXT_MAX), alive ttl_s seconds. An owner's
 * (a connection's) new ticket replaces its older ones. */
static int ticket_issue(struct broker *b, const char *user, const char *pool, char *text, int64_t ttl_s,
			const void *owner)
{
	assert_locked(b);
	uint8_t raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	char b64[48]; /* 32 bytes: 44 characters and a NUL */
	int n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	/* base64url without padding: it goes where passwords go, and into URLs later. */
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	for (int i = 0; i < n; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(text, TICKET_TEXT_MAX, TICKET_PREFIX "%s", b64);
	int64_t now = ticket_now();
	for (size_t i = 0; owner && i < BROKER_TICKETS; i++)
		if (b->tickets[i].owner == owner)
			memset(&b->tickets[i], 0, sizeof(b->tickets[i]));
	struct broker_ticket *slot = &b->tickets[0];
	for (size_t i = 0; i < BROKER_TICKETS; i++) {
		struct broker_ticket *t = &b->tickets[i];
		if (t->expires <= now) {
			slot = t;
			break;
		}
		if (t->expires < slot->expires)
			slot = t; /* all in use: the oldest goes */
	}
	ticket_hash(text, slot->hash);
	snprintf(slot->user, sizeof(slot->user), "%s", user);
	snprintf(slot->pool, sizeof(slot->pool), "%s", pool);
	slot->expires = now + ttl_s;
	slot->owner = owner;
	explicit_bzero(b64, sizeof(b64));
	return 0;
}

bool broker_ticket_take(struct broker *b, const char *user, const char *text, char pool[POOL_NAME_MAX + 1])
{
	assert_locked(b);
	if (strncmp(text, TICKET_PREFIX, strlen(TICKET_PREFIX)) != 0)
		return false;
	uint8_t hash[32];
	ticket_hash(text, hash);
	int64_t now = ticket_now();
	for (size_t i = 0; i < BROKER_TICKETS; i++) {
		struct broker_ticket *t = &b->tickets[i];
		if (t->expires <= now || CRYPTO_memcmp(t->hash, hash, sizeof(hash)) != 0)
			continue;
		bool mine = strcmp(t->user, user) == 0;
		if (mine)
			snprintf(pool, POOL_NAME_MAX + 1, "%s", t->pool);
		/* Used, or shown to someone else: gone either way. */
		memset(t, 0, sizeof(*t));
		return mine;
	}
	return false;
}

/* A pool's state for user: their desktop there, a running free one, one that can be started, none. */
static const char *pool_state_for(struct broker *b, const struct broker_pool *p, const char *user)
{
	unsigned count = 0;
	bool ready = false, startable = false;
	for (struct broker_desktop *d = b->desktops; d; d = d->next) {
		if (strcmp(d->pool, p->spec.name) != 0 || d->deleting)
			continue;
		count++;
		if (strcmp(d->user, user) == 0)
			return "assigned";
		if (d->user[0] || d->conn || d->held_off)
			continue;
		ready |= d->state == DESKTOP_RUNNING;
		startable = true;
	}
	return ready ? "ready" : startable || count < p->spec.size ? "starting" : "unavailable";
}

void user_api_pools(void *opaque, const char *user, struct api_result *res)
{
	struct broker *b = opaque;
	struct pool_entitlements *e = entitlements_of(b, user, NULL);
	if (!e) {
		api_result_error(res, 500, "out of memory");
		return;
	}
	json_t *list = json_array();
	broker_lock(b);
	for (size_t i = 0; i < e->n; i++) {
		struct broker_pool *p = e->pool[i].entitled ? broker_pool_find(b, e->pool[i].name) : NULL;
		if (p && !p->deleting)
			json_array_append_new(
			    list, json_pack("{s:s, s:s}", "name", p->spec.name, "state", pool_state_for(b, p, user)));
	}
	broker_unlock(b);
	free(e);
	res->json = json_pack("{s:o}", "pools", list);
}

void user_api_ticket(void *opaque, const char *user, const char *pool, struct api_result *res)
{
	struct broker *b = opaque;
	struct pool_entitlements *e = entitlements_of(b, user, pool);
	if (!e) {
		api_result_error(res, 500, "out of memory");
		return;
	}
	char text[TICKET_TEXT_MAX];
	int r = -ENOENT;
	broker_lock(b);
	struct broker_pool *p = broker_pool_find(b, pool);
	if (p && !p->deleting && e->n)
		r = e->pool[0].entitled ? ticket_issue(b, user, pool, text, TICKET_TTL_S, NULL) : -EACCES;
	broker_unlock(b);
	free(e);
	if (r == -ENOENT) {
		api_result_error(res, 404, "no pool %s", pool);
	} else if (r == -EACCES) {
		api_result_error(res, 403, "you may not use pool %s", pool);
	} else if (r < 0) {
		api_result_errno(res, r, "cannot make a ticket");
	} else {
		res->status = 201;
		res->json = json_pack("{s:s, s:s, s:i}", "ticket", text, "pool", pool, "expires_in", TICKET_TTL_S);
		explicit_bzero(text, sizeof(text));
	}
}

int broker_reconnect_ticket(void *opaque, struct display_conn *dc, struct display_ticket *t)
{
	struct broker *b = opaque;
	int r = -ENOENT;
	broker_lock(b);
	for (struct broker_conn *c = b->conns; c; c = c->next) {
		if (c->dc != dc)
			continue;
		/* Only a connection on its desktop has a session to come back to. */
		if (c->phase != CONN_DESKTOP || !c->user[0] || !c->pool[0])
			break;
		char text[TICKET_TEXT_MAX];
		r = ticket_issue(b, c->user, c->pool, text, RECONNECT_TTL_S, dc);
		if (r == 0) {
			snprintf(t->ticket, sizeof(t->ticket), "%s", text);
			snprintf(t->user, sizeof(t->user), "%s", c->user);
			snprintf(t->pool, sizeof(t->pool), "%s", c->pool);
			t->ttl_s = RECONNECT_TTL_S;
		}
		explicit_bzero(text, sizeof(text));
		break;
	}
	broker_unlock(b);
	return r;
}
