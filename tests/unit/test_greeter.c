/* test_greeter.c — the login screen in broker/greeter.c driven as a client
 * would drive it (evdev keys and pointer through its surface), checked by
 * what the screen shows, what the broker is handed and what memory keeps.
 * GREETER_PNG=path.png also writes the screens it draws for a human. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../broker/greeter.h"
#include "../../common/png.h"
#include "../../display/display.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <malloc.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_FOCUS  0x3b7be8 /* the focused field's border and the selected pool */
#define COL_BUTTON 0x2f6fde
#define COL_PANEL  0xf8f9fb

/* What the broker was handed. */
static struct {
	int submits, chooses;
	char user[512], password[512], pool[128];
} got;

static void on_submit(void *opaque, const char *user, const char *password)
{
	(void)opaque;
	got.submits++;
	snprintf(got.user, sizeof(got.user), "%s", user);
	snprintf(got.password, sizeof(got.password), "%s", password);
}

static void on_choose(void *opaque, const char *pool)
{
	(void)opaque;
	got.chooses++;
	snprintf(got.pool, sizeof(got.pool), "%s", pool);
}

static const struct greeter_ops ops = {on_submit, on_choose, NULL};

static struct greeter *make(uint32_t w, uint32_t h)
{
	memset(&got, 0, sizeof(got));
	struct greeter *g = greeter_create(w, h, &ops);
	assert_non_null(g);
	return g;
}

static const uint8_t *px(struct greeter *g)
{
	return surface_pixels(greeter_surface(g));
}

static uint32_t rgb_at(struct greeter *g, uint32_t width, uint32_t x, uint32_t y)
{
	const uint8_t *p = px(g) + ((size_t)y * width + x) * 4;
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint8_t *snapshot(struct greeter *g, uint32_t w, uint32_t h)
{
	uint8_t *copy = malloc((size_t)w * h * 4);
	assert_non_null(copy);
	memcpy(copy, px(g), (size_t)w * h * 4);
	return copy;
}

static void key(struct greeter *g, uint32_t code)
{
	surface_key(greeter_surface(g), code, true);
	surface_key(greeter_surface(g), code, false);
}

static void type(struct greeter *g, const char *text)
{
	for (; *text; text++) {
		bool shift = false;
		int code = keysym_to_evdev((unsigned char)*text, &shift);
		assert_true(code > 0);
		if (shift)
			surface_key(greeter_surface(g), KEY_LEFTSHIFT, true);
		key(g, (uint32_t)code);
		if (shift)
			surface_key(greeter_surface(g), KEY_LEFTSHIFT, false);
	}
}

static void click(struct greeter *g, int32_t x, int32_t y)
{
	surface_pointer(greeter_surface(g), x, y, 0);
	surface_pointer(greeter_surface(g), x, y, 1);
	surface_pointer(greeter_surface(g), x, y, 0);
}

struct box {
	int32_t x0, y0, x1, y1; /* inclusive; x0 > x1 when nothing matched */
};

/* Where pixels of exactly this colour are. */
static struct box find_color(struct greeter *g, uint32_t w, uint32_t h, uint32_t color)
{
	struct box b = {INT32_MAX, INT32_MAX, -1, -1};
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			if (rgb_at(g, w, x, y) != color)
				continue;
			b.x0 = (int32_t)x < b.x0 ? (int32_t)x : b.x0;
			b.y0 = (int32_t)y < b.y0 ? (int32_t)y : b.y0;
			b.x1 = (int32_t)x > b.x1 ? (int32_t)x : b.x1;
			b.y1 = (int32_t)y > b.y1 ? (int32_t)y : b.y1;
		}
	}
	return b;
}

static size_t count_red(struct greeter *g, uint32_t w, uint32_t h)
{
	size_t n = 0;
	for (size_t i = 0; i < (size_t)w * h; i++) {
		const uint8_t *p = px(g) + i * 4;
		if (p[2] > 150 && p[1] < 90 && p[0] < 90)
			n++;
	}
	return n;
}

/* GREETER_PNG=dir/name.png writes dir/name-<what>.png. */
static void dump_png(struct greeter *g, uint32_t w, uint32_t h, const char *what)
{
	const char *path = getenv("GREETER_PNG");
	if (!path || !*path)
		return;
	char name[4096];
	size_t len = strlen(path);
	if (len > 4 && !strcmp(path + len - 4, ".png"))
		len -= 4;
	snprintf(name, sizeof(name), "%.*s-%s.png", (int)len, path, what);
	FILE *f = fopen(name, "wb");
	assert_non_null(f);
	assert_int_equal(png_write_xrgb(f, px(g), w, h, w * 4), 0);
	assert_int_equal(fclose(f), 0);
}

