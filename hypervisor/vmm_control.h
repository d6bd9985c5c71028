/* vmm_control.h — the vdi-vmm control socket protocol. This is the one header
 * vdi-server (and `vdi-vmm ctl`) includes to drive a VM process.
 *
 * Transport: a Unix SOCK_SEQPACKET socket at the path given by --control.
 * Every message is one packet: a struct vmm_msg header, then `length` bytes of
 * payload. Integers are in host byte order (both ends are on one host).
 *
 * The client sends requests (type VMM_REQ_*), each with an `id` of its
 * choosing; the VMM answers each with exactly one VMM_REPLY carrying the same
 * id, a result (0 or a negative errno) and a payload whose shape depends on
 * the request. Requests on one connection are answered in order. Several
 * clients may be connected at once. A malformed message gets a VMM_REPLY with
 * result -EINVAL (-EPROTO for a wrong version); the connection stays usable.
 *
 *   request           payload in          reply payload
 *   VMM_REQ_STATUS    none                struct vmm_status
 *   VMM_REQ_PAUSE     none                none  (returns once every vCPU is parked)
 *   VMM_REQ_RESUME    none                none
 *   VMM_REQ_POWEROFF  none                none  (the VM stops; vdi-vmm exits 0)
 *   VMM_REQ_STATS     none                struct vmm_stats
 *   VMM_REQ_DISPLAY_SUBSCRIBE
 *                     none                struct vmm_surface (+ its fd when
 *                                         the guest has a scanout)
 *   VMM_REQ_DISPLAY_SIZE
 *                     struct vmm_display_size  none (-EINVAL out of range)
 *   VMM_REQ_INPUT     struct vmm_input[n] none (-EINVAL: bad kind or code;
 *                                         -ENOBUFS: the guest is not taking
 *                                         input, nothing of it was queued)
 *   VMM_REQ_SET_LABEL the label's bytes   none (-EINVAL: longer than
 *                     (no NUL)            VMM_LABEL_MAX or contains a NUL)
 *   VMM_REQ_AUDIO_SUBSCRIBE
 *                     none                struct vmm_audio + 3 fds (-ENODEV:
 *                                         the VM has no sound device)
 *   VMM_REQ_SNAPSHOT  struct vmm_snapshot none (returns once DIR/memory and
 *                     + a directory path  DIR/state are complete on disk;
 *                     (absolute, no NUL)  -EINVAL bad path or flags, -EIO
 *                                         writing failed, the VM runs on)
 *
 * A snapshot pauses the VM (every vCPU parked) while it writes, then resumes
 * it, unless VMM_SNAPSHOT_PAUSE keeps it paused or VMM_SNAPSHOT_STOP powers
 * it off once the files are complete (suspend to disk: vdi-vmm then exits
 * 0). `vdi-vmm --restore DIR` starts the VM again from them.
 *
 * Requests are idempotent where that makes sense: pausing a paused VM or
 * resuming a running one succeeds and changes nothing.
 *
 * The screen. VMM_REQ_DISPLAY_SUBSCRIBE makes the connection a consumer of
 * the guest's scanout: the reply carries the current surface, a memfd the
 * consumer maps read-only (PROT_READ, MAP_SHARED; its size is sealed at
 * stride * height), holding XRGB8888 pixels (bytes B, G, R, unused) that
 * the VMM updates as the guest flushes. From then on the VMM also sends
 * events on the connection, between replies, with id 0:
 *
 *   VMM_EVENT_SURFACE       struct vmm_surface + fd: the scanout changed
 *                           size; the old memfd is no longer written
 *   VMM_EVENT_DAMAGE        struct vmm_damage + rects: these pixels changed
 *   VMM_EVENT_CURSOR_IMAGE  struct vmm_cursor_image + width*height*4 bytes
 *                           B, G, R, A (not premultiplied)
 *   VMM_EVENT_CURSOR_MOVE   struct vmm_cursor_pos
 *
 * A consumer that reads slowly never stalls the guest: while its socket is
 * full, its damage accumulates (merged into at most VMM_DAMAGE_MAX_RECTS
 * rectangles) and only the latest cursor state is kept, so nothing queues
 * without bound. Right after subscribing, the current cursor image and
 * position follow if the guest has set them; the whole surface counts as
 * new.
 *
 * Sound. VMM_REQ_AUDIO_SUBSCRIBE hands the connection three descriptors, in
 * this order: the output ring (a memfd to map read-only, MAP_SHARED: what
 * the guest's sound device played), the microphone ring (a memfd to map
 * read-write: what the guest records), and an eventfd of the connection's
 * own that the VMM signals each time new output is in the ring (every
 * few ms while the guest plays; nothing while it is silent). Each ring is a
 * struct vmm_audio_ring, then `frames` frames of `channels` interleaved
 * signed 16-bit little-endian samples at `rate` Hz; frame number f (counted
 * from the VM's start) sits at index f % frames.
 *
 * Output: the VMM alone writes it, by the sound device's clock, never
 * waiting for anyone: it writes the frames, then `write_ns`, then moves
 * `write` (release). A consumer remembers the last frame number it took,
 * reads `write` (acquire), copies frames from max(its own, write - frames)
 * up to write, then reads `write` again: frames below the new write -
 * frames were being overwritten while it copied and are dropped. A slow or
 * absent consumer thus loses the oldest audio, never the newest, and never
 * slows the guest. `write_ns` is CLOCK_MONOTONIC when frame write - 1
 * ended on the device's clock: frame f ended (write - 1 - f) / rate
 * seconds before it, while the guest was playing without a pause (each
 * start of playback begins a new run; read write_ns between two equal
 * reads of write).
 *
 * Microphone: one consumer at a time writes it (the session's user). It
 * writes frames at `write` onwards, then moves `write` (release); the VMM
 * takes them as the guest records, at the device's clock, and publishes
 * how far it took in `read`. A producer more than VMM_AUDIO_MIC_LAG_MAX
 * frames ahead of `read` (the guest was not recording, or the producer ran
 * fast) has its older frames skipped: the guest hears what is recent. When
 * nothing comes the guest records silence.
 */
