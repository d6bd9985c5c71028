/* fuzz_kernel_image.c — libFuzzer target: arbitrary bytes as a kernel file
 * (bzImage header, compressed payload, vmlinux ELF) loaded into a VM with
 * 32 MiB of RAM, and the same bytes as a bare compressed payload. */
#include "../../hypervisor/boot/boot.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Enough for a kernel at its usual 16 MiB link address plus an initrd;
 * small enough that a header asking for all of it stays cheap. */
#define FUZZ_RAM (32u << 20)
#define FUZZ_OUT (1u << 20)

static struct vm *fuzz_vm;
static uint8_t *fuzz_out;
static const uint8_t fuzz_initrd[8192] = {0x30, 0x37, 0x30, 0x37, 0x30, 0x31}; /* "070701": cpio */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_vm = calloc(1, sizeof(*fuzz_vm));
	fuzz_out = malloc(FUZZ_OUT);
	if (!fuzz_vm || !fuzz_out)
		abort();
	fuzz_vm->mem = calloc(1, FUZZ_RAM);
	if (!fuzz_vm->mem)
		abort();
	fuzz_vm->mem_bytes = FUZZ_RAM;
	fuzz_vm->low_bytes = FUZZ_RAM;
	fuzz_vm->ncpus = 4;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy of exactly `size` bytes, so ASan flags any read past
	 * the end of the "file". */
	uint8_t *image = malloc(size ? size : 1);
	if (!image)
		return 0;
	memcpy(image, data, size);

	const char *format;
	long n = decompress_payload(image, size, fuzz_out, FUZZ_OUT, &format);
	if (n > (long)FUZZ_OUT || !format)
		abort();

	struct boot_entry entry;
	if (boot_load_linux_image(fuzz_vm, "fuzz", image, size, fuzz_initrd, sizeof(fuzz_initrd), "console=ttyS0",
				  &entry) == 0) {
		/* Whatever loaded must enter inside guest RAM. */
		if (entry.rsi != VM_BOOT_INFO || !vm_gpa(fuzz_vm, entry.rip, 1))
			abort();
	}
	free(image);
	return 0;
}
