/* api.h — private to broker/: the admin REST API (JSON over HTTPS on libmicrohttpd, HTTP Basic
 * authentication through auth/), routing each request to a table of backend callbacks.
 *
 * Routes, under /api/v1 (every reply is JSON unless said otherwise; every error is
 * {"error": "..."} with its status):
 *   GET pools | POST pools {"name": ..., settings...} | GET/PATCH/DELETE pools/NAME
 *   GET desktops[?pool=P] | GET/DELETE desktops/NAME
 *   POST desktops/NAME/poweron|poweroff|refresh|suspend|resume
 *   GET desktops/NAME/screenshot (image/png)
 *   GET sessions | POST sessions/ID/disconnect|logoff
 *   GET users | POST users {"name","password","groups"} | PATCH users/NAME {"password"} |
 *   DELETE users/NAME   (served by the API itself through auth_user_*)
 *   GET events?after=ID&limit=N&event=KIND | GET operations/ID
 * and GET /metrics (Prometheus text 0.0.4). Every route needs an admin (auth_is_admin), but for a
 * user's own things, open to every user who authenticates:
 *   GET me/pools | POST me/pools/NAME/ticket
 *
 * Before a callback runs the API has authenticated the admin, checked the request target as sent
 * (no %00 or bad escape anywhere: 400; a path under 512 bytes: else 414; at most 16 query
 * parameters: else 400), the path parameters (pool: pool_name_valid(); desktop:
 * desktop_name_valid(); user: 1..64 of [A-Za-z0-9._-] not starting with '-'; session ID: a decimal
 * 1..2^63-1; operation ID: [A-Za-z0-9._-], 1..127 bytes, not starting with '-' or '.'), the query
 * (after >= 0, 1 <= limit <= API_EVENTS_LIMIT_MAX), that a body comes as Content-Type
 * application/json (else 415) and is a JSON object of at most API_BODY_MAX bytes.
 *
 * Threads: callbacks are called from libmicrohttpd's threads — API_THREADS of them, so possibly
 * several callbacks at once — never from the thread that called api_start(). They must be thread
 * safe and should not block for long (a long job answers 202 with an operation to poll). */
#ifndef VDI_BROKER_API_H
#define VDI_BROKER_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct auth;

#define API_BODY_MAX         (64 * 1024)
#define API_EVENTS_LIMIT_MAX 1000
#define API_EVENTS_LIMIT_DEF 100
#define API_THREADS          2
#define API_NAME_MAX         128 /* path names, NUL included (as STORE_NAME_MAX) */

/* What a callback answers. Exactly one of json or bytes; status 0 means 200.
 *  - json: the API serializes it and json_decref()s it (also when the callback set a status >= 400:
 *    then it should be {"error": "..."}; api_result_error() builds that).
 *  - bytes: malloc'd, the API free()s them; content_type a static string ("image/png",
 *    "text/plain; version=0.0.4; charset=utf-8").
 * A callback that sets neither and no status gets 500 "the backend gave no answer"; a status with
 * neither (204, or an error) is sent with an empty body or a generic error message.
 * Long operations: answer 202 with {"operation": "ID", ...}; vdictl then polls GET operations/ID,
 * which answers {"id", "state": "running"|"done"|"failed", "done": N, "total": N, "error"}. */
struct api_result {
	unsigned status;
	json_t *json;
	void *bytes;
	size_t len;
	const char *content_type;
};

