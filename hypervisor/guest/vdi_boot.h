/* vdi_boot.h — the boot contract between vdi-vmm and the in-tree guest.
 *
 * vdi-vmm loads the guest's ELF64 image (PT_LOAD segments at their physical
 * addresses, at or above 1 MiB) and starts EVERY vCPU at the ELF entry point,
 * all at once, in this state:
 *   - 64-bit long mode, CPL0, interrupts disabled (RFLAGS = 0x2);
 *   - paging on: CR3 = 0x9000, an identity map of the first 4 GiB with 2 MiB
 *     pages (writable, supervisor-only), PAE, NX enabled in EFER;
 *   - GDT at 0x500: selector 0x10 64-bit code, 0x18 data, 0x20 the TSS;
 *     CS = 0x10, DS = ES = SS = FS = GS = 0x18; no IDT (the guest loads one);
 *   - RDI = physical address of struct vdi_boot_info (0x7000);
 *   - RSI = the vCPU index, 0 for the bootstrap processor, which is also
 *     the vCPU's local APIC ID; RSP = 0 (the guest sets its own stack).
 * The LAPIC is at 0xfee00000 and the IOAPIC at 0xfec00000 (in-kernel).
 *
 * Platform: 16550 UART COM1 at port 0x3f8 (IRQ 4), CMOS RTC at 0x70/0x71
 * (UTC), PCI configuration mechanism #1 at 0xcf8/0xcfc, i8042 at 0x60/0x64,
 * power-off port 0x510 (write 0: power off; non-zero: power off reporting
 * that failure code, vdi-vmm then exits non-zero).
 */
#ifndef VDI_GUEST_BOOT_H
#define VDI_GUEST_BOOT_H

#include <stdint.h>

#define VDI_BOOT_MAGIC       0x544f4f4249445621ull /* "!VDIBOOT" little-endian */
#define VDI_BOOT_VERSION     1
#define VDI_BOOT_MAX_REGIONS 8

#define VDI_MEM_RAM      1
#define VDI_MEM_RESERVED 2

struct vdi_mem_region {
	uint64_t base;
	uint64_t length;
	uint32_t type; /* VDI_MEM_* */
	uint32_t reserved;
};

struct vdi_boot_info {
	uint64_t magic;     /* VDI_BOOT_MAGIC */
	uint32_t version;   /* VDI_BOOT_VERSION */
	uint32_t size;      /* sizeof(struct vdi_boot_info) */
	uint32_t cpu_count; /* vCPUs started, indices 0..cpu_count-1 */
	uint32_t region_count;
	uint64_t cmdline;     /* physical address of a NUL-terminated string */
	uint32_t cmdline_len; /* bytes before the NUL */
	uint32_t reserved;
	uint64_t mem_bytes; /* total guest RAM */
	struct vdi_mem_region regions[VDI_BOOT_MAX_REGIONS];
};

#endif
