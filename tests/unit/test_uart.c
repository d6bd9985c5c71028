/* test_uart.c — unit tests for the 16550A model in hypervisor/devices/uart.c,
 * driven through a real PIO bus the way vCPUs drive it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE UART_COM1_BASE
#define THR  0
#define IER  1
#define IIR  2
#define FCR  2
#define LCR  3
#define MCR  4
#define LSR  5
#define MSR  6
#define SCR  7

/* Records the level on the line, and any call that did not change it. */
struct irq_recorder {
	int level;
	int calls;
	int redundant;
	uint32_t gsi;
};

static int record_irq(void *opaque, uint32_t gsi, int level)
{
	struct irq_recorder *r = opaque;
	if (level == r->level)
		r->redundant++;
	r->level = level;
	r->gsi = gsi;
	r->calls++;
	return 0;
}

struct fixture {
	struct bus pio;
	struct irq_recorder irq;
	int pipe[2];
	struct uart *uart;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	if (pipe2(f->pipe, O_NONBLOCK) != 0)
		return -1;
	struct irq_line irq = {.set = record_irq, .opaque = &f->irq};
	f->uart = uart_create(&f->pio, BASE, UART_COM1_IRQ, irq, f->pipe[1]);
	if (!f->uart)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	/* No test may have set the line to the level it already had. */
	assert_int_equal(f->irq.redundant, 0);
	uart_destroy(f->uart);
	assert_int_equal(f->pio.count, 0);
	bus_destroy(&f->pio);
	if (f->pipe[0] >= 0)
		close(f->pipe[0]);
	close(f->pipe[1]);
	free(f);
	return 0;
}

static void out(struct fixture *f, unsigned reg, uint8_t v)
{
	assert_true(bus_write(&f->pio, BASE + reg, &v, 1));
}

static uint8_t in(struct fixture *f, unsigned reg)
{
	uint8_t v = 0;
	assert_true(bus_read(&f->pio, BASE + reg, &v, 1));
	return v;
}

static void test_output_reaches_fd(void **state)
{
	struct fixture *f = *state;
	const char *msg = "hello, console\n";
	for (const char *p = msg; *p; p++)
		out(f, THR, (uint8_t)*p);
	char buf[64] = {0};
	ssize_t n = read(f->pipe[0], buf, sizeof(buf) - 1);
	assert_int_equal(n, (ssize_t)strlen(msg));
	assert_string_equal(buf, msg);
	assert_int_equal(in(f, LSR) & 0x61, 0x60); /* THRE|TEMT, no data */
	assert_int_equal(f->irq.calls, 0);         /* THRI is off */
}

static void test_output_errors_are_quiet(void **state)
{
	struct fixture *f = *state;
	/* A full non-blocking pipe: EAGAIN, bytes dropped, the vCPU carries on. */
	assert_true(fcntl(f->pipe[1], F_SETPIPE_SZ, 4096) > 0);
	for (int i = 0; i < 6000; i++)
		out(f, THR, 'x');
	/* A pipe nobody reads: EPIPE (SIGPIPE is the embedding process's to ignore). */
	signal(SIGPIPE, SIG_IGN);
	close(f->pipe[0]);
	f->pipe[0] = -1;
	for (int i = 0; i < 10; i++)
		out(f, THR, 'y');
	assert_int_equal(in(f, LSR) & 0x60, 0x60);
}

