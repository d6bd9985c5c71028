/* desktop.h — the desktop shell's internals: rectangles and damage, drawing
 * into a framebuffer, text, the keymap, the pointer image and the scene (what
 * the desktop shows). All of it but desktop.c is pure: no driver calls, so it
 * also builds on the host for looking at what it draws. */
#ifndef VDI_GUEST_DESKTOP_H
#define VDI_GUEST_DESKTOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* draw.c — rectangles. Empty when w or h is not positive. */
struct rect {
	int32_t x, y, w, h;
};
bool rect_empty(struct rect r);
struct rect rect_intersect(struct rect a, struct rect b);
struct rect rect_union(struct rect a, struct rect b);
/* a minus b as at most 4 disjoint rectangles; returns how many. */
int rect_subtract(struct rect a, struct rect b, struct rect out[4]);

/* Regions to repaint and flush, never overlapping: a new one absorbs those
 * it touches, and when the list is full it joins the one whose bounding box
 * grows least. */
#define DAMAGE_MAX 8
struct damage {
	int count;
	struct rect r[DAMAGE_MAX];
};
void damage_add(struct damage *d, struct rect r);

/* A framebuffer: XRGB8888 (bytes B, G, R, unused), stride width * 4. Colours
 * are 0xRRGGBB. Every draw_ call paints only inside clip and the surface. */
struct surface {
	uint32_t *px;
	int32_t width, height;
};
void draw_fill(struct surface *s, struct rect clip, struct rect r, uint32_t color);
/* alpha 0 (nothing) .. 255 (opaque) */
void draw_blend_fill(struct surface *s, struct rect clip, struct rect r, uint32_t color, uint32_t alpha);
void draw_frame(struct surface *s, struct rect clip, struct rect r, uint32_t color);
void draw_gradient_vertical(struct surface *s, struct rect clip, struct rect r, uint32_t top, uint32_t bottom);
/* Three colour stops along the diagonal of area (top-left, middle,
 * bottom-right), dithered so large areas show no bands. */
void draw_gradient_diagonal(struct surface *s, struct rect clip, struct rect area, const uint32_t stops[3]);
/* A soft shadow of caster reaching radius pixels out, darkest (alpha) at
 * and inside the caster: clip keeps it off what is drawn on top. */
void draw_shadow(struct surface *s, struct rect clip, struct rect caster, int32_t radius, uint32_t alpha);
/* A filled circle inscribed in the square box, antialiased. */
void draw_disc(struct surface *s, struct rect clip, struct rect box, uint32_t color);
/* Blends color into the surface with per-pixel coverage (width x height
 * bytes, row after row) placed at x, y. */
void draw_coverage(struct surface *s, struct rect clip, int32_t x, int32_t y, int32_t width, int32_t height,
		   const uint8_t *coverage, uint32_t color);

/* font.c, with the glyphs in the generated font_data.c (fontgen.py). */
#define FONT_FIRST  32
#define FONT_LAST   126
#define FONT_GLYPHS (FONT_LAST - FONT_FIRST + 1)
struct glyph {
	uint8_t width, height; /* of the coverage bitmap */
	int8_t left, top;      /* bitmap's offset from the pen on the baseline */
	uint16_t advance;      /* 1/64 pixel */
	uint32_t offset;       /* into the font's coverage */
};
struct font {
	uint8_t size;
	uint8_t ascent, descent, line_height;
	const struct glyph *glyphs; /* FONT_FIRST .. FONT_LAST */
	const uint8_t *coverage;
};
extern const struct font font_regular, font_bold;
/* Characters outside FONT_FIRST .. FONT_LAST draw as '?'. */
const struct glyph *font_glyph(const struct font *f, char c);
/* Width in pixels of text drawn from a pen at a whole pixel. */
int32_t font_width(const struct font *f, const char *text, size_t len);
/* Draws text with its baseline at y; returns the pen's x after it. */
int32_t font_draw(struct surface *s, struct rect clip, const struct font *f, int32_t x, int32_t y, const char *text,
		  size_t len, uint32_t color);

/* keymap.c — evdev key events to characters, US layout. */
struct keymap {
	bool shift_left, shift_right, caps_lock, ctrl_left, ctrl_right;
};
/* The character a key event types (on press and autorepeat): printable
 * ASCII, '\n' for Enter, '\b' for Backspace, '\t' for Tab, a control
 * character for Ctrl with a letter (1 to 26); 0 for anything else
 * (releases, modifiers, keys that type nothing). */
char keymap_event(struct keymap *k, uint16_t code, int32_t value);

/* cursor.c — the pointer: a black-outlined white arrow, antialiased. */
#define CURSOR_SIZE  64
#define CURSOR_HOT_X 1
#define CURSOR_HOT_Y 1
/* Fills CURSOR_SIZE * CURSOR_SIZE pixels, bytes B, G, R, A (not premultiplied). */
void cursor_draw(uint32_t *argb);

/* scene.c — the desktop: background, taskbar (label, clock) and the Notes
 * window with what was typed. Changes add what they alter to a damage list;
 * scene_paint() repaints any rectangle of it. */
#define SCENE_LABEL_MAX 255
#define NOTES_CAP       8192 /* bytes of text kept; the oldest lines go first */
#define NOTES_ROWS_MAX  128  /* rows the Notes body shows at most (2160p) */
struct notes_row {
	uint32_t start, len; /* bytes of the text */
};
struct scene {
	int32_t width, height;
	struct rect taskbar, label_box, clock_box, window, title, body;
	char label[SCENE_LABEL_MAX + 1];
	char clock[8]; /* HH:MM:SS, not terminated */
	char text[NOTES_CAP];
	uint32_t text_len;
	/* The wrapped rows shown, top to bottom: the end of the text. */
	struct notes_row rows[NOTES_ROWS_MAX];
	int32_t row_count;
};
enum scene_edit {
	SCENE_EDIT_NONE, /* the key changed nothing */
	SCENE_EDIT_TEXT, /* the current line changed */
	SCENE_EDIT_LINE, /* Enter: a line was finished */
};
void scene_init(struct scene *s, int32_t width, int32_t height);
/* Lays everything out anew for a display size; keeps the text. */
void scene_resize(struct scene *s, int32_t width, int32_t height);
void scene_paint(const struct scene *s, struct surface *fb, struct rect clip);
/* An empty label shows as "vdi". */
void scene_set_label(struct scene *s, const char *label, struct damage *d);
void scene_set_clock(struct scene *s, unsigned hour, unsigned minute, unsigned second, struct damage *d);
enum scene_edit scene_type(struct scene *s, char c, struct damage *d);
/* A logical line of the text: 0 the one being typed, 1 the one before... */
bool scene_line(const struct scene *s, unsigned from_end, const char **text, size_t *len);

#endif
