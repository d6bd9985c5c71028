/* scene.c — what the desktop shows: the layout, the Notes text and its
 * wrapped rows, and painting any rectangle of the screen. Every pixel is a
 * function of the scene alone, so repainting a damaged rectangle gives what
 * a full repaint would. */
#include "desktop.h"
#include "guest.h"

#define TASKBAR_H     34
#define TASKBAR_PAD   12
#define AVATAR_SIZE   22
#define TITLE_H       30
#define BODY_PAD      10
#define CARET_W       2
#define SHADOW_RADIUS 22
#define SHADOW_DROP   6
#define SHADOW_ALPHA  120
#define TAB_STOP      4

static const uint32_t background_stops[3] = {0x1d3c6e, 0x2f6c93, 0x5a4a86};
#define TASKBAR_COLOR 0x0c121c
#define TASKBAR_ALPHA 200
#define TASKBAR_TEXT  0xf2f5f9
#define CLOCK_TEXT    0xdde4ee
#define AVATAR_COLOR  0x3d8bfd
#define WINDOW_BORDER 0x1c2433
#define TITLE_TOP     0x4a5873
#define TITLE_BOTTOM  0x36425a
#define TITLE_TEXT    0xffffff
#define BODY_COLOR    0xffffff
#define TEXT_COLOR    0x1e2430
#define CARET_COLOR   0x2f6fd6

static const char default_label[] = "vdi";

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static size_t string_length(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* The baseline that centres a line of f vertically in a box at y, h high. */
static int32_t centred_baseline(const struct font *f, int32_t y, int32_t h)
{
	return y + (h - f->line_height) / 2 + f->ascent;
}

static int32_t visible_row_capacity(const struct scene *s)
{
	int32_t n = (s->body.h - 2 * BODY_PAD) / font_regular.line_height;
	return clamp32(n, 0, NOTES_ROWS_MAX);
}

static struct rect row_rect(const struct scene *s, int32_t slot)
{
	int32_t lh = font_regular.line_height;
	return rect_intersect((struct rect){s->body.x, s->body.y + BODY_PAD + slot * lh, s->body.w, lh}, s->body);
}

/* 1/64 pixel a row's text may take, leaving room for the caret. */
static int32_t wrap_width64(const struct scene *s)
{
	int32_t w = s->body.w - 2 * BODY_PAD - CARET_W - 1;
	return w > 0 ? w * 64 : 64;
}

/* The end of the row that starts at pos in the logical line ending at end:
 * after the last space that fits, or after the last character that fits
 * when a word is wider than the row; never empty while pos < end. */
static uint32_t row_end(const struct scene *s, uint32_t pos, uint32_t end, int32_t limit64)
{
	int32_t width = 0;
	uint32_t i = pos, after_space = pos;
	while (i < end) {
		int32_t advance = font_glyph(&font_regular, s->text[i])->advance;
		if (width + advance > limit64 && i > pos)
			break;
		width += advance;
		if (s->text[i++] == ' ')
			after_space = i;
	}
	return i < end && after_space > pos ? after_space : i;
}

static uint32_t line_rows(const struct scene *s, uint32_t start, uint32_t end, int32_t limit64)
{
	uint32_t n = 0;
	do {
		start = row_end(s, start, end, limit64);
		n++;
	} while (start < end);
	return n;
}

static uint32_t line_start(const struct scene *s, uint32_t end)
{
	while (end > 0 && s->text[end - 1] != '\n')
		end--;
	return end;
}

static uint32_t line_end(const struct scene *s, uint32_t start)
{
	while (start < s->text_len && s->text[start] != '\n')
		start++;
	return start;
}

/* Wraps only the end of the text: walks back over logical lines until they
 * fill the body, then wraps forward from there, so the work follows what is
 * shown, not how much was typed. */
static void layout_rows(struct scene *s)
{
	int32_t capacity = visible_row_capacity(s);
	int32_t limit64 = wrap_width64(s);
	s->row_count = 0;
	if (capacity == 0)
		return;

	uint32_t first = line_start(s, s->text_len), total = 0;
	for (;;) {
		total += line_rows(s, first, line_end(s, first), limit64);
		if (total >= (uint32_t)capacity || first == 0)
			break;
		first = line_start(s, first - 1);
	}

	uint32_t skip = total > (uint32_t)capacity ? total - (uint32_t)capacity : 0;
	uint32_t pos = first;
	for (;;) {
		uint32_t end = line_end(s, pos);
		do {
			uint32_t next = row_end(s, pos, end, limit64);
			if (skip)
				skip--;
			else
				s->rows[s->row_count++] = (struct notes_row){pos, next - pos};
			pos = next;
		} while (pos < end);
		if (end >= s->text_len)
			break;
		pos = end + 1;
	}
}

void scene_resize(struct scene *s, int32_t width, int32_t height)
{
	s->width = width;
	s->height = height;
	s->taskbar = (struct rect){0, height - TASKBAR_H, width, TASKBAR_H};

	int32_t clock_w = font_width(&font_regular, "00:00:00", 8) + 2 * TASKBAR_PAD;
	s->clock_box = (struct rect){width - clock_w, s->taskbar.y, clock_w, TASKBAR_H};
	s->label_box = (struct rect){0, s->taskbar.y, s->clock_box.x - TASKBAR_PAD, TASKBAR_H};

	/* The window keeps clear of the screen edges and the taskbar, by the
	 * shadow's reach where there is room. */
	int32_t avail_h = height - TASKBAR_H;
	int32_t ww = clamp32(width * 55 / 100, 360, 760);
	int32_t wh = clamp32(avail_h * 60 / 100, 220, 520);
	ww = ww < width - 2 * SHADOW_RADIUS ? ww : width - 16;
	wh = wh < avail_h - 2 * SHADOW_RADIUS ? wh : avail_h - 16;
	s->window = (struct rect){(width - ww) / 2, (avail_h - wh) / 2, ww, wh};
	s->title = (struct rect){s->window.x + 1, s->window.y + 1, ww - 2, TITLE_H};
	s->body = (struct rect){s->window.x + 1, s->window.y + 1 + TITLE_H, ww - 2, wh - 2 - TITLE_H};
	layout_rows(s);
}

void scene_init(struct scene *s, int32_t width, int32_t height)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->clock, "--:--:--", 8);
	scene_resize(s, width, height);
}

