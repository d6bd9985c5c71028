/* auth.h — the face of auth/: checks a user name and password (PAM or a users file), locks out
 * guessing, and answers "is this user named in that list" for entitlements and admin rights.
 * auth/ knows no protocols, pools or database: callers pass strings and get answers. */
#ifndef VDI_AUTH_AUTH_H
#define VDI_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_backend { AUTH_BACKEND_FILE, AUTH_BACKEND_PAM };

enum auth_result {
	AUTH_OK,     /* the password is right and the account may log in */
	AUTH_DENIED, /* wrong name or password, or the account may not log in (counted for lockout) */
	AUTH_LOCKED, /* too many failures: refused without asking the backend; see *locked_for_s */
	AUTH_ERROR,  /* the backend could not answer (PAM misconfigured, users file unreadable) */
};

/* Audit events: "login_ok", "login_failed", "lockout" (this failure started a lockout; detail says of
 * what, the user name from this address or the address, and for how long), "locked_refused". address is
 * the caller's string, unsanitized; detail is ours. user is the caller's string for a name the backend
 * knows (the users file's users; with PAM, the system's user database, getpwnam), and for any other
 * name "unknown:" and 24 hex digits of its HMAC-SHA256 under name_key, so a password typed into the
 * name field is never kept in clear, while the same unknown name still reads the same each time.
 * Called from the thread calling auth_check(). */
typedef void (*auth_audit_fn)(void *opaque, const char *event, const char *user, const char *address,
			      const char *detail);

/* The lockout's rules (auth/auth_lockout.h, README "Lockout"): failures counted per (user name,
 * address) pair, per address and per user name; pairs and addresses are locked out, users only slowed
 * down on addresses they have not logged in from. Every 0 takes the default in brackets. */
struct auth_config {
	enum auth_backend backend;
	const char *pam_service;           /* NULL: "vdi" */
	const char *users_file;            /* file backend: created 0600 by the first auth_user_add() */
	unsigned lockout_attempts;         /* failures of one user name from one address that lock that pair [5] */
	unsigned lockout_address_attempts; /* failures from one address, any user names, that lock it [20] */
	unsigned lockout_user_attempts;    /* failures of one user name, any address, past which it is slowed [10] */
	unsigned lockout_window_s;         /* the window failures are counted in [600] */
	unsigned lockout_duration_s;     /* the first lockout; each next one of the same pair or address twice [300] */
	unsigned lockout_max_duration_s; /* the longest lockout [3600] */
	unsigned lockout_max_delay_s;    /* the longest per-user delay [60] */
	const char *admins;              /* "user @group ..." allowed the admin API; NULL: nobody; "*" refused */
	uint64_t (*clock)(void);         /* seconds on any monotonic scale; NULL: CLOCK_MONOTONIC (tests inject) */
	const unsigned char *name_key;   /* the key of unknown names in the audit (copied); NULL: random */
	size_t name_key_len;             /* 16..64 bytes */
	auth_audit_fn audit;             /* may be NULL */
	void *audit_opaque;
};

/* Counters since auth_create(), for /metrics and tests. */
struct auth_stats {
	uint64_t logins_ok, logins_failed, lockouts, locked_refused;
	uint64_t backend_calls; /* PAM conversations or hash computations auth_check() started */
};

struct auth;

/* NULL on a bad configuration, with the reason in err. All strings are copied. */
struct auth *auth_create(const struct auth_config *cfg, char *err, size_t err_len);
void auth_destroy(struct auth *auth);

/* Thread safe. address is the client's address as text without the port ("192.0.2.7", "2001:db8::1"; a
 * port would make every connection a new address), or NULL/"" when unknown (then all unknown addresses
 * count as one). locked_for_s (may be NULL) is set to the seconds this user name must wait from this
 * address on AUTH_LOCKED, and on the AUTH_DENIED that started a lockout or a delay; 0 otherwise. */
enum auth_result auth_check(struct auth *auth, const char *user, const char *password, const char *address,
			    unsigned *locked_for_s);

/* How long an address a user logged in from counts as theirs for the lockout (90 days); at most
 * AUTH_KNOWN_ADDRESSES_MAX of them are kept. */
#define AUTH_KNOWN_ADDRESS_S     (90u * 86400u)
#define AUTH_KNOWN_ADDRESSES_MAX 65536u

/* A successful login of an earlier run (from the audit log), age_s seconds ago: the lockout counts its
 * address as one the user logs in from (their failures from there are never slowed down). Oldest
 * first. */
void auth_remember_login(struct auth *auth, const char *user, const char *address, uint64_t age_s);

/* For credentials that passed auth_check() a moment ago and that the caller remembers (the API's cache of
 * them): the lockout still comes first. AUTH_LOCKED (counted and audited as auth_check() does) while the
 * user name from this address, or the address, is locked out or must wait, else AUTH_OK without asking the backend and
 * without an audit record. */
enum auth_result auth_check_remembered(struct auth *auth, const char *user, const char *address,
				       unsigned *locked_for_s);

/* Is user named in list, a space-separated list of user names, "@group"s and "*" (everyone)?
 * Groups are the users file's for the file backend and the system's (getgrouplist) for PAM. */
bool auth_in_list(struct auth *auth, const char *user, const char *list);
/* auth_in_list(user, config admins). */
bool auth_is_admin(struct auth *auth, const char *user);

/* The users file (file backend; -ENOTSUP with PAM). Names are 1..64 of [A-Za-z0-9._-], not starting
 * with '-'; groups a comma-separated list of such names (NULL or "" for none); passwords 1..1024
 * bytes. Changes are atomic and safe against other processes changing the file at the same time.
 * Return 0 or -EINVAL (bad name, groups or password), -EEXIST, -ENOENT (no such user), -EIO. */
int auth_user_add(struct auth *auth, const char *user, const char *password, const char *groups);
int auth_user_passwd(struct auth *auth, const char *user, const char *password);
int auth_user_del(struct auth *auth, const char *user);
/* Calls fn for every user in file order with its name and groups (never the hash); fn must not call
 * back into auth. Returns the number of users or a negative errno. */
int auth_user_list(struct auth *auth, void (*fn)(void *opaque, const char *user, const char *groups), void *opaque);

void auth_get_stats(struct auth *auth, struct auth_stats *out);

#endif
