/* test_elf.c — unit tests for the ELF64 loader in hypervisor/boot/elf.c:
 * a good image lands where it says, and every malformed field is refused
 * before guest memory is touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE  (4u << 20)
#define POISON    0xAA
#define IMAGE_MAX 0x1000
#define DATA_OFF  0x200 /* segment bytes start here in the test images */

struct fixture {
	struct vm *vm;
	uint8_t image[IMAGE_MAX];
	size_t len;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[4];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->vm = calloc(1, sizeof(*f->vm));
	assert_non_null(f->vm);
	f->vm->mem = malloc(RAM_SIZE);
	assert_non_null(f->vm->mem);
	memset(f->vm->mem, POISON, RAM_SIZE);
	f->vm->low_bytes = RAM_SIZE;
	f->vm->mem_bytes = RAM_SIZE;

	/* Two segments: text with a bss tail at 1 MiB, data at 2 MiB, and a
	 * note the loader must skip. */
	Elf64_Ehdr *eh = &f->eh;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0x100004;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 3;
	f->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_offset = DATA_OFF,
				.p_vaddr = 0xffffffff80100000ull,
				.p_paddr = 0x100000,
				.p_filesz = 16,
				.p_memsz = 0x1000};
	f->ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0xdeadbeef, .p_filesz = 0xffffffff};
	f->ph[2] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_offset = DATA_OFF + 16,
				.p_vaddr = 0x200000,
				.p_paddr = 0x200000,
				.p_filesz = 8,
				.p_memsz = 8};
	for (int i = 0; i < 24; i++)
		f->image[DATA_OFF + i] = (uint8_t)(i + 1);
	f->len = DATA_OFF + 24;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->vm->mem);
	free(f->vm);
	free(f);
	return 0;
}

/* Writes the (possibly edited) headers into the image. */
static void build(struct fixture *f)
{
	memcpy(f->image, &f->eh, sizeof(f->eh));
	size_t n = f->eh.e_phnum < 4 ? f->eh.e_phnum : 3;
	if (f->eh.e_phoff == sizeof(Elf64_Ehdr))
		memcpy(f->image + sizeof(Elf64_Ehdr), f->ph, n * sizeof(Elf64_Phdr));
}

static int load(struct fixture *f, uint64_t *entry, uint64_t *end)
{
	build(f);
	return elf_load(f->vm, "test.elf", f->image, f->len, VM_KERNEL_MIN, entry, end);
}

static void assert_ram_untouched(const struct fixture *f)
{
	for (uint64_t a = 0x100000; a < 0x101000; a++)
		assert_int_equal(f->vm->mem[a], POISON);
	for (uint64_t a = 0x200000; a < 0x200008; a++)
		assert_int_equal(f->vm->mem[a], POISON);
}

static void expect_refused(struct fixture *f, int err)
{
	uint64_t entry = 0, end = 0;
	assert_int_equal(load(f, &entry, &end), err);
	assert_ram_untouched(f);
}

