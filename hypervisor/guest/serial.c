/* serial.c — COM1 (16550A at 0x3f8), polled output, and the lock that keeps
 * each line whole when several vCPUs print. */
#include "arch.h"
#include "guest.h"

#define COM1     0x3f8
#define UART_THR 0 /* transmit holding (write), DLAB=0 */
#define UART_DLL 0 /* divisor latch low, DLAB=1 */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch high, DLAB=1 */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define LCR_8N1          0x03
#define LCR_DLAB         0x80
#define FCR_ENABLE_CLEAR 0x07 /* FIFOs on, both cleared */
#define MCR_DTR_RTS      0x03 /* OUT2 off: no interrupts wanted */
#define LSR_THR_EMPTY    0x20
#define DIVISOR_115200   1

/* At 115200 baud a character takes ~87 us; this many LSR polls is far longer
 * on any host. A UART that never drains is written blind from then on, so a
 * broken one costs one timeout, not one per character. */
#define SERIAL_POLL_LIMIT 100000u

#define LOCK_NO_OWNER 0xffffffffu

static uint32_t serial_lock_word;
static uint32_t serial_lock_owner = LOCK_NO_OWNER;
static bool serial_stuck;
static uint32_t serial_timeouts;

void serial_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, DIVISOR_115200 & 0xff);
	outb(COM1 + UART_DLM, DIVISOR_115200 >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, MCR_DTR_RTS);
}

void serial_putc(char c)
{
	if (!serial_stuck) {
		uint32_t polls = 0;
		while (!(inb(COM1 + UART_LSR) & LSR_THR_EMPTY)) {
			if (++polls == SERIAL_POLL_LIMIT) {
				serial_stuck = true;
				serial_timeouts++;
				break;
			}
		}
	}
	outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_lock(void)
{
	while (__atomic_exchange_n(&serial_lock_word, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&serial_lock_word, __ATOMIC_RELAXED))
			cpu_relax();
	}
	__atomic_store_n(&serial_lock_owner, smp_cpu_self(), __ATOMIC_RELAXED);
}

void serial_unlock(void)
{
	__atomic_store_n(&serial_lock_owner, LOCK_NO_OWNER, __ATOMIC_RELAXED);
	__atomic_store_n(&serial_lock_word, 0, __ATOMIC_RELEASE);
}

void serial_lock_recover(void)
{
	if (__atomic_load_n(&serial_lock_word, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&serial_lock_owner, __ATOMIC_RELAXED) == smp_cpu_self())
		serial_unlock();
}

/* The scratch register and LCR must read back what was written (a 16550A
 * has both), and no character may have timed out waiting for THR empty. */
bool serial_test(void)
{
	char ascii[0x7f - 0x20 + 1];
	for (int c = 0x20; c < 0x7f; c++)
		ascii[c - 0x20] = (char)c;
	ascii[sizeof(ascii) - 1] = '\0';
	guest_log("ascii %s", ascii);

	serial_lock();
	outb(COM1 + UART_SCR, 0xa5);
	uint8_t scratch1 = inb(COM1 + UART_SCR);
	outb(COM1 + UART_SCR, 0x5a);
	uint8_t scratch2 = inb(COM1 + UART_SCR);
	uint8_t lcr = inb(COM1 + UART_LCR);
	uint32_t timeouts = serial_timeouts;
	serial_unlock();

	if (scratch1 != 0xa5 || scratch2 != 0x5a) {
		guest_log("serial FAILED scratch register read 0x%02x 0x%02x, wrote 0xa5 0x5a", scratch1, scratch2);
		return false;
	}
	if (lcr != LCR_8N1) {
		guest_log("serial FAILED LCR read 0x%02x, wrote 0x%02x", lcr, LCR_8N1);
		return false;
	}
	if (timeouts) {
		guest_log("serial FAILED THR never became empty (LSR bit 5)");
		return false;
	}
	guest_log("serial ok");
	return true;
}
