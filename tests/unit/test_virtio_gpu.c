/* test_virtio_gpu.c — unit tests for hypervisor/devices/virtio_gpu.c, driven
 * the way a guest driver does: PCI configuration cycles on a real PIO bus,
 * the BAR on a real MMIO bus, rings and commands in a malloc'd guest RAM,
 * with the scanout callbacks and the INTx line recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GUEST_RAM   (24u << 20)
#define BAR_ADDRESS 0xe0000000ull
#define GSI         11
#define QSIZE       16

/* Guest physical layout. */
#define RING_GPA(q)  (0x1000ull + (q)*0x1000ull) /* desc, then avail at +0x400, used at +0x800 */
#define CMD_GPA      0x10000ull                  /* commands, up to 0x70000 */
#define RESP_GPA     0x80000ull                  /* responses, 0x1000 each */
#define BACKING_GPA  0x100000ull                 /* pixel backing */
#define BACKING_SIZE (GUEST_RAM - BACKING_GPA)

/* The wire format, as a driver writes it (virtio 1.x 5.7.6). */
enum {
	CMD_GET_DISPLAY_INFO = 0x0100,
	CMD_RESOURCE_CREATE_2D = 0x0101,
	CMD_RESOURCE_UNREF = 0x0102,
	CMD_SET_SCANOUT = 0x0103,
	CMD_RESOURCE_FLUSH = 0x0104,
	CMD_TRANSFER_TO_HOST_2D = 0x0105,
	CMD_RESOURCE_ATTACH_BACKING = 0x0106,
	CMD_RESOURCE_DETACH_BACKING = 0x0107,
	CMD_GET_EDID = 0x010a,
	CMD_UPDATE_CURSOR = 0x0300,
	CMD_MOVE_CURSOR = 0x0301,
	RESP_OK_NODATA = 0x1100,
	RESP_OK_DISPLAY_INFO = 0x1101,
	RESP_OK_EDID = 0x1104,
	RESP_ERR_UNSPEC = 0x1200,
	RESP_ERR_OUT_OF_MEMORY = 0x1201,
	RESP_ERR_INVALID_SCANOUT_ID = 0x1202,
	RESP_ERR_INVALID_RESOURCE_ID = 0x1203,
	RESP_ERR_INVALID_PARAMETER = 0x1205,
};
#define FLAG_FENCE 1u

struct hdr {
	uint32_t type, flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx, padding[3];
};
struct rect {
	uint32_t x, y, width, height;
};
struct display_info {
	struct hdr hdr;
	struct {
		struct rect r;
		uint32_t enabled, flags;
	} pmodes[16];
};
struct get_edid {
	struct hdr hdr;
	uint32_t scanout, padding;
};
struct resp_edid {
	struct hdr hdr;
	uint32_t size, padding;
	uint8_t edid[1024];
};
struct create_2d {
	struct hdr hdr;
	uint32_t resource_id, format, width, height;
};
struct resource_cmd { /* unref, detach backing */
	struct hdr hdr;
	uint32_t resource_id, padding;
};
struct set_scanout {
	struct hdr hdr;
	struct rect r;
	uint32_t scanout_id, resource_id;
};
struct flush {
	struct hdr hdr;
	struct rect r;
	uint32_t resource_id, padding;
};
struct transfer {
	struct hdr hdr;
	struct rect r;
	uint64_t offset;
	uint32_t resource_id, padding;
};
struct attach {
	struct hdr hdr;
	uint32_t resource_id, nr_entries;
};
struct mem_entry {
	uint64_t addr;
	uint32_t length, padding;
};
struct cursor {
	struct hdr hdr;
	uint32_t scanout_id, x, y, pos_padding;
	uint32_t resource_id, hot_x, hot_y, padding;
};

enum {
	FMT_BGRA = 1,
	FMT_BGRX = 2,
	FMT_ARGB = 3,
	FMT_XRGB = 4,
	FMT_RGBA = 67,
	FMT_XBGR = 68,
	FMT_ABGR = 121,
	FMT_RGBX = 134
};

struct damage {
	uint32_t x, y, w, h;
};

struct fixture {
	struct bus pio, mmio;
	struct pci_bus *pci;
	struct virtio_gpu *gpu;
	uint8_t *ram;
	int slot;
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	uint16_t notify_off[2];
	uint16_t avail_idx[2], used_seen[2];

	int irq_level;
	unsigned irq_edges;

	/* The scanout, as the callbacks saw it. */
	bool fail_resize;
	uint8_t *surface;
	uint32_t sw, sh;
	unsigned resizes;
	struct damage damage[64];
	unsigned ndamage;
	uint8_t cursor[256 * 256 * 4];
	uint32_t cw, ch, hot_x, hot_y;
	unsigned cursor_images;
	int32_t cx, cy;
	bool cvisible;
	unsigned cursor_moves;
};

/* --- Host side: guest RAM, interrupt line, scanout --- */

static void *ram_at(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fixture *f = opaque;
	if (gpa > GUEST_RAM || len > GUEST_RAM - gpa)
		return NULL;
	return f->ram + gpa;
}

static int irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fixture *f = opaque;
	assert_int_equal(gsi, GSI);
	if (level && !f->irq_level)
		f->irq_edges++;
	f->irq_level = level;
	return 0;
}

static int msi_signal(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	(void)address;
	(void)data;
	fail_msg("MSI-X is never enabled here");
	return 0;
}

static uint8_t *on_resize(void *opaque, uint32_t w, uint32_t h)
{
	struct fixture *f = opaque;
	f->resizes++;
	free(f->surface);
	f->surface = NULL;
	f->sw = w;
	f->sh = h;
	if (f->fail_resize || w == 0 || h == 0)
		return NULL;
	f->surface = malloc((size_t)w * h * 4);
	assert_non_null(f->surface);
	memset(f->surface, 0xee, (size_t)w * h * 4); /* never flushed */
	return f->surface;
}

static void on_damage(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct fixture *f = opaque;
	assert_non_null(f->surface);
	assert_true(x < f->sw && w <= f->sw - x && y < f->sh && h <= f->sh - y);
	assert_true(f->ndamage < 64);
	f->damage[f->ndamage++] = (struct damage){x, y, w, h};
}

static void on_cursor_image(void *opaque, const uint8_t *argb, uint32_t w, uint32_t h, uint32_t hx, uint32_t hy)
{
	struct fixture *f = opaque;
	assert_true(w <= 256 && h <= 256 && hx < w && hy < h);
	memcpy(f->cursor, argb, (size_t)w * h * 4);
	f->cw = w;
	f->ch = h;
	f->hot_x = hx;
	f->hot_y = hy;
	f->cursor_images++;
}

static void on_cursor_move(void *opaque, int32_t x, int32_t y, bool visible)
{
	struct fixture *f = opaque;
	f->cx = x;
	f->cy = y;
	f->cvisible = visible;
	f->cursor_moves++;
}

/* --- The driver side: PCI configuration and the BAR --- */

static uint32_t cfg_read(struct fixture *f, unsigned reg, uint32_t size)
{
	uint32_t addr = 0x80000000u | (uint32_t)f->slot << 11 | (reg & 0xfc);
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	assert_true(bus_write(&f->pio, PCI_CONFIG_ADDRESS, a, 4));
	uint8_t d[4] = {0};
	assert_true(bus_read(&f->pio, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), d, size));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void cfg_write(struct fixture *f, unsigned reg, uint32_t v, uint32_t size)
{
	uint32_t addr = 0x80000000u | (uint32_t)f->slot << 11 | (reg & 0xfc);
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	assert_true(bus_write(&f->pio, PCI_CONFIG_ADDRESS, a, 4));
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(&f->pio, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), d, size));
}

