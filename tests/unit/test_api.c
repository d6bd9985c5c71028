/* test_api.c — the admin REST API over real HTTPS: authentication and authorization decisions,
 * lockout through the API, routing (404, 405 with Allow, bad names), body limits and JSON errors,
 * users through the real users file, audit records, metrics, suspend and resume, and start-up
 * errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../auth/auth.h"
#include "../../broker/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[] = "/tmp/test_api.XXXXXX";
static char cert[256], key[256], users[256];
static struct auth *auth;
static struct api *api;
static unsigned port;
static uint64_t now = 1000;

/* What the test backend saw last, and the audit records. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen[512];
static char audits[4096];

static uint64_t test_clock(void)
{
	return now;
}

static void saw(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&seen_lock);
	vsnprintf(seen, sizeof(seen), fmt, ap);
	pthread_mutex_unlock(&seen_lock);
	va_end(ap);
}

static void be_pools_list(void *o, struct api_result *res)
{
	(void)o;
	saw("pools_list");
	res->json = json_pack("{s:[{s:s,s:i}]}", "pools", "name", "demo", "size", 2);
}

static void be_pool_create(void *o, const char *name, json_t *body, struct api_result *res)
{
	(void)o;
	saw("pool_create %s size=%lld", name, (long long)json_integer_value(json_object_get(body, "size")));
	res->status = 202;
	res->json = json_pack("{s:s}", "operation", "op-1");
}

static void be_pool_get(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("pool_get %s", name);
	if (strcmp(name, "demo") != 0)
		api_result_errno(res, -ENOENT, "no pool %s", name);
	else
		res->json = json_pack("{s:s}", "name", name);
}

static void be_pool_update(void *o, const char *name, json_t *body, struct api_result *res)
{
	(void)o;
	saw("pool_update %s keys=%zu", name, json_object_size(body));
	res->json = json_pack("{s:s}", "name", name);
}

static void be_pool_delete(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("pool_delete %s", name);
	api_result_errno(res, -ENOTEMPTY, "pool %s has desktops", name);
}

static void be_desktops_list(void *o, const char *pool, struct api_result *res)
{
	(void)o;
	saw("desktops_list %s", pool ? pool : "(all)");
	res->json = json_pack("{s:[]}", "desktops");
}

static void be_desktop_poweron(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("desktop_poweron %s", name);
	res->json = json_pack("{s:s,s:s}", "name", name, "state", "starting");
}

static void be_desktop_suspend(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("desktop_suspend %s", name);
	if (!strcmp(name, "demo-2"))
		api_result_errno(res, -EBUSY, "desktop %s is stopped", name);
	else
		res->json = json_pack("{s:s,s:s}", "name", name, "state", "suspended");
}

static void be_desktop_resume(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("desktop_resume %s", name);
	res->status = 202;
	res->json = json_pack("{s:s}", "operation", "op-7");
}

static void be_desktop_screenshot(void *o, const char *name, struct api_result *res)
{
	(void)o;
	saw("desktop_screenshot %s", name);
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	res->bytes = malloc(sizeof(png));
	memcpy(res->bytes, png, sizeof(png));
	res->len = sizeof(png);
	res->content_type = "image/png";
}

static void be_session_logoff(void *o, int64_t id, struct api_result *res)
{
	(void)o;
	saw("session_logoff %lld", (long long)id);
	res->status = 204;
}

static void be_events(void *o, int64_t after, unsigned limit, const char *event, struct api_result *res)
{
	(void)o;
	saw("events after=%lld limit=%u event=%s", (long long)after, limit, event ? event : "(any)");
	res->json = json_pack("{s:[]}", "events");
}

static void be_operation(void *o, const char *id, struct api_result *res)
{
	(void)o;
	saw("operation %s", id);
	(void)res; /* no answer at all: the API must say so */
}

static void be_metrics(void *o, struct api_result *res)
{
	(void)o;
	res->bytes = strdup("# TYPE vdi_desktops gauge\nvdi_desktops{state=\"running\"} 3\n");
	res->len = strlen(res->bytes);
	res->content_type = "text/plain";
}

