/* surface.c — surfaces and their viewers: damage accumulated per viewer
 * (bounded), cursor state, the private frame copy each viewer encodes from,
 * shared read-only pictures (copied on the owner's first write, never copied
 * for a viewer), and input passed on to the surface's sink. */
#include "surface_internal.h"

#include "../common/fd.h"
#include "../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SURFACE_DIM_MAX 16384 /* larger than any scanout; keeps sizes far from overflow */

struct surface_picture {
	atomic_uint refs;
	uint32_t width, height;
	uint8_t *pixels; /* width * 4 bytes a row */
};

struct surface_viewer {
	struct surface *s;
	struct surface_viewer *next;
	int wake_fd;
	/* pending since the last take, under s->lock */
	bool resized;
	uint32_t nrects;
	struct surface_rect rects[SURFACE_MAX_RECTS];
	bool cursor_changed, cursor_moved;
	/* the viewer's own copies, read by its encoder without the lock; or,
	 * while the surface showed a shared picture at the last take, that
	 * picture (frame NULL) */
	struct surface_picture *picture;
	uint8_t *frame;
	uint32_t frame_width, frame_height;
	uint8_t cursor[SURFACE_CURSOR_MAX * SURFACE_CURSOR_MAX * 4];
};

struct surface {
	atomic_uint refs;                /* the creator's, and one per connection showing it */
	pthread_mutex_t lock;            /* everything below but the input sink */
	uint8_t *own_pixels;             /* surface_create() surfaces: width * 4 bytes a row */
	struct surface_picture *picture; /* shown instead of own_pixels until the owner writes */
	const uint8_t *pixels;
	uint32_t width, height, stride;
	uint64_t frame;
	struct surface_viewer *viewers;
	uint8_t cursor[SURFACE_CURSOR_MAX * SURFACE_CURSOR_MAX * 4];
	uint32_t cursor_width, cursor_height, cursor_hot_x, cursor_hot_y;
	bool cursor_set;
	int32_t cursor_x, cursor_y;
	bool cursor_visible;
	/* Held across a call into the sink, so that once surface_set_input()
	 * returns no call uses the old ops; separate from `lock` because a
	 * sink may block (a socket round trip) while viewers copy frames. */
	pthread_mutex_t input_lock;
	struct surface_input_ops input;
	bool has_input;
	void (*owner_destroy)(void *opaque);
	void *owner_opaque;
};

static struct surface *surface_alloc(void)
{
	struct surface *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->input_lock, NULL);
	return s;
}

struct surface *surface_create(uint32_t width, uint32_t height)
{
	if (!width || !height || width > SURFACE_DIM_MAX || height > SURFACE_DIM_MAX)
		return NULL;
	struct surface *s = surface_alloc();
	if (!s)
		return NULL;
	s->own_pixels = calloc((size_t)width * height, 4);
	if (!s->own_pixels) {
		surface_destroy(s);
		return NULL;
	}
	s->pixels = s->own_pixels;
	s->width = width;
	s->height = height;
	s->stride = width * 4;
	return s;
}

struct surface_picture *surface_picture_new(uint32_t width, uint32_t height)
{
	if (!width || !height || width > SURFACE_DIM_MAX || height > SURFACE_DIM_MAX)
		return NULL;
	struct surface_picture *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	/* Large: a mapping of its own (common/mem_trim.h), returned on the last unref. */
	p->pixels = calloc((size_t)width * height, 4);
	if (!p->pixels) {
		free(p);
		return NULL;
	}
	atomic_init(&p->refs, 1);
	p->width = width;
	p->height = height;
	return p;
}

uint8_t *surface_picture_pixels(struct surface_picture *p)
{
	return p->pixels;
}

uint32_t surface_picture_width(const struct surface_picture *p)
{
	return p->width;
}

uint32_t surface_picture_height(const struct surface_picture *p)
{
	return p->height;
}

