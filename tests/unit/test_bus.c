/* test_bus.c — unit tests for the PIO/MMIO range dispatch in hypervisor/bus.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/bus.h"

#include <errno.h>
#include <string.h>

/* A device that records the last access it saw and reads back a pattern of
 * its id and the offset. */
struct recorder {
	uint8_t id;
	int reads, writes;
	uint64_t offset;
	uint32_t size;
	uint8_t data[8];
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct recorder *r = opaque;
	r->reads++;
	r->offset = offset;
	r->size = size;
	for (uint32_t i = 0; i < size; i++)
		data[i] = (uint8_t)(r->id + offset + i);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct recorder *r = opaque;
	r->writes++;
	r->offset = offset;
	r->size = size;
	memcpy(r->data, data, size);
}

static const struct bus_ops rec_ops = {.read = rec_read, .write = rec_write};
static const struct bus_ops empty_ops = {0};

static void test_sorted_insert(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder r = {0};
	const uint64_t bases[] = {0x500, 0x100, 0x900, 0x0, 0x300, 0x700};
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		assert_int_equal(bus_register(&bus, bases[i], 0x10, &rec_ops, &r, "r"), 0);
	assert_int_equal(bus.count, 6);
	for (size_t i = 1; i < bus.count; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	bus_destroy(&bus);
}

static void test_many_ranges_grow(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "mmio");
	struct recorder r = {0};
	/* Registered from the top down so every insert lands at the front. */
	for (int i = 99; i >= 0; i--)
		assert_int_equal(bus_register(&bus, (uint64_t)i * 0x1000, 0x1000, &rec_ops, &r, "r"), 0);
	assert_int_equal(bus.count, 100);
	for (size_t i = 0; i < bus.count; i++)
		assert_int_equal(bus.ranges[i].base, i * 0x1000);
	uint8_t b;
	assert_true(bus_read(&bus, 0x63fff, &b, 1));
	assert_int_equal(r.offset, 0xfff);
	bus_destroy(&bus);
}

static void test_invalid_ranges(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder r = {0};
	assert_int_equal(bus_register(&bus, 0x10, 0, &rec_ops, &r, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &rec_ops, &r, "wraps"), -EINVAL);
	assert_int_equal(bus_register(&bus, 0x10, 1, NULL, &r, "no ops"), -EINVAL);
	/* The very top byte of the address space is a valid range. */
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, &rec_ops, &r, "top"), 0);
	uint8_t d[2];
	assert_true(bus_read(&bus, UINT64_MAX, d, 1));
	assert_false(bus_read(&bus, UINT64_MAX, d, 2)); /* would wrap past the top */
	assert_int_equal(bus.count, 1);
	bus_destroy(&bus);
}

static void test_overlap_rejected(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder r = {0};
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &r, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &r, "same"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x100, 1, &rec_ops, &r, "same base"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x10f, 1, &rec_ops, &r, "last byte"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xff, 2, &rec_ops, &r, "into start"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x108, 0x10, &rec_ops, &r, "over end"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x0, 0x1000, &rec_ops, &r, "around"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x104, 4, &rec_ops, &r, "inside"), -EEXIST);
	assert_int_equal(bus.count, 1);
	bus_destroy(&bus);
}

static void test_adjacent_allowed(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder a = {.id = 0x10}, b = {.id = 0x20}, c = {.id = 0x30};
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &b, "b"), 0);
	assert_int_equal(bus_register(&bus, 0x0f0, 0x10, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &rec_ops, &c, "c"), 0);
	uint8_t v;
	assert_true(bus_read(&bus, 0xff, &v, 1));
	assert_int_equal(a.reads, 1);
	assert_true(bus_read(&bus, 0x100, &v, 1));
	assert_int_equal(b.reads, 1);
	assert_true(bus_read(&bus, 0x10f, &v, 1));
	assert_int_equal(b.reads, 2);
	assert_true(bus_read(&bus, 0x110, &v, 1));
	assert_int_equal(c.reads, 1);
	bus_destroy(&bus);
}

static void test_lookup_at_edges(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder r = {.id = 0x40};
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &rec_ops, &r, "uart"), 0);

	uint8_t data[8];
	assert_true(bus_read(&bus, 0x3f8, data, 1));
	assert_int_equal(r.offset, 0);
	assert_int_equal(data[0], 0x40);
	assert_true(bus_read(&bus, 0x3ff, data, 1));
	assert_int_equal(r.offset, 7);
	assert_int_equal(data[0], 0x47);
	assert_true(bus_read(&bus, 0x3f8, data, 8));
	assert_int_equal(r.size, 8);
	assert_true(bus_read(&bus, 0x3fc, data, 4));
	assert_int_equal(r.offset, 4);

	int before = r.reads;
	assert_false(bus_read(&bus, 0x3f7, data, 1));
	assert_false(bus_read(&bus, 0x400, data, 1));
	assert_int_equal(r.reads, before);

	const uint8_t w[2] = {0xaa, 0xbb};
	assert_true(bus_write(&bus, 0x3fe, w, 2));
	assert_int_equal(r.offset, 6);
	assert_int_equal(r.size, 2);
	assert_memory_equal(r.data, w, 2);
	bus_destroy(&bus);
}

