/* api.c — the admin REST API: HTTPS (libmicrohttpd + its TLS), Basic authentication through auth/,
 * routing to the backend table, request bodies as bounded JSON, users through auth_user_*, and the
 * Prometheus text of /metrics. */
#include "api.h"

#include "../auth/auth.h"
#include "../common/conn_deadline.h"
#include "../common/conn_limit.h"
#include "../common/log.h"
#include "../pools/pools.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define API_PEM_MAX        (1 << 20)
#define API_PATH_SEGMENTS  6
#define API_STATUS_COUNTED 600
/* The longest URL path routed (the longest route with the longest name is far shorter); longer is
 * 414. */
#define API_PATH_MAX       512
/* Query parameters at most: no route takes more than 3; more is 400. */
#define API_QUERY_MAX      16
/* libmicrohttpd's memory per connection: the request line and headers are read into it, so a
 * request larger than about half of it is answered 414 or 431 by libmicrohttpd itself. */
#define API_CONN_MEMORY    (64 * 1024)

enum route_id {
	R_POOLS_LIST,
	R_POOL_CREATE,
	R_POOL_GET,
	R_POOL_UPDATE,
	R_POOL_DELETE,
	R_DESKTOPS_LIST,
	R_DESKTOP_GET,
	R_DESKTOP_DELETE,
	R_DESKTOP_POWERON,
	R_DESKTOP_POWEROFF,
	R_DESKTOP_REFRESH,
	R_DESKTOP_SUSPEND,
	R_DESKTOP_RESUME,
	R_DESKTOP_SCREENSHOT,
	R_SESSIONS_LIST,
	R_SESSION_DISCONNECT,
	R_SESSION_LOGOFF,
	R_USERS_LIST,
	R_USER_ADD,
	R_USER_PASSWD,
	R_USER_DEL,
	R_EVENTS,
	R_OPERATION,
	R_METRICS,
	R_ME_POOLS,
	R_ME_TICKET,
};

/* What the one "*" segment of a route holds, and so how it is checked. */
enum param_kind { P_NONE, P_POOL, P_DESKTOP, P_SESSION, P_USER, P_OPERATION };

struct route {
	const char *method;
	const char *pattern; /* full path; "*" matches one segment */
	enum route_id id;
	enum param_kind param;
	bool body;     /* needs a JSON object body */
	bool any_user; /* for every user (their own things), not only admins */
};

static const struct route routes[] = {
    {"GET", "/api/v1/pools", R_POOLS_LIST, P_NONE, false, false},
    {"POST", "/api/v1/pools", R_POOL_CREATE, P_NONE, true, false},
    {"GET", "/api/v1/pools/*", R_POOL_GET, P_POOL, false, false},
    {"PATCH", "/api/v1/pools/*", R_POOL_UPDATE, P_POOL, true, false},
    {"DELETE", "/api/v1/pools/*", R_POOL_DELETE, P_POOL, false, false},
    {"GET", "/api/v1/desktops", R_DESKTOPS_LIST, P_NONE, false, false},
    {"GET", "/api/v1/desktops/*", R_DESKTOP_GET, P_DESKTOP, false, false},
    {"DELETE", "/api/v1/desktops/*", R_DESKTOP_DELETE, P_DESKTOP, false, false},
    {"POST", "/api/v1/desktops/*/poweron", R_DESKTOP_POWERON, P_DESKTOP, false, false},
    {"POST", "/api/v1/desktops/*/poweroff", R_DESKTOP_POWEROFF, P_DESKTOP, false, false},
    {"POST", "/api/v1/desktops/*/refresh", R_DESKTOP_REFRESH, P_DESKTOP, false, false},
    {"POST", "/api/v1/desktops/*/suspend", R_DESKTOP_SUSPEND, P_DESKTOP, false, false},
    {"POST", "/api/v1/desktops/*/resume", R_DESKTOP_RESUME, P_DESKTOP, false, false},
    {"GET", "/api/v1/desktops/*/screenshot", R_DESKTOP_SCREENSHOT, P_DESKTOP, false, false},
    {"GET", "/api/v1/sessions", R_SESSIONS_LIST, P_NONE, false, false},
    {"POST", "/api/v1/sessions/*/disconnect", R_SESSION_DISCONNECT, P_SESSION, false, false},
    {"POST", "/api/v1/sessions/*/logoff", R_SESSION_LOGOFF, P_SESSION, false, false},
    {"GET", "/api/v1/users", R_USERS_LIST, P_NONE, false, false},
    {"POST", "/api/v1/users", R_USER_ADD, P_NONE, true, false},
    {"PATCH", "/api/v1/users/*", R_USER_PASSWD, P_USER, true, false},
    {"DELETE", "/api/v1/users/*", R_USER_DEL, P_USER, false, false},
    {"GET", "/api/v1/events", R_EVENTS, P_NONE, false, false},
    {"GET", "/api/v1/operations/*", R_OPERATION, P_OPERATION, false, false},
    {"GET", "/metrics", R_METRICS, P_NONE, false, false},
    {"GET", "/api/v1/me/pools", R_ME_POOLS, P_NONE, false, true},
    {"POST", "/api/v1/me/pools/*/ticket", R_ME_TICKET, P_POOL, false, true},
};

/* Credentials that passed auth_check() lately: a client that sends them
 * with every request (vdictl, a metrics scraper) costs one password hash
 * and one login_ok audit record a minute, not one a request. Kept as an
 * HMAC under a key of this process, never as the password. */
#define API_CRED_SLOTS 32
#define API_CRED_TTL_S 60

struct api_cred {
	uint8_t mac[32];
	uint64_t until; /* 0: free */
};

struct api {
	struct MHD_Daemon *daemon;
	uint64_t (*clock)(void);
	pthread_mutex_t cred_lock;
	uint8_t cred_key[32];
	struct api_cred creds[API_CRED_SLOTS];
	struct api_backend be;
	struct auth *auth;
	char *cert, *key; /* PEM text handed to libmicrohttpd */
	char start_err[256];
	bool starting;
	_Atomic uint64_t status_count[API_STATUS_COUNTED];
	struct conn_limit *limit;
	unsigned handshake_timeout_s;
};

