/* main.c — vdi-client: the thin client. Parses its options, asks for what is missing on its connect screen,
 * lets the broker's user API list the user's pools and issue a ticket for the chosen one, then shows that
 * desktop over RDP or VNC until the user leaves; the outcome is the exit status (client.h). */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

static bool pool_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < POOL_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* With the broker's user API: the pool to use (asked when there are several) and a ticket for it, which
 * replaces the password for the RDP or VNC login. 0 (also without the API), 1 when the user closed the window,
 * else a client status. */
static int choose_pool(struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_error *e)
{
	struct pool_list pools;
	int rc = api_pools(o, p, &pools, e);
	if (rc == 1) {
		if (o->pool)
			return client_fail(e, CLIENT_PROTOCOL, "%s has no user API to choose pool %s with", o->host,
					   o->pool);
		return 0;
	}
	if (rc)
		return rc;
	int pick = -1;
	for (size_t i = 0; o->pool && i < pools.count; i++)
		if (!strcmp(pools.pools[i].name, o->pool))
			pick = (int)i;
	if (o->pool && pick < 0)
		return client_fail(e, CLIENT_NOT_ENTITLED, "%s may not use pool %s", o->user, o->pool);
	if (!o->pool && pools.count == 1) {
		pick = 0;
	} else if (!o->pool && o->no_dialog) {
		for (size_t i = 0; i < pools.count; i++)
			printf("%s\t%s\n", pools.pools[i].name, pool_state_name(pools.pools[i].state));
		return client_fail(e, CLIENT_USAGE, "%s may use %zu pools: choose one with --pool", o->user,
				   pools.count);
	} else if (!o->pool) {
		pick = ui_pick_pool(w, &pools);
		if (pick < 0)
			return 1;
	}
	char ticket[256];
	rc = api_ticket(o, p, pools.pools[pick].name, ticket, sizeof(ticket), e);
	if (rc)
		return rc;
	snprintf(o->password, sizeof(o->password), "%s", ticket);
	OPENSSL_cleanse(ticket, sizeof(ticket));
	return 0;
}

static int run(struct client_opts *o, struct window *w, struct client_error *e)
{
	struct tls_policy p = {.cacert = o->cacert,
			       .known_hosts = o->known_hosts,
			       .trust_on_first_use = o->trust_on_first_use,
			       .no_dialog = o->no_dialog,
			       .confirm = o->no_dialog ? NULL : ui_confirm,
			       .confirm_arg = w};
	if (!o->have_url || !o->have_password) {
		if (!o->have_url)
			settings_load(o);
		if (ui_connect_screen(w, o) < 0)
			return CLIENT_OK;
		settings_save(o);
	}
	char line[CLIENT_HOST_MAX + CLIENT_NAME_MAX + 64];
	snprintf(line, sizeof(line), "Connecting to %s:%d as %s", o->host, o->port, o->user);
	const char *lines[] = {line};
	window_message(w, lines, 1);
	int rc = choose_pool(o, &p, w, e);
	if (rc)
		return rc == 1 ? CLIENT_OK : rc;
	return o->proto == PROTO_RDP ? rdp_run(o, &p, w, e) : vnc_run(o, &p, w, e);
}

int main(int argc, char **argv)
{
	struct client_opts o;
	struct client_error e = {0};
	int rc = client_parse_args(argc, argv, &o, &e);
	if (rc == 1)
		return 0;
	if (rc == 0 && o.pool && !pool_name_ok(o.pool))
		rc = client_fail(&e, CLIENT_USAGE, "bad pool name '%s' (1 to 32 of A-Z a-z 0-9 _ -)", o.pool);
	if (rc) {
		fprintf(stderr, "vdi-client: %s\n", e.msg);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	struct window *w = window_open(&o, &e);
	rc = w ? run(&o, w, &e) : (int)e.status;
	OPENSSL_cleanse(o.password, sizeof(o.password));
	if (e.msg[0])
		fprintf(stderr, "vdi-client: %s\n", e.msg);
	window_close(w);
	return rc;
}
