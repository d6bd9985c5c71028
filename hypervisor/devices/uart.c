/* uart.c — a 16550A serial port: the guest's console output and input. */
#include "devices.h"

#include "../../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Register offsets; DLL/DLM overlay RBR/IER while LCR.DLAB is set. */
enum {
	UART_RBR = 0, /* read: receive buffer; write: THR */
	UART_IER = 1,
	UART_IIR = 2, /* read: interrupt identification; write: FCR */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
	UART_NREGS = 8,
};

#define UART_IER_RDI  0x01 /* receive data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */
#define UART_IER_MASK 0x0f /* bits 4-7 read as 0 on a 16550A; Linux checks that */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_FIFO   0xc0

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_TRIGGER  0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

/* With no real modem behind the port, the lines say "connected and ready"
 * so guests that honour flow control still transmit. */
#define UART_MSR_IDLE (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

#define UART_FIFO_SIZE 16

struct uart {
	pthread_mutex_t lock;
	struct bus *pio;
	uint16_t base;
	uint32_t gsi;
	struct irq_line irq;
	int out_fd;
	bool out_error_logged;
	bool out_limited;  /* out_left counts down */
	uint64_t out_left; /* bytes out_fd may still take */
	int irq_level;     /* last level driven onto the line */

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;        /* FIFO enable and trigger bits as last programmed */
	uint8_t lsr_errors; /* OE until LSR is read */
	uint8_t msr_delta;  /* MSR bits 0-3 until MSR is read */
	bool thr_pending;   /* THRE interrupt raised and not yet acknowledged */

	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

/* A 16550A with its FIFOs off behaves as a 16450: one byte of holding register. */
static unsigned uart_rx_capacity(const struct uart *u)
{
	return (u->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

static bool uart_rx_push(struct uart *u, uint8_t byte)
{
	if (u->rx_count >= uart_rx_capacity(u))
		return false;
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
	u->rx_count++;
	return true;
}

static uint8_t uart_rx_pop(struct uart *u)
{
	if (u->rx_count == 0)
		return 0;
	uint8_t byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return byte;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/* Modem status lines: in loopback the outputs feed the inputs (RTS->CTS,
 * DTR->DSR, OUT1->RI, OUT2->DCD), which is what Linux's probe checks. */
static uint8_t uart_msr_lines(const struct uart *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_IDLE;
	uint8_t msr = 0;
	if (u->mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

/* The highest-priority pending interrupt, as IIR bits 0-3. */
static uint8_t uart_pending(const struct uart *u)
{
	if ((u->ier & UART_IER_RLSI) && u->lsr_errors)
		return UART_IIR_RLSI;
	/* No character-timeout timer: any queued byte counts as available at
	 * once, as if the trigger level were 1, so input is never stranded. */
	if ((u->ier & UART_IER_RDI) && u->rx_count)
		return UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_pending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && u->msr_delta)
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* Drive the line to the pending state; called under the lock after every
 * change so concurrent vCPUs cannot reorder level changes. */
static void uart_update_irq(struct uart *u)
{
	int level = uart_pending(u) != UART_IIR_NO_INT;
	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->irq.set)
		u->irq.set(u->irq.opaque, u->gsi, level);
}

static void uart_transmit(struct uart *u, uint8_t byte)
{
	if (u->mcr & UART_MCR_LOOP) {
		/* In loopback the transmitter feeds the receiver; a full FIFO overruns. */
		if (!uart_rx_push(u, byte))
			u->lsr_errors |= UART_LSR_OE;
		return;
	}
	if (u->out_fd < 0)
		return;
	if (u->out_limited) {
		if (!u->out_left)
			return;
		if (--u->out_left == 0)
			log_info("uart 0x%x: output reached its cap; the rest is dropped", u->base);
	}
	/* Unbuffered: the first byte of a boot log or a panic must not wait. */
	for (;;) {
		ssize_t n = write(u->out_fd, &byte, 1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (!u->out_error_logged) {
			u->out_error_logged = true;
			log_warn("uart 0x%x: output dropped: %s", u->base, n < 0 ? strerror(errno) : "short write");
		}
		return;
	}
}

static void uart_set_mcr(struct uart *u, uint8_t value)
{
	uint8_t before = uart_msr_lines(u);
	u->mcr = value & UART_MCR_MASK;
	uint8_t after = uart_msr_lines(u);
	uint8_t changed = before ^ after;
	if (changed & UART_MSR_CTS)
		u->msr_delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		u->msr_delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		u->msr_delta |= UART_MSR_DDCD;
	/* RI reports its trailing edge only. */
	if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
		u->msr_delta |= UART_MSR_TERI;
}

static void uart_set_fcr(struct uart *u, uint8_t value)
{
	/* Toggling the FIFO enable resets both FIFOs; the other bits only take
	 * effect while the FIFO is (being) enabled. */
	if ((value ^ u->fcr) & UART_FCR_ENABLE)
		uart_rx_clear(u);
	if (!(value & UART_FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	if (value & UART_FCR_CLEAR_RX)
		uart_rx_clear(u);
	u->fcr = value & (UART_FCR_ENABLE | UART_FCR_TRIGGER);
}

static void uart_write_reg(struct uart *u, unsigned reg, uint8_t value)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_RBR:
		if (dlab) {
			u->dll = value;
			break;
		}
		uart_transmit(u, value);
		/* The byte has left at once, so THR is empty again and, like a
		 * real 16550 after the shift register takes the byte, re-raises
		 * THRE. The IIR read before this write lowered the line, so the
		 * guest sees a fresh edge. */
		u->thr_pending = u->ier & UART_IER_THRI;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = value;
			break;
		}
		/* Enabling THRI while THR is empty raises THRE even if an IIR
		 * read acknowledged it earlier; Linux and Windows rely on it. */
		if ((value & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
			u->thr_pending = true;
		else if (!(value & UART_IER_THRI))
			u->thr_pending = false;
		u->ier = value & UART_IER_MASK;
		break;
	case UART_IIR:
		uart_set_fcr(u, value);
		break;
	case UART_LCR:
		u->lcr = value;
		break;
	case UART_MCR:
		uart_set_mcr(u, value);
		break;
	case UART_SCR:
		u->scr = value;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	uint8_t value = 0;
	switch (reg) {
	case UART_RBR:
		value = dlab ? u->dll : uart_rx_pop(u);
		break;
	case UART_IER:
		value = dlab ? u->dlm : u->ier;
		break;
	case UART_IIR:
		value = uart_pending(u);
		/* Reading IIR while it names THRE is the acknowledgement. */
		if (value == UART_IIR_THRI)
			u->thr_pending = false;
		if (u->fcr & UART_FCR_ENABLE)
			value |= UART_IIR_FIFO;
		break;
	case UART_LCR:
		value = u->lcr;
		break;
	case UART_MCR:
		value = u->mcr;
		break;
	case UART_LSR:
		/* Transmission is instantaneous: THR and the shift register are
		 * always empty. */
		value = UART_LSR_THRE | UART_LSR_TEMT | u->lsr_errors;
		if (u->rx_count)
			value |= UART_LSR_DR;
		u->lsr_errors = 0;
		break;
	case UART_MSR:
		value = uart_msr_lines(u) | u->msr_delta;
		u->msr_delta = 0;
		break;
	case UART_SCR:
		value = u->scr;
		break;
	default:
		break;
	}
	return value;
}

/* A wider access is split into byte accesses to consecutive registers, as
 * the ISA bus does for an 8-bit device; the bus keeps it inside the 8 ports. */
static void uart_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct uart *u = opaque;
	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < size; i++)
		data[i] = offset + i < UART_NREGS ? uart_read_reg(u, (unsigned)(offset + i)) : 0xff;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct uart *u = opaque;
	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < size; i++)
		if (offset + i < UART_NREGS)
			uart_write_reg(u, (unsigned)(offset + i), data[i]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_bus_ops = {
    .read = uart_bus_read,
    .write = uart_bus_write,
};

void uart_set_output_limit(struct uart *u, uint64_t bytes)
{
	pthread_mutex_lock(&u->lock);
	u->out_limited = true;
	u->out_left = bytes;
	pthread_mutex_unlock(&u->lock);
}

struct uart *uart_create(struct bus *pio, uint16_t base, uint32_t gsi, struct irq_line irq, int out_fd)
{
	struct uart *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	u->pio = pio;
	u->base = base;
	u->gsi = gsi;
	u->irq = irq;
	u->out_fd = out_fd;
	u->dll = 0x01; /* 115200 baud, what firmware usually leaves behind */
	int err = bus_register(pio, base, UART_NREGS, &uart_bus_ops, u, "uart");
	if (err) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		errno = -err;
		return NULL;
	}
	return u;
}

size_t uart_receive(struct uart *uart, const uint8_t *data, size_t len)
{
	size_t taken = 0;
	pthread_mutex_lock(&uart->lock);
	/* Bytes that do not fit stay with the caller, like a sender held off
	 * by flow control, so nothing is lost here. */
	while (taken < len && uart_rx_push(uart, data[taken]))
		taken++;
	uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return taken;
}

void uart_destroy(struct uart *uart)
{
	if (!uart)
		return;
	bus_unregister(uart->pio, uart->base);
	pthread_mutex_destroy(&uart->lock);
	free(uart);
}

void uart_save(struct uart *uart, struct snap_buf *out)
{
	pthread_mutex_lock(&uart->lock);
	const uint8_t regs[] = {uart->ier,
				uart->lcr,
				uart->mcr,
				uart->scr,
				uart->dll,
				uart->dlm,
				uart->fcr,
				uart->lsr_errors,
				uart->msr_delta,
				uart->thr_pending,
				(uint8_t)uart->irq_level};
	snap_put_bytes(out, regs, sizeof(regs));
	snap_put_bytes(out, uart->rx, sizeof(uart->rx));
	snap_put_u8(out, (uint8_t)uart->rx_head);
	snap_put_u8(out, (uint8_t)uart->rx_count);
	pthread_mutex_unlock(&uart->lock);
}

int uart_load(struct uart *uart, struct snap_cursor *in)
{
	uint8_t regs[11], rx[UART_FIFO_SIZE];
	snap_get_bytes(in, regs, sizeof(regs));
	snap_get_bytes(in, rx, sizeof(rx));
	uint8_t head = snap_get_u8(in), count = snap_get_u8(in);
	/* The same masks the register writes apply, so a loaded UART is one
	 * the guest could have produced. */
	uint8_t fcr = regs[6];
	if (!snap_cursor_done(in) || head >= UART_FIFO_SIZE || count > UART_FIFO_SIZE || regs[0] & ~UART_IER_MASK ||
	    regs[2] & ~UART_MCR_MASK || fcr & ~(UART_FCR_ENABLE | UART_FCR_TRIGGER) ||
	    (!(fcr & UART_FCR_ENABLE) && (fcr || count > 1)) || regs[9] > 1 || regs[10] > 1)
		return -EINVAL;
	pthread_mutex_lock(&uart->lock);
	uart->ier = regs[0];
	uart->lcr = regs[1];
	uart->mcr = regs[2];
	uart->scr = regs[3];
	uart->dll = regs[4];
	uart->dlm = regs[5];
	uart->fcr = fcr;
	uart->lsr_errors = regs[7] & UART_LSR_OE;
	uart->msr_delta = regs[8] & 0x0f;
	uart->thr_pending = regs[9];
	/* The in-kernel irqchip comes back with the line at this level. */
	uart->irq_level = regs[10];
	memcpy(uart->rx, rx, sizeof(rx));
	uart->rx_head = head;
	uart->rx_count = count;
	pthread_mutex_unlock(&uart->lock);
	return 0;
}
