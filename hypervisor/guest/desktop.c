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
static bool have_sound;

#define BELL_HZ          880
#define BELL_FRAMES      (SOUND_RATE / 5)      /* 200 ms */
#define TEST_TONE_FRAMES (SOUND_RATE * 3 / 20) /* 150 ms each */
#define TEST_RECORD      SOUND_RECORD_MAX
#define TEST_SKIP        (SOUND_RATE / 10) /* the first 100 ms of a recording settle */
static const uint32_t test_tones[] = {440, 660, 880};
static int16_t sound_buffer[3 * TEST_TONE_FRAMES * 2];
_Static_assert(BELL_FRAMES <= 3 * TEST_TONE_FRAMES, "the bell fits the sound buffer");

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

/* Notes' bell (Ctrl+G): a 200 ms tone at 880 Hz. */
static void ring_bell(void)
{
	uint32_t phase = 0;
	tone_fill(sound_buffer, BELL_FRAMES, 2, BELL_HZ, 12000, &phase);
	int r = have_sound ? sound_play(sound_buffer, BELL_FRAMES) : -19;
	if (r < 0)
		guest_log("bell: no sound (error %d)", r);
	else
		guest_log("bell %u Hz %u ms", BELL_HZ, BELL_FRAMES * 1000 / SOUND_RATE);
}

/* The sound test (Ctrl+T): plays a known sequence and records the
 * microphone meanwhile; report_recording() says what it heard. */
static void sound_test(void)
{
	if (!have_sound) {
		guest_log("sound test: no sound device");
		return;
	}
	uint32_t phase = 0;
	for (unsigned i = 0; i < 3; i++)
		tone_fill(sound_buffer + i * TEST_TONE_FRAMES * 2, TEST_TONE_FRAMES, 2, test_tones[i], 12000, &phase);
	int r = sound_play(sound_buffer, 3 * TEST_TONE_FRAMES);
	int rr = sound_record(TEST_RECORD);
	guest_log("sound test: playing 440 660 880 Hz (%d), recording %u ms (%d)", r, TEST_RECORD * 1000 / SOUND_RATE,
		  rr);
}

/* The dominant frequency by zero crossings (going up through a hysteresis
 * band, so noise near zero does not count), and the peak level. */
static void report_recording(const int16_t *pcm, uint32_t frames)
{
	int32_t peak = 0;
	for (uint32_t i = TEST_SKIP; i < frames; i++) {
		int32_t v = pcm[i] < 0 ? -pcm[i] : pcm[i];
		if (v > peak)
			peak = v;
	}
	int32_t band = peak / 4;
	uint32_t crossings = 0, first = 0, last = 0;
	bool low = false;
	for (uint32_t i = TEST_SKIP; i < frames && band > 0; i++) {
		if (pcm[i] < -band) {
			low = true;
		} else if (low && pcm[i] > band) {
			low = false;
			if (!crossings)
				first = i;
			last = i;
			crossings++;
		}
	}
	uint32_t hz = crossings > 1
			  ? (uint32_t)(((uint64_t)(crossings - 1) * SOUND_RATE + (last - first) / 2) / (last - first))
			  : 0;
	guest_log("sound test: microphone %u Hz, peak %d", hz, peak);
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
	if (c == '\a' && ev->value == 1) {
		ring_bell();
		return;
	}
	if (c == 0x14 && ev->value == 1) {
		sound_test();
		return;
	}
	if (!c || (c < 0x20 && c != '\n' && c != '\b' && c != '\t'))
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

	err = sound_init();
	have_sound = err >= 0;
	if (!have_sound && err != -19)
		guest_log("desktop: no sound (error %d)", err);

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
		const int16_t *recorded;
		uint32_t frames;
		if (have_sound && (events & EVENT_SOUND) && sound_poll(&recorded, &frames))
			report_recording(recorded, frames);
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
