/* desktop.c — the desktop shell's main loop, in CPL3: sets the display mode,
 * turns input events, ticks and display changes into scene changes and log
 * lines, repaints and flushes only what changed, and sleeps in sys_wait()
 * in between. */
#include "desktop.h"
#include "drivers.h"
#include "guest.h"

#define DEFAULT_WIDTH  1024
#define DEFAULT_HEIGHT 768
/* Keeps every coordinate and size product well inside int32/int64 math. */
#define DISPLAY_MAX    16384

static struct scene scene;
static struct damage damage;
static struct surface fb;
static struct keymap keymap;
static uint32_t cursor_image[CURSOR_SIZE * CURSOR_SIZE];
static int32_t pointer_x, pointer_y;
static bool pointer_moved;
static uint32_t label_generation;
static bool flush_failed;

static bool set_mode(uint32_t width, uint32_t height)
{
	uint32_t *px = gpu_set_mode(width, height);
	if (!px) {
		guest_log("desktop: display mode %ux%u failed", width, height);
		return false;
	}
	fb = (struct surface){px, (int32_t)width, (int32_t)height};
	input_set_display_size(width, height);
	return true;
}

static void flush_rect(struct rect r)
{
	if (gpu_flush((uint32_t)r.x, (uint32_t)r.y, (uint32_t)r.w, (uint32_t)r.h) < 0 && !flush_failed) {
		flush_failed = true; /* once: a broken display would flood the log */
		guest_log("desktop: flush of %dx%d at %d,%d failed", r.w, r.h, r.x, r.y);
	}
}

static void paint_all(void)
{
	struct rect screen = {0, 0, fb.width, fb.height};
	scene_paint(&scene, &fb, screen);
	flush_rect(screen);
	damage.count = 0;
}

static void flush_damage(void)
{
	struct rect screen = {0, 0, fb.width, fb.height};
	for (int k = 0; k < damage.count; k++) {
		struct rect r = rect_intersect(damage.r[k], screen);
		if (rect_empty(r))
			continue;
		scene_paint(&scene, &fb, r);
		flush_rect(r);
	}
	damage.count = 0;
}

static void read_label(void)
{
	char label[LABEL_MAX + 1];
	uint32_t generation = label_read(label, sizeof(label));
	if (generation == label_generation)
		return;
	label_generation = generation;
	scene_set_label(&scene, label, &damage);
}

static void log_label(void)
{
	guest_log("label \"%s\"", scene.label);
}

static void update_clock(void)
{
	struct wall_time t;
	time_now(&t);
	scene_set_clock(&scene, t.hour, t.minute, t.second, &damage);
}

/* Log lines say what is on screen, so what they report is flushed first. */
static void log_text_line(const char *what, unsigned from_end)
{
	const char *text;
	size_t len;
	flush_damage();
	if (scene_line(&scene, from_end, &text, &len))
		guest_log("%s \"%.*s\"", what, (int)len, text);
}

static const char *button_name(uint16_t code)
{
	switch (code) {
	case BTN_LEFT:
		return "left";
	case BTN_RIGHT:
		return "right";
	case BTN_MIDDLE:
		return "middle";
	default:
		return NULL;
	}
}

static void on_key(const struct input_event *ev)
{
	const char *button = button_name(ev->code);
	if (button) {
		if (ev->value == 0 || ev->value == 1)
			guest_log("button %s %s at %d,%d", button, ev->value ? "down" : "up", pointer_x, pointer_y);
		return;
	}
	char c = keymap_event(&keymap, ev->code, ev->value);
	if (!c)
		return;
	switch (scene_type(&scene, c, &damage)) {
	case SCENE_EDIT_TEXT:
		log_text_line("text", 0);
		break;
	case SCENE_EDIT_LINE:
		log_text_line("line", 1);
		break;
	case SCENE_EDIT_NONE:
		break;
	}
}

static int32_t clamp_to(int32_t v, int32_t size)
{
	return v < 0 ? 0 : v >= size ? size - 1 : v;
}

