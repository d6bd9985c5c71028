/* smp.c — the vCPUs: every one enters at once (vdi_boot.h); the APs wait
 * until the BSP has printed its banner, report in, count themselves and halt.
 * test=smp checks that all of them arrived. */
#include "arch.h"
#include "guest.h"

#define RTC_SECONDS 0x00

/* How long test=smp waits: this many changes of the RTC seconds register,
 * i.e. 4-5 s of wall-clock time however fast or slow the CPU runs. */
#define SMP_WAIT_RTC_TICKS 5
/* Backstop in case the RTC does not tick: 2^36 TSC cycles is tens of
 * seconds at any plausible TSC rate. */
#define SMP_WAIT_TSC_LIMIT (1ull << 36)

extern uint8_t guest_stacks[]; /* entry.S: GUEST_MAX_CPUS stacks, cpu i's at i */

static uint32_t smp_released;
static uint32_t smp_cpu_count;
static uint32_t smp_arrived;

/* Which vCPU this is, from the stack it runs on (entry.S gives vCPU i the
 * i-th stack and exceptions stay on it); GUEST_MAX_CPUS if none of them. */
uint32_t smp_cpu_self(void)
{
	uintptr_t offset = cpu_read_rsp() - (uintptr_t)guest_stacks;
	uintptr_t cpu = offset >> GUEST_STACK_SHIFT;
	return cpu < GUEST_MAX_CPUS ? (uint32_t)cpu : GUEST_MAX_CPUS;
}

void smp_release_aps(uint32_t cpu_count)
{
	smp_cpu_count = cpu_count;
	__atomic_store_n(&smp_released, 1, __ATOMIC_RELEASE);
}

static void smp_arrive(void)
{
	__atomic_fetch_add(&smp_arrived, 1, __ATOMIC_RELEASE);
}

/* The APs spin (with pause) until released: the BSP gets there within a few
 * dozen port writes of starting, or powers the VM off. */
_Noreturn void smp_ap_main(uint32_t cpu)
{
	while (!__atomic_load_n(&smp_released, __ATOMIC_ACQUIRE))
		cpu_relax();
	idt_load();
	guest_log("cpu %u up", cpu);
	smp_arrive();
	cpu_halt_forever();
}

void smp_bsp_up(void)
{
	guest_log("cpu 0 up");
	smp_arrive();
}

bool smp_test(void)
{
	uint32_t want = smp_cpu_count;
	uint32_t arrived = __atomic_load_n(&smp_arrived, __ATOMIC_ACQUIRE);
	uint8_t last_second = rtc_read_register(RTC_SECONDS);
	unsigned ticks = 0;
	uint64_t tsc_start = cpu_read_tsc();

	while (arrived < want && ticks < SMP_WAIT_RTC_TICKS && cpu_read_tsc() - tsc_start < SMP_WAIT_TSC_LIMIT) {
		uint8_t second = rtc_read_register(RTC_SECONDS);
		if (second != last_second) {
			last_second = second;
			ticks++;
		}
		arrived = __atomic_load_n(&smp_arrived, __ATOMIC_ACQUIRE);
	}

	if (arrived != want) {
		guest_log("smp FAILED %u/%u cpus", arrived, want);
		return false;
	}
	guest_log("smp ok %u/%u cpus", arrived, want);
	return true;
}
