/* linux.c — booting a Linux kernel: a bzImage (its payload decompressed on
 * the host and its vmlinux entered at startup_64) or a vmlinux ELF, an
 * optional initrd, and the zero page (struct boot_params) that tells the
 * kernel its memory map and command line. See the kernel's
 * Documentation/arch/x86/boot.rst (64-bit boot protocol) and zero-page.rst. */
#include "boot.h"

#include "../../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The setup header, at offset 0x1f1 of both a bzImage and boot_params. */
struct linux_setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

struct linux_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define LINUX_E820_MAX 128

/* The zero page; only the fields this loader writes are named. */
struct linux_boot_params {
	uint8_t pad0[0x0c0];
	uint32_t ext_ramdisk_image;
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t pad1[0x1e8 - 0x0cc];
	uint8_t e820_entries;
	uint8_t pad2[0x1f1 - 0x1e9];
	struct linux_setup_header hdr;
	uint8_t pad3[0x2d0 - 0x26c];
	struct linux_e820_entry e820_table[LINUX_E820_MAX];
	uint8_t pad4[0x1000 - 0xcd0];
} __attribute__((packed));

/* Room boot_params gives the setup header: up to edd_mbr_sig_buffer. */
#define LINUX_HDR_SPACE_END  0x290
#define LINUX_HDR_OFF(field) (0x1f1 + offsetof(struct linux_setup_header, field))
_Static_assert(sizeof(struct linux_setup_header) == 0x26c - 0x1f1, "setup header ends at 0x26c");
_Static_assert(LINUX_HDR_OFF(boot_flag) == 0x1fe, "boot_flag at 0x1fe");
_Static_assert(LINUX_HDR_OFF(header) == 0x202, "header magic at 0x202");
_Static_assert(LINUX_HDR_OFF(version) == 0x206, "version at 0x206");
_Static_assert(LINUX_HDR_OFF(type_of_loader) == 0x210, "type_of_loader at 0x210");
_Static_assert(LINUX_HDR_OFF(loadflags) == 0x211, "loadflags at 0x211");
_Static_assert(LINUX_HDR_OFF(ramdisk_image) == 0x218, "ramdisk_image at 0x218");
_Static_assert(LINUX_HDR_OFF(heap_end_ptr) == 0x224, "heap_end_ptr at 0x224");
_Static_assert(LINUX_HDR_OFF(cmd_line_ptr) == 0x228, "cmd_line_ptr at 0x228");
_Static_assert(LINUX_HDR_OFF(initrd_addr_max) == 0x22c, "initrd_addr_max at 0x22c");
_Static_assert(LINUX_HDR_OFF(kernel_alignment) == 0x230, "kernel_alignment at 0x230");
_Static_assert(LINUX_HDR_OFF(xloadflags) == 0x236, "xloadflags at 0x236");
_Static_assert(LINUX_HDR_OFF(cmdline_size) == 0x238, "cmdline_size at 0x238");
_Static_assert(LINUX_HDR_OFF(payload_offset) == 0x248, "payload_offset at 0x248");
_Static_assert(LINUX_HDR_OFF(payload_length) == 0x24c, "payload_length at 0x24c");
_Static_assert(LINUX_HDR_OFF(pref_address) == 0x258, "pref_address at 0x258");
_Static_assert(LINUX_HDR_OFF(init_size) == 0x260, "init_size at 0x260");
_Static_assert(offsetof(struct linux_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image at 0x0c0");
_Static_assert(offsetof(struct linux_boot_params, ext_ramdisk_size) == 0x0c4, "ext_ramdisk_size at 0x0c4");
_Static_assert(offsetof(struct linux_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr at 0x0c8");
_Static_assert(offsetof(struct linux_boot_params, e820_entries) == 0x1e8, "e820_entries at 0x1e8");
_Static_assert(offsetof(struct linux_boot_params, hdr) == 0x1f1, "hdr at 0x1f1");
_Static_assert(offsetof(struct linux_boot_params, e820_table) == 0x2d0, "e820_table at 0x2d0");
_Static_assert(sizeof(struct linux_e820_entry) == 20, "e820 entry is 20 bytes");
_Static_assert(sizeof(struct linux_boot_params) == 4096, "boot_params is one page");
_Static_assert(VM_BOOT_CMDLINE + VM_BOOT_CMDLINE_MAX <= 0xFFFFFFFFull, "cmd_line_ptr is 32 bits");

#define LINUX_BOOT_FLAG          0xAA55
#define LINUX_HDRS               0x53726448u /* "HdrS" */
#define LINUX_MIN_VERSION        0x020c      /* 2.12 (Linux 3.8): xloadflags, the 64-bit entry */
#define LINUX_LOADED_HIGH        0x01
#define LINUX_CAN_USE_HEAP       0x80
#define LINUX_XLF_KERNEL_64      0x01
#define LINUX_LOADER_UNDEFINED   0xff
/* heap_end_ptr: the end of a 64 KiB real-mode segment less 0x200, as loaders
 * conventionally set it; only the real-mode setup code, which this loader
 * skips, reads it. */
#define LINUX_HEAP_END           0xfe00
#define LINUX_DEFAULT_INITRD_MAX 0x37FFFFFFu /* the protocol's default before 2.03 */
#define LINUX_DEFAULT_ALIGNMENT  0x1000000u

#define LINUX_MAX_IMAGE   (512ull << 20) /* a kernel file */
#define LINUX_MAX_VMLINUX (256ull << 20) /* a decompressed payload */
#define LINUX_PAGE        4096ull

/* What the kernel needs from the rest of the boot once it is loaded. */
struct linux_kernel {
	uint64_t reserved_end; /* the kernel occupies RAM below this */
	uint64_t initrd_max;   /* last byte an initrd may occupy */
};

static uint64_t linux_low_ram_end(const struct vm *vm)
{
	return vm->low_bytes < VM_LOW_RAM_END ? vm->low_bytes : VM_LOW_RAM_END;
}

static struct linux_boot_params *linux_boot_params(struct vm *vm)
{
	return vm_gpa(vm, VM_BOOT_INFO, sizeof(struct linux_boot_params));
}

static int linux_is_bzimage(const uint8_t *image, size_t len)
{
	if (len < LINUX_HDR_OFF(version) + 2)
		return 0;
	uint16_t flag;
	uint32_t magic;
	memcpy(&flag, image + LINUX_HDR_OFF(boot_flag), sizeof(flag));
	memcpy(&magic, image + LINUX_HDR_OFF(header), sizeof(magic));
	return flag == LINUX_BOOT_FLAG && magic == LINUX_HDRS;
}

/* The bzImage's setup header as boot_params will carry it: its length comes
 * from the jump at 0x200 (0x202 + the byte at 0x201), clamped to the space
 * boot_params gives it. Fields past that length read as zero. */
static int linux_read_setup_header(const char *what, const uint8_t *image, size_t len, struct linux_boot_params *bp)
{
	uint16_t version;
	memcpy(&version, image + LINUX_HDR_OFF(version), sizeof(version));
	if (version < LINUX_MIN_VERSION) {
		log_error("%s: boot protocol %u.%02u is too old; vdi-vmm needs 2.12 or later (Linux 3.8+)", what,
			  version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	size_t end = 0x202 + (size_t)image[0x201];
	if (end < LINUX_HDR_OFF(kernel_info_offset)) {
		log_error("%s: setup header is %zu bytes, too short for boot protocol 2.12", what, end - 0x1f1);
		return -ENOEXEC;
	}
	if (end > len) {
		log_error("%s: setup header runs past the end of the file", what);
		return -ENOEXEC;
	}
	if (end > LINUX_HDR_SPACE_END)
		end = LINUX_HDR_SPACE_END;
	memcpy((uint8_t *)bp + 0x1f1, image + 0x1f1, end - 0x1f1);
	return 0;
}

static int linux_check_cmdline(const char *cmdline, uint32_t kernel_limit)
{
	size_t limit = VM_BOOT_CMDLINE_MAX - 1;
	if (kernel_limit && kernel_limit < limit)
		limit = kernel_limit;
	size_t n = strlen(cmdline);
	if (n > limit) {
		log_error("kernel command line is %zu bytes; at most %zu fit", n, limit);
		return -E2BIG;
	}
	return 0;
}

/* Decompresses the payload of a bzImage into a private buffer and loads the
 * vmlinux ELF it contains at its link (physical) addresses. */
static int linux_load_bzimage_payload(struct vm *vm, const char *what, const uint8_t *image, size_t len,
				      const struct linux_setup_header *hdr, uint64_t *entry, uint64_t *elf_end)
{
	size_t pm_off = ((size_t)(hdr->setup_sects ? hdr->setup_sects : 4) + 1) * 512;
	if (pm_off > len) {
		log_error("%s: truncated: %zu bytes, setup code alone is %zu", what, len, pm_off);
		return -ENOEXEC;
	}
	size_t pm_len = len - pm_off;
	if (hdr->payload_length == 0 || hdr->payload_offset > pm_len ||
	    hdr->payload_length > pm_len - hdr->payload_offset) {
		log_error("%s: payload [0x%" PRIx32 ", +0x%" PRIx32 ") lies outside the %zu-byte kernel", what,
			  hdr->payload_offset, hdr->payload_length, pm_len);
		return -ENOEXEC;
	}
	if (hdr->init_size == 0) {
		log_error("%s: init_size is 0", what);
		return -ENOEXEC;
	}

	/* init_size covers the decompressed image (the build checks it), so it
	 * sizes the buffer; a vmlinux bigger than guest RAM could not run, and
	 * the fixed cap stops a hostile header asking for more still. */
	uint64_t cap = hdr->init_size;
	if (cap > linux_low_ram_end(vm))
		cap = linux_low_ram_end(vm);
	if (cap > LINUX_MAX_VMLINUX)
		cap = LINUX_MAX_VMLINUX;
	uint8_t *vmlinux = malloc(cap);
	if (!vmlinux) {
		log_error("%s: no memory to decompress the kernel (%" PRIu64 " MiB)", what, cap >> 20);
		return -ENOMEM;
	}
	const char *format;
	long n = decompress_payload(image + pm_off + hdr->payload_offset, hdr->payload_length, vmlinux, cap, &format);
	int ret;
	if (n == -ENOTSUP)
		log_error("%s: kernel payload compression %s is not supported (gzip, xz, zstd, lz4 are)", what, format);
	else if (n == -E2BIG)
		log_error("%s: %s payload decompresses to more than %" PRIu64 " bytes (init_size, guest RAM)", what,
			  format, cap);
	else if (n == -ENOMEM)
		log_error("%s: no memory to decompress the %s payload", what, format);
	else if (n < 0)
		log_error("%s: %s payload is corrupt or truncated", what, format);
	if (n < 0) {
		ret = (int)n;
	} else {
		log_debug("%s: %s payload, %zu bytes decompressed to %ld", what, format, (size_t)hdr->payload_length,
			  n);
		/* The vmlinux may be followed by relocation data; elf_load
		 * reads only what the program headers name. */
		ret = elf_load(vm, what, vmlinux, (size_t)n, VM_KERNEL_MIN, entry, elf_end);
	}
	free(vmlinux);
	return ret;
}

/* bzImage: the kernel's own setup header goes into boot_params, amended by
 * what a loader sets. */
static int linux_load_bzimage(struct vm *vm, const char *what, const uint8_t *image, size_t len, const char *cmdline,
			      struct linux_boot_params *bp, uint64_t *entry, struct linux_kernel *k)
{
	int ret = linux_read_setup_header(what, image, len, bp);
	if (ret)
		return ret;
	struct linux_setup_header *hdr = &bp->hdr;
	if (!(hdr->xloadflags & LINUX_XLF_KERNEL_64)) {
		log_error("%s: not a 64-bit kernel (xloadflags has no XLF_KERNEL_64)", what);
		return -ENOEXEC;
	}
	ret = linux_check_cmdline(cmdline, hdr->cmdline_size);
	if (ret)
		return ret;

	uint64_t elf_end;
	ret = linux_load_bzimage_payload(vm, what, image, len, hdr, entry, &elf_end);
	if (ret)
		return ret;

	/* The kernel counts on init_size bytes from its load address. */
	k->reserved_end = elf_end;
	if (hdr->pref_address <= UINT64_MAX - hdr->init_size && hdr->pref_address + hdr->init_size > elf_end)
		k->reserved_end = hdr->pref_address + hdr->init_size;
	k->initrd_max = hdr->initrd_addr_max ? hdr->initrd_addr_max : LINUX_DEFAULT_INITRD_MAX;

	hdr->type_of_loader = LINUX_LOADER_UNDEFINED;
	hdr->loadflags |= LINUX_LOADED_HIGH | LINUX_CAN_USE_HEAP;
	hdr->heap_end_ptr = LINUX_HEAP_END;
	return 0;
}

/* vmlinux: no setup header comes with it, so one is made up with what the
 * kernel reads from it. */
static int linux_load_vmlinux(struct vm *vm, const char *what, const uint8_t *image, size_t len, const char *cmdline,
			      struct linux_boot_params *bp, uint64_t *entry, struct linux_kernel *k)
{
	int ret = linux_check_cmdline(cmdline, 0);
	if (ret)
		return ret;
	uint64_t elf_end;
	ret = elf_load(vm, what, image, len, VM_KERNEL_MIN, entry, &elf_end);
	if (ret)
		return ret;
	k->reserved_end = elf_end;
	k->initrd_max = LINUX_DEFAULT_INITRD_MAX;

	struct linux_setup_header *hdr = &bp->hdr;
	hdr->boot_flag = LINUX_BOOT_FLAG;
	hdr->header = LINUX_HDRS;
	hdr->version = LINUX_MIN_VERSION;
	hdr->type_of_loader = LINUX_LOADER_UNDEFINED;
	hdr->loadflags = LINUX_LOADED_HIGH | LINUX_CAN_USE_HEAP;
	hdr->heap_end_ptr = LINUX_HEAP_END;
	hdr->initrd_addr_max = LINUX_DEFAULT_INITRD_MAX;
	hdr->kernel_alignment = LINUX_DEFAULT_ALIGNMENT;
	hdr->xloadflags = LINUX_XLF_KERNEL_64;
	hdr->cmdline_size = VM_BOOT_CMDLINE_MAX - 1;
	return 0;
}

static void linux_write_e820(struct vm *vm, struct linux_boot_params *bp)
{
	struct mem_region map[VM_MAX_MEM_REGIONS];
	int n = vm_memory_map(vm, map, VM_MAX_MEM_REGIONS);
	for (int i = 0; i < n; i++) {
		bp->e820_table[i] = (struct linux_e820_entry){
		    .addr = map[i].base,
		    .size = map[i].len,
		    .type = map[i].type == MEM_RAM ? 1 : 2,
		};
	}
	bp->e820_entries = (uint8_t)n;
}

/* Loads the kernel and writes boot_params, the command line and the MP
 * table; the initrd comes after, once its size is known. */
static int linux_load_kernel(struct vm *vm, const char *what, const uint8_t *image, size_t len, const char *cmdline,
			     struct boot_entry *entry, struct linux_kernel *k)
{
	_Static_assert(VM_MAX_MEM_REGIONS <= LINUX_E820_MAX, "the memory map fits the e820 table");
	struct linux_boot_params *bp = linux_boot_params(vm);
	char *cmdline_dst = vm_gpa(vm, VM_BOOT_CMDLINE, VM_BOOT_CMDLINE_MAX);
	if (!bp || !cmdline_dst) {
		log_error("%s: guest RAM too small for the boot parameters", what);
		return -ENOMEM;
	}
	if (!cmdline)
		cmdline = "";

	/* Built in a private copy: guest memory gets it only once it is whole. */
	struct linux_boot_params *params = calloc(1, sizeof(*params));
	if (!params)
		return -ENOMEM;
	uint64_t rip;
	int ret;
	if (linux_is_bzimage(image, len)) {
		ret = linux_load_bzimage(vm, what, image, len, cmdline, params, &rip, k);
	} else if (elf_is_elf(image, len)) {
		ret = linux_load_vmlinux(vm, what, image, len, cmdline, params, &rip, k);
	} else {
		log_error("%s: not a Linux kernel (no bzImage header, not an ELF)", what);
		ret = -ENOEXEC;
	}
	if (ret)
		goto out;

	uint64_t ram_end = linux_low_ram_end(vm);
	if (k->reserved_end > ram_end) {
		log_error("%s: the kernel needs RAM up to %" PRIu64 " MiB; the guest has %" PRIu64 " MiB below 4 GiB",
			  what, (k->reserved_end + (1 << 20) - 1) >> 20, ram_end >> 20);
		ret = -ENOMEM;
		goto out;
	}

	params->hdr.cmd_line_ptr = (uint32_t)VM_BOOT_CMDLINE;
	params->ext_cmd_line_ptr = 0;
	linux_write_e820(vm, params);
	memcpy(bp, params, sizeof(*params));
	memset(cmdline_dst, 0, VM_BOOT_CMDLINE_MAX);
	memcpy(cmdline_dst, cmdline, strlen(cmdline));

	ret = mptable_write(vm);
	if (ret)
		goto out;

	*entry = (struct boot_entry){.rip = rip, .rsi = VM_BOOT_INFO, .rdi = 0, .all_vcpus = 0};
out:
	free(params);
	return ret;
}

/* Where the initrd goes: as high as the kernel allows, page-aligned, above
 * the kernel. */
static int linux_place_initrd(struct vm *vm, const char *what, const struct linux_kernel *k, uint64_t size,
			      uint64_t *gpa)
{
	uint64_t limit = linux_low_ram_end(vm);
	if (k->initrd_max < limit)
		limit = k->initrd_max + 1;
	uint64_t floor = (k->reserved_end + LINUX_PAGE - 1) & ~(LINUX_PAGE - 1);
	if (size > limit || ((limit - size) & ~(LINUX_PAGE - 1)) < floor) {
		log_error("%s: initrd of %" PRIu64 " MiB does not fit in %" PRIu64
			  " MiB of guest RAM (above the kernel's %" PRIu64 " MiB, below %" PRIu64 " MiB)",
			  what, (size + (1 << 20) - 1) >> 20, linux_low_ram_end(vm) >> 20, floor >> 20, limit >> 20);
		return -ENOMEM;
	}
	*gpa = (limit - size) & ~(LINUX_PAGE - 1);
	return 0;
}

static void linux_set_initrd(struct vm *vm, uint64_t gpa, uint64_t size)
{
	struct linux_boot_params *bp = linux_boot_params(vm);
	bp->hdr.ramdisk_image = (uint32_t)gpa;
	bp->hdr.ramdisk_size = (uint32_t)size;
	bp->ext_ramdisk_image = (uint32_t)(gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(size >> 32);
}

int boot_load_linux_image(struct vm *vm, const char *what, const uint8_t *image, size_t len, const uint8_t *initrd,
			  size_t initrd_len, const char *cmdline, struct boot_entry *entry)
{
	struct linux_kernel k;
	int ret = linux_load_kernel(vm, what, image, len, cmdline, entry, &k);
	if (ret || !initrd || !initrd_len)
		return ret;
	uint64_t gpa;
	ret = linux_place_initrd(vm, what, &k, initrd_len, &gpa);
	if (ret)
		return ret;
	memcpy(vm_gpa(vm, gpa, initrd_len), initrd, initrd_len);
	linux_set_initrd(vm, gpa, initrd_len);
	return 0;
}

/* Opens a regular file for reading and returns its size. */
static int linux_open(const char *path, const char *what, uint64_t max, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("%s: %s", path, strerror(err));
		return -err;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		log_error("%s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		log_error("%s: %s of %" PRIu64 " MiB is larger than the %" PRIu64 " MiB accepted", path, what,
			  (uint64_t)st.st_size >> 20, max >> 20);
		close(fd);
		return -EFBIG;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Reads exactly `len` bytes; a file that shrank since fstat is an error. */
static int linux_read_all(int fd, const char *path, uint8_t *dst, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, dst + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			log_error("%s: %s", path, strerror(err));
			return -err;
		}
		if (n == 0) {
			log_error("%s: file shrank while being read", path);
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

static int linux_load_initrd_file(struct vm *vm, const char *path, const struct linux_kernel *k)
{
	uint64_t size;
	int fd = linux_open(path, "initrd", linux_low_ram_end(vm), &size);
	if (fd < 0)
		return fd;
	int ret = 0;
	uint64_t gpa;
	if (size) {
		ret = linux_place_initrd(vm, path, k, size, &gpa);
		if (!ret)
			ret = linux_read_all(fd, path, vm_gpa(vm, gpa, size), size);
		if (!ret)
			linux_set_initrd(vm, gpa, size);
	}
	close(fd);
	return ret;
}

int boot_load_linux(struct vm *vm, const char *kernel_path, const char *initrd_path, const char *cmdline,
		    struct boot_entry *entry)
{
	uint64_t size;
	int fd = linux_open(kernel_path, "kernel", LINUX_MAX_IMAGE, &size);
	if (fd < 0)
		return fd;
	uint8_t *image = malloc(size ? size : 1);
	if (!image) {
		close(fd);
		log_error("%s: no memory to read the kernel (%" PRIu64 " MiB)", kernel_path, size >> 20);
		return -ENOMEM;
	}
	int ret = linux_read_all(fd, kernel_path, image, size);
	close(fd);
	struct linux_kernel k;
	if (!ret)
		ret = linux_load_kernel(vm, kernel_path, image, size, cmdline, entry, &k);
	free(image);
	if (!ret && initrd_path)
		ret = linux_load_initrd_file(vm, initrd_path, &k);
	return ret;
}
