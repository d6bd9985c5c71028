/* scanout.c — the guest's screen as a shared-memory surface plus events for
 * its consumers. virtio-gpu writes flushed pixels into the surface on a vCPU
 * thread and reports damage here; the control thread sends each consumer
 * what accumulated for it, never blocking, so a slow consumer costs the
 * guest nothing and only ever holds a bounded amount of state. */
#include "scanout.h"

#include "../common/ipc.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct scanout_consumer {
	int sock; /* -1: slot free */
	bool surface_pending;
	bool cursor_image_pending;
	bool cursor_move_pending;
	uint32_t ndamage;
	struct vmm_rect damage[VMM_DAMAGE_MAX_RECTS];
	uint64_t flush_ns;
};

struct scanout {
	pthread_mutex_t lock;
	int wake_fd;

	/* The current surface. */
	int mem_fd; /* read-write, the VMM's */
	int ro_fd;  /* read-only, what consumers get */
	uint8_t *pixels;
	size_t bytes;
	uint32_t width, height;
	uint64_t serial;

	/* The latest cursor. */
	bool cursor_set;
	struct vmm_cursor_image cursor;
	uint8_t cursor_pixels[VMM_CURSOR_MAX * VMM_CURSOR_MAX * 4];
	struct vmm_cursor_pos cursor_pos;
	bool cursor_pos_set;

	struct scanout_consumer consumers[SCANOUT_MAX_CONSUMERS];
};

static uint64_t scanout_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void scanout_wake(struct scanout *s)
{
	uint64_t one = 1;
	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("scanout: cannot wake the control thread: %s", strerror(errno));
}

static bool scanout_has_consumers(const struct scanout *s)
{
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++)
		if (s->consumers[i].sock >= 0)
			return true;
	return false;
}

static void scanout_release_surface(struct scanout *s)
{
	if (s->pixels)
		munmap(s->pixels, s->bytes);
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	s->pixels = NULL;
	s->bytes = 0;
	s->mem_fd = s->ro_fd = -1;
	s->width = s->height = 0;
}

/* A new memfd of exactly the surface's size, sealed so that no one can
 * shrink it under a consumer's mapping, and a read-only descriptor of it
 * (opened anew through /proc, so it cannot be mapped writable). */