static uint32_t rd(struct fixture *f, uint64_t addr, uint32_t size)
{
	uint8_t d[4] = {0};
	assert_true(bus_read(&f->mmio, addr, d, size));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct fixture *f, uint64_t addr, uint32_t v, uint32_t size)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(&f->mmio, addr, d, size));
}

/* Common configuration offsets (virtio 1.x 4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_STATUS = 0x14,
	CC_GENERATION = 0x15,
	CC_QSELECT = 0x16,
	CC_QSIZE = 0x18,
	CC_QENABLE = 0x1c,
	CC_QNOTIFYOFF = 0x1e,
	CC_QDESC = 0x20,
	CC_QDRIVER = 0x28,
	CC_QDEVICE = 0x30,
};

static uint8_t status(struct fixture *f)
{
	return (uint8_t)rd(f, f->common + CC_STATUS, 1);
}

/* Finds the virtio capabilities as a driver does: walking the list. */
static void find_caps(struct fixture *f)
{
	uint64_t bar = (cfg_read(f, 0x10, 4) & ~0xfull) | (uint64_t)cfg_read(f, 0x14, 4) << 32;
	assert_int_equal(bar, BAR_ADDRESS);
	unsigned found = 0;
	for (unsigned at = cfg_read(f, 0x34, 1); at; at = cfg_read(f, at + 1, 1)) {
		if (cfg_read(f, at, 1) != 0x09)
			continue;
		unsigned type = cfg_read(f, at + 3, 1);
		assert_int_equal(cfg_read(f, at + 4, 1), 0); /* BAR0 */
		uint64_t where = bar + cfg_read(f, at + 8, 4);
		if (type == 1)
			f->common = where;
		else if (type == 2) {
			f->notify = where;
			f->notify_mult = cfg_read(f, at + 16, 4);
		} else if (type == 3)
			f->isr = where;
		else if (type == 4) {
			f->device = where;
			assert_true(cfg_read(f, at + 12, 4) >= 16);
		}
		found |= 1u << type;
	}
	assert_int_equal(found, 0x1e);
}

/* Reset, feature negotiation (VERSION_1 and EDID), both queues, DRIVER_OK. */
static void driver_init(struct fixture *f)
{
	wr(f, f->common + CC_STATUS, 0, 1);
	assert_int_equal(status(f), 0);
	wr(f, f->common + CC_STATUS, 1, 1);
	wr(f, f->common + CC_STATUS, 3, 1);
	wr(f, f->common + CC_DFSELECT, 0, 4);
	uint32_t lo = rd(f, f->common + CC_DF, 4);
	wr(f, f->common + CC_DFSELECT, 1, 4);
	uint32_t hi = rd(f, f->common + CC_DF, 4);
	assert_int_equal(lo, 1u << 1); /* VIRTIO_GPU_F_EDID, nothing else */
	assert_int_equal(hi, 1u);      /* VIRTIO_F_VERSION_1 */
	wr(f, f->common + CC_GFSELECT, 0, 4);
	wr(f, f->common + CC_GF, lo, 4);
	wr(f, f->common + CC_GFSELECT, 1, 4);
	wr(f, f->common + CC_GF, hi, 4);
	wr(f, f->common + CC_STATUS, 0xb, 1);
	assert_int_equal(status(f), 0xb);
	memset(f->ram, 0, CMD_GPA);
	for (uint16_t q = 0; q < 2; q++) {
		wr(f, f->common + CC_QSELECT, q, 2);
		wr(f, f->common + CC_QSIZE, QSIZE, 2);
		wr(f, f->common + CC_QDESC, (uint32_t)RING_GPA(q), 4);
		wr(f, f->common + CC_QDESC + 4, 0, 4);
		wr(f, f->common + CC_QDRIVER, (uint32_t)RING_GPA(q) + 0x400, 4);
		wr(f, f->common + CC_QDRIVER + 4, 0, 4);
		wr(f, f->common + CC_QDEVICE, (uint32_t)RING_GPA(q) + 0x800, 4);
		wr(f, f->common + CC_QDEVICE + 4, 0, 4);
		f->notify_off[q] = (uint16_t)rd(f, f->common + CC_QNOTIFYOFF, 2);
		wr(f, f->common + CC_QENABLE, 1, 2);
		f->avail_idx[q] = f->used_seen[q] = 0;
	}
	wr(f, f->common + CC_STATUS, 0xf, 1);
	assert_int_equal(status(f), 0xf);
	rd(f, f->isr, 1); /* start with the line low */
	assert_int_equal(f->irq_level, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = calloc(1, GUEST_RAM);
	assert_non_null(f->ram);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	f->pci = pci_create(&f->pio);
	assert_non_null(f->pci);
	struct virtio_pci_config cfg = {
	    .pci = f->pci,
	    .mmio = &f->mmio,
	    .memory = {ram_at, f},
	    .irq = {irq_set, f},
	    .gsi = GSI,
	    .msi = {msi_signal, f},
	    .bar_address = BAR_ADDRESS,
	};
	struct gpu_scanout_ops ops = {on_resize, on_damage, on_cursor_image, on_cursor_move, f};
	f->gpu = virtio_gpu_create(&cfg, 1024, 768, &ops);
	assert_non_null(f->gpu);
	for (f->slot = 1; f->slot < PCI_MAX_SLOTS; f->slot++)
		if (cfg_read(f, 0, 4) == (0x1050u << 16 | 0x1af4u))
			break;
	assert_true(f->slot < PCI_MAX_SLOTS);
	cfg_write(f, 0x04, 0x0006, 2); /* memory decoding, bus mastering */
	find_caps(f);
	driver_init(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_gpu_destroy(f->gpu);
	assert_int_equal(f->mmio.count, 0);
	pci_destroy(f->pci);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f->surface);
	free(f->ram);
	free(f);
	return 0;
}

/* --- Queues --- */

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static struct virtq_desc *desc_at(struct fixture *f, int q, uint16_t i)
{
	return (struct virtq_desc *)(f->ram + RING_GPA(q)) + i;
}

static struct virtq_avail *avail_of(struct fixture *f, int q)
{
	return (struct virtq_avail *)(f->ram + RING_GPA(q) + 0x400);
}

static struct virtq_used *used_of(struct fixture *f, int q)
{
	return (struct virtq_used *)(f->ram + RING_GPA(q) + 0x800);
}

/* Makes a chain of descriptors first.. available, without notifying. */
static void queue_chain(struct fixture *f, int q, uint16_t first, const struct buf *bufs, int n)
{
	for (int i = 0; i < n; i++) {
		struct virtq_desc *d = desc_at(f, q, (uint16_t)(first + i));
		d->addr = bufs[i].gpa;
		d->len = bufs[i].len;
		d->flags =
		    (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		d->next = (uint16_t)(first + i + 1);
	}
	struct virtq_avail *avail = avail_of(f, q);
	avail->ring[f->avail_idx[q] % QSIZE] = first;
	avail->idx = ++f->avail_idx[q];
}

static void kick(struct fixture *f, int q)
{
	wr(f, f->notify + (uint64_t)f->notify_off[q] * f->notify_mult, (uint32_t)q, 2);
}

/* The next used entry's length, or -1 when the device returned nothing. */
static int64_t take_used(struct fixture *f, int q, uint16_t head)
{
	struct virtq_used *used = used_of(f, q);
	if (used->idx == f->used_seen[q])
		return -1;
	struct virtq_used_elem e = used->ring[f->used_seen[q] % QSIZE];
	f->used_seen[q]++;
	assert_int_equal(e.id, head);
	return e.len;
}

/* One controlq command: `len` readable bytes, `resp_len` writable ones.
 * Returns the used length, or -1. */
static int64_t ctrl_raw(struct fixture *f, const void *cmd, size_t len, size_t readable, size_t resp_len)
{
	memcpy(f->ram + CMD_GPA, cmd, len);
	memset(f->ram + RESP_GPA, 0xcc, 0x1000);
	struct buf bufs[2] = {{CMD_GPA, (uint32_t)readable, false}, {RESP_GPA, (uint32_t)resp_len, true}};
	queue_chain(f, 0, 0, bufs, 2);
	kick(f, 0);
	return take_used(f, 0, 0);
}

static const struct hdr *resp_hdr(struct fixture *f)
{
	return (const struct hdr *)(f->ram + RESP_GPA);
}

/* A command answered with just a header; returns the response type. */
static uint32_t ctrl(struct fixture *f, const void *cmd, size_t len)
{
	assert_int_equal(ctrl_raw(f, cmd, len, len, sizeof(struct hdr)), sizeof(struct hdr));
	return resp_hdr(f)->type;
}

static uint32_t create_2d(struct fixture *f, uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
	struct create_2d c = {{.type = CMD_RESOURCE_CREATE_2D}, id, format, w, h};
	return ctrl(f, &c, sizeof(c));
}

static uint32_t unref(struct fixture *f, uint32_t id)
{
	struct resource_cmd c = {{.type = CMD_RESOURCE_UNREF}, id, 0};
	return ctrl(f, &c, sizeof(c));
}

static uint32_t attach(struct fixture *f, uint32_t id, const struct mem_entry *e, uint32_t n)
{
	struct attach a = {{.type = CMD_RESOURCE_ATTACH_BACKING}, id, n};
	size_t len = sizeof(a) + (size_t)n * sizeof(*e);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, &a, sizeof(a));
	if (n)
		memcpy(buf + sizeof(a), e, (size_t)n * sizeof(*e));
	uint32_t type = ctrl(f, buf, len);
	free(buf);
	return type;
}

static uint32_t attach_contiguous(struct fixture *f, uint32_t id, uint64_t gpa, uint32_t len)
{
	struct mem_entry e = {gpa, len, 0};
	return attach(f, id, &e, 1);
}

static uint32_t transfer(struct fixture *f, uint32_t id, struct rect r, uint64_t offset)
{
	struct transfer t = {{.type = CMD_TRANSFER_TO_HOST_2D}, r, offset, id, 0};
	return ctrl(f, &t, sizeof(t));
}

static uint32_t set_scanout(struct fixture *f, uint32_t scanout, uint32_t id, struct rect r)
{
	struct set_scanout s = {{.type = CMD_SET_SCANOUT}, r, scanout, id};
	return ctrl(f, &s, sizeof(s));
}

static uint32_t flush(struct fixture *f, uint32_t id, struct rect r)
{
	struct flush c = {{.type = CMD_RESOURCE_FLUSH}, r, id, 0};
	return ctrl(f, &c, sizeof(c));
}

/* A cursor command; resp_len 0 gives it no response buffer, as Linux does. */
static int64_t cursor_cmd(struct fixture *f, const struct cursor *c, size_t readable, size_t resp_len)
{
	memcpy(f->ram + CMD_GPA + 0x8000, c, sizeof(*c));
	memset(f->ram + RESP_GPA + 0x1000, 0xcc, 0x100);
	struct buf bufs[2] = {{CMD_GPA + 0x8000, (uint32_t)readable, false},
			      {RESP_GPA + 0x1000, (uint32_t)resp_len, true}};
	queue_chain(f, 1, 0, bufs, resp_len ? 2 : 1);
	kick(f, 1);
	return take_used(f, 1, 0);
}

/* A recognisable pixel for (x, y) in any format: four distinct bytes. */
static void pattern_pixel(uint8_t *p, uint32_t x, uint32_t y, uint32_t seed)
{
	p[0] = (uint8_t)(x + seed);
	p[1] = (uint8_t)(y * 3 + seed);
	p[2] = (uint8_t)(x ^ y ^ 0x5a);
	p[3] = (uint8_t)(x + y * 7 + 0x80);
}

/* Fills a w x h image with stride w * 4 in guest RAM at gpa. */
static void fill_pattern(struct fixture *f, uint64_t gpa, uint32_t w, uint32_t h, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			pattern_pixel(f->ram + gpa + ((size_t)y * w + x) * 4, x, y, seed);
}

static const uint8_t *surface_px(struct fixture *f, uint32_t x, uint32_t y)
{
	return f->surface + ((size_t)y * f->sw + x) * 4;
}

static bool damaged(struct fixture *f, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	return f->ndamage > 0 && f->damage[f->ndamage - 1].x == x && f->damage[f->ndamage - 1].y == y &&
	       f->damage[f->ndamage - 1].w == w && f->damage[f->ndamage - 1].h == h;
}

/* --- Tests --- */

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(cfg_read(f, 0x00, 2), 0x1af4);
	assert_int_equal(cfg_read(f, 0x02, 2), 0x1040 + 16);
	assert_int_equal(cfg_read(f, 0x08, 4) >> 8, 0x038000); /* display controller */
	assert_int_equal(rd(f, f->common + 0x12, 2), 2);       /* num_queues */
	assert_int_equal(rd(f, f->device + 0, 4), 0);          /* events_read */
	assert_int_equal(rd(f, f->device + 4, 4), 0);          /* events_clear */
	assert_int_equal(rd(f, f->device + 8, 4), 1);          /* num_scanouts */
	assert_int_equal(rd(f, f->device + 12, 4), 0);         /* num_capsets */
	assert_int_equal(rd(f, f->device + 8, 1), 1);
	assert_int_equal(rd(f, f->device + 9, 2), 0);
}

