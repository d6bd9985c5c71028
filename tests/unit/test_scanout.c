/* test_scanout.c — the screen's export in hypervisor/scanout.c: the surface
 * memfd, damage per consumer, events over a real socket pair, and what a
 * slow consumer costs (bounded state, no blocking). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/ipc.h"
#include "../../hypervisor/scanout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
	struct scanout *s;
	struct gpu_scanout_ops ops;
	int vmm_end, consumer_end;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->s = scanout_create();
	assert_non_null(f->s);
	f->ops = scanout_gpu_ops(f->s);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->vmm_end = sv[0];
	f->consumer_end = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	scanout_destroy(f->s);
	close(f->vmm_end);
	close(f->consumer_end);
	free(f);
	return 0;
}

/* Receives one event; returns its type, payload in buf, fd (or -1). */
static uint16_t next_event(struct fixture *f, uint8_t *buf, size_t cap, int *fd)
{
	int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
	ssize_t n = ipc_recv(f->consumer_end, buf, cap, fds, &nfds);
	assert_true(n >= (ssize_t)sizeof(struct vmm_msg));
	struct vmm_msg h;
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.length, (size_t)n - sizeof(h));
	assert_int_equal(h.id, 0);
	*fd = nfds ? fds[0] : -1;
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	memmove(buf, buf + sizeof(h), h.length);
	return h.type;
}

