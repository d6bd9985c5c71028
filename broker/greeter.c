/* greeter.c — the login screen: state (fields, focus, message, busy, pool
 * list), its layout, painting any rectangle of it into the surface, and the
 * keyboard and pointer input that edits it. A change repaints and damages
 * only what it alters. */
#include "greeter.h"

#include "../common/log.h"
#include "../display/display.h"
#include "text.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest screen a client may ask for, as for a desktop (8K UHD fits). */
#define GREETER_AREA_MAX ((uint64_t)8192 * 4096)

/* Colours, 0xRRGGBB. */
#define COL_BG_0         0x1b2a3a
#define COL_BG_1         0x22405a
#define COL_BG_2         0x2d6076
#define COL_PANEL        0xf8f9fb
#define COL_TITLE        0x1b2a3a
#define COL_HOST         0x6b7785
#define COL_LABEL        0x3d4a57
#define COL_FIELD        0xffffff
#define COL_FIELD_BUSY   0xeef1f4
#define COL_BORDER       0xc3cbd5
#define COL_FOCUS        0x3b7be8
#define COL_FOCUS_RING   0xa9c3f2
#define COL_TEXT         0x1b2a3a
#define COL_TEXT_BUSY    0x8a96a3
#define COL_BUTTON       0x2f6fde
#define COL_BUTTON_HOVER 0x2962c8
#define COL_BUTTON_DOWN  0x2454ad
#define COL_BUTTON_BUSY  0x7f9fd6
#define COL_BUTTON_TEXT  0xffffff
#define COL_ERROR        0xc62828
#define COL_INFO         0x3b5b7a
#define COL_ROW_LINE     0xe6e9ee
#define COL_SCROLL       0xb5bec9

enum greeter_mode { MODE_LOGIN, MODE_POOLS };
enum greeter_focus { FOCUS_USER, FOCUS_PASSWORD, FOCUS_BUTTON };

/* Where everything is for the current size and mode. */
struct layout {
	int32_t width, height;
	bool compact; /* a small screen: tighter spacing, a one-line title */
	struct text_rect panel, inner;
	int32_t title_base, host_base;
	int32_t label1_base, label2_base; /* "User name" / "Password", or the list's label */
	struct text_rect user_field, pass_field, list, button, message;
	int32_t row_height, rows_visible;
};

struct greeter {
	pthread_mutex_t lock; /* everything below; taken before the surface's own */
	struct surface *surface;
	struct greeter_ops ops;
	char host[64];
	struct layout lay;
	enum greeter_mode mode;
	enum greeter_focus focus;
	bool busy;
	bool pristine;  /* never repainted: the surface shows the shared picture */
	unsigned phase; /* busy dots, advanced by greeter_tick() */
	bool shift_left, shift_right, ctrl_left, ctrl_right, alt_left, alt_right, caps_lock, caps_held;
	uint32_t buttons;
	bool button_pressed, button_hover;
	enum greeter_message_kind message_kind;
	char message[GREETER_MESSAGE_MAX + 1];
	char user[GREETER_USER_MAX + 1];
	size_t user_len;
	char password[GREETER_PASSWORD_MAX + 1];
	size_t password_len;
	char pools[GREETER_POOLS_MAX][GREETER_POOL_NAME_MAX + 1];
	size_t npools, selected, first_row;
};

/* ---- drawing primitives ---- */

static struct text_rect rect_intersect(struct text_rect a, struct text_rect b)
{
	int32_t x0 = a.x > b.x ? a.x : b.x, y0 = a.y > b.y ? a.y : b.y;
	int32_t x1 = a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w;
	int32_t y1 = a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h;
	if (x1 <= x0 || y1 <= y0)
		return (struct text_rect){0, 0, 0, 0};
	return (struct text_rect){x0, y0, x1 - x0, y1 - y0};
}

static bool rect_empty(struct text_rect r)
{
	return r.w <= 0 || r.h <= 0;
}

static struct text_rect rect_grow(struct text_rect r, int32_t by)
{
	return (struct text_rect){r.x - by, r.y - by, r.w + 2 * by, r.h + 2 * by};
}

static bool rect_has(struct text_rect r, int32_t x, int32_t y)
{
	return x >= r.x && y >= r.y && x < r.x + r.w && y < r.y + r.h;
}

/* The part of r the canvas lets us draw. */
static struct text_rect canvas_area(const struct text_canvas *c, struct text_rect r)
{
	return rect_intersect(rect_intersect(r, c->clip), (struct text_rect){0, 0, c->width, c->height});
}

static uint8_t *pixel(const struct text_canvas *c, int32_t x, int32_t y)
{
	return c->px + (size_t)y * c->stride + (size_t)x * 4;
}

static void blend(uint8_t *p, uint32_t color, float alpha)
{
	for (int k = 0; k < 3; k++) {
		float src = (float)((color >> (8 * k)) & 0xff);
		p[k] = (uint8_t)(src * alpha + p[k] * (1.0f - alpha) + 0.5f);
	}
}

static float absf(float v)
{
	return v < 0 ? -v : v;
}

static float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Square root for distances (v >= 0) without libm, which the programs do
 * not link: Newton's method from an exponent-halving first guess, exact to
 * well under a pixel's 1/256 for screen-sized values. */
static float root(float v)
{
	if (v <= 0)
		return 0;
	union {
		float f;
		uint32_t u;
	} guess = {.f = v};
	guess.u = (guess.u >> 1) + 0x1fc00000u;
	float r = guess.f;
	for (int i = 0; i < 4; i++)
		r = 0.5f * (r + v / r);
	return r;
}