static void test_display_info(void **state)
{
	struct fixture *f = *state;
	struct hdr c = {.type = CMD_GET_DISPLAY_INFO};
	assert_int_equal(ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct display_info)),
			 sizeof(struct display_info));
	const struct display_info *d = (const void *)(f->ram + RESP_GPA);
	assert_int_equal(d->hdr.type, RESP_OK_DISPLAY_INFO);
	assert_int_equal(d->hdr.flags, 0);
	assert_int_equal(d->pmodes[0].r.x, 0);
	assert_int_equal(d->pmodes[0].r.y, 0);
	assert_int_equal(d->pmodes[0].r.width, 1024);
	assert_int_equal(d->pmodes[0].r.height, 768);
	assert_int_equal(d->pmodes[0].enabled, 1);
	for (int i = 1; i < 16; i++)
		assert_int_equal(d->pmodes[i].enabled | d->pmodes[i].r.width | d->pmodes[i].r.height, 0);
	/* One used entry, one interrupt. */
	assert_int_equal(f->irq_edges, 1);
	assert_int_equal(rd(f, f->isr, 1), 1);
	assert_int_equal(f->irq_level, 0);
}

static void decode_preferred(const uint8_t *e, uint32_t *w, uint32_t *h)
{
	const uint8_t *d = e + 54;
	*w = d[2] | (d[4] >> 4) << 8;
	*h = d[5] | (d[7] >> 4) << 8;
}

static void test_edid(void **state)
{
	struct fixture *f = *state;
	struct get_edid c = {{.type = CMD_GET_EDID}, 0, 0};
	assert_int_equal(ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct resp_edid)), sizeof(struct resp_edid));
	const struct resp_edid *r = (const void *)(f->ram + RESP_GPA);
	assert_int_equal(r->hdr.type, RESP_OK_EDID);
	assert_int_equal(r->size, 128);
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	assert_memory_equal(r->edid, header, 8);
	uint8_t sum = 0;
	for (int i = 0; i < 128; i++)
		sum = (uint8_t)(sum + r->edid[i]);
	assert_int_equal(sum, 0);
	for (int i = 128; i < 1024; i++)
		assert_int_equal(r->edid[i], 0);
	uint32_t w, h;
	decode_preferred(r->edid, &w, &h);
	assert_int_equal(w, 1024);
	assert_int_equal(h, 768);

	c.scanout = 1;
	assert_int_equal(ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct resp_edid)), sizeof(struct hdr));
	assert_int_equal(resp_hdr(f)->type, RESP_ERR_INVALID_SCANOUT_ID);
}