static void test_screen(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	/* a dark calm background at the corners, a light panel in the middle */
	uint32_t corners[4][2] = {{5, 5}, {1018, 5}, {5, 762}, {1018, 762}};
	for (int i = 0; i < 4; i++) {
		uint32_t c = rgb_at(g, 1024, corners[i][0], corners[i][1]);
		assert_true(((c >> 16) & 0xff) < 0x60 && ((c >> 8) & 0xff) < 0x80 && (c & 0xff) < 0x90);
	}
	struct box panel = find_color(g, 1024, 768, COL_PANEL);
	assert_true(panel.x0 <= panel.x1);
	assert_true(abs(panel.x0 + panel.x1 - 1023) <= 2); /* centred */
	assert_true(abs(panel.y0 + panel.y1 - 767) <= 2);
	assert_true(panel.x1 - panel.x0 >= 300 && panel.x1 - panel.x0 <= 400);
	assert_true(panel.y1 - panel.y0 >= 250 && panel.y1 - panel.y0 <= 450);
	/* the user name field has focus (blue border) and a blue button below it */
	struct box field = find_color(g, 1024, 768, COL_FOCUS);
	struct box button = find_color(g, 1024, 768, COL_BUTTON);
	assert_true(field.x0 > panel.x0 && field.x1 < panel.x1 && field.y0 > panel.y0 + 60);
	assert_true(button.y0 > field.y1 + 40 && button.y1 < panel.y1);
	/* text is drawn: the title area is not all panel colour */
	size_t ink = 0;
	for (int32_t y = panel.y0; y < field.y0 - 30; y++)
		for (int32_t x = panel.x0; x <= panel.x1; x++)
			ink += rgb_at(g, 1024, (uint32_t)x, (uint32_t)y) != COL_PANEL;
	assert_true(ink > 200);
	dump_png(g, 1024, 768, "empty");
	greeter_destroy(g);
}

static void test_cursor(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	struct surface_viewer *v = surface_viewer_add(greeter_surface(g));
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.cursor_changed);
	assert_true(u.cursor_width >= 8 && u.cursor_height >= 12);
	size_t opaque = 0, white = 0;
	for (size_t i = 0; i < (size_t)u.cursor_width * u.cursor_height; i++) {
		opaque += u.cursor_argb[i * 4 + 3] == 0xff;
		white += u.cursor_argb[i * 4 + 3] == 0xff && u.cursor_argb[i * 4] == 0xff;
	}
	assert_true(opaque > 40 && white > 20);
	surface_pointer(greeter_surface(g), 100, 200, 0);
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.cursor_moved && u.cursor_visible);
	assert_int_equal(u.cursor_x, 100);
	assert_int_equal(u.cursor_y, 200);
	surface_viewer_remove(v);
	greeter_destroy(g);
}

static void test_submit(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	type(g, "alice");
	key(g, KEY_TAB);
	type(g, "s3cret");
	assert_int_equal(got.submits, 0);
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 1);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.password, "s3cret");
	/* the password field is empty again, the user name kept */
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 2);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.password, "");
	greeter_destroy(g);
}

static void test_enter_moves_focus(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	type(g, "bob");
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 0);
	type(g, "pw");
	key(g, KEY_KPENTER);
	assert_int_equal(got.submits, 1);
	assert_string_equal(got.user, "bob");
	assert_string_equal(got.password, "pw");
	/* no user name: Enter submits nothing */
	greeter_reset(g);
	key(g, KEY_TAB);
	type(g, "x");
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 1);
	greeter_destroy(g);
}

static void test_shift_caps_backspace(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	surface_key(greeter_surface(g), KEY_RIGHTSHIFT, true);
	key(g, KEY_A);
	key(g, KEY_1);
	surface_key(greeter_surface(g), KEY_RIGHTSHIFT, false);
	key(g, KEY_A);
	key(g, KEY_CAPSLOCK);
	key(g, KEY_B);
	key(g, KEY_2);
	surface_key(greeter_surface(g), KEY_LEFTSHIFT, true);
	key(g, KEY_C);
	key(g, KEY_SLASH);
	surface_key(greeter_surface(g), KEY_LEFTSHIFT, false);
	key(g, KEY_CAPSLOCK);
	key(g, KEY_D);
	key(g, KEY_X);
	key(g, KEY_BACKSPACE);
	/* ctrl+letter types nothing */
	surface_key(greeter_surface(g), KEY_LEFTCTRL, true);
	key(g, KEY_U);
	surface_key(greeter_surface(g), KEY_LEFTCTRL, false);
	key(g, KEY_ENTER);
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 1);
	assert_string_equal(got.user, "A!aB2c?d");
	greeter_destroy(g);
}

