/* auth_lockout.h — private to auth/: counts failed logins per user name and per client address and
 * says who is locked out, in a table of bounded size. */
#ifndef VDI_AUTH_LOCKOUT_H
#define VDI_AUTH_LOCKOUT_H

#include <stddef.h>
#include <stdint.h>

/* Bits auth_lockout_failure() returns: which limits this failure reached. */
#define AUTH_LOCKOUT_USER    1
#define AUTH_LOCKOUT_ADDRESS 2

struct auth_lockout;

/* attempts failures within window_s seconds lock for duration_s; the table holds at most max_entries
 * (users and addresses together). clock returns seconds. NULL on a zero argument or no memory. */
struct auth_lockout *auth_lockout_create(unsigned attempts, unsigned window_s, unsigned duration_s, size_t max_entries,
					 uint64_t (*clock)(void));
void auth_lockout_destroy(struct auth_lockout *lo);

/* Seconds left of the longer of the user's and the address's lockouts; 0 when neither is locked.
 * address may be NULL or "" (unknown: no per-address limit). */
unsigned auth_lockout_remaining(struct auth_lockout *lo, const char *user, const char *address);
/* Counts a failure against both; returns AUTH_LOCKOUT_* bits for the limits it reached. */
int auth_lockout_failure(struct auth_lockout *lo, const char *user, const char *address);
/* A success forgets the user's failures (not the address's: one good account must not let an
 * address keep guessing others). */
void auth_lockout_success(struct auth_lockout *lo, const char *user);
/* Entries in the table now. */
size_t auth_lockout_entries(struct auth_lockout *lo);

#endif
