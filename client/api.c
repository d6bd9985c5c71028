/* api.c — the broker's user API as vdi-client uses it: which pools the user may use, and a one-time ticket
 * for the chosen one that then logs in over RDP or VNC in place of the password. */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static void api_url(const struct client_opts *o, const char *path, char *out, size_t size)
{
	if (o->api) {
		size_t n = strlen(o->api);
		snprintf(out, size, "%.*s%s", (int)(n && o->api[n - 1] == '/' ? n - 1 : n), o->api, path);
	} else {
		snprintf(out, size, strchr(o->host, ':') ? "https://[%s]:8443%s" : "https://%s:8443%s", o->host, path);
	}
}

/* The server's {"error": "..."} as printable text, or the status alone. */
static void reply_error(const struct https_reply *r, char *out, size_t size)
{
	json_error_t err;
	json_t *root = r->body ? json_loadb(r->body, r->len, 0, &err) : NULL;
	const char *msg = json_string_value(json_object_get(root, "error"));
	size_t n = 0;
	for (; msg && msg[n] && n + 1 < size && n < 200; n++)
		out[n] = msg[n] >= 0x20 && msg[n] < 0x7f ? msg[n] : '?';
	out[n] = '\0';
	if (!n)
		snprintf(out, size, "HTTP %d", r->status);
	json_decref(root);
}

/* A status every user route shares: wrong password, locked out. 0 when it is neither. */
static int auth_status(const struct https_reply *r, const char *user, struct client_error *e)
{
	if (r->status == 401)
		return client_fail(e, CLIENT_BAD_PASSWORD, "wrong user name or password for %s", user);
	if (r->status == 429)
		return client_fail(e, CLIENT_LOCKED_OUT,
				   "%s is locked out after too many failed logins; try again in %u s", user,
				   r->retry_after ? r->retry_after : 1);
	return 0;
}

int api_pools(const struct client_opts *o, const struct tls_policy *p, struct pool_list *out, struct client_error *e)
{
	char url[1200], why[256];
	struct https_reply r;
	api_url(o, "/api/v1/me/pools", url, sizeof(url));
	int status = https_request(p, url, "GET", o->user, o->password, &r, e);
	/* Without --api the API is a guess: a server without it still serves desktops. */
	if (status == CLIENT_UNREACHABLE && !o->api && !o->pool)
		return 1;
	if (status < 100)
		return status;
	int rc = auth_status(&r, o->user, e);
	if (rc) {
	} else if (r.status == 200) {
		if (pools_json_parse(r.body, r.len, out) < 0)
			rc = client_fail(e, CLIENT_PROTOCOL, "the API at %s sent a pool list vdi-client cannot read",
					 url);
		else if (out->count == 0)
			rc = client_fail(e, CLIENT_NOT_ENTITLED, "%s may use no pool", o->user);
	} else if (r.status == 404 || r.status == 403) {
		/* 403: a broker without the user API answers its admin API's "not an administrator". */
		rc = 1;
	} else {
		reply_error(&r, why, sizeof(why));
		rc = client_fail(e, CLIENT_PROTOCOL, "the API at %s answered: %s", url, why);
	}
	https_reply_free(&r);
	return rc;
}

int api_ticket(const struct client_opts *o, const struct tls_policy *p, const char *pool, char *ticket, size_t size,
	       struct client_error *e)
{
	char url[1200], path[128], why[256];
	struct https_reply r;
	snprintf(path, sizeof(path), "/api/v1/me/pools/%s/ticket", pool);
	api_url(o, path, url, sizeof(url));
	int status = https_request(p, url, "POST", o->user, o->password, &r, e);
	if (status < 100)
		return status;
	int rc = auth_status(&r, o->user, e);
	reply_error(&r, why, sizeof(why));
	if (rc) {
	} else if (r.status == 201 || r.status == 200) {
		if (pools_json_ticket(r.body, r.len, ticket, size) < 0)
			rc = client_fail(e, CLIENT_PROTOCOL, "the API at %s sent a ticket vdi-client cannot read", url);
	} else if (r.status == 403) {
		rc = client_fail(e, CLIENT_NOT_ENTITLED, "%s may not use pool %s: %s", o->user, pool, why);
	} else if (r.status == 404) {
		rc = client_fail(e, CLIENT_NO_DESKTOP, "no pool %s: %s", pool, why);
	} else if (r.status == 409 || r.status == 503) {
		rc = client_fail(e, CLIENT_NO_DESKTOP, "pool %s has no desktop for %s: %s", pool, o->user, why);
	} else {
		rc = client_fail(e, CLIENT_PROTOCOL, "the API at %s answered: %s", url, why);
	}
	https_reply_free(&r);
	return rc;
}
