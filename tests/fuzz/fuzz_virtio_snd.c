/* fuzz_virtio_snd.c — arbitrary bytes as what a guest does with virtio-snd,
 * through the real PCI transport on an injected clock: records of control
 * requests, tx and rx buffers (well-formed rings, hostile contents, sizes
 * and chain shapes), raw descriptor tables from the input, resets and clock
 * ticks. The host callbacks check what the device promises them. */
#include "../../common/log.h"
#include "../../hypervisor/devices/virtio.h"

#include <linux/virtio_snd.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE    (1u << 20)
#define DATA_GPA    0x10000u /* request and buffer bytes */
#define RESP_GPA    0x80000u
#define RING_GPA    0xc0000u
#define BAR_ADDRESS 0xe0000000ull
#define QUEUES      4
#define QSIZE       16

struct fuzz {
	struct bus pio, mmio;
	struct pci_bus *pci;
	struct virtio_snd *snd;
	uint8_t *ram;
	int slot;
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	uint16_t notify_off[QUEUES], idx[QUEUES];
	uint16_t next_desc[QUEUES];
};

static uint64_t fuzz_now;
static uint64_t fuzz_clock(void)
{
	return fuzz_now;
}

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

static void on_playback(void *opaque, const int16_t *samples, uint32_t frames, uint64_t end_ns)
{
	(void)opaque;
	(void)end_ns;
	if (frames == 0 || frames > SND_CATCHUP_FRAMES)
		abort();
	volatile int16_t sink = samples[0];
	sink = samples[frames * 2 - 1];
	(void)sink;
}

static void on_capture(void *opaque, int16_t *samples, uint32_t frames)
{
	(void)opaque;
	if (frames == 0 || frames > SND_CATCHUP_FRAMES)
		abort();
	for (uint32_t i = 0; i < frames; i++)
		samples[i] = (int16_t)(i * 37);
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
	if (z.snd)
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
	    .gsi = 7,
	    .msi = {msi_signal, &z},
	    .bar_address = BAR_ADDRESS,
	};
	struct snd_host_ops host = {on_playback, on_capture, &z};
	z.snd = virtio_snd_create(&cfg, &host, fuzz_clock);
	if (!z.ram || !z.snd)
		abort();
	for (z.slot = 1; z.slot < PCI_MAX_SLOTS; z.slot++)
		if (cfg_read(&z, 0, 4) == (0x1059u << 16 | 0x1af4u))
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

static uint64_t desc_gpa(unsigned q)
{
	return RING_GPA + q * 0x1000u;
}
static uint64_t avail_gpa(unsigned q)
{
	return RING_GPA + 0x4000u + q * 0x1000u;
}
static uint64_t used_gpa(unsigned q)
{
	return RING_GPA + 0x8000u + q * 0x1000u;
}

/* Reset, then a driver's set-up of all four queues. */
static void driver_init(struct fuzz *z)
{
	memset(z->ram + RING_GPA, 0, 0xc000);
	wr(z, z->common + 0x14, 0, 1);
	wr(z, z->common + 0x14, 3, 1);
	wr(z, z->common + 0x08, 1, 4);
	wr(z, z->common + 0x0c, 1, 4); /* VERSION_1 */
	wr(z, z->common + 0x14, 0xb, 1);
	for (uint16_t q = 0; q < QUEUES; q++) {
		wr(z, z->common + 0x16, q, 2);
		wr(z, z->common + 0x18, QSIZE, 2);
		wr(z, z->common + 0x20, (uint32_t)desc_gpa(q), 4);
		wr(z, z->common + 0x28, (uint32_t)avail_gpa(q), 4);
		wr(z, z->common + 0x30, (uint32_t)used_gpa(q), 4);
		z->notify_off[q] = (uint16_t)rd(z, z->common + 0x1e, 2);
		wr(z, z->common + 0x1c, 1, 2);
		z->idx[q] = 0;
		z->next_desc[q] = 0;
	}
	wr(z, z->common + 0x14, 0xf, 1);
}