/* The in-tree guest's path: one contiguous backing, full-frame transfer,
 * SET_SCANOUT, then a partial update that touches only its rectangle. */
static void test_transfer_flush_contiguous(void **state)
{
	struct fixture *f = *state;
	const uint32_t W = 64, H = 48;
	assert_int_equal(create_2d(f, 1, FMT_BGRX, W, H), RESP_OK_NODATA);
	assert_int_equal(attach_contiguous(f, 1, BACKING_GPA, W * H * 4), RESP_OK_NODATA);
	fill_pattern(f, BACKING_GPA, W, H, 0);
	assert_int_equal(transfer(f, 1, (struct rect){0, 0, W, H}, 0), RESP_OK_NODATA);
	assert_int_equal(f->resizes, 0);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_int_equal(f->resizes, 1);
	assert_int_equal(f->sw, W);
	assert_int_equal(f->sh, H);
	assert_memory_equal(f->surface, f->ram + BACKING_GPA, W * H * 4);
	assert_true(damaged(f, 0, 0, W, H));

	/* A new picture in the backing; only (10, 5) 8x4 goes across. */
	fill_pattern(f, BACKING_GPA, W, H, 100);
	struct rect r = {10, 5, 8, 4};
	assert_int_equal(transfer(f, 1, r, (5 * W + 10) * 4), RESP_OK_NODATA);
	unsigned before = f->ndamage;
	assert_int_equal(flush(f, 1, r), RESP_OK_NODATA);
	assert_int_equal(f->ndamage, before + 1);
	assert_true(damaged(f, 10, 5, 8, 4));
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint8_t want[4];
			bool inside = x >= 10 && x < 18 && y >= 5 && y < 9;
			pattern_pixel(want, x, y, inside ? 100 : 0);
			assert_memory_equal(surface_px(f, x, y), want, 3);
		}
	/* A flush of the whole resource now brings nothing new for the
	 * rest: TRANSFER moved only the rectangle into the resource. */
	assert_int_equal(flush(f, 1, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_true(damaged(f, 0, 0, W, H));
	uint8_t want[4];
	pattern_pixel(want, 0, 0, 0);
	assert_memory_equal(surface_px(f, 0, 0), want, 3);
	/* Same size again: no resize, whole scanout redrawn. */
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_int_equal(f->resizes, 1);
	/* An empty transfer is fine. */
	assert_int_equal(transfer(f, 1, (struct rect){3, 3, 0, 5}, 0), RESP_OK_NODATA);
}

/* Linux's path: the backing is 4 KiB pages scattered through guest RAM. */
static void test_transfer_scattered(void **state)
{
	struct fixture *f = *state;
	const uint32_t W = 100, H = 50; /* 400-byte rows straddle pages */
	const uint32_t bytes = W * H * 4, pages = (bytes + 4095) / 4096;
	struct mem_entry *e = calloc(pages, sizeof(*e));
	assert_non_null(e);
	/* Page i of the backing lives at page (pages - 1 - i) * 2: reversed,
	 * with gaps, so no two pages merge. */
	uint8_t *image = malloc(bytes);
	assert_non_null(image);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			pattern_pixel(image + ((size_t)y * W + x) * 4, x, y, 7);
	for (uint32_t i = 0; i < pages; i++) {
		uint32_t len = i + 1 < pages ? 4096 : bytes - i * 4096;
		e[i] = (struct mem_entry){BACKING_GPA + (uint64_t)(pages - 1 - i) * 8192, len, 0};
		memcpy(f->ram + e[i].addr, image + (size_t)i * 4096, len);
	}
	assert_int_equal(create_2d(f, 5, FMT_BGRA, W, H), RESP_OK_NODATA);
	assert_int_equal(attach(f, 5, e, pages), RESP_OK_NODATA);
	assert_int_equal(transfer(f, 5, (struct rect){0, 0, W, H}, 0), RESP_OK_NODATA);
	assert_int_equal(set_scanout(f, 0, 5, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_memory_equal(f->surface, image, bytes);

	/* Partial rect across page boundaries. */
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			pattern_pixel(image + ((size_t)y * W + x) * 4, x, y, 9);
	for (uint32_t i = 0; i < pages; i++)
		memcpy(f->ram + e[i].addr, image + (size_t)i * 4096, e[i].length);
	struct rect r = {33, 7, 50, 30};
	assert_int_equal(transfer(f, 5, r, (7 * W + 33) * 4), RESP_OK_NODATA);
	assert_int_equal(flush(f, 5, r), RESP_OK_NODATA);
	assert_true(damaged(f, 33, 7, 50, 30));
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint8_t want[4];
			bool inside = x >= 33 && x < 83 && y >= 7 && y < 37;
			pattern_pixel(want, x, y, inside ? 9 : 7);
			assert_memory_equal(surface_px(f, x, y), want, 4);
		}
	/* Detach, and the transfer has nothing to read from. */
	struct resource_cmd d = {{.type = CMD_RESOURCE_DETACH_BACKING}, 5, 0};
	assert_int_equal(ctrl(f, &d, sizeof(d)), RESP_OK_NODATA);
	assert_int_equal(transfer(f, 5, r, 0), RESP_ERR_INVALID_PARAMETER);
	/* Adjacent pages are one piece, and still read right. */
	for (uint32_t i = 0; i < pages; i++)
		e[i] = (struct mem_entry){BACKING_GPA + (uint64_t)i * 4096, i + 1 < pages ? 4096 : bytes - i * 4096, 0};
	memcpy(f->ram + BACKING_GPA, image, bytes);
	assert_int_equal(attach(f, 5, e, pages), RESP_OK_NODATA);
	assert_int_equal(transfer(f, 5, (struct rect){0, 0, W, H}, 0), RESP_OK_NODATA);
	assert_int_equal(flush(f, 5, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_memory_equal(f->surface, image, bytes);
	free(image);
	free(e);
}

/* A scanout showing part of a bigger resource: flushes are clipped to it
 * and reported in scanout coordinates. */
static void test_scanout_window(void **state)
{
	struct fixture *f = *state;
	const uint32_t W = 64, H = 48;
	assert_int_equal(create_2d(f, 2, FMT_BGRX, W, H), RESP_OK_NODATA);
	assert_int_equal(attach_contiguous(f, 2, BACKING_GPA, W * H * 4), RESP_OK_NODATA);
	fill_pattern(f, BACKING_GPA, W, H, 0);
	assert_int_equal(transfer(f, 2, (struct rect){0, 0, W, H}, 0), RESP_OK_NODATA);
	assert_int_equal(set_scanout(f, 0, 2, (struct rect){16, 8, 32, 24}), RESP_OK_NODATA);
	assert_int_equal(f->sw, 32);
	assert_int_equal(f->sh, 24);
	assert_true(damaged(f, 0, 0, 32, 24));
	for (uint32_t y = 0; y < 24; y++)
		for (uint32_t x = 0; x < 32; x++) {
			uint8_t want[4];
			pattern_pixel(want, x + 16, y + 8, 0);
			assert_memory_equal(surface_px(f, x, y), want, 4);
		}
	/* Overlapping the scanout's top-left corner. */
	assert_int_equal(flush(f, 2, (struct rect){0, 0, 20, 10}), RESP_OK_NODATA);
	assert_true(damaged(f, 0, 0, 4, 2));
	/* Overlapping its bottom-right corner. */
	assert_int_equal(flush(f, 2, (struct rect){40, 30, 24, 18}), RESP_OK_NODATA);
	assert_true(damaged(f, 24, 22, 8, 2));
	/* Outside it: nothing. */
	unsigned before = f->ndamage;
	assert_int_equal(flush(f, 2, (struct rect){0, 0, 16, 48}), RESP_OK_NODATA);
	assert_int_equal(flush(f, 2, (struct rect){48, 0, 16, 48}), RESP_OK_NODATA);
	assert_int_equal(f->ndamage, before);
	/* A resource that is not on the scanout flushes nowhere. */
	assert_int_equal(create_2d(f, 3, FMT_BGRX, W, H), RESP_OK_NODATA);
	assert_int_equal(flush(f, 3, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_int_equal(f->ndamage, before);
	/* Another size resizes; resource 0 disables the scanout. */
	assert_int_equal(set_scanout(f, 0, 3, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_int_equal(f->sw, W);
	unsigned resizes = f->resizes;
	assert_int_equal(set_scanout(f, 0, 0, (struct rect){0, 0, 0, 0}), RESP_OK_NODATA);
	assert_int_equal(f->resizes, resizes + 1);
	assert_int_equal(f->sw, 0);
	assert_int_equal(f->sh, 0);
	assert_int_equal(flush(f, 3, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	assert_int_equal(f->ndamage, before + 1);
	/* Unref of the shown resource leaves the picture; later flushes of
	 * nothing do not reach it. */
	assert_int_equal(set_scanout(f, 0, 3, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
	resizes = f->resizes;
	assert_int_equal(unref(f, 3), RESP_OK_NODATA);
	assert_int_equal(f->resizes, resizes);
	assert_int_equal(unref(f, 2), RESP_OK_NODATA);
}

/* Which byte of a pixel holds blue, green, red and alpha (or padding) in
 * each format: the format's name spells its bytes in memory order. */
static const struct {
	uint32_t format;
	int b, g, r, a;
	bool alpha;
} formats[] = {
    {FMT_BGRA, 0, 1, 2, 3, true},  {FMT_BGRX, 0, 1, 2, 3, false}, {FMT_ARGB, 3, 2, 1, 0, true},
    {FMT_XRGB, 3, 2, 1, 0, false}, {FMT_RGBA, 2, 1, 0, 3, true},  {FMT_XBGR, 1, 2, 3, 0, false},
    {FMT_ABGR, 1, 2, 3, 0, true},  {FMT_RGBX, 2, 1, 0, 3, false},
};

static void test_formats(void **state)
{
	struct fixture *f = *state;
	const uint32_t W = 7, H = 3; /* odd sizes: no vector-width luck */
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		uint32_t id = 10 + (uint32_t)i;
		uint64_t gpa = BACKING_GPA + i * 0x1000;
		assert_int_equal(create_2d(f, id, formats[i].format, W, H), RESP_OK_NODATA);
		assert_int_equal(attach_contiguous(f, id, gpa, W * H * 4), RESP_OK_NODATA);
		fill_pattern(f, gpa, W, H, (uint32_t)i * 11);
		assert_int_equal(transfer(f, id, (struct rect){0, 0, W, H}, 0), RESP_OK_NODATA);
		assert_int_equal(set_scanout(f, 0, id, (struct rect){0, 0, W, H}), RESP_OK_NODATA);
		for (uint32_t y = 0; y < H; y++)
			for (uint32_t x = 0; x < W; x++) {
				const uint8_t *m = f->ram + gpa + ((size_t)y * W + x) * 4, *s = surface_px(f, x, y);
				assert_int_equal(s[0], m[formats[i].b]);
				assert_int_equal(s[1], m[formats[i].g]);
				assert_int_equal(s[2], m[formats[i].r]);
			}
		/* A partial flush converts the same way (the row path). */
		memset(f->surface, 0, (size_t)W * H * 4);
		assert_int_equal(flush(f, id, (struct rect){2, 1, 3, 2}), RESP_OK_NODATA);
		const uint8_t *m = f->ram + gpa + ((size_t)2 * W + 4) * 4, *s = surface_px(f, 4, 2);
		assert_int_equal(s[0], m[formats[i].b]);
		assert_int_equal(s[1], m[formats[i].g]);
		assert_int_equal(s[2], m[formats[i].r]);
		assert_int_equal(surface_px(f, 0, 0)[0] | surface_px(f, 5, 1)[1], 0);
	}
	/* Formats outside the 2D list. */
	static const uint32_t bad[] = {0, 5, 66, 69, 120, 122, 133, 135, 0xffffffff};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(create_2d(f, 100, bad[i], 4, 4), RESP_ERR_INVALID_PARAMETER);
}

static void test_cursor(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		uint32_t id = 20 + (uint32_t)i;
		uint64_t gpa = BACKING_GPA + i * 0x4000;
		assert_int_equal(create_2d(f, id, formats[i].format, 64, 64), RESP_OK_NODATA);
		assert_int_equal(attach_contiguous(f, id, gpa, 64 * 64 * 4), RESP_OK_NODATA);
		fill_pattern(f, gpa, 64, 64, (uint32_t)i);
		assert_int_equal(transfer(f, id, (struct rect){0, 0, 64, 64}, 0), RESP_OK_NODATA);
		struct cursor c = {{.type = CMD_UPDATE_CURSOR}, 0, 300, 200, 0, id, 5, 6, 0};
		unsigned images = f->cursor_images;
		assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
		assert_int_equal(f->cursor_images, images + 1);
		assert_int_equal(f->cw, 64);
		assert_int_equal(f->ch, 64);
		assert_int_equal(f->hot_x, 5);
		assert_int_equal(f->hot_y, 6);
		assert_int_equal(f->cx, 300);
		assert_int_equal(f->cy, 200);
		assert_true(f->cvisible);
		for (uint32_t p = 0; p < 64 * 64; p += 61) {
			const uint8_t *m = f->ram + gpa + p * 4, *s = f->cursor + p * 4;
			assert_int_equal(s[0], m[formats[i].b]);
			assert_int_equal(s[1], m[formats[i].g]);
			assert_int_equal(s[2], m[formats[i].r]);
			assert_int_equal(s[3], formats[i].alpha ? m[formats[i].a] : 0xff);
		}
	}
	/* With a response buffer, the response is OK_NODATA with the fence. */
	struct cursor c = {
	    {.type = CMD_MOVE_CURSOR, .flags = FLAG_FENCE, .fence_id = 77}, 0, (uint32_t)-5, 9, 0, 0, 0, 0, 0};
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), sizeof(struct hdr)), sizeof(struct hdr));
	const struct hdr *h = (const void *)(f->ram + RESP_GPA + 0x1000);
	assert_int_equal(h->type, RESP_OK_NODATA);
	assert_int_equal(h->flags, FLAG_FENCE);
	assert_int_equal(h->fence_id, 77);
	assert_int_equal(f->cx, -5);
	assert_int_equal(f->cy, 9);
	assert_true(f->cvisible);
	/* The hotspot is clamped inside the image. */
	c = (struct cursor){{.type = CMD_UPDATE_CURSOR}, 0, 1, 2, 0, 20, 100, 64, 0};
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
	assert_int_equal(f->hot_x, 63);
	assert_int_equal(f->hot_y, 63);
	/* Resource 0 hides it; moves keep it hidden. */
	c = (struct cursor){{.type = CMD_UPDATE_CURSOR}, 0, 10, 11, 0, 0, 0, 0, 0};
	unsigned images = f->cursor_images;
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
	assert_false(f->cvisible);
	assert_int_equal(f->cursor_images, images);
	c.hdr.type = CMD_MOVE_CURSOR;
	c.x = 12;
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
	assert_int_equal(f->cx, 12);
	assert_false(f->cvisible);
	/* Other scanouts, unknown resources, unknown commands: nothing. */
	unsigned moves = f->cursor_moves;
	c = (struct cursor){{.type = CMD_UPDATE_CURSOR}, 1, 1, 1, 0, 20, 0, 0, 0};
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), sizeof(struct hdr)), sizeof(struct hdr));
	assert_int_equal(h->type, RESP_ERR_INVALID_SCANOUT_ID);
	c = (struct cursor){{.type = CMD_UPDATE_CURSOR}, 0, 1, 1, 0, 999, 0, 0, 0};
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
	c.hdr.type = CMD_GET_DISPLAY_INFO;
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), sizeof(struct hdr)), sizeof(struct hdr));
	assert_int_equal(h->type, RESP_ERR_UNSPEC);
	assert_int_equal(f->cursor_moves, moves);
	assert_int_equal(f->cursor_images, images);
	assert_int_equal(status(f) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* A cursor command shorter than its structure breaks the device. */
	assert_int_equal(cursor_cmd(f, &c, sizeof(c) - 1, 0), -1);
	assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_fence(void **state)
{
	struct fixture *f = *state;
	struct hdr c = {.type = CMD_GET_DISPLAY_INFO, .flags = FLAG_FENCE, .fence_id = 0x123456789abcdefull};
	assert_int_equal(ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct display_info)),
			 sizeof(struct display_info));
	assert_int_equal(resp_hdr(f)->type, RESP_OK_DISPLAY_INFO);
	assert_int_equal(resp_hdr(f)->flags, FLAG_FENCE);
	assert_int_equal(resp_hdr(f)->fence_id, 0x123456789abcdefull);
	assert_int_equal(resp_hdr(f)->ctx_id, 0);
	/* Errors carry it too. */
	struct create_2d bad = {
	    {.type = CMD_RESOURCE_CREATE_2D, .flags = FLAG_FENCE, .fence_id = 42}, 0, FMT_BGRX, 1, 1};
	assert_int_equal(ctrl(f, &bad, sizeof(bad)), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(resp_hdr(f)->flags, FLAG_FENCE);
	assert_int_equal(resp_hdr(f)->fence_id, 42);
	/* Without the flag, neither is set. */
	struct create_2d ok = {{.type = CMD_RESOURCE_CREATE_2D, .fence_id = 43}, 1, FMT_BGRX, 1, 1};
	assert_int_equal(ctrl(f, &ok, sizeof(ok)), RESP_OK_NODATA);
	assert_int_equal(resp_hdr(f)->flags, 0);
	assert_int_equal(resp_hdr(f)->fence_id, 0);
}

/* Every protocol error gets its response, and the device stays usable. */
static void test_errors(void **state)
{
	struct fixture *f = *state;
	/* RESOURCE_CREATE_2D */
	assert_int_equal(create_2d(f, 0, FMT_BGRX, 4, 4), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 4, 4), RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 4, 4), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 0, 4), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 4, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 8193, 4), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 4, 8193), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 0xffffffff, 0xffffffff), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(create_2d(f, 2, 999, 4, 4), RESP_ERR_INVALID_PARAMETER);
	/* RESOURCE_UNREF */
	assert_int_equal(unref(f, 0), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(unref(f, 2), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(unref(f, 1 + 256), RESP_ERR_INVALID_RESOURCE_ID); /* same hash bucket */
	/* RESOURCE_ATTACH_BACKING */
	assert_int_equal(attach_contiguous(f, 2, BACKING_GPA, 64), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(attach_contiguous(f, 0, BACKING_GPA, 64), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(attach_contiguous(f, 1, GUEST_RAM - 32, 64), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(attach_contiguous(f, 1, 0xffffffffffffffc0ull, 0x80), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(attach_contiguous(f, 1, BACKING_GPA, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(attach(f, 1, NULL, 0), RESP_ERR_INVALID_PARAMETER);
	struct mem_entry two[2] = {{BACKING_GPA, 32, 0}, {GUEST_RAM, 32, 0}};
	assert_int_equal(attach(f, 1, two, 2), RESP_ERR_INVALID_PARAMETER);
	struct attach huge = {{.type = CMD_RESOURCE_ATTACH_BACKING}, 1, 16385};
	assert_int_equal(ctrl(f, &huge, sizeof(huge)), RESP_ERR_INVALID_PARAMETER);
	huge.nr_entries = 0xffffffff;
	assert_int_equal(ctrl(f, &huge, sizeof(huge)), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(attach_contiguous(f, 1, BACKING_GPA, 64), RESP_OK_NODATA);
	assert_int_equal(attach_contiguous(f, 1, BACKING_GPA, 64), RESP_ERR_UNSPEC);
	/* RESOURCE_DETACH_BACKING */
	struct resource_cmd detach = {{.type = CMD_RESOURCE_DETACH_BACKING}, 9, 0};
	assert_int_equal(ctrl(f, &detach, sizeof(detach)), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_2d(f, 3, FMT_BGRX, 4, 4), RESP_OK_NODATA);
	detach.resource_id = 3;
	assert_int_equal(ctrl(f, &detach, sizeof(detach)), RESP_ERR_UNSPEC);
	/* TRANSFER_TO_HOST_2D: resource 1 is 4x4 with 64 bytes of backing. */
	assert_int_equal(transfer(f, 9, (struct rect){0, 0, 1, 1}, 0), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(transfer(f, 0, (struct rect){0, 0, 1, 1}, 0), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(transfer(f, 1, (struct rect){0, 0, 5, 1}, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){4, 0, 1, 1}, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){0xffffffff, 0, 2, 1}, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){0, 0xfffffffe, 1, 3}, 0), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){1, 1, 2, 2}, 64), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){1, 1, 2, 2}, 41), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){1, 1, 2, 2}, 40), RESP_OK_NODATA); /* last byte is 63 */
	assert_int_equal(transfer(f, 1, (struct rect){0, 0, 4, 4}, 1ull << 63), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 1, (struct rect){0, 0, 4, 4}, ~0ull), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(transfer(f, 3, (struct rect){0, 0, 1, 1}, 0), RESP_ERR_INVALID_PARAMETER); /* no backing */
	/* SET_SCANOUT */
	assert_int_equal(set_scanout(f, 1, 1, (struct rect){0, 0, 4, 4}), RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(set_scanout(f, 16, 0, (struct rect){0, 0, 0, 0}), RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(set_scanout(f, 0, 9, (struct rect){0, 0, 4, 4}), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 5, 4}), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){1, 0, 4, 4}), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0xffffffff, 4, 2}), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 0, 4}), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(f->resizes, 0);
	f->fail_resize = true;
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 4, 4}), RESP_ERR_OUT_OF_MEMORY);
	f->fail_resize = false;
	assert_int_equal(f->sw, 0); /* told the scanout is off again */
	/* RESOURCE_FLUSH */
	assert_int_equal(flush(f, 9, (struct rect){0, 0, 1, 1}), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(flush(f, 1, (struct rect){0, 0, 5, 1}), RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(flush(f, 1, (struct rect){2, 0xffffffff, 1, 2}), RESP_ERR_INVALID_PARAMETER);
	/* Unknown commands, 3D ones included. */
	static const uint32_t unknown[] = {0,      0x0108, 0x0109, 0x010b, 0x010c,
					   0x0200, 0x0206, 0x0300, 0x1100, 0xffffffff};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct hdr h = {.type = unknown[i]};
		assert_int_equal(ctrl(f, &h, sizeof(h)), RESP_ERR_UNSPEC);
	}
	/* Still alive and well. */
	assert_int_equal(status(f), 0xf);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 4, 4}), RESP_OK_NODATA);
	assert_int_equal(f->sw, 4);
	assert_int_equal(unref(f, 1), RESP_OK_NODATA);
	assert_int_equal(unref(f, 1), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(flush(f, 1, (struct rect){0, 0, 1, 1}), RESP_ERR_INVALID_RESOURCE_ID);
}