static bool nothing_pending(struct fixture *f)
{
	uint8_t b;
	return recv(f->consumer_end, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static void test_surface_is_shared_read_only(void **state)
{
	struct fixture *f = *state;
	uint8_t *pixels = f->ops.resize(f->ops.opaque, 64, 32);
	assert_non_null(pixels);
	memset(pixels, 0x5a, 64 * 32 * 4);

	struct vmm_surface surface;
	int fd = -1;
	int slot = scanout_subscribe(f->s, f->vmm_end, &surface, &fd);
	assert_true(slot >= 0);
	assert_int_equal(surface.width, 64);
	assert_int_equal(surface.height, 32);
	assert_int_equal(surface.stride, 256);
	assert_int_equal(surface.format, VMM_FORMAT_XRGB8888);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	/* The consumer cannot map it writable, and its size is sealed. */
	assert_true(mmap(NULL, 64 * 32 * 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	uint8_t *view = mmap(NULL, 64 * 32 * 4, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(view != MAP_FAILED);
	assert_int_equal(view[100], 0x5a);
	pixels[100] = 0x11;
	assert_int_equal(view[100], 0x11);
	assert_true(ftruncate(fd, 0) < 0);
	munmap(view, 64 * 32 * 4);
}

static void test_damage_reaches_the_consumer(void **state)
{
	struct fixture *f = *state;
	f->ops.resize(f->ops.opaque, 100, 100);
	struct vmm_surface surface;
	int fd;
	int slot = scanout_subscribe(f->s, f->vmm_end, &surface, &fd);
	f->ops.damage(f->ops.opaque, 10, 20, 30, 40);
	f->ops.damage(f->ops.opaque, 90, 90, 50, 50); /* clipped to the surface */
	f->ops.damage(f->ops.opaque, 200, 0, 5, 5);   /* outside: nothing */
	assert_int_equal(scanout_send_pending(f->s, slot), 0);

	uint8_t buf[VMM_MSG_MAX];
	int efd;
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_DAMAGE);
	assert_int_equal(efd, -1);
	struct vmm_damage d;
	memcpy(&d, buf, sizeof(d));
	assert_int_equal(d.count, 2);
	assert_int_equal(d.serial, surface.serial);
	assert_true(d.flush_ns > 0);
	struct vmm_rect r[2];
	memcpy(r, buf + sizeof(d), sizeof(r));
	assert_int_equal(r[0].x, 10);
	assert_int_equal(r[0].y, 20);
	assert_int_equal(r[0].width, 30);
	assert_int_equal(r[0].height, 40);
	assert_int_equal(r[1].x, 90);
	assert_int_equal(r[1].width, 10);
	assert_int_equal(r[1].height, 10);
	assert_true(nothing_pending(f));
	/* Sent once: nothing more until new damage. */
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	assert_true(nothing_pending(f));
}

static void test_damage_is_bounded_and_covers_everything(void **state)
{
	struct fixture *f = *state;
	f->ops.resize(f->ops.opaque, 1000, 1000);
	struct vmm_surface surface;
	int fd;
	int slot = scanout_subscribe(f->s, f->vmm_end, &surface, &fd);
	/* A consumer that does not read while the guest flushes 500 times. */
	for (uint32_t i = 0; i < 500; i++)
		f->ops.damage(f->ops.opaque, (i * 37) % 990, (i * 101) % 990, 10, 10);
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	uint8_t buf[VMM_MSG_MAX];
	int efd;
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_DAMAGE);
	struct vmm_damage d;
	memcpy(&d, buf, sizeof(d));
	assert_true(d.count >= 1 && d.count <= VMM_DAMAGE_MAX_RECTS);
	struct vmm_rect r[VMM_DAMAGE_MAX_RECTS];
	memcpy(r, buf + sizeof(d), d.count * sizeof(r[0]));
	/* Every damaged pixel is inside some rectangle sent. */
	for (uint32_t i = 0; i < 500; i++) {
		uint32_t x = (i * 37) % 990, y = (i * 101) % 990;
		bool covered = false;
		for (uint32_t k = 0; k < d.count; k++)
			covered |= x >= r[k].x && y >= r[k].y && x + 10 <= r[k].x + r[k].width &&
				   y + 10 <= r[k].y + r[k].height;
		assert_true(covered);
	}
}

static void test_full_socket_never_blocks(void **state)
{
	struct fixture *f = *state;
	f->ops.resize(f->ops.opaque, 64, 64);
	struct vmm_surface surface;
	int fd;
	int small = 65536;
	setsockopt(f->vmm_end, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	int slot = scanout_subscribe(f->s, f->vmm_end, &surface, &fd);
	uint8_t cursor[64 * 64 * 4];
	memset(cursor, 0xff, sizeof(cursor));
	/* Cursor images are 16 KiB each: the socket fills after a few. */
	int r = 0, sent = 0;
	for (int i = 0; i < 64 && r == 0; i++) {
		f->ops.cursor_image(f->ops.opaque, cursor, 64, 64, 1, 2);
		r = scanout_send_pending(f->s, slot);
		sent += r == 0;
	}
	assert_int_equal(r, -EAGAIN);
	/* Meanwhile the guest goes on: damage and moves accumulate. */
	for (int i = 0; i < 1000; i++) {
		f->ops.damage(f->ops.opaque, (uint32_t)i % 60, 0, 4, 4);
		f->ops.cursor_move(f->ops.opaque, i, i, true);
	}
	assert_int_equal(scanout_send_pending(f->s, slot), -EAGAIN);
	/* The consumer drains; what it finally gets is the latest state. */
	uint8_t buf[VMM_MSG_MAX];
	int efd;
	for (int i = 0; i < sent; i++)
		assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_CURSOR_IMAGE);
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_DAMAGE);
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_CURSOR_IMAGE);
	struct vmm_cursor_image ci;
	memcpy(&ci, buf, sizeof(ci));
	assert_int_equal(ci.width, 64);
	assert_int_equal(ci.hot_x, 1);
	assert_int_equal(ci.hot_y, 2);
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_CURSOR_MOVE);
	struct vmm_cursor_pos pos;
	memcpy(&pos, buf, sizeof(pos));
	assert_int_equal(pos.x, 999);
	assert_int_equal(pos.y, 999);
	assert_int_equal(pos.visible, 1);
	assert_true(nothing_pending(f));
}