static struct rect shadow_caster(const struct scene *s)
{
	return (struct rect){s->window.x, s->window.y + SHADOW_DROP, s->window.w, s->window.h};
}

static void paint_taskbar(const struct scene *s, struct surface *fb, struct rect clip)
{
	struct rect bar = s->taskbar;
	if (rect_empty(rect_intersect(clip, bar)))
		return;
	draw_blend_fill(fb, clip, bar, TASKBAR_COLOR, TASKBAR_ALPHA);
	draw_blend_fill(fb, clip, (struct rect){bar.x, bar.y, bar.w, 1}, 0xffffff, 40);

	const char *label = s->label[0] ? s->label : default_label;
	struct rect label_clip = rect_intersect(clip, s->label_box);
	if (!rect_empty(label_clip)) {
		struct rect avatar = {TASKBAR_PAD, bar.y + (TASKBAR_H - AVATAR_SIZE) / 2, AVATAR_SIZE, AVATAR_SIZE};
		draw_disc(fb, label_clip, avatar, AVATAR_COLOR);
		char initial = label[0] >= 'a' && label[0] <= 'z' ? (char)(label[0] - 'a' + 'A') : label[0];
		int32_t iw = font_width(&font_bold, &initial, 1);
		font_draw(fb, label_clip, &font_bold, avatar.x + (AVATAR_SIZE - iw) / 2,
			  centred_baseline(&font_bold, avatar.y, AVATAR_SIZE), &initial, 1, TASKBAR_TEXT);
		font_draw(fb, label_clip, &font_bold, avatar.x + AVATAR_SIZE + 8,
			  centred_baseline(&font_bold, bar.y, TASKBAR_H), label, string_length(label), TASKBAR_TEXT);
	}

	struct rect clock_clip = rect_intersect(clip, s->clock_box);
	if (!rect_empty(clock_clip)) {
		int32_t w = font_width(&font_regular, s->clock, sizeof(s->clock));
		font_draw(fb, clock_clip, &font_regular, s->clock_box.x + s->clock_box.w - TASKBAR_PAD - w,
			  centred_baseline(&font_regular, bar.y, TASKBAR_H), s->clock, sizeof(s->clock), CLOCK_TEXT);
	}
}