struct short_case {
	uint32_t type;
	size_t size; /* the command structure */
	size_t resp; /* the response */
};

/* A chain too short for its command or its response breaks the device:
 * NEEDS_RESET, no used entry, nothing more until the guest resets it. */
static void test_short_chains_break(void **state)
{
	struct fixture *f = *state;
	static const struct short_case cases[] = {
	    {CMD_GET_DISPLAY_INFO, sizeof(struct hdr), sizeof(struct display_info)},
	    {CMD_GET_EDID, sizeof(struct get_edid), sizeof(struct resp_edid)},
	    {CMD_RESOURCE_CREATE_2D, sizeof(struct create_2d), sizeof(struct hdr)},
	    {CMD_RESOURCE_UNREF, sizeof(struct resource_cmd), sizeof(struct hdr)},
	    {CMD_SET_SCANOUT, sizeof(struct set_scanout), sizeof(struct hdr)},
	    {CMD_RESOURCE_FLUSH, sizeof(struct flush), sizeof(struct hdr)},
	    {CMD_TRANSFER_TO_HOST_2D, sizeof(struct transfer), sizeof(struct hdr)},
	    {CMD_RESOURCE_ATTACH_BACKING, sizeof(struct attach), sizeof(struct hdr)},
	    {CMD_RESOURCE_DETACH_BACKING, sizeof(struct resource_cmd), sizeof(struct hdr)},
	    {0x0999, sizeof(struct hdr), sizeof(struct hdr)},
	};
	uint8_t cmd[64] = {0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(cmd, &cases[i].type, 4);
		/* Readable part one byte short. */
		assert_int_equal(ctrl_raw(f, cmd, cases[i].size, cases[i].size - 1, cases[i].resp), -1);
		assert_int_equal(status(f), 0xf | VIRTIO_STATUS_NEEDS_RESET);
		/* A broken device takes nothing more. */
		assert_int_equal(ctrl_raw(f, cmd, cases[i].size, cases[i].size, cases[i].resp), -1);
		driver_init(f);
		/* Writable part one byte short. */
		assert_int_equal(ctrl_raw(f, cmd, cases[i].size, cases[i].size, cases[i].resp - 1), -1);
		assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
		driver_init(f);
		/* Exactly right is fine. */
		assert_true(ctrl_raw(f, cmd, cases[i].size, cases[i].size, cases[i].resp) > 0);
		assert_int_equal(status(f), 0xf);
	}
	/* A header cut short, and no header at all. */
	assert_int_equal(ctrl_raw(f, cmd, 24, 23, 24), -1);
	assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	driver_init(f);
	assert_int_equal(ctrl_raw(f, cmd, 24, 0, 24), -1);
	assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	driver_init(f);
	/* Entries promised but not in the chain. */
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 4, 4), RESP_OK_NODATA);
	struct {
		struct attach a;
		struct mem_entry e[2];
	} att = {{{.type = CMD_RESOURCE_ATTACH_BACKING}, 1, 2}, {{BACKING_GPA, 32, 0}, {BACKING_GPA + 32, 32, 0}}};
	assert_int_equal(ctrl_raw(f, &att, sizeof(att), sizeof(att) - 1, 24), -1);
	assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	driver_init(f);
	/* The reset took the resource with it. */
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 4, 4), RESP_OK_NODATA);
	assert_int_equal(ctrl_raw(f, &att, sizeof(att), sizeof(att), 24), 24);
	assert_int_equal(resp_hdr(f)->type, RESP_OK_NODATA);
	/* A command split over several readable descriptors is whole. */
	struct create_2d c = {{.type = CMD_RESOURCE_CREATE_2D}, 2, FMT_BGRX, 8, 8};
	memcpy(f->ram + CMD_GPA, &c, sizeof(c));
	struct buf bufs[4] = {
	    {CMD_GPA, 3, false}, {CMD_GPA + 3, 30, false}, {CMD_GPA + 33, 7, false}, {RESP_GPA, 24, true}};
	queue_chain(f, 0, 4, bufs, 4);
	kick(f, 0);
	assert_int_equal(take_used(f, 0, 4), 24);
	assert_int_equal(resp_hdr(f)->type, RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 2, FMT_BGRX, 8, 8), RESP_ERR_INVALID_RESOURCE_ID);
}