static void test_password_never_drawn(void **state)
{
	(void)state;
	struct greeter *a = make(1024, 768);
	type(a, "carol");
	key(a, KEY_TAB);
	type(a, "abc!");
	uint8_t *pa = snapshot(a, 1024, 768);
	struct greeter *b = make(1024, 768);
	type(b, "carol");
	key(b, KEY_TAB);
	type(b, "XyZ9");
	assert_memory_equal(pa, px(b), (size_t)1024 * 768 * 4);
	/* but its length shows: one more bullet changes the screen */
	type(b, "q");
	assert_memory_not_equal(pa, px(b), (size_t)1024 * 768 * 4);
	/* Escape clears it */
	key(b, KEY_ESC);
	key(b, KEY_ENTER);
	assert_string_equal(got.password, "");
	free(pa);
	greeter_destroy(a);
	greeter_destroy(b);
}

static void test_user_name_shows(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	struct box field = find_color(g, 1024, 768, COL_FOCUS);
	uint8_t *before = snapshot(g, 1024, 768);
	type(g, "d");
	size_t changed = 0, outside = 0;
	for (uint32_t y = 0; y < 768; y++) {
		for (uint32_t x = 0; x < 1024; x++) {
			size_t i = ((size_t)y * 1024 + x) * 4;
			if (!memcmp(before + i, px(g) + i, 3))
				continue;
			changed++;
			outside += (int32_t)x < field.x0 || (int32_t)x > field.x1 || (int32_t)y < field.y0 ||
				   (int32_t)y > field.y1;
		}
	}
	assert_true(changed > 20); /* a glyph's worth of ink */
	assert_int_equal(outside, 0);
	/* different names look different */
	uint8_t *d = snapshot(g, 1024, 768);
	key(g, KEY_BACKSPACE);
	type(g, "e");
	assert_memory_not_equal(d, px(g), (size_t)1024 * 768 * 4);
	free(d);
	free(before);
	greeter_destroy(g);
}

static void test_click_focus_and_button(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	struct box user = find_color(g, 1024, 768, COL_FOCUS);
	key(g, KEY_TAB);
	struct box pass = find_color(g, 1024, 768, COL_FOCUS);
	assert_true(pass.y0 > user.y1);
	/* shift+Tab goes back to the user field */
	surface_key(greeter_surface(g), KEY_LEFTSHIFT, true);
	key(g, KEY_TAB);
	surface_key(greeter_surface(g), KEY_LEFTSHIFT, false);
	struct box again = find_color(g, 1024, 768, COL_FOCUS);
	assert_int_equal(again.y0, user.y0);
	type(g, "dave");
	click(g, (pass.x0 + pass.x1) / 2, (pass.y0 + pass.y1) / 2);
	type(g, "hunter2");
	struct box button = find_color(g, 1024, 768, COL_BUTTON);
	click(g, (button.x0 + button.x1) / 2, (button.y0 + button.y1) / 2);
	assert_int_equal(got.submits, 1);
	assert_string_equal(got.user, "dave");
	assert_string_equal(got.password, "hunter2");
	/* a press on the button released elsewhere is no click */
	surface_pointer(greeter_surface(g), (button.x0 + button.x1) / 2, (button.y0 + button.y1) / 2, 1);
	surface_pointer(greeter_surface(g), 5, 5, 0);
	assert_int_equal(got.submits, 1);
	greeter_destroy(g);
}

static void test_message(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	assert_int_equal(count_red(g, 1024, 768), 0);
	uint8_t *before = snapshot(g, 1024, 768);
	greeter_message(g, GREETER_INFO, "starting your desktop...");
	assert_memory_not_equal(before, px(g), (size_t)1024 * 768 * 4);
	assert_int_equal(count_red(g, 1024, 768), 0);
	greeter_message(g, GREETER_ERROR, "wrong user name or password");
	assert_true(count_red(g, 1024, 768) > 50);
	type(g, "erin");
	dump_png(g, 1024, 768, "error");
	/* a message too long for the line is cut, not spilled out of the panel */
	greeter_message(g, GREETER_ERROR,
			"no desktop available in pool a-very-long-pool-name-that-goes-on-and-on-and-on-forever");
	struct box red = find_color(g, 1024, 768, 0xc62828);
	struct box panel = find_color(g, 1024, 768, COL_PANEL);
	assert_true(red.x0 > panel.x0 && red.x1 < panel.x1);
	greeter_message(g, GREETER_ERROR, NULL);
	assert_int_equal(count_red(g, 1024, 768), 0);
	free(before);
	greeter_destroy(g);
}