/* A connection counted in api->limit (its socket context), with the time
 * limit on its TLS handshake and first request line. */
struct api_conn {
	struct sockaddr_storage sa;
	socklen_t salen;
	struct conn_deadline deadline;
};

/* One request's state across libmicrohttpd's calls of the access handler. */
struct req {
	bool started;           /* the access handler saw it */
	unsigned target_status; /* 0, or what the request target (URL as sent) deserves: 400, 414 */
	char target_why[128];
	bool target_params;            /* target_status is for too many query parameters */
	char route_path[API_PATH_MAX]; /* the URL's path as unescaped by target_check() */
	const struct route *route;
	char param[API_NAME_MAX];
	char user[API_NAME_MAX];  /* authenticated (admin or not), sanitized for logs; "" before */
	char login[API_NAME_MAX]; /* the same as given, for the routes of a user's own things */
	char path[256];           /* for the audit, sanitized */
	char method[8];
	bool write; /* POST, PATCH, DELETE */
	bool responded;
	char *body;
	size_t len;
};

/* ---- results ---- */

/* Copies src into dst (dstlen > 0) with bytes outside printable ASCII shown as '?', so echoing a
 * client's string never yields invalid UTF-8 or control characters. */
static void sanitize(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < dstlen; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void result_verror(struct api_result *res, unsigned status, const char *fmt, va_list ap)
{
	char raw[512], msg[512];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	sanitize(msg, sizeof(msg), raw);
	json_decref(res->json);
	free(res->bytes);
	res->bytes = NULL;
	res->len = 0;
	res->json = json_pack("{s:s}", "error", msg);
	res->status = status;
}

void api_result_error(struct api_result *res, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	result_verror(res, status, fmt, ap);
	va_end(ap);
}

static unsigned errno_status(int neg_errno)
{
	switch (neg_errno) {
	case -ENOENT:
		return 404;
	case -EEXIST:
	case -ENOTEMPTY:
	case -EBUSY:
	case -ESTALE:
		return 409;
	case -EINVAL:
	case -E2BIG:
	case -ENAMETOOLONG:
		return 400;
	case -ENOTSUP:
		return 501;
	default:
		return 500;
	}
}

void api_result_errno(struct api_result *res, int neg_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	result_verror(res, errno_status(neg_errno), fmt, ap);
	va_end(ap);
}

/* ---- responses ---- */

static void count_status(struct api *api, unsigned status)
{
	if (status < API_STATUS_COUNTED)
		atomic_fetch_add(&api->status_count[status], 1);
}

/* Queues status with `body` (malloc'd, taken; may be NULL) and one optional extra header, and
 * audits a state-changing request of an authenticated user. */
static enum MHD_Result send_reply(struct api *api, struct MHD_Connection *conn, struct req *r, unsigned status,
				  char *body, size_t len, const char *ctype, const char *hname, const char *hval)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    body ? len : 0, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	if (body && ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	r->responded = true;
	count_status(api, status);
	if (r->write && r->user[0] && api->be.audit)
		api->be.audit(api->be.opaque, r->user, r->method, r->path, status);
	log_debug("api: %s %s by %s: %u", r->method, r->path, r->user[0] ? r->user : "-", status);
	return ret;
}

static enum MHD_Result send_json(struct api *api, struct MHD_Connection *conn, struct req *r, unsigned status,
				 json_t *json, const char *hname, const char *hval)
{
	char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(json);
	if (!text) {
		text = strdup("{\"error\":\"out of memory\"}");
		status = 500;
		if (!text)
			return MHD_NO;
	}
	size_t len = strlen(text);
	char *body = realloc(text, len + 2);
	if (!body) {
		free(text);
		return MHD_NO;
	}
	body[len++] = '\n';
	body[len] = '\0';
	return send_reply(api, conn, r, status, body, len, "application/json", hname, hval);
}

static enum MHD_Result send_error(struct api *api, struct MHD_Connection *conn, struct req *r, unsigned status,
				  const char *hname, const char *hval, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static enum MHD_Result send_error(struct api *api, struct MHD_Connection *conn, struct req *r, unsigned status,
				  const char *hname, const char *hval, const char *fmt, ...)
{
	struct api_result res = {0};
	va_list ap;
	va_start(ap, fmt);
	result_verror(&res, status, fmt, ap);
	va_end(ap);
	return send_json(api, conn, r, status, res.json, hname, hval);
}

static const char *status_text(unsigned status)
{
	if (status == 404)
		return "not found";
	if (status == 409)
		return "conflict";
	if (status >= 400 && status < 500)
		return "bad request";
	return "internal error";
}

/* Sends what a callback (or the users code) put in res. */
static enum MHD_Result send_result(struct api *api, struct MHD_Connection *conn, struct req *r, struct api_result *res)
{
	unsigned status = res->status ? res->status : 200;
	if (status < 100 || status > 599) {
		log_warn("api: the backend answered %s %s with status %u", r->method, r->path, status);
		json_decref(res->json);
		free(res->bytes);
		return send_error(api, conn, r, 500, NULL, NULL, "the backend gave a bad status");
	}
	if (res->json && res->bytes) {
		log_warn("api: the backend answered %s %s with both JSON and bytes", r->method, r->path);
		json_decref(res->json);
		free(res->bytes);
		return send_error(api, conn, r, 500, NULL, NULL, "the backend gave no single answer");
	}
	if (res->json)
		return send_json(api, conn, r, status, res->json, NULL, NULL);
	if (res->bytes)
		return send_reply(api, conn, r, status, res->bytes, res->len,
				  res->content_type ? res->content_type : "application/octet-stream", NULL, NULL);
	if (!res->status)
		return send_error(api, conn, r, 500, NULL, NULL, "the backend gave no answer");
	if (status >= 400)
		return send_error(api, conn, r, status, NULL, NULL, "%s", status_text(status));
	return send_reply(api, conn, r, status, NULL, 0, NULL, NULL, NULL);
}

/* ---- checks of untrusted strings ---- */

static bool name_char(char c)
{
	return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-');
}

/* Operation ids ("op-N"); pools and desktops have pools/' rules (pool_name_valid(),
 * desktop_name_valid()). */
static bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= API_NAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

/* As auth/'s rule for user and group names. */
static bool valid_user(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool valid_event(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* A decimal in [min, max], digits only. */
static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (!s || !*s || strlen(s) > 19)
		return false;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- the request target and the body's type ---- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The request target as the client sent it (before libmicrohttpd unescapes it, which would end a
 * name at a %00 so that ".../demo%00x" read ".../demo"). Its path is unescaped into path; refused
 * with 400 are a %00 or a bad %-escape anywhere, and more than API_QUERY_MAX query parameters;
 * with 414 a path of API_PATH_MAX bytes or more. Returns 0 or the status, with the reason in why
 * (and *params_over for too many parameters). */
static unsigned target_check(const char *target, char *path, size_t pathlen, char *why, size_t whylen,
			     bool *params_over)
{
	*params_over = false;
	size_t n = 0, params = 0;
	bool query = false;
	path[0] = '\0';
	for (const char *p = target; *p; p++) {
		char c = *p;
		if (c == '?' && !query) {
			query = true;
			params = 1;
			continue;
		}
		if (query && c == '&')
			params++;
		if (c == '%') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			if (lo < 0) {
				snprintf(why, whylen, "the URL has a bad %%-escape (%% and two hex digits)");
				return 400;
			}
			c = (char)(hi << 4 | lo);
			if (!c) {
				snprintf(why, whylen, "the URL contains a NUL byte (%%00)");
				return 400;
			}
			p += 2;
		}
		if (query)
			continue;
		if (n + 1 >= pathlen) {
			snprintf(why, whylen, "the URL path is longer than %zu bytes", pathlen - 1);
			return 414;
		}
		path[n++] = c;
	}
	path[n] = '\0';
	if (params > API_QUERY_MAX) {
		snprintf(why, whylen, "more than %d query parameters", API_QUERY_MAX);
		*params_over = true;
		return 400;
	}
	if (path[0] != '/') {
		snprintf(why, whylen, "the URL path must start with /");
		return 400;
	}
	return 0;
}

/* Is a Content-Type header "application/json", in any case, with or without parameters
 * ("; charset=utf-8")? */
static bool content_type_json(const char *ctype)
{
	static const char json[] = "application/json";
	if (!ctype || strncasecmp(ctype, json, sizeof(json) - 1) != 0)
		return false;
	const char *rest = ctype + sizeof(json) - 1;
	rest += strspn(rest, " \t");
	return *rest == '\0' || *rest == ';';
}

/* ---- routing ---- */

/* Does path match pattern? On a match the "*" segment (if any) is copied to param. Returns 1 on a
 * match, 0 on none, -1 when the "*" segment is too long to be any name. */
static int route_match(const char *pattern, const char *path, char *param, size_t paramlen)
{
	param[0] = '\0';
	while (*pattern && *path) {
		if (*pattern != '/' || *path != '/')
			return 0;
		pattern++, path++;
		size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
		if (sl == 0)
			return 0;
		if (pl == 1 && pattern[0] == '*') {
			if (sl >= paramlen)
				return -1;
			memcpy(param, path, sl);
			param[sl] = '\0';
		} else if (pl != sl || memcmp(pattern, path, pl) != 0) {
			return 0;
		}
		pattern += pl, path += sl;
	}
	return (!*pattern && !*path) ? 1 : 0;
}

/* Finds the route of (method, path). Returns 0 with *out, or the status to answer: 404, 405 (with
 * the allowed methods in allow), 414 (a segment too long to be a name). */
static unsigned route_find(const char *method, const char *path, struct req *r, char *allow, size_t allowlen)
{
	bool path_known = false, too_long = false;
	allow[0] = '\0';
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char param[API_NAME_MAX];
		int m = route_match(routes[i].pattern, path, param, sizeof(param));
		if (m < 0)
			too_long = true;
		if (m <= 0)
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			r->route = &routes[i];
			memcpy(r->param, param, sizeof(param));
			return 0;
		}
		path_known = true;
		size_t used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", routes[i].method);
	}
	if (path_known)
		return 405;
	return too_long ? 400 : 404;
}