static void test_memory_cap(void **state)
{
	struct fixture *f = *state;
	/* 64 MiB each: three fit under the 256 MiB cap, a fourth does not. */
	for (uint32_t id = 1; id <= 3; id++)
		assert_int_equal(create_2d(f, id, FMT_BGRX, 4096, 4096), RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 4, FMT_BGRX, 4096, 4096), RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(create_2d(f, 4, FMT_BGRX, 8192, 8192), RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(create_2d(f, 4, FMT_BGRX, 4096, 4000), RESP_OK_NODATA);
	assert_int_equal(unref(f, 2), RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 5, FMT_BGRX, 4096, 4096), RESP_OK_NODATA);

	/* Backing bookkeeping counts too. Fill what is left with 16 KiB
	 * resources, then 16384 entries (none mergeable) do not fit. */
	assert_int_equal(create_2d(f, 100, FMT_BGRX, 1, 1), RESP_OK_NODATA);
	uint32_t fillers = 0;
	while (create_2d(f, 1000 + fillers, FMT_BGRX, 4096, 1) == RESP_OK_NODATA)
		assert_true(++fillers < 1000);
	assert_int_equal(resp_hdr(f)->type, RESP_ERR_OUT_OF_MEMORY);
	const uint32_t n = 16384;
	struct mem_entry *e = calloc(n, sizeof(*e));
	assert_non_null(e);
	for (uint32_t i = 0; i < n; i++)
		e[i] = (struct mem_entry){BACKING_GPA, 4096, 0};
	assert_int_equal(attach(f, 100, e, n), RESP_ERR_OUT_OF_MEMORY);
	for (uint32_t i = 0; i < 32 && i < fillers; i++)
		assert_int_equal(unref(f, 1000 + i), RESP_OK_NODATA);
	assert_int_equal(attach(f, 100, e, n), RESP_OK_NODATA);
	f->ram[BACKING_GPA] = 0x42;
	assert_int_equal(transfer(f, 100, (struct rect){0, 0, 1, 1}, 4096 * 9999), RESP_OK_NODATA);
	assert_int_equal(transfer(f, 100, (struct rect){0, 0, 1, 1}, 4096ull * n), RESP_ERR_INVALID_PARAMETER);
	free(e);

	/* A reset gives it all back. */
	driver_init(f);
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 8192, 7936), RESP_OK_NODATA);
	assert_int_equal(unref(f, 1), RESP_OK_NODATA);
	/* So many resources: at most 16384. */
	for (uint32_t id = 1; id <= 16384; id++)
		assert_int_equal(create_2d(f, id, FMT_BGRX, 1, 1), RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 16385, FMT_BGRX, 1, 1), RESP_ERR_OUT_OF_MEMORY);
	assert_int_equal(unref(f, 777), RESP_OK_NODATA);
	assert_int_equal(create_2d(f, 16385, FMT_BGRX, 1, 1), RESP_OK_NODATA);
}