/* Signed distance from a pixel centre to a rounded rectangle (negative inside). */
static float round_rect_distance(struct text_rect r, float radius, float px, float py)
{
	float hw = r.w / 2.0f, hh = r.h / 2.0f;
	float qx = absf(px - (r.x + hw)) - (hw - radius);
	float qy = absf(py - (r.y + hh)) - (hh - radius);
	float ox = qx > 0 ? qx : 0, oy = qy > 0 ? qy : 0;
	float in = qx > qy ? qx : qy;
	return root(ox * ox + oy * oy) + (in < 0 ? in : 0) - radius;
}

/* A rectangle with antialiased round corners, blended at alpha (0..1). */
static void fill_round(const struct text_canvas *c, struct text_rect r, int32_t radius, uint32_t color, float alpha)
{
	struct text_rect a = canvas_area(c, r);
	if (radius * 2 > r.w)
		radius = r.w / 2;
	if (radius * 2 > r.h)
		radius = r.h / 2;
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		bool corner_row = y < r.y + radius || y >= r.y + r.h - radius;
		for (int32_t x = a.x; x < a.x + a.w; x++) {
			float cover = 1.0f;
			if (corner_row && (x < r.x + radius || x >= r.x + r.w - radius))
				cover = clampf(0.5f - round_rect_distance(r, (float)radius, x + 0.5f, y + 0.5f), 0, 1);
			if (cover > 0)
				blend(pixel(c, x, y), color, cover * alpha);
		}
	}
}

/* A soft shadow under caster, `blur` pixels wide, moved down by dy. */
static void fill_shadow(const struct text_canvas *c, struct text_rect caster, int32_t radius, int32_t blur, int32_t dy,
			float alpha)
{
	caster.y += dy;
	struct text_rect a = canvas_area(c, rect_grow(caster, blur));
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		for (int32_t x = a.x; x < a.x + a.w; x++) {
			float d = round_rect_distance(caster, (float)radius, x + 0.5f, y + 0.5f);
			if (d >= blur)
				continue;
			float t = d <= 0 ? 0 : d / blur;
			blend(pixel(c, x, y), 0x000000, alpha * (1 - t) * (1 - t));
		}
	}
}

static void fill_disc(const struct text_canvas *c, int32_t cx, int32_t cy, int32_t diameter, uint32_t color,
		      float alpha)
{
	struct text_rect box = {cx - diameter / 2, cy - diameter / 2, diameter, diameter};
	fill_round(c, box, diameter / 2, color, alpha);
}

/* A vertical-ish diagonal gradient through three stops, dithered (4x4
 * ordered) so large screens show no bands; a pure function of the pixel,
 * so any rectangle repaints exactly as the whole screen would. */
static void paint_background(const struct text_canvas *c, int32_t width, int32_t height)
{
	static const uint8_t bayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
	static const uint32_t stops[3] = {COL_BG_0, COL_BG_1, COL_BG_2};
	struct text_rect a = canvas_area(c, (struct text_rect){0, 0, width, height});
	for (int32_t y = a.y; y < a.y + a.h; y++) {
		uint8_t *p = pixel(c, a.x, y);
		for (int32_t x = a.x; x < a.x + a.w; x++, p += 4) {
			float t = 0.35f * (x + 0.5f) / width + 0.65f * (y + 0.5f) / height;
			int i = t < 0.5f ? 0 : 1;
			float f = clampf(t * 2 - i, 0, 1);
			float dither = (bayer[y & 3][x & 3] + 0.5f) / 16.0f;
			for (int k = 0; k < 3; k++) {
				float c0 = (float)((stops[i] >> (8 * k)) & 0xff);
				float c1 = (float)((stops[i + 1] >> (8 * k)) & 0xff);
				p[k] = (uint8_t)clampf(c0 + (c1 - c0) * f + dither - 0.5f + 0.5f, 0, 255);
			}
			p[3] = 0;
		}
	}
}

/* Text cut to max_width, ending in "..." when it had to be cut. */
static void draw_text_fit(const struct text_canvas *c, enum text_face face, int32_t x, int32_t y, const char *text,
			  int32_t max_width, uint32_t color)
{
	size_t len = strlen(text);
	if (text_width(face, 1, text, len) <= max_width) {
		text_draw(c, face, 1, x, y, text, len, color);
		return;
	}
	int32_t dots = text_width(face, 1, "...", 3);
	size_t n = text_fit(face, 1, text, len, max_width - dots);
	x = text_draw(c, face, 1, x, y, text, n, color);
	text_draw(c, face, 1, x, y, "...", 3, color);
}

static void draw_text_centred(const struct text_canvas *c, enum text_face face, int scale, struct text_rect box,
			      int32_t y, const char *text, uint32_t color)
{
	size_t len = strlen(text);
	int32_t w = text_width(face, scale, text, len);
	if (w > box.w) {
		draw_text_fit(c, face, box.x, y, text, box.w, color);
		return;
	}
	text_draw(c, face, scale, box.x + (box.w - w) / 2, y, text, len, color);
}

/* ---- layout ---- */

static void layout_shift(struct layout *l, int32_t dy)
{
	struct text_rect *rects[] = {&l->panel, &l->inner,  &l->user_field, &l->pass_field,
				     &l->list,  &l->button, &l->message};
	for (size_t i = 0; i < sizeof(rects) / sizeof(rects[0]); i++)
		rects[i]->y += dy;
	l->title_base += dy;
	l->host_base += dy;
	l->label1_base += dy;
	l->label2_base += dy;
}