static void test_choose_pool(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	const char *const names[] = {"a", "b", "c"};
	assert_int_equal(greeter_choose_pool(g, names, 0), -EINVAL);
	assert_int_equal(greeter_choose_pool(g, names, 3), 0);
	dump_png(g, 1024, 768, "pools");
	key(g, KEY_DOWN);
	key(g, KEY_DOWN);
	key(g, KEY_DOWN); /* stays on the last */
	key(g, KEY_ENTER);
	assert_int_equal(got.chooses, 1);
	assert_string_equal(got.pool, "c");
	/* a click on the second row selects it; Enter confirms */
	key(g, KEY_HOME);
	struct box first = find_color(g, 1024, 768, COL_FOCUS);
	assert_true(first.x0 <= first.x1);
	int32_t pitch = first.y1 - first.y0 + 1 + 6; /* the highlight is inset 3 pixels in its row */
	click(g, (first.x0 + first.x1) / 2, first.y0 + pitch + (first.y1 - first.y0) / 2);
	struct box second = find_color(g, 1024, 768, COL_FOCUS);
	assert_int_equal(second.y0, first.y0 + pitch);
	assert_int_equal(got.chooses, 1);
	key(g, KEY_ENTER);
	assert_int_equal(got.chooses, 2);
	assert_string_equal(got.pool, "b");
	/* the Connect button confirms too */
	struct box button = find_color(g, 1024, 768, COL_BUTTON);
	click(g, (button.x0 + button.x1) / 2, (button.y0 + button.y1) / 2);
	assert_int_equal(got.chooses, 3);
	assert_string_equal(got.pool, "b");
	/* many long names: the list scrolls and stays in the panel */
	const char *many[40];
	char buf[40][80];
	for (int i = 0; i < 40; i++) {
		snprintf(buf[i], sizeof(buf[i]), "pool-%02d-with-a-name-longer-than-the-list-is-wide-%s", i,
			 "xxxxxxxxxxxxxxxxxxxxxxxx");
		many[i] = buf[i];
	}
	assert_int_equal(greeter_choose_pool(g, many, 40), 0);
	for (int i = 0; i < 50; i++)
		key(g, KEY_DOWN);
	key(g, KEY_ENTER);
	/* the last one kept, cut to GREETER_POOL_NAME_MAX bytes */
	assert_int_equal(strlen(got.pool), GREETER_POOL_NAME_MAX);
	assert_memory_equal(got.pool, buf[GREETER_POOLS_MAX - 1], GREETER_POOL_NAME_MAX);
	greeter_destroy(g);
}

static void test_busy(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	type(g, "frank");
	greeter_busy(g, true);
	uint8_t *busy = snapshot(g, 1024, 768);
	type(g, "zz");
	key(g, KEY_ENTER);
	key(g, KEY_TAB);
	struct box button = find_color(g, 1024, 768, 0x7f9fd6);
	assert_true(button.x0 <= button.x1);
	click(g, (button.x0 + button.x1) / 2, (button.y0 + button.y1) / 2);
	assert_memory_equal(busy, px(g), (size_t)1024 * 768 * 4);
	assert_int_equal(got.submits, 0);
	/* progress shows */
	greeter_tick(g);
	assert_memory_not_equal(busy, px(g), (size_t)1024 * 768 * 4);
	dump_png(g, 1024, 768, "busy");
	greeter_busy(g, false);
	key(g, KEY_ENTER);
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 1);
	assert_string_equal(got.user, "frank");
	free(busy);
	greeter_destroy(g);
}

