/* elf.c — loading an ELF64 x86-64 executable (a vmlinux, the in-tree guest)
 * into guest RAM at its physical addresses, treating the file as hostile. */
#include "boot.h"

#include "../../common/log.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Headers are read with memcpy into the host's structs, which match the
 * file layout only on a little-endian host — which a KVM x86 host is. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ELF headers are read in host byte order");

/* A vmlinux has about five program headers; anything near this is not a
 * kernel, and the bound keeps the header table walk short. */
#define ELF_MAX_PHNUM 64

int elf_is_elf(const uint8_t *image, size_t len)
{
	return len >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

static int elf_check_header(const char *what, const uint8_t *image, size_t len, Elf64_Ehdr *eh)
{
	if (!elf_is_elf(image, len)) {
		log_error("%s: not an ELF file", what);
		return -ENOEXEC;
	}
	if (len < sizeof(*eh)) {
		log_error("%s: ELF header truncated (%zu bytes)", what, len);
		return -ENOEXEC;
	}
	memcpy(eh, image, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		log_error("%s: not a 64-bit little-endian ELF", what);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT) {
		log_error("%s: unknown ELF version", what);
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_X86_64) {
		log_error("%s: ELF machine %u is not x86-64", what, eh->e_machine);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		log_error("%s: ELF type %u is not an executable (ET_EXEC)", what, eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		log_error("%s: ELF program header size %u, expected %zu", what, eh->e_phentsize, sizeof(Elf64_Phdr));
		return -ENOEXEC;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHNUM) {
		log_error("%s: %u ELF program headers (1 to %d accepted)", what, eh->e_phnum, ELF_MAX_PHNUM);
		return -ENOEXEC;
	}
	uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > len || table > len - eh->e_phoff) {
		log_error("%s: ELF program headers lie outside the file", what);
		return -ENOEXEC;
	}
	return 0;
}

static void elf_phdr(const uint8_t *image, const Elf64_Ehdr *eh, int i, Elf64_Phdr *ph)
{
	memcpy(ph, image + eh->e_phoff + (size_t)i * sizeof(*ph), sizeof(*ph));
}

static int elf_check_segment(struct vm *vm, const char *what, size_t len, uint64_t min_paddr, int i,
			     const Elf64_Phdr *ph)
{
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset) {
		log_error("%s: segment %d: file range [0x%" PRIx64 ", +0x%" PRIx64 ") lies outside the %zu-byte file",
			  what, i, ph->p_offset, ph->p_filesz, len);
		return -EINVAL;
	}
	if (ph->p_filesz > ph->p_memsz) {
		log_error("%s: segment %d: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64, what, i,
			  ph->p_filesz, ph->p_memsz);
		return -EINVAL;
	}
	if (ph->p_paddr < min_paddr) {
		log_error("%s: segment %d: physical address 0x%" PRIx64 " is below 0x%" PRIx64, what, i, ph->p_paddr,
			  min_paddr);
		return -EINVAL;
	}
	if (ph->p_memsz > UINT64_MAX - ph->p_paddr || !vm_gpa(vm, ph->p_paddr, ph->p_memsz)) {
		log_error("%s: segment %d: [0x%" PRIx64 ", +0x%" PRIx64 ") is not inside guest RAM", what, i,
			  ph->p_paddr, ph->p_memsz);
		return -EINVAL;
	}
	return 0;
}

int elf_load(struct vm *vm, const char *what, const uint8_t *image, size_t len, uint64_t min_paddr, uint64_t *entry,
	     uint64_t *end)
{
	Elf64_Ehdr eh;
	int ret = elf_check_header(what, image, len, &eh);
	if (ret)
		return ret;

	/* Check every segment before writing any, so a bad image leaves guest
	 * memory as it was. */
	uint64_t top = 0;
	int loads = 0, entry_inside = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		elf_phdr(image, &eh, i, &ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		ret = elf_check_segment(vm, what, len, min_paddr, i, &ph);
		if (ret)
			return ret;
		loads++;
		if (ph.p_paddr + ph.p_memsz > top)
			top = ph.p_paddr + ph.p_memsz;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_inside = 1;
	}
	if (!loads) {
		log_error("%s: no loadable ELF segment", what);
		return -ENOEXEC;
	}
	if (!entry_inside) {
		log_error("%s: entry point 0x%" PRIx64 " is outside the loaded segments", what, eh.e_entry);
		return -ENOEXEC;
	}

	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		elf_phdr(image, &eh, i, &ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		uint8_t *dst = vm_gpa(vm, ph.p_paddr, ph.p_memsz);
		memcpy(dst, image + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	*entry = eh.e_entry;
	*end = top;
	return 0;
}