static void kick(struct fuzz *z, unsigned q)
{
	wr(z, z->notify + (uint64_t)z->notify_off[q] * z->notify_mult, q, 2);
	rd(z, z->isr, 1);
	if (rd(z, z->common + 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)
		driver_init(z);
}

/* A chain on queue q: `len` readable bytes (split in two if flags bit 2),
 * then `wlen` writable ones (none if flags bit 3); descriptors wrap
 * around the table, so buffers the device still holds get reused too. */
static void submit(struct fuzz *z, unsigned q, const uint8_t *bytes, size_t len, uint32_t wlen, uint8_t flags)
{
	static uint32_t data_at;
	if (data_at + len > 0x60000)
		data_at = 0;
	uint32_t gpa = DATA_GPA + data_at;
	memcpy(z->ram + gpa, bytes, len);
	data_at += (uint32_t)len;
	struct virtq_desc *d = (struct virtq_desc *)(z->ram + desc_gpa(q));
	uint16_t head = z->next_desc[q];
	uint16_t at = head, n = 0;
	struct virtq_desc parts[3];
	size_t first = flags & 4 ? len / 2 : len;
	parts[n++] = (struct virtq_desc){gpa, (uint32_t)first, VIRTQ_DESC_F_NEXT, 0};
	if (flags & 4)
		parts[n++] = (struct virtq_desc){gpa + first, (uint32_t)(len - first), VIRTQ_DESC_F_NEXT, 0};
	if (!(flags & 8))
		parts[n++] = (struct virtq_desc){RESP_GPA, wlen, VIRTQ_DESC_F_WRITE, 0};
	for (uint16_t i = 0; i < n; i++) {
		parts[i].next = (uint16_t)((at + 1) % QSIZE);
		if (i == n - 1)
			parts[i].flags &= (uint16_t)~VIRTQ_DESC_F_NEXT;
		d[at] = parts[i];
		at = (uint16_t)((at + 1) % QSIZE);
	}
	z->next_desc[q] = at;
	struct virtq_avail *a = (struct virtq_avail *)(z->ram + avail_gpa(q));
	a->ring[z->idx[q] % QSIZE] = head;
	a->idx = ++z->idx[q];
	kick(z, q);
}

/* Both streams set up and running, so buffers meet live state. */
static void prologue(struct fuzz *z)
{
	for (uint32_t s = 0; s < 2; s++) {
		struct virtio_snd_pcm_set_params p = {
		    .hdr = {.hdr.code = VIRTIO_SND_R_PCM_SET_PARAMS, .stream_id = s},
		    .buffer_bytes = 19200,
		    .period_bytes = 1920,
		    .channels = s ? 1 : 2,
		    .format = VIRTIO_SND_PCM_FMT_S16,
		    .rate = VIRTIO_SND_PCM_RATE_48000,
		};
		submit(z, 0, (const uint8_t *)&p, sizeof(p), 64, 0);
		struct virtio_snd_pcm_hdr h = {.hdr.code = VIRTIO_SND_R_PCM_PREPARE, .stream_id = s};
		submit(z, 0, (const uint8_t *)&h, sizeof(h), 64, 0);
		h.hdr.code = VIRTIO_SND_R_PCM_START;
		submit(z, 0, (const uint8_t *)&h, sizeof(h), 64, 0);
	}
}

/* Input: records [op][length][bytes]. op low 2 bits: the queue (control,
 * event, tx, rx); bit 2 splits the readable part, bit 3 drops the
 * writable one, bit 4: a clock tick of `length` ms instead, bit 5: a
 * reset and set-up anew, bit 6: the writable part is `length` * 4 bytes,
 * bit 7: the record's bytes overwrite the queue's descriptor table. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz *z = fuzz_device();
	memset(z->ram, 0, RAM_SIZE);
	fuzz_now = 1000000000ull;
	driver_init(z);
	prologue(z);
	const uint8_t *p = data;
	size_t n = size;
	for (unsigned count = 0; n >= 2 && count < 128; count++) {
		uint8_t op = p[0];
		size_t len = p[1] < n - 2 ? p[1] : n - 2;
		const uint8_t *bytes = p + 2;
		unsigned q = op & 3;
		if (op & 0x20) {
			driver_init(z);
			if (op & 0x10)
				prologue(z);
		} else if (op & 0x10) {
			fuzz_now += (uint64_t)p[1] * 1000000ull;
			virtio_snd_tick(z->snd);
		} else if (op & 0x80) {
			memcpy(z->ram + desc_gpa(q), bytes, len);
			struct virtq_avail *a = (struct virtq_avail *)(z->ram + avail_gpa(q));
			a->ring[z->idx[q] % QSIZE] = len ? bytes[0] : 0;
			a->idx = ++z->idx[q];
			kick(z, q);
		} else {
			uint32_t wlen = op & 0x40 ? (uint32_t)p[1] * 4 : q == 3 ? 968 : 64;
			submit(z, q, bytes, len, wlen, op);
		}
		p += 2 + len;
		n -= 2 + len;
	}
	fuzz_now += 200000000ull;
	virtio_snd_tick(z->snd);
	rd(z, z->device + 4, 4);
	wr(z, z->common + 0x14, 0, 1);
	return 0;
}
