/* entry.S — where every vCPU enters the guest (vdi_boot.h: all at once, RDI =
 * boot info, RSI = vCPU index, no stack), the CPU exception entry stubs, and
 * the kernel side of CPL3: entering it, the system call, interrupt handlers. */
#include "guest.h"

	.section .text.entry, "ax", @progbits
	.global guest_entry
	.type guest_entry, @function
guest_entry:
	cli
	cld
	/* A vCPU beyond the stacks we have gets none: it just halts. */
	cmp $GUEST_MAX_CPUS, %rsi
	jae 1f
	mov %rsi, %rax
	inc %rax
	shl $GUEST_STACK_SHIFT, %rax
	lea guest_stacks(%rip), %rsp
	add %rax, %rsp
	xor %ebp, %ebp
	/* guest_main(boot_info = RDI, cpu = RSI) does not return. */
	call guest_main
1:	cli
	hlt
	jmp 1b
	.size guest_entry, . - guest_entry

/* One stub per exception vector 0-31: push a zero where the CPU pushes no
 * error code, then the vector, so idt_exception() sees one frame layout. */
	.macro exception_stub vec
	.balign 16
exception_stub_\vec:
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp exception_common
	.endm

	.text
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	exception_stub \v
	.endr

	.type exception_common, @function
exception_common:
	cld
	mov %rsp, %rdi
	and $-16, %rsp
	call idt_exception
2:	cli
	hlt
	jmp 2b
	.size exception_common, . - exception_common

	.section .rodata
	.balign 8
	.global idt_exception_stubs
idt_exception_stubs:
	.irp v, 0,1,2,3,4,5
	.quad exception_stub_\v
	.endr
	.quad exception_ud_entry
	.irp v, 7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad exception_stub_\v
	.endr
	.size idt_exception_stubs, . - idt_exception_stubs

	.bss
	.balign 4096
	.global guest_stacks
guest_stacks:
	.skip GUEST_MAX_CPUS * GUEST_STACK_SIZE
	.size guest_stacks, . - guest_stacks

	.text
/* user_call(fn = RDI): keeps the kernel's callee-saved registers and stack
 * pointer, points TSS.RSP0 just below them (interrupts and exceptions from
 * CPL3 land there, on this vCPU's stack, so smp_cpu_self() still works),
 * and irets into CPL3 at user_start. SYS_USER_RETURN comes back here. */
	.global user_call
	.type user_call, @function
user_call:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, user_kernel_rsp(%rip)
	mov %rsp, user_tss+TSS_RSP0_OFFSET(%rip)
	pushq $USER_SEL_DATA
	lea user_stack+USER_STACK_SIZE(%rip), %rax
	push %rax
	pushq $USER_RFLAGS
	pushq $(USER_SEL_CODE | 3)
	lea user_start(%rip), %rax
	push %rax
	iretq
	.size user_call, . - user_call

/* CPL3: call fn, then give the vCPU back to the kernel. */
	.type user_start, @function
user_start:
	call *%rdi
	mov $SYS_USER_RETURN, %edi
	call user_syscall
	.size user_start, . - user_start

/* uint32_t user_syscall(uint32_t number): CPL3's way into the kernel. On the
 * host this guest was built for, neither syscall (it stays in CPL3, so
 * sysret faults) nor int $0x80 (#UD) reaches CPL0 from CPL3, but an
 * exception does: the call is a ud2 at this one address, which the #UD
 * entry below recognises. Real VT-x hosts take the same path. */
	.global user_syscall
	.type user_syscall, @function
user_syscall:
	mov %edi, %eax
user_syscall_trap:
	ud2
	ret
	.size user_syscall, . - user_syscall

/* #UD: the system call if it came from user_syscall_trap in CPL3, else an
 * exception like any other. Interrupts are off (interrupt gate) and the CPU
 * has switched to TSS.RSP0; frame: RIP, CS, RFLAGS, RSP, SS. */
	.balign 16
	.type exception_ud_entry, @function
exception_ud_entry:
	testb $3, 8(%rsp)
	jz exception_stub_6
	push %rax
	lea user_syscall_trap(%rip), %rax
	cmp %rax, 8(%rsp)
	pop %rax
	jne exception_stub_6
	addq $2, (%rsp)
	cmp $SYS_USER_RETURN, %eax
	je user_return
/* SYS_WAIT: take the pending bits; with none, halt with interrupts on (sti's
 * one-instruction shadow means an interrupt cannot slip in before hlt). */
1:	xor %eax, %eax
	xchg %eax, sys_pending(%rip)
	test %eax, %eax
	jnz 2f
	sti
	hlt
	cli
	jmp 1b
2:	iretq
	.size exception_ud_entry, . - exception_ud_entry

/* Back on the stack user_call left, in CPL0 (SS is null after the
 * privilege change: the kernel's is put back). */
	.type user_return, @function
user_return:
	mov user_kernel_rsp(%rip), %rsp
	mov $KERNEL_SEL_DATA, %eax
	mov %eax, %ss
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret
	.size user_return, . - user_return

/* Interrupt handlers: record the event and end the interrupt at the LAPIC.
 * Nothing else happens in CPL0; the drivers (CPL3) look at their devices. */
	.macro irq_stub name, bit
	.global \name
	.type \name, @function
\name:
	lock orl $\bit, sys_pending(%rip)
	push %rax
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq
	.size \name, . - \name
	.endm
	irq_stub irq_timer_entry, PENDING_TIMER
	irq_stub irq_gpu_entry, PENDING_GPU
	irq_stub irq_input_entry, PENDING_INPUT
	irq_stub irq_label_entry, PENDING_LABEL
	irq_stub irq_sound_entry, PENDING_SOUND

/* The LAPIC sends the spurious vector without expecting an EOI. */
	.global irq_spurious_entry
	.type irq_spurious_entry, @function
irq_spurious_entry:
	iretq
	.size irq_spurious_entry, . - irq_spurious_entry

	.bss
	.balign 8
user_kernel_rsp:
	.skip 8
	.balign 4096
	.global user_stack
user_stack:
	.skip USER_STACK_SIZE
	.size user_stack, . - user_stack

	.section .note.GNU-stack, "", @progbits
