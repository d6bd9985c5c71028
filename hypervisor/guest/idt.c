/* idt.c — the interrupt descriptor table: CPU exceptions (vectors 0-31),
 * where any exception prints where it happened and powers the VM off with
 * GUEST_EXIT_EXCEPTION, and the gates user.c adds for interrupts. Also the
 * deliberate triple fault of test=triplefault. */
#include "arch.h"
#include "guest.h"

#define IDT_EXCEPTIONS    32
#define IDT_VECTORS       256
#define GATE_INTERRUPT_64 0x8e /* present, DPL 0, 64-bit interrupt gate: IF stays clear */
#define GATE_DPL_SHIFT    5

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

static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));
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

static void idt_set(uint8_t vector, uint64_t handler, unsigned dpl)
{
	idt[vector] = (struct idt_gate){
	    .offset_low = (uint16_t)handler,
	    .selector = KERNEL_SEL_CODE,
	    .type = (uint8_t)(GATE_INTERRUPT_64 | dpl << GATE_DPL_SHIFT),
	    .offset_mid = (uint16_t)(handler >> 16),
	    .offset_high = (uint32_t)(handler >> 32),
	};
}

/* Built once by the BSP before it releases the APs; each vCPU then loads it.
 * Vectors without a gate fault (#GP), which is reported like any exception. */
void idt_init(void)
{
	for (int v = 0; v < IDT_EXCEPTIONS; v++)
		idt_set((uint8_t)v, idt_exception_stubs[v], 0);
}

void idt_set_gate(uint8_t vector, void (*handler)(void), unsigned dpl)
{
	idt_set(vector, (uintptr_t)handler, dpl);
}

static void idt_set_register(uint64_t base, uint16_t limit)
{
	struct idt_pointer ptr = {.limit = limit, .base = base};
	__asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}

void idt_load(void)
{
	idt_set_register((uintptr_t)idt, sizeof(idt) - 1);
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
	guest_log("exception %lu is %s: cpu %u, error code 0x%lx, CR2 0x%lx, CS 0x%lx, RSP 0x%lx, RFLAGS 0x%lx", vector,
		  vector < IDT_EXCEPTIONS ? exception_names[vector] : "unknown", cpu, frame->error_code, cr2, frame->cs,
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
	idt_set_register(0, 0);
	__asm__ volatile("ud2" : : : "memory");
	/* Only reached if the VMM failed to stop on the shutdown. */
	serial_unlock();
	guest_log("triple fault FAILED: still running after ud2 with an empty IDT");
	power_off(GUEST_EXIT_TEST_FAILED);
}