static const char *param_what(enum param_kind kind)
{
	switch (kind) {
	case P_POOL:
		return "pool name";
	case P_DESKTOP:
		return "desktop name";
	case P_SESSION:
		return "session id";
	case P_USER:
		return "user name";
	case P_OPERATION:
		return "operation id";
	default:
		return "name";
	}
}

static bool param_ok(enum param_kind kind, const char *s)
{
	int64_t id;
	switch (kind) {
	case P_NONE:
		return true;
	case P_SESSION:
		return parse_i64(s, 1, INT64_MAX, &id);
	case P_USER:
		return valid_user(s);
	case P_POOL:
		return pool_name_valid(s);
	case P_DESKTOP:
		return desktop_name_valid(s);
	case P_OPERATION:
		return valid_id(s);
	}
	return false;
}

/* ---- authentication ---- */

/* The client's address as text without port, IPv4-mapped IPv6 shown as IPv4 (one address, one
 * lockout counter, whichever socket family the dual-stack listener gave). */
static void client_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
	out[0] = '\0';
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return;
	if (getnameinfo(sa, len, out, outlen, NULL, 0, NI_NUMERICHOST) != 0) {
		out[0] = '\0';
		return;
	}
	if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static uint64_t api_now(const struct api *api)
{
	if (api->clock)
		return api->clock();
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The HMAC of user and password under the process's key; false if OpenSSL fails. */
static bool cred_mac(struct api *api, const char *user, const char *password, uint8_t mac[32])
{
	size_t ul = strlen(user), pl = strlen(password);
	uint8_t *msg = malloc(ul + 1 + pl);
	if (!msg)
		return false;
	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, password, pl);
	unsigned len = 0;
	bool ok = HMAC(EVP_sha256(), api->cred_key, sizeof(api->cred_key), msg, ul + 1 + pl, mac, &len) && len == 32;
	explicit_bzero(msg, ul + 1 + pl);
	free(msg);
	return ok;
}

