/* test_linux.c — unit tests for hypervisor/boot/linux.c: a bzImage made up
 * here (setup header, gzip payload holding a tiny vmlinux) and a bare
 * vmlinux load where they should, boot_params says what the boot protocol
 * asks, the initrd lands high and aligned, and bad files are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/boot/boot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LOW_RAM       (64ull << 20)
#define HIGH_RAM      (1ull << 20)
#define KERNEL_PADDR  0x1000000ull
#define KERNEL_ENTRY  (KERNEL_PADDR + 0x10)
#define KERNEL_FILESZ 64
#define KERNEL_MEMSZ  0x3000
#define INIT_SIZE     (4u << 20)
#define PM_CODE       0x100 /* bytes of stand-in decompressor before the payload */

struct image {
	uint8_t *p;
	size_t len;
};

/* What the made-up bzImage's header says; tests change fields. */
struct bz_opts {
	uint8_t setup_sects;
	uint8_t hdr_len_byte; /* the byte at 0x201: header ends at 0x202 + this */
	uint16_t version;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t init_size;
	int payload_format; /* 0 gzip, 1 not compressed (unknown magic) */
	int corrupt_payload;
	int payload_not_elf;
};

static const struct bz_opts default_opts = {
    .setup_sects = 1,
    .hdr_len_byte = 0x6a, /* 0x26c: through kernel_info_offset, as 2.15 */
    .version = 0x020f,
    .xloadflags = 0x0003,
    .cmdline_size = 2047,
    .initrd_addr_max = 0x7fffffff,
    .init_size = INIT_SIZE,
};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}
static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* A vmlinux: one PT_LOAD at 16 MiB with a bss tail, then bytes standing
 * for the relocation table the kernel build appends. */
static struct image make_vmlinux(void)
{
	size_t code = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
	struct image im = {calloc(1, code + KERNEL_FILESZ + 16), code + KERNEL_FILESZ + 16};
	assert_non_null(im.p);
	Elf64_Ehdr eh = {
	    .e_type = ET_EXEC,
	    .e_machine = EM_X86_64,
	    .e_version = EV_CURRENT,
	    .e_entry = KERNEL_ENTRY,
	    .e_phoff = sizeof(Elf64_Ehdr),
	    .e_ehsize = sizeof(Elf64_Ehdr),
	    .e_phentsize = sizeof(Elf64_Phdr),
	    .e_phnum = 1,
	};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	Elf64_Phdr ph = {
	    .p_type = PT_LOAD,
	    .p_offset = code,
	    .p_vaddr = 0xffffffff81000000ull,
	    .p_paddr = KERNEL_PADDR,
	    .p_filesz = KERNEL_FILESZ,
	    .p_memsz = KERNEL_MEMSZ,
	};
	memcpy(im.p, &eh, sizeof(eh));
	memcpy(im.p + sizeof(eh), &ph, sizeof(ph));
	for (int i = 0; i < KERNEL_FILESZ; i++)
		im.p[code + (size_t)i] = (uint8_t)(0x40 + i);
	memset(im.p + code + KERNEL_FILESZ, 0xEE, 16);
	return im;
}

static struct image gzip(const uint8_t *in, size_t len)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&s, len) + 4;
	struct image z = {malloc(cap), 0};
	assert_non_null(z.p);
	s.next_in = (Bytef *)(uintptr_t)in;
	s.avail_in = (uInt)len;
	s.next_out = z.p;
	s.avail_out = (uInt)cap;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	z.len = s.total_out;
	deflateEnd(&s);
	put32(z.p + z.len, (uint32_t)len); /* the size the kernel build appends */
	z.len += 4;
	return z;
}

