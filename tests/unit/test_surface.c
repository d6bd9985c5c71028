/* test_surface.c — surfaces and viewers in display/surface.c (damage per
 * viewer, bounded merging, the private frame copy, resize, cursor, wake fd,
 * input) and display/surface_vmm.c against a scripted VMM on a real socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/ipc.h"
#include "../../display/display.h"
#include "../../hypervisor/vmm_control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void fill(struct surface *s, uint32_t width, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint8_t value)
{
	uint8_t *px = surface_pixels(s);
	for (uint32_t row = y; row < y + h; row++)
		memset(px + ((size_t)row * width + x) * 4, value, (size_t)w * 4);
}

/* Takes and discards the initial whole frame a new viewer gets. */
static void take_initial(struct surface_viewer *v)
{
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.resized);
}

static bool covered(const struct surface_update *u, uint32_t x, uint32_t y)
{
	for (uint32_t i = 0; i < u->nrects; i++) {
		const struct surface_rect *r = &u->rects[i];
		if (x >= r->x && x < r->x + r->width && y >= r->y && y < r->y + r->height)
			return true;
	}
	return false;
}

static void test_new_viewer_gets_whole_frame(void **state)
{
	(void)state;
	struct surface *s = surface_create(64, 32);
	assert_non_null(s);
	fill(s, 64, 0, 0, 64, 32, 0x5a);
	struct surface_viewer *v = surface_viewer_add(s);
	assert_non_null(v);
	assert_true(readable(surface_viewer_wake_fd(v)));
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_false(readable(surface_viewer_wake_fd(v)));
	assert_true(u.resized);
	assert_int_equal(u.width, 64);
	assert_int_equal(u.height, 32);
	assert_int_equal(u.stride, 64 * 4);
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.rects[0].width, 64);
	assert_int_equal(u.rects[0].height, 32);
	assert_int_equal(u.pixels[0], 0x5a);
	assert_int_equal(u.pixels[64 * 32 * 4 - 1], 0x5a);
	assert_false(surface_viewer_take(v, &u));
	assert_int_equal(u.nrects, 0);
	surface_viewer_remove(v);
	surface_destroy(s);
}

static void test_damage_per_viewer(void **state)
{
	(void)state;
	struct surface *s = surface_create(100, 100);
	struct surface_viewer *a = surface_viewer_add(s), *b = surface_viewer_add(s);
	take_initial(a);
	take_initial(b);
	surface_damage(s, 10, 10, 5, 5);
	assert_true(readable(surface_viewer_wake_fd(a)));
	assert_true(readable(surface_viewer_wake_fd(b)));
	struct surface_update u;
	assert_true(surface_viewer_take(a, &u));
	assert_false(u.resized);
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.rects[0].x, 10);
	assert_int_equal(u.rects[0].width, 5);
	uint64_t frame = u.frame;
	/* b has not taken yet: it gets both changes, a only the new one */
	surface_damage(s, 50, 60, 7, 8);
	assert_true(surface_viewer_take(a, &u));
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.rects[0].x, 50);
	assert_int_equal(u.rects[0].y, 60);
	assert_true(u.frame > frame);
	assert_true(surface_viewer_take(b, &u));
	assert_int_equal(u.nrects, 2);
	assert_true(covered(&u, 10, 10));
	assert_true(covered(&u, 56, 67));
	assert_false(surface_viewer_take(b, &u));
	surface_viewer_remove(a);
	surface_viewer_remove(b);
	surface_destroy(s);
}

static void test_damage_clipped_and_contained(void **state)
{
	(void)state;
	struct surface *s = surface_create(100, 50);
	struct surface_viewer *v = surface_viewer_add(s);
	take_initial(v);
	surface_damage(s, 90, 40, 1000, UINT32_MAX);
	surface_damage(s, 200, 10, 5, 5); /* outside: nothing */
	surface_damage(s, 0, 0, 0, 5);    /* empty: nothing */
	surface_damage(s, 92, 42, 2, 2);  /* inside the first */
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.rects[0].x, 90);
	assert_int_equal(u.rects[0].y, 40);
	assert_int_equal(u.rects[0].width, 10);
	assert_int_equal(u.rects[0].height, 10);
	surface_viewer_remove(v);
	surface_destroy(s);
}

/* A viewer that never takes holds at most SURFACE_MAX_RECTS rectangles,
 * and they still cover every damaged pixel. */
