/* idt.c — the interrupt descriptor table for CPU exceptions (vectors 0-31):
 * any exception prints where it happened and powers the VM off with
 * GUEST_EXIT_EXCEPTION. Also the deliberate triple fault of test=triplefault. */
#include "arch.h"
#include "guest.h"

#define IDT_EXCEPTIONS    32
#define GATE_INTERRUPT_64 0x8e /* present, DPL 0, 64-bit interrupt gate: IF stays clear */

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const uint64_t idt_exception_stubs[IDT_EXCEPTIONS]; /* entry.S */

static struct idt_gate idt[IDT_EXCEPTIONS] __attribute__((aligned(16)));
static bool idt_in_exception[GUEST_MAX_CPUS];

static const char *const exception_names[IDT_EXCEPTIONS] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
    "#VE virtualization",
    "#CP control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved",
};

/* Built once by the BSP before it releases the APs; each vCPU then loads it. */
void idt_init(void)
{
	uint16_t cs = cpu_read_cs();
	for (int v = 0; v < IDT_EXCEPTIONS; v++) {
		uint64_t handler = idt_exception_stubs[v];
		idt[v] = (struct idt_gate){
		    .offset_low = (uint16_t)handler,
		    .selector = cs,
		    .type = GATE_INTERRUPT_64,
		    .offset_mid = (uint16_t)(handler >> 16),
		    .offset_high = (uint32_t)(handler >> 32),
		};
	}
}

static void idt_set(uint64_t base, uint16_t limit)
{
	struct idt_pointer ptr = {.limit = limit, .base = base};
	__asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}

void idt_load(void)
{
	idt_set((uintptr_t)idt, sizeof(idt) - 1);
}

_Noreturn void idt_exception(const struct exception_frame *frame)
{
	uint32_t cpu = smp_cpu_self();
	/* A fault while reporting a fault: report nothing more, just stop. */
	if (cpu >= GUEST_MAX_CPUS || idt_in_exception[cpu]) {
		serial_lock_recover();
		power_off(GUEST_EXIT_EXCEPTION);
	}
	idt_in_exception[cpu] = true;

	uint64_t vector = frame->vector;
	uint64_t cr2 = cpu_read_cr2();
	serial_lock_recover();
	guest_log("exception %lu at RIP 0x%lx", vector, frame->rip);
	guest_log("exception %lu is %s: cpu %u, error code 0x%lx, CR2 0x%lx, RSP 0x%lx, RFLAGS 0x%lx", vector,
		  vector < IDT_EXCEPTIONS ? exception_names[vector] : "unknown", cpu, frame->error_code, cr2,
		  frame->rsp, frame->rflags);
	power_off(GUEST_EXIT_EXCEPTION);
}

/* With an empty IDT the #UD cannot be delivered (#GP), nor can that (#DF),
 * nor that: the CPU shuts down, which KVM reports as a triple fault. ud2
 * rather than int3: KVM's instruction emulator, which runs guest kernel code
 * on some hosts, gives up on a software interrupt (an internal error)
 * instead of faulting. The serial lock is held across it, as in power_off(),
 * so the output ends with whole lines. */
_Noreturn void idt_triple_fault(void)
{
	guest_log("triple fault now");
	serial_lock();
	idt_set(0, 0);
	__asm__ volatile("ud2" : : : "memory");
	/* Only reached if the VMM failed to stop on the shutdown. */
	serial_unlock();
	guest_log("triple fault FAILED: still running after ud2 with an empty IDT");
	power_off(GUEST_EXIT_TEST_FAILED);
}
