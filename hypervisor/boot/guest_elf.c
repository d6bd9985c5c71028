/* guest_elf.c — loads the in-tree guest and writes its boot info block
 * (the contract in guest/vdi_boot.h). */
#include "boot.h"

#include "../../common/log.h"
#include "../guest/vdi_boot.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct vdi_boot_info) <= 4096, "boot info fits its page");

int boot_load_vdi_guest(struct vm *vm, const uint8_t *image, size_t len, const char *cmdline, struct boot_entry *entry)
{
	size_t cmdline_len = strlen(cmdline);
	if (cmdline_len + 1 > VM_BOOT_CMDLINE_MAX) {
		log_error("--cmdline is %zu bytes; at most %u fit", cmdline_len, VM_BOOT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	uint64_t entry_point, end;
	int r = elf_load(vm, "in-tree guest", image, len, VM_KERNEL_MIN, &entry_point, &end);
	if (r < 0)
		return r;

	struct vdi_boot_info *info = vm_gpa(vm, VM_BOOT_INFO, sizeof(*info));
	char *cmd = vm_gpa(vm, VM_BOOT_CMDLINE, cmdline_len + 1);
	if (!info || !cmd)
		return -ENOMEM;
	memcpy(cmd, cmdline, cmdline_len + 1);

	struct mem_region map[VM_MAX_MEM_REGIONS];
	int n = vm_memory_map(vm, map, VM_MAX_MEM_REGIONS);
	memset(info, 0, sizeof(*info));
	info->magic = VDI_BOOT_MAGIC;
	info->version = VDI_BOOT_VERSION;
	info->size = sizeof(*info);
	info->cpu_count = (uint32_t)vm->ncpus;
	info->cmdline = VM_BOOT_CMDLINE;
	info->cmdline_len = (uint32_t)cmdline_len;
	info->mem_bytes = vm->mem_bytes;
	for (int i = 0; i < n && i < VDI_BOOT_MAX_REGIONS; i++) {
		info->regions[i].base = map[i].base;
		info->regions[i].length = map[i].len;
		info->regions[i].type = map[i].type == MEM_RAM ? VDI_MEM_RAM : VDI_MEM_RESERVED;
		info->region_count++;
	}
	*entry = (struct boot_entry){.rip = entry_point, .rdi = VM_BOOT_INFO, .all_vcpus = 1};
	return 0;
}