static void test_straddling_unhandled(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder a = {.id = 1}, b = {.id = 2};
	assert_int_equal(bus_register(&bus, 0x60, 1, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x61, 1, &rec_ops, &b, "b"), 0);
	uint8_t data[4] = {0};
	/* Into the next range, off the end into nothing, and in from below. */
	assert_false(bus_read(&bus, 0x60, data, 2));
	assert_memory_equal(data, "\xff\xff", 2);
	assert_false(bus_read(&bus, 0x61, data, 4));
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_false(bus_read(&bus, 0x5f, data, 2));
	assert_false(bus_write(&bus, 0x60, data, 2));
	assert_false(bus_write(&bus, 0x5e, data, 4));
	assert_int_equal(a.reads + a.writes + b.reads + b.writes, 0);
	bus_destroy(&bus);
}

static void test_unregistered_reads_ff(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	uint8_t data[8];
	for (uint32_t size = 1; size <= 8; size++) {
		memset(data, 0, sizeof(data));
		assert_false(bus_read(&bus, 0x1234, data, size));
		for (uint32_t i = 0; i < size; i++)
			assert_int_equal(data[i], 0xff);
		for (uint32_t i = size; i < 8; i++)
			assert_int_equal(data[i], 0);
	}
	assert_false(bus_write(&bus, 0x1234, data, 4));

	/* Sizes outside 1..8 are refused even where a range exists, and never
	 * touch more than 8 bytes. */
	struct recorder r = {0};
	assert_int_equal(bus_register(&bus, 0, 0x100, &rec_ops, &r, "r"), 0);
	assert_false(bus_read(&bus, 0x10, data, 0));
	memset(data, 0, sizeof(data));
	assert_false(bus_read(&bus, 0x10, data, 9));
	assert_memory_equal(data, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	assert_false(bus_write(&bus, 0x10, data, 9));
	assert_int_equal(r.reads + r.writes, 0);
	bus_destroy(&bus);
}

static void test_missing_callbacks(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x80, 1, &empty_ops, NULL, "sink"), 0);
	uint8_t v = 0;
	assert_true(bus_read(&bus, 0x80, &v, 1));
	assert_int_equal(v, 0xff);
	assert_true(bus_write(&bus, 0x80, &v, 1));
	bus_destroy(&bus);
}

static void test_unregister(void **state)
{
	(void)state;
	struct bus bus;
	bus_init(&bus, "pio");
	struct recorder a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	assert_int_equal(bus_register(&bus, 0x10, 0x10, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x20, 0x10, &rec_ops, &b, "b"), 0);
	assert_int_equal(bus_register(&bus, 0x30, 0x10, &rec_ops, &c, "c"), 0);

	assert_int_equal(bus_unregister(&bus, 0x24), -ENOENT); /* inside, not a base */
	assert_int_equal(bus_unregister(&bus, 0x5), -ENOENT);
	assert_int_equal(bus_unregister(&bus, 0x100), -ENOENT);
	assert_int_equal(bus_unregister(&bus, 0x20), 0);
	assert_int_equal(bus_unregister(&bus, 0x20), -ENOENT);
	assert_int_equal(bus.count, 2);

	uint8_t v;
	assert_false(bus_read(&bus, 0x20, &v, 1));
	assert_int_equal(b.reads, 0);
	assert_true(bus_read(&bus, 0x1f, &v, 1));
	assert_true(bus_read(&bus, 0x30, &v, 1));
	assert_int_equal(a.reads, 1);
	assert_int_equal(c.reads, 1);

	/* The freed hole can be reused. */
	assert_int_equal(bus_register(&bus, 0x20, 0x10, &rec_ops, &b, "b again"), 0);
	assert_true(bus_read(&bus, 0x2f, &v, 1));
	assert_int_equal(b.reads, 1);

	assert_int_equal(bus_unregister(&bus, 0x10), 0);
	assert_int_equal(bus_unregister(&bus, 0x20), 0);
	assert_int_equal(bus_unregister(&bus, 0x30), 0);
	assert_int_equal(bus.count, 0);
	assert_false(bus_read(&bus, 0x30, &v, 1));
	assert_int_equal(bus_unregister(&bus, 0x30), -ENOENT);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sorted_insert),        cmocka_unit_test(test_many_ranges_grow),
	    cmocka_unit_test(test_invalid_ranges),       cmocka_unit_test(test_overlap_rejected),
	    cmocka_unit_test(test_adjacent_allowed),     cmocka_unit_test(test_lookup_at_edges),
	    cmocka_unit_test(test_straddling_unhandled), cmocka_unit_test(test_unregistered_reads_ff),
	    cmocka_unit_test(test_missing_callbacks),    cmocka_unit_test(test_unregister),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