static struct image make_bzimage(const struct bz_opts *o)
{
	struct image elf = make_vmlinux();
	if (o->payload_not_elf)
		memset(elf.p, 'x', 4);
	struct image payload;
	if (o->payload_format == 0) {
		payload = gzip(elf.p, elf.len);
		if (o->corrupt_payload)
			payload.p[payload.len / 2] ^= 0x55;
	} else {
		payload.p = malloc(elf.len);
		assert_non_null(payload.p);
		memcpy(payload.p, elf.p, elf.len);
		payload.len = elf.len;
		payload.p[0] = 0x77; /* no known magic */
	}
	size_t setup = ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
	struct image im;
	im.len = setup + PM_CODE + payload.len + 64;
	im.p = calloc(1, im.len);
	assert_non_null(im.p);
	im.p[0] = 'M';
	im.p[1] = 'Z';
	im.p[0x1f1] = o->setup_sects;
	put16(im.p + 0x1fa, 0xffff); /* vid_mode: normal */
	put16(im.p + 0x1fe, 0xAA55);
	im.p[0x200] = 0xEB;
	im.p[0x201] = o->hdr_len_byte;
	memcpy(im.p + 0x202, "HdrS", 4);
	put16(im.p + 0x206, o->version);
	im.p[0x211] = 0x01; /* LOADED_HIGH */
	put32(im.p + 0x214, 0x100000);
	put32(im.p + 0x22c, o->initrd_addr_max);
	put32(im.p + 0x230, 0x200000);
	im.p[0x234] = 1;
	im.p[0x235] = 21;
	put16(im.p + 0x236, o->xloadflags);
	put32(im.p + 0x238, o->cmdline_size);
	put32(im.p + 0x248, PM_CODE);
	put32(im.p + 0x24c, (uint32_t)payload.len);
	put64(im.p + 0x258, KERNEL_PADDR);
	put32(im.p + 0x260, o->init_size);
	put32(im.p + 0x264, 0x190);
	put32(im.p + 0x268, 0x12345);              /* kernel_info_offset (2.15) */
	memset(im.p + 0x26c, 0xCC, setup - 0x26c); /* setup code */
	memset(im.p + setup, 0x90, PM_CODE);       /* decompressor */
	memcpy(im.p + setup + PM_CODE, payload.p, payload.len);
	memset(im.p + setup + PM_CODE + payload.len, 0xF4, 64);
	free(payload.p);
	free(elf.p);
	return im;
}

static struct vm *make_vm(uint64_t low, uint64_t high)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->mem = calloc(1, low + high);
	assert_non_null(vm->mem);
	vm->mem_bytes = low + high;
	vm->low_bytes = low;
	vm->high_bytes = high;
	vm->ncpus = 2;
	return vm;
}

static void free_vm(struct vm *vm)
{
	free(vm->mem);
	free(vm);
}

static const uint8_t *boot_params(struct vm *vm)
{
	return vm->mem + VM_BOOT_INFO;
}

static void check_kernel_loaded(struct vm *vm)
{
	const uint8_t *k = vm->mem + KERNEL_PADDR;
	for (int i = 0; i < KERNEL_FILESZ; i++)
		assert_int_equal(k[i], 0x40 + i);
	for (int i = KERNEL_FILESZ; i < KERNEL_MEMSZ; i++)
		assert_int_equal(k[i], 0);
	assert_int_equal(k[KERNEL_MEMSZ], 0); /* the relocation bytes went nowhere */
	for (uint64_t a = KERNEL_PADDR + KERNEL_MEMSZ; a < KERNEL_PADDR + 0x10000; a++)
		assert_int_not_equal(vm->mem[a], 0xEE);
}

static void check_e820(struct vm *vm)
{
	const uint8_t *bp = boot_params(vm);
	struct mem_region map[VM_MAX_MEM_REGIONS];
	int n = vm_memory_map(vm, map, VM_MAX_MEM_REGIONS);
	assert_int_equal(bp[0x1e8], n);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = bp + 0x2d0 + 20 * i;
		assert_int_equal(get64(e), map[i].base);
		assert_int_equal(get64(e + 8), map[i].len);
		assert_int_equal(get32(e + 16), map[i].type == MEM_RAM ? 1 : 2);
	}
	assert_int_equal(get64(bp + 0x2d0 + 20 * n), 0);
}

