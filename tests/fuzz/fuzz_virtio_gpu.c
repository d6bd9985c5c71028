/* fuzz_virtio_gpu.c — arbitrary bytes as virtio-gpu guest RAM, processed by
 * the real device behind the real PCI transport, in two passes over the
 * same bytes:
 *   1. as a raw image of guest RAM from address 0: both queues' avail rings
 *      and descriptor tables sit in the first bytes, so descriptors,
 *      chains, commands and pixels are all the input's;
 *   2. as a list of commands the harness submits on well-formed rings
 *      (elsewhere in RAM), so command parsing is reached even by inputs
 *      whose rings would not get that far.
 * The scanout callbacks check what the device promises them (damage inside
 * the surface, hotspot inside the cursor image). */
#include "../../common/log.h"
#include "../../hypervisor/devices/virtio.h"

#include <stdlib.h>
#include <string.h>

#define RAM_SIZE    (1u << 20)
#define IMAGE_MAX   0xc0000u /* pass 1: the input's bytes go here, from 0 */
#define CMD_GPA     0xc0000u /* pass 2: commands, responses, rings */
#define RESP_GPA    0xd0000u
#define RESP_LEN    0x800u
#define RING2_GPA   0xe0000u
#define BAR_ADDRESS 0xe0000000ull
#define HEADER      8
#define SURFACE_MAX (1u << 20) /* pixels: bigger surfaces are refused, keeping runs fast */

/* Pass 1 rings for queues of up to 16 entries: avail rings, then
 * descriptor tables, in the input's first bytes; used rings beyond it. */
static const uint64_t image_avail[2] = {0x00, 0x30}, image_desc[2] = {0x60, 0x160}, image_used[2] = {0xb0000, 0xb1000};

struct fuzz {
	struct bus pio, mmio;
	struct pci_bus *pci;
	struct virtio_gpu *gpu;
	uint8_t *ram;
	int slot;
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	bool fail_resize;
	uint8_t *surface;
	uint32_t sw, sh;
};

static void *ram_at(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fuzz *z = opaque;
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return z->ram + gpa;
}

static int irq_set(void *opaque, uint32_t gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	return 0;
}

static int msi_signal(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	(void)address;
	(void)data;
	return 0;
}

static uint8_t *on_resize(void *opaque, uint32_t w, uint32_t h)
{
	struct fuzz *z = opaque;
	free(z->surface);
	z->surface = NULL;
	z->sw = z->sh = 0;
	if (z->fail_resize || w == 0 || h == 0 || (uint64_t)w * h > SURFACE_MAX)
		return NULL;
	z->surface = malloc((size_t)w * h * 4);
	if (!z->surface)
		abort();
	z->sw = w;
	z->sh = h;
	return z->surface;
}

static void on_damage(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct fuzz *z = opaque;
	if (!z->surface || w == 0 || h == 0 || x >= z->sw || w > z->sw - x || y >= z->sh || h > z->sh - y)
		abort();
}

static void on_cursor_image(void *opaque, const uint8_t *argb, uint32_t w, uint32_t h, uint32_t hx, uint32_t hy)
{
	(void)opaque;
	if (w == 0 || h == 0 || hx >= w || hy >= h)
		abort();
	/* Every pixel must be readable (ASan checks the copy). */
	static uint8_t copy[256 * 256 * 4];
	if ((size_t)w * h * 4 > sizeof(copy))
		abort();
	memcpy(copy, argb, (size_t)w * h * 4);
}

static void on_cursor_move(void *opaque, int32_t x, int32_t y, bool visible)
{
	(void)opaque;
	(void)x;
	(void)y;
	(void)visible;
}

static uint32_t cfg_read(struct fuzz *z, unsigned reg, uint32_t size)
{
	uint32_t addr = 0x80000000u | (uint32_t)z->slot << 11 | (reg & 0xfc);
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	bus_write(&z->pio, PCI_CONFIG_ADDRESS, a, 4);
	uint8_t d[4] = {0};
	bus_read(&z->pio, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), d, size);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void cfg_write16(struct fuzz *z, unsigned reg, uint16_t v)
{
	uint32_t addr = 0x80000000u | (uint32_t)z->slot << 11 | (reg & 0xfc);
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	bus_write(&z->pio, PCI_CONFIG_ADDRESS, a, 4);
	uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	bus_write(&z->pio, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), d, 2);
}

static uint32_t rd(struct fuzz *z, uint64_t addr, uint32_t size)
{
	uint8_t d[4] = {0};
	bus_read(&z->mmio, addr, d, size);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct fuzz *z, uint64_t addr, uint32_t v, uint32_t size)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	bus_write(&z->mmio, addr, d, size);
}