static void test_slow_viewer_bounded(void **state)
{
	(void)state;
	struct surface *s = surface_create(640, 480);
	struct surface_viewer *slow = surface_viewer_add(s), *fast = surface_viewer_add(s);
	take_initial(slow);
	take_initial(fast);
	struct surface_rect done[200];
	for (uint32_t i = 0; i < 200; i++) {
		done[i] = (struct surface_rect){(i * 37) % 600, (i * 53) % 440, 1 + i % 30, 1 + i % 20};
		surface_damage(s, done[i].x, done[i].y, done[i].width, done[i].height);
		struct surface_update u;
		assert_true(surface_viewer_take(fast, &u));
		assert_int_equal(u.nrects, 1);
	}
	struct surface_update u;
	assert_true(surface_viewer_take(slow, &u));
	assert_true(u.nrects <= SURFACE_MAX_RECTS);
	assert_true(u.nrects > 1);
	for (uint32_t i = 0; i < 200; i++) {
		assert_true(covered(&u, done[i].x, done[i].y));
		assert_true(covered(&u, done[i].x + done[i].width - 1, done[i].y + done[i].height - 1));
	}
	for (uint32_t i = 0; i < u.nrects; i++) {
		assert_true(u.rects[i].x + u.rects[i].width <= 640);
		assert_true(u.rects[i].y + u.rects[i].height <= 480);
	}
	surface_viewer_remove(slow);
	surface_viewer_remove(fast);
	surface_destroy(s);
}

/* The viewer's frame is its own: writes after a take show up only with the
 * next take, and only where damage says. */
static void test_take_copies(void **state)
{
	(void)state;
	struct surface *s = surface_create(16, 16);
	struct surface_viewer *v = surface_viewer_add(s);
	fill(s, 16, 0, 0, 16, 16, 0x11);
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	const uint8_t *frame = u.pixels;
	fill(s, 16, 0, 0, 16, 16, 0x22);
	assert_int_equal(frame[0], 0x11);
	assert_int_equal(frame[(5 * 16 + 5) * 4], 0x11);
	surface_damage(s, 4, 4, 2, 2);
	assert_true(surface_viewer_take(v, &u));
	assert_int_equal(u.pixels[(5 * 16 + 5) * 4], 0x22);
	assert_int_equal(u.pixels[(4 * 16 + 4) * 4 + 3], 0x22);
	assert_int_equal(u.pixels[0], 0x11); /* not damaged: not copied */
	assert_int_equal(u.pixels[(6 * 16 + 6) * 4], 0x11);
	surface_viewer_remove(v);
	surface_destroy(s);
}

static void test_resize(void **state)
{
	(void)state;
	struct surface *s = surface_create(16, 16);
	struct surface_viewer *v = surface_viewer_add(s);
	take_initial(v);
	surface_damage(s, 0, 0, 4, 4);
	assert_int_equal(surface_resize(s, 0, 10), -EINVAL);
	assert_int_equal(surface_resize(s, 40, 30), 0);
	fill(s, 40, 0, 0, 40, 30, 0x77);
	assert_true(readable(surface_viewer_wake_fd(v)));
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.resized);
	assert_int_equal(u.width, 40);
	assert_int_equal(u.height, 30);
	assert_int_equal(u.stride, 160);
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.rects[0].width, 40);
	assert_int_equal(u.rects[0].height, 30);
	assert_int_equal(u.pixels[40 * 30 * 4 - 1], 0x77);
	surface_damage(s, 30, 20, 100, 100);
	assert_true(surface_viewer_take(v, &u));
	assert_false(u.resized);
	assert_int_equal(u.rects[0].width, 10);
	assert_int_equal(u.rects[0].height, 10);
	surface_viewer_remove(v);
	surface_destroy(s);
}