static int scanout_new_surface(struct scanout *s, uint32_t width, uint32_t height)
{
	size_t bytes = (size_t)width * height * 4;
	int fd = memfd_create("vdi-scanout", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ro = -1;
	uint8_t *pixels = MAP_FAILED;
	int err = 0;
	if (ftruncate(fd, (off_t)bytes) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (ro = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (pixels = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		err = -errno;
	if (err) {
		if (ro >= 0)
			close(ro);
		close(fd);
		return err;
	}
	s->mem_fd = fd;
	s->ro_fd = ro;
	s->pixels = pixels;
	s->bytes = bytes;
	s->width = width;
	s->height = height;
	s->serial++;
	return 0;
}

static uint8_t *scanout_resize(void *opaque, uint32_t width, uint32_t height)
{
	struct scanout *s = opaque;
	pthread_mutex_lock(&s->lock);
	scanout_release_surface(s);
	int err = width && height ? scanout_new_surface(s, width, height) : 0;
	if (err)
		log_error("scanout: cannot make a %ux%u surface: %s", width, height, strerror(-err));
	else
		s->serial += !(width && height); /* a disabled scanout is a new (empty) surface too */
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++) {
		struct scanout_consumer *c = &s->consumers[i];
		c->surface_pending = true;
		c->ndamage = 0; /* a new surface is all new */
	}
	uint8_t *pixels = s->pixels;
	bool wake = scanout_has_consumers(s);
	pthread_mutex_unlock(&s->lock);
	if (wake)
		scanout_wake(s);
	return pixels;
}

static uint64_t rect_area(const struct vmm_rect *r)
{
	return (uint64_t)r->width * r->height;
}

static struct vmm_rect rect_union(const struct vmm_rect *a, const struct vmm_rect *b)
{
	uint32_t x0 = a->x < b->x ? a->x : b->x, y0 = a->y < b->y ? a->y : b->y;
	uint32_t ax1 = a->x + a->width, bx1 = b->x + b->width;
	uint32_t ay1 = a->y + a->height, by1 = b->y + b->height;
	uint32_t x1 = ax1 > bx1 ? ax1 : bx1, y1 = ay1 > by1 ? ay1 : by1;
	return (struct vmm_rect){x0, y0, x1 - x0, y1 - y0};
}

static bool rect_contains(const struct vmm_rect *outer, const struct vmm_rect *inner)
{
	return inner->x >= outer->x && inner->y >= outer->y && inner->x + inner->width <= outer->x + outer->width &&
	       inner->y + inner->height <= outer->y + outer->height;
}

/* Adds `r` to a consumer's damage. Past VMM_DAMAGE_MAX_RECTS it merges `r`
 * into the rectangle whose bounding box grows least, so a consumer that
 * does not read holds a fixed amount of state however long it sleeps. */
static void consumer_add_damage(struct scanout_consumer *c, const struct vmm_rect *r)
{
	for (uint32_t i = 0; i < c->ndamage; i++) {
		if (rect_contains(&c->damage[i], r))
			return;
		if (rect_contains(r, &c->damage[i])) {
			c->damage[i] = *r;
			return;
		}
	}
	if (c->ndamage < VMM_DAMAGE_MAX_RECTS) {
		c->damage[c->ndamage++] = *r;
		return;
	}
	uint32_t best = 0;
	uint64_t best_growth = UINT64_MAX;
	for (uint32_t i = 0; i < c->ndamage; i++) {
		struct vmm_rect u = rect_union(&c->damage[i], r);
		uint64_t growth = rect_area(&u) - rect_area(&c->damage[i]);
		if (growth < best_growth)
			best_growth = growth, best = i;
	}
	c->damage[best] = rect_union(&c->damage[best], r);
}

static void scanout_damage(void *opaque, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
	struct scanout *s = opaque;
	uint64_t now = scanout_now_ns();
	pthread_mutex_lock(&s->lock);
	/* Clip: the device already does, but the surface is ours to protect. */
	bool any = false;
	if (x < s->width && y < s->height && width && height) {
		if (width > s->width - x)
			width = s->width - x;
		if (height > s->height - y)
			height = s->height - y;
		struct vmm_rect r = {x, y, width, height};
		for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++) {
			struct scanout_consumer *c = &s->consumers[i];
			if (c->sock < 0)
				continue;
			consumer_add_damage(c, &r);
			c->flush_ns = now;
			any = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (any)
		scanout_wake(s);
}

static void scanout_cursor_image(void *opaque, const uint8_t *argb, uint32_t width, uint32_t height, uint32_t hot_x,
				 uint32_t hot_y)
{
	struct scanout *s = opaque;
	if (!argb || !width || !height || width > VMM_CURSOR_MAX || height > VMM_CURSOR_MAX)
		return;
	pthread_mutex_lock(&s->lock);
	s->cursor = (struct vmm_cursor_image){width, height, hot_x < width ? hot_x : width - 1,
					      hot_y < height ? hot_y : height - 1};
	memcpy(s->cursor_pixels, argb, (size_t)width * height * 4);
	s->cursor_set = true;
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++)
		s->consumers[i].cursor_image_pending = true;
	bool wake = scanout_has_consumers(s);
	pthread_mutex_unlock(&s->lock);
	if (wake)
		scanout_wake(s);
}

static void scanout_cursor_move(void *opaque, int32_t x, int32_t y, bool visible)
{
	struct scanout *s = opaque;
	pthread_mutex_lock(&s->lock);
	s->cursor_pos = (struct vmm_cursor_pos){.x = x, .y = y, .visible = visible};
	s->cursor_pos_set = true;
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++)
		s->consumers[i].cursor_move_pending = true;
	bool wake = scanout_has_consumers(s);
	pthread_mutex_unlock(&s->lock);
	if (wake)
		scanout_wake(s);
}

struct gpu_scanout_ops scanout_gpu_ops(struct scanout *s)
{
	return (struct gpu_scanout_ops){
	    .resize = scanout_resize,
	    .damage = scanout_damage,
	    .cursor_image = scanout_cursor_image,
	    .cursor_move = scanout_cursor_move,
	    .opaque = s,
	};
}

struct scanout *scanout_create(void)
{
	struct scanout *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->mem_fd = s->ro_fd = -1;
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++)
		s->consumers[i].sock = -1;
	return s;
}

void scanout_destroy(struct scanout *s)
{
	if (!s)
		return;
	scanout_release_surface(s);
	close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int scanout_wake_fd(struct scanout *s)
{
	return s->wake_fd;
}

static struct vmm_surface scanout_describe(const struct scanout *s)
{
	return (struct vmm_surface){.width = s->width,
				    .height = s->height,
				    .stride = s->width * 4,
				    .format = VMM_FORMAT_XRGB8888,
				    .serial = s->serial};
}

int scanout_subscribe(struct scanout *s, int sock, struct vmm_surface *surface, int *fd)
{
	int slot = -ENOSPC;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < SCANOUT_MAX_CONSUMERS; i++) {
		if (s->consumers[i].sock < 0) {
			slot = i;
			break;
		}
	}
	if (slot >= 0) {
		s->consumers[slot] = (struct scanout_consumer){
		    .sock = sock,
		    .cursor_image_pending = s->cursor_set,
		    .cursor_move_pending = s->cursor_pos_set,
		};
		*surface = scanout_describe(s);
		*fd = s->ro_fd;
	}
	pthread_mutex_unlock(&s->lock);
	return slot;
}

void scanout_unsubscribe(struct scanout *s, int slot)
{
	if (slot < 0 || slot >= SCANOUT_MAX_CONSUMERS)
		return;
	pthread_mutex_lock(&s->lock);
	s->consumers[slot].sock = -1;
	pthread_mutex_unlock(&s->lock);
}

static int scanout_send_event(int sock, uint16_t type, const void *a, size_t alen, const void *b, size_t blen, int fd)
{
	uint8_t msg[sizeof(struct vmm_msg) + sizeof(struct vmm_cursor_image) +
		    sizeof(((struct scanout *)0)->cursor_pixels)];
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = type, .length = (uint32_t)(alen + blen)};
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), a, alen);
	if (blen)
		memcpy(msg + sizeof(h) + alen, b, blen);
	return ipc_try_send(sock, msg, sizeof(h) + alen + blen, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

/* Sends under the lock: every send is non-blocking, so a vCPU flushing
 * meanwhile waits for a few syscalls at most, and what is pending is
 * cleared only once it has gone. */
int scanout_send_pending(struct scanout *s, int slot)
{
	if (slot < 0 || slot >= SCANOUT_MAX_CONSUMERS)
		return -EINVAL;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	struct scanout_consumer *c = &s->consumers[slot];
	if (c->sock < 0)
		goto out;
	if (c->surface_pending) {
		struct vmm_surface surface = scanout_describe(s);
		if ((r = scanout_send_event(c->sock, VMM_EVENT_SURFACE, &surface, sizeof(surface), NULL, 0, s->ro_fd)))
			goto out;
		c->surface_pending = false;
	}
	if (c->ndamage) {
		struct vmm_damage d = {.serial = s->serial, .flush_ns = c->flush_ns, .count = c->ndamage};
		if ((r = scanout_send_event(c->sock, VMM_EVENT_DAMAGE, &d, sizeof(d), c->damage,
					    c->ndamage * sizeof(struct vmm_rect), -1)))
			goto out;
		c->ndamage = 0;
	}
	if (c->cursor_image_pending) {
		if ((r = scanout_send_event(c->sock, VMM_EVENT_CURSOR_IMAGE, &s->cursor, sizeof(s->cursor),
					    s->cursor_pixels, (size_t)s->cursor.width * s->cursor.height * 4, -1)))
			goto out;
		c->cursor_image_pending = false;
	}
	if (c->cursor_move_pending) {
		if ((r = scanout_send_event(c->sock, VMM_EVENT_CURSOR_MOVE, &s->cursor_pos, sizeof(s->cursor_pos), NULL,
					    0, -1)))
			goto out;
		c->cursor_move_pending = false;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

void scanout_size(struct scanout *s, uint32_t *width, uint32_t *height)
{
	pthread_mutex_lock(&s->lock);
	*width = s->width;
	*height = s->height;
	pthread_mutex_unlock(&s->lock);
}
