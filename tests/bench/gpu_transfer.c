/* gpu_transfer.c — `make bench` figures for virtio-gpu 2D: a full 1920x1080
 * frame through TRANSFER_TO_HOST_2D (one contiguous backing, and 4 KiB pages
 * scattered as Linux's are) and RESOURCE_FLUSH into the scanout surface,
 * through the real device, transport and rings, beside plain memcpy of the
 * same bytes on this machine. */
#include "../../hypervisor/devices/virtio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define W           1920u
#define H           1080u
#define FRAME       (W * H * 4u)
#define PAGES       ((FRAME + 4095u) / 4096u)
#define RAM_SIZE    (64u << 20)
#define BAR_ADDRESS 0xe0000000ull
#define RING_GPA    0x1000ull
#define CMD_GPA     0x10000ull
#define RESP_GPA    0x30000ull
#define CONTIG_GPA  0x100000ull  /* one backing of FRAME bytes */
#define SCATTER_GPA 0x1000000ull /* PAGES pages, every other one, reversed */
#define QSIZE       16

enum {
	CMD_RESOURCE_CREATE_2D = 0x0101,
	CMD_SET_SCANOUT = 0x0103,
	CMD_RESOURCE_FLUSH = 0x0104,
	CMD_TRANSFER_TO_HOST_2D = 0x0105,
	CMD_RESOURCE_ATTACH_BACKING = 0x0106,
	RESP_OK_NODATA = 0x1100,
};
struct hdr {
	uint32_t type, flags;
	uint64_t fence_id;
	uint32_t ctx_id, padding;
};
struct rect {
	uint32_t x, y, width, height;
};

struct bench {
	struct bus pio, mmio;
	struct pci_bus *pci;
	struct virtio_gpu *gpu;
	uint8_t *ram;
	int slot;
	uint64_t common, notify;
	uint32_t notify_mult;
	uint16_t notify_off, avail_idx;
	uint8_t *surface;
};

static void *ram_at(void *opaque, uint64_t gpa, uint64_t len)
{
	struct bench *b = opaque;
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return b->ram + gpa;
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
	struct bench *b = opaque;
	free(b->surface);
	b->surface = w && h ? malloc((size_t)w * h * 4) : NULL;
	if (b->surface)
		memset(b->surface, 0, (size_t)w * h * 4);
	return b->surface;
}

static void on_damage(void *opaque, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	(void)opaque;
	(void)x;
	(void)y;
	(void)w;
	(void)h;
}

static void on_cursor_image(void *opaque, const uint8_t *argb, uint32_t w, uint32_t h, uint32_t hx, uint32_t hy)
{
	(void)opaque;
	(void)argb;
	(void)w;
	(void)h;
	(void)hx;
	(void)hy;
}

static void on_cursor_move(void *opaque, int32_t x, int32_t y, bool visible)
{
	(void)opaque;
	(void)x;
	(void)y;
	(void)visible;
}

static uint32_t cfg_read(struct bench *b, unsigned reg, uint32_t size)
{
	uint32_t addr = 0x80000000u | (uint32_t)b->slot << 11 | (reg & 0xfc);
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	bus_write(&b->pio, PCI_CONFIG_ADDRESS, a, 4);
	uint8_t d[4] = {0};
	bus_read(&b->pio, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), d, size);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static uint32_t rd(struct bench *b, uint64_t addr, uint32_t size)
{
	uint8_t d[4] = {0};
	bus_read(&b->mmio, addr, d, size);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct bench *b, uint64_t addr, uint32_t v, uint32_t size)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	bus_write(&b->mmio, addr, d, size);
}

/* The device on a PCI bus, found and set up as a driver would: BAR
 * enabled, capabilities walked, features negotiated, controlq live. */