static void be_audit(void *o, const char *user, const char *method, const char *path, unsigned status)
{
	(void)o;
	pthread_mutex_lock(&seen_lock);
	size_t n = strlen(audits);
	snprintf(audits + n, sizeof(audits) - n, "%s %s %s %u\n", user, method, path, status);
	pthread_mutex_unlock(&seen_lock);
}

static const struct api_backend backend = {
    .pools_list = be_pools_list,
    .pool_create = be_pool_create,
    .pool_get = be_pool_get,
    .pool_update = be_pool_update,
    .pool_delete = be_pool_delete,
    .desktops_list = be_desktops_list,
    .desktop_poweron = be_desktop_poweron,
    .desktop_screenshot = be_desktop_screenshot,
    .session_logoff = be_session_logoff,
    .events_list = be_events,
    .operation_get = be_operation,
    .metrics = be_metrics,
    .audit = be_audit,
    .desktop_suspend = be_desktop_suspend,
    .desktop_resume = be_desktop_resume,
};

/* ---- a small HTTPS client ---- */

struct reply {
	int status;
	char head[4096];
	char *body;
	size_t len;
	json_t *json;
};

static void reply_free(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* The value of header name in r (case-insensitive name), or NULL. */
static const char *header(struct reply *r, const char *name, char *out, size_t outlen)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	const char *p = strcasestr(r->head, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	p += strspn(p, " ");
	size_t n = strcspn(p, "\r\n");
	snprintf(out, outlen, "%.*s", (int)n, p);
	return out;
}

/* Sends raw (a whole request) and reads the reply to EOF. status -1 when the server closed without
 * an HTTP reply. */
static void exchange(const char *raw, size_t rawlen, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	size_t off = 0;
	while (off < rawlen) {
		int n = SSL_write(ssl, raw + off, (int)(rawlen - off));
		if (n <= 0)
			break; /* the server may answer and close before reading everything */
		off += (size_t)n;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (len == cap)
			buf = realloc(buf, (cap *= 2) + 1);
		int n = SSL_read(ssl, buf + len, (int)(cap - len));
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	r->status = -1;
	char *end = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0 && end) {
		r->status = atoi(buf + 9);
		snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - buf + 2), buf);
		r->len = len - (size_t)(end + 4 - buf);
		r->body = malloc(r->len + 1);
		memcpy(r->body, end + 4, r->len);
		r->body[r->len] = '\0';
		char ct[128];
		if (header(r, "Content-Type", ct, sizeof(ct)) && !strncmp(ct, "application/json", 16))
			r->json = json_loadb(r->body, r->len, 0, NULL);
	}
	free(buf);
}

/* A request with Basic credentials "user:password" (NULL: none) and an optional body of Content-Type ctype
 * (NULL: no such header). */