/* Whether these credentials passed auth_check() within the last minute. */
static bool cred_known(struct api *api, const uint8_t mac[32])
{
	uint64_t now = api_now(api);
	bool known = false;
	pthread_mutex_lock(&api->cred_lock);
	for (int i = 0; i < API_CRED_SLOTS && !known; i++)
		known = api->creds[i].until > now && CRYPTO_memcmp(api->creds[i].mac, mac, 32) == 0;
	pthread_mutex_unlock(&api->cred_lock);
	return known;
}

/* Remembers credentials that just passed, in a free, expired or the oldest slot. */
static void cred_remember(struct api *api, const uint8_t mac[32])
{
	pthread_mutex_lock(&api->cred_lock);
	int slot = 0;
	for (int i = 1; i < API_CRED_SLOTS; i++)
		if (api->creds[i].until < api->creds[slot].until)
			slot = i;
	memcpy(api->creds[slot].mac, mac, 32);
	api->creds[slot].until = api_now(api) + API_CRED_TTL_S;
	pthread_mutex_unlock(&api->cred_lock);
}

/* Users changed through the API: every remembered password is checked again. */
static void cred_forget_all(struct api *api)
{
	pthread_mutex_lock(&api->cred_lock);
	memset(api->creds, 0, sizeof(api->creds));
	pthread_mutex_unlock(&api->cred_lock);
}

/* Authenticates and authorizes the request; returns true when it may go on, else has replied. */
static bool authorize(struct api *api, struct MHD_Connection *conn, struct req *r, enum MHD_Result *ret)
{
	static const char challenge[] = "Basic realm=\"vdi admin API\", charset=\"UTF-8\"";
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(conn, &password);
	if (!user || !password) {
		if (user)
			MHD_free(user);
		if (password)
			MHD_free(password);
		*ret = send_error(api, conn, r, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge,
				  "authentication required");
		return false;
	}
	char address[INET6_ADDRSTRLEN + 8];
	client_address(conn, address, sizeof(address));
	unsigned locked_for = 0;
	uint8_t mac[32];
	bool have_mac = cred_mac(api, user, password, mac), known = have_mac && cred_known(api, mac);
	/* A remembered password passes only while neither its user nor this address is locked out. */
	enum auth_result ar = known ? auth_check_remembered(api->auth, user, address, &locked_for)
				    : auth_check(api->auth, user, password, address, &locked_for);
	/* Remembered from when it was checked: a minute from then, not from each use. */
	if (ar == AUTH_OK && have_mac && !known)
		cred_remember(api, mac);
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(password, strlen(password));
	MHD_free(password);
	bool ok = false;
	switch (ar) {
	case AUTH_OK:
		sanitize(r->user, sizeof(r->user), user);
		if (strlen(user) < sizeof(r->login))
			memcpy(r->login, user, strlen(user) + 1);
		if (r->route && r->route->any_user && r->login[0]) {
			ok = true;
			break;
		}
		if (!auth_is_admin(api->auth, user)) {
			*ret = send_error(api, conn, r, 403, NULL, NULL, "%s is not an administrator", r->user);
			break;
		}
		ok = true;
		break;
	case AUTH_DENIED:
		*ret = send_error(api, conn, r, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge,
				  "wrong user name or password");
		break;
	case AUTH_LOCKED: {
		char retry[16];
		snprintf(retry, sizeof(retry), "%u", locked_for ? locked_for : 1);
		*ret = send_error(api, conn, r, 429, MHD_HTTP_HEADER_RETRY_AFTER, retry,
				  "locked out after too many failed logins, try again in %u s", locked_for);
		break;
	}
	default:
		*ret = send_error(api, conn, r, 503, NULL, NULL, "the authentication backend is unavailable");
		break;
	}
	MHD_free(user);
	return ok;
}

/* ---- users (the API's own routes) ---- */

static void list_user(void *opaque, const char *user, const char *groups)
{
	json_t *arr = opaque, *g = json_array();
	for (const char *p = groups; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n)
			json_array_append_new(g, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	json_array_append_new(arr, json_pack("{s:s,s:o}", "name", user, "groups", g));
}

/* The "password" field: a string of 1..1024 bytes without NUL. */
static const char *body_password(json_t *body, struct api_result *res)
{
	json_t *pw = json_object_get(body, "password");
	if (!pw) {
		api_result_error(res, 400, "field \"password\" is missing");
		return NULL;
	}
	if (!json_is_string(pw) || json_string_length(pw) == 0 || json_string_length(pw) > 1024 ||
	    strlen(json_string_value(pw)) != json_string_length(pw)) {
		api_result_error(res, 400, "field \"password\" must be a string of 1 to 1024 bytes");
		return NULL;
	}
	return json_string_value(pw);
}

/* The "groups" field (absent, "a,b" or ["a", "b"]) as "a,b" in out; false with res set if bad. */
static bool body_groups(json_t *body, char *out, size_t outlen, struct api_result *res)
{
	json_t *g = json_object_get(body, "groups");
	out[0] = '\0';
	if (!g || json_is_null(g))
		return true;
	static const char bad[] = "field \"groups\" must be a list of group names (A-Z a-z 0-9 . _ -)";
	size_t used = 0;
	if (json_is_string(g)) {
		if (json_string_length(g) >= outlen || strlen(json_string_value(g)) != json_string_length(g)) {
			api_result_error(res, 400, bad);
			return false;
		}
		snprintf(out, outlen, "%s", json_string_value(g));
		for (char *p = out; *p;) {
			size_t n = strcspn(p, ",");
			char save = p[n];
			p[n] = '\0';
			bool ok = valid_user(p);
			p[n] = save;
			if (!ok) {
				api_result_error(res, 400, bad);
				return false;
			}
			p += n + (save == ',');
		}
		return true;
	}
	if (!json_is_array(g)) {
		api_result_error(res, 400, bad);
		return false;
	}
	size_t i;
	json_t *v;
	json_array_foreach(g, i, v)
	{
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v) || !valid_user(s) || used + strlen(s) + 2 > outlen) {
			api_result_error(res, 400, bad);
			return false;
		}
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? "," : "", s);
	}
	return true;
}