static void test_resize_sends_a_new_surface(void **state)
{
	struct fixture *f = *state;
	f->ops.resize(f->ops.opaque, 64, 64);
	struct vmm_surface first;
	int fd;
	int slot = scanout_subscribe(f->s, f->vmm_end, &first, &fd);
	f->ops.damage(f->ops.opaque, 0, 0, 8, 8);
	uint8_t *pixels = f->ops.resize(f->ops.opaque, 128, 32);
	assert_non_null(pixels);
	pixels[128 * 32 * 4 - 1] = 7; /* the whole new surface is writable */
	uint32_t w, h;
	scanout_size(f->s, &w, &h);
	assert_int_equal(w, 128);
	assert_int_equal(h, 32);
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	uint8_t buf[VMM_MSG_MAX];
	int efd;
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_SURFACE);
	struct vmm_surface s;
	memcpy(&s, buf, sizeof(s));
	assert_int_equal(s.width, 128);
	assert_int_equal(s.height, 32);
	assert_true(s.serial > first.serial);
	assert_true(efd >= 0);
	uint8_t *view = mmap(NULL, 128 * 32 * 4, PROT_READ, MAP_SHARED, efd, 0);
	assert_true(view != MAP_FAILED);
	assert_int_equal(view[128 * 32 * 4 - 1], 7);
	munmap(view, 128 * 32 * 4);
	close(efd);
	/* The damage on the old surface is not sent: the new one is all new. */
	assert_true(nothing_pending(f));
	/* Disabling the scanout is a surface event too, without a descriptor. */
	assert_null(f->ops.resize(f->ops.opaque, 0, 0));
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_SURFACE);
	memcpy(&s, buf, sizeof(s));
	assert_int_equal(s.width, 0);
	assert_int_equal(efd, -1);
}

static void test_new_consumer_gets_the_cursor(void **state)
{
	struct fixture *f = *state;
	uint8_t cursor[16 * 16 * 4] = {0};
	f->ops.cursor_image(f->ops.opaque, cursor, 16, 16, 40, 3); /* hotspot clamped into the image */
	f->ops.cursor_move(f->ops.opaque, 5, 6, false);
	struct vmm_surface surface;
	int fd;
	int slot = scanout_subscribe(f->s, f->vmm_end, &surface, &fd);
	assert_int_equal(surface.width, 0);
	assert_int_equal(fd, -1);
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	uint8_t buf[VMM_MSG_MAX];
	int efd;
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_CURSOR_IMAGE);
	struct vmm_cursor_image ci;
	memcpy(&ci, buf, sizeof(ci));
	assert_int_equal(ci.hot_x, 15);
	assert_int_equal(next_event(f, buf, sizeof(buf), &efd), VMM_EVENT_CURSOR_MOVE);
	struct vmm_cursor_pos pos;
	memcpy(&pos, buf, sizeof(pos));
	assert_int_equal(pos.visible, 0);
	/* Oversized cursor images are ignored. */
	f->ops.cursor_image(f->ops.opaque, cursor, 65, 1, 0, 0);
	assert_int_equal(scanout_send_pending(f->s, slot), 0);
	assert_true(nothing_pending(f));
}

static void test_consumer_slots_run_out(void **state)
{
	struct fixture *f = *state;
	struct vmm_surface surface;
	int fd;
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++)
		assert_int_equal(scanout_subscribe(f->s, f->vmm_end, &surface, &fd), i);
	assert_int_equal(scanout_subscribe(f->s, f->vmm_end, &surface, &fd), -ENOSPC);
	scanout_unsubscribe(f->s, 3);
	assert_int_equal(scanout_subscribe(f->s, f->vmm_end, &surface, &fd), 3);
	assert_int_equal(scanout_send_pending(f->s, -1), -EINVAL);
	assert_int_equal(scanout_send_pending(f->s, SCANOUT_MAX_CONSUMERS), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_surface_is_shared_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_reaches_the_consumer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_is_bounded_and_covers_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_socket_never_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resize_sends_a_new_surface, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_consumer_gets_the_cursor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consumer_slots_run_out, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