static void test_resize(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	struct surface_viewer *v = surface_viewer_add(greeter_surface(g));
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	surface_request_size(greeter_surface(g), 800, 600);
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.resized);
	assert_int_equal(u.width, 800);
	assert_int_equal(u.height, 600);
	struct box panel = find_color(g, 800, 600, COL_PANEL);
	assert_true(abs(panel.x0 + panel.x1 - 799) <= 2);
	assert_true(abs(panel.y0 + panel.y1 - 599) <= 2);
	/* the viewer's frame is what was drawn */
	assert_memory_equal(u.pixels, px(g), (size_t)800 * 600 * 4);
	/* too small a request is clamped; the panel still fits */
	surface_request_size(greeter_surface(g), 100, 50);
	assert_true(surface_viewer_take(v, &u));
	assert_int_equal(u.width, 320);
	assert_int_equal(u.height, 320);
	panel = find_color(g, 320, 320, COL_PANEL);
	struct box button = find_color(g, 320, 320, COL_BUTTON);
	assert_true(panel.y0 > 0 && panel.y1 < 319 && button.y1 < panel.y1);
	dump_png(g, 320, 320, "small");
	const char *const names[] = {"one", "two", "three", "four", "five", "six", "seven"};
	assert_int_equal(greeter_choose_pool(g, names, 7), 0);
	panel = find_color(g, 320, 320, COL_PANEL);
	button = find_color(g, 320, 320, COL_BUTTON);
	assert_true(panel.y0 > 0 && panel.y1 < 319 && button.y0 > 0 && button.y1 < panel.y1);
	dump_png(g, 320, 320, "small-pools");
	/* too wide a one too */
	surface_request_size(greeter_surface(g), 100000, 100);
	assert_true(surface_viewer_take(v, &u));
	assert_int_equal(u.width, GREETER_SIDE_MAX);
	assert_int_equal(u.height, GREETER_SIDE_MIN);
	surface_viewer_remove(v);
	greeter_destroy(g);
}

static void test_damage_small(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	struct surface_viewer *v = surface_viewer_add(greeter_surface(g));
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	type(g, "g");
	assert_true(surface_viewer_take(v, &u));
	assert_false(u.resized);
	assert_true(u.nrects >= 1);
	uint64_t area = 0;
	for (uint32_t i = 0; i < u.nrects; i++)
		area += (uint64_t)u.rects[i].width * u.rects[i].height;
	assert_true(area < (uint64_t)1024 * 768 / 40);
	/* and what it covers is what changed: the viewer's frame equals the screen */
	assert_memory_equal(u.pixels, px(g), (size_t)1024 * 768 * 4);
	greeter_tick(g); /* not busy: nothing to advance */
	assert_false(surface_viewer_take(v, &u));
	surface_viewer_remove(v);
	greeter_destroy(g);
}

static void test_overlong(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	char user[101], pass[301];
	memset(user, 'u', 100);
	user[100] = 0;
	memset(pass, 'p', 300);
	pass[300] = 0;
	type(g, user);
	key(g, KEY_TAB);
	type(g, pass);
	dump_png(g, 1024, 768, "long");
	key(g, KEY_ENTER);
	assert_int_equal(got.submits, 1);
	assert_int_equal(strlen(got.user), GREETER_USER_MAX);
	assert_int_equal(strlen(got.password), GREETER_PASSWORD_MAX);
	greeter_destroy(g);
}

static bool holds(const void *mem, size_t n, const char *secret)
{
	return memmem(mem, n, secret, strlen(secret)) != NULL;
}

static void test_wipes(void **state)
{
	(void)state;
	const char *secret = "Tr0ub4dor&3";
	struct greeter *g = make(1024, 768);
	size_t n = malloc_usable_size(g);
	type(g, "mallory");
	key(g, KEY_TAB);
	type(g, secret);
	assert_true(holds(g, n, secret)); /* the test can see it where it lives */
	key(g, KEY_ENTER);
	assert_string_equal(got.password, secret);
	assert_false(holds(g, n, secret)); /* gone after submit */
	type(g, secret);
	assert_true(holds(g, n, secret));
	greeter_destroy(g);
	/* The freed block sits in ASan's quarantine untouched but for its
	 * first bytes; look at it once, on purpose, then hide it again. */
	__asan_unpoison_memory_region(g, n);
	bool left = holds(g, n, secret);
	__asan_poison_memory_region(g, n);
	assert_false(left);
}

static void test_reset(void **state)
{
	(void)state;
	struct greeter *g = make(1024, 768);
	uint8_t *fresh = snapshot(g, 1024, 768);
	type(g, "oscar");
	key(g, KEY_TAB);
	type(g, "pw");
	greeter_message(g, GREETER_ERROR, "locked out, try again in 42 s");
	const char *const names[] = {"x", "y"};
	assert_int_equal(greeter_choose_pool(g, names, 2), 0);
	greeter_busy(g, true);
	greeter_reset(g);
	assert_memory_equal(fresh, px(g), (size_t)1024 * 768 * 4);
	free(fresh);
	greeter_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_screen),
	    cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_submit),
	    cmocka_unit_test(test_enter_moves_focus),
	    cmocka_unit_test(test_shift_caps_backspace),
	    cmocka_unit_test(test_password_never_drawn),
	    cmocka_unit_test(test_user_name_shows),
	    cmocka_unit_test(test_click_focus_and_button),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_choose_pool),
	    cmocka_unit_test(test_busy),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_damage_small),
	    cmocka_unit_test(test_overlong),
	    cmocka_unit_test(test_wipes),
	    cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
