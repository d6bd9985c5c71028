/* devices.h — the platform devices every VM has. One file per device; each
 * registers its ranges on a bus at creation and assumes the guest is hostile:
 * any value at any offset in any size must leave the device in a defined
 * state, never crash the VMM. Devices depend on a bus and callbacks only, not
 * on struct vm, so their register models are unit-testable. */
#ifndef VDI_HYPERVISOR_DEVICES_H
#define VDI_HYPERVISOR_DEVICES_H

#include "../bus.h"
#include "../snapshot.h"
#include "../vmm.h"

#include <stdint.h>

/* 16550A UART. Output bytes go to out_fd (-1: discarded). Interrupts (THR
 * empty, receive data) are raised on `gsi` through `irq` when IER enables
 * them. */
#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
struct uart;
struct uart *uart_create(struct bus *pio, uint16_t base, uint32_t gsi, struct irq_line irq, int out_fd);
/* At most `bytes` more of the guest's output reach out_fd; the rest is dropped (the guest sees the
 * port as ever), with one message when the cap is reached. */
void uart_set_output_limit(struct uart *u, uint64_t bytes);
/* Queue bytes the guest will read from RBR (console input); returns bytes
 * taken: at most the free receive FIFO space (16 bytes, 1 while the guest
 * has the FIFOs off). The caller keeps or drops the rest. */
size_t uart_receive(struct uart *uart, const uint8_t *data, size_t len);
void uart_destroy(struct uart *uart);

/* Snapshots: every device saves what the guest can observe of it into a
 * section payload (snapshot.h), and loads it back into a device created the
 * same way. A load treats the payload as hostile input: -EINVAL for a value
 * out of range or a payload of the wrong length; the VMM then refuses the
 * whole snapshot. Saves and loads run while every vCPU is parked. */
void uart_save(struct uart *uart, struct snap_buf *out);
int uart_load(struct uart *uart, struct snap_cursor *in);

/* CMOS RTC and NVRAM at ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data).
 * Time registers read the host clock (UTC) in BCD or binary and 12/24-hour
 * form as status register B selects. */
#define RTC_PORT_INDEX 0x70
struct rtc;
struct rtc *rtc_create(struct bus *pio);
void rtc_destroy(struct rtc *rtc);
/* The guest's offset from the host clock is what is saved, so a restored
 * guest's clock goes on with the host's. */
void rtc_save(struct rtc *rtc, struct snap_buf *out);
int rtc_load(struct rtc *rtc, struct snap_cursor *in);

/* i8042 keyboard controller, enough of it for a guest to find it and to pulse
 * the reset line (command 0xfe to port 0x64), which calls `reset`. */
