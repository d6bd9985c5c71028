/* guest.h — the in-tree guest's modules and how they call each other. The
 * layout constants are shared with entry.S. */
#ifndef VDI_GUEST_H
#define VDI_GUEST_H

#define GUEST_MAX_CPUS    64 /* vdi-vmm's VM_MAX_CPUS */
#define GUEST_STACK_SHIFT 14
#define GUEST_STACK_SIZE  (1 << GUEST_STACK_SHIFT) /* per vCPU, in .bss */
#define USER_STACK_SIZE   (256 * 1024)             /* CPL3's one stack (BSP), in .bss */

/* Selectors of user.c's GDT; the kernel pair is where the boot GDT has it. */
#define KERNEL_SEL_CODE 0x10
#define KERNEL_SEL_DATA 0x18
#define USER_SEL_DATA   0x23 /* 0x20 with RPL 3 */
#define USER_SEL_CODE   0x28 /* with RPL 3 when loaded */
#define USER_SEL_TSS    0x30
#define TSS_RSP0_OFFSET 4
#define USER_RFLAGS     0x3202 /* IF, IOPL 3 (but see user.c on ports), bit 1 */

/* Interrupt vectors: the LAPIC timer, the virtio MSI-X messages, and the
 * LAPIC's spurious vector. Each handler sets its event bit (drivers.h's
 * EVENT_*, repeated here for entry.S) in sys_pending. */
#define VECTOR_TIMER    0x30
#define VECTOR_GPU      0x31
#define VECTOR_INPUT    0x32
#define VECTOR_LABEL    0x33
#define VECTOR_SOUND    0x34
#define VECTOR_SPURIOUS 0xff
#define PENDING_TIMER   0x1
#define PENDING_GPU     0x2
#define PENDING_INPUT   0x4
#define PENDING_LABEL   0x8
#define PENDING_SOUND   0x10
#define LAPIC_BASE      0xfee00000
#define LAPIC_EOI       0xfee000b0

/* System calls (user_syscall()'s number). */
#define SYS_WAIT        0
#define SYS_USER_RETURN 1

#ifndef __ASSEMBLER__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Power-off codes the guest reports (vdi-vmm exits non-zero for all but 0). */
enum guest_exit {
	GUEST_EXIT_OK = 0,
	GUEST_EXIT_TEST_FAILED = 1,
	GUEST_EXIT_EXCEPTION = 2,
	GUEST_EXIT_BAD_BOOT_INFO = 3,
};

/* main.c — entered from entry.S on every vCPU with its own stack. */
_Noreturn void guest_main(uint64_t boot_info_addr, uint64_t cpu);

/* power.c */
_Noreturn void power_off(uint32_t code);

/* serial.c — COM1, polled. The line lock keeps lines from different vCPUs
 * whole; print.c takes it around each line. */
void serial_init(void);
void serial_putc(char c);
void serial_lock(void);
void serial_unlock(void);
/* From the exception path: frees the lock if this vCPU holds it (it faulted
 * mid-line), so the report can still be printed. */
void serial_lock_recover(void);
bool serial_test(void);

/* print.c — one line "vdi-guest: <formatted>\n" on COM1. Formats: %% %c %s
 * %.*s %d %u %x %p with optional 0-flag and width, l/ll/z length. */
void guest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* idt.c — CPU exceptions: report "exception N at RIP 0x..." and power off. */
void idt_init(void);
void idt_load(void);
/* An interrupt gate (IF cleared on entry) callable from CPL `dpl` by int N. */
void idt_set_gate(uint8_t vector, void (*handler)(void), unsigned dpl);
_Noreturn void idt_triple_fault(void);
struct exception_frame {
	uint64_t vector;
	uint64_t error_code; /* 0 for vectors without one */
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
/* Called by entry.S's stubs; never returns. */
_Noreturn void idt_exception(const struct exception_frame *frame);

/* user.c — the kernel side of CPL3 (BSP only): user_init() loads the GDT
 * and TSS, page tables with U/S=1 and the interrupt gates;
 * user_call() runs fn in CPL3 on the user stack and returns when fn does.
 * Interrupts are on in CPL3 and off in CPL0 except inside sys_wait. */
void user_init(void);
void user_call(void (*fn)(void));
extern uint32_t sys_pending; /* EVENT_* bits set by interrupt handlers */
/* entry.S */
uint32_t user_syscall(uint32_t number);
void irq_timer_entry(void);
void irq_gpu_entry(void);
void irq_sound_entry(void);
void irq_input_entry(void);
void irq_label_entry(void);
void irq_spurious_entry(void);

/* sys.c — page_alloc's free RAM, found by the BSP before CPL3 starts. */
struct vdi_boot_info;
void page_alloc_init(const struct vdi_boot_info *info);

/* lapic.c (CPL3) — the LAPIC, the PIC masked, and the 1 Hz timer, its rate
 * measured against PIT channel 2 (the first call). Returns the LAPIC
 * timer's ticks a second, divided by 16. */
uint32_t lapic_start(void);

/* user_tests.c — the test words that run in CPL3 (cpl3, gpu, input,
 * hostile) and the desktop's start; each enters CPL3 through user_call with
 * the timer running and comes back with the verdict. */
bool user_test_cpl3(void);
bool user_test_gpu(void);
bool user_test_input(void);
bool user_test_hostile(void);
_Noreturn void user_desktop(void);

/* hostile.c (CPL3) — test=hostile's cases. */
bool hostile_run(void);

/* smp.c — vCPU bring-up (all vCPUs enter at once) and the smp test. */
uint32_t smp_cpu_self(void);
void smp_release_aps(uint32_t cpu_count);
_Noreturn void smp_ap_main(uint32_t cpu);
void smp_bsp_up(void);
bool smp_test(void);

/* rtc.c — CMOS real-time clock. */
uint8_t rtc_read_register(uint8_t reg);
bool rtc_test(void);

/* pci.c */
bool pci_test(void);

/* unassigned.c — accesses nothing answers must read as all ones. */
bool pio_unassigned_test(void);
_Noreturn void mmio_exec_test(void);
bool mmio_unassigned_test(void);

/* selftest.c — the tests selectable by "test=NAME" that pass or fail. */
struct guest_test {
	const char *name;
	bool (*run)(void);
};
const struct guest_test *selftest_find(const char *name, size_t len);
/* Runs serial, smp, rtc, pci, pio, mmio; prints the verdict line. */
bool selftest_run(void);

/* string.c — what the compiler may call even in freestanding code. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif /* __ASSEMBLER__ */
#endif