static void test_loads_segments_and_zeroes_bss(void **state)
{
	struct fixture *f = *state;
	uint64_t entry = 0, end = 0;
	assert_int_equal(load(f, &entry, &end), 0);
	assert_int_equal(entry, 0x100004);
	assert_int_equal(end, 0x200008);
	for (int i = 0; i < 16; i++)
		assert_int_equal(f->vm->mem[0x100000 + i], i + 1);
	for (int i = 16; i < 0x1000; i++)
		assert_int_equal(f->vm->mem[0x100000 + i], 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(f->vm->mem[0x200000 + i], 17 + i);
	assert_int_equal(f->vm->mem[0x200008], POISON);
	assert_int_equal(f->vm->mem[0xfffff], POISON);
}

static void test_is_elf(void **state)
{
	struct fixture *f = *state;
	build(f);
	assert_true(elf_is_elf(f->image, f->len));
	assert_false(elf_is_elf(f->image, 3));
	assert_false(elf_is_elf((const uint8_t *)"MZ\x90\x00", 4));
}

static void test_bad_magic(void **state)
{
	struct fixture *f = *state;
	f->eh.e_ident[EI_MAG1] = 'X';
	expect_refused(f, -ENOEXEC);
}

static void test_truncated_header(void **state)
{
	struct fixture *f = *state;
	build(f);
	uint64_t entry, end;
	assert_int_equal(elf_load(f->vm, "t", f->image, sizeof(Elf64_Ehdr) - 1, VM_KERNEL_MIN, &entry, &end), -ENOEXEC);
	assert_int_equal(elf_load(f->vm, "t", f->image, 0, VM_KERNEL_MIN, &entry, &end), -ENOEXEC);
}

static void test_wrong_class(void **state)
{
	struct fixture *f = *state;
	f->eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_refused(f, -ENOEXEC);
}

static void test_big_endian(void **state)
{
	struct fixture *f = *state;
	f->eh.e_ident[EI_DATA] = ELFDATA2MSB;
	expect_refused(f, -ENOEXEC);
}

static void test_wrong_version(void **state)
{
	struct fixture *f = *state;
	f->eh.e_version = 2;
	expect_refused(f, -ENOEXEC);
}

static void test_wrong_machine(void **state)
{
	struct fixture *f = *state;
	f->eh.e_machine = EM_386;
	expect_refused(f, -ENOEXEC);
}

static void test_wrong_type(void **state)
{
	struct fixture *f = *state;
	f->eh.e_type = ET_DYN;
	expect_refused(f, -ENOEXEC);
	f->eh.e_type = ET_REL;
	expect_refused(f, -ENOEXEC);
}

static void test_wrong_phentsize(void **state)
{
	struct fixture *f = *state;
	f->eh.e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_refused(f, -ENOEXEC);
}

static void test_phnum_zero_and_huge(void **state)
{
	struct fixture *f = *state;
	f->eh.e_phnum = 0;
	expect_refused(f, -ENOEXEC);
	f->eh.e_phnum = 0xffff;
	expect_refused(f, -ENOEXEC);
	f->eh.e_phnum = 65;
	expect_refused(f, -ENOEXEC);
}

static void test_phoff_past_eof(void **state)
{
	struct fixture *f = *state;
	build(f);
	f->eh.e_phoff = f->len - sizeof(Elf64_Phdr); /* the table's tail runs past the end */
	expect_refused(f, -ENOEXEC);
	f->eh.e_phoff = f->len + 1;
	expect_refused(f, -ENOEXEC);
	f->eh.e_phoff = UINT64_MAX - 8; /* offset + table size wraps */
	expect_refused(f, -ENOEXEC);
}

static void test_segment_outside_file(void **state)
{
	struct fixture *f = *state;
	f->ph[2].p_offset = f->len - 4; /* 8 bytes from 4 before the end */
	expect_refused(f, -EINVAL);
	f->ph[2].p_offset = UINT64_MAX - 2; /* offset + filesz wraps */
	expect_refused(f, -EINVAL);
}

static void test_filesz_over_memsz(void **state)
{
	struct fixture *f = *state;
	f->ph[2].p_memsz = 4;
	expect_refused(f, -EINVAL);
}

static void test_paddr_overflow(void **state)
{
	struct fixture *f = *state;
	f->ph[2].p_paddr = UINT64_MAX - 4;
	expect_refused(f, -EINVAL);
	f->ph[2].p_paddr = 0x200000;
	f->ph[2].p_memsz = UINT64_MAX - 0x100000;
	expect_refused(f, -EINVAL);
}

static void test_segment_outside_ram(void **state)
{
	struct fixture *f = *state;
	f->ph[2].p_paddr = RAM_SIZE - 4; /* straddles the end of RAM */
	expect_refused(f, -EINVAL);
	f->ph[2].p_paddr = VM_IOAPIC_BASE;
	expect_refused(f, -EINVAL);
	f->ph[2].p_paddr = VM_HIGH_RAM_START; /* no high RAM in this VM */
	expect_refused(f, -EINVAL);
}

static void test_segment_below_min(void **state)
{
	struct fixture *f = *state;
	f->ph[2].p_paddr = VM_KERNEL_MIN - 8;
	expect_refused(f, -EINVAL);
	f->ph[2].p_paddr = VM_BOOT_INFO;
	expect_refused(f, -EINVAL);
}

static void test_entry_outside_segments(void **state)
{
	struct fixture *f = *state;
	f->eh.e_entry = 0x300000;
	expect_refused(f, -ENOEXEC);
	f->eh.e_entry = 0xffffffff81000000ull; /* a virtual address */
	expect_refused(f, -ENOEXEC);
}

static void test_no_load_segment(void **state)
{
	struct fixture *f = *state;
	f->ph[0].p_type = PT_NOTE;
	f->ph[2].p_type = PT_GNU_STACK;
	expect_refused(f, -ENOEXEC);
}

static void test_unaligned_image(void **state)
{
	struct fixture *f = *state;
	build(f);
	uint8_t *copy = malloc(f->len + 1);
	assert_non_null(copy);
	memcpy(copy + 1, f->image, f->len);
	uint64_t entry, end;
	assert_int_equal(elf_load(f->vm, "t", copy + 1, f->len, VM_KERNEL_MIN, &entry, &end), 0);
	assert_int_equal(f->vm->mem[0x200000], 17);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_loads_segments_and_zeroes_bss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_is_elf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_class, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_endian, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_machine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_phentsize, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_phnum_zero_and_huge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_phoff_past_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_outside_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filesz_over_memsz, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paddr_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_below_min, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_outside_segments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_load_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unaligned_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
