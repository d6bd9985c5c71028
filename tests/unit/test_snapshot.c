/* test_snapshot.c — the snapshot state file (hypervisor/snapshot_format.c):
 * sections round-trip, and every truncation, flipped byte, wrong version or
 * wrong build is refused; and devices saved and loaded into fresh ones carry
 * on as the guest left them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "../../hypervisor/snapshot.h"
#include "virtio_guest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static const uint8_t build_a[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static struct snap_header_info header(void)
{
	struct snap_header_info h = {
	    .build_id_len = sizeof(build_a),
	    .flags = SNAP_F_CPUID_PROBED,
	    .cpu_fingerprint = 0x0123456789abcdefull,
	    .vcpus = 2,
	    .mem_bytes = 256ull << 20,
	    .low_bytes = 256ull << 20,
	};
	memcpy(h.build_id, build_a, sizeof(build_a));
	return h;
}

/* A state file of three sections: a vCPU's, an empty one and a device's. */
static void make_file(uint8_t **data, size_t *len)
{
	struct snap_writer w;
	struct snap_header_info h = header();
	assert_int_equal(snap_writer_init(&w, &h), 0);
	struct snap_buf b = {0};
	snap_put_u64(&b, 0x1122334455667788ull);
	snap_put_u32(&b, 7);
	snap_put_u16(&b, 0xbeef);
	snap_put_u8(&b, 0x42);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_VCPU, 1, &b), 0);
	snap_buf_free(&b);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_POWEROFF, 0, &b), 0);
	for (int i = 0; i < 1000; i++)
		snap_put_u8(&b, (uint8_t)i);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_UART, 0, &b), 0);
	snap_buf_free(&b);
	assert_int_equal(snap_writer_finish(&w), 0);
	*data = w.out.data;
	*len = w.out.len;
}

/* Parses a copy of data[0..len); returns the result, the reason in why. */
static int parse_copy(const uint8_t *data, size_t len, char *why, size_t cap)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, data, len);
	struct snap_image img;
	int r = snap_image_parse(&img, copy, len, build_a, sizeof(build_a), why, cap);
	snap_image_free(&img);
	return r;
}

static void test_round_trip(void **state)
{
	(void)state;
	uint8_t *data;
	size_t len;
	make_file(&data, &len);
	struct snap_image img;
	char why[256];
	assert_int_equal(snap_image_parse(&img, data, len, build_a, sizeof(build_a), why, sizeof(why)), 0);
	assert_int_equal(img.header.vcpus, 2);
	assert_int_equal(img.header.mem_bytes, 256ull << 20);
	assert_int_equal(img.header.cpu_fingerprint, 0x0123456789abcdefull);
	assert_int_equal(img.header.flags, SNAP_F_CPUID_PROBED);
	assert_int_equal(img.nsections, 3);
	assert_null(snap_image_find(&img, SNAP_SEC_VCPU, 0));
	struct snap_section *s = snap_image_find(&img, SNAP_SEC_VCPU, 1);
	assert_non_null(s);
	struct snap_cursor c = snap_section_cursor(s);
	assert_int_equal(snap_get_u64(&c), 0x1122334455667788ull);
	assert_int_equal(snap_get_u32(&c), 7);
	assert_int_equal(snap_get_u16(&c), 0xbeef);
	assert_false(snap_cursor_done(&c));
	assert_int_equal(snap_get_u8(&c), 0x42);
	assert_true(snap_cursor_done(&c));
	/* Reading past the end fails and yields zero. */
	assert_int_equal(snap_get_u32(&c), 0);
	assert_false(snap_cursor_done(&c));
	s = snap_image_find(&img, SNAP_SEC_UART, 0);
	assert_non_null(s);
	assert_int_equal(s->len, 1000);
	assert_int_equal(s->payload[999], (uint8_t)999);
	s = snap_image_find(&img, SNAP_SEC_POWEROFF, 0);
	assert_non_null(s);
	assert_int_equal(s->len, 0);
	snap_image_free(&img);
}

static void test_every_truncation_refused(void **state)
{
	(void)state;
	uint8_t *data;
	size_t len;
	make_file(&data, &len);
	char why[256];
	for (size_t n = 0; n < len; n++) {
		int r = parse_copy(data, n, why, sizeof(why));
		if (r != -EINVAL)
			fail_msg("a file cut to %zu of %zu bytes was accepted", n, len);
	}
	/* At a section boundary the reason says so. */
	size_t boundary = SNAP_HEADER_BYTES + SNAP_SECTION_BYTES + 15;
	assert_int_equal(parse_copy(data, boundary, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), 0);
	free(data);
}