static void users_errno(struct api_result *res, int rc, const char *user)
{
	if (rc == -ENOTSUP)
		api_result_error(res, 501, "users are managed by the system (PAM backend), not by vdi");
	else if (rc == -EEXIST)
		api_result_error(res, 409, "user %s exists", user);
	else if (rc == -ENOENT)
		api_result_error(res, 404, "no user %s", user);
	else if (rc == -EINVAL)
		api_result_error(res, 400, "bad user name, groups or password");
	else
		api_result_error(res, 500, "the users file could not be changed");
}

static void users_route(struct api *api, struct req *r, json_t *body, struct api_result *res)
{
	int rc;
	switch (r->route->id) {
	case R_USERS_LIST: {
		json_t *arr = json_array();
		rc = auth_user_list(api->auth, list_user, arr);
		if (rc < 0) {
			json_decref(arr);
			users_errno(res, rc, "");
			return;
		}
		res->json = json_pack("{s:o}", "users", arr);
		return;
	}
	case R_USER_ADD: {
		json_t *jn = json_object_get(body, "name");
		if (!jn) {
			api_result_error(res, 400, "field \"name\" is missing");
			return;
		}
		const char *name = json_string_value(jn);
		if (!name || strlen(name) != json_string_length(jn) || !valid_user(name)) {
			api_result_error(res, 400,
					 "field \"name\" must be a user name: 1 to 64 of A-Z a-z 0-9 . _ -, not "
					 "starting with -");
			return;
		}
		char groups[1024];
		const char *pw = body_password(body, res);
		if (!pw || !body_groups(body, groups, sizeof(groups), res))
			return;
		cred_forget_all(api);
		rc = auth_user_add(api->auth, name, pw, groups);
		if (rc < 0) {
			users_errno(res, rc, name);
			return;
		}
		res->status = 201;
		res->json = json_array();
		list_user(res->json, name, groups);
		json_t *obj = json_incref(json_array_get(res->json, 0));
		json_decref(res->json);
		res->json = obj;
		return;
	}
	case R_USER_PASSWD: {
		const char *pw = body_password(body, res);
		if (!pw)
			return;
		cred_forget_all(api);
		rc = auth_user_passwd(api->auth, r->param, pw);
		if (rc < 0)
			users_errno(res, rc, r->param);
		else
			res->json = json_pack("{s:s}", "name", r->param);
		return;
	}
	case R_USER_DEL:
		cred_forget_all(api);
		rc = auth_user_del(api->auth, r->param);
		if (rc < 0)
			users_errno(res, rc, r->param);
		else
			res->status = 204;
		return;
	default:
		return;
	}
}

/* ---- metrics ---- */

static int metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = *cap * 2 + (size_t)n;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
}

static void metrics_route(struct api *api, struct api_result *res)
{
	struct api_result be = {0};
	if (api->be.metrics) {
		api->be.metrics(api->be.opaque, &be);
		if (be.status >= 400 || be.json) {
			*res = be;
			return;
		}
	}
	size_t cap = be.len + 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		free(be.bytes);
		api_result_error(res, 500, "out of memory");
		return;
	}
	if (be.bytes && be.len) {
		memcpy(buf, be.bytes, be.len);
		len = be.len;
		if (buf[len - 1] != '\n')
			buf[len++] = '\n';
	}
	free(be.bytes);
	struct auth_stats st;
	auth_get_stats(api->auth, &st);
	int rc = metrics_append(&buf, &len, &cap,
				"# HELP vdi_auth_logins_total Login attempts by result.\n"
				"# TYPE vdi_auth_logins_total counter\n"
				"vdi_auth_logins_total{result=\"ok\"} %" PRIu64 "\n"
				"vdi_auth_logins_total{result=\"failed\"} %" PRIu64 "\n"
				"vdi_auth_logins_total{result=\"locked_refused\"} %" PRIu64 "\n"
				"# HELP vdi_auth_lockouts_total Lockouts started.\n"
				"# TYPE vdi_auth_lockouts_total counter\n"
				"vdi_auth_lockouts_total %" PRIu64 "\n"
				"# HELP vdi_api_requests_total Admin API requests answered, by status.\n"
				"# TYPE vdi_api_requests_total counter\n",
				st.logins_ok, st.logins_failed, st.locked_refused, st.lockouts);
	for (unsigned s = 100; rc == 0 && s < API_STATUS_COUNTED; s++) {
		uint64_t n = atomic_load(&api->status_count[s]);
		if (n)
			rc =
			    metrics_append(&buf, &len, &cap, "vdi_api_requests_total{code=\"%u\"} %" PRIu64 "\n", s, n);
	}
	if (rc < 0) {
		free(buf);
		api_result_error(res, 500, "out of memory");
		return;
	}
	res->bytes = buf;
	res->len = len;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- dispatch ---- */

#define CALL(fn, ...)                                                                                                  \
	do {                                                                                                           \
		if (api->be.fn)                                                                                        \
			api->be.fn(api->be.opaque, __VA_ARGS__);                                                       \
		else                                                                                                   \
			api_result_error(res, 501, "not implemented");                                                 \
	} while (0)

/* Checks the query of GET events; false with res set when bad. */
static bool events_query(struct MHD_Connection *conn, int64_t *after, unsigned *limit, const char **event,
			 struct api_result *res)
{
	const char *a = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
	const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	*event = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "event");
	int64_t v;
	*after = 0;
	*limit = API_EVENTS_LIMIT_DEF;
	if (a && !parse_i64(a, 0, INT64_MAX, after)) {
		api_result_error(res, 400, "query \"after\" must be an event id (0 or more)");
		return false;
	}
	if (l) {
		if (!parse_i64(l, 1, API_EVENTS_LIMIT_MAX, &v)) {
			api_result_error(res, 400, "query \"limit\" must be 1 to %d", API_EVENTS_LIMIT_MAX);
			return false;
		}
		*limit = (unsigned)v;
	}
	if (*event && !valid_event(*event)) {
		api_result_error(res, 400, "query \"event\" must be an event kind (a-z 0-9 _)");
		return false;
	}
	return true;
}

