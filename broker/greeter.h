/* greeter.h — the login screen one client connection sees before it logs in
 * (private to broker/): rendered server-side into a display surface, it
 * takes keyboard and pointer input from the connection's viewer thread and
 * hands the broker the typed credentials and, when the user may use several
 * pools, the chosen pool. One greeter per connection; every function may be
 * called from any thread, none of them during or after greeter_destroy(). */
#ifndef VDI_BROKER_GREETER_H
#define VDI_BROKER_GREETER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GREETER_USER_MAX      64  /* bytes of user name kept; more input is ignored */
#define GREETER_PASSWORD_MAX  256 /* bytes of password kept; more input is ignored */
#define GREETER_POOLS_MAX     32  /* pools listed at most */
#define GREETER_POOL_NAME_MAX 64  /* bytes of a pool's name shown */
#define GREETER_MESSAGE_MAX   200 /* bytes of a message kept */
#define GREETER_SIDE_MIN      320
#define GREETER_SIDE_MAX      8192

struct surface;
struct greeter;

/* Called from the input thread with no greeter lock held, so they may call
 * back into the greeter (greeter_busy(), greeter_message(), ...) but not
 * greeter_destroy(). The strings are valid only during the call: the
 * password is wiped when submit returns. */
struct greeter_ops {
	/* Enter in the password field, or "Log in" clicked, with a user name. */
	void (*submit)(void *opaque, const char *user, const char *password);
	/* A pool picked from greeter_choose_pool()'s list. */
	void (*choose)(void *opaque, const char *pool_name);
	void *opaque;
};

enum greeter_message_kind { GREETER_INFO, GREETER_ERROR };

/* A greeter of width x height (each side clamped to GREETER_SIDE_MIN ..
 * GREETER_SIDE_MAX) showing empty fields with the user name focused.
 * Clients' resize requests re-render it at their size (clamped the same
 * way). NULL (logged) when out of memory. */
struct greeter *greeter_create(uint32_t width, uint32_t height, const struct greeter_ops *ops);
/* The surface to show; the greeter keeps its own reference until destroyed
 * (take one with surface_ref() to keep the surface longer). */
struct surface *greeter_surface(struct greeter *g);
/* The line under the button; errors in red. NULL or "" clears it. At most
 * GREETER_MESSAGE_MAX bytes are kept; the line ends in "..." when it does
 * not fit. */
void greeter_message(struct greeter *g, enum greeter_message_kind kind, const char *text);
/* Busy: fields and button disabled, input ignored, and dots on the button
 * that advance on each greeter_tick() so the user sees progress. */
void greeter_busy(struct greeter *g, bool busy);
void greeter_tick(struct greeter *g);
/* After a login the user may use several pools: lists names (the first
 * GREETER_POOLS_MAX; each cut to GREETER_POOL_NAME_MAX bytes) to pick from
 * with Up/Down or a click, confirmed with Enter or "Connect". Clears busy.
 * -EINVAL when n is 0, -ENOMEM. */
int greeter_choose_pool(struct greeter *g, const char *const *names, size_t n);
/* Back to empty login fields, no message, not busy (e.g. after logoff). */
void greeter_reset(struct greeter *g);
/* Stops input first (waiting for a call in progress), wipes the fields and
 * drops the greeter's surface reference. Not from inside an ops callback. */
void greeter_destroy(struct greeter *g);

#endif