static void test_every_flipped_byte_refused(void **state)
{
	(void)state;
	uint8_t *data;
	size_t len;
	make_file(&data, &len);
	char why[256];
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			data[i] ^= (uint8_t)(1u << bit);
			if (parse_copy(data, len, why, sizeof(why)) != -EINVAL)
				fail_msg("bit %d of byte %zu flipped was accepted", bit, i);
			data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* A flipped payload byte names its section. */
	data[len - SNAP_SECTION_BYTES - 10] ^= 1;
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "uart"));
	assert_non_null(strstr(why, "checksum"));
	free(data);
}

static void reseal_header(uint8_t *data)
{
	uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, 124);
	memcpy(data + 124, &crc, 4);
}

static void test_version_build_and_layout_refused(void **state)
{
	(void)state;
	uint8_t *data;
	size_t len;
	make_file(&data, &len);
	char why[256];
	/* Another format version, even with a valid header checksum. */
	uint32_t version = SNAP_FORMAT_VERSION + 1;
	memcpy(data + 8, &version, 4);
	reseal_header(data);
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "format version 2"));
	version = SNAP_FORMAT_VERSION;
	memcpy(data + 8, &version, 4);
	reseal_header(data);
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), 0);
	/* Another build of vdi-vmm. */
	uint8_t *copy = malloc(len);
	memcpy(copy, data, len);
	struct snap_image img;
	static const uint8_t build_b[] = {1, 2, 3};
	assert_int_equal(snap_image_parse(&img, copy, len, build_b, sizeof(build_b), why, sizeof(why)), -EINVAL);
	snap_image_free(&img);
	assert_non_null(strstr(why, "another vdi-vmm build (deadbeef"));
	/* Bad magic. */
	data[0] = 'X';
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "magic"));
	data[0] = 'V';
	/* Bytes after the end section. */
	uint8_t *longer = calloc(1, len + 4);
	memcpy(longer, data, len);
	assert_int_equal(parse_copy(longer, len + 4, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "after the end"));
	free(longer);
	/* A count of sections that disagrees with the file. */
	uint32_t count = 5;
	memcpy(data + 100, &count, 4);
	reseal_header(data);
	assert_int_equal(parse_copy(data, len, why, sizeof(why)), -EINVAL);
	free(data);
}

static void test_duplicate_section_refused(void **state)
{
	(void)state;
	struct snap_writer w;
	struct snap_header_info h = header();
	assert_int_equal(snap_writer_init(&w, &h), 0);
	struct snap_buf b = {0};
	snap_put_u32(&b, 1);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_RTC, 0, &b), 0);
	assert_int_equal(snap_writer_add(&w, SNAP_SEC_RTC, 0, &b), 0);
	snap_buf_free(&b);
	assert_int_equal(snap_writer_finish(&w), 0);
	char why[256];
	assert_int_equal(parse_copy(w.out.data, w.out.len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "twice"));
	snap_writer_free(&w);
}

/* Saves `save`'s output, checks it loads into a fresh device, that the
 * fresh device saves the same bytes, and that every shorter payload and a
 * longer one are refused. */