static void test_discarded_output(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct uart *u = uart_create(&pio, 0x2f8, 3, (struct irq_line){0}, -1);
	assert_non_null(u);
	uint8_t v = 'z', r = 0;
	for (int i = 0; i < 100; i++)
		assert_true(bus_write(&pio, 0x2f8, &v, 1));
	/* Interrupts without an irq callback are computed but go nowhere. */
	v = 0x0f;
	assert_true(bus_write(&pio, 0x2f9, &v, 1));
	assert_true(bus_read(&pio, 0x2fa, &r, 1));
	assert_int_equal(r & 0x0f, 0x02);
	/* Same ports twice: refused. */
	errno = 0;
	assert_null(uart_create(&pio, 0x2f8, 3, (struct irq_line){0}, -1));
	assert_int_equal(errno, EEXIST);
	uart_destroy(u);
	uart_destroy(NULL);
	assert_int_equal(pio.count, 0);
	bus_destroy(&pio);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;
	out(f, IER, 0x05);
	out(f, LCR, 0x83); /* DLAB, 8N1 */
	out(f, THR, 0x0c); /* DLL */
	out(f, IER, 0x00); /* DLM */
	assert_int_equal(in(f, THR), 0x0c);
	assert_int_equal(in(f, IER), 0x00);
	out(f, IER, 0xab);
	assert_int_equal(in(f, IER), 0xab); /* DLM keeps all 8 bits */
	assert_int_equal(in(f, LCR), 0x83);
	out(f, LCR, 0x03);
	assert_int_equal(in(f, IER), 0x05); /* IER was untouched by DLM writes */
	/* Divisor writes never went out as data. */
	char buf[8];
	assert_int_equal(read(f->pipe[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	out(f, LCR, 0x80);
	assert_int_equal(in(f, THR), 0x0c);
	assert_int_equal(in(f, IER), 0xab);
}

static void test_scratch_and_readonly(void **state)
{
	struct fixture *f = *state;
	out(f, SCR, 0x5a);
	assert_int_equal(in(f, SCR), 0x5a);
	out(f, LSR, 0x00); /* read-only: writes ignored */
	assert_int_equal(in(f, LSR) & 0x60, 0x60);
	out(f, MSR, 0x00);
	assert_int_equal(in(f, MSR), 0xb0); /* DCD|DSR|CTS with no deltas */
	out(f, MCR, 0xff);
	assert_int_equal(in(f, MCR), 0x1f);
	out(f, MCR, 0x00);
}

/* The checks Linux's 8250 autoconfig makes, in its order. */
static void test_linux_probe(void **state)
{
	struct fixture *f = *state;
	uint8_t scratch = in(f, IER);
	out(f, IER, 0);
	assert_int_equal(in(f, IER) & 0x0f, 0);
	out(f, IER, 0x0f);
	assert_int_equal(in(f, IER) & 0x0f, 0x0f);
	out(f, IER, scratch);

	uint8_t save_mcr = in(f, MCR);
	uint8_t save_lcr = in(f, LCR);
	out(f, MCR, 0x10 | 0x0a); /* loopback, OUT2, RTS */
	assert_int_equal(in(f, MSR) & 0xf0, 0x90);
	out(f, MCR, save_mcr);

	/* Clear the EFR (LCR 0xbf), enable FIFOs: IIR bits 7:6 = 3 is a 16550A. */
	out(f, LCR, 0xbf);
	out(f, FCR, 0);
	out(f, LCR, 0);
	out(f, FCR, 0x01);
	assert_int_equal(in(f, IIR) >> 6, 3);

	/* No EFR behind DLAB, nor behind LCR 0xbf: IIR must read non-zero there. */
	out(f, LCR, 0x80);
	assert_int_not_equal(in(f, IIR), 0);
	out(f, LCR, 0xbf);
	assert_int_not_equal(in(f, IIR), 0);

	/* Not a National SuperIO: offset 2 under LCR 0xe0 does not track MCR loopback. */
	out(f, LCR, 0);
	uint8_t mcr = in(f, MCR);
	out(f, LCR, 0xe0);
	uint8_t excr1 = in(f, IIR);
	assert_int_equal((excr1 ^ mcr) & 0x10, 0);
	out(f, LCR, 0);
	out(f, MCR, mcr ^ 0x10);
	out(f, LCR, 0xe0);
	excr1 = in(f, IIR);
	out(f, LCR, 0);
	out(f, MCR, mcr);
	assert_int_equal((excr1 ^ mcr) & 0x10, 0);

	/* Not a 16750: no 64-byte FIFO bit, with or without DLAB. */
	out(f, FCR, 0x21);
	assert_int_equal(in(f, IIR) & 0xe0, 0xc0);
	out(f, FCR, 0);
	out(f, LCR, 0x80);
	out(f, FCR, 0x21);
	assert_int_equal(in(f, IIR) & 0xe0, 0xc0);
	out(f, FCR, 0);
	out(f, LCR, 0);

	/* Not an XScale: IER bit 6 does not stick. */
	uint8_t ier = in(f, IER);
	out(f, IER, ier & ~0x40);
	out(f, IER, ier | 0x40);
	assert_int_equal(in(f, IER) & 0x40, 0);
	out(f, IER, ier);
	out(f, LCR, save_lcr);

	/* Loopback data: THR comes back on RBR and never reaches the host. */
	out(f, FCR, 0x07);
	out(f, MCR, 0x10);
	out(f, THR, 'L');
	out(f, THR, 'B');
	assert_int_equal(in(f, LSR) & 0x01, 0x01);
	assert_int_equal(in(f, THR), 'L');
	assert_int_equal(in(f, THR), 'B');
	assert_int_equal(in(f, LSR) & 0x01, 0);
	out(f, MCR, 0x00);
	char buf[8];
	assert_int_equal(read(f->pipe[0], buf, sizeof(buf)), -1);
}

static void test_loopback_modem_lines(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(in(f, MSR), 0xb0);
	/* Entering loopback with every output low drops CTS, DSR and DCD. */
	out(f, MCR, 0x10);
	assert_int_equal(in(f, MSR), 0x0b); /* DDCD|DDSR|DCTS, no lines */
	assert_int_equal(in(f, MSR), 0x00); /* deltas clear on read */
	out(f, MCR, 0x11);
	assert_int_equal(in(f, MSR), 0x20 | 0x02); /* DTR -> DSR */
	out(f, MCR, 0x12);
	assert_int_equal(in(f, MSR), 0x10 | 0x03); /* RTS -> CTS; DSR dropped */
	out(f, MCR, 0x14);
	assert_int_equal(in(f, MSR), 0x40 | 0x01); /* OUT1 -> RI (only its trailing edge is a delta) */
	out(f, MCR, 0x18);
	assert_int_equal(in(f, MSR), 0x80 | 0x08 | 0x04); /* OUT2 -> DCD; RI fell */
	out(f, MCR, 0x1f);
	assert_int_equal(in(f, MSR) & 0xf0, 0xf0);
	out(f, MCR, 0x0f); /* leave loopback: back to the idle lines */
	assert_int_equal(in(f, MSR) & 0xf0, 0xb0);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;
	out(f, FCR, 0x01);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);

	/* Enabling THRI with THR empty raises it at once. */
	out(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.gsi, UART_COM1_IRQ);
	/* Reading IIR while it names THRE acknowledges it. */
	assert_int_equal(in(f, IIR), 0xc2);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IIR), 0xc1);

	/* Each byte sent leaves THR empty again: a fresh interrupt. */
	out(f, THR, 'a');
	assert_int_equal(f->irq.level, 1);
	out(f, THR, 'b');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, IIR), 0xc2);
	assert_int_equal(f->irq.level, 0);

	/* Linux's THRE test: toggling IER re-raises it even after the ack. */
	out(f, IER, 0x02);
	assert_int_equal(in(f, IIR) & 0x01, 0x01); /* no edge: was already enabled */
	out(f, IER, 0x00);
	out(f, IER, 0x02);
	assert_int_equal(in(f, IIR), 0xc2);
	out(f, IER, 0x02);
	out(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IIR), 0xc1);

	/* Disabling THRI while it is pending lowers the line. */
	out(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	out(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
	out(f, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
}

static void test_iir_priorities(void **state)
{
	struct fixture *f = *state;
	out(f, FCR, 0x01);
	out(f, MCR, 0x10); /* loopback: the modem lines change (a modem status event) */
	for (int i = 0; i < 17; i++)
		out(f, THR, (uint8_t)('A' + i)); /* the 17th overruns the FIFO */
	assert_int_equal(f->irq.calls, 0);

	out(f, IER, 0x0f);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, IIR) & 0x0f, 0x06); /* receiver line status first */
	assert_int_equal(in(f, IIR) & 0x0f, 0x06);
	assert_int_equal(in(f, LSR), 0x63); /* THRE|TEMT|OE|DR; reading clears OE */
	assert_int_equal(in(f, LSR), 0x61);
	assert_int_equal(in(f, IIR) & 0x0f, 0x04); /* then received data */
	for (int i = 0; i < 16; i++)
		assert_int_equal(in(f, THR), 'A' + i);
	assert_int_equal(in(f, IIR) & 0x0f, 0x02); /* then THR empty, acknowledged here */
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, IIR) & 0x0f, 0x00); /* then modem status */
	assert_int_equal(in(f, IIR) & 0x0f, 0x00);
	assert_int_equal(in(f, MSR) & 0x0f, 0x0b);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);

	/* Disabled sources stay silent even when their condition holds. */
	out(f, IER, 0x00);
	out(f, THR, 'Z');
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IIR), 0xc1);
	out(f, IER, 0x01);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, IIR), 0xc4);
	assert_int_equal(in(f, THR), 'Z');
	assert_int_equal(f->irq.level, 0);
	out(f, IER, 0x00);
	out(f, MCR, 0x00);
}

