/* conn_limit.h — who may open one more connection: a cap on connections
 * held in all, and per client address a cap on connections held and a
 * token bucket of new connections a second. Addresses listed as admin
 * addresses skip the per-address limits and may use the last few places
 * under the cap, so an administrator from such an address always gets
 * through a flood. IPv6 addresses count per /64 (what one host or one
 * customer usually holds); IPv4 ones, including IPv4-mapped IPv6, each.
 * The ports log their refusals through it, at most a line a minute each
 * (common/log_limit.h). Every call is thread safe; the listeners of all
 * ports share one. */
#ifndef VDI_COMMON_CONN_LIMIT_H
#define VDI_COMMON_CONN_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct conn_limit_config {
	unsigned max_connections; /* in all; 0: no cap */
	unsigned per_address;     /* held from one address; 0: no cap */
	unsigned per_second;      /* new ones a second from one address; 0: no cap */
	/* Admin addresses: CIDRs or addresses separated by blanks or commas
	 * ("10.1.2.0/24 ::1"); NULL or "" for none. */
	const char *admin_addresses;
	/* Milliseconds on a monotonic clock, for the new connections a
	 * second and the refusal log; NULL: CLOCK_MONOTONIC. */
	int64_t (*clock_ms)(void);
};

/* Places under max_connections kept for admin addresses. */
#define CONN_LIMIT_ADMIN_RESERVE 16

enum conn_verdict {
	CONN_OK,           /* taken: conn_limit_release() when it closes */
	CONN_FULL,         /* the server holds max_connections */
	CONN_ADDRESS_FULL, /* this address holds its share */
	CONN_TOO_FAST,     /* this address opened too many in the last seconds */
};

struct conn_limit;

/* NULL on no memory or a bad admin list (-EINVAL: check it first with
 * conn_limit_parse_addresses()). */
struct conn_limit *conn_limit_new(const struct conn_limit_config *cfg);
void conn_limit_free(struct conn_limit *l);

/* May the client at `sa` open a connection? CONN_OK counts it as held.
 * l NULL: always CONN_OK. */
enum conn_verdict conn_limit_acquire(struct conn_limit *l, const struct sockaddr *sa, socklen_t len);
/* The connection CONN_OK allowed has closed. */
void conn_limit_release(struct conn_limit *l, const struct sockaddr *sa, socklen_t len);
/* Whether `sa` is an admin address (l NULL: no). */
bool conn_limit_is_admin(const struct conn_limit *l, const struct sockaddr *sa, socklen_t len);
/* Connections held now, in all. */
unsigned conn_limit_held(struct conn_limit *l);

/* Logs a refusal on `port` ("vnc", "rdp", "api") of the client at
 * `address`: the first of a minute per port, address and reason, then a
 * count a minute (common/log_limit.h), so a flood of refusals cannot flood
 * the log. port and reason are string constants. l NULL: logged each time. */
void conn_limit_log_refusal(struct conn_limit *l, const char *port, const char *address, const char *reason);

/* What a refused client is told ("too many connections from your address;
 * try again later"). */
const char *conn_verdict_reason(enum conn_verdict v);

/* Checks an admin address list; 0, or -EINVAL with the offending word in
 * err. */
int conn_limit_parse_addresses(const char *text, char *err, size_t errlen);

#endif