/* Lays the panel out from y = 0; returns its height. */
static int32_t layout_flow(struct layout *l, const struct greeter *g, bool compact, int32_t rows)
{
	int32_t pad_x = compact ? 24 : 36, pad_top = compact ? 18 : 30, pad_bottom = compact ? 12 : 22;
	int32_t field_h = compact ? 32 : 36, button_h = compact ? 34 : 38;
	int32_t label_h = 23, field_gap = compact ? 8 : 14, button_gap = compact ? 14 : 24;
	int32_t panel_w = l->width - 24 < 380 ? l->width - 24 : 380;
	l->compact = compact;
	l->panel = (struct text_rect){(l->width - panel_w) / 2, 0, panel_w, 0};
	l->inner = (struct text_rect){l->panel.x + pad_x, 0, panel_w - 2 * pad_x, 0};
	int32_t x = l->inner.x, w = l->inner.w, y = pad_top;
	if (compact) {
		l->title_base = y + text_ascent(TEXT_BOLD, 1);
		l->host_base = l->title_base;
		y = l->title_base + text_descent(TEXT_BOLD, 1) + 12;
	} else {
		l->title_base = y + text_ascent(TEXT_BOLD, 2);
		l->host_base = l->title_base + text_descent(TEXT_BOLD, 2) + 16;
		y = l->host_base + text_descent(TEXT_REGULAR, 1) + 20;
	}
	l->label1_base = y + text_ascent(TEXT_REGULAR, 1);
	y += label_h;
	if (g->mode == MODE_LOGIN) {
		l->user_field = (struct text_rect){x, y, w, field_h};
		y += field_h + field_gap;
		l->label2_base = y + text_ascent(TEXT_REGULAR, 1);
		y += label_h;
		l->pass_field = (struct text_rect){x, y, w, field_h};
		y += field_h;
		l->list = (struct text_rect){0, 0, 0, 0};
	} else {
		l->row_height = compact ? 30 : 34;
		l->rows_visible = rows;
		l->list = (struct text_rect){x, y, w, rows * l->row_height + 2};
		y += l->list.h;
		l->user_field = l->pass_field = (struct text_rect){0, 0, 0, 0};
	}
	y += button_gap;
	l->button = (struct text_rect){x, y, w, button_h};
	y += button_h + (compact ? 6 : 10);
	l->message = (struct text_rect){x, y, w, 20};
	y += 20 + pad_bottom;
	l->panel.h = y;
	l->inner.h = y;
	return y;
}

/* Under g->lock: the layout for the surface's size and the mode. */
static void layout_compute(struct greeter *g, int32_t width, int32_t height)
{
	struct layout *l = &g->lay;
	memset(l, 0, sizeof(*l));
	l->width = width;
	l->height = height;
	int32_t rows = g->npools < 6 ? (int32_t)g->npools : 6;
	int32_t h = layout_flow(l, g, false, rows);
	if (h > height - 32)
		h = layout_flow(l, g, true, rows);
	/* a long list on a short screen shows fewer rows and scrolls */
	while (g->mode == MODE_POOLS && h > height - 16 && rows > 1)
		h = layout_flow(l, g, true, --rows);
	layout_shift(l, h < height ? (height - h) / 2 : 0);
	if (g->selected < g->first_row)
		g->first_row = g->selected;
	if (l->rows_visible && g->selected >= g->first_row + (size_t)l->rows_visible)
		g->first_row = g->selected + 1 - (size_t)l->rows_visible;
}

/* ---- painting ---- */

static void paint_field(const struct greeter *g, const struct text_canvas *c, struct text_rect f, bool secret)
{
	bool focused = !g->busy && g->focus == (secret ? FOCUS_PASSWORD : FOCUS_USER);
	int32_t border = focused ? 2 : 1;
	fill_round(c, f, 6, focused ? COL_FOCUS : COL_BORDER, 1);
	fill_round(c, rect_grow(f, -border), 6 - border, g->busy ? COL_FIELD_BUSY : COL_FIELD, 1);
	struct text_rect inner = {f.x + 10, f.y + 2, f.w - 20, f.h - 4};
	struct text_canvas ic = *c;
	ic.clip = rect_intersect(c->clip, inner);
	if (rect_empty(ic.clip))
		return;
	uint32_t color = g->busy ? COL_TEXT_BUSY : COL_TEXT;
	int32_t line = text_ascent(TEXT_REGULAR, 1) + text_descent(TEXT_REGULAR, 1);
	int32_t top = f.y + (f.h - line) / 2;
	int32_t end;
	if (secret) {
		/* bullets only: neither the characters nor anything derived from them but their count */
		const int32_t pitch = 11, dot = 7;
		int32_t total = (int32_t)g->password_len * pitch;
		int32_t x = inner.x;
		if (total + 4 > inner.w)
			x = inner.x + inner.w - 4 - total;
		for (size_t i = 0; i < g->password_len; i++) {
			int32_t cx = x + (int32_t)i * pitch + pitch / 2;
			if (cx + dot >= ic.clip.x && cx - dot < ic.clip.x + ic.clip.w)
				fill_disc(&ic, cx, top + line / 2, dot, color, 1);
		}
		end = x + total + 1;
	} else {
		int32_t w = text_width(TEXT_REGULAR, 1, g->user, g->user_len);
		int32_t x = inner.x;
		if (w + 4 > inner.w)
			x = inner.x + inner.w - 4 - w;
		end = text_draw(&ic, TEXT_REGULAR, 1, x, top + text_ascent(TEXT_REGULAR, 1), g->user, g->user_len,
				color) +
		      1;
	}
	if (focused)
		fill_round(&ic, (struct text_rect){end, top, 2, line}, 0, COL_FOCUS, 1);
}