static void test_rx_fifo_bound(void **state)
{
	struct fixture *f = *state;
	uint8_t data[100];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;

	/* FIFOs off: one byte of holding register, the rest stays with the caller. */
	assert_int_equal(uart_receive(f->uart, data, sizeof(data)), 1);
	assert_int_equal(uart_receive(f->uart, data, sizeof(data)), 0);
	assert_int_equal(in(f, THR), 0);
	assert_int_equal(in(f, LSR) & 0x03, 0); /* nothing left, and no overrun reported */

	out(f, FCR, 0x01);
	out(f, IER, 0x01);
	assert_int_equal(uart_receive(f->uart, data, sizeof(data)), 16);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(uart_receive(f->uart, data + 16, sizeof(data) - 16), 0);
	assert_int_equal(in(f, IIR), 0xc4);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(in(f, LSR) & 0x01, 0x01);
		assert_int_equal(in(f, THR), i);
	}
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, LSR) & 0x01, 0);
	assert_int_equal(in(f, THR), 0); /* empty FIFO: a defined value */
	assert_int_equal(uart_receive(f->uart, data, 0), 0);

	/* FCR bit 1 empties the FIFO; so does toggling the enable. */
	assert_int_equal(uart_receive(f->uart, data, 5), 5);
	out(f, FCR, 0x03);
	assert_int_equal(in(f, LSR) & 0x01, 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(uart_receive(f->uart, data, 5), 5);
	out(f, FCR, 0x00);
	assert_int_equal(in(f, LSR) & 0x01, 0);
	assert_int_equal(in(f, IIR), 0x01); /* FIFO bits gone too */
	out(f, IER, 0x00);
}