static void dispatch(struct api *api, struct MHD_Connection *conn, struct req *r, json_t *body, struct api_result *res)
{
	const char *p = r->param;
	int64_t id = 0;
	switch (r->route->id) {
	case R_POOLS_LIST:
		CALL(pools_list, res);
		break;
	case R_POOL_CREATE: {
		json_t *jn = json_object_get(body, "name");
		const char *name = json_string_value(jn);
		if (!jn)
			api_result_error(res, 400, "field \"name\" is missing");
		else if (!name || strlen(name) != json_string_length(jn) || !pool_name_valid(name))
			api_result_error(res, 400, "field \"name\" must be a pool name: 1 to %d of A-Z a-z 0-9 _ -",
					 POOL_NAME_MAX);
		else
			CALL(pool_create, name, body, res);
		break;
	}
	case R_POOL_GET:
		CALL(pool_get, p, res);
		break;
	case R_POOL_UPDATE:
		CALL(pool_update, p, body, res);
		break;
	case R_POOL_DELETE:
		CALL(pool_delete, p, res);
		break;
	case R_DESKTOPS_LIST: {
		const char *pool = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pool");
		if (pool && !pool_name_valid(pool))
			api_result_error(res, 400, "query \"pool\" must be a pool name (1 to %d of A-Z a-z 0-9 _ -)",
					 POOL_NAME_MAX);
		else
			CALL(desktops_list, pool, res);
		break;
	}
	case R_DESKTOP_GET:
		CALL(desktop_get, p, res);
		break;
	case R_DESKTOP_DELETE:
		CALL(desktop_delete, p, res);
		break;
	case R_DESKTOP_POWERON:
		CALL(desktop_poweron, p, res);
		break;
	case R_DESKTOP_POWEROFF:
		CALL(desktop_poweroff, p, res);
		break;
	case R_DESKTOP_REFRESH:
		CALL(desktop_refresh, p, res);
		break;
	case R_DESKTOP_SUSPEND:
		CALL(desktop_suspend, p, res);
		break;
	case R_DESKTOP_RESUME:
		CALL(desktop_resume, p, res);
		break;
	case R_DESKTOP_SCREENSHOT:
		CALL(desktop_screenshot, p, res);
		break;
	case R_SESSIONS_LIST:
		CALL(sessions_list, res);
		break;
	case R_SESSION_DISCONNECT:
		parse_i64(p, 1, INT64_MAX, &id);
		CALL(session_disconnect, id, res);
		break;
	case R_SESSION_LOGOFF:
		parse_i64(p, 1, INT64_MAX, &id);
		CALL(session_logoff, id, res);
		break;
	case R_USERS_LIST:
	case R_USER_ADD:
	case R_USER_PASSWD:
	case R_USER_DEL:
		users_route(api, r, body, res);
		break;
	case R_EVENTS: {
		int64_t after;
		unsigned limit;
		const char *event;
		if (events_query(conn, &after, &limit, &event, res))
			CALL(events_list, after, limit, event, res);
		break;
	}
	case R_OPERATION:
		CALL(operation_get, p, res);
		break;
	case R_METRICS:
		metrics_route(api, res);
		break;
	case R_ME_POOLS:
		CALL(me_pools, r->login, res);
		break;
	case R_ME_TICKET:
		CALL(me_ticket, r->login, p, res);
		break;
	}
}

/* ---- a request's checks, before any backend runs ---- */

/* Everything about a request that its headers tell: the target (target_check(), already in r), the
 * route and its parameter, and the body's type: a route that takes a body, and any request that
 * sends one (has_body), needs Content-Type application/json. Returns 0 with r->route set, or the
 * status to answer (400, 404, 405 with the methods in allow, 414, 415) with the reason in why. */
static unsigned route_request(struct req *r, const char *method, const char *ctype, bool has_body, char *allow,
			      size_t allowlen, char *why, size_t whylen)
{
	allow[0] = '\0';
	if (r->target_status) {
		snprintf(why, whylen, "%s", r->target_why);
		return r->target_status;
	}
	unsigned status = route_find(method, r->route_path, r, allow, allowlen);
	if (status == 405)
		snprintf(why, whylen, "method %s not allowed here", r->method);
	else if (status == 400)
		snprintf(why, whylen, "a path segment is too long");
	else if (status)
		snprintf(why, whylen, "no such route: %s", r->path);
	if (status)
		return status;
	if (!param_ok(r->route->param, r->param)) {
		char shown[API_NAME_MAX];
		sanitize(shown, sizeof(shown), r->param);
		snprintf(why, whylen, "bad %s: %s", param_what(r->route->param), shown);
		return 400;
	}
	if ((r->route->body || has_body) && !content_type_json(ctype)) {
		char shown[64];
		sanitize(shown, sizeof(shown), ctype ? ctype : "none");
		snprintf(why, whylen, "the body must be Content-Type application/json, not %s", shown);
		return 415;
	}
	return 0;
}

/* The body of a route that takes one: a JSON object (no duplicate keys; jansson refuses \\u0000).
 * Returns 0 with *out (NULL for a route without a body), or 400 with the reason in why. */
static unsigned decode_body(const struct route *route, const char *text, size_t len, json_t **out, char *why,
			    size_t whylen)
{
	*out = NULL;
	if (!route->body)
		return 0;
	if (!len) {
		snprintf(why, whylen, "a JSON object body is required");
		return 400;
	}
	json_error_t jerr;
	json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body) {
		snprintf(why, whylen, "bad JSON body at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return 400;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		snprintf(why, whylen, "the body must be a JSON object");
		return 400;
	}
	*out = body;
	return 0;
}