static void test_bzimage_boots(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, HIGH_RAM);
	struct image im = make_bzimage(&default_opts);
	struct boot_entry entry;
	memset(&entry, 0xAB, sizeof(entry));
	const char *cmdline = "console=ttyS0 root=/dev/vda rw";
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, cmdline, &entry), 0);

	assert_int_equal(entry.rip, KERNEL_ENTRY);
	assert_int_equal(entry.rsi, VM_BOOT_INFO);
	assert_int_equal(entry.all_vcpus, 0);
	check_kernel_loaded(vm);

	const uint8_t *bp = boot_params(vm);
	/* The kernel's own header, as the image had it... */
	assert_memory_equal(bp + 0x1f1, im.p + 0x1f1, 0x210 - 0x1f1);
	assert_int_equal(get16(bp + 0x1fe), 0xAA55);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(get16(bp + 0x206), 0x020f);
	assert_int_equal(get32(bp + 0x230), 0x200000);
	assert_int_equal(get16(bp + 0x236), 0x0003);
	assert_int_equal(get64(bp + 0x258), KERNEL_PADDR);
	assert_int_equal(get32(bp + 0x260), INIT_SIZE);
	assert_int_equal(get32(bp + 0x268), 0x12345);
	/* ...with what the loader fills in. */
	assert_int_equal(bp[0x210], 0xff);
	assert_int_equal(bp[0x211], 0x81);
	assert_int_equal(get16(bp + 0x224), 0xfe00);
	assert_int_equal(get32(bp + 0x228), VM_BOOT_CMDLINE);
	assert_int_equal(get32(bp + 0x0c8), 0);
	assert_int_equal(get32(bp + 0x218), 0); /* no initrd */
	assert_int_equal(get32(bp + 0x21c), 0);
	assert_int_equal(bp[0x1ef], 0); /* sentinel: boot_params is not stale */
	for (int i = 0x26c; i < 0x2d0; i++)
		assert_int_equal(bp[i], 0); /* nothing past the header's own length */
	assert_string_equal((const char *)vm->mem + VM_BOOT_CMDLINE, cmdline);
	check_e820(vm);
	assert_int_equal(bp[0x1e8], 5); /* low RAM, EBDA, BIOS, RAM from 1 MiB, high RAM */

	/* The MP table is there for the vCPUs. */
	assert_memory_equal(vm->mem + VM_EBDA_START, "_MP_", 4);
	free(im.p);
	free_vm(vm);
}

static void test_bzimage_setup_sects_zero_means_four(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct bz_opts o = default_opts;
	o.setup_sects = 0;
	struct image im = make_bzimage(&o);
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), 0);
	check_kernel_loaded(vm);
	free(im.p);
	free_vm(vm);
}

/* A 2.12 header ends before kernel_info_offset: that field stays zero even
 * though the image has bytes there. */
static void test_bzimage_short_header_copied_to_its_end(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct bz_opts o = default_opts;
	o.version = 0x020c;
	o.hdr_len_byte = 0x66;
	struct image im = make_bzimage(&o);
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), 0);
	assert_int_equal(get32(boot_params(vm) + 0x264), 0x190);
	assert_int_equal(get32(boot_params(vm) + 0x268), 0);
	o.hdr_len_byte = 0x60; /* ends before init_size: not a 2.12 header */
	free(im.p);
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);
	free_vm(vm);
}

static void test_vmlinux_boots(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct image elf = make_vmlinux();
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "vmlinux", elf.p, elf.len, NULL, 0, "quiet", &entry), 0);
	assert_int_equal(entry.rip, KERNEL_ENTRY);
	assert_int_equal(entry.rsi, VM_BOOT_INFO);
	check_kernel_loaded(vm);
	const uint8_t *bp = boot_params(vm);
	assert_int_equal(get16(bp + 0x1fe), 0xAA55);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_true(get16(bp + 0x206) >= 0x020c);
	assert_int_equal(bp[0x210], 0xff);
	assert_int_equal(bp[0x211] & 0x81, 0x81);
	assert_int_equal(get32(bp + 0x228), VM_BOOT_CMDLINE);
	assert_int_equal(get32(bp + 0x230), 0x1000000);
	assert_string_equal((const char *)vm->mem + VM_BOOT_CMDLINE, "quiet");
	check_e820(vm);
	free(elf.p);
	free_vm(vm);
}

