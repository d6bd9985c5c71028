/* test_conn.c — client connections in display/conn.c: the hooks at start and
 * end, switching surfaces from another thread, close requests, size requests
 * remembered across switches, and surface references keeping a surface whole
 * after its creator lets go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/conn.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct hooks_seen {
	int connects, disconnects;
	struct surface *give;
	char user[32], password[32], address[64], protocol[8];
	uint32_t width, height;
};

static struct surface *on_connect(void *opaque, struct display_conn *c, const struct display_conn_info *info)
{
	(void)c;
	struct hooks_seen *h = opaque;
	h->connects++;
	snprintf(h->user, sizeof(h->user), "%s", info->user ? info->user : "");
	snprintf(h->password, sizeof(h->password), "%s", info->password ? info->password : "");
	snprintf(h->address, sizeof(h->address), "%s", info->address);
	snprintf(h->protocol, sizeof(h->protocol), "%s", info->protocol);
	h->width = info->width;
	h->height = info->height;
	return h->give;
}

static void on_disconnect(void *opaque, struct display_conn *c)
{
	(void)c;
	((struct hooks_seen *)opaque)->disconnects++;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* A surface that records the sizes it is asked for. */
struct sized {
	uint32_t width, height;
	int asks;
};
static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
	struct sized *z = opaque;
	z->width = width;
	z->height = height;
	z->asks++;
}

static void test_connect_passes_info_and_refuses(void **state)
{
	(void)state;
	struct hooks_seen seen = {0};
	struct display_hooks hooks = {.connect = on_connect, .disconnect = on_disconnect, .opaque = &seen};
	struct display_conn *c = display_conn_new(&hooks, "rdp", "192.0.2.7");
	assert_non_null(c);
	struct display_conn_info info = {.user = "alice", .password = "pw", .width = 1280, .height = 720};
	/* The broker gives no surface: refused, and no disconnect is owed. */
	assert_null(display_conn_open(c, &info));
	assert_int_equal(seen.connects, 1);
	assert_string_equal(seen.user, "alice");
	assert_string_equal(seen.password, "pw");
	assert_string_equal(seen.address, "192.0.2.7");
	assert_string_equal(seen.protocol, "rdp");
	assert_int_equal(seen.width, 1280);
	display_conn_end(c);
	assert_int_equal(seen.disconnects, 0);
}

static void test_surface_outlives_its_creator_while_shown(void **state)
{
	(void)state;
	struct hooks_seen seen = {0};
	seen.give = surface_create(64, 48);
	struct display_hooks hooks = {.connect = on_connect, .disconnect = on_disconnect, .opaque = &seen};
	struct display_conn *c = display_conn_new(&hooks, "vnc", "::1");
	struct display_conn_info info = {0};
	struct surface *s = display_conn_open(c, &info);
	assert_ptr_equal(s, seen.give);
	assert_ptr_equal(display_conn_surface(c), s);
	/* The creator lets go; the connection's reference keeps it whole. */
	surface_destroy(seen.give);
	struct surface_viewer *v = surface_viewer_add(s);
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_int_equal(u.width, 64);
	surface_viewer_remove(v);
	display_conn_end(c);
	assert_int_equal(seen.disconnects, 1);
}

struct switcher {
	struct display_conn *c;
	struct surface *to;
};
static void *switch_thread(void *arg)
{
	struct switcher *sw = arg;
	display_conn_switch(sw->c, sw->to);
	return NULL;
}

