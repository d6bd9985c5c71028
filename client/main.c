/* main.c — vdi-client: the thin client. Parses its options, asks for what is missing on its connect screen,
 * lets the broker's user API list the user's pools and issue a ticket for the chosen one, then shows that
 * desktop over RDP or VNC until the user leaves; the outcome is the exit status (client.h). */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <SDL2/SDL.h>
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
	/* The broker would put the login on its own screen with "no desktop available": say it here instead. */
	if (pools.pools[pick].state == POOL_UNAVAILABLE)
		return client_fail(e, CLIENT_NO_DESKTOP,
				   "pool %s has no desktop available for %s right now; try again later",
				   pools.pools[pick].name, o->user);
	char ticket[256];
	rc = api_ticket(o, p, pools.pools[pick].name, ticket, sizeof(ticket), e);
	if (rc)
		return rc;
	snprintf(o->password, sizeof(o->password), "%s", ticket);
	OPENSSL_cleanse(ticket, sizeof(ticket));
	return 0;
}

static int session(struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
		   struct client_error *e)
{
	client_chan_begin(ch, o->proto == PROTO_RDP ? "rdp" : "vnc");
	e->status = CLIENT_OK;
	e->msg[0] = '\0';
	return o->proto == PROTO_RDP ? rdp_run(o, p, w, ch, e) : vnc_run(o, p, w, ch, e);
}

/* The connect screen when something is missing or the last attempt failed (why); 0, or 1 when the user closed
 * the window. */
static int ask(struct client_opts *o, struct window *w, const char *why)
{
	if (o->have_url && o->have_password && !(why && *why))
		return 0;
	if (!o->have_url)
		settings_load(o);
	if (ui_connect_screen(w, o, why) < 0)
		return 1;
	settings_save(o);
	return 0;
}

/* Whether a failure is one the person can act on at the connect screen (another server, password, pool). */
static bool shown_on_connect_screen(int status)
{
	return status >= CLIENT_UNREACHABLE && status <= CLIENT_PROTOCOL;
}

/* After a failure: the password goes (it is asked again), the reason stays for the connect screen. */
static void forget_attempt(struct client_opts *o, struct client_error *e, char *why, size_t size)
{
	if (e->msg[0])
		fprintf(stderr, "vdi-client: %s\n", e->msg);
	snprintf(why, size, "%s", e->msg);
	e->msg[0] = '\0';
	OPENSSL_cleanse(o->password, sizeof(o->password));
	o->have_password = false;
}

static void show_connecting(struct client_opts *o, struct window *w)
{
	char line[CLIENT_HOST_MAX + CLIENT_NAME_MAX + 64];
	snprintf(line, sizeof(line), "Connecting to %s:%d as %s", o->host, o->port, o->user);
	const char *lines[] = {line};
	window_message(w, lines, 1);
}

static void ignore_key(void *arg, uint32_t scancode, uint32_t keysym, bool down)
{
	(void)arg, (void)scancode, (void)keysym, (void)down;
}
static void ignore_pointer(void *arg, int x, int y, uint32_t buttons, uint32_t changed)
{
	(void)arg, (void)x, (void)y, (void)buttons, (void)changed;
}
static void ignore_wheel(void *arg, int dx, int dy)
{
	(void)arg, (void)dx, (void)dy;
}
static void ignore_resize(void *arg, uint32_t width, uint32_t height)
{
	(void)arg, (void)width, (void)height;
}

/* Kiosk: the last picture with "reconnecting" over it for delay_ms; 1 when the user closed the window. */
static int reconnect_wait(struct window *w, unsigned delay_ms)
{
	char text[64];
	snprintf(text, sizeof(text), "Connection lost - reconnecting in %u s...", (delay_ms + 999) / 1000);
	window_overlay(w, text);
	fprintf(stderr, "vdi-client: reconnecting in %u s\n", (delay_ms + 999) / 1000);
	struct input_sink none = {
	    .key = ignore_key, .pointer = ignore_pointer, .wheel = ignore_wheel, .resize = ignore_resize};
	uint32_t end = SDL_GetTicks() + delay_ms;
	while ((int32_t)(end - SDL_GetTicks()) > 0)
		if (window_poll(w, &none, (int)(end - SDL_GetTicks())))
			return 1;
	window_overlay(w, "Connection lost - reconnecting...");
	return 0;
}