static void test_display_size_change(void **state)
{
	struct fixture *f = *state;
	uint8_t gen = (uint8_t)rd(f, f->common + CC_GENERATION, 1);
	unsigned edges = f->irq_edges;
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 1920, 1080), 0);
	assert_int_equal(f->irq_edges, edges + 1);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, f->isr, 1), 2); /* configuration change */
	assert_int_equal(f->irq_level, 0);
	assert_int_not_equal(rd(f, f->common + CC_GENERATION, 1), gen);
	assert_int_equal(rd(f, f->device + 0, 4), 1); /* VIRTIO_GPU_EVENT_DISPLAY */

	struct hdr c = {.type = CMD_GET_DISPLAY_INFO};
	ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct display_info));
	const struct display_info *d = (const void *)(f->ram + RESP_GPA);
	assert_int_equal(d->pmodes[0].r.width, 1920);
	assert_int_equal(d->pmodes[0].r.height, 1080);
	assert_int_equal(d->pmodes[0].enabled, 1);
	struct get_edid e = {{.type = CMD_GET_EDID}, 0, 0};
	ctrl_raw(f, &e, sizeof(e), sizeof(e), sizeof(struct resp_edid));
	uint32_t w, h;
	decode_preferred(((const struct resp_edid *)(f->ram + RESP_GPA))->edid, &w, &h);
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);

	/* events_clear: writing 1s clears, 0s do not. */
	wr(f, f->device + 4, 0, 4);
	assert_int_equal(rd(f, f->device + 0, 4), 1);
	wr(f, f->device + 4, 1, 4);
	assert_int_equal(rd(f, f->device + 0, 4), 0);
	assert_int_equal(rd(f, f->device + 4, 4), 0);
	/* Writes to read-only fields do nothing. */
	wr(f, f->device + 8, 7, 4);
	assert_int_equal(rd(f, f->device + 8, 4), 1);

	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 0, 600), -EINVAL);
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 800, 0), -EINVAL);
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 8193, 600), -EINVAL);
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 800, 8193), -EINVAL);
	assert_int_equal(rd(f, f->device + 0, 4), 0);
	/* Too many pixels for two framebuffers in the budget. */
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 8192, 8192), -EINVAL);
	assert_int_equal(rd(f, f->device + 0, 4), 0);
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 8192, 4096), 0);
	assert_int_equal(rd(f, f->device + 0, 4), 1);

	/* Before DRIVER_OK the size changes without an interrupt. */
	wr(f, f->common + CC_STATUS, 0, 1);
	rd(f, f->isr, 1);
	edges = f->irq_edges;
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 640, 480), 0);
	assert_int_equal(f->irq_edges, edges);
	driver_init(f);
	ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct display_info));
	assert_int_equal(d->pmodes[0].r.width, 640);
	assert_int_equal(d->pmodes[0].r.height, 480);
}