static struct fuzz *fuzz_device(void)
{
	static struct fuzz z;
	if (z.gpu)
		return &z;
	log_set_level(LOG_ERROR); /* a broken device is the expected outcome, not news */
	z.ram = calloc(1, RAM_SIZE);
	bus_init(&z.pio, "pio");
	bus_init(&z.mmio, "mmio");
	z.pci = pci_create(&z.pio);
	struct virtio_pci_config cfg = {
	    .pci = z.pci,
	    .mmio = &z.mmio,
	    .memory = {ram_at, &z},
	    .irq = {irq_set, &z},
	    .gsi = 11,
	    .msi = {msi_signal, &z},
	    .bar_address = BAR_ADDRESS,
	};
	struct gpu_scanout_ops ops = {on_resize, on_damage, on_cursor_image, on_cursor_move, &z};
	z.gpu = virtio_gpu_create(&cfg, 1024, 768, &ops);
	if (!z.ram || !z.gpu)
		abort();
	for (z.slot = 1; z.slot < PCI_MAX_SLOTS; z.slot++)
		if (cfg_read(&z, 0, 4) == (0x1050u << 16 | 0x1af4u))
			break;
	cfg_write16(&z, 0x04, 0x0006);
	uint64_t bar = BAR_ADDRESS;
	for (unsigned at = cfg_read(&z, 0x34, 1); at; at = cfg_read(&z, at + 1, 1)) {
		if (cfg_read(&z, at, 1) != 0x09)
			continue;
		uint64_t where = bar + cfg_read(&z, at + 8, 4);
		switch (cfg_read(&z, at + 3, 1)) {
		case 1:
			z.common = where;
			break;
		case 2:
			z.notify = where;
			z.notify_mult = cfg_read(&z, at + 16, 4);
			break;
		case 3:
			z.isr = where;
			break;
		case 4:
			z.device = where;
			break;
		}
	}
	if (!z.common || !z.notify || !z.isr || !z.device)
		abort();
	return &z;
}

/* Reset, then a driver's set-up with both queues at the given rings. */
static void driver_init(struct fuzz *z, const uint16_t size[2], const uint64_t desc[2], const uint64_t avail[2],
			const uint64_t used[2], uint16_t notify_off[2])
{
	wr(z, z->common + 0x14, 0, 1);
	wr(z, z->common + 0x14, 3, 1);
	wr(z, z->common + 0x08, 0, 4);
	wr(z, z->common + 0x0c, 2, 4); /* EDID */
	wr(z, z->common + 0x08, 1, 4);
	wr(z, z->common + 0x0c, 1, 4); /* VERSION_1 */
	wr(z, z->common + 0x14, 0xb, 1);
	for (uint16_t q = 0; q < 2; q++) {
		wr(z, z->common + 0x16, q, 2);
		wr(z, z->common + 0x18, size[q], 2);
		wr(z, z->common + 0x20, (uint32_t)desc[q], 4);
		wr(z, z->common + 0x28, (uint32_t)avail[q], 4);
		wr(z, z->common + 0x30, (uint32_t)used[q], 4);
		notify_off[q] = (uint16_t)rd(z, z->common + 0x1e, 2);
		wr(z, z->common + 0x1c, 1, 2);
	}
	wr(z, z->common + 0x14, 0xf, 1);
}

static void kick(struct fuzz *z, const uint16_t notify_off[2], unsigned q)
{
	wr(z, z->notify + (uint64_t)notify_off[q] * z->notify_mult, q, 2);
	rd(z, z->isr, 1);
}

/* Pass 2's rings: well-formed, 16 entries, away from the input's image. */
struct pass2 {
	uint16_t notify_off[2], idx[2];
};
static const uint16_t pass2_size[2] = {16, 16};
static const uint64_t pass2_desc[2] = {RING2_GPA, RING2_GPA + 0x1000},
		      pass2_avail[2] = {RING2_GPA + 0x2000, RING2_GPA + 0x3000},
		      pass2_used[2] = {RING2_GPA + 0x4000, RING2_GPA + 0x5000};

static void pass2_init(struct fuzz *z, struct pass2 *p2)
{
	memset(z->ram + RING2_GPA, 0, 0x6000);
	p2->idx[0] = p2->idx[1] = 0;
	driver_init(z, pass2_size, pass2_desc, pass2_avail, pass2_used, p2->notify_off);
}

/* One command on queue q: flags bit 1 drops the response buffer, bit 2
 * splits the command over two descriptors. A command that breaks the
 * device is followed by a reset, so the rest of the input still runs. */