struct surface_picture *surface_picture_ref(struct surface_picture *p)
{
	if (p)
		atomic_fetch_add(&p->refs, 1);
	return p;
}

void surface_picture_unref(struct surface_picture *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	free(p->pixels);
	free(p);
}

unsigned surface_picture_refs(const struct surface_picture *p)
{
	return atomic_load(&((struct surface_picture *)p)->refs);
}

struct surface *surface_create_shared(struct surface_picture *p)
{
	struct surface *s = surface_alloc();
	if (!s)
		return NULL;
	s->picture = surface_picture_ref(p);
	s->pixels = p->pixels;
	s->width = p->width;
	s->height = p->height;
	s->stride = p->width * 4;
	return s;
}

struct surface *surface_create_external(void)
{
	return surface_alloc();
}

void surface_set_owner(struct surface *s, void (*destroy)(void *opaque), void *opaque)
{
	s->owner_destroy = destroy;
	s->owner_opaque = opaque;
}

static void viewer_free(struct surface_viewer *v)
{
	close(v->wake_fd);
	surface_picture_unref(v->picture);
	free(v->frame);
	free(v);
}

struct surface *surface_ref(struct surface *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void surface_destroy(struct surface *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->owner_destroy)
		s->owner_destroy(s->owner_opaque);
	if (s->viewers)
		log_error("display: surface destroyed with viewers still attached");
	while (s->viewers) {
		struct surface_viewer *v = s->viewers;
		s->viewers = v->next;
		viewer_free(v);
	}
	pthread_mutex_destroy(&s->input_lock);
	pthread_mutex_destroy(&s->lock);
	free(s->own_pixels);
	surface_picture_unref(s->picture);
	free(s);
}

