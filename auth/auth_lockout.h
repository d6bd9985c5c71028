/* auth_lockout.h — private to auth/: counts failed logins per (user name, address) pair, per address and
 * per user name, says who must wait, and remembers the addresses each user logged in from, in tables of
 * bounded size.
 *
 * The rules (README "Lockout"):
 * - pair: pair_attempts failures of one user name from one address within window_s lock that pair for
 *   duration_s; each next lockout of the same pair (before it is forgotten, a window after the last one
 *   ended) lasts twice as long, up to max_duration_s. The same user from another address is not locked.
 * - address: address_attempts failures from one address, whatever the user names, lock the address (any
 *   user from it) the same way: this stops spraying many names from one place.
 * - user: past user_attempts failures of one user name within window_s, from any addresses, each further
 *   failure from an address the user has not logged in from (a "known" address) makes that pair wait
 *   before its next attempt: 1 s, then twice as long with each failure over the limit, up to
 *   max_delay_s. This slows guessing from many addresses and never locks the user out: an address that
 *   has not failed itself is never made to wait by it, and known addresses are exempt. */
#ifndef VDI_AUTH_LOCKOUT_H
#define VDI_AUTH_LOCKOUT_H

#include "auth.h"

#include <stddef.h>
#include <stdint.h>

/* Bits auth_lockout_failure() returns: what this failure started. */
#define AUTH_LOCKOUT_PAIR    1 /* the user name from this address is locked out */
#define AUTH_LOCKOUT_ADDRESS 2 /* the address is locked out, for every user name */
#define AUTH_LOCKOUT_DELAY   4 /* the pair must wait (the per-user slow-down) */

/* How long a successful login's address stays "known" for its user (auth.h's AUTH_KNOWN_ADDRESS_S). */
#define AUTH_LOCKOUT_KNOWN_S AUTH_KNOWN_ADDRESS_S

struct auth_lockout_config {
	unsigned pair_attempts, address_attempts, user_attempts; /* each 1.. */
	unsigned window_s, duration_s, max_duration_s, max_delay_s;
	size_t max_entries;      /* of the failure counts (pairs, addresses and users); the known addresses as many */
	uint64_t (*clock)(void); /* seconds */
};

struct auth_lockout;

/* NULL on a zero argument (max_duration_s below duration_s is raised to it) or no memory. */
struct auth_lockout *auth_lockout_create(const struct auth_lockout_config *cfg);
void auth_lockout_destroy(struct auth_lockout *lo);

/* Seconds this user name must still wait from this address: the longer of the pair's and the
 * address's; 0 when it may try now. address may be NULL or "" (unknown: one pair for every unknown
 * address, no per-address limit, never known). */
unsigned auth_lockout_remaining(struct auth_lockout *lo, const char *user, const char *address);
/* Counts a failure against the pair, the address and the user; returns AUTH_LOCKOUT_* bits. A failure
 * while the pair or address must wait (an attempt let in just before) is not counted again. */
int auth_lockout_failure(struct auth_lockout *lo, const char *user, const char *address);
/* A success forgets the pair's failures and remembers the address as known for the user. Neither the
 * address's count (one good account must not let an address keep guessing others) nor the user's (an
 * attacker elsewhere keeps being slowed) is forgotten. */
void auth_lockout_success(struct auth_lockout *lo, const char *user, const char *address);
/* A success of an earlier run (the audit log's), age_s seconds ago: its address is known for the user
 * for what is left of AUTH_LOCKOUT_KNOWN_S. Given oldest first, the table keeps its order. */
void auth_lockout_known_since(struct auth_lockout *lo, const char *user, const char *address, uint64_t age_s);
/* Whether the user logged in from address within AUTH_LOCKOUT_KNOWN_S. */
int auth_lockout_known(struct auth_lockout *lo, const char *user, const char *address);
/* Failure-count entries in the table now. */
size_t auth_lockout_entries(struct auth_lockout *lo);

#endif