static void test_cursor(void **state)
{
	(void)state;
	struct surface *s = surface_create(100, 100);
	uint8_t img[SURFACE_CURSOR_MAX * SURFACE_CURSOR_MAX * 4];
	memset(img, 0xc3, sizeof(img));
	surface_set_cursor(s, img, 8, 4, 1, 2);
	surface_move_cursor(s, 30, 40, true);
	/* a viewer that comes later still gets the cursor */
	struct surface_viewer *v = surface_viewer_add(s);
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.cursor_changed);
	assert_int_equal(u.cursor_width, 8);
	assert_int_equal(u.cursor_height, 4);
	assert_int_equal(u.cursor_hot_x, 1);
	assert_int_equal(u.cursor_hot_y, 2);
	assert_int_equal(u.cursor_argb[8 * 4 * 4 - 1], 0xc3);
	assert_true(u.cursor_moved);
	assert_int_equal(u.cursor_x, 30);
	assert_int_equal(u.cursor_y, 40);
	assert_true(u.cursor_visible);

	surface_move_cursor(s, 5, 6, false);
	assert_true(readable(surface_viewer_wake_fd(v)));
	assert_true(surface_viewer_take(v, &u));
	assert_false(u.cursor_changed);
	assert_true(u.cursor_moved);
	assert_int_equal(u.cursor_x, 5);
	assert_false(u.cursor_visible);
	assert_int_equal(u.nrects, 0);

	/* too large: the top-left SURFACE_CURSOR_MAX square, hotspot kept inside */
	uint8_t *big = malloc(100 * 100 * 4);
	memset(big, 0x01, 100 * 100 * 4);
	memset(big + 63 * 100 * 4, 0x99, 64 * 4);
	surface_set_cursor(s, big, 100, 100, 90, 10);
	free(big);
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.cursor_changed);
	assert_false(u.cursor_moved);
	assert_int_equal(u.cursor_width, SURFACE_CURSOR_MAX);
	assert_int_equal(u.cursor_height, SURFACE_CURSOR_MAX);
	assert_int_equal(u.cursor_hot_x, SURFACE_CURSOR_MAX - 1);
	assert_int_equal(u.cursor_hot_y, 10);
	assert_int_equal(u.cursor_argb[0], 0x01);
	assert_int_equal(u.cursor_argb[63 * 64 * 4], 0x99);
	surface_viewer_remove(v);
	surface_destroy(s);
}

struct input_log {
	int keys, pointers, wheels, resizes;
	uint32_t code;
	bool down;
	int32_t x, y, dy, dx;
	uint32_t buttons, width, height;
};

static void log_key(void *opaque, uint32_t code, bool down)
{
	struct input_log *l = opaque;
	l->keys++;
	l->code = code;
	l->down = down;
}

static void log_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
	struct input_log *l = opaque;
	l->pointers++;
	l->x = x;
	l->y = y;
	l->buttons = buttons;
}

static void log_wheel(void *opaque, int32_t dy, int32_t dx)
{
	struct input_log *l = opaque;
	l->wheels++;
	l->dy = dy;
	l->dx = dx;
}

static void log_resize(void *opaque, uint32_t width, uint32_t height)
{
	struct input_log *l = opaque;
	l->resizes++;
	l->width = width;
	l->height = height;
}

static void test_input(void **state)
{
	(void)state;
	struct surface *s = surface_create(10, 10);
	struct input_log l = {0};
	surface_key(s, 30, true); /* no sink yet: dropped */
	struct surface_input_ops ops = {log_key, log_pointer, log_wheel, log_resize, &l};
	surface_set_input(s, &ops);
	surface_key(s, 30, true);
	surface_pointer(s, 3, 4, 5);
	surface_wheel(s, -1, 2);
	surface_request_size(s, 800, 600);
	assert_int_equal(l.keys, 1);
	assert_int_equal(l.code, 30);
	assert_true(l.down);
	assert_int_equal(l.pointers, 1);
	assert_int_equal(l.x, 3);
	assert_int_equal(l.y, 4);
	assert_int_equal(l.buttons, 5);
	assert_int_equal(l.wheels, 1);
	assert_int_equal(l.dy, -1);
	assert_int_equal(l.dx, 2);
	assert_int_equal(l.resizes, 1);
	assert_int_equal(l.width, 800);
	assert_int_equal(l.height, 600);
	/* a sink without every callback */
	struct surface_input_ops keys_only = {.key = log_key, .opaque = &l};
	surface_set_input(s, &keys_only);
	surface_pointer(s, 1, 1, 0);
	surface_key(s, 31, false);
	assert_int_equal(l.pointers, 1);
	assert_int_equal(l.keys, 2);
	surface_set_input(s, NULL);
	surface_key(s, 32, true);
	surface_request_size(s, 1, 1);
	assert_int_equal(l.keys, 2);
	assert_int_equal(l.resizes, 1);
	surface_destroy(s);
}

/* A shared picture: viewers show it without a copy; the owner's first write
 * copies it for the surface alone, and a viewer then gets a frame of its own
 * with the picture outside the damage; the picture itself never changes. */
