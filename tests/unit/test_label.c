/* test_label.c — the label port in hypervisor/devices/label.c, read the way
 * the in-tree guest reads it, and its interrupt at each new label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <string.h>

static uint32_t in32(struct bus *pio, uint16_t port)
{
	uint8_t d[4];
	assert_true(bus_read(pio, port, d, 4));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void out32(struct bus *pio, uint16_t port, uint32_t v)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(pio, port, d, 4));
}

/* What the guest does: offset 0, then 4 bytes per data read. */
static void read_label(struct bus *pio, char *out, size_t cap)
{
	uint32_t len = in32(pio, LABEL_PORT_BASE + 4);
	assert_true(len < cap);
	out32(pio, LABEL_PORT_BASE + 8, 0);
	for (uint32_t i = 0; i < len; i += 4) {
		uint32_t v = in32(pio, LABEL_PORT_BASE + 12);
		for (uint32_t k = 0; k < 4 && i + k < len; k++)
			out[i + k] = (char)(v >> (8 * k));
	}
	out[len] = '\0';
}

/* The interrupts a label raised: MSI address and data. */
static uint64_t msi_address;
static uint32_t msi_data;
static int msis;

static int record_msi(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque;
	msi_address = address;
	msi_data = data;
	msis++;
	return 0;
}

static void test_label_set_and_read(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct label *l = label_create(&pio, (struct msi_line){record_msi, NULL});
	assert_non_null(l);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE), 0);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE + 4), 0);

	assert_int_equal(label_set(l, "alice", 5), 0);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE), 1);
	char buf[LABEL_TEXT_MAX];
	read_label(&pio, buf, sizeof(buf));
	assert_string_equal(buf, "alice");

	assert_int_equal(label_set(l, "bob the builder", 15), 0);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE), 2);
	read_label(&pio, buf, sizeof(buf));
	assert_string_equal(buf, "bob the builder");

	/* The longest label fits exactly; one more byte or a NUL is refused. */
	char longest[LABEL_TEXT_MAX];
	memset(longest, 'x', sizeof(longest));
	assert_int_equal(label_set(l, longest, LABEL_TEXT_MAX - 1), 0);
	read_label(&pio, buf, sizeof(buf));
	assert_int_equal(strlen(buf), LABEL_TEXT_MAX - 1);
	assert_int_equal(label_set(l, longest, LABEL_TEXT_MAX), -EINVAL);
	assert_int_equal(label_set(l, "a\0b", 3), -EINVAL);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE), 3);

	label_destroy(l);
	assert_int_equal(pio.count, 0);
	bus_destroy(&pio);
}

static void test_label_hostile_reads(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct label *l = label_create(&pio, (struct msi_line){record_msi, NULL});
	assert_int_equal(label_set(l, "carol", 5), 0);
	/* An offset far out, reads past the end, odd sizes: zeros or all ones,
	 * never bytes from elsewhere. */
	out32(&pio, LABEL_PORT_BASE + 8, 0xfffffff0u);
	for (int i = 0; i < 100; i++)
		assert_int_equal(in32(&pio, LABEL_PORT_BASE + 12), 0);
	out32(&pio, LABEL_PORT_BASE + 8, 4);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE + 12), 'l');
	uint8_t b;
	assert_true(bus_read(&pio, LABEL_PORT_BASE + 1, &b, 1));
	assert_int_equal(b, 0xff);
	uint8_t w[2] = {1, 2};
	assert_true(bus_write(&pio, LABEL_PORT_BASE, w, 2)); /* ignored */
	assert_int_equal(in32(&pio, LABEL_PORT_BASE), 1);
	label_destroy(l);
	bus_destroy(&pio);
}

/* No interrupt until the guest asks; then its vector at every new label,
 * to APIC 0; exception vectors and out-of-range values turn it off. */
static void test_label_notify(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct label *l = label_create(&pio, (struct msi_line){record_msi, NULL});
	msis = 0;
	assert_int_equal(label_set(l, "alice", 5), 0);
	assert_int_equal(msis, 0);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE + 0x10), 0);
	out32(&pio, LABEL_PORT_BASE + 0x10, 0x30);
	assert_int_equal(in32(&pio, LABEL_PORT_BASE + 0x10), 0x30);
	assert_int_equal(msis, 0); /* asking raises nothing by itself */
	assert_int_equal(label_set(l, "bob", 3), 0);
	assert_int_equal(msis, 1);
	assert_int_equal(msi_address, 0xfee00000u);
	assert_int_equal(msi_data, 0x30);
	assert_int_equal(label_set(l, "a\0b", 3), -EINVAL); /* a refused label raises nothing */
	assert_int_equal(msis, 1);
	const uint32_t off[] = {0, 31, 256, 0xffffffffu};
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		out32(&pio, LABEL_PORT_BASE + 0x10, 0x30);
		out32(&pio, LABEL_PORT_BASE + 0x10, off[i]);
		assert_int_equal(in32(&pio, LABEL_PORT_BASE + 0x10), 0);
		assert_int_equal(label_set(l, "carol", 5), 0);
	}
	assert_int_equal(msis, 1);
	label_destroy(l);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_set_and_read),
	    cmocka_unit_test(test_label_notify),
	    cmocka_unit_test(test_label_hostile_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