uint8_t *surface_pixels(struct surface *s)
{
	if (!s->picture)
		return s->own_pixels;
	/* The owner is about to write: its own copy of the picture. The viewers
	 * showing the picture keep it until their next take. */
	uint8_t *own = malloc((size_t)s->stride * s->height);
	if (!own) {
		log_error("display: no memory for a %ux%u surface of its own", s->width, s->height);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(own, s->picture->pixels, (size_t)s->stride * s->height);
	struct surface_picture *p = s->picture;
	s->picture = NULL;
	s->own_pixels = own;
	s->pixels = own;
	pthread_mutex_unlock(&s->lock);
	surface_picture_unref(p);
	return own;
}

static void viewer_wake(struct surface_viewer *v)
{
	uint64_t one = 1;
	/* Fails only when the counter would overflow, and then it is readable anyway. */
	ssize_t n = write(v->wake_fd, &one, sizeof(one));
	(void)n;
}

/* Under s->lock: every viewer starts over with the whole frame. */
static void surface_all_new(struct surface *s)
{
	s->frame++;
	for (struct surface_viewer *v = s->viewers; v; v = v->next) {
		v->resized = true;
		v->nrects = 0;
		viewer_wake(v);
	}
}

int surface_resize(struct surface *s, uint32_t width, uint32_t height)
{
	if (!s->own_pixels && !s->picture)
		return -EPERM; /* an attached surface follows its VMM */
	if (!width || !height || width > SURFACE_DIM_MAX || height > SURFACE_DIM_MAX)
		return -EINVAL;
	uint8_t *pixels = calloc((size_t)width * height, 4);
	if (!pixels)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	free(s->own_pixels);
	struct surface_picture *old = s->picture;
	s->picture = NULL;
	s->own_pixels = pixels;
	s->pixels = pixels;
	s->width = width;
	s->height = height;
	s->stride = width * 4;
	surface_all_new(s);
	pthread_mutex_unlock(&s->lock);
	surface_picture_unref(old);
	return 0;
}

int surface_set_picture(struct surface *s, struct surface_picture *p)
{
	if (!s->own_pixels && !s->picture)
		return -EPERM;
	surface_picture_ref(p);
	pthread_mutex_lock(&s->lock);
	uint8_t *own = s->own_pixels;
	struct surface_picture *old = s->picture;
	s->own_pixels = NULL;
	s->picture = p;
	s->pixels = p->pixels;
	s->width = p->width;
	s->height = p->height;
	s->stride = p->width * 4;
	surface_all_new(s);
	pthread_mutex_unlock(&s->lock);
	free(own);
	surface_picture_unref(old);
	return 0;
}

void surface_set_external(struct surface *s, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride)
{
	pthread_mutex_lock(&s->lock);
	s->pixels = pixels;
	s->width = pixels ? width : 0;
	s->height = pixels ? height : 0;
	s->stride = pixels ? stride : 0;
	surface_all_new(s);
	pthread_mutex_unlock(&s->lock);
}

static uint64_t rect_area(const struct surface_rect *r)
{
	return (uint64_t)r->width * r->height;
}

static struct surface_rect rect_union(const struct surface_rect *a, const struct surface_rect *b)
{
	uint32_t x0 = a->x < b->x ? a->x : b->x;
	uint32_t y0 = a->y < b->y ? a->y : b->y;
	uint32_t x1 = a->x + a->width > b->x + b->width ? a->x + a->width : b->x + b->width;
	uint32_t y1 = a->y + a->height > b->y + b->height ? a->y + a->height : b->y + b->height;
	return (struct surface_rect){x0, y0, x1 - x0, y1 - y0};
}

static bool rect_contains(const struct surface_rect *outer, const struct surface_rect *in)
{
	return in->x >= outer->x && in->y >= outer->y && in->x + in->width <= outer->x + outer->width &&
	       in->y + in->height <= outer->y + outer->height;
}

/* Adds r (already clipped) to the viewer's pending damage; once it holds
 * SURFACE_MAX_RECTS, r joins the rectangle whose bounding box grows least,
 * so a viewer that does not take keeps a fixed amount of state. */
static void viewer_add_damage(struct surface_viewer *v, const struct surface_rect *r)
{
	if (v->resized)
		return; /* the whole frame is pending already */
	for (uint32_t i = 0; i < v->nrects; i++)
		if (rect_contains(&v->rects[i], r))
			return;
	if (v->nrects < SURFACE_MAX_RECTS) {
		v->rects[v->nrects++] = *r;
		return;
	}
	uint32_t best = 0;
	uint64_t best_growth = UINT64_MAX;
	for (uint32_t i = 0; i < v->nrects; i++) {
		struct surface_rect u = rect_union(&v->rects[i], r);
		uint64_t growth = rect_area(&u) - rect_area(&v->rects[i]);
		if (growth < best_growth) {
			best_growth = growth;
			best = i;
		}
	}
	v->rects[best] = rect_union(&v->rects[best], r);
}

void surface_damage(struct surface *s, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
	pthread_mutex_lock(&s->lock);
	if (x < s->width && y < s->height && width && height) {
		struct surface_rect r = {x, y, width < s->width - x ? width : s->width - x,
					 height < s->height - y ? height : s->height - y};
		s->frame++;
		for (struct surface_viewer *v = s->viewers; v; v = v->next) {
			viewer_add_damage(v, &r);
			viewer_wake(v);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

void surface_set_cursor(struct surface *s, const uint8_t *argb, uint32_t width, uint32_t height, uint32_t hot_x,
			uint32_t hot_y)
{
	/* Larger images keep their top-left SURFACE_CURSOR_MAX square, where the hotspot usually is. */
	uint32_t w = width < SURFACE_CURSOR_MAX ? width : SURFACE_CURSOR_MAX;
	uint32_t h = height < SURFACE_CURSOR_MAX ? height : SURFACE_CURSOR_MAX;
	pthread_mutex_lock(&s->lock);
	for (uint32_t row = 0; row < h; row++)
		memcpy(s->cursor + (size_t)row * w * 4, argb + (size_t)row * width * 4, (size_t)w * 4);
	s->cursor_width = w;
	s->cursor_height = h;
	s->cursor_hot_x = w && hot_x >= w ? w - 1 : hot_x;
	s->cursor_hot_y = h && hot_y >= h ? h - 1 : hot_y;
	if (!w || !h)
		s->cursor_hot_x = s->cursor_hot_y = 0;
	s->cursor_set = true;
	for (struct surface_viewer *v = s->viewers; v; v = v->next) {
		v->cursor_changed = true;
		viewer_wake(v);
	}
	pthread_mutex_unlock(&s->lock);
}

void surface_move_cursor(struct surface *s, int32_t x, int32_t y, bool visible)
{
	pthread_mutex_lock(&s->lock);
	s->cursor_x = x;
	s->cursor_y = y;
	s->cursor_visible = visible;
	for (struct surface_viewer *v = s->viewers; v; v = v->next) {
		v->cursor_moved = true;
		viewer_wake(v);
	}
	pthread_mutex_unlock(&s->lock);
}

void surface_set_input(struct surface *s, const struct surface_input_ops *ops)
{
	pthread_mutex_lock(&s->input_lock);
	s->has_input = ops != NULL;
	if (ops)
		s->input = *ops;
	pthread_mutex_unlock(&s->input_lock);
}

void surface_key(struct surface *s, uint32_t evdev_code, bool down)
{
	pthread_mutex_lock(&s->input_lock);
	if (s->has_input && s->input.key)
		s->input.key(s->input.opaque, evdev_code, down);
	pthread_mutex_unlock(&s->input_lock);
}

void surface_pointer(struct surface *s, int32_t x, int32_t y, uint32_t buttons)
{
	pthread_mutex_lock(&s->input_lock);
	if (s->has_input && s->input.pointer)
		s->input.pointer(s->input.opaque, x, y, buttons);
	pthread_mutex_unlock(&s->input_lock);
}

void surface_wheel(struct surface *s, int32_t dy, int32_t dx)
{
	pthread_mutex_lock(&s->input_lock);
	if (s->has_input && s->input.wheel)
		s->input.wheel(s->input.opaque, dy, dx);
	pthread_mutex_unlock(&s->input_lock);
}

void surface_request_size(struct surface *s, uint32_t width, uint32_t height)
{
	pthread_mutex_lock(&s->input_lock);
	if (s->has_input && s->input.resize)
		s->input.resize(s->input.opaque, width, height);
	pthread_mutex_unlock(&s->input_lock);
}

struct surface_viewer *surface_viewer_add(struct surface *s)
{
	struct surface_viewer *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->wake_fd = fd_move_high(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (v->wake_fd < 0) {
		log_error("display: cannot create a viewer's eventfd: %s", strerror(errno));
		free(v);
		return NULL;
	}
	v->s = s;
	/* A new viewer starts with everything: the frame, the cursor, where it is. */
	v->resized = true;
	pthread_mutex_lock(&s->lock);
	v->cursor_changed = s->cursor_set;
	v->cursor_moved = s->cursor_set || s->cursor_visible;
	v->next = s->viewers;
	s->viewers = v;
	viewer_wake(v);
	pthread_mutex_unlock(&s->lock);
	return v;
}

void surface_viewer_remove(struct surface_viewer *v)
{
	if (!v)
		return;
	struct surface *s = v->s;
	pthread_mutex_lock(&s->lock);
	for (struct surface_viewer **p = &s->viewers; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	viewer_free(v);
}

int surface_viewer_wake_fd(const struct surface_viewer *v)
{
	return v->wake_fd;
}

/* Under s->lock: copies rectangle r of the surface into the viewer's frame. */
static void viewer_copy(struct surface_viewer *v, const struct surface *s, const struct surface_rect *r)
{
	size_t row_bytes = (size_t)r->width * 4;
	for (uint32_t row = r->y; row < r->y + r->height; row++)
		memcpy(v->frame + ((size_t)row * v->frame_width + r->x) * 4,
		       s->pixels + (size_t)row * s->stride + (size_t)r->x * 4, row_bytes);
}

/* Under s->lock: the viewer shows the surface's shared picture, at no cost of its own. */
static void viewer_show_picture(struct surface_viewer *v, struct surface *s)
{
	if (v->picture != s->picture) {
		surface_picture_unref(v->picture);
		v->picture = surface_picture_ref(s->picture);
	}
	free(v->frame);
	v->frame = NULL;
	v->frame_width = s->width;
	v->frame_height = s->height;
}

/* Under s->lock: a frame buffer of the surface's size for the viewer. */
static int viewer_fit_frame(struct surface_viewer *v, const struct surface *s)
{
	if (v->frame_width == s->width && v->frame_height == s->height && (v->frame || !s->width))
		return 0;
	uint8_t *frame = NULL;
	if (s->width && s->height) {
		frame = malloc((size_t)s->width * s->height * 4);
		if (!frame)
			return -ENOMEM;
	}
	free(v->frame);
	v->frame = frame;
	v->frame_width = s->width;
	v->frame_height = s->height;
	return 0;
}

bool surface_viewer_take(struct surface_viewer *v, struct surface_update *u)
{
	struct surface *s = v->s;
	memset(u, 0, sizeof(*u));
	pthread_mutex_lock(&s->lock);
	uint64_t count;
	/* Drained under the lock, where every wake is written, so a wake never
	 * outlives the state it announced. */
	ssize_t n = read(v->wake_fd, &count, sizeof(count));
	(void)n;
	bool any = v->resized || v->nrects || v->cursor_changed || v->cursor_moved;
	/* The surface was copied on write since the viewer showed its picture:
	 * the same pixels but for the damage, so the whole frame is copied and
	 * only the damage reported. */
	bool leave_picture = !v->resized && v->nrects && v->picture && v->picture != s->picture;
	if (v->resized && s->picture) {
		viewer_show_picture(v, s);
		v->nrects = 0;
		v->rects[v->nrects++] = (struct surface_rect){0, 0, s->width, s->height};
	} else if (v->resized || leave_picture) {
		if (viewer_fit_frame(v, s) < 0) {
			pthread_mutex_unlock(&s->lock);
			log_error("display: no memory for a viewer's %ux%u frame", s->width, s->height);
			return false;
		}
		surface_picture_unref(v->picture);
		v->picture = NULL;
		struct surface_rect whole = {0, 0, s->width, s->height};
		if (leave_picture) {
			viewer_copy(v, s, &whole);
		} else {
			v->nrects = 0;
			if (s->width && s->height)
				v->rects[v->nrects++] = whole;
		}
	}
	for (uint32_t i = 0; !v->picture && !leave_picture && i < v->nrects; i++)
		viewer_copy(v, s, &v->rects[i]);
	u->resized = v->resized;
	u->nrects = v->nrects;
	memcpy(u->rects, v->rects, sizeof(u->rects[0]) * v->nrects);
	if (v->cursor_changed) {
		memcpy(v->cursor, s->cursor, (size_t)s->cursor_width * s->cursor_height * 4);
		u->cursor_changed = true;
		u->cursor_width = s->cursor_width;
		u->cursor_height = s->cursor_height;
		u->cursor_hot_x = s->cursor_hot_x;
		u->cursor_hot_y = s->cursor_hot_y;
	}
	u->cursor_argb = v->cursor;
	u->cursor_moved = v->cursor_moved;
	u->cursor_x = s->cursor_x;
	u->cursor_y = s->cursor_y;
	u->cursor_visible = s->cursor_visible;
	u->frame = s->frame;
	v->resized = false;
	v->nrects = 0;
	v->cursor_changed = false;
	v->cursor_moved = false;
	pthread_mutex_unlock(&s->lock);
	u->width = v->frame_width;
	u->height = v->frame_height;
	u->stride = v->frame_width * 4;
	u->pixels = v->picture ? v->picture->pixels : v->frame;
	u->picture = v->picture;
	return any;
}