static void test_shared_picture(void **state)
{
	(void)state;
	struct surface_picture *p = surface_picture_new(64, 32);
	assert_non_null(p);
	memset(surface_picture_pixels(p), 0x11, 64 * 32 * 4);
	struct surface *a = surface_create_shared(p), *b = surface_create_shared(p);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(surface_picture_refs(p), 3);
	struct surface_viewer *va = surface_viewer_add(a), *vb = surface_viewer_add(b);
	struct surface_update u;
	assert_true(surface_viewer_take(va, &u));
	assert_ptr_equal(u.picture, p);
	assert_ptr_equal(u.pixels, surface_picture_pixels(p));
	assert_int_equal(u.width, 64);
	assert_int_equal(u.height, 32);
	assert_true(surface_viewer_take(vb, &u));
	assert_ptr_equal(u.pixels, surface_picture_pixels(p));
	/* a's owner writes: a copy of a's own, b and the picture untouched */
	uint8_t *px = surface_pixels(a);
	assert_non_null(px);
	assert_ptr_not_equal(px, surface_picture_pixels(p));
	assert_int_equal(px[100], 0x11);
	memset(px, 0x22, 4 * 4);
	surface_damage(a, 0, 0, 4, 1);
	assert_int_equal(surface_picture_pixels(p)[0], 0x11);
	assert_true(surface_viewer_take(va, &u));
	assert_null(u.picture);
	assert_false(u.resized);
	assert_int_equal(u.nrects, 1);
	assert_int_equal(u.pixels[0], 0x22);
	assert_int_equal(u.pixels[64 * 32 * 4 - 1], 0x11);
	assert_false(surface_viewer_take(vb, &u));
	assert_ptr_equal(u.pixels, surface_picture_pixels(p));
	/* back to a picture of another size */
	struct surface_picture *q = surface_picture_new(32, 16);
	assert_int_equal(surface_set_picture(a, q), 0);
	assert_true(surface_viewer_take(va, &u));
	assert_true(u.resized);
	assert_ptr_equal(u.picture, q);
	assert_int_equal(u.width, 32);
	surface_picture_unref(q);
	surface_viewer_remove(va);
	surface_viewer_remove(vb);
	surface_destroy(a);
	surface_destroy(b);
	assert_int_equal(surface_picture_refs(p), 1);
	surface_picture_unref(p);
}

static void test_create_limits(void **state)
{
	(void)state;
	assert_null(surface_create(0, 10));
	assert_null(surface_create(10, 0));
	assert_null(surface_create(UINT32_MAX, UINT32_MAX));
}

/* A scripted vdi-vmm: a listening socket whose first connection subscribes
 * to the screen, the second sends input. */
struct fake_vmm {
	char path[64];
	int listen_fd, screen, input;
	int memfd;
	uint8_t *pixels;
};

static void fake_send(int sock, uint16_t type, uint32_t id, int32_t result, const void *payload, uint32_t length,
		      int fd)
{
	uint8_t buf[VMM_MSG_MAX];
	struct vmm_msg h = {
	    .version = VMM_PROTOCOL_VERSION, .type = type, .id = id, .result = result, .length = length};
	memcpy(buf, &h, sizeof(h));
	if (length)
		memcpy(buf + sizeof(h), payload, length);
	assert_int_equal(ipc_send(sock, buf, sizeof(h) + length, fd >= 0 ? &fd : NULL, fd >= 0), 0);
}

static ssize_t fake_recv(int sock, struct vmm_msg *h, void *payload, size_t cap)
{
	uint8_t buf[VMM_MSG_MAX];
	ssize_t n = ipc_recv(sock, buf, sizeof(buf), NULL, NULL);
	assert_true(n >= (ssize_t)sizeof(*h));
	memcpy(h, buf, sizeof(*h));
	assert_int_equal(h->length, (size_t)n - sizeof(*h));
	assert_true(h->length <= cap);
	memcpy(payload, buf + sizeof(*h), h->length);
	return (ssize_t)h->length;
}

static int fake_memfd(uint32_t width, uint32_t height, uint8_t value, uint8_t **map)
{
	int fd = memfd_create("fake-scanout", MFD_CLOEXEC);
	assert_true(fd >= 0);
	size_t len = (size_t)width * 4 * height;
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(*map != MAP_FAILED);
	memset(*map, value, len);
	return fd;
}