static void test_wide_accesses_split(void **state)
{
	struct fixture *f = *state;
	/* A 16-bit write at LCR sets LCR and MCR; a 32-bit read at LSR is LSR,
	 * MSR, SCR and... nothing: it would leave the port range. */
	uint8_t w[2] = {0x03, 0x08};
	assert_true(bus_write(&f->pio, BASE + LCR, w, 2));
	assert_int_equal(in(f, LCR), 0x03);
	assert_int_equal(in(f, MCR), 0x08);
	uint8_t r[8];
	assert_false(bus_read(&f->pio, BASE + LSR, r, 4));
	assert_true(bus_read(&f->pio, BASE + 4, r, 4));
	assert_int_equal(r[0], 0x08);
	assert_int_equal(r[1] & 0x60, 0x60);
	out(f, SCR, 0x77);
	assert_true(bus_read(&f->pio, BASE, r, 8));
	assert_int_equal(r[7], 0x77);
}

/* Every register, every size, a spread of values: the model must stay
 * defined (ASan/UBSan watch) and the line must stay consistent. */
static void test_hostile_guest(void **state)
{
	struct fixture *f = *state;
	uint32_t seed = 12345;
	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		unsigned off = (seed >> 8) & 7;
		static const uint32_t sizes[] = {1, 2, 4, 8};
		uint32_t size = sizes[(seed >> 12) & 3];
		uint8_t data[8];
		for (int i = 0; i < 8; i++)
			data[i] = (uint8_t)(seed >> (i * 3));
		if (seed & 0x80000000u)
			bus_write(&f->pio, BASE + off, data, size);
		else
			bus_read(&f->pio, BASE + off, data, size);
		if ((round & 255) == 0) {
			uint8_t junk[64];
			uart_receive(f->uart, junk, sizeof(junk));
			while (read(f->pipe[0], junk, sizeof(junk)) > 0)
				;
		}
	}
	/* Whatever happened, a guest can still get the port back to quiet. */
	out(f, LCR, 0x00);
	out(f, IER, 0x00);
	out(f, MCR, 0x00);
	out(f, FCR, 0x07);
	in(f, LSR);
	in(f, MSR);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);
}

static void *vcpu_thread(void *arg)
{
	struct fixture *f = arg;
	for (int i = 0; i < 1000; i++) {
		uint8_t v = 'c';
		bus_write(&f->pio, BASE + THR, &v, 1);
		bus_read(&f->pio, BASE + IIR, &v, 1);
		v = (uint8_t)(i & 0x0f);
		bus_write(&f->pio, BASE + IER, &v, 1);
	}
	return NULL;
}

/* vCPUs hit the port at once: every byte still goes out exactly once and
 * the line never gets a redundant update (checked in teardown). */
static void test_concurrent_vcpus(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, vcpu_thread, f), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	char buf[8192];
	ssize_t n = read(f->pipe[0], buf, sizeof(buf));
	assert_int_equal(n, 4000);
	for (ssize_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 'c');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_output_reaches_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_errors_are_quiet, setup, teardown),
	    cmocka_unit_test(test_discarded_output),
	    cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scratch_and_readonly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_fifo_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_accesses_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_guest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_vcpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