static void paint_button(const struct greeter *g, const struct text_canvas *c, const char *label)
{
	const struct layout *l = &g->lay;
	struct text_rect b = l->button;
	if (!g->busy && g->focus == FOCUS_BUTTON && g->mode == MODE_LOGIN)
		fill_round(c, rect_grow(b, 3), 9, COL_FOCUS_RING, 1);
	uint32_t color = g->busy             ? COL_BUTTON_BUSY
			 : g->button_pressed ? COL_BUTTON_DOWN
			 : g->button_hover   ? COL_BUTTON_HOVER
					     : COL_BUTTON;
	fill_round(c, b, 6, color, 1);
	int32_t mid = b.y + b.h / 2;
	if (g->busy) {
		for (int i = 0; i < 3; i++)
			fill_disc(c, b.x + b.w / 2 + (i - 1) * 16, mid, 8, COL_BUTTON_TEXT,
				  g->phase % 3 == (unsigned)i ? 1.0f : 0.4f);
		return;
	}
	int32_t base = mid + (text_ascent(TEXT_BOLD, 1) - text_descent(TEXT_BOLD, 1)) / 2;
	draw_text_centred(c, TEXT_BOLD, 1, b, base, label, COL_BUTTON_TEXT);
}

static void paint_list(const struct greeter *g, const struct text_canvas *c)
{
	const struct layout *l = &g->lay;
	fill_round(c, l->list, 6, COL_BORDER, 1);
	struct text_rect in = rect_grow(l->list, -1);
	fill_round(c, in, 5, g->busy ? COL_FIELD_BUSY : COL_FIELD, 1);
	struct text_canvas lc = *c;
	lc.clip = rect_intersect(c->clip, in);
	bool scrolls = g->npools > (size_t)l->rows_visible;
	for (int32_t r = 0; r < l->rows_visible; r++) {
		size_t i = g->first_row + (size_t)r;
		if (i >= g->npools)
			break;
		struct text_rect row = {in.x, in.y + r * l->row_height, in.w - (scrolls ? 8 : 0), l->row_height};
		bool sel = i == g->selected;
		if (sel)
			fill_round(&lc, rect_grow(row, -3), 4, g->busy ? COL_BUTTON_BUSY : COL_FOCUS, 1);
		else if (r > 0)
			fill_round(&lc, (struct text_rect){row.x + 8, row.y, row.w - 16, 1}, 0, COL_ROW_LINE, 1);
		int32_t base = row.y + row.h / 2 + (text_ascent(TEXT_REGULAR, 1) - text_descent(TEXT_REGULAR, 1)) / 2;
		draw_text_fit(&lc, sel ? TEXT_BOLD : TEXT_REGULAR, row.x + 12, base, g->pools[i], row.w - 24,
			      sel ? COL_BUTTON_TEXT : (g->busy ? COL_TEXT_BUSY : COL_TEXT));
	}
	if (scrolls) {
		int32_t track = in.h - 8;
		int32_t thumb = track * l->rows_visible / (int32_t)g->npools;
		int32_t at = track * (int32_t)g->first_row / (int32_t)g->npools;
		fill_round(&lc, (struct text_rect){in.x + in.w - 7, in.y + 4 + at, 4, thumb}, 2, COL_SCROLL, 1);
	}
}

/* Under g->lock: paints everything inside clip into px (the layout's size). */
static void paint(const struct greeter *g, uint8_t *px, struct text_rect clip)
{
	const struct layout *l = &g->lay;
	struct text_canvas c = {px, l->width, l->height, (uint32_t)l->width * 4, {0, 0, 0, 0}};
	c.clip = rect_intersect(clip, (struct text_rect){0, 0, l->width, l->height});
	if (rect_empty(c.clip) || !c.px)
		return;
	paint_background(&c, l->width, l->height);
	if (!rect_empty(rect_intersect(c.clip, rect_grow(l->panel, 40)))) {
		fill_shadow(&c, l->panel, 12, 28, 8, 0.35f);
		fill_round(&c, l->panel, 12, COL_PANEL, 1);
	}
	if (!rect_empty(rect_intersect(c.clip, l->panel))) {
		if (l->compact) {
			int32_t x = text_draw(&c, TEXT_BOLD, 1, l->inner.x, l->title_base, "vdi", 3, COL_TITLE);
			struct text_canvas hc = c;
			hc.clip =
			    rect_intersect(c.clip, (struct text_rect){x + 10, l->panel.y,
								      l->inner.x + l->inner.w - x - 10, l->panel.h});
			draw_text_fit(&hc, TEXT_REGULAR, x + 10, l->host_base, g->host,
				      l->inner.x + l->inner.w - x - 10, COL_HOST);
		} else {
			draw_text_centred(&c, TEXT_BOLD, 2, l->inner, l->title_base, "vdi", COL_TITLE);
			draw_text_centred(&c, TEXT_REGULAR, 1, l->inner, l->host_base, g->host, COL_HOST);
		}
		if (g->mode == MODE_LOGIN) {
			text_draw(&c, TEXT_REGULAR, 1, l->inner.x, l->label1_base, "User name", 9, COL_LABEL);
			text_draw(&c, TEXT_REGULAR, 1, l->inner.x, l->label2_base, "Password", 8, COL_LABEL);
			paint_field(g, &c, l->user_field, false);
			paint_field(g, &c, l->pass_field, true);
			paint_button(g, &c, "Log in");
		} else {
			draw_text_fit(&c, TEXT_REGULAR, l->inner.x, l->label1_base, "Choose a desktop pool", l->inner.w,
				      COL_LABEL);
			paint_list(g, &c);
			paint_button(g, &c, "Connect");
		}
		if (g->message[0]) {
			bool error = g->message_kind == GREETER_ERROR;
			draw_text_centred(&c, error ? TEXT_BOLD : TEXT_REGULAR, 1, l->message, l->message.y + 15,
					  g->message, error ? COL_ERROR : COL_INFO);
		}
	}
}