static void pass2_submit(struct fuzz *z, struct pass2 *p2, unsigned q, const void *cmd, size_t len, uint8_t flags)
{
	memcpy(z->ram + CMD_GPA, cmd, len);
	struct virtq_desc *d = (struct virtq_desc *)(z->ram + pass2_desc[q]);
	unsigned nd = 0;
	size_t first = flags & 4 ? len / 2 : len;
	d[nd++] = (struct virtq_desc){CMD_GPA, (uint32_t)first, VIRTQ_DESC_F_NEXT, 1};
	if (flags & 4)
		d[nd++] = (struct virtq_desc){CMD_GPA + first, (uint32_t)(len - first), VIRTQ_DESC_F_NEXT, 2};
	if (!(flags & 2))
		d[nd++] = (struct virtq_desc){RESP_GPA, RESP_LEN, VIRTQ_DESC_F_WRITE, 0};
	d[nd - 1].flags &= (uint16_t)~VIRTQ_DESC_F_NEXT;
	struct virtq_avail *a = (struct virtq_avail *)(z->ram + pass2_avail[q]);
	a->ring[p2->idx[q] % pass2_size[q]] = 0;
	a->idx = ++p2->idx[q];
	kick(z, p2->notify_off, q);
	if (rd(z, z->common + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)
		pass2_init(z, p2);
}

/* What a driver has set up before the input's commands run, so that they
 * meet live state: resource 1 (64x64, in the header's format) on the
 * scanout, backed by four 4 KiB pieces of input bytes from 0x10000 with
 * gaps between them; resource 2 (64x64 ARGB, one piece at 0x18000) for
 * the cursor. */
static void pass2_prologue(struct fuzz *z, struct pass2 *p2, uint32_t format)
{
	struct {
		uint32_t type, flags;
		uint64_t fence;
		uint32_t ctx, pad;
		uint32_t f[20];
	} c;
	static const uint32_t create = 0x0101, set_scanout = 0x0103, transfer = 0x0105, attach = 0x0106;
	for (uint32_t id = 1; id <= 2; id++) {
		memset(&c, 0, sizeof(c));
		c.type = create;
		c.f[0] = id;
		c.f[1] = id == 1 ? format : 3;
		c.f[2] = c.f[3] = 64;
		pass2_submit(z, p2, 0, &c, 40, 0);
		memset(&c, 0, sizeof(c));
		c.type = attach;
		c.f[0] = id;
		c.f[1] = id == 1 ? 4 : 1;
		for (uint32_t i = 0; i < c.f[1]; i++) { /* entries: addr (low, high), length, padding */
			c.f[2 + 4 * i] = id == 1 ? 0x10000 + i * 0x2000 : 0x18000;
			c.f[4 + 4 * i] = 64 * 64 * 4 / c.f[1];
		}
		pass2_submit(z, p2, 0, &c, 32 + 16 * c.f[1], 0);
		memset(&c, 0, sizeof(c));
		c.type = transfer;
		c.f[2] = c.f[3] = 64;
		c.f[6] = id;
		pass2_submit(z, p2, 0, &c, 56, 0);
	}
	memset(&c, 0, sizeof(c));
	c.type = set_scanout;
	c.f[2] = c.f[3] = 64;
	c.f[5] = 1;
	pass2_submit(z, p2, 0, &c, 48, 0);
}

/* Pass 2: records of [flags][length][command bytes]; flags bit 0 picks
 * the cursorq, the rest as pass2_submit() takes them. */
static void submit_records(struct fuzz *z, const uint8_t *p, size_t n, uint32_t format)
{
	struct pass2 p2;
	pass2_init(z, &p2);
	pass2_prologue(z, &p2, format);
	for (unsigned count = 0; n >= 2 && count < 64; count++) {
		uint8_t flags = p[0];
		size_t len = p[1] < n - 2 ? p[1] : n - 2;
		pass2_submit(z, &p2, flags & 1, p + 2, len, flags);
		p += 2 + len;
		n -= 2 + len;
	}
}

/* Input: an 8-byte header, then the body both passes use.
 *   [0], [1]  pass 1: log2 of the controlq and cursorq sizes (mod 5)
 *   [2]       pass 1: notifications to send (low 3 bits + 1), and which
 *             queue each goes to (bits 3-7, one per notification)
 *   [3]       bit 0: the scanout refuses surfaces; bit 1: a display size
 *             change first; bit 2: clear events at the end; bits 3-5:
 *             the format of pass 2's framebuffer
 *   [4..7]    that display size, 16 bits each */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz *z = fuzz_device();
	if (size < HEADER)
		return 0;
	const uint8_t *h = data;
	const uint8_t *body = data + HEADER;
	size_t n = size - HEADER;
	memset(z->ram, 0, RAM_SIZE);
	memcpy(z->ram, body, n < IMAGE_MAX ? n : IMAGE_MAX);
	z->fail_resize = h[3] & 1;
	if (h[3] & 2)
		virtio_gpu_set_display_size(z->gpu, 1 + (h[4] | h[5] << 8) % VIRTIO_GPU_MAX_WIDTH,
					    1 + (h[6] | h[7] << 8) % VIRTIO_GPU_MAX_HEIGHT);

	const uint16_t qsize[2] = {(uint16_t)(1u << (h[0] % 5)), (uint16_t)(1u << (h[1] % 5))};
	uint16_t notify_off[2];
	driver_init(z, qsize, image_desc, image_avail, image_used, notify_off);
	unsigned kicks = (h[2] & 7) + 1;
	for (unsigned k = 0; k < kicks; k++)
		kick(z, notify_off, k < 5 ? (h[2] >> (3 + k)) & 1 : k & 1);

	static const uint32_t formats[8] = {1, 2, 3, 4, 67, 68, 121, 134};
	submit_records(z, body, n, formats[h[3] >> 3 & 7]);
	if (h[3] & 4)
		wr(z, z->device + 4, 0xffffffff, 4);
	rd(z, z->device, 4);

	/* Reset: every resource goes, so inputs do not build on each other. */
	wr(z, z->common + 0x14, 0, 1);
	return 0;
}