static void check_initrd(struct vm *vm, const uint8_t *data, size_t len, uint64_t limit)
{
	const uint8_t *bp = boot_params(vm);
	uint64_t addr = get32(bp + 0x218) | (uint64_t)get32(bp + 0x0c0) << 32;
	uint64_t size = get32(bp + 0x21c) | (uint64_t)get32(bp + 0x0c4) << 32;
	assert_int_equal(size, len);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr >= KERNEL_PADDR + INIT_SIZE); /* above all the kernel may use */
	assert_true(addr + size <= limit);
	assert_true(addr + size > limit - 4096); /* as high as it goes */
	if (data)
		assert_memory_equal(vm->mem + addr, data, len);
}

static void test_initrd_placed_high_and_aligned(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, HIGH_RAM);
	struct image im = make_bzimage(&default_opts);
	size_t len = (1u << 20) + 123;
	uint8_t *initrd = malloc(len);
	assert_non_null(initrd);
	for (size_t i = 0; i < len; i++)
		initrd[i] = (uint8_t)(i * 7);
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, initrd, len, "", &entry), 0);
	check_initrd(vm, initrd, len, LOW_RAM);
	check_kernel_loaded(vm);
	free(initrd);
	free(im.p);
	free_vm(vm);
}

static void test_initrd_respects_initrd_addr_max(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct bz_opts o = default_opts;
	o.initrd_addr_max = 0x2FFFFFF; /* last byte it may use: just under 48 MiB */
	struct image im = make_bzimage(&o);
	uint8_t initrd[5000];
	memset(initrd, 0x33, sizeof(initrd));
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, initrd, sizeof(initrd), "", &entry), 0);
	check_initrd(vm, initrd, sizeof(initrd), 0x3000000);
	free(im.p);
	free_vm(vm);
}

static void test_initrd_does_not_fit(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct image im = make_bzimage(&default_opts);
	/* 64 MiB of RAM, the kernel reserving up to 20 MiB: 44 MiB are left. */
	size_t len = LOW_RAM - KERNEL_PADDR - INIT_SIZE + 1;
	uint8_t *initrd = calloc(1, len);
	assert_non_null(initrd);
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, initrd, len, "", &entry), -ENOMEM);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, initrd, len - 4096, "", &entry), 0);
	check_initrd(vm, NULL, len - 4096, LOW_RAM);
	free(initrd);
	free(im.p);
	free_vm(vm);
}

static void test_cmdline_limits(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct image im = make_bzimage(&default_opts);
	char *cmd = malloc(VM_BOOT_CMDLINE_MAX + 1);
	assert_non_null(cmd);
	struct boot_entry entry;

	/* The kernel says 2047; the VMM area holds 4095 + NUL. */
	memset(cmd, 'a', 2047);
	cmd[2047] = '\0';
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, cmd, &entry), 0);
	assert_int_equal(strlen((const char *)vm->mem + VM_BOOT_CMDLINE), 2047);
	memset(cmd, 'a', 2048);
	cmd[2048] = '\0';
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, cmd, &entry), -E2BIG);

	/* A kernel allowing more is still held to the VMM's area. */
	struct bz_opts o = default_opts;
	o.cmdline_size = 0x7fffffff;
	free(im.p);
	im = make_bzimage(&o);
	memset(cmd, 'b', VM_BOOT_CMDLINE_MAX - 1);
	cmd[VM_BOOT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, cmd, &entry), 0);
	memset(cmd, 'b', VM_BOOT_CMDLINE_MAX);
	cmd[VM_BOOT_CMDLINE_MAX] = '\0';
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, cmd, &entry), -E2BIG);

	/* vmlinux: only the VMM's limit. */
	struct image elf = make_vmlinux();
	assert_int_equal(boot_load_linux_image(vm, "vmlinux", elf.p, elf.len, NULL, 0, cmd, &entry), -E2BIG);
	cmd[VM_BOOT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(boot_load_linux_image(vm, "vmlinux", elf.p, elf.len, NULL, 0, cmd, &entry), 0);

	/* NULL is an empty command line. */
	assert_int_equal(boot_load_linux_image(vm, "vmlinux", elf.p, elf.len, NULL, 0, NULL, &entry), 0);
	assert_int_equal(vm->mem[VM_BOOT_CMDLINE], 0);
	free(elf.p);
	free(cmd);
	free(im.p);
	free_vm(vm);
}