#ifndef VDI_HYPERVISOR_VMM_CONTROL_H
#define VDI_HYPERVISOR_VMM_CONTROL_H

#include <stdint.h>

#define VMM_PROTOCOL_VERSION 1
#define VMM_MSG_MAX          65536 /* largest packet either side sends */
#define VMM_LABEL_MAX        255
#define VMM_DAMAGE_MAX_RECTS 16

enum vmm_msg_type {
	VMM_REPLY = 1,
	VMM_EVENT_SURFACE = 2,
	VMM_EVENT_DAMAGE = 3,
	VMM_EVENT_CURSOR_IMAGE = 4,
	VMM_EVENT_CURSOR_MOVE = 5,
	VMM_REQ_STATUS = 16,
	VMM_REQ_PAUSE = 17,
	VMM_REQ_RESUME = 18,
	VMM_REQ_POWEROFF = 19,
	VMM_REQ_STATS = 20,
	VMM_REQ_DISPLAY_SUBSCRIBE = 21,
	VMM_REQ_DISPLAY_SIZE = 22,
	VMM_REQ_INPUT = 23,
	VMM_REQ_SET_LABEL = 24,
	VMM_REQ_SNAPSHOT = 25,
	VMM_REQ_AUDIO_SUBSCRIBE = 26,
};

struct vmm_msg {
	uint16_t version; /* VMM_PROTOCOL_VERSION */
	uint16_t type;    /* enum vmm_msg_type */
	uint32_t id;      /* request id, echoed in the reply */
	int32_t result;   /* replies: 0 or -errno; requests: 0 */
	uint32_t length;  /* payload bytes after this header */
};

enum vmm_state {
	VMM_STATE_RUNNING = 1,
	VMM_STATE_PAUSED = 2,
	VMM_STATE_STOPPING = 3,
};

struct vmm_status {
	uint32_t state; /* enum vmm_state */
	uint32_t vcpus;
	uint64_t mem_bytes; /* guest RAM size */
	uint64_t uptime_ns; /* since the vCPUs started */
	uint32_t pid;
	uint32_t reserved;
};

/* KVM exits, counted by kind. */
enum vmm_exit_kind {
	VMM_EXIT_IO = 0,       /* port I/O */
	VMM_EXIT_MMIO = 1,     /* memory-mapped I/O */
	VMM_EXIT_HLT = 2,      /* halt reaching user space */
	VMM_EXIT_INTR = 3,     /* signal (kick, pause) */
	VMM_EXIT_SHUTDOWN = 4, /* triple fault */
	VMM_EXIT_INTERNAL = 5, /* KVM internal error (emulation failure) */
	VMM_EXIT_FAIL_ENTRY = 6,
	VMM_EXIT_SYSTEM_EVENT = 7,
	VMM_EXIT_OTHER = 8,
	VMM_EXIT_KINDS = 9,
};

#define VMM_EXIT_KIND_NAMES                                                                                            \
	{                                                                                                              \
		"io", "mmio", "hlt", "intr", "shutdown", "internal_error", "fail_entry", "system_event", "other"       \
	}

