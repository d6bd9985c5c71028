/* lapic.c — the local APIC from CPL3 (its page is mapped user-accessible):
 * software enable, the legacy PIC masked, and the once-a-second timer whose
 * rate is measured against PIT channel 2. Calibrating here
 * rather than in CPL0 matters on hosts that emulate kernel-mode code: the
 * polling loop runs natively. */
#include "arch.h"
#include "drivers.h"
#include "guest.h"

#define LAPIC_ID          0x020
#define LAPIC_TPR         0x080
#define LAPIC_SVR         0x0f0
#define LAPIC_LVT_TIMER   0x320
#define LAPIC_LVT_LINT0   0x350
#define LAPIC_TIMER_INIT  0x380
#define LAPIC_TIMER_COUNT 0x390
#define LAPIC_TIMER_DIV   0x3e0

#define SVR_ENABLE      0x100
#define LVT_MASKED      0x10000
#define LVT_PERIODIC    0x20000
#define TIMER_DIVIDE_16 0x3

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* PIT channel 2, gated through port 0x61, counts CALIBRATE_PIT_COUNT ticks
 * of its 1.193182 MHz clock: 1/20 s. */
#define PIT_CHANNEL2         0x42
#define PIT_COMMAND          0x43
#define PIT_GATE_PORT        0x61
#define PIT_GATE2            0x01
#define PIT_SPEAKER          0x02
#define PIT_OUT2             0x20
#define PIT_CH2_MODE0        0xb0 /* channel 2, low then high byte, mode 0, binary */
#define PIT_HZ               1193182u
#define CALIBRATE_PER_SEC    20u
#define CALIBRATE_PIT_COUNT  (PIT_HZ / CALIBRATE_PER_SEC)
/* OUT2 rises after 1/20 s; an in-kernel PIT answers each poll within
 * microseconds, so this many polls means it never will. */
#define CALIBRATE_POLL_LIMIT 10000000u
/* KVM's LAPIC timer runs at 1 GHz before the divider: the rate to use if
 * the PIT cannot be read. */
#define LAPIC_FALLBACK_HZ    (1000000000u / 16u)

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t value)
{
	mmio_write32(LAPIC_BASE + reg, value);
}

/* LAPIC timer ticks (divided by 16) in one second, or 0 if the PIT's OUT2
 * never rose. */
static uint32_t lapic_calibrate(void)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIVIDE_16);
	uint8_t gate = inb(PIT_GATE_PORT) & (uint8_t) ~(PIT_GATE2 | PIT_SPEAKER);
	outb(PIT_GATE_PORT, gate);
	outb(PIT_COMMAND, PIT_CH2_MODE0);
	outb(PIT_CHANNEL2, CALIBRATE_PIT_COUNT & 0xff);
	outb(PIT_CHANNEL2, CALIBRATE_PIT_COUNT >> 8);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
	uint32_t start = lapic_read(LAPIC_TIMER_COUNT);
	outb(PIT_GATE_PORT, gate | PIT_GATE2);
	uint32_t polls = 0;
	while (!(inb(PIT_GATE_PORT) & PIT_OUT2)) {
		if (++polls == CALIBRATE_POLL_LIMIT)
			break;
	}
	uint32_t end = lapic_read(LAPIC_TIMER_COUNT);
	outb(PIT_GATE_PORT, gate);
	lapic_write(LAPIC_TIMER_INIT, 0);
	if (polls == CALIBRATE_POLL_LIMIT || end >= start)
		return 0;
	uint64_t per_second = (uint64_t)(start - end) * CALIBRATE_PER_SEC;
	return per_second > 0xffffffffu ? 0 : (uint32_t)per_second;
}

static uint32_t lapic_timer_hz;

uint32_t lapic_start(void)
{
	if (lapic_timer_hz)
		return lapic_timer_hz;
	/* Only MSI-X messages and the timer interrupt this vCPU: the PIC's
	 * lines (virtual wire on LINT0) are masked at both ends. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VECTOR_SPURIOUS);

	uint32_t hz = lapic_calibrate();
	if (!hz) {
		guest_log("lapic: PIT channel 2 did not count; assuming %u timer ticks a second", LAPIC_FALLBACK_HZ);
		hz = LAPIC_FALLBACK_HZ;
	}
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VECTOR_TIMER);
	lapic_write(LAPIC_TIMER_INIT, hz);
	lapic_timer_hz = hz;
	return hz;
}