unsigned api_request_check(const char *method, const char *target, const char *content_type, const char *body,
			   size_t len, char *why, size_t whylen)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(why, whylen, "out of memory");
		return 500;
	}
	char allow[64];
	r->target_status = target_check(target, r->route_path, sizeof(r->route_path), r->target_why,
					sizeof(r->target_why), &r->target_params);
	sanitize(r->path, sizeof(r->path), r->target_status ? target : r->route_path);
	sanitize(r->method, sizeof(r->method), method);
	unsigned status = route_request(r, method, content_type, len > 0, allow, sizeof(allow), why, whylen);
	json_t *json = NULL;
	if (!status)
		status = decode_body(r->route, body, len, &json, why, whylen);
	json_decref(json);
	free(r);
	/* As send_error() would show it. */
	char raw[512];
	snprintf(raw, sizeof(raw), "%s", why);
	sanitize(why, whylen, raw);
	return status;
}

/* The whole request is in: parse the body if the route takes one, call the route. */
static enum MHD_Result finish(struct api *api, struct MHD_Connection *conn, struct req *r)
{
	json_t *body = NULL;
	char why[300];
	unsigned status = decode_body(r->route, r->body, r->len, &body, why, sizeof(why));
	if (status)
		return send_error(api, conn, r, status, NULL, NULL, "%s", why);
	struct api_result res = {0};
	dispatch(api, conn, r, body, &res);
	json_decref(body);
	return send_result(api, conn, r, &res);
}

/* First call for a request (headers only): route, authenticate, check the body's type and declared
 * size. */
static enum MHD_Result begin(struct api *api, struct MHD_Connection *conn, struct req *r, const char *method)
{
	char allow[64], why[300];
	enum MHD_Result ret = MHD_YES;
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	int64_t declared = 0;
	bool has_body = te || (cl && (!parse_i64(cl, 0, INT64_MAX, &declared) || declared > 0));
	unsigned status = route_request(r, method, ct, has_body, allow, sizeof(allow), why, sizeof(why));
	/* Authentication comes first so that nobody learns anything, not even which routes exist,
	 * without credentials. */
	if (!authorize(api, conn, r, &ret))
		return ret;
	if (status)
		return send_error(api, conn, r, status, status == 405 ? MHD_HTTP_HEADER_ALLOW : NULL,
				  status == 405 ? allow : NULL, "%s", why);
	if (declared > API_BODY_MAX)
		return send_error(api, conn, r, 413, NULL, NULL, "the body is larger than %d bytes", API_BODY_MAX);
	return MHD_YES;
}

/* libmicrohttpd (0.9.75) stores every query parameter in the connection's memory before the request
 * reaches the access handler; a query of a thousand parameters or more exhausts it, and the request
 * then goes unanswered until the idle timeout. So a target with more parameters than any route
 * takes is answered here, on the connection's TLS session, and the connection shut: libmicrohttpd
 * finds it closed and ends it (on_completed() frees r). */
static void target_answer_now(struct api *api, struct MHD_Connection *conn, struct req *r)
{
	const union MHD_ConnectionInfo *ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ti || !ti->tls_session || !fi)
		return;
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "HTTP/1.1 %u Bad Request\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n{\"error\":\"%s\"}\n",
			 r->target_status, strlen(r->target_why) + 13, r->target_why);
	gnutls_session_t tls = (gnutls_session_t)ti->tls_session;
	/* A fresh connection's send buffer takes a few hundred bytes at once; a client that does not
	 * read them loses them. */
	for (int off = 0, tries = 0; n > 0 && off < n && tries < 16; tries++) {
		ssize_t w = gnutls_record_send(tls, text + off, (size_t)(n - off));
		if (w > 0)
			off += (int)w;
		else if (w != GNUTLS_E_AGAIN && w != GNUTLS_E_INTERRUPTED)
			break;
	}
	shutdown(fi->connect_fd, SHUT_RDWR);
	count_status(api, r->target_status);
	r->responded = true;
	log_debug("api: a request with %s: answered %u and closed", r->target_why, r->target_status);
}

/* Called by libmicrohttpd with the request target as received, before it unescapes or splits
 * anything: the request's state starts here, with the target checked. */
static void *on_target(void *cls, const char *target, struct MHD_Connection *conn)
{
	/* A request line arrived: the handshake is over; from here the idle timeout applies. */
	const union MHD_ConnectionInfo *si = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_conn *c = si ? si->socket_context : NULL;
	if (c)
		conn_deadline_disarm(&c->deadline);
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->target_status = target_check(target, r->route_path, sizeof(r->route_path), r->target_why,
					sizeof(r->target_why), &r->target_params);
	if (r->target_params)
		target_answer_now(cls, conn, r);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	struct api *api = cls;
	struct req *r = *con_cls;
	if (!r || !r->started) {
		if (!r || r->responded) /* on_target() found no memory, or answered */
			return MHD_NO;
		r->started = true;
		sanitize(r->path, sizeof(r->path), r->target_status ? url : r->route_path);
		sanitize(r->method, sizeof(r->method), method);
		r->write = !strcmp(method, "POST") || !strcmp(method, "PATCH") || !strcmp(method, "DELETE");
		return begin(api, conn, r, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->responded)
			return MHD_YES;
		if (n > API_BODY_MAX - r->len) {
			/* A chunked body past the limit: libmicrohttpd cannot answer in mid-upload, so the
			 * connection is closed rather than reading on. */
			log_debug("api: %s %s: body over %d bytes, closing", r->method, r->path, API_BODY_MAX);
			return MHD_NO;
		}
		char *nb = realloc(r->body, r->len + n);
		if (!nb)
			return MHD_NO;
		memcpy(nb + r->len, upload_data, n);
		r->body = nb;
		r->len += n;
		return MHD_YES;
	}
	if (r->responded)
		return MHD_YES;
	return finish(api, conn, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	struct req *r = *con_cls;
	if (r) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api *api = cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	if (api->starting)
		snprintf(api->start_err, sizeof(api->start_err), "%s", msg);
	else
		log_debug("api: libmicrohttpd: %s", msg);
}

/* ---- start and stop ---- */

static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: cannot read the API's TLS %s: %s", path, what, strerror(errno));
		return NULL;
	}
	char *buf = malloc(API_PEM_MAX + 1);
	size_t n = buf ? fread(buf, 1, API_PEM_MAX + 1, f) : 0;
	bool bad = ferror(f) || n == 0 || n > API_PEM_MAX;
	fclose(f);
	if (!buf || bad) {
		snprintf(err, errlen, "%s: cannot read the API's TLS %s (empty, unreadable or over 1 MiB)", path, what);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Parses "HOST:PORT", "[V6]:PORT", "*:PORT", ":PORT". any: bind every address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *any, uint16_t *port, char *err,
			size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen ? listen : "", ':');
	int64_t p;
	if (!listen || !colon || !parse_i64(colon + 1, 0, 65535, &p) || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, errlen, "API listen address \"%s\" is not HOST:PORT", listen ? listen : "");
		return -EINVAL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	*port = (uint16_t)p;
	*any = !host[0] || !strcmp(host, "*");
	if (*any)
		return 0;
	char *h = host;
	size_t hl = strlen(h);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	int rc = getaddrinfo(h, NULL, &hints, &ai);
	if (rc != 0 || !ai) {
		snprintf(err, errlen, "API listen address \"%s\": %s", listen, gai_strerror(rc));
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(*port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(*port);
	return 0;
}

static socklen_t api_sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Before anything is spent on a client: the shared caps. A refused one is
 * closed (the API speaks TLS first, so no HTTP answer is possible). */
static enum MHD_Result api_accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct api *api = cls;
	enum conn_verdict v = conn_limit_acquire(api->limit, sa, len);
	if (v == CONN_OK)
		return MHD_YES;
	char host[INET6_ADDRSTRLEN] = "?";
	getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	conn_limit_log_refusal(api->limit, "api", host, conn_verdict_reason(v));
	return MHD_NO;
}

