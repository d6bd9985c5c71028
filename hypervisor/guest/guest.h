/* guest.h — the in-tree guest's modules and how they call each other. The
 * layout constants are shared with entry.S. */
#ifndef VDI_GUEST_H
#define VDI_GUEST_H

#define GUEST_MAX_CPUS    64 /* vdi-vmm's VM_MAX_CPUS */
#define GUEST_STACK_SHIFT 14
#define GUEST_STACK_SIZE  (1 << GUEST_STACK_SHIFT) /* per vCPU, in .bss */

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
