/* boot.h — loading a guest into a VM and setting up its vCPUs to enter it. */
#ifndef VDI_HYPERVISOR_BOOT_H
#define VDI_HYPERVISOR_BOOT_H

#include "../vmm.h"

#include <stddef.h>
#include <stdint.h>

/* Where and how vCPUs enter the loaded guest. */
struct boot_entry {
	uint64_t rip;
	uint64_t rsi;  /* Linux: boot_params; in-tree guest: overwritten by the vCPU index */
	uint64_t rdi;  /* in-tree guest: boot info */
	int all_vcpus; /* 1: every vCPU enters at rip (in-tree guest); 0: APs wait for INIT/SIPI */
};

/* elf.c — ELF64 executables (x86-64). Validates the header and every PT_LOAD
 * (inside the file, filesz <= memsz, no overflow, destination inside guest RAM
 * and at or above `min_paddr`), copies segments to their physical addresses
 * and zeroes the rest of each. On error logs "<what>: <why>" and returns
 * -ENOEXEC (not an ELF64 x86-64 executable) or -EINVAL (bad segment). */
int elf_load(struct vm *vm, const char *what, const uint8_t *image, size_t len, uint64_t min_paddr, uint64_t *entry,
	     uint64_t *end);
/* True when the bytes start with an ELF magic. */
int elf_is_elf(const uint8_t *image, size_t len);

/* guest_elf.c — the in-tree guest (the image embedded in vdi-vmm), with the
 * boot info block of guest/vdi_boot.h. */
int boot_load_vdi_guest(struct vm *vm, const uint8_t *image, size_t len, const char *cmdline, struct boot_entry *entry);
extern const uint8_t vdi_guest_image[];
extern const uint8_t vdi_guest_image_end[];

/* linux.c — a Linux kernel: bzImage (64-bit boot protocol, its payload
 * decompressed on the host and entered at startup_64) or vmlinux ELF; an
 * optional initrd; boot_params with e820 map and command line. Logs and
 * returns -errno on a missing or invalid file, or one that does not fit. */
int boot_load_linux(struct vm *vm, const char *kernel_path, const char *initrd_path, const char *cmdline,
		    struct boot_entry *entry);
/* The same from memory (tests, fuzzing): `what` names the image in errors;
 * `initrd` may be NULL. */
int boot_load_linux_image(struct vm *vm, const char *what, const uint8_t *image, size_t len, const uint8_t *initrd,
			  size_t initrd_len, const char *cmdline, struct boot_entry *entry);

/* decompress.c — a bzImage payload, by its magic: gzip, xz, zstd, lz4
 * (legacy frame, as the kernel uses). Writes at most `cap` bytes to `out`;
 * returns the decompressed length or -errno (-EINVAL corrupt, -E2BIG does
 * not fit, -ENOTSUP unknown format). Trailing bytes after the stream are
 * ignored (the kernel build appends the size). */
long decompress_payload(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, const char **format);

/* mptable.c — Intel MultiProcessor table (spec 1.4) at VM_EBDA_START so a
 * Linux guest finds every vCPU, the IOAPIC and the ISA interrupts. */
int mptable_write(struct vm *vm);

/* x86.c — GDT and identity page tables in guest memory, and vCPU registers
 * for 64-bit entry. */
int boot_write_long_mode_tables(struct vm *vm);
int boot_setup_vcpu(struct vcpu *vcpu, const struct boot_entry *entry);
/* Segment and control registers for 64-bit mode with the tables above. */
int boot_enter_long_mode(int vcpu_fd);

/* cpuid.c — the CPUID table vCPUs see: what KVM supports, with per-vCPU
 * APIC IDs and topology. With `probe_host`, features the host advertises but
 * cannot run are found by running them in a scratch VM and hidden (some
 * nested hosts emulate guest kernel code and lack CMPXCHG16B). */
int cpuid_init(struct vm *vm, int probe_host);
int cpuid_set_vcpu(struct vcpu *vcpu);

#endif