/* Chains taken in one notify are answered with one interrupt. */
static void test_batch_one_interrupt(void **state)
{
	struct fixture *f = *state;
	struct hdr c = {.type = CMD_GET_DISPLAY_INFO};
	for (uint16_t i = 0; i < 5; i++) {
		memcpy(f->ram + CMD_GPA + i * 64u, &c, sizeof(c));
		struct buf bufs[2] = {{CMD_GPA + i * 64u, sizeof(c), false},
				      {RESP_GPA + i * 0x1000u, sizeof(struct display_info), true}};
		queue_chain(f, 0, (uint16_t)(i * 2), bufs, 2);
	}
	unsigned edges = f->irq_edges;
	kick(f, 0);
	assert_int_equal(f->irq_edges, edges + 1);
	for (uint16_t i = 0; i < 5; i++) {
		assert_int_equal(take_used(f, 0, (uint16_t)(i * 2)), sizeof(struct display_info));
		assert_int_equal(((const struct hdr *)(f->ram + RESP_GPA + i * 0x1000u))->type, RESP_OK_DISPLAY_INFO);
	}
	assert_int_equal(take_used(f, 0, 0), -1);
	/* Suppressed interrupts stay suppressed. */
	rd(f, f->isr, 1);
	avail_of(f, 0)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	edges = f->irq_edges;
	assert_int_equal(ctrl_raw(f, &c, sizeof(c), sizeof(c), sizeof(struct display_info)),
			 sizeof(struct display_info));
	assert_int_equal(f->irq_edges, edges);
	/* A notify with nothing new: no interrupt either. */
	avail_of(f, 0)->flags = 0;
	kick(f, 0);
	assert_int_equal(f->irq_edges, edges);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 64, 64), RESP_OK_NODATA);
	assert_int_equal(attach_contiguous(f, 1, BACKING_GPA, 64 * 64 * 4), RESP_OK_NODATA);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 64, 64}), RESP_OK_NODATA);
	struct cursor c = {{.type = CMD_UPDATE_CURSOR}, 0, 1, 1, 0, 1, 0, 0, 0};
	assert_int_equal(cursor_cmd(f, &c, sizeof(c), 0), 0);
	assert_true(f->cvisible);
	assert_int_equal(virtio_gpu_set_display_size(f->gpu, 800, 600), 0);
	assert_int_equal(rd(f, f->device + 0, 4), 1);
	unsigned resizes = f->resizes;
	wr(f, f->common + CC_STATUS, 0, 1);
	/* The display goes dark, the cursor goes away, events are cleared. */
	assert_int_equal(f->resizes, resizes + 1);
	assert_int_equal(f->sw, 0);
	assert_false(f->cvisible);
	assert_int_equal(rd(f, f->device + 0, 4), 0);
	driver_init(f);
	assert_int_equal(set_scanout(f, 0, 1, (struct rect){0, 0, 64, 64}), RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(create_2d(f, 1, FMT_BGRX, 64, 64), RESP_OK_NODATA);
	/* A second reset with nothing shown calls nobody. */
	resizes = f->resizes;
	unsigned moves = f->cursor_moves;
	wr(f, f->common + CC_STATUS, 0, 1);
	assert_int_equal(f->resizes, resizes);
	assert_int_equal(f->cursor_moves, moves);
}

static void test_create_rejects(void **state)
{
	(void)state;
	struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	struct pci_bus *pci = pci_create(&pio);
	struct virtio_pci_config cfg = {.pci = pci, .mmio = &mmio, .bar_address = BAR_ADDRESS};
	struct gpu_scanout_ops ops = {on_resize, on_damage, on_cursor_image, on_cursor_move, NULL};
	errno = 0;
	assert_null(virtio_gpu_create(&cfg, 0, 600, &ops));
	assert_int_equal(errno, EINVAL);
	assert_null(virtio_gpu_create(&cfg, 800, 8193, &ops));
	assert_null(virtio_gpu_create(&cfg, 800, 600, NULL));
	ops.damage = NULL;
	assert_null(virtio_gpu_create(&cfg, 800, 600, &ops));
	ops.damage = on_damage;
	cfg.bar_address = BAR_ADDRESS + 4; /* the transport refuses */
	assert_null(virtio_gpu_create(&cfg, 800, 600, &ops));
	cfg.bar_address = BAR_ADDRESS;
	struct virtio_gpu *gpu = virtio_gpu_create(&cfg, 800, 600, &ops);
	assert_non_null(gpu);
	virtio_gpu_destroy(gpu);
	virtio_gpu_destroy(NULL);
	pci_destroy(pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_identity_and_config),
	    T(test_display_info),
	    T(test_edid),
	    T(test_transfer_flush_contiguous),
	    T(test_transfer_scattered),
	    T(test_scanout_window),
	    T(test_formats),
	    T(test_cursor),
	    T(test_fence),
	    T(test_errors),
	    T(test_short_chains_break),
	    T(test_memory_cap),
	    T(test_display_size_change),
	    T(test_batch_one_interrupt),
	    T(test_reset),
	    cmocka_unit_test(test_create_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