/* Under g->lock: repaints everything inside clip and damages it. The first
 * repaint gives the greeter pixels of its own (the shared picture copied). */
static void repaint(struct greeter *g, struct text_rect clip)
{
	const struct layout *l = &g->lay;
	clip = rect_intersect(clip, (struct text_rect){0, 0, l->width, l->height});
	uint8_t *px = rect_empty(clip) ? NULL : surface_pixels(g->surface);
	if (!px)
		return;
	g->pristine = false;
	paint(g, px, clip);
	surface_damage(g->surface, (uint32_t)clip.x, (uint32_t)clip.y, (uint32_t)clip.w, (uint32_t)clip.h);
}

/* ---- the pristine login screen, one picture a size shared by every greeter showing it ---- */

#define PICTURES_MAX 8 /* sizes kept while no greeter shows them */

static struct {
	pthread_mutex_t lock;
	struct surface_picture *pictures[PICTURES_MAX];
	char host[PICTURES_MAX][64];
} pristine = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Under pristine.lock: forgets pictures nobody else holds. */
static void pristine_prune(void)
{
	for (size_t i = 0; i < PICTURES_MAX; i++) {
		if (pristine.pictures[i] && surface_picture_refs(pristine.pictures[i]) == 1) {
			surface_picture_unref(pristine.pictures[i]);
			pristine.pictures[i] = NULL;
		}
	}
}

/* The login screen as a greeter just created shows it, at g's layout (g
 * pristine: empty fields, user name focused, no message); a reference. A
 * size shown by no greeter is painted anew, the others shared. */
static struct surface_picture *pristine_picture(const struct greeter *g)
{
	uint32_t w = (uint32_t)g->lay.width, h = (uint32_t)g->lay.height;
	pthread_mutex_lock(&pristine.lock);
	struct surface_picture *p = NULL;
	for (size_t i = 0; i < PICTURES_MAX && !p; i++)
		if (pristine.pictures[i] && surface_picture_width(pristine.pictures[i]) == w &&
		    surface_picture_height(pristine.pictures[i]) == h && !strcmp(pristine.host[i], g->host))
			p = surface_picture_ref(pristine.pictures[i]);
	if (!p && (p = surface_picture_new(w, h))) {
		paint(g, surface_picture_pixels(p), (struct text_rect){0, 0, g->lay.width, g->lay.height});
		pristine_prune();
		for (size_t i = 0; i < PICTURES_MAX; i++) {
			if (!pristine.pictures[i]) {
				pristine.pictures[i] = surface_picture_ref(p);
				snprintf(pristine.host[i], sizeof(pristine.host[i]), "%s", g->host);
				break;
			}
		}
	}
	pthread_mutex_unlock(&pristine.lock);
	return p;
}

static void repaint_all(struct greeter *g)
{
	repaint(g, (struct text_rect){0, 0, g->lay.width, g->lay.height});
}

/* A field or the button with its focus ring. */
static void repaint_widget(struct greeter *g, struct text_rect r)
{
	repaint(g, rect_grow(r, 4));
}

static void repaint_focus(struct greeter *g, enum greeter_focus f)
{
	repaint_widget(g, f == FOCUS_USER       ? g->lay.user_field
			  : f == FOCUS_PASSWORD ? g->lay.pass_field
						: g->lay.button);
}

static void set_focus(struct greeter *g, enum greeter_focus f)
{
	if (g->focus == f)
		return;
	enum greeter_focus old = g->focus;
	g->focus = f;
	repaint_focus(g, old);
	repaint_focus(g, f);
}

/* ---- the pointer image ---- */

/* A classic arrow: 'X' black outline, 'o' white fill, ' ' transparent. */
static const char *const arrow[] = {
    "X           ", "XX          ", "XoX         ", "XooX        ", "XoooX       ", "XooooX      ", "XoooooX     ",
    "XooooooX    ", "XoooooooX   ", "XooooooooX  ", "XoooooooooX ", "XooooooXXXXX", "XoooXooX    ", "XooXXooX    ",
    "XoX  XooX   ", "XX   XooX   ", "X     XooX  ", "      XooX  ", "       XX   ",
};

static void set_arrow_cursor(struct surface *s)
{
	enum { W = 12, H = sizeof(arrow) / sizeof(arrow[0]) };
	uint8_t argb[W * H * 4];
	for (int y = 0; y < H; y++) {
		for (int x = 0; x < W; x++) {
			uint8_t *p = argb + (y * W + x) * 4;
			char ch = arrow[y][x];
			uint8_t v = ch == 'o' ? 0xff : 0x00;
			p[0] = p[1] = p[2] = v;
			p[3] = ch == ' ' ? 0 : 0xff;
		}
	}
	surface_set_cursor(s, argb, W, H, 0, 0);
}

/* ---- input ---- */

