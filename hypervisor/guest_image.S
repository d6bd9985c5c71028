/* guest_image.S — the in-tree guest's ELF image, embedded in vdi-vmm. */
	.section .rodata
	.balign 16
	.global vdi_guest_image
vdi_guest_image:
	.incbin VDI_GUEST_ELF
	.global vdi_guest_image_end
vdi_guest_image_end:
	.section .note.GNU-stack,"",@progbits
