/* broker.h — the broker's face: users log in on a greeter (or with the
 * credentials their RDP client sent), are authenticated (auth/), and land on
 * a desktop of a pool they are entitled to (pools/); sessions survive
 * disconnects and vdi-server restarts (the state store). vdi-server hands
 * the broker's display hooks to the RDP and VNC servers. */
#ifndef VDI_BROKER_H
#define VDI_BROKER_H

#include "../auth/auth.h"
#include "../display/display.h"
#include "../pools/pools.h"

#include <stddef.h>
#include <stdint.h>

struct broker_config {
	const char *data_dir; /* the state store (DATA_DIR/vdi.db) and the VMMs' run directory (DATA_DIR/run) */
	const char *vmm_path; /* vdi-vmm */
	uint32_t greeter_width, greeter_height;
	struct auth_config auth;       /* the broker owns the auth instance; its audit goes to the store */
	int64_t audit_retention_s;     /* audit records older than this are removed (hourly); 0: kept forever */
	const struct pool_spec *pools; /* the configured pools */
	size_t npools;
	unsigned auth_workers; /* authentications at once; 0: 4 */
	const char *host_name; /* shown on the greeter; NULL: gethostname() */
	unsigned power_ops;    /* power operations at once (starts, stops, suspends); 0: 4 */
	/* Limits before a login: a connection left at the login screen (or the
	 * pool choice) without input this long is closed (0: never); the API's
	 * connections share `limit` with the display ports (NULL: no caps),
	 * get handshake_timeout_s for their TLS handshake and request line and
	 * are closed after api_idle_timeout_s without a byte (0: 30 s). */
	unsigned greeter_timeout_s;
	struct conn_limit *limit;
	unsigned handshake_timeout_s;
	unsigned api_idle_timeout_s;
	/* The clock for schedules and timeouts: real time, or (tests) from
	 * clock_start on, clock_speed times faster. */
	long long clock_start;
	unsigned clock_speed;
};

struct broker;
/* Opens the store, adopts the desktops a previous run left, starts each
 * pool's desktops. NULL with the reason in err. */
struct broker *broker_start(const struct broker_config *cfg, char *err, size_t errlen);
/* Ends every connection's greeter, keeps desktops and sessions (a restart
 * adopts them). Stop the display servers first. */
void broker_stop(struct broker *b);
/* What the RDP and VNC servers call on connect and disconnect. */
struct display_hooks broker_display_hooks(struct broker *b);
struct auth *broker_auth(struct broker *b);
/* The admin REST API on `listen` ("ADDR:PORT", "[V6]:PORT", "*:PORT"),
 * TLS with this certificate and key; stopped by broker_stop(). 0, or
 * -EINVAL with the reason in err. */
int broker_start_api(struct broker *b, const char *listen, const char *cert, const char *key, char *err, size_t errlen);

#endif