/* US layout: unshifted and shifted character of each key that types one. */
static const char keymap[KEY_KPDOT + 1][2] = {
    [KEY_1] = {'1', '!'},          [KEY_2] = {'2', '@'},           [KEY_3] = {'3', '#'},
    [KEY_4] = {'4', '$'},          [KEY_5] = {'5', '%'},           [KEY_6] = {'6', '^'},
    [KEY_7] = {'7', '&'},          [KEY_8] = {'8', '*'},           [KEY_9] = {'9', '('},
    [KEY_0] = {'0', ')'},          [KEY_MINUS] = {'-', '_'},       [KEY_EQUAL] = {'=', '+'},
    [KEY_Q] = {'q', 'Q'},          [KEY_W] = {'w', 'W'},           [KEY_E] = {'e', 'E'},
    [KEY_R] = {'r', 'R'},          [KEY_T] = {'t', 'T'},           [KEY_Y] = {'y', 'Y'},
    [KEY_U] = {'u', 'U'},          [KEY_I] = {'i', 'I'},           [KEY_O] = {'o', 'O'},
    [KEY_P] = {'p', 'P'},          [KEY_LEFTBRACE] = {'[', '{'},   [KEY_RIGHTBRACE] = {']', '}'},
    [KEY_A] = {'a', 'A'},          [KEY_S] = {'s', 'S'},           [KEY_D] = {'d', 'D'},
    [KEY_F] = {'f', 'F'},          [KEY_G] = {'g', 'G'},           [KEY_H] = {'h', 'H'},
    [KEY_J] = {'j', 'J'},          [KEY_K] = {'k', 'K'},           [KEY_L] = {'l', 'L'},
    [KEY_SEMICOLON] = {';', ':'},  [KEY_APOSTROPHE] = {'\'', '"'}, [KEY_GRAVE] = {'`', '~'},
    [KEY_BACKSLASH] = {'\\', '|'}, [KEY_Z] = {'z', 'Z'},           [KEY_X] = {'x', 'X'},
    [KEY_C] = {'c', 'C'},          [KEY_V] = {'v', 'V'},           [KEY_B] = {'b', 'B'},
    [KEY_N] = {'n', 'N'},          [KEY_M] = {'m', 'M'},           [KEY_COMMA] = {',', '<'},
    [KEY_DOT] = {'.', '>'},        [KEY_SLASH] = {'/', '?'},       [KEY_SPACE] = {' ', ' '},
    [KEY_KPASTERISK] = {'*', '*'}, [KEY_KP7] = {'7', '7'},         [KEY_KP8] = {'8', '8'},
    [KEY_KP9] = {'9', '9'},        [KEY_KPMINUS] = {'-', '-'},     [KEY_KP4] = {'4', '4'},
    [KEY_KP5] = {'5', '5'},        [KEY_KP6] = {'6', '6'},         [KEY_KPPLUS] = {'+', '+'},
    [KEY_KP1] = {'1', '1'},        [KEY_KP2] = {'2', '2'},         [KEY_KP3] = {'3', '3'},
    [KEY_KP0] = {'0', '0'},        [KEY_KPDOT] = {'.', '.'},
};

static char key_char(const struct greeter *g, uint32_t code)
{
	if (code == KEY_KPSLASH)
		return '/';
	if (code >= sizeof(keymap) / sizeof(keymap[0]) || !keymap[code][0])
		return 0;
	bool shift = g->shift_left || g->shift_right;
	char lower = keymap[code][0];
	if (lower >= 'a' && lower <= 'z' && g->caps_lock)
		shift = !shift;
	return keymap[code][shift ? 1 : 0];
}

/* What a key or click asks for once the lock is dropped. */
enum greeter_action { ACTION_NONE, ACTION_SUBMIT, ACTION_CHOOSE };

struct greeter_request {
	enum greeter_action action;
	char user[GREETER_USER_MAX + 1];
	char secret[GREETER_PASSWORD_MAX + 1];
	char pool[GREETER_POOL_NAME_MAX + 1];
};

/* Under g->lock: takes the credentials out of the fields, wiping the
 * password there so it lives only in the request until submit returns. */
static void take_submit(struct greeter *g, struct greeter_request *req)
{
	if (!g->user_len) {
		set_focus(g, FOCUS_USER);
		return;
	}
	req->action = ACTION_SUBMIT;
	memcpy(req->user, g->user, g->user_len + 1);
	memcpy(req->secret, g->password, g->password_len + 1);
	explicit_bzero(g->password, sizeof(g->password));
	g->password_len = 0;
	g->button_pressed = false;
	set_focus(g, FOCUS_PASSWORD);
	repaint_widget(g, g->lay.pass_field);
	repaint_widget(g, g->lay.button);
}

static void take_choose(struct greeter *g, struct greeter_request *req)
{
	if (g->selected >= g->npools)
		return;
	req->action = ACTION_CHOOSE;
	memcpy(req->pool, g->pools[g->selected], sizeof(req->pool));
	if (g->button_pressed) {
		g->button_pressed = false;
		repaint_widget(g, g->lay.button);
	}
}

static void run_request(struct greeter *g, struct greeter_request *req)
{
	if (req->action == ACTION_SUBMIT && g->ops.submit)
		g->ops.submit(g->ops.opaque, req->user, req->secret);
	else if (req->action == ACTION_CHOOSE && g->ops.choose)
		g->ops.choose(g->ops.opaque, req->pool);
	explicit_bzero(req->secret, sizeof(req->secret));
}

static void select_pool(struct greeter *g, size_t i)
{
	if (i >= g->npools || i == g->selected)
		return;
	g->selected = i;
	if (i < g->first_row)
		g->first_row = i;
	else if (i >= g->first_row + (size_t)g->lay.rows_visible)
		g->first_row = i + 1 - (size_t)g->lay.rows_visible;
	repaint(g, g->lay.list);
}

/* Under g->lock: a printable character, Backspace or Escape in a field. */
static void edit_field(struct greeter *g, char ch, uint32_t code)
{
	bool secret = g->focus == FOCUS_PASSWORD;
	if (g->focus == FOCUS_BUTTON) {
		if (code != KEY_ESC)
			return;
		secret = true;
	}
	char *buf = secret ? g->password : g->user;
	size_t *len = secret ? &g->password_len : &g->user_len;
	size_t max = secret ? GREETER_PASSWORD_MAX : GREETER_USER_MAX;
	if (code == KEY_ESC) {
		if (!g->password_len)
			return;
		explicit_bzero(g->password, sizeof(g->password));
		g->password_len = 0;
		repaint_widget(g, g->lay.pass_field);
		return;
	}
	if (code == KEY_BACKSPACE) {
		if (!*len)
			return;
		buf[--*len] = 0;
	} else {
		if (*len >= max)
			return;
		buf[(*len)++] = ch;
		buf[*len] = 0;
	}
	repaint_widget(g, secret ? g->lay.pass_field : g->lay.user_field);
}