/* Everything outside the window: background, the window's shadow, taskbar. */
static void paint_desktop(const struct scene *s, struct surface *fb, struct rect clip)
{
	draw_gradient_diagonal(fb, clip, (struct rect){0, 0, s->width, s->height}, background_stops);
	draw_shadow(fb, clip, shadow_caster(s), SHADOW_RADIUS, SHADOW_ALPHA);
	paint_taskbar(s, fb, clip);
}

static void paint_window(const struct scene *s, struct surface *fb, struct rect clip)
{
	draw_frame(fb, clip, s->window, WINDOW_BORDER);
	draw_gradient_vertical(fb, clip, s->title, TITLE_TOP, TITLE_BOTTOM);
	struct rect title_clip = rect_intersect(clip, s->title);
	if (!rect_empty(title_clip))
		font_draw(fb, title_clip, &font_bold, s->title.x + 14,
			  centred_baseline(&font_bold, s->title.y, TITLE_H), "Notes", 5, TITLE_TEXT);

	struct rect body_clip = rect_intersect(clip, s->body);
	if (rect_empty(body_clip))
		return;
	draw_fill(fb, body_clip, s->body, BODY_COLOR);
	int32_t x = s->body.x + BODY_PAD;
	for (int32_t i = 0; i < s->row_count; i++) {
		struct rect r = row_rect(s, i);
		struct rect row_clip = rect_intersect(body_clip, r);
		if (rect_empty(row_clip))
			continue;
		int32_t baseline = r.y + font_regular.ascent;
		const struct notes_row *row = &s->rows[i];
		int32_t end =
		    font_draw(fb, row_clip, &font_regular, x, baseline, s->text + row->start, row->len, TEXT_COLOR);
		if (i == s->row_count - 1)
			draw_fill(fb, row_clip, (struct rect){end + 1, r.y + 1, CARET_W, r.h - 2}, CARET_COLOR);
	}
}

void scene_paint(const struct scene *s, struct surface *fb, struct rect clip)
{
	clip = rect_intersect(clip, (struct rect){0, 0, s->width, s->height});
	struct rect outside[4];
	int n = rect_subtract(clip, s->window, outside);
	for (int k = 0; k < n; k++)
		paint_desktop(s, fb, outside[k]);
	if (!rect_empty(rect_intersect(clip, s->window)))
		paint_window(s, fb, rect_intersect(clip, s->window));
}

void scene_set_label(struct scene *s, const char *label, struct damage *d)
{
	size_t len = string_length(label);
	if (len > SCENE_LABEL_MAX)
		len = SCENE_LABEL_MAX;
	if (len == string_length(s->label) && !memcmp(label, s->label, len))
		return;
	memcpy(s->label, label, len);
	s->label[len] = '\0';
	damage_add(d, s->label_box);
}