static void test_old_or_32bit_kernel_refused(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct boot_entry entry;
	struct bz_opts o = default_opts;
	o.version = 0x020b;
	struct image im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);
	o.version = 0x0204;
	o.hdr_len_byte = 0x30; /* an old, short header */
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);
	o = default_opts;
	o.xloadflags = 0;
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);
	free_vm(vm);
}

static void test_bad_payloads(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct boot_entry entry;
	struct bz_opts o = default_opts;
	o.corrupt_payload = 1;
	struct image im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -EINVAL);
	free(im.p);

	o = default_opts;
	o.payload_format = 1;
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOTSUP);
	free(im.p);

	o = default_opts;
	o.payload_not_elf = 1;
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);

	o = default_opts;
	o.init_size = 100; /* smaller than what the payload holds */
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -E2BIG);
	free(im.p);
	o.init_size = 0;
	im = make_bzimage(&o);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);

	/* Payload offset and length pointing outside the file. */
	im = make_bzimage(&default_opts);
	put32(im.p + 0x24c, (uint32_t)im.len);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	put32(im.p + 0x248, 0xFFFFFFF0u);
	put32(im.p + 0x24c, 0x20);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	put32(im.p + 0x248, PM_CODE);
	put32(im.p + 0x24c, 0);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOEXEC);
	free(im.p);
	free_vm(vm);
}

/* The kernel does not fit: the vmlinux lies past RAM, or init_size does. */
static void test_kernel_too_big_for_ram(void **state)
{
	(void)state;
	struct boot_entry entry;
	struct vm *vm = make_vm(KERNEL_PADDR + 0x1000, 0);
	struct image im = make_bzimage(&default_opts);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -EINVAL);
	free_vm(vm);
	vm = make_vm(KERNEL_PADDR + INIT_SIZE - 4096, 0);
	assert_int_equal(boot_load_linux_image(vm, "bz", im.p, im.len, NULL, 0, "", &entry), -ENOMEM);
	free_vm(vm);
	free(im.p);
}

/* Every prefix of a good image is refused without a crash; the copy has
 * exactly the prefix's length so ASan catches any over-read. */
static void test_truncated_image(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct image im = make_bzimage(&default_opts);
	size_t payload_end = 2 * 512 + PM_CODE + get32(im.p + 0x24c);
	struct boot_entry entry;
	for (size_t cut = 0; cut < payload_end; cut += (cut < 0x300 ? 1 : 7)) {
		uint8_t *part = malloc(cut ? cut : 1);
		assert_non_null(part);
		memcpy(part, im.p, cut);
		int r = boot_load_linux_image(vm, "bz", part, cut, NULL, 0, "", &entry);
		assert_true(r < 0);
		free(part);
	}
	free(im.p);
	free_vm(vm);
}

static void test_not_a_kernel(void **state)
{
	(void)state;
	struct vm *vm = make_vm(LOW_RAM, 0);
	struct boot_entry entry;
	uint8_t junk[4096];
	memset(junk, 0x61, sizeof(junk));
	assert_int_equal(boot_load_linux_image(vm, "junk", junk, sizeof(junk), NULL, 0, "", &entry), -ENOEXEC);
	assert_int_equal(boot_load_linux_image(vm, "junk", junk, 0, NULL, 0, "", &entry), -ENOEXEC);
	/* "HdrS" without the 0xAA55 boot flag is not a bzImage either. */
	memcpy(junk + 0x202, "HdrS", 4);
	assert_int_equal(boot_load_linux_image(vm, "junk", junk, sizeof(junk), NULL, 0, "", &entry), -ENOEXEC);
	free_vm(vm);
}