static void test_switch_from_another_thread(void **state)
{
	(void)state;
	struct hooks_seen seen = {0};
	struct sized greeter_size = {0}, desktop_size = {0};
	seen.give = surface_create(100, 100);
	struct surface_input_ops gops = {.resize = on_resize, .opaque = &greeter_size};
	surface_set_input(seen.give, &gops);
	struct display_hooks hooks = {.connect = on_connect, .disconnect = on_disconnect, .opaque = &seen};
	struct display_conn *c = display_conn_new(&hooks, "rdp", "10.0.0.1");
	struct display_conn_info info = {.width = 1024, .height = 768};
	struct surface *first = display_conn_open(c, &info);
	assert_false(readable(display_conn_event_fd(c)));
	/* The client resizes its window while on the greeter. */
	display_conn_request_size(c, 1280, 800);
	assert_int_equal(greeter_size.width, 1280);

	struct surface *desktop = surface_create(800, 600);
	struct surface_input_ops dops = {.resize = on_resize, .opaque = &desktop_size};
	surface_set_input(desktop, &dops);
	struct switcher sw = {c, desktop};
	pthread_t t;
	pthread_create(&t, NULL, switch_thread, &sw);
	pthread_join(t, NULL);
	surface_destroy(desktop); /* the broker keeps no reference of its own here */
	assert_true(readable(display_conn_event_fd(c)));
	bool close = true;
	struct surface *old = NULL;
	struct surface *now = display_conn_take(c, &close, &old);
	assert_false(close);
	assert_ptr_equal(now, desktop);
	assert_ptr_equal(old, first);
	assert_ptr_equal(display_conn_surface(c), desktop);
	/* The desktop is asked for the client's latest size. */
	assert_int_equal(desktop_size.asks, 1);
	assert_int_equal(desktop_size.width, 1280);
	assert_int_equal(desktop_size.height, 800);
	surface_destroy(old);
	assert_false(readable(display_conn_event_fd(c)));
	/* Nothing pending: no switch. */
	assert_null(display_conn_take(c, &close, &old));
	assert_false(close);
	surface_destroy(seen.give);
	display_conn_end(c);
	assert_int_equal(seen.disconnects, 1);
}

static void test_two_switches_before_take_keep_the_last(void **state)
{
	(void)state;
	struct hooks_seen seen = {0};
	seen.give = surface_create(10, 10);
	struct display_hooks hooks = {.connect = on_connect, .opaque = &seen};
	struct display_conn *c = display_conn_new(&hooks, "vnc", "x");
	struct display_conn_info info = {0};
	display_conn_open(c, &info);
	struct surface *a = surface_create(20, 20), *b = surface_create(30, 30);
	display_conn_switch(c, a);
	display_conn_switch(c, b);
	surface_destroy(a); /* freed here: no one holds it any more (ASan checks) */
	surface_destroy(b);
	bool close;
	struct surface *old;
	assert_ptr_equal(display_conn_take(c, &close, &old), b);
	surface_destroy(old);
	surface_destroy(seen.give);
	/* A switch pending at the end is dropped with the connection. */
	struct surface *d = surface_create(5, 5);
	display_conn_switch(c, d);
	surface_destroy(d);
	display_conn_end(c);
}

static void test_close_request(void **state)
{
	(void)state;
	struct hooks_seen seen = {0};
	seen.give = surface_create(10, 10);
	struct display_hooks hooks = {.connect = on_connect, .disconnect = on_disconnect, .opaque = &seen};
	struct display_conn *c = display_conn_new(&hooks, "vnc", "x");
	struct display_conn_info info = {0};
	display_conn_open(c, &info);
	display_conn_close(c);
	assert_true(readable(display_conn_event_fd(c)));
	bool close = false;
	struct surface *old;
	assert_null(display_conn_take(c, &close, &old));
	assert_true(close);
	surface_destroy(seen.give);
	display_conn_end(c);
	assert_int_equal(seen.disconnects, 1);
}

static void test_one_surface_hooks(void **state)
{
	(void)state;
	struct surface *s = surface_create(8, 8);
	struct display_hooks hooks = display_hooks_one_surface(s);
	struct display_conn *c1 = display_conn_new(&hooks, "rdp", "a"), *c2 = display_conn_new(&hooks, "vnc", "b");
	struct display_conn_info i1 = {0}, i2 = {0};
	assert_ptr_equal(display_conn_open(c1, &i1), s);
	assert_ptr_equal(display_conn_open(c2, &i2), s);
	display_conn_end(c1);
	display_conn_end(c2);
	surface_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect_passes_info_and_refuses),
	    cmocka_unit_test(test_surface_outlives_its_creator_while_shown),
	    cmocka_unit_test(test_switch_from_another_thread),
	    cmocka_unit_test(test_two_switches_before_take_keep_the_last),
	    cmocka_unit_test(test_close_request),
	    cmocka_unit_test(test_one_surface_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