void scene_set_clock(struct scene *s, unsigned hour, unsigned minute, unsigned second, struct damage *d)
{
	unsigned parts[3] = {hour % 100, minute % 100, second % 100};
	char clock[8] = {0, 0, ':', 0, 0, ':', 0, 0};
	for (int k = 0; k < 3; k++) {
		clock[k * 3] = (char)('0' + parts[k] / 10);
		clock[k * 3 + 1] = (char)('0' + parts[k] % 10);
	}
	if (!memcmp(clock, s->clock, sizeof(clock)))
		return;
	memcpy(s->clock, clock, sizeof(clock));
	damage_add(d, s->clock_box);
}

/* Room for one more byte: when the text is full the oldest line goes. */
static bool make_room(struct scene *s, bool *shifted)
{
	if (s->text_len < NOTES_CAP)
		return true;
	uint32_t first_end = line_end(s, 0);
	if (first_end >= s->text_len)
		return false;
	memmove(s->text, s->text + first_end + 1, s->text_len - first_end - 1);
	s->text_len -= first_end + 1;
	*shifted = true;
	return true;
}

static bool append(struct scene *s, char c, bool *shifted)
{
	if (!make_room(s, shifted))
		return false;
	s->text[s->text_len++] = c;
	return true;
}

static bool rows_equal(const struct notes_row *a, const struct notes_row *b)
{
	return a->start == b->start && a->len == b->len;
}

/* Damages the row slots whose text or caret the edit changed: a row that
 * reaches the first changed byte, or whose bounds moved. */
static void damage_rows(struct scene *s, const struct notes_row *old_rows, int32_t old_count, uint32_t changed_from,
			struct damage *d)
{
	int32_t slots = old_count > s->row_count ? old_count : s->row_count;
	for (int32_t i = 0; i < slots; i++) {
		bool in_old = i < old_count, in_new = i < s->row_count;
		bool changed = in_old != in_new || (in_old && !rows_equal(&old_rows[i], &s->rows[i])) ||
			       (in_new && s->rows[i].start + s->rows[i].len >= changed_from) ||
			       (in_old && old_rows[i].start + old_rows[i].len >= changed_from);
		if (changed)
			damage_add(d, row_rect(s, i));
	}
}

enum scene_edit scene_type(struct scene *s, char c, struct damage *d)
{
	struct notes_row old_rows[NOTES_ROWS_MAX];
	int32_t old_count = s->row_count;
	memcpy(old_rows, s->rows, sizeof(old_rows[0]) * (size_t)old_count);
	uint32_t old_len = s->text_len;
	bool shifted = false;
	enum scene_edit edit = SCENE_EDIT_TEXT;

	if (c == '\b') {
		if (s->text_len == 0)
			return SCENE_EDIT_NONE;
		s->text_len--;
	} else if (c == '\n') {
		if (!append(s, '\n', &shifted))
			return SCENE_EDIT_NONE;
		edit = SCENE_EDIT_LINE;
	} else if (c == '\t') {
		/* Tabs become spaces to the next stop, so the text stays what is
		 * shown and logged. */
		uint32_t column = s->text_len - line_start(s, s->text_len);
		for (uint32_t n = TAB_STOP - column % TAB_STOP; n > 0; n--)
			if (!append(s, ' ', &shifted))
				break;
	} else if (c >= 0x20 && c < 0x7f) {
		if (!append(s, c, &shifted))
			return SCENE_EDIT_NONE;
	} else {
		return SCENE_EDIT_NONE;
	}
	if (!shifted && s->text_len == old_len)
		return SCENE_EDIT_NONE;

	layout_rows(s);
	if (shifted)
		damage_add(d, s->body);
	else
		damage_rows(s, old_rows, old_count, old_len < s->text_len ? old_len : s->text_len, d);
	return edit;
}

bool scene_line(const struct scene *s, unsigned from_end, const char **text, size_t *len)
{
	uint32_t end = s->text_len;
	for (;;) {
		uint32_t start = line_start(s, end);
		if (from_end == 0) {
			*text = s->text + start;
			*len = end - start;
			return true;
		}
		if (start == 0)
			return false;
		end = start - 1;
		from_end--;
	}
}