/* Guest RAM too small for boot_params and the command line. */
static void test_tiny_ram(void **state)
{
	(void)state;
	struct vm *vm = make_vm(0x8000, 0);
	struct image elf = make_vmlinux();
	struct boot_entry entry;
	assert_int_equal(boot_load_linux_image(vm, "vmlinux", elf.p, elf.len, NULL, 0, "", &entry), -ENOMEM);
	free(elf.p);
	free_vm(vm);
}

/* The file path front end: kernel and initrd read from files. */
static char tmpdir[64];

static void write_file(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int files_setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/vdi-test-linux-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int files_teardown(void **state)
{
	(void)state;
	static const char *const names[] = {"vmlinuz", "initrd.img", "big.img"};
	char path[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

static void test_files(void **state)
{
	(void)state;
	char kpath[128], ipath[128], big[128], missing[128];
	snprintf(kpath, sizeof(kpath), "%s/vmlinuz", tmpdir);
	snprintf(ipath, sizeof(ipath), "%s/initrd.img", tmpdir);
	snprintf(big, sizeof(big), "%s/big.img", tmpdir);
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	struct image im = make_bzimage(&default_opts);
	write_file(kpath, im.p, im.len);
	uint8_t initrd[10000];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5c);
	write_file(ipath, initrd, sizeof(initrd));

	struct vm *vm = make_vm(LOW_RAM, 0);
	struct boot_entry entry;
	assert_int_equal(boot_load_linux(vm, kpath, ipath, "console=ttyS0", &entry), 0);
	assert_int_equal(entry.rip, KERNEL_ENTRY);
	check_kernel_loaded(vm);
	check_initrd(vm, initrd, sizeof(initrd), LOW_RAM);
	assert_string_equal((const char *)vm->mem + VM_BOOT_CMDLINE, "console=ttyS0");
	assert_int_equal(boot_load_linux(vm, kpath, NULL, "", &entry), 0);

	/* A sparse initrd bigger than the room above the kernel. */
	int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 50 << 20), 0);
	close(fd);
	assert_int_equal(boot_load_linux(vm, kpath, big, "", &entry), -ENOMEM);

	/* An empty initrd is no initrd. */
	write_file(big, initrd, 0);
	assert_int_equal(boot_load_linux(vm, kpath, big, "", &entry), 0);
	assert_int_equal(get32(boot_params(vm) + 0x21c), 0);

	assert_int_equal(boot_load_linux(vm, missing, NULL, "", &entry), -ENOENT);
	assert_int_equal(boot_load_linux(vm, kpath, missing, "", &entry), -ENOENT);
	assert_int_equal(boot_load_linux(vm, tmpdir, NULL, "", &entry), -EINVAL); /* a directory */

	/* A truncated kernel file. */
	write_file(kpath, im.p, im.len / 2);
	assert_true(boot_load_linux(vm, kpath, NULL, "", &entry) < 0);
	write_file(kpath, im.p, 0);
	assert_int_equal(boot_load_linux(vm, kpath, NULL, "", &entry), -ENOEXEC);
	free(im.p);
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bzimage_boots),
	    cmocka_unit_test(test_bzimage_setup_sects_zero_means_four),
	    cmocka_unit_test(test_bzimage_short_header_copied_to_its_end),
	    cmocka_unit_test(test_vmlinux_boots),
	    cmocka_unit_test(test_initrd_placed_high_and_aligned),
	    cmocka_unit_test(test_initrd_respects_initrd_addr_max),
	    cmocka_unit_test(test_initrd_does_not_fit),
	    cmocka_unit_test(test_cmdline_limits),
	    cmocka_unit_test(test_old_or_32bit_kernel_refused),
	    cmocka_unit_test(test_bad_payloads),
	    cmocka_unit_test(test_kernel_too_big_for_ram),
	    cmocka_unit_test(test_truncated_image),
	    cmocka_unit_test(test_not_a_kernel),
	    cmocka_unit_test(test_tiny_ram),
	    cmocka_unit_test_setup_teardown(test_files, files_setup, files_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
