/* drivers.h — what the desktop shell uses, all of it running in CPL3: the
 * kernel's wait call, memory, wall-clock time, the host-set label, and the
 * virtio-gpu and virtio-input drivers. The kernel (CPL0) is kept to what
 * needs privilege: descriptor tables, interrupt entry, halting. */
#ifndef VDI_GUEST_DRIVERS_H
#define VDI_GUEST_DRIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Events sys_wait() reports, one bit each. */
#define EVENT_TIMER 0x1u  /* the once-a-second tick (taskbar clock) */
#define EVENT_GPU   0x2u  /* a virtio-gpu interrupt (queue or configuration change) */
#define EVENT_INPUT 0x4u  /* a virtio-input interrupt */
#define EVENT_LABEL 0x8u  /* the host set a new label (label_notify) */
#define EVENT_SOUND 0x10u /* a virtio-snd interrupt (a buffer played or recorded) */

/* Halts the vCPU until at least one event is pending (returns at once if
 * one already is); returns the pending bits and clears them. */
uint32_t sys_wait(void);

/* Guest RAM for buffers the devices read or write (identity mapped, so the
 * address is also the guest-physical one); page aligned, zeroed, never
 * freed. NULL when RAM runs out. */
void *page_alloc(size_t bytes);

/* CMOS RTC, UTC. */
struct wall_time {
	uint8_t hour, minute, second;
};
void time_now(struct wall_time *t);

/* The label the host sets (the session's user name): vdi-vmm --label and
 * the control socket. Copies it NUL-terminated into buf (at most cap - 1
 * bytes) and returns its generation, which changes whenever the host sets
 * a new one (0: never set). Reads vdi-vmm's label ports: */
#define LABEL_PORT_GENERATION 0x520 /* 32-bit read */
#define LABEL_PORT_LENGTH     0x524 /* 32-bit read: bytes, at most LABEL_MAX */
#define LABEL_PORT_OFFSET     0x528 /* 32-bit write: where the next data read starts */
#define LABEL_PORT_DATA       0x52c /* 32-bit read: 4 bytes from the offset, which then moves on 4 */
#define LABEL_PORT_NOTIFY     0x530 /* 32-bit write: the vector raised at each new label (0: none) */
#define LABEL_MAX             255
uint32_t label_read(char *buf, size_t cap);
/* Asks for `vector` on this CPU whenever the host sets a new label. */
void label_notify(uint8_t vector);

/* virtio-gpu. gpu_init() finds the device, negotiates (EDID), sets up both
 * queues with interrupts, and reads the display size. */
int gpu_init(void);
/* The display size the host asks for (GET_DISPLAY_INFO). */
void gpu_display_size(uint32_t *width, uint32_t *height);
/* True, with the new size, when the host has changed the display size since
 * the last call (a configuration-change interrupt with a display event). */
bool gpu_poll_resize(uint32_t *width, uint32_t *height);
/* Makes a width x height framebuffer in guest RAM the scanout (a new 2D
 * resource, B8G8R8X8: bytes B, G, R, unused; stride width * 4) and returns
 * its pixels, or NULL. The previous framebuffer's resource is released. */
uint32_t *gpu_set_mode(uint32_t width, uint32_t height);
/* Sends the rectangle to the host (TRANSFER_TO_HOST_2D + RESOURCE_FLUSH)
 * and returns once the host has taken it. 0 or negative on failure. */
int gpu_flush(uint32_t x, uint32_t y, uint32_t width, uint32_t height);
/* The hardware cursor: a 64x64 image, bytes B, G, R, A (not premultiplied),
 * its hotspot, and where the hotspot is. */
int gpu_cursor_set(const uint32_t *argb, uint32_t hot_x, uint32_t hot_y, uint32_t x, uint32_t y);
int gpu_cursor_move(uint32_t x, uint32_t y);

/* virtio-input: the keyboard and the tablet. Events are Linux evdev ones;
 * tablet positions are already scaled to display pixels for the size last
 * given to input_set_display_size(). */
#define EV_SYN     0x00
#define EV_KEY     0x01
#define EV_REL     0x02
#define EV_ABS     0x03
#define ABS_X      0x00
#define ABS_Y      0x01
#define REL_WHEEL  0x08
#define REL_HWHEEL 0x06
#define BTN_LEFT   0x110
#define BTN_RIGHT  0x111
#define BTN_MIDDLE 0x112
struct input_event {
	uint16_t type;
	uint16_t code;
	int32_t value;
};
int input_init(void);
void input_set_display_size(uint32_t width, uint32_t height);
/* The next event from either device; false when none is pending. Buffers
 * go back to the device as events are taken. */
bool input_next(struct input_event *ev);

/* virtio-snd: 48 kHz, S16; output stereo, input (the microphone) mono.
 * sound_init() finds the device and sets both streams up (prepared, not
 * running: an idle desktop keeps the device's clock asleep). */
#define SOUND_RATE 48000
int sound_init(void);
/* Plays `frames` stereo frames (copied): the output stream runs until they
 * have been played, then stops. -EBUSY while something still plays. */
int sound_play(const int16_t *stereo, uint32_t frames);
/* Records `frames` mono frames (at most SOUND_RECORD_MAX) from the
 * microphone; sound_poll() says when they are in. -EBUSY while recording. */
#define SOUND_RECORD_MAX (SOUND_RATE / 2)
int sound_record(uint32_t frames);
/* Called after EVENT_SOUND: takes finished buffers, stops finished
 * streams. True once a recording is complete, with its samples. */
bool sound_poll(const int16_t **recorded, uint32_t *frames);

/* tone.c: a sine of `hz` at `amplitude` (0..32767) into `frames` frames of
 * `channels` interleaved samples, going on from *phase. */
void tone_fill(int16_t *out, uint32_t frames, uint32_t channels, uint32_t hz, int32_t amplitude, uint32_t *phase);

/* The desktop shell (desktop.c): entered in CPL3 when the command line asks
 * for no test. */
_Noreturn void desktop_main(void);

#endif