#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD  0x64
struct i8042;
struct i8042 *i8042_create(struct bus *pio, void (*reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *kbc);
void i8042_save(struct i8042 *kbc, struct snap_buf *out);
int i8042_load(struct i8042 *kbc, struct snap_cursor *in);

/* The in-tree guest's power-off port: a 1, 2 or 4 byte write of 0 powers the
 * VM off; a non-zero value powers it off reporting that guest failure code.
 * Also sinks port 0x80 (POST codes, Linux's I/O delay). */
#define POWEROFF_PORT 0x510
#define POST_PORT     0x80
struct poweroff;
struct poweroff *poweroff_create(struct bus *pio, void (*poweroff)(void *opaque, uint32_t code), void *opaque);
void poweroff_destroy(struct poweroff *p);
/* Stateless: an empty section, so the device layout still matches. */
void poweroff_save(struct poweroff *p, struct snap_buf *out);
int poweroff_load(struct poweroff *p, struct snap_cursor *in);

/* The label port: a short text the host sets for the in-tree guest to show
 * (the session's user name). Registers at LABEL_PORT_BASE (layout: the
 * guest's drivers.h). The generation starts at 0 and moves with every set;
 * a guest that wrote a vector to the notify register gets it as an
 * interrupt (fixed delivery to APIC 0, through msi) at every set. */
#define LABEL_PORT_BASE 0x520
#define LABEL_PORT_LEN  20
#define LABEL_TEXT_MAX  256 /* bytes, including room for the guest's NUL */
struct label;
struct label *label_create(struct bus *pio, struct msi_line msi);
/* -EINVAL when longer than LABEL_TEXT_MAX - 1 bytes or holding a NUL. */
int label_set(struct label *l, const char *text, size_t len);
void label_destroy(struct label *l);
/* The generation is saved too: a label_set() after a load moves it past
 * what the restored guest has seen, so the guest picks the new text up. */
void label_save(struct label *l, struct snap_buf *out);
int label_load(struct label *l, struct snap_cursor *in);

/* PCI host bridge, configuration mechanism #1 (address at 0xcf8, data at
 * 0xcfc-0xcff). Bus 0 only. Device 00:00.0 is the host bridge itself. */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_HOST_VENDOR    0x1b36 /* Red Hat's generic PCIe host bridge id */
#define PCI_HOST_DEVICE    0x0008
#define PCI_MAX_SLOTS      32
#define PCI_CONFIG_SIZE    256

struct pci_device;
/* A device's config space hooks, for what config[] alone cannot model. Both
 * get the offset within the 256-byte space and a size of 1, 2 or 4 (never
 * crossing a dword) and run with the PCI bus lock held, so they must not
 * call pci_* functions. A write first updates config[] through writable[]
 * (BAR sizing falls out of a BAR's mask), then config_write sees the raw
 * guest value, e.g. to move a BAR. A read's value is config_read's return
 * value (low `size` bytes, little-endian); a hook that does not model that
 * offset returns the bytes of config[]. */
struct pci_device_ops {
	uint32_t (*config_read)(struct pci_device *dev, uint32_t offset, uint32_t size);
	void (*config_write)(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t size);
};
struct pci_device {
	uint8_t config[PCI_CONFIG_SIZE];   /* little-endian; guarded by the PCI bus lock once added */
	uint8_t writable[PCI_CONFIG_SIZE]; /* per-byte mask of bits the guest may change */
	const struct pci_device_ops *ops;  /* NULL: plain config space */
	void *opaque;
	int slot;
};
struct pci_bus;
struct pci_bus *pci_create(struct bus *pio);
/* Resets all of `dev` and fills a type-0 header: ids, subsystem ids (the
 * same), 24-bit class code, revision 0; command bits IO, memory, bus master
 * and INTx disable, cache line size, latency timer and interrupt line are
 * writable. Set ops and opaque afterwards. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code);
/* Puts `dev` in the first free slot and returns that slot; -ENOSPC when all
 * are taken, -EEXIST when `dev` is already on the bus. */
int pci_add_device(struct pci_bus *pci, struct pci_device *dev);
/* Takes `dev` off the bus: once this returns, no configuration cycle or
 * hook reaches it. -ENOENT when it is not on this bus. */
int pci_remove_device(struct pci_bus *pci, struct pci_device *dev);
void pci_destroy(struct pci_bus *pci);
/* The address latch and the host bridge's configuration; each device on
 * the bus saves its own configuration space. */
void pci_save(struct pci_bus *pci, struct snap_buf *out);
int pci_load(struct pci_bus *pci, struct snap_cursor *in);

/* Virtio devices on the PCI bus (virtio 1.x, modern transport only; the
 * machinery is in virtio.h). Each takes a slot, a BAR of VIRTIO_PCI_BAR_SIZE
 * bytes at bar_address (assigned by the VMM as firmware would; the guest may
 * move it), MSI-X, and INTx pin A on `gsi`. */
#define VIRTIO_PCI_BAR_SIZE 0x8000u /* a power of two */
struct virtio_pci_config {
	struct pci_bus *pci;
	struct bus *mmio;
	struct guest_memory memory;
	struct irq_line irq;
	uint32_t gsi;
	struct msi_line msi;
	uint64_t bar_address;
};

/* virtio-rng: fills the guest's buffers from getrandom(). */
struct virtio_rng;
struct virtio_rng *virtio_rng_create(const struct virtio_pci_config *cfg);
void virtio_rng_destroy(struct virtio_rng *rng);
void virtio_rng_save(struct virtio_rng *rng, struct snap_buf *out);
int virtio_rng_load(struct virtio_rng *rng, struct snap_cursor *in);

/* virtio-input: a keyboard (EV_KEY with Linux evdev key codes, EV_REP,
 * LEDs on the status queue) or an absolute tablet (EV_ABS X and Y over
 * 0..VIRTIO_TABLET_ABS_MAX, BTN_LEFT/RIGHT/MIDDLE/SIDE/EXTRA, EV_REL
 * REL_WHEEL and REL_HWHEEL). */
#define VIRTIO_TABLET_ABS_MAX 32767
enum virtio_input_kind {
	VIRTIO_INPUT_KEYBOARD = 1,
	VIRTIO_INPUT_TABLET = 2,
};
struct virtio_input_event {
	uint16_t type; /* EV_* */
	uint16_t code;
	int32_t value;
};
struct virtio_input;
struct virtio_input *virtio_input_create(const struct virtio_pci_config *cfg, enum virtio_input_kind kind);
/* Hands events to the guest (the caller ends each batch with EV_SYN
 * SYN_REPORT). Events the guest has no buffers for yet wait in a bounded
 * queue (VIRTIO_INPUT_PENDING_MAX); beyond it a batch is dropped whole and
 * -ENOBUFS returned. A device reset empties the queue, so events sent
 * before the guest driver's own reset at probe never arrive. Events whose
 * type or code the device does not declare are refused with -EINVAL.
 * Called from any thread. */
#define VIRTIO_INPUT_PENDING_MAX 1024
int virtio_input_send(struct virtio_input *input, const struct virtio_input_event *events, size_t count);
void virtio_input_destroy(struct virtio_input *input);
/* Events still waiting for guest buffers are saved with the device. */
void virtio_input_save(struct virtio_input *input, struct snap_buf *out);
int virtio_input_load(struct virtio_input *input, struct snap_cursor *in);

/* virtio-gpu, 2D, one scanout. The scanout leaves the device through these
 * callbacks (hypervisor/scanout.c implements them), called from vCPU
 * threads with the device's lock held. Pixels are XRGB8888: bytes B, G, R,
 * unused. */
struct gpu_scanout_ops {
	/* The guest set the scanout to width x height (0 x 0: disabled).
	 * Returns the surface the device copies flushed pixels into, stride
	 * width * 4, valid until the next resize; NULL if there is none (the
	 * command then fails with ERR_OUT_OF_MEMORY). */
	uint8_t *(*resize)(void *opaque, uint32_t width, uint32_t height);
	/* These pixels of the surface changed (a RESOURCE_FLUSH). */
	void (*damage)(void *opaque, uint32_t x, uint32_t y, uint32_t width, uint32_t height);
	/* A new cursor image: width x height ARGB8888 (bytes B, G, R, A), not
	 * premultiplied; the hotspot is inside it. */
	void (*cursor_image)(void *opaque, const uint8_t *argb, uint32_t width, uint32_t height, uint32_t hot_x,
			     uint32_t hot_y);
	/* The cursor's hotspot is at (x, y) on the scanout; visible false when
	 * the guest hid it. */
	void (*cursor_move)(void *opaque, int32_t x, int32_t y, bool visible);
	void *opaque;
};
#define VIRTIO_GPU_MAX_WIDTH          8192
#define VIRTIO_GPU_MAX_HEIGHT         8192
/* The largest display: two framebuffers of it (the old and the new one
 * while the guest switches modes) fit the device's 256 MiB budget. 8K UHD
 * (7680x4320) and 8192x4096 fit. */
#define VIRTIO_GPU_MAX_DISPLAY_PIXELS (8192u * 4096u)
struct virtio_gpu;
/* The display starts at width x height (GET_DISPLAY_INFO, GET_EDID). */
struct virtio_gpu *virtio_gpu_create(const struct virtio_pci_config *cfg, uint32_t width, uint32_t height,
				     const struct gpu_scanout_ops *scanout);
/* A new display size (a client's window): the guest is told through a
 * display event and picks it up with GET_DISPLAY_INFO. -EINVAL for a size
 * outside 1..VIRTIO_GPU_MAX_* or above VIRTIO_GPU_MAX_DISPLAY_PIXELS.
 * Called from any thread. */
int virtio_gpu_set_display_size(struct virtio_gpu *gpu, uint32_t width, uint32_t height);
void virtio_gpu_destroy(struct virtio_gpu *gpu);
/* Saved: the display size, every 2D resource with its host copy of the
 * pixels and its backing (as guest addresses), the scanout and the cursor.
 * A load re-creates the scanout surface through the scanout callbacks and
 * fills it from the scanned-out resource, so consumers see the screen as it
 * was, and re-sends the cursor. Guest memory must be restored first. */
void virtio_gpu_save(struct virtio_gpu *gpu, struct snap_buf *out);
int virtio_gpu_load(struct virtio_gpu *gpu, struct snap_cursor *in);

/* virtio-snd: no jacks, two PCM streams at SND_RATE, S16 little-endian:
 * stream 0 output (stereo, the desktop's sound), stream 1 input (mono, the
 * microphone). The device plays and records by its own clock, never at the
 * guest's pace: every SND_TICK_NS, virtio_snd_tick() takes the frames due
 * since the stream started from the guest's tx buffers (silence where the
 * guest fell behind) and hands them to `playback`, and fills rx buffers with
 * what `capture` gives; a buffer goes back to the guest once all of it has
 * been played (or recorded). The host side (hypervisor/audio.c) implements
 * these callbacks; they run with the device lock held, on the clock's
 * thread (or the caller of virtio_snd_tick), and must not block. */
#define SND_RATE           48000
#define SND_OUT_CHANNELS   2
#define SND_IN_CHANNELS    1
#define SND_TICK_NS        5000000ull
#define SND_BUFFER_MAX     (SND_RATE * 2 * SND_OUT_CHANNELS) /* bytes: one second of output */
#define SND_HELD_MAX       64                                /* buffers a stream holds at once; more wait in the ring */
#define SND_CATCHUP_FRAMES (SND_RATE / 10)                   /* a tick never makes up more than this (a paused VM) */
struct snd_host_ops {
	/* `frames` stereo frames (2 x int16 each) the output stream played; the
	 * last of them ends at `end_ns` on the device's clock. */
	void (*playback)(void *opaque, const int16_t *samples, uint32_t frames, uint64_t end_ns);
	/* Fills `frames` mono frames for the input stream: the microphone, or
	 * silence when nothing came. */
	void (*capture)(void *opaque, int16_t *samples, uint32_t frames);
	void *opaque;
};
struct virtio_snd;
/* `clock` gives the device's time in ns (NULL: CLOCK_MONOTONIC); unit tests
 * pass their own and drive virtio_snd_tick() themselves. */
struct virtio_snd *virtio_snd_create(const struct virtio_pci_config *cfg, const struct snd_host_ops *host,
				     uint64_t (*clock)(void));
/* Starts the device's clock thread: it ticks every SND_TICK_NS while a
 * stream runs and sleeps otherwise. 0 or -errno. */
int virtio_snd_start_clock(struct virtio_snd *snd);
/* One tick at the clock's time now: what the clock thread does. */
void virtio_snd_tick(struct virtio_snd *snd);
/* Counters for tests and statistics. */
struct virtio_snd_stats {
	uint64_t frames_played, frames_recorded;
	uint64_t underrun_frames; /* output frames played as silence: the guest was late */
	uint64_t skipped_frames;  /* frames the clock skipped after a stall (SND_CATCHUP_FRAMES) */
};
void virtio_snd_stats(struct virtio_snd *snd, struct virtio_snd_stats *out);
void virtio_snd_destroy(struct virtio_snd *snd);
/* Saved: both streams' state and parameters, the buffers the device holds
 * (by descriptor head) and the output not yet played. A restored running
 * stream starts its clock anew at the load. */
void virtio_snd_save(struct virtio_snd *snd, struct snap_buf *out);
int virtio_snd_load(struct virtio_snd *snd, struct snap_cursor *in);

#endif