static void api_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct api *api = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct api_conn *c = calloc(1, sizeof(*c));
		if (!c || !ci || !ci->client_addr) {
			/* Counted by the policy all the same: left counted rather than released twice. */
			free(c);
			return;
		}
		c->salen = api_sockaddr_len(ci->client_addr);
		memcpy(&c->sa, ci->client_addr, c->salen);
		*socket_context = c;
		if (fi && api->handshake_timeout_s) {
			char host[INET6_ADDRSTRLEN] = "?";
			getnameinfo((struct sockaddr *)&c->sa, c->salen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
			conn_deadline_arm(&c->deadline, fi->connect_fd, api->handshake_timeout_s,
					  "TLS handshake and request", host);
		}
		return;
	}
	struct api_conn *c = *socket_context;
	if (!c)
		return;
	conn_deadline_disarm(&c->deadline);
	conn_limit_release(api->limit, (struct sockaddr *)&c->sa, c->salen);
	free(c);
	*socket_context = NULL;
}

struct api *api_start(const struct api_config *cfg, const struct api_backend *be, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || !errlen)
		err = dummy, errlen = sizeof(dummy);
	err[0] = '\0';
	if (!cfg || !be || !cfg->auth || !cfg->cert_file || !cfg->key_file) {
		snprintf(err, errlen, "the API needs a listen address, a certificate, a key and auth");
		return NULL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "this libmicrohttpd has no TLS support");
		return NULL;
	}
	struct sockaddr_storage ss;
	bool any;
	uint16_t port;
	if (parse_listen(cfg->listen, &ss, &any, &port, err, errlen) < 0)
		return NULL;
	struct api *api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	api->be = *be;
	api->auth = cfg->auth;
	api->clock = cfg->clock;
	api->limit = cfg->limit;
	api->handshake_timeout_s = cfg->handshake_timeout_s;
	pthread_mutex_init(&api->cred_lock, NULL);
	if (getrandom(api->cred_key, sizeof(api->cred_key), 0) != (ssize_t)sizeof(api->cred_key)) {
		snprintf(err, errlen, "no random bytes for the credential cache: %s", strerror(errno));
		free(api);
		return NULL;
	}
	api->cert = read_pem(cfg->cert_file, "certificate", err, errlen);
	api->key = api->cert ? read_pem(cfg->key_file, "key", err, errlen) : NULL;
	if (!api->key) {
		free(api->cert);
		free(api);
		return NULL;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_TLS | MHD_USE_ERROR_LOG;
	if (any)
		flags |= MHD_USE_DUAL_STACK;
	else if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* With the shared caps, libmicrohttpd's own (divided among its threads) must never be the one that
	 * refuses: it knows no admin addresses. */
	unsigned max = cfg->max_connections ? cfg->max_connections : cfg->limit ? 1u << 20 : 64u;
	api->starting = true;
	api->daemon = MHD_start_daemon(
	    flags, port, cfg->limit ? api_accept_policy : NULL, api, on_request, api, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, api, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_NOTIFY_CONNECTION,
	    api_on_connection, api, MHD_OPTION_URI_LOG_CALLBACK, on_target, api, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)API_CONN_MEMORY, MHD_OPTION_HTTPS_MEM_CERT, api->cert, MHD_OPTION_HTTPS_MEM_KEY, api->key,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_THREADS, MHD_OPTION_CONNECTION_LIMIT, max,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 30u, MHD_OPTION_SOCK_ADDR,
	    any ? NULL : (struct sockaddr *)&ss, MHD_OPTION_END);
	api->starting = false;
	if (!api->daemon) {
		snprintf(err, errlen, "cannot serve the API on %s: %s", cfg->listen,
			 api->start_err[0] ? api->start_err : "libmicrohttpd failed to start");
		free(api->cert);
		free(api->key);
		free(api);
		return NULL;
	}
	log_info("api: serving HTTPS on %s (port %u)", cfg->listen, api_port(api));
	return api;
}

unsigned api_port(const struct api *api)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : 0;
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	MHD_stop_daemon(api->daemon);
	explicit_bzero(api->key, strlen(api->key));
	free(api->key);
	free(api->cert);
	explicit_bzero(api->cred_key, sizeof(api->cred_key));
	pthread_mutex_destroy(&api->cred_lock);
	free(api);
}
