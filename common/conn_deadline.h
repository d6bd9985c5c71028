/* conn_deadline.h — time limits on a connection's stages before login (a
 * TLS handshake, an RFB handshake, RDP's connection sequence). A library
 * may block inside one of them (FreeRDP's TLS accept waits for the client
 * as long as it trickles bytes), so the limit is enforced from outside: at
 * the deadline one watchdog thread shuts the socket down (shutdown(2)), the
 * blocked read returns end of file and the connection's own code ends it.
 * The watchdog works on its own duplicate of the socket, so the
 * connection may close its descriptor at any time; disarm before freeing
 * the struct. */
#ifndef VDI_COMMON_CONN_DEADLINE_H
#define VDI_COMMON_CONN_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

/* Embedded in the connection's state, zeroed before use. */
struct conn_deadline {
	struct conn_deadline *next, *prev; /* the watchdog's list, while armed */
	int fd1;                           /* the watchdog's duplicate + 1; 0 when none */
	int64_t due_ms;                    /* CLOCK_MONOTONIC */
	bool armed, fired;
	const char *what; /* "TLS handshake": for the log line */
	char address[64]; /* the client's, for the log line */
};

/* (Re)arms d: `sock` is shut down `seconds` from now unless disarmed first.
 * seconds 0 disarms. Returns 0, or a negative errno (no descriptor for the
 * duplicate, the watchdog thread would not start): the limit is then not
 * enforced. `what` must be a string constant. */
int conn_deadline_arm(struct conn_deadline *d, int sock, unsigned seconds, const char *what, const char *address);
/* Disarms d and closes its duplicate. After it returns the watchdog no
 * longer touches d. Idempotent. */
void conn_deadline_disarm(struct conn_deadline *d);
/* Whether d fired (the socket was shut down for being too slow). */
bool conn_deadline_fired(const struct conn_deadline *d);

#endif