struct vmm_stats {
	uint64_t exits[VMM_EXIT_KINDS];
	uint64_t unhandled_pio;           /* guest port accesses nothing serves */
	uint64_t unhandled_mmio;          /* guest MMIO accesses nothing serves */
	uint64_t guest_ram_bytes;         /* configured */
	uint64_t guest_ram_touched_bytes; /* resident pages of guest RAM */
	uint64_t vmm_rss_bytes;           /* whole process RSS, guest RAM included */
};

#define VMM_FORMAT_XRGB8888 1

struct vmm_surface {
	uint32_t width; /* 0 x 0: the guest has no scanout yet (no fd) */
	uint32_t height;
	uint32_t stride; /* bytes per row */
	uint32_t format; /* VMM_FORMAT_XRGB8888 */
	uint64_t serial; /* which surface: grows by one with each new one */
};

struct vmm_rect {
	uint32_t x, y, width, height;
};

struct vmm_damage {
	uint64_t serial;   /* the surface these rectangles are on */
	uint64_t flush_ns; /* CLOCK_MONOTONIC when the VMM took the latest flush merged in */
	uint32_t count;    /* struct vmm_rect that follow */
	uint32_t reserved;
};

#define VMM_CURSOR_MAX 64 /* width and height */
struct vmm_cursor_image {
	uint32_t width, height;
	uint32_t hot_x, hot_y;
};

struct vmm_cursor_pos {
	int32_t x, y; /* the hotspot, in surface pixels */
	uint32_t visible;
	uint32_t reserved;
};

struct vmm_display_size {
	uint32_t width, height; /* 1..8192 each, at most 8192x4096 pixels */
};

/* Input for the guest's virtio-input keyboard and tablet. */
enum vmm_input_kind {
	VMM_INPUT_KEY = 1,     /* code: Linux evdev KEY_* (keyboard) or BTN_* (tablet); x: 1 down, 0 up */
	VMM_INPUT_POINTER = 2, /* x, y: surface pixels (clamped); code: buttons held, VMM_BUTTON_* bits */
	VMM_INPUT_WHEEL = 3,   /* y: vertical clicks (positive: away from the user); x: horizontal */
};
#define VMM_BUTTON_LEFT   0x1u
#define VMM_BUTTON_RIGHT  0x2u
#define VMM_BUTTON_MIDDLE 0x4u
struct vmm_input {
	uint32_t kind; /* enum vmm_input_kind */
	uint32_t code;
	int32_t x;
	int32_t y;
};

/* VMM_REQ_AUDIO_SUBSCRIBE's reply; the rings' layout. */
#define VMM_AUDIO_RATE        48000
#define VMM_AUDIO_OUT_FRAMES  65536 /* about 1.4 s */
#define VMM_AUDIO_MIC_FRAMES  16384 /* about 0.34 s */
#define VMM_AUDIO_MIC_LAG_MAX 4800  /* 100 ms */
#define VMM_AUDIO_MIC_LAG     960   /* what the VMM keeps of a backlog: 20 ms */
#define VMM_AUDIO_FORMAT_S16  1
struct vmm_audio_ring {
	uint32_t rate;     /* VMM_AUDIO_RATE */
	uint32_t channels; /* output 2, microphone 1 */
	uint32_t frames;   /* capacity, a power of two */
	uint32_t format;   /* VMM_AUDIO_FORMAT_S16 */
	uint64_t write;    /* frames written since the VM started */
	uint64_t write_ns; /* output: CLOCK_MONOTONIC when frame write - 1 ended */
	uint64_t read;     /* microphone: frames the VMM has taken */
	uint64_t reserved[3];
	/* frames * channels int16 samples follow */
};
struct vmm_audio {
	uint64_t out_bytes; /* size of the output memfd */
	uint64_t mic_bytes; /* size of the microphone memfd */
};

/* VMM_REQ_SNAPSHOT: this, then the directory's path (at most
 * VMM_SNAPSHOT_PATH_MAX bytes, no NUL). The directory is created if it does
 * not exist; a snapshot already in it is replaced. */
#define VMM_SNAPSHOT_PAUSE    0x1u /* stay paused afterwards */
#define VMM_SNAPSHOT_STOP     0x2u /* power off afterwards (suspend to disk) */
#define VMM_SNAPSHOT_PATH_MAX 4000
struct vmm_snapshot {
	uint32_t flags; /* VMM_SNAPSHOT_* */
	uint32_t reserved;
};

#endif