static void key_login(struct greeter *g, uint32_t code, char ch, struct greeter_request *req)
{
	bool shift = g->shift_left || g->shift_right;
	switch (code) {
	case KEY_TAB:
		set_focus(g, (enum greeter_focus)((g->focus + (shift ? 2 : 1)) % 3));
		return;
	case KEY_ENTER:
	case KEY_KPENTER:
		if (g->focus == FOCUS_USER && g->user_len)
			set_focus(g, FOCUS_PASSWORD);
		else
			take_submit(g, req);
		return;
	case KEY_SPACE:
		if (g->focus == FOCUS_BUTTON) {
			take_submit(g, req);
			return;
		}
		break;
	case KEY_BACKSPACE:
	case KEY_ESC:
		edit_field(g, 0, code);
		return;
	default:
		break;
	}
	if (ch && !g->ctrl_left && !g->ctrl_right && !g->alt_left && !g->alt_right)
		edit_field(g, ch, code);
}

static void key_pools(struct greeter *g, uint32_t code, struct greeter_request *req)
{
	switch (code) {
	case KEY_UP:
		if (g->selected > 0)
			select_pool(g, g->selected - 1);
		break;
	case KEY_DOWN:
		select_pool(g, g->selected + 1);
		break;
	case KEY_HOME:
		select_pool(g, 0);
		break;
	case KEY_END:
		select_pool(g, g->npools - 1);
		break;
	case KEY_ENTER:
	case KEY_KPENTER:
	case KEY_SPACE:
		take_choose(g, req);
		break;
	default:
		break;
	}
}

static void on_key(void *opaque, uint32_t code, bool down)
{
	struct greeter *g = opaque;
	struct greeter_request req = {.action = ACTION_NONE};
	pthread_mutex_lock(&g->lock);
	switch (code) {
	case KEY_LEFTSHIFT:
		g->shift_left = down;
		break;
	case KEY_RIGHTSHIFT:
		g->shift_right = down;
		break;
	case KEY_LEFTCTRL:
		g->ctrl_left = down;
		break;
	case KEY_RIGHTCTRL:
		g->ctrl_right = down;
		break;
	case KEY_LEFTALT:
		g->alt_left = down;
		break;
	case KEY_RIGHTALT:
		g->alt_right = down;
		break;
	case KEY_CAPSLOCK:
		/* an autorepeated press does not toggle again */
		if (down && !g->caps_held)
			g->caps_lock = !g->caps_lock;
		g->caps_held = down;
		break;
	default:
		if (!down || g->busy)
			break;
		if (g->mode == MODE_LOGIN)
			key_login(g, code, key_char(g, code), &req);
		else
			key_pools(g, code, &req);
		break;
	}
	pthread_mutex_unlock(&g->lock);
	run_request(g, &req);
}

static void on_pointer(void *opaque, int32_t x, int32_t y, uint32_t buttons)
{
	struct greeter *g = opaque;
	struct greeter_request req = {.action = ACTION_NONE};
	pthread_mutex_lock(&g->lock);
	const struct layout *l = &g->lay;
	bool pressed = (buttons & 1) && !(g->buttons & 1);
	bool released = !(buttons & 1) && (g->buttons & 1);
	g->buttons = buttons;
	bool on_button = rect_has(l->button, x, y);
	bool hover = on_button && !g->busy;
	bool was_pressed = g->button_pressed;
	if (!g->busy && pressed) {
		if (on_button)
			g->button_pressed = true;
		else if (g->mode == MODE_LOGIN && rect_has(l->user_field, x, y))
			set_focus(g, FOCUS_USER);
		else if (g->mode == MODE_LOGIN && rect_has(l->pass_field, x, y))
			set_focus(g, FOCUS_PASSWORD);
		else if (g->mode == MODE_POOLS && rect_has(rect_grow(l->list, -1), x, y) && l->row_height)
			select_pool(g, g->first_row + (size_t)((y - l->list.y - 1) / l->row_height));
	}
	if (released && g->button_pressed) {
		g->button_pressed = false;
		/* a click is a press and a release both on the button */
		if (on_button && !g->busy) {
			if (g->mode == MODE_LOGIN)
				take_submit(g, &req);
			else
				take_choose(g, &req);
		}
	}
	if (hover != g->button_hover || was_pressed != g->button_pressed) {
		g->button_hover = hover;
		repaint_widget(g, l->button);
	}
	pthread_mutex_unlock(&g->lock);
	surface_move_cursor(g->surface, x, y, true);
	run_request(g, &req);
}

static void on_wheel(void *opaque, int32_t dy, int32_t dx)
{
	struct greeter *g = opaque;
	(void)dx;
	pthread_mutex_lock(&g->lock);
	if (g->mode == MODE_POOLS && !g->busy && dy) {
		/* away from the user moves up the list */
		if (dy > 0 && g->selected > 0)
			select_pool(g, g->selected - 1);
		else if (dy < 0)
			select_pool(g, g->selected + 1);
	}
	pthread_mutex_unlock(&g->lock);
}