#define KIOSK_BACKOFF_FIRST_MS 1000
#define KIOSK_BACKOFF_MAX_MS   30000

/* --kiosk: no way out but logoff. A logoff or disconnect goes back to the connect screen; a network loss (or a
 * server or desktop that says it is coming back) reconnects by itself to the same session, with the reconnect
 * ticket the private channel gave, else with the user's password again, backing off from 1 s to 30 s. */
static int kiosk(struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
		 struct client_error *e)
{
	char own[CLIENT_PASS_MAX] = ""; /* the user's password, for a reconnect without a (valid) ticket */
	char why[sizeof(e->msg)] = "";  /* why the last login failed, for the connect screen */
	unsigned delay = 0;             /* > 0: reconnecting */
	int rc;
	for (;;) {
		if (!delay) {
			if (ask(o, w, why))
				return CLIENT_OK;
			why[0] = '\0';
			snprintf(own, sizeof(own), "%s", o->password);
			show_connecting(o, w);
		} else if (reconnect_wait(w, delay)) {
			rc = CLIENT_OK;
			break;
		}
		bool used_ticket = delay && client_chan_ticket(ch, o->password, sizeof(o->password));
		rc = 0;
		if (!used_ticket) {
			snprintf(o->password, sizeof(o->password), "%s", own);
			rc = choose_pool(o, p, w, e);
			if (rc == 1) {
				rc = CLIENT_OK;
				break;
			}
		}
		if (rc == 0)
			rc = session(o, p, w, ch, e);
		else
			ch->established = false;
		if (ch->user_closed)
			break;
		uint32_t reason = 0;
		char bye_text[CHANNEL_TEXT_MAX + 1];
		bool bye = client_chan_said_bye(ch, &reason, bye_text, sizeof(bye_text));
		if ((bye && channel_bye_reconnects(reason)) || (!bye && ch->established)) {
			fprintf(stderr, "vdi-client: %s\n", e->msg[0] ? e->msg : "the connection was lost");
			delay = KIOSK_BACKOFF_FIRST_MS;
			continue;
		}
		if (delay && !ch->established) {
			/* Not back yet: the server is still away, or the ticket no longer works (then the password). */
			if (used_ticket && rc == CLIENT_BAD_PASSWORD)
				client_chan_forget_ticket(ch);
			if (e->msg[0])
				fprintf(stderr, "vdi-client: %s\n", e->msg);
			delay = delay * 2 > KIOSK_BACKOFF_MAX_MS ? KIOSK_BACKOFF_MAX_MS : delay * 2;
			continue;
		}
		/* Logged off, disconnected, or the login failed: the connect screen again. */
		if (o->no_dialog)
			break;
		delay = 0;
		client_chan_forget_ticket(ch);
		forget_attempt(o, e, why, sizeof(why));
	}
	OPENSSL_cleanse(own, sizeof(own));
	return rc;
}

static int run(struct client_opts *o, struct window *w, struct client_chan *ch, struct client_error *e)
{
	struct tls_policy p = {.cacert = o->cacert,
			       .known_hosts = o->known_hosts,
			       .trust_on_first_use = o->trust_on_first_use,
			       .no_dialog = o->no_dialog,
			       .confirm = o->no_dialog ? NULL : ui_confirm,
			       .confirm_arg = w};
	if (o->kiosk)
		return kiosk(o, &p, w, ch, e);
	/* Interactively a failed login goes back to the connect screen with its reason; closing the window then
	 * ends vdi-client with that failure's status. */
	char why[sizeof(e->msg)] = "";
	int last = CLIENT_OK;
	for (;;) {
		if (ask(o, w, why))
			return last;
		show_connecting(o, w);
		int rc = choose_pool(o, &p, w, e);
		if (rc == 1)
			return CLIENT_OK;
		if (rc == 0)
			rc = session(o, &p, w, ch, e);
		if (o->no_dialog || ch->user_closed || !shown_on_connect_screen(rc))
			return rc;
		last = rc;
		forget_attempt(o, e, why, sizeof(why));
	}
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
	struct client_chan ch;
	client_chan_init(&ch);
	rc = w ? run(&o, w, &ch, &e) : (int)e.status;
	client_chan_destroy(&ch);
	OPENSSL_cleanse(o.password, sizeof(o.password));
	if (e.msg[0])
		fprintf(stderr, "vdi-client: %s\n", e.msg);
	window_close(w);
	return rc;
}
