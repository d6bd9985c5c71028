/* x86.c — the 64-bit entry state both guest kinds boot into: a GDT and an
 * identity map of the first 4 GiB in guest memory, and vCPU registers. */
#include "boot.h"

#include "../../common/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define X86_CR0_PE   0x1ull
#define X86_CR0_ET   0x10ull
#define X86_CR0_NE   0x20ull
#define X86_CR0_PG   0x80000000ull
#define X86_CR4_PAE  0x20ull
#define X86_EFER_LME 0x100ull
#define X86_EFER_LMA 0x400ull
#define X86_EFER_NXE 0x800ull

#define PTE_PRESENT 0x1ull
#define PTE_WRITE   0x2ull
#define PTE_PS      0x80ull

#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static const uint64_t boot_gdt[] = {
    0,                     /* null */
    0,                     /* unused, keeps Linux's __BOOT_CS at 0x10 */
    0x00af9b000000ffffull, /* 0x10: 64-bit code, DPL 0 */
    0x00cf93000000ffffull, /* 0x18: data, DPL 0 */
    0x00008b0000000067ull, /* 0x20: 64-bit busy TSS at 0, low half */
    0,                     /* 0x28: TSS high half */
};

int boot_write_long_mode_tables(struct vm *vm)
{
	uint8_t *gdt = vm_gpa(vm, VM_BOOT_GDT, sizeof(boot_gdt));
	uint64_t *pml4 = vm_gpa(vm, VM_BOOT_PML4, 4096);
	uint64_t *pdpt = vm_gpa(vm, VM_BOOT_PDPT, 4096);
	uint64_t *pd = vm_gpa(vm, VM_BOOT_PD, 4 * 4096);
	if (!gdt || !pml4 || !pdpt || !pd)
		return -ENOMEM;
	memcpy(gdt, boot_gdt, sizeof(boot_gdt));
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = VM_BOOT_PDPT | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (VM_BOOT_PD + i * 4096) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_PS;
	return 0;
}

static void boot_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = code ? 0 : 1,
	    .s = 1,
	    .l = code ? 1 : 0,
	    .g = 1,
	};
}

int boot_enter_long_mode(int vcpu_fd)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	boot_segment(&sregs.cs, VM_SEL_CODE64, 0xb, true);
	boot_segment(&sregs.ds, VM_SEL_DATA, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr =
	    (struct kvm_segment){.base = 0, .limit = 0x67, .selector = VM_SEL_TSS, .type = 0xb, .present = 1, .s = 0};
	sregs.gdt.base = VM_BOOT_GDT;
	sregs.gdt.limit = sizeof(boot_gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	sregs.cr3 = VM_BOOT_PML4;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	return 0;
}

/* Virtual-wire mode, as firmware leaves it: the PIC's interrupts arrive on
 * LINT0 and NMIs on LINT1, so a guest that never programs the IOAPIC still
 * gets its timer. */
static int boot_setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	uint32_t lint0, lint1;
	memcpy(&lint0, &lapic.regs[APIC_LVT_LINT0], 4);
	memcpy(&lint1, &lapic.regs[APIC_LVT_LINT1], 4);
	lint0 = (lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	lint1 = (lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT_LINT0], &lint0, 4);
	memcpy(&lapic.regs[APIC_LVT_LINT1], &lint1, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

int boot_setup_vcpu(struct vcpu *vcpu, const struct boot_entry *entry)
{
	int r = cpuid_set_vcpu(vcpu);
	if (r < 0) {
		log_error("KVM_SET_CPUID2 on vCPU %d: %s", vcpu->index, strerror(-r));
		return r;
	}
	if ((r = boot_setup_lapic(vcpu)) < 0) {
		log_error("local APIC setup of vCPU %d: %s", vcpu->index, strerror(-r));
		return r;
	}
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
		log_error("KVM_SET_FPU on vCPU %d: %s", vcpu->index, strerror(errno));
		return -errno;
	}
	bool enters = vcpu->index == 0 || entry->all_vcpus;
	if (!enters)
		return 0; /* an AP of a Linux guest waits for INIT/SIPI in its reset state */
	if ((r = boot_enter_long_mode(vcpu->fd)) < 0) {
		log_error("KVM_SET_SREGS on vCPU %d: %s", vcpu->index, strerror(-r));
		return r;
	}
	struct kvm_regs regs = {
	    .rflags = 0x2,
	    .rip = entry->rip,
	    .rdi = entry->rdi,
	    .rsi = entry->all_vcpus ? (uint64_t)vcpu->index : entry->rsi,
	    /* Linux wants a usable stack at entry; the in-tree guest sets its own. */
	    .rsp = entry->all_vcpus ? 0 : VM_BOOT_PML4 - 0x10,
	};
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0) {
		log_error("KVM_SET_REGS on vCPU %d: %s", vcpu->index, strerror(errno));
		return -errno;
	}
	if (vcpu->index != 0) {
		struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
		if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0) {
			log_error("KVM_SET_MP_STATE on vCPU %d: %s", vcpu->index, strerror(errno));
			return -errno;
		}
	}
	return 0;
}
