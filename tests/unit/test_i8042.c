/* test_i8042.c — unit tests for the keyboard controller in
 * hypervisor/devices/i8042.c, through ports 0x60/0x64 on a real PIO bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <stdlib.h>

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_AUX 0x20

struct fixture {
	struct bus pio;
	struct i8042 *kbc;
	int resets;
	uint8_t status_in_reset; /* status read from inside the callback */
};

static uint8_t in(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;
	assert_true(bus_read(&f->pio, port, &v, 1));
	return v;
}

static void out(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_true(bus_write(&f->pio, port, &v, 1));
}

/* The VMM's reset handler may touch devices; it must not run under the
 * controller's lock, or this read would deadlock. */
static void on_reset(void *opaque)
{
	struct fixture *f = opaque;
	f->resets++;
	f->status_in_reset = in(f, I8042_PORT_CMD);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	f->kbc = i8042_create(&f->pio, on_reset, f);
	if (!f->kbc)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	i8042_destroy(f->kbc);
	assert_int_equal(f->pio.count, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static void command(struct fixture *f, uint8_t cmd)
{
	out(f, I8042_PORT_CMD, cmd);
}

static uint8_t read_data(struct fixture *f)
{
	assert_true(in(f, I8042_PORT_CMD) & ST_OBF);
	return in(f, I8042_PORT_DATA);
}

static void assert_empty(struct fixture *f)
{
	assert_int_equal(in(f, I8042_PORT_CMD) & ST_OBF, 0);
}

static void test_status_and_self_test(void **state)
{
	struct fixture *f = *state;
	uint8_t st = in(f, I8042_PORT_CMD);
	assert_int_equal(st & ST_OBF, 0);
	assert_int_equal(st & ST_SYS, ST_SYS);
	command(f, 0xaa);
	assert_int_equal(in(f, I8042_PORT_CMD) & ST_CMD, ST_CMD);
	assert_int_equal(read_data(f), 0x55);
	assert_empty(f);
	command(f, 0xab);
	assert_int_equal(read_data(f), 0x00);
	command(f, 0xa9);
	assert_int_equal(read_data(f), 0x00);
	/* Reading an empty buffer repeats the last byte, as hardware does. */
	assert_int_equal(in(f, I8042_PORT_DATA), 0x00);
	assert_empty(f);
	assert_int_equal(f->resets, 0);
}

static void test_command_byte(void **state)
{
	struct fixture *f = *state;
	command(f, 0x20);
	uint8_t ctr = read_data(f);
	assert_int_equal(ctr & ST_SYS, ST_SYS);
	command(f, 0x60);
	out(f, I8042_PORT_DATA, 0x47);
	assert_int_equal(in(f, I8042_PORT_CMD) & ST_CMD, 0);
	command(f, 0x20);
	assert_int_equal(read_data(f), 0x47);
	assert_empty(f); /* the data byte was the command's, not the keyboard's */

	/* The status SYS flag follows command byte bit 2. */
	command(f, 0x60);
	out(f, I8042_PORT_DATA, 0x00);
	assert_int_equal(in(f, I8042_PORT_CMD) & ST_SYS, 0);

	command(f, 0xad);
	command(f, 0x20);
	assert_int_equal(read_data(f), 0x10);
	command(f, 0xae);
	command(f, 0xa7);
	command(f, 0x20);
	assert_int_equal(read_data(f), 0x20);
	command(f, 0xa8);
	command(f, 0x20);
	assert_int_equal(read_data(f), 0x00);

	/* Controller RAM beyond the command byte. */
	command(f, 0x65);
	out(f, I8042_PORT_DATA, 0x9c);
	command(f, 0x25);
	assert_int_equal(read_data(f), 0x9c);

	/* A command waiting for data is dropped by a new command. */
	command(f, 0x60);
	command(f, 0xaa);
	assert_int_equal(read_data(f), 0x55);
	out(f, I8042_PORT_DATA, 0xf4); /* goes to the keyboard now */
	assert_int_equal(read_data(f), 0xfa);
	command(f, 0x20);
	assert_int_equal(read_data(f), 0x00);
}

static void test_reset_pulse(void **state)
{
	struct fixture *f = *state;
	command(f, 0xfe);
	assert_int_equal(f->resets, 1);
	assert_int_equal(f->status_in_reset & ST_SYS, ST_SYS);
	command(f, 0xff); /* pulses nothing */
	assert_int_equal(f->resets, 1);
	for (unsigned cmd = 0xf0; cmd <= 0xff; cmd++)
		command(f, (uint8_t)cmd);
	assert_int_equal(f->resets, 1 + 8); /* every even one pulses line 0 */
}

static void test_reset_output_port(void **state)
{
	struct fixture *f = *state;
	command(f, 0xd0);
	uint8_t port = read_data(f);
	assert_int_equal(port & 0x03, 0x03); /* not in reset, A20 on */
	command(f, 0xd1);
	out(f, I8042_PORT_DATA, 0x03);
	assert_int_equal(f->resets, 0);
	command(f, 0xd1);
	out(f, I8042_PORT_DATA, 0x02);
	assert_int_equal(f->resets, 1);
	command(f, 0xd0);
	assert_int_equal(read_data(f), 0x02);
	/* The same byte without 0xd1 first is keyboard data, not a reset. */
	out(f, I8042_PORT_DATA, 0x02);
	assert_int_equal(f->resets, 1);
	assert_int_equal(read_data(f), 0xfe);
}

static void test_keyboard_commands(void **state)
{
	struct fixture *f = *state;
	out(f, I8042_PORT_DATA, 0xff);
	assert_int_equal(read_data(f), 0xfa);
	assert_int_equal(read_data(f), 0xaa);
	assert_empty(f);

	out(f, I8042_PORT_DATA, 0xf2);
	assert_int_equal(read_data(f), 0xfa);
	assert_int_equal(read_data(f), 0xab);
	assert_int_equal(read_data(f), 0x41); /* translated: the default command byte has XLATE */
	command(f, 0x60);
	out(f, I8042_PORT_DATA, 0x05);
	out(f, I8042_PORT_DATA, 0xf2);
	assert_int_equal(read_data(f), 0xfa);
	assert_int_equal(read_data(f), 0xab);
	assert_int_equal(read_data(f), 0x83);

	out(f, I8042_PORT_DATA, 0xed); /* set LEDs, then its argument */
	assert_int_equal(read_data(f), 0xfa);
	out(f, I8042_PORT_DATA, 0x07);
	assert_int_equal(read_data(f), 0xfa);
	assert_empty(f);
	out(f, I8042_PORT_DATA, 0xf4);
	assert_int_equal(read_data(f), 0xfa);
	out(f, I8042_PORT_DATA, 0xee);
	assert_int_equal(read_data(f), 0xee);
	out(f, I8042_PORT_DATA, 0x12); /* not a command */
	assert_int_equal(read_data(f), 0xfe);
	assert_empty(f);
}

static void test_write_buffers(void **state)
{
	struct fixture *f = *state;
	command(f, 0xd2);
	out(f, I8042_PORT_DATA, 0x1c);
	assert_int_equal(in(f, I8042_PORT_CMD) & (ST_OBF | ST_AUX), ST_OBF);
	assert_int_equal(in(f, I8042_PORT_DATA), 0x1c);
	command(f, 0xd3);
	out(f, I8042_PORT_DATA, 0x08);
	assert_int_equal(in(f, I8042_PORT_CMD) & (ST_OBF | ST_AUX), ST_OBF | ST_AUX);
	assert_int_equal(in(f, I8042_PORT_DATA), 0x08);
	assert_empty(f);
	command(f, 0xd4); /* to a mouse that is not there */
	out(f, I8042_PORT_DATA, 0xf4);
	assert_empty(f);
}

static void test_queue_bounded(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 1000; i++)
		command(f, 0xaa);
	int n = 0;
	while (in(f, I8042_PORT_CMD) & ST_OBF) {
		assert_int_equal(in(f, I8042_PORT_DATA), 0x55);
		n++;
		assert_true(n <= 1000);
	}
	assert_true(n >= 1 && n <= 64);
	for (int i = 0; i < 1000; i++)
		out(f, I8042_PORT_DATA, 0xff);
	n = 0;
	while (in(f, I8042_PORT_CMD) & ST_OBF) {
		in(f, I8042_PORT_DATA);
		n++;
		assert_true(n <= 1000);
	}
	assert_true(n <= 64);
}

static void test_hostile_guest(void **state)
{
	struct fixture *f = *state;
	for (unsigned cmd = 0; cmd < 256; cmd++) {
		for (unsigned data = 0; data < 256; data += 51) {
			command(f, (uint8_t)cmd);
			out(f, I8042_PORT_DATA, (uint8_t)data);
			in(f, I8042_PORT_DATA);
			in(f, I8042_PORT_CMD);
		}
	}
	assert_true(f->resets > 0);
	/* Wider accesses would spill onto 0x61/0x65, which are not ours. */
	uint8_t buf[8] = {0};
	assert_false(bus_read(&f->pio, I8042_PORT_DATA, buf, 2));
	assert_false(bus_write(&f->pio, I8042_PORT_CMD, buf, 4));
	/* The controller still answers. */
	while (in(f, I8042_PORT_CMD) & ST_OBF)
		in(f, I8042_PORT_DATA);
	command(f, 0xaa);
	assert_int_equal(read_data(f), 0x55);
}

static void test_no_reset_callback(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct i8042 *k = i8042_create(&pio, NULL, NULL);
	assert_non_null(k);
	uint8_t v = 0xfe;
	assert_true(bus_write(&pio, I8042_PORT_CMD, &v, 1));
	/* A second controller on the same ports is refused, leaving none behind. */
	errno = 0;
	assert_null(i8042_create(&pio, NULL, NULL));
	assert_int_equal(errno, EEXIST);
	assert_int_equal(pio.count, 2);
	i8042_destroy(k);
	i8042_destroy(NULL);
	assert_int_equal(pio.count, 0);
	/* Only the command port taken: the data port must not stay registered. */
	static const struct bus_ops none = {0};
	assert_int_equal(bus_register(&pio, I8042_PORT_CMD, 1, &none, NULL, "other"), 0);
	assert_null(i8042_create(&pio, NULL, NULL));
	assert_int_equal(pio.count, 1);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status_and_self_test, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_output_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_guest, setup, teardown),
	    cmocka_unit_test(test_no_reset_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