static void on_input(const struct input_event *ev)
{
	switch (ev->type) {
	case EV_KEY:
		on_key(ev);
		break;
	case EV_ABS:
		if (ev->code == ABS_X)
			pointer_x = clamp_to(ev->value, fb.width);
		else if (ev->code == ABS_Y)
			pointer_y = clamp_to(ev->value, fb.height);
		else
			break;
		pointer_moved = true;
		break;
	case EV_REL:
		if (ev->code == REL_WHEEL)
			guest_log("wheel %d", ev->value);
		else if (ev->code == REL_HWHEEL)
			guest_log("hwheel %d", ev->value);
		break;
	case EV_SYN:
		/* X and Y of one report make one move */
		if (pointer_moved)
			gpu_cursor_move((uint32_t)pointer_x, (uint32_t)pointer_y);
		pointer_moved = false;
		break;
	default:
		break;
	}
}

static void on_display_change(void)
{
	uint32_t width, height;
	if (!gpu_poll_resize(&width, &height))
		return;
	if (width == 0 || height == 0 || width > DISPLAY_MAX || height > DISPLAY_MAX) {
		guest_log("desktop: ignoring display size %ux%u", width, height);
		return;
	}
	if (width == (uint32_t)fb.width && height == (uint32_t)fb.height)
		return;
	/* The old resource may be gone after a failure: set the old size anew. */
	if (!set_mode(width, height) && !set_mode((uint32_t)fb.width, (uint32_t)fb.height))
		return;
	scene_resize(&scene, fb.width, fb.height);
	paint_all();
	pointer_x = clamp_to(pointer_x, fb.width);
	pointer_y = clamp_to(pointer_y, fb.height);
	gpu_cursor_move((uint32_t)pointer_x, (uint32_t)pointer_y);
	guest_log("display %dx%d", fb.width, fb.height);
}

static _Noreturn void idle_forever(void)
{
	for (;;)
		sys_wait();
}

_Noreturn void desktop_main(void)
{
	int err = gpu_init();
	if (err < 0) {
		guest_log("desktop: no display (error %d)", err);
		idle_forever();
	}
	err = input_init();
	bool have_input = err >= 0;
	if (!have_input)
		guest_log("desktop: no input (error %d)", err);

	uint32_t width, height;
	gpu_display_size(&width, &height);
	if (width == 0 || height == 0 || width > DISPLAY_MAX || height > DISPLAY_MAX) {
		width = DEFAULT_WIDTH;
		height = DEFAULT_HEIGHT;
	}
	if (!set_mode(width, height))
		idle_forever();

	scene_init(&scene, fb.width, fb.height);
	/* A new label interrupts: the taskbar shows it at once (a user who
	 * just logged in; an instant clone just restored, whose clock also
	 * needs the time now), not at the next clock tick. */
	label_notify(VECTOR_LABEL);
	read_label();
	update_clock();
	paint_all();
	pointer_x = fb.width / 2;
	pointer_y = fb.height / 2;
	cursor_draw(cursor_image);
	err = gpu_cursor_set(cursor_image, CURSOR_HOT_X, CURSOR_HOT_Y, (uint32_t)pointer_x, (uint32_t)pointer_y);
	if (err < 0)
		guest_log("desktop: no pointer image (error %d)", err);
	guest_log("desktop ready %dx%d", fb.width, fb.height);
	if (label_generation)
		log_label();

	for (;;) {
		uint32_t events = sys_wait();
		if (events & EVENT_GPU)
			on_display_change();
		struct input_event ev;
		while (have_input && input_next(&ev))
			on_input(&ev);
		if (events & (EVENT_TIMER | EVENT_LABEL)) {
			update_clock();
			uint32_t seen = label_generation;
			read_label();
			if (label_generation != seen) {
				flush_damage();
				/* Tests tell a label shown at once from one a tick later. */
				if (events & EVENT_LABEL)
					guest_log("label interrupt");
				log_label();
			}
		}
		flush_damage();
	}
}