static int bench_device(struct bench *b)
{
	b->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->ram == MAP_FAILED)
		return -1;
	bus_init(&b->pio, "pio");
	bus_init(&b->mmio, "mmio");
	b->pci = pci_create(&b->pio);
	struct virtio_pci_config cfg = {
	    .pci = b->pci,
	    .mmio = &b->mmio,
	    .memory = {ram_at, b},
	    .irq = {irq_set, b},
	    .gsi = 11,
	    .msi = {msi_signal, b},
	    .bar_address = BAR_ADDRESS,
	};
	struct gpu_scanout_ops ops = {on_resize, on_damage, on_cursor_image, on_cursor_move, b};
	b->gpu = virtio_gpu_create(&cfg, W, H, &ops);
	if (!b->gpu)
		return -1;
	for (b->slot = 1; b->slot < PCI_MAX_SLOTS; b->slot++)
		if (cfg_read(b, 0, 4) == (0x1050u << 16 | 0x1af4u))
			break;
	uint32_t addr = 0x80000000u | (uint32_t)b->slot << 11 | 0x04;
	uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16), (uint8_t)(addr >> 24)};
	uint8_t cmd[2] = {0x06, 0x00};
	bus_write(&b->pio, PCI_CONFIG_ADDRESS, a, 4);
	bus_write(&b->pio, PCI_CONFIG_DATA, cmd, 2);
	for (unsigned at = cfg_read(b, 0x34, 1); at; at = cfg_read(b, at + 1, 1)) {
		if (cfg_read(b, at, 1) != 0x09)
			continue;
		unsigned type = cfg_read(b, at + 3, 1);
		if (type == 1)
			b->common = BAR_ADDRESS + cfg_read(b, at + 8, 4);
		if (type == 2) {
			b->notify = BAR_ADDRESS + cfg_read(b, at + 8, 4);
			b->notify_mult = cfg_read(b, at + 16, 4);
		}
	}
	wr(b, b->common + 0x14, 3, 1);
	wr(b, b->common + 0x08, 1, 4);
	wr(b, b->common + 0x0c, 1, 4); /* VERSION_1 */
	wr(b, b->common + 0x14, 0xb, 1);
	wr(b, b->common + 0x16, 0, 2);
	wr(b, b->common + 0x18, QSIZE, 2);
	wr(b, b->common + 0x20, (uint32_t)RING_GPA, 4);
	wr(b, b->common + 0x28, (uint32_t)RING_GPA + 0x400, 4);
	wr(b, b->common + 0x30, (uint32_t)RING_GPA + 0x800, 4);
	b->notify_off = (uint16_t)rd(b, b->common + 0x1e, 2);
	wr(b, b->common + 0x1c, 1, 2);
	wr(b, b->common + 0x14, 0xf, 1);
	return rd(b, b->common + 0x14, 1) == 0xf ? 0 : -1;
}

/* One command on the controlq; returns the response type. */
static uint32_t command(struct bench *b, const void *cmd, size_t len)
{
	memcpy(b->ram + CMD_GPA, cmd, len);
	struct virtq_desc *d = (struct virtq_desc *)(b->ram + RING_GPA);
	d[0] = (struct virtq_desc){CMD_GPA, (uint32_t)len, VIRTQ_DESC_F_NEXT, 1};
	d[1] = (struct virtq_desc){RESP_GPA, sizeof(struct hdr), VIRTQ_DESC_F_WRITE, 0};
	struct virtq_avail *avail = (struct virtq_avail *)(b->ram + RING_GPA + 0x400);
	avail->ring[b->avail_idx % QSIZE] = 0;
	avail->idx = ++b->avail_idx;
	wr(b, b->notify + (uint64_t)b->notify_off * b->notify_mult, 0, 2);
	return ((const struct hdr *)(b->ram + RESP_GPA))->type;
}

static uint32_t create(struct bench *b, uint32_t id, uint32_t format)
{
	struct {
		struct hdr h;
		uint32_t id, format, w, h_;
	} c = {{.type = CMD_RESOURCE_CREATE_2D}, id, format, W, H};
	return command(b, &c, sizeof(c));
}

static uint32_t attach(struct bench *b, uint32_t id, const uint64_t *addr, const uint32_t *len, uint32_t n)
{
	size_t size = 32 + (size_t)n * 16;
	uint8_t *buf = calloc(1, size);
	struct hdr h = {.type = CMD_RESOURCE_ATTACH_BACKING};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + 24, &id, 4);
	memcpy(buf + 28, &n, 4);
	for (uint32_t i = 0; i < n; i++) {
		memcpy(buf + 32 + i * 16, &addr[i], 8);
		memcpy(buf + 40 + i * 16, &len[i], 4);
	}
	uint32_t type = command(b, buf, size);
	free(buf);
	return type;
}

static uint32_t transfer(struct bench *b, uint32_t id)
{
	struct {
		struct hdr h;
		struct rect r;
		uint64_t offset;
		uint32_t id, padding;
	} c = {{.type = CMD_TRANSFER_TO_HOST_2D}, {0, 0, W, H}, 0, id, 0};
	return command(b, &c, sizeof(c));
}

static uint32_t set_scanout(struct bench *b, uint32_t id)
{
	struct {
		struct hdr h;
		struct rect r;
		uint32_t scanout, id;
	} c = {{.type = CMD_SET_SCANOUT}, {0, 0, W, H}, 0, id};
	return command(b, &c, sizeof(c));
}

