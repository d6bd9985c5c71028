/* vmm.h — the VM and its vCPUs: the hypervisor's internal face, shared by
 * vm.c, vcpu.c, the boot loaders, the devices and the control socket. */
#ifndef VDI_HYPERVISOR_VMM_H
#define VDI_HYPERVISOR_VMM_H

#include "bus.h"
#include "vmm_control.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Guest physical layout. RAM starts at 0 and runs up to VM_LOW_RAM_END; the
 * rest of it continues at 4 GiB. Between the two: the 32-bit MMIO hole (PCI
 * BARs, IOAPIC at 0xfec00000, LAPIC at 0xfee00000, KVM's TSS pages). */
#define VM_LOW_RAM_END      0xC0000000ull
#define VM_HIGH_RAM_START   0x100000000ull
#define VM_PCI_MMIO_START   0xC0000000ull
#define VM_PCI_MMIO_END     0xFEC00000ull
#define VM_IOAPIC_BASE      0xFEC00000ull
#define VM_LAPIC_BASE       0xFEE00000ull
#define VM_KVM_IDENTITY_MAP 0xFFFBC000ull
#define VM_KVM_TSS          0xFFFBD000ull

/* Fixed low-memory boot structures (both guest kinds). */
#define VM_BOOT_GDT         0x500ull
#define VM_BOOT_INFO        0x7000ull /* vdi_boot_info or Linux boot_params */
#define VM_BOOT_PML4        0x9000ull
#define VM_BOOT_PDPT        0xA000ull
#define VM_BOOT_PD          0xB000ull /* 4 pages: identity map of 0..4 GiB with 2 MiB pages */
#define VM_BOOT_CMDLINE     0x20000ull
#define VM_BOOT_CMDLINE_MAX 4096u
#define VM_EBDA_START       0x9FC00ull  /* MP table lives here; reserved in the memory map */
#define VM_BIOS_START       0xF0000ull  /* reserved up to 1 MiB */
#define VM_KERNEL_MIN       0x100000ull /* images load at or above 1 MiB */

/* Boot GDT selectors: the ones Linux's 64-bit boot protocol names (__BOOT_CS,
 * __BOOT_DS); the in-tree guest uses the same. */
#define VM_SEL_CODE64 0x10
#define VM_SEL_DATA   0x18
#define VM_SEL_TSS    0x20

#define VM_MAX_CPUS        64
#define VM_MAX_MEM_REGIONS 8

enum mem_region_type { MEM_RAM = 1, MEM_RESERVED = 2 };
struct mem_region {
	uint64_t base;
	uint64_t len;
	enum mem_region_type type;
};

/* Why the VM stopped; main() turns this into the process exit status. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,      /* guest wrote the power-off port, or control poweroff */
	VM_STOP_GUEST_FAILURE, /* guest wrote a non-zero code to the power-off port */
	VM_STOP_RESET,         /* guest pulsed the i8042 reset line */
	VM_STOP_CRASH,         /* triple fault, internal error, an access the VMM cannot serve */
	VM_STOP_SIGNAL,        /* SIGTERM / SIGINT to vdi-vmm */
	VM_STOP_ERROR,         /* the VMM failed (a KVM call failed) */
};

struct vm;

struct vcpu {
	struct vm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	bool parked; /* under vm->lock: waiting while the VM is paused */
};

/* Interrupt line into the in-kernel PIC/IOAPIC, as devices see it. Kept as a
 * callback so device models are testable without a VM. */
struct irq_line {
	int (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
};

/* Message-signalled interrupts (MSI/MSI-X) as devices see them: the address
 * and data the guest programmed, delivered through the in-kernel LAPICs. */
struct msi_line {
	int (*signal)(void *opaque, uint64_t address, uint32_t data);
	void *opaque;
};

/* Guest RAM as devices see it: the one checked accessor (vm_gpa) behind a
 * callback, so device models are testable and fuzzable without a VM. */
struct guest_memory {
	void *(*gpa)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

static inline void *guest_memory_at(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	return mem->gpa(mem->opaque, gpa, len);
}

struct vm_config {
	uint64_t mem_bytes;
	int cpus;
	/* Guest RAM from a snapshot's memory file (mem_bytes long) instead of
	 * zeroes: copied into the memfd, or with mem_private mapped
	 * MAP_PRIVATE from the file, so clones share its pages until they
	 * write them. */
	const char *mem_file;
	bool mem_private;
};

struct vm {
	int kvm_fd;
	int vm_fd;

	/* Guest RAM: one memfd, mapped once; low and high slots are views of it.
	 * A clone's RAM is a private mapping of its snapshot's memory file
	 * instead, and mem_fd that file (read-only). */
	int mem_fd;
	bool mem_private;
	uint8_t *mem;
	uint64_t mem_bytes;
	uint64_t low_bytes;  /* at GPA 0 */
	uint64_t high_bytes; /* at VM_HIGH_RAM_START, file offset low_bytes */

	int ncpus;
	struct vcpu vcpus[VM_MAX_CPUS];
	struct kvm_cpuid2 *cpuid; /* filtered template; per-vCPU APIC IDs set at vCPU setup */
	bool cpuid_probed;        /* cpuid_init() hid what the host cannot run */

	struct bus pio;
	struct bus mmio;
	struct irq_line irq;
	struct msi_line msi;
	struct guest_memory memory;

	/* Run state. `lock` guards paused/stop fields and vcpu->parked. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool paused;
	atomic_int stop_reason; /* enum vm_stop_reason; first writer wins */
	int stop_code;          /* guest failure code */
	char stop_message[256]; /* the report: exit reason, RIP */
	int stop_eventfd;       /* becomes readable once the VM has stopped */
	uint64_t start_ns;      /* CLOCK_MONOTONIC at vm_start */

	/* Statistics: KVM exits by VMM_EXIT_* kind, unserved accesses. */
	atomic_uint_fast64_t exits[VMM_EXIT_KINDS];
	atomic_uint_fast64_t unhandled_pio;
	atomic_uint_fast64_t unhandled_mmio;
	atomic_uint unhandled_reported; /* accesses logged so far (rate limit) */
};

/* vm.c */
/* Opens /dev/kvm, creates the VM with its RAM, in-kernel irqchip and PIT, and
 * the vCPU file descriptors. Logs and returns -errno on failure. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);
/* The one checked accessor for guest memory: a host pointer to [gpa, gpa+len)
 * when that whole range is guest RAM inside one slot, else NULL. */
void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len);
/* Guest memory map (RAM and reserved ranges below 1 MiB), sorted; returns count. */
int vm_memory_map(const struct vm *vm, struct mem_region *out, int max);
int vm_irq_set(void *vm, uint32_t gsi, int level);
int vm_msi_signal(void *vm, uint64_t address, uint32_t data);
/* Ends the VM: the first caller's reason and report stick; vCPUs are kicked out. */
void vm_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool vm_stopped(struct vm *vm);
/* Pause parks every vCPU thread and returns once all are parked. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* Guest RAM pages resident (touched), and this process's RSS, in bytes. */
uint64_t vm_guest_ram_touched(const struct vm *vm);
uint64_t vm_process_rss(void);

/* vcpu.c */
int vcpu_init(struct vm *vm, int index);
/* Starts every vCPU thread. */
int vcpus_start(struct vm *vm);
void vcpus_kick(struct vm *vm);
void vcpus_join(struct vm *vm);

#endif