#define ROUND_TRIP(type, old, fresh, save, load)                                                                       \
	do {                                                                                                           \
		struct snap_buf b1 = {0}, b2 = {0};                                                                    \
		save(old, &b1);                                                                                        \
		for (size_t n = 0; n < b1.len; n++) {                                                                  \
			struct snap_cursor c = {.data = b1.data, .len = n};                                            \
			if (load(fresh, &c) != -EINVAL)                                                                \
				fail_msg(#type ": a %zu-byte payload of %zu was loaded", n, b1.len);                   \
		}                                                                                                      \
		struct snap_buf longer = {0};                                                                          \
		snap_put_bytes(&longer, b1.data, b1.len);                                                              \
		snap_put_u8(&longer, 0);                                                                               \
		struct snap_cursor cl = {.data = longer.data, .len = longer.len};                                      \
		assert_int_equal(load(fresh, &cl), -EINVAL);                                                           \
		snap_buf_free(&longer);                                                                                \
		struct snap_cursor c = {.data = b1.data, .len = b1.len};                                               \
		assert_int_equal(load(fresh, &c), 0);                                                                  \
		save(fresh, &b2);                                                                                      \
		assert_int_equal(b1.len, b2.len);                                                                      \
		assert_memory_equal(b1.data, b2.data, b1.len);                                                         \
		snap_buf_free(&b1);                                                                                    \
		snap_buf_free(&b2);                                                                                    \
	} while (0)

static void out8(struct bus *pio, uint16_t port, uint8_t v)
{
	assert_true(bus_write(pio, port, &v, 1));
}

static uint8_t in8(struct bus *pio, uint16_t port)
{
	uint8_t v;
	assert_true(bus_read(pio, port, &v, 1));
	return v;
}

static void test_platform_devices(void **state)
{
	(void)state;
	struct bus a, b;
	bus_init(&a, "pio");
	bus_init(&b, "pio");
	struct irq_line none = {0};
	/* UART: divisor, line control, scratch, two bytes waiting in the FIFO. */
	struct uart *ua = uart_create(&a, UART_COM1_BASE, 4, none, -1),
		    *ub = uart_create(&b, UART_COM1_BASE, 4, none, -1);
	out8(&a, UART_COM1_BASE + 2, 0x01); /* FIFO on */
	out8(&a, UART_COM1_BASE + 3, 0x03);
	out8(&a, UART_COM1_BASE + 7, 0x5a);
	assert_int_equal(uart_receive(ua, (const uint8_t *)"hi", 2), 2);
	ROUND_TRIP(uart, ua, ub, uart_save, uart_load);
	assert_int_equal(in8(&b, UART_COM1_BASE + 7), 0x5a);
	assert_int_equal(in8(&b, UART_COM1_BASE + 0), 'h');
	assert_int_equal(in8(&b, UART_COM1_BASE + 0), 'i');
	/* RTC: NVRAM and the guest's clock offset. */
	struct rtc *ra = rtc_create(&a), *rb = rtc_create(&b);
	out8(&a, RTC_PORT_INDEX, 0x40);
	out8(&a, RTC_PORT_INDEX + 1, 0x77);
	out8(&a, RTC_PORT_INDEX, 0x09); /* year: set the guest's clock years ahead */
	out8(&a, RTC_PORT_INDEX + 1, 0x99);
	ROUND_TRIP(rtc, ra, rb, rtc_save, rtc_load);
	out8(&b, RTC_PORT_INDEX, 0x40);
	assert_int_equal(in8(&b, RTC_PORT_INDEX + 1), 0x77);
	out8(&b, RTC_PORT_INDEX, 0x09);
	assert_int_equal(in8(&b, RTC_PORT_INDEX + 1), 0x99);
	/* i8042: a keyboard answer waiting. */
	struct i8042 *ka = i8042_create(&a, NULL, NULL), *kb = i8042_create(&b, NULL, NULL);
	out8(&a, I8042_PORT_CMD, 0xaa);
	ROUND_TRIP(i8042, ka, kb, i8042_save, i8042_load);
	assert_int_equal(in8(&b, I8042_PORT_DATA), 0x55);
	/* Label: text and generation; a new label after a load moves on. */
	struct label *la = label_create(&a, (struct msi_line){0}), *lb = label_create(&b, (struct msi_line){0});
	uint8_t vec[4] = {0x30, 0, 0, 0};
	assert_true(bus_write(&a, LABEL_PORT_BASE + 0x10, vec, 4));
	assert_int_equal(label_set(la, "alice", 5), 0);
	assert_int_equal(label_set(la, "bob", 3), 0);
	ROUND_TRIP(label, la, lb, label_save, label_load);
	uint8_t g[4];
	assert_true(bus_read(&b, LABEL_PORT_BASE, g, 4));
	assert_int_equal(g[0], 2);
	assert_true(bus_read(&b, LABEL_PORT_BASE + 0x10, g, 4));
	assert_int_equal(g[0], 0x30); /* the guest's notify vector */
	assert_int_equal(label_set(lb, "carol", 5), 0);
	assert_true(bus_read(&b, LABEL_PORT_BASE, g, 4));
	assert_int_equal(g[0], 3);
	/* PCI: the address latch. */
	struct pci_bus *pa = pci_create(&a), *pb = pci_create(&b);
	uint8_t addr[4] = {0x04, 0x00, 0x00, 0x80};
	assert_true(bus_write(&a, PCI_CONFIG_ADDRESS, addr, 4));
	ROUND_TRIP(pci, pa, pb, pci_save, pci_load);
	uint8_t got[4];
	assert_true(bus_read(&b, PCI_CONFIG_ADDRESS, got, 4));
	assert_memory_equal(got, addr, 4);
	/* Hostile payloads: a FIFO index out of range, a label with a NUL. */
	struct snap_buf bad = {0};
	uart_save(ua, &bad);
	bad.data[11 + 16] = 16; /* rx_head */
	struct snap_cursor c = {.data = bad.data, .len = bad.len};
	assert_int_equal(uart_load(ub, &c), -EINVAL);
	snap_buf_free(&bad);
	label_save(la, &bad);
	bad.data[12] = 0;
	c = (struct snap_cursor){.data = bad.data, .len = bad.len};
	assert_int_equal(label_load(lb, &c), -EINVAL);
	snap_buf_free(&bad);
	uart_destroy(ua), uart_destroy(ub), rtc_destroy(ra), rtc_destroy(rb), i8042_destroy(ka), i8042_destroy(kb);
	label_destroy(la), label_destroy(lb), pci_destroy(pa), pci_destroy(pb);
	bus_destroy(&a);
	bus_destroy(&b);
}

/* virtio-rng through the virtio-pci transport: a guest serves one request,
 * the device is saved, guest RAM copied, and a fresh device loaded from it
 * serves the next request at the same BAR with the used index going on. */
static void test_virtio_rng_continues(void **state)
{
	(void)state;
	struct vg *a = vg_create(), *b = vg_create();
	assert_non_null(a);
	assert_non_null(b);
	struct virtio_rng *ra = virtio_rng_create(&a->cfg), *rb = virtio_rng_create(&b->cfg);
	vg_enable_memory(a);
	vg_find_caps(a);
	assert_int_equal(vg_negotiate(a), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_queue_setup(a, 0, 8, 0xffff);
	vg_status(a, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	vg_set_desc(a, 0, 0, VG_DATA, 32, 2 /* WRITE */, 0);
	vg_make_available(a, 0, 0);
	vg_kick(a, 0);
	assert_int_equal(vg_used_idx(a, 0), 1);
	/* The new VMM has not mapped the BAR: only a load does that. */
	uint64_t v;
	assert_false(vg_mmio_try_read(b, b->bar + b->isr, 1, &v));

	struct snap_buf s = {0};
	virtio_rng_save(ra, &s);
	memcpy(b->mem, a->mem, VG_MEM_SIZE);
	/* What the guest driver knows lives in guest RAM and its own fields. */
	b->common = a->common, b->notify = a->notify, b->isr = a->isr, b->notify_mult = a->notify_mult;
	memcpy(b->queue_size, a->queue_size, sizeof(a->queue_size));
	memcpy(b->avail_idx, a->avail_idx, sizeof(a->avail_idx));
	for (size_t n = 0; n < s.len; n += 7) {
		struct snap_cursor c = {.data = s.data, .len = n};
		assert_int_equal(virtio_rng_load(rb, &c), -EINVAL);
	}
	struct snap_cursor c = {.data = s.data, .len = s.len};
	assert_int_equal(virtio_rng_load(rb, &c), 0);
	assert_int_equal(vg_common_read(b, VG_DEVICE_STATUS, 1),
			 VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
	memset(b->mem + VG_DATA + 64, 0, 32);
	vg_set_desc(b, 0, 1, VG_DATA + 64, 32, 2, 0);
	vg_make_available(b, 0, 1);
	vg_kick(b, 0);
	assert_int_equal(vg_used_idx(b, 0), 2);
	uint32_t id, len;
	vg_used_elem(b, 0, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 32);
	/* Rings that are not guest RAM are refused. */
	snap_buf_free(&s);
	virtio_rng_save(ra, &s);
	/* queue 0's desc_addr: after ids (4), features (8), 4 bytes, selects
	 * (8), queue_select and msix_config (4), size (2), enabled, vector (2). */
	uint64_t far = 1ull << 40;
	memcpy(s.data + 4 + 8 + 4 + 8 + 4 + 2 + 1 + 2, &far, 8);
	c = (struct snap_cursor){.data = s.data, .len = s.len};
	assert_int_equal(virtio_rng_load(rb, &c), -EINVAL);
	snap_buf_free(&s);
	virtio_rng_destroy(ra);
	virtio_rng_destroy(rb);
	vg_destroy(a);
	vg_destroy(b);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_every_truncation_refused),
	    cmocka_unit_test(test_every_flipped_byte_refused),
	    cmocka_unit_test(test_version_build_and_layout_refused),
	    cmocka_unit_test(test_duplicate_section_refused),
	    cmocka_unit_test(test_platform_devices),
	    cmocka_unit_test(test_virtio_rng_continues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