/* Sides clamped to the greeter's range and the area to a desktop's largest. */
static void fit_size(uint32_t *width, uint32_t *height)
{
	uint32_t w = *width, h = *height;
	w = w < GREETER_SIDE_MIN ? GREETER_SIDE_MIN : w > GREETER_SIDE_MAX ? GREETER_SIDE_MAX : w;
	h = h < GREETER_SIDE_MIN ? GREETER_SIDE_MIN : h > GREETER_SIDE_MAX ? GREETER_SIDE_MAX : h;
	if ((uint64_t)w * h > GREETER_AREA_MAX)
		h = (uint32_t)(GREETER_AREA_MAX / w);
	*width = w;
	*height = h;
}

static void on_resize(void *opaque, uint32_t width, uint32_t height)
{
	struct greeter *g = opaque;
	fit_size(&width, &height);
	pthread_mutex_lock(&g->lock);
	if ((width != (uint32_t)g->lay.width || height != (uint32_t)g->lay.height) && g->pristine) {
		int32_t old_width = g->lay.width, old_height = g->lay.height;
		layout_compute(g, (int32_t)width, (int32_t)height);
		struct surface_picture *p = pristine_picture(g);
		if (!p || surface_set_picture(g->surface, p) < 0) {
			log_warn("greeter: no memory for a %ux%u screen", width, height);
			layout_compute(g, old_width, old_height);
		}
		surface_picture_unref(p);
	} else if (width != (uint32_t)g->lay.width || height != (uint32_t)g->lay.height) {
		int err = surface_resize(g->surface, width, height);
		if (err < 0) {
			log_warn("greeter: cannot resize to %ux%u: %s", width, height, strerror(-err));
		} else {
			layout_compute(g, (int32_t)width, (int32_t)height);
			repaint_all(g);
		}
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- the interface ---- */

struct greeter *greeter_create(uint32_t width, uint32_t height, const struct greeter_ops *ops)
{
	fit_size(&width, &height);
	struct greeter *g = calloc(1, sizeof(*g));
	if (!g) {
		log_error("greeter: out of memory");
		return NULL;
	}
	if (ops)
		g->ops = *ops;
	if (gethostname(g->host, sizeof(g->host) - 1) < 0)
		g->host[0] = 0;
	g->host[sizeof(g->host) - 1] = 0;
	g->pristine = true;
	layout_compute(g, (int32_t)width, (int32_t)height);
	struct surface_picture *p = pristine_picture(g);
	g->surface = p ? surface_create_shared(p) : NULL;
	surface_picture_unref(p);
	if (!g->surface) {
		log_error("greeter: no memory for a %ux%u screen", width, height);
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	set_arrow_cursor(g->surface);
	surface_move_cursor(g->surface, (int32_t)width / 2, (int32_t)height / 2, true);
	struct surface_input_ops in = {on_key, on_pointer, on_wheel, on_resize, g};
	surface_set_input(g->surface, &in);
	return g;
}

struct surface *greeter_surface(struct greeter *g)
{
	return g->surface;
}

void greeter_message(struct greeter *g, enum greeter_message_kind kind, const char *text)
{
	pthread_mutex_lock(&g->lock);
	size_t n = 0;
	/* control characters would draw as '?': show them as spaces */
	for (; text && text[n] && n < GREETER_MESSAGE_MAX; n++)
		g->message[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7f ? ' ' : text[n];
	g->message[n] = 0;
	g->message_kind = kind;
	repaint(g, g->lay.message);
	pthread_mutex_unlock(&g->lock);
}

void greeter_busy(struct greeter *g, bool busy)
{
	pthread_mutex_lock(&g->lock);
	if (g->busy != busy) {
		g->busy = busy;
		g->phase = 0;
		g->button_pressed = false;
		repaint(g, g->lay.panel);
	}
	pthread_mutex_unlock(&g->lock);
}

void greeter_tick(struct greeter *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->busy) {
		g->phase++;
		repaint(g, g->lay.button);
	}
	pthread_mutex_unlock(&g->lock);
}

int greeter_choose_pool(struct greeter *g, const char *const *names, size_t n)
{
	if (!n || !names)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!names[i])
			return -EINVAL;
	pthread_mutex_lock(&g->lock);
	g->npools = n < GREETER_POOLS_MAX ? n : GREETER_POOLS_MAX;
	for (size_t i = 0; i < g->npools; i++) {
		size_t len = strnlen(names[i], GREETER_POOL_NAME_MAX);
		memcpy(g->pools[i], names[i], len);
		g->pools[i][len] = 0;
	}
	g->mode = MODE_POOLS;
	g->selected = g->first_row = 0;
	g->busy = false;
	g->button_pressed = false;
	layout_compute(g, g->lay.width, g->lay.height);
	repaint_all(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

void greeter_reset(struct greeter *g)
{
	pthread_mutex_lock(&g->lock);
	explicit_bzero(g->password, sizeof(g->password));
	g->password_len = 0;
	memset(g->user, 0, sizeof(g->user));
	g->user_len = 0;
	g->message[0] = 0;
	g->mode = MODE_LOGIN;
	g->focus = FOCUS_USER;
	g->busy = false;
	g->button_pressed = false;
	g->npools = g->selected = g->first_row = 0;
	layout_compute(g, g->lay.width, g->lay.height);
	repaint_all(g);
	pthread_mutex_unlock(&g->lock);
}

void greeter_destroy(struct greeter *g)
{
	if (!g)
		return;
	/* once this returns no input call is running or will start */
	surface_set_input(g->surface, NULL);
	surface_destroy(g->surface);
	/* A burst gone leaves no pictures behind (those viewers still hold go at the next prune). */
	pthread_mutex_lock(&pristine.lock);
	pristine_prune();
	pthread_mutex_unlock(&pristine.lock);
	pthread_mutex_destroy(&g->lock);
	explicit_bzero(g, sizeof(*g));
	free(g);
}