static uint32_t flush(struct bench *b, uint32_t id)
{
	struct {
		struct hdr h;
		struct rect r;
		uint32_t id, padding;
	} c = {{.type = CMD_RESOURCE_FLUSH}, {0, 0, W, H}, id, 0};
	return command(b, &c, sizeof(c));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

enum { RUNS = 41 };

/* Median seconds per frame of `op` (warm caches, as in steady streaming). */
static double median_frame(struct bench *b, uint32_t (*op)(struct bench *, uint32_t), uint32_t id, bool *ok)
{
	double t[RUNS];
	*ok = op(b, id) == RESP_OK_NODATA;
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_s();
		*ok &= op(b, id) == RESP_OK_NODATA;
		t[i] = now_s() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static double median_memcpy(uint8_t *dst, const uint8_t *src)
{
	double t[RUNS];
	memcpy(dst, src, FRAME);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_s();
		memcpy(dst, src, FRAME);
		__asm__ volatile("" ::"r"(dst) : "memory"); /* the copy must happen */
		t[i] = now_s() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static void report(const char *what, double s, double memcpy_s, bool ok)
{
	if (!ok) {
		printf("%-44s FAILED (the device answered an error)\n", what);
		return;
	}
	printf("%-44s %8.2f GB/s (%.2f ms/frame) | anchor: memcpy %.2f GB/s\n", what, FRAME / s / 1e9, s * 1e3,
	       FRAME / memcpy_s / 1e9);
}

int main(void)
{
	static struct bench b;
	printf("== virtio-gpu 2D, %ux%u frames (%.1f MB)\n", W, H, FRAME / 1e6);
	if (bench_device(&b) < 0) {
		printf("virtio-gpu benchmarks skipped: the device did not come up\n");
		return 1;
	}
	for (uint32_t i = 0; i < FRAME; i++)
		b.ram[CONTIG_GPA + i] = (uint8_t)(i * 7);
	uint64_t *addr = malloc(PAGES * sizeof(*addr));
	uint32_t *len = malloc(PAGES * sizeof(*len));
	for (uint32_t i = 0; i < PAGES; i++) {
		addr[i] = SCATTER_GPA + (uint64_t)(PAGES - 1 - i) * 8192;
		len[i] = i + 1 < PAGES ? 4096 : FRAME - i * 4096;
		memset(b.ram + addr[i], (int)i, len[i]);
	}
	uint64_t contig = CONTIG_GPA;
	uint32_t frame = FRAME;
	bool ok = create(&b, 1, 2) == RESP_OK_NODATA && attach(&b, 1, &contig, &frame, 1) == RESP_OK_NODATA &&
		  create(&b, 2, 2) == RESP_OK_NODATA && attach(&b, 2, addr, len, PAGES) == RESP_OK_NODATA &&
		  create(&b, 3, 134) == RESP_OK_NODATA && attach(&b, 3, &contig, &frame, 1) == RESP_OK_NODATA;
	free(addr);
	free(len);
	if (!ok) {
		printf("virtio-gpu benchmarks: setting up resources FAILED\n");
		return 1;
	}

	uint8_t *src = malloc(FRAME), *dst = malloc(FRAME);
	memset(src, 1, FRAME);
	memset(dst, 2, FRAME);
	double base = median_memcpy(dst, src);
	free(src);
	free(dst);

	double t = median_frame(&b, transfer, 1, &ok);
	report("TRANSFER_TO_HOST_2D, contiguous backing", t, base, ok);
	t = median_frame(&b, transfer, 2, &ok);
	report("TRANSFER_TO_HOST_2D, 4 KiB pages scattered", t, base, ok);
	ok = set_scanout(&b, 1) == RESP_OK_NODATA;
	bool flushed;
	t = median_frame(&b, flush, 1, &flushed);
	report("RESOURCE_FLUSH into the surface, B8G8R8X8", t, base, ok && flushed);
	ok = transfer(&b, 3) == RESP_OK_NODATA && set_scanout(&b, 3) == RESP_OK_NODATA;
	t = median_frame(&b, flush, 3, &flushed);
	report("RESOURCE_FLUSH into the surface, R8G8B8X8", t, base, ok && flushed);
	virtio_gpu_destroy(b.gpu);
	pci_destroy(b.pci);
	bus_destroy(&b.pio);
	bus_destroy(&b.mmio);
	free(b.surface);
	munmap(b.ram, RAM_SIZE);
	return 0;
}