static void request_ct(const char *method, const char *path, const char *cred, const char *ctype, const char *body,
		       struct reply *r)
{
	char authz[512] = "";
	if (cred) {
		char b64[400];
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)strlen(cred));
		snprintf(authz, sizeof(authz), "Authorization: Basic %s\r\n", b64);
	}
	size_t blen = body ? strlen(body) : 0;
	size_t cap = blen + strlen(path) + 1024;
	char *raw = malloc(cap);
	int n = snprintf(raw, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n", method, path, authz);
	if (body && ctype)
		n += snprintf(raw + n, cap - (size_t)n, "Content-Type: %s\r\n", ctype);
	if (body)
		n += snprintf(raw + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
	n += snprintf(raw + n, cap - (size_t)n, "\r\n");
	if (body) {
		memcpy(raw + n, body, blen);
		n += (int)blen;
	}
	exchange(raw, (size_t)n, r);
	free(raw);
}

/* The same with a JSON body (Content-Type application/json). */
static void request(const char *method, const char *path, const char *cred, const char *body, struct reply *r)
{
	request_ct(method, path, cred, "application/json", body, r);
}

#define ADMIN "root:secret-1"

static const char *error_of(struct reply *r)
{
	const char *e = json_string_value(json_object_get(r->json, "error"));
	assert_non_null(e);
	return e;
}

/* ---- set-up ---- */

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	snprintf(users, sizeof(users), "%s/users", dir);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
		 "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
		 key, cert);
	assert_int_equal(system(cmd), 0);
	struct auth_config ac = {.backend = AUTH_BACKEND_FILE,
				 .users_file = users,
				 .admins = "@admins",
				 .lockout_attempts = 3,
				 .clock = test_clock};
	char err[256];
	auth = auth_create(&ac, err, sizeof(err));
	assert_non_null(auth);
	assert_int_equal(auth_user_add(auth, "root", "secret-1", "admins"), 0);
	assert_int_equal(auth_user_add(auth, "bob", "bob-pw", NULL), 0);
	struct api_config cfg = {
	    .listen = "127.0.0.1:0", .cert_file = cert, .key_file = key, .auth = auth, .clock = test_clock};
	api = api_start(&cfg, &backend, err, sizeof(err));
	if (!api)
		fprintf(stderr, "api_start: %s\n", err);
	assert_non_null(api);
	port = api_port(api);
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	api_stop(api);
	auth_destroy(auth);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void no_or_wrong_credentials_get_401_with_a_challenge(void **state)
{
	(void)state;
	struct reply r;
	char v[256];
	request("GET", "/api/v1/pools", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(header(&r, "WWW-Authenticate", v, sizeof(v)));
	assert_non_null(strstr(v, "Basic"));
	assert_string_equal(error_of(&r), "authentication required");
	reply_free(&r);

	request("GET", "/api/v1/pools", "root:wrong", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(error_of(&r), "wrong user name or password");
	assert_non_null(header(&r, "WWW-Authenticate", v, sizeof(v)));
	reply_free(&r);

	/* Without credentials nothing is told, not even whether a route exists. */
	request("GET", "/nowhere", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
}

static void a_user_who_is_not_admin_gets_403(void **state)
{
	(void)state;
	struct reply r;
	audits[0] = '\0';
	request("GET", "/api/v1/pools", "bob:bob-pw", NULL, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(error_of(&r), "bob is not an administrator");
	reply_free(&r);
	request("DELETE", "/api/v1/pools/demo", "bob:bob-pw", NULL, &r);
	assert_int_equal(r.status, 403);
	reply_free(&r);
	/* The refused change is in the audit, the refused read is not. */
	assert_string_equal(audits, "bob DELETE /api/v1/pools/demo 403\n");
}

static void routes_reach_the_backend_with_their_parameters(void **state)
{
	(void)state;
	struct reply r;
	char v[128];
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(r.json, "pools"), 0), "name")), "demo");
	assert_string_equal(seen, "pools_list");
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	reply_free(&r);

	request("GET", "/api/v1/pools/other", ADMIN, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(error_of(&r), "no pool other");
	reply_free(&r);

	request("DELETE", "/api/v1/pools/demo", ADMIN, NULL, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(error_of(&r), "pool demo has desktops");
	reply_free(&r);

	request("GET", "/api/v1/desktops?pool=demo", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "desktops_list demo");
	reply_free(&r);
	request("GET", "/api/v1/desktops", ADMIN, NULL, &r);
	assert_string_equal(seen, "desktops_list (all)");
	reply_free(&r);

	request("POST", "/api/v1/desktops/demo-1/poweron", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "desktop_poweron demo-1");
	reply_free(&r);

	audits[0] = '\0';
	request("POST", "/api/v1/desktops/demo-1/suspend", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "desktop_suspend demo-1");
	assert_string_equal(json_string_value(json_object_get(r.json, "state")), "suspended");
	reply_free(&r);
	request("POST", "/api/v1/desktops/demo-2/suspend", ADMIN, NULL, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(error_of(&r), "desktop demo-2 is stopped");
	reply_free(&r);
	request("POST", "/api/v1/desktops/demo-1/resume", ADMIN, NULL, &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(seen, "desktop_resume demo-1");
	assert_string_equal(json_string_value(json_object_get(r.json, "operation")), "op-7");
	reply_free(&r);
	assert_string_equal(audits, "root POST /api/v1/desktops/demo-1/suspend 200\n"
				    "root POST /api/v1/desktops/demo-2/suspend 409\n"
				    "root POST /api/v1/desktops/demo-1/resume 202\n");

	request("GET", "/api/v1/desktops/demo-1/screenshot", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "image/png");
	assert_int_equal(r.len, 8);
	assert_memory_equal(r.body, "\x89PNG", 4);
	reply_free(&r);

	request("POST", "/api/v1/sessions/42/logoff", ADMIN, NULL, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	assert_string_equal(seen, "session_logoff 42");
	reply_free(&r);

	request("GET", "/api/v1/events", ADMIN, NULL, &r);
	assert_string_equal(seen, "events after=0 limit=100 event=(any)");
	reply_free(&r);
	request("GET", "/api/v1/events?after=17&limit=1000&event=login_failed", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "events after=17 limit=1000 event=login_failed");
	reply_free(&r);

	/* A route the backend does not serve, and a backend that gives no answer. */
	request("POST", "/api/v1/desktops/demo-1/refresh", ADMIN, NULL, &r);
	assert_int_equal(r.status, 501);
	assert_string_equal(error_of(&r), "not implemented");
	reply_free(&r);
	request("GET", "/api/v1/operations/op-1", ADMIN, NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(error_of(&r), "the backend gave no answer");
	reply_free(&r);
}

static void unknown_routes_methods_and_bad_parameters_are_refused(void **state)
{
	(void)state;
	struct reply r;
	char v[128];
	request("GET", "/api/v1/nothing", ADMIN, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(error_of(&r), "no such route: /api/v1/nothing");
	reply_free(&r);
	request("GET", "/api/v1/pools/demo/extra", ADMIN, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);

	request("PUT", "/api/v1/pools/demo", ADMIN, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(header(&r, "Allow", v, sizeof(v)));
	assert_string_equal(v, "GET, PATCH, DELETE");
	reply_free(&r);
	request("GET", "/api/v1/desktops/d/poweron", ADMIN, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(header(&r, "Allow", v, sizeof(v)));
	assert_string_equal(v, "POST");
	reply_free(&r);

	request("GET", "/api/v1/desktops/d/suspend", ADMIN, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(header(&r, "Allow", v, sizeof(v)));
	assert_string_equal(v, "POST");
	reply_free(&r);
	request("DELETE", "/api/v1/desktops/d/resume", ADMIN, NULL, &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	seen[0] = '\0';
	request("POST", "/api/v1/desktops/.hidden/suspend", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad desktop name: .hidden");
	reply_free(&r);
	request("POST", "/api/v1/desktops/a%20b/resume", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	assert_string_equal(seen, "");

	request("GET", "/api/v1/pools/-rf", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad pool name: -rf");
	reply_free(&r);
	request("GET", "/api/v1/pools/a%0Ab", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad pool name: a?b");
	reply_free(&r);
	request("POST", "/api/v1/sessions/12x/logoff", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad session id: 12x");
	reply_free(&r);
	request("POST", "/api/v1/sessions/99999999999999999999/logoff", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);

	request("GET", "/api/v1/events?limit=1001", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "query \"limit\" must be 1 to 1000");
	reply_free(&r);
	request("GET", "/api/v1/events?limit=0", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	request("GET", "/api/v1/events?after=-1", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "\"after\""));
	reply_free(&r);
	request("GET", "/api/v1/events?event=DROP%20TABLE", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "\"event\""));
	reply_free(&r);
	request("GET", "/api/v1/desktops?pool=..", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
}

/* What unescaping would hide is refused before any backend: a %00 (the name would end there), a bad
 * escape; a path or query too large for any route is answered at once, and the connection serves
 * the next request. */
static void request_targets_are_checked_as_sent(void **state)
{
	(void)state;
	struct reply r;
	seen[0] = '\0';
	request("GET", "/api/v1/pools/demo%00", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "the URL contains a NUL byte (%00)");
	reply_free(&r);
	request("GET", "/api/v1/pools/demo%00x", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	request("GET", "/api/v1/desktops?pool=demo%00x", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "the URL contains a NUL byte (%00)");
	reply_free(&r);
	request("GET", "/api/v1/pools/demo%zz", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "bad %-escape"));
	reply_free(&r);
	/* The pool rule is pools/' own: no '.', at most 32. */
	request("GET", "/api/v1/pools/a.b", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad pool name: a.b");
	reply_free(&r);
	request("GET", "/api/v1/pools/abcdefghijabcdefghijabcdefghijabc", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	request("GET", "/api/v1/pools/%C3%A9", ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "bad pool name: ??");
	reply_free(&r);
	/* Without credentials the target's fault is not told: 401 as for every route. */
	request("GET", "/api/v1/pools/demo%00", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	assert_string_equal(seen, "");

	/* 600 parameters, and a path of 4 KiB: answered, not left to the idle timeout. */
	size_t cap = 16384;
	char *url = malloc(cap);
	int n = snprintf(url, cap, "/api/v1/events?after=1");
	for (int i = 0; i < 600; i++)
		n += snprintf(url + n, cap - (size_t)n, "&p%d=%d", i, i);
	request("GET", url, ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "more than 16 query parameters");
	reply_free(&r);
	n = snprintf(url, cap, "/api/v1/pools/");
	memset(url + n, 'a', 4096);
	url[n + 4096] = '\0';
	request("GET", url, ADMIN, NULL, &r);
	assert_int_equal(r.status, 414);
	reply_free(&r);
	/* So many that libmicrohttpd's own memory for them would run out: answered all the same. */
	n = snprintf(url, cap, "/api/v1/events?");
	for (int i = 0; n < 16000; i++)
		n += snprintf(url + n, cap - (size_t)n, "a%d&", i % 10);
	request("GET", url, ADMIN, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "more than 16 query parameters");
	reply_free(&r);
	free(url);
	assert_string_equal(seen, "");
	request("GET", "/api/v1/pools/demo", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "pool_get demo");
	reply_free(&r);
}

/* A body is JSON by its Content-Type (parameters allowed), or the request is refused with 415
 * before it reaches the backend. */
static void bodies_must_be_declared_json(void **state)
{
	(void)state;
	struct reply r;
	seen[0] = '\0';
	request_ct("POST", "/api/v1/pools", ADMIN, "text/plain", "{\"name\": \"new\", \"size\": 3}", &r);
	assert_int_equal(r.status, 415);
	assert_string_equal(error_of(&r), "the body must be Content-Type application/json, not text/plain");
	reply_free(&r);
	request_ct("POST", "/api/v1/pools", ADMIN, NULL, "{\"name\": \"new\", \"size\": 3}", &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	request_ct("POST", "/api/v1/pools", ADMIN, "application/jsonx", "{\"name\": \"new\"}", &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	request_ct("PATCH", "/api/v1/users/bob", ADMIN, "application/x-www-form-urlencoded", "password=x", &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	/* A route without a body takes none of another type either. */
	request_ct("POST", "/api/v1/desktops/demo-1/poweron", ADMIN, "text/plain", "now", &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	assert_string_equal(seen, "");

	request_ct("POST", "/api/v1/pools", ADMIN, "Application/JSON; charset=utf-8",
		   "{\"name\": \"new\", \"size\": 3}", &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(seen, "pool_create new size=3");
	reply_free(&r);
	/* A NUL inside a JSON name: jansson refuses \u0000. */
	seen[0] = '\0';
	request("POST", "/api/v1/pools", ADMIN, "{\"name\": \"new\\u0000x\"}", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	request("POST", "/api/v1/pools", ADMIN, "{\"name\": \"a.b\"}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "field \"name\" must be a pool name"));
	reply_free(&r);
	assert_string_equal(seen, "");
}

/* The same checks without a network, as fuzz_api drives them. */
static void request_checks_without_a_network(void **state)
{
	(void)state;
	char why[300];
	assert_int_equal(api_request_check("GET", "/api/v1/pools/demo", NULL, NULL, 0, why, sizeof(why)), 0);
	assert_int_equal(api_request_check("GET", "/api/v1/pools/demo%00", NULL, NULL, 0, why, sizeof(why)), 400);
	assert_int_equal(api_request_check("PUT", "/api/v1/pools/demo", NULL, NULL, 0, why, sizeof(why)), 405);
	assert_int_equal(api_request_check("GET", "/nowhere", NULL, NULL, 0, why, sizeof(why)), 404);
	assert_int_equal(api_request_check("POST", "/api/v1/pools", "text/plain", "{}", 2, why, sizeof(why)), 415);
	assert_int_equal(api_request_check("POST", "/api/v1/pools", "application/json", "{", 1, why, sizeof(why)), 400);
	assert_int_equal(api_request_check("POST", "/api/v1/pools", "application/json", "{}", 2, why, sizeof(why)), 0);
}

static void bodies_are_bounded_json_objects(void **state)
{
	(void)state;
	struct reply r;
	audits[0] = '\0';
	request("POST", "/api/v1/pools", ADMIN, "{\"name\": \"new\", \"size\": 3}", &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(json_string_value(json_object_get(r.json, "operation")), "op-1");
	assert_string_equal(seen, "pool_create new size=3");
	reply_free(&r);
	assert_string_equal(audits, "root POST /api/v1/pools 202\n");

	request("POST", "/api/v1/pools", ADMIN, "{\"name\": \"new\",", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "bad JSON body at line 1"));
	reply_free(&r);
	request("POST", "/api/v1/pools", ADMIN, "[1, 2]", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "the body must be a JSON object");
	reply_free(&r);
	request("POST", "/api/v1/pools", ADMIN, "{\"size\": 3}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "field \"name\" is missing");
	reply_free(&r);
	request("POST", "/api/v1/pools", ADMIN, "{\"name\": 7}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "field \"name\" must be a pool name"));
	reply_free(&r);
	request("POST", "/api/v1/pools", ADMIN, "{\"name\": \"a\", \"name\": \"b\"}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "duplicate"));
	reply_free(&r);
	request("PATCH", "/api/v1/pools/demo", ADMIN, NULL, &r);
	assert_int_equal(r.status, 415);
	assert_string_equal(error_of(&r), "the body must be Content-Type application/json, not none");
	reply_free(&r);
	request("PATCH", "/api/v1/pools/demo", ADMIN, "", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "a JSON object body is required");
	reply_free(&r);

	/* Exactly the limit is fine; one byte more is 413, before the body is read. */
	size_t n = API_BODY_MAX;
	char *big = malloc(n + 2);
	memset(big, ' ', n + 1);
	memcpy(big, "{\"a\":1}", 7);
	big[n] = '\0';
	request("PATCH", "/api/v1/pools/demo", ADMIN, big, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(seen, "pool_update demo keys=1");
	reply_free(&r);
	big[n] = ' ';
	big[n + 1] = '\0';
	request("PATCH", "/api/v1/pools/demo", ADMIN, big, &r);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(error_of(&r), "larger than 65536 bytes"));
	reply_free(&r);

	/* A chunked body past the limit: the connection is closed, nothing reaches the backend. */
	seen[0] = '\0';
	size_t cap = 2 * n + 256;
	char *raw = malloc(cap);
	int len =
	    snprintf(raw, cap,
		     "PATCH /api/v1/pools/demo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cm9vdDpzZWNyZXQtMQ==\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 2; i++) {
		len += snprintf(raw + len, cap - (size_t)len, "%zx\r\n", n / 2 + 1);
		memset(raw + len, ' ', n / 2 + 1);
		len += (int)(n / 2 + 1);
		len += snprintf(raw + len, cap - (size_t)len, "\r\n");
	}
	len += snprintf(raw + len, cap - (size_t)len, "0\r\n\r\n");
	exchange(raw, (size_t)len, &r);
	assert_true(r.status == -1 || r.status >= 400);
	assert_string_equal(seen, "");
	reply_free(&r);
	free(raw);
	free(big);
}

static void users_are_managed_through_the_users_file(void **state)
{
	(void)state;
	struct reply r;
	request("POST", "/api/v1/users", ADMIN,
		"{\"name\":\"carol\",\"password\":\"c-pw\",\"groups\":[\"admins\",\"x\"]}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_string_value(json_object_get(r.json, "name")), "carol");
	reply_free(&r);
	request("POST", "/api/v1/users", ADMIN, "{\"name\":\"carol\",\"password\":\"other\"}", &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(error_of(&r), "user carol exists");
	reply_free(&r);
	request("POST", "/api/v1/users", ADMIN, "{\"name\":\"-x\",\"password\":\"p\"}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "field \"name\""));
	reply_free(&r);
	request("POST", "/api/v1/users", ADMIN, "{\"name\":\"dave\"}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_of(&r), "field \"password\" is missing");
	reply_free(&r);
	request("POST", "/api/v1/users", ADMIN, "{\"name\":\"dave\",\"password\":\"p\",\"groups\":[\"a b\"]}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(error_of(&r), "field \"groups\""));
	reply_free(&r);

	/* carol is an admin (group admins) and can use the API with her password. */
	request("GET", "/api/v1/users", "carol:c-pw", NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *list = json_object_get(r.json, "users");
	assert_int_equal(json_array_size(list), 3);
	json_t *carol = json_array_get(list, 2);
	assert_string_equal(json_string_value(json_object_get(carol, "name")), "carol");
	assert_string_equal(json_string_value(json_array_get(json_object_get(carol, "groups"), 1)), "x");
	reply_free(&r);

	request("PATCH", "/api/v1/users/carol", ADMIN, "{\"password\":\"new-pw\"}", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("GET", "/api/v1/pools", "carol:new-pw", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("PATCH", "/api/v1/users/nobody", ADMIN, "{\"password\":\"x\"}", &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(error_of(&r), "no user nobody");
	reply_free(&r);

	request("DELETE", "/api/v1/users/carol", ADMIN, NULL, &r);
	assert_int_equal(r.status, 204);
	reply_free(&r);
	request("GET", "/api/v1/pools", "carol:new-pw", NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request("DELETE", "/api/v1/users/carol", ADMIN, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void metrics_are_prometheus_text_for_admins(void **state)
{
	(void)state;
	struct reply r;
	char v[128];
	request("GET", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request("GET", "/metrics", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "vdi_desktops{state=\"running\"} 3\n"));
	assert_non_null(strstr(r.body, "# TYPE vdi_auth_logins_total counter\n"));
	assert_non_null(strstr(r.body, "vdi_auth_logins_total{result=\"failed\"} "));
	assert_non_null(strstr(r.body, "vdi_api_requests_total{code=\"401\"} "));
	reply_free(&r);
}

/* A backend table written before suspend and resume existed (designated initializers without
 * them) still works, and answers 501 for them. */
static void a_backend_without_suspend_answers_501(void **state)
{
	(void)state;
	static const struct api_backend old = {.desktop_poweron = be_desktop_poweron};
	char err[256];
	struct api_config cfg = {.listen = "127.0.0.1:0", .cert_file = cert, .key_file = key, .auth = auth};
	struct api *a = api_start(&cfg, &old, err, sizeof(err));
	assert_non_null(a);
	unsigned saved = port;
	port = api_port(a);
	struct reply r;
	request("POST", "/api/v1/desktops/demo-1/poweron", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("POST", "/api/v1/desktops/demo-1/suspend", ADMIN, NULL, &r);
	assert_int_equal(r.status, 501);
	assert_string_equal(error_of(&r), "not implemented");
	reply_free(&r);
	request("POST", "/api/v1/desktops/demo-1/resume", ADMIN, NULL, &r);
	assert_int_equal(r.status, 501);
	reply_free(&r);
	port = saved;
	api_stop(a);
}

/* Credentials that passed are not hashed again for a minute: a password
 * changed behind the API's back still works until then (and only then);
 * one changed through the API stops at once. (Two failures here: the
 * lockout after three is the last test's.) */
static void passed_credentials_are_remembered_for_a_minute(void **state)
{
	(void)state;
	struct reply r;
	now += 10000; /* nothing remembered from earlier tests */
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_int_equal(auth_user_passwd(auth, "root", "secret-2"), 0);
	now += 59;
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200); /* remembered */
	reply_free(&r);
	now += 2;
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 401); /* a minute on: checked, and wrong */
	reply_free(&r);
	request("GET", "/api/v1/pools", "root:secret-2", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	/* Changed through the API: the remembered one is forgotten at once. */
	request("PATCH", "/api/v1/users/root", "root:secret-2", "{\"password\": \"secret-1\"}", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("GET", "/api/v1/pools", "root:secret-2", NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* Last: it locks out 127.0.0.1, then moves the clock past the lockout. */
static void lockout_applies_to_the_api(void **state)
{
	(void)state;
	struct reply r;
	char v[64];
	now += 10000; /* forget earlier failures */
	/* Passed, so remembered for a minute: the lockout still comes first. */
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	for (int i = 0; i < 3; i++) {
		request("GET", "/api/v1/pools", "root:guess", NULL, &r);
		assert_int_equal(r.status, 401);
		reply_free(&r);
	}
	/* The right password no longer helps, remembered or not, and the backend is not asked. */
	struct auth_stats before, after;
	auth_get_stats(auth, &before);
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 429);
	assert_non_null(header(&r, "Retry-After", v, sizeof(v)));
	assert_int_equal(atoi(v), 300);
	assert_non_null(strstr(error_of(&r), "locked out"));
	reply_free(&r);
	now += 61; /* the remembered one has expired: the password is offered afresh */
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 429);
	assert_non_null(header(&r, "Retry-After", v, sizeof(v)));
	assert_int_equal(atoi(v), 300 - 61);
	reply_free(&r);
	auth_get_stats(auth, &after);
	assert_int_equal(after.backend_calls, before.backend_calls);
	assert_int_equal(after.locked_refused, before.locked_refused + 2);
	now += 301 - 61;
	request("GET", "/api/v1/pools", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void start_errors_say_why(void **state)
{
	(void)state;
	char err[256];
	struct api_config cfg = {.listen = "127.0.0.1", .cert_file = cert, .key_file = key, .auth = auth};
	assert_null(api_start(&cfg, &backend, err, sizeof(err)));
	assert_non_null(strstr(err, "not HOST:PORT"));
	cfg.listen = "127.0.0.1:0";
	cfg.cert_file = "/nonexistent.crt";
	assert_null(api_start(&cfg, &backend, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent.crt: cannot read the API's TLS certificate"));
	cfg.cert_file = users; /* not a certificate */
	assert_null(api_start(&cfg, &backend, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot serve the API on 127.0.0.1:0"));
	char used[32];
	snprintf(used, sizeof(used), "127.0.0.1:%u", port);
	cfg.listen = used;
	cfg.cert_file = cert;
	assert_null(api_start(&cfg, &backend, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot serve the API"));
	/* Every address, IPv6 and IPv4 on one socket. */
	cfg.listen = "*:0";
	struct api *a = api_start(&cfg, &backend, err, sizeof(err));
	assert_non_null(a);
	api_stop(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(no_or_wrong_credentials_get_401_with_a_challenge),
	    cmocka_unit_test(a_user_who_is_not_admin_gets_403),
	    cmocka_unit_test(routes_reach_the_backend_with_their_parameters),
	    cmocka_unit_test(unknown_routes_methods_and_bad_parameters_are_refused),
	    cmocka_unit_test(request_targets_are_checked_as_sent),
	    cmocka_unit_test(bodies_must_be_declared_json),
	    cmocka_unit_test(request_checks_without_a_network),
	    cmocka_unit_test(bodies_are_bounded_json_objects),
	    cmocka_unit_test(users_are_managed_through_the_users_file),
	    cmocka_unit_test(metrics_are_prometheus_text_for_admins),
	    cmocka_unit_test(start_errors_say_why),
	    cmocka_unit_test(a_backend_without_suspend_answers_501),
	    cmocka_unit_test(passed_credentials_are_remembered_for_a_minute),
	    cmocka_unit_test(lockout_applies_to_the_api),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
