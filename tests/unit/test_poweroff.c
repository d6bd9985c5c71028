/* test_poweroff.c — unit tests for the power-off port and the port 0x80 sink
 * in hypervisor/devices/poweroff.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	struct bus pio;
	struct poweroff *p;
	int calls;
	uint32_t code;
};

static void on_poweroff(void *opaque, uint32_t code)
{
	struct fixture *f = opaque;
	f->calls++;
	f->code = code;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	f->p = poweroff_create(&f->pio, on_poweroff, f);
	if (!f->p)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	poweroff_destroy(f->p);
	assert_int_equal(f->pio.count, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static void test_code_passed(void **state)
{
	struct fixture *f = *state;
	uint8_t b = 0;
	assert_true(bus_write(&f->pio, POWEROFF_PORT, &b, 1));
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->code, 0);

	b = 0xfe; /* zero-extended, not sign-extended */
	assert_true(bus_write(&f->pio, POWEROFF_PORT, &b, 1));
	assert_int_equal(f->code, 0xfe);

	const uint8_t w[2] = {0x34, 0x12};
	assert_true(bus_write(&f->pio, POWEROFF_PORT, w, 2));
	assert_int_equal(f->code, 0x1234);

	const uint8_t d[4] = {0xef, 0xbe, 0xad, 0xde};
	assert_true(bus_write(&f->pio, POWEROFF_PORT, d, 4));
	assert_int_equal(f->code, 0xdeadbeef);
	assert_int_equal(f->calls, 4);
}

static void test_other_accesses_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	/* The upper bytes of the port and odd sizes are not a power-off. */
	for (unsigned off = 1; off < 4; off++)
		assert_true(bus_write(&f->pio, POWEROFF_PORT + off, d, 1));
	assert_true(bus_write(&f->pio, POWEROFF_PORT + 2, d, 2));
	assert_true(bus_write(&f->pio, POWEROFF_PORT, d, 3));
	assert_false(bus_write(&f->pio, POWEROFF_PORT, d, 8)); /* wider than the port */
	assert_false(bus_write(&f->pio, POWEROFF_PORT - 1, d, 2));
	assert_int_equal(f->calls, 0);

	for (uint32_t size = 1; size <= 4; size++) {
		memset(d, 0xaa, sizeof(d));
		assert_true(bus_read(&f->pio, POWEROFF_PORT, d, size));
		for (uint32_t i = 0; i < size; i++)
			assert_int_equal(d[i], 0);
	}
	assert_true(bus_read(&f->pio, POWEROFF_PORT + 3, d, 1));
	assert_int_equal(d[0], 0);
	assert_int_equal(f->calls, 0);
}

static void test_post_port_sink(void **state)
{
	struct fixture *f = *state;
	/* Linux's I/O delay: many writes, nothing happens. */
	for (int i = 0; i < 100000; i++) {
		uint8_t v = (uint8_t)i;
		assert_true(bus_write(&f->pio, POST_PORT, &v, 1));
	}
	uint8_t v = 0;
	assert_true(bus_read(&f->pio, POST_PORT, &v, 1));
	assert_int_equal(v, 0xff);
	uint8_t w[2] = {0};
	assert_false(bus_write(&f->pio, POST_PORT, w, 2)); /* 0x81 is not ours */
	assert_int_equal(f->calls, 0);
}

static void test_create_conflicts(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	static const struct bus_ops none = {0};
	/* Port 0x80 taken: creation fails and leaves 0x510 free again. */
	assert_int_equal(bus_register(&pio, POST_PORT, 1, &none, NULL, "other"), 0);
	errno = 0;
	assert_null(poweroff_create(&pio, NULL, NULL));
	assert_int_equal(errno, EEXIST);
	assert_int_equal(pio.count, 1);
	assert_int_equal(bus_unregister(&pio, POST_PORT), 0);

	/* No callback: writes are harmless. */
	struct poweroff *p = poweroff_create(&pio, NULL, NULL);
	assert_non_null(p);
	uint8_t b = 0;
	assert_true(bus_write(&pio, POWEROFF_PORT, &b, 1));
	poweroff_destroy(p);
	poweroff_destroy(NULL);
	assert_int_equal(pio.count, 0);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_code_passed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_accesses_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_port_sink, setup, teardown),
	    cmocka_unit_test(test_create_conflicts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