/* Sets res to status with the JSON body {"error": printf(fmt, ...)} (replacing any earlier body). */
void api_result_error(struct api_result *res, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As api_result_error() with the status for a negative errno: -ENOENT 404, -EEXIST 409, -EINVAL
 * 400, -ENOTEMPTY/-EBUSY/-ESTALE 409, -ENOTSUP 501, -E2BIG/-ENAMETOOLONG 400, else 500. */
void api_result_errno(struct api_result *res, int neg_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One function per route. `opaque` is api_backend.opaque. Every pointer argument lives only for
 * the call; `body` is the parsed request object (borrowed: json_incref() it to keep it). A NULL
 * function answers 501 "not implemented". */
struct api_backend {
	void *opaque;

	void (*pools_list)(void *opaque, struct api_result *res);
	/* body["name"] is a valid NAME (checked), given again as `name`. */
	void (*pool_create)(void *opaque, const char *name, json_t *body, struct api_result *res);
	void (*pool_get)(void *opaque, const char *name, struct api_result *res);
	void (*pool_update)(void *opaque, const char *name, json_t *body, struct api_result *res);
	void (*pool_delete)(void *opaque, const char *name, struct api_result *res);

	/* pool is NULL for every desktop. */
	void (*desktops_list)(void *opaque, const char *pool, struct api_result *res);
	void (*desktop_get)(void *opaque, const char *name, struct api_result *res);
	void (*desktop_poweron)(void *opaque, const char *name, struct api_result *res);
	void (*desktop_poweroff)(void *opaque, const char *name, struct api_result *res);
	void (*desktop_refresh)(void *opaque, const char *name, struct api_result *res);
	void (*desktop_delete)(void *opaque, const char *name, struct api_result *res);
	/* bytes: a PNG, content_type "image/png". */
	void (*desktop_screenshot)(void *opaque, const char *name, struct api_result *res);

	void (*sessions_list)(void *opaque, struct api_result *res);
	void (*session_disconnect)(void *opaque, int64_t id, struct api_result *res);
	void (*session_logoff)(void *opaque, int64_t id, struct api_result *res);

	/* Records with id > after, oldest first, at most limit, only `event`'s unless NULL (event is
	 * [a-z0-9_]{1,63}). Expected shape: {"events": [{"id": N, ...}, ...]}. */
	void (*events_list)(void *opaque, int64_t after, unsigned limit, const char *event, struct api_result *res);
	void (*operation_get)(void *opaque, const char *id, struct api_result *res);

	/* Prometheus text (bytes, "text/plain; version=0.0.4; charset=utf-8") of the broker's families;
	 * the API appends its own vdi_auth_* and vdi_api_* families, so the backend must not use them. */
	void (*metrics)(void *opaque, struct api_result *res);

	/* Called after every state-changing request (POST, PATCH, DELETE) of an authenticated user,
	 * admin or not, with the status sent. user and path (the URL path, no query) are the client's,
	 * unsanitized. May be NULL. */
	void (*audit)(void *opaque, const char *user, const char *method, const char *path, unsigned status);

	/* Last, so that existing designated initializers stay valid. Suspend saves the desktop's
	 * memory and state to disk and stops it; resume starts it from there. A desktop in the wrong
	 * state is a 409; a long one may answer 202 with an operation. */
	void (*desktop_suspend)(void *opaque, const char *name, struct api_result *res);
	void (*desktop_resume)(void *opaque, const char *name, struct api_result *res);

	/* A user's own (any authenticated user; `user` as they logged in). The pools they may use with
	 * each one's state for them: {"pools": [{"name", "state": "assigned"|"ready"|"starting"|
	 * "unavailable"}]}. A one-time ticket that logs them into pool `pool` over RDP or VNC in place
	 * of their password: 201 {"ticket", "pool", "expires_in"}; 403 when they may not use it. */
	void (*me_pools)(void *opaque, const char *user, struct api_result *res);
	void (*me_ticket)(void *opaque, const char *user, const char *pool, struct api_result *res);
};

struct api_config {
	/* "HOST:PORT", "[V6]:PORT", or "*:PORT" / ":PORT" for every address (IPv6 and IPv4); PORT 0
	 * picks a free port (see api_port()). */
	const char *listen;
	const char *cert_file, *key_file; /* PEM */
	struct auth *auth;                /* checks passwords and admin rights; users/ routes use it */
	unsigned max_connections;         /* 0: 64, or with `limit` as many as it allows */
	unsigned timeout_s;               /* idle connection timeout; 0: 30 */
	/* Caps shared with the display ports (common/conn_limit.h): a client
	 * over them is closed at once, before TLS (no HTTP can be spoken yet).
	 * NULL: only max_connections. */
	struct conn_limit *limit;
	unsigned handshake_timeout_s; /* for the TLS handshake and the first request line; 0: none */
	uint64_t (*clock)(void);      /* seconds on any monotonic scale; NULL: CLOCK_MONOTONIC (tests inject) */
};

struct api;

/* Starts serving. The backend table is copied; cfg strings are not needed after the call. NULL on
 * failure with a one-line reason in err (a bad listen address, an unreadable certificate or key,
 * a port in use). */
struct api *api_start(const struct api_config *cfg, const struct api_backend *be, char *err, size_t errlen);
/* What the API decides about a request before authentication and any backend, without a network
 * (tests and fuzz_api): `target` as sent on the request line (%-escaped, with its query), the
 * Content-Type (NULL: none) and the body. Returns 0 when the route's backend would be called, else
 * the status the API answers (400, 404, 405, 414, 415) with the reason in why (printable ASCII, as
 * the API sends it). */
unsigned api_request_check(const char *method, const char *target, const char *content_type, const char *body,
			   size_t len, char *why, size_t whylen);
/* The port it listens on. */
unsigned api_port(const struct api *api);
/* Stops accepting, waits for running callbacks to return, frees everything. NULL is fine. */
void api_stop(struct api *api);

#endif
