/* entry.S — where every vCPU enters the guest (vdi_boot.h: all at once, RDI =
 * boot info, RSI = vCPU index, no stack) and the CPU exception entry stubs. */
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
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad exception_stub_\v
	.endr
	.size idt_exception_stubs, . - idt_exception_stubs

	.bss
	.balign 4096
	.global guest_stacks
guest_stacks:
	.skip GUEST_MAX_CPUS * GUEST_STACK_SIZE
	.size guest_stacks, . - guest_stacks

	.section .note.GNU-stack, "", @progbits