/* ipc_listen() sockets do not block: wait for the connection first. */
static int fake_accept_one(int listen_fd)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	int fd = accept(listen_fd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void *fake_accept(void *opaque)
{
	struct fake_vmm *f = opaque;
	f->screen = fake_accept_one(f->listen_fd);
	f->input = fake_accept_one(f->listen_fd);
	struct vmm_msg h;
	uint8_t payload[64];
	fake_recv(f->screen, &h, payload, sizeof(payload));
	assert_int_equal(h.type, VMM_REQ_DISPLAY_SUBSCRIBE);
	f->memfd = fake_memfd(32, 16, 0x42, &f->pixels);
	struct vmm_surface vs = {32, 16, 32 * 4, VMM_FORMAT_XRGB8888, 1};
	fake_send(f->screen, VMM_REPLY, h.id, 0, &vs, sizeof(vs), f->memfd);
	return NULL;
}

/* The VMM's side of the input connection: records each request and
 * answers it, the first with -ENOBUFS (a guest not taking input). */
struct fake_input {
	int sock;
	int count;
	struct vmm_msg req[8];
	uint8_t payload[8][64];
};

static void *fake_answer_input(void *opaque)
{
	struct fake_input *fi = opaque;
	uint8_t buf[VMM_MSG_MAX];
	ssize_t n;
	while (fi->count < 8 &&
	       (n = ipc_recv(fi->sock, buf, sizeof(buf), NULL, NULL)) >= (ssize_t)sizeof(struct vmm_msg)) {
		struct vmm_msg *h = &fi->req[fi->count];
		memcpy(h, buf, sizeof(*h));
		memcpy(fi->payload[fi->count], buf + sizeof(*h),
		       h->length < sizeof(fi->payload[0]) ? h->length : sizeof(fi->payload[0]));
		fake_send(fi->sock, VMM_REPLY, h->id, fi->count ? 0 : -ENOBUFS, NULL, 0, -1);
		fi->count++;
	}
	return NULL;
}

static struct surface_viewer *wait_viewer(struct surface_viewer *v, struct surface_update *u)
{
	struct pollfd p = {.fd = surface_viewer_wake_fd(v), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(surface_viewer_take(v, u));
	return v;
}

static void test_attach_vmm(void **state)
{
	(void)state;
	struct fake_vmm f = {0};
	snprintf(f.path, sizeof(f.path), "/tmp/test_surface.%d.sock", (int)getpid());
	f.listen_fd = ipc_listen(f.path);
	assert_true(f.listen_fd >= 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fake_accept, &f), 0);
	struct surface *s = surface_attach_vmm(f.path);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(s);
	assert_null(surface_pixels(s)); /* read-only: nobody writes it here */
	assert_int_equal(surface_resize(s, 10, 10), -EPERM);

	struct surface_viewer *v = surface_viewer_add(s);
	struct surface_update u;
	assert_true(surface_viewer_take(v, &u));
	assert_true(u.resized);
	assert_int_equal(u.width, 32);
	assert_int_equal(u.height, 16);
	assert_int_equal(u.pixels[32 * 16 * 4 - 1], 0x42);

	/* damage on the current surface; damage for an old serial is ignored */
	f.pixels[(2 * 32 + 3) * 4] = 0x99;
	struct {
		struct vmm_damage d;
		struct vmm_rect r[2];
	} dmg = {{.serial = 0, .count = 1}, {{0, 0, 32, 16}}};
	fake_send(f.screen, VMM_EVENT_DAMAGE, 0, 0, &dmg, sizeof(dmg.d) + sizeof(struct vmm_rect), -1);
	dmg.d.serial = 1;
	dmg.d.count = 2;
	dmg.r[0] = (struct vmm_rect){3, 2, 1, 1};
	dmg.r[1] = (struct vmm_rect){30, 15, 50, 50};
	fake_send(f.screen, VMM_EVENT_DAMAGE, 0, 0, &dmg, sizeof(dmg), -1);
	struct {
		struct vmm_cursor_pos p;
	} pos = {{7, 8, 1, 0}};
	fake_send(f.screen, VMM_EVENT_CURSOR_MOVE, 0, 0, &pos, sizeof(pos), -1);
	/* the move comes last: once it is seen, the damage was handled */
	for (;;) {
		wait_viewer(v, &u);
		if (u.cursor_moved)
			break;
	}
	assert_int_equal(u.cursor_x, 7);
	assert_true(u.cursor_visible);
	assert_int_equal(u.pixels[(2 * 32 + 3) * 4], 0x99);

	struct {
		struct vmm_cursor_image ci;
		uint8_t px[4 * 4 * 4];
	} cur = {{4, 4, 1, 1}, {0}};
	memset(cur.px, 0xee, sizeof(cur.px));
	fake_send(f.screen, VMM_EVENT_CURSOR_IMAGE, 0, 0, &cur, sizeof(cur), -1);
	do
		wait_viewer(v, &u);
	while (!u.cursor_changed);
	assert_int_equal(u.cursor_width, 4);
	assert_int_equal(u.cursor_argb[4 * 4 * 4 - 1], 0xee);

	/* a new surface: the viewer starts over on it */
	uint8_t *px2;
	int fd2 = fake_memfd(20, 10, 0x24, &px2);
	struct vmm_surface vs = {20, 10, 20 * 4, VMM_FORMAT_XRGB8888, 2};
	fake_send(f.screen, VMM_EVENT_SURFACE, 0, 0, &vs, sizeof(vs), fd2);
	close(fd2);
	do
		wait_viewer(v, &u);
	while (!u.resized);
	assert_int_equal(u.width, 20);
	assert_int_equal(u.height, 10);
	assert_int_equal(u.pixels[0], 0x24);

	/* a surface larger than its memfd is refused */
	int fd3 = fake_memfd(4, 4, 0, &px2);
	struct vmm_surface lie = {400, 400, 1600, VMM_FORMAT_XRGB8888, 3};
	fake_send(f.screen, VMM_EVENT_SURFACE, 0, 0, &lie, sizeof(lie), fd3);
	close(fd3);

	/* input goes out on the second connection, one request each, answered
	 * by the VMM before the call returns */
	struct fake_input fi = {.sock = f.input};
	assert_int_equal(pthread_create(&t, NULL, fake_answer_input, &fi), 0);
	surface_key(s, 30, true); /* answered -ENOBUFS: dropped, logged */
	surface_pointer(s, 11, 12, 0xff);
	surface_wheel(s, 2, -1);
	surface_request_size(s, 1280, 720);
	shutdown(f.input, SHUT_RDWR);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(fi.count, 4);
	struct vmm_input in;
	assert_int_equal(fi.req[0].type, VMM_REQ_INPUT);
	assert_int_equal(fi.req[0].length, sizeof(in));
	memcpy(&in, fi.payload[0], sizeof(in));
	assert_int_equal(in.kind, VMM_INPUT_KEY);
	assert_int_equal(in.code, 30);
	assert_int_equal(in.x, 1);
	memcpy(&in, fi.payload[1], sizeof(in));
	assert_int_equal(in.kind, VMM_INPUT_POINTER);
	assert_int_equal(in.code, 7);
	assert_int_equal(in.x, 11);
	assert_int_equal(in.y, 12);
	memcpy(&in, fi.payload[2], sizeof(in));
	assert_int_equal(in.kind, VMM_INPUT_WHEEL);
	assert_int_equal(in.y, 2);
	assert_int_equal(in.x, -1);
	assert_int_equal(fi.req[3].type, VMM_REQ_DISPLAY_SIZE);
	struct vmm_display_size ds;
	assert_int_equal(fi.req[3].length, sizeof(ds));
	memcpy(&ds, fi.payload[3], sizeof(ds));
	assert_int_equal(ds.width, 1280);
	assert_int_equal(ds.height, 720);

	/* the VM goes away: the viewer keeps its last frame */
	close(f.screen);
	close(f.input);
	surface_key(s, 30, false);
	assert_false(surface_viewer_take(v, &u));
	assert_int_equal(u.width, 20);
	assert_int_equal(u.pixels[0], 0x24);
	surface_viewer_remove(v);
	surface_destroy(s);
	munmap(f.pixels, 32 * 16 * 4);
	close(f.memfd);
	close(f.listen_fd);
	unlink(f.path);
}

static void test_attach_vmm_unreachable(void **state)
{
	(void)state;
	assert_null(surface_attach_vmm("/nonexistent/vdi-vmm.sock"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_viewer_gets_whole_frame),
	    cmocka_unit_test(test_damage_per_viewer),
	    cmocka_unit_test(test_damage_clipped_and_contained),
	    cmocka_unit_test(test_slow_viewer_bounded),
	    cmocka_unit_test(test_take_copies),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_input),
	    cmocka_unit_test(test_shared_picture),
	    cmocka_unit_test(test_create_limits),
	    cmocka_unit_test(test_attach_vmm),
	    cmocka_unit_test(test_attach_vmm_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
