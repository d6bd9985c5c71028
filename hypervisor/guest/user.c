/* user.c — what CPL3 needs from the kernel: a GDT with user segments and a
 * TSS (RSP0, and an I/O bitmap allowing every port), page tables that let
 * CPL3 touch everything below 4 GiB, and the IDT gates for the LAPIC's
 * interrupts. The system call itself is entry.S's (a #UD at one address). */
#include "arch.h"
#include "guest.h"

#define PTE_PRESENT 0x1ull
#define PTE_WRITE   0x2ull
#define PTE_USER    0x4ull
#define PTE_PWT     0x8ull
#define PTE_PCD     0x10ull
#define PTE_PS      0x80ull
#define PAGE_2M     (1ull << 21)
#define MMIO_GIB    3 /* 0xC0000000..4 GiB: PCI BARs, IOAPIC, LAPIC: uncached */

#define GDT_TSS_AVAILABLE 0x89ull /* present, DPL 0, 64-bit TSS */
#define IOMAP_BYTES       (65536 / 8)

/* IOPL 3 alone would let CPL3 use ports on VT-x, but the host this guest
 * was built for runs CPL3 with IOPL forced to 0, so port I/O from CPL3 goes
 * through the TSS's I/O permission bitmap, which it does honour. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp0;
	uint64_t rsp1;
	uint64_t rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t iomap[IOMAP_BYTES + 1]; /* one bit a port, 0 = allowed; then a byte of ones */
} __attribute__((packed));

struct gdt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* entry.S's user_call points rsp0 at the kernel stack of the moment. */
_Static_assert(offsetof(struct tss64, rsp0) == TSS_RSP0_OFFSET, "entry.S writes rsp0 there");
struct tss64 user_tss __attribute__((aligned(16))) = {
    .iomap_base = offsetof(struct tss64, iomap),
    .iomap[IOMAP_BYTES] = 0xff,
};

/* The boot GDT's kernel selectors stay where vdi_boot.h puts them (0x10 code,
 * 0x18 data), so loading this GDT needs no segment reload. */
static uint64_t user_gdt[] __attribute__((aligned(16))) = {
    0,                     /* null */
    0,                     /* unused */
    0x00af9b000000ffffull, /* 0x10: 64-bit code, DPL 0 */
    0x00cf93000000ffffull, /* 0x18: data, DPL 0 */
    0x00cff3000000ffffull, /* 0x20: data, DPL 3 */
    0x00affb000000ffffull, /* 0x28: 64-bit code, DPL 3 */
    0,                     /* 0x30: TSS, low half (filled in) */
    0,                     /* 0x38: TSS, high half */
};

/* One PML4, one PDPT, four page directories of 2 MiB pages: the boot tables'
 * identity map, but with U/S=1 everywhere. */
static uint64_t user_pml4[512] __attribute__((aligned(4096)));
static uint64_t user_pdpt[512] __attribute__((aligned(4096)));
static uint64_t user_pd[4][512] __attribute__((aligned(4096)));

static void user_build_page_tables(void)
{
	user_pml4[0] = (uintptr_t)user_pdpt | PTE_PRESENT | PTE_WRITE | PTE_USER;
	for (uint64_t g = 0; g < 4; g++) {
		user_pdpt[g] = (uintptr_t)user_pd[g] | PTE_PRESENT | PTE_WRITE | PTE_USER;
		uint64_t cache = g == MMIO_GIB ? PTE_PCD | PTE_PWT : 0;
		for (uint64_t i = 0; i < 512; i++)
			user_pd[g][i] = ((g * 512 + i) * PAGE_2M) | PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_PS | cache;
	}
}

static void user_load_gdt(void)
{
	uint64_t base = (uintptr_t)&user_tss;
	uint64_t limit = sizeof(user_tss) - 1;
	user_gdt[USER_SEL_TSS / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | GDT_TSS_AVAILABLE << 40 |
				     ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	user_gdt[USER_SEL_TSS / 8 + 1] = base >> 32;
	struct gdt_pointer ptr = {.limit = sizeof(user_gdt) - 1, .base = (uintptr_t)user_gdt};
	__asm__ volatile("lgdt %0" : : "m"(ptr) : "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)USER_SEL_TSS) : "memory");
}

void user_init(void)
{
	user_build_page_tables();
	__asm__ volatile("mov %0, %%cr3" : : "r"((uintptr_t)user_pml4) : "memory");
	user_load_gdt();
	idt_set_gate(VECTOR_TIMER, irq_timer_entry, 0);
	idt_set_gate(VECTOR_GPU, irq_gpu_entry, 0);
	idt_set_gate(VECTOR_INPUT, irq_input_entry, 0);
	idt_set_gate(VECTOR_LABEL, irq_label_entry, 0);
	idt_set_gate(VECTOR_SOUND, irq_sound_entry, 0);
	idt_set_gate(VECTOR_SPURIOUS, irq_spurious_entry, 0);
}
