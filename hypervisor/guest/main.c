/* main.c — the guest's C entry: the BSP checks the boot info (vdi_boot.h),
 * prints the banner, releases the APs, prepares CPL3 and runs the command
 * line's words, or with none of selftest, test= or idle, the desktop shell
 * in CPL3; APs go to smp.c. */
#include "arch.h"
#include "guest.h"
#include "vdi_boot.h"

#define IDENTITY_MAP_END 0x100000000ull /* the boot page tables map 0..4 GiB */
#define CMDLINE_MAX      65536u         /* far above what vdi-vmm passes */
#define MIB              (1024u * 1024u)

/* Returns NULL if the boot info at `addr` is usable, else why not. */
static const char *boot_info_problem(uint64_t addr)
{
	if (addr == 0 || addr > IDENTITY_MAP_END - sizeof(struct vdi_boot_info))
		return "address outside the identity map";
	const struct vdi_boot_info *info = (const struct vdi_boot_info *)(uintptr_t)addr;
	if (info->magic != VDI_BOOT_MAGIC)
		return "bad magic";
	if (info->version != VDI_BOOT_VERSION)
		return "unsupported version";
	if (info->size != sizeof(struct vdi_boot_info))
		return "size does not match version 1";
	if (info->cpu_count < 1 || info->cpu_count > GUEST_MAX_CPUS)
		return "cpu_count not in 1..64";
	if (info->region_count > VDI_BOOT_MAX_REGIONS)
		return "region_count above VDI_BOOT_MAX_REGIONS";
	if (info->mem_bytes == 0)
		return "mem_bytes is 0";
	if (info->cmdline == 0)
		return info->cmdline_len ? "cmdline_len set without cmdline" : NULL;
	if (info->cmdline_len >= CMDLINE_MAX || info->cmdline >= IDENTITY_MAP_END ||
	    info->cmdline_len >= IDENTITY_MAP_END - info->cmdline)
		return "cmdline outside the identity map";
	const char *cmdline = (const char *)(uintptr_t)info->cmdline;
	for (uint32_t i = 0; i < info->cmdline_len; i++) {
		if (cmdline[i] == '\0')
			return "NUL inside cmdline";
	}
	if (cmdline[info->cmdline_len] != '\0')
		return "cmdline not NUL-terminated";
	return NULL;
}

static _Noreturn void finish(uint32_t code)
{
	guest_log("powering off");
	power_off(code);
}

static bool word_is(const char *word, size_t len, const char *want)
{
	size_t i = 0;
	while (i < len && want[i] && word[i] == want[i])
		i++;
	return i == len && !want[i];
}

static bool word_has_prefix(const char *word, size_t len, const char *prefix, size_t prefix_len)
{
	return len >= prefix_len && !memcmp(word, prefix, prefix_len);
}

/* `idle`: stay up with every vCPU halted instead of powering off, so the
 * host can drive the VM (control socket tests, benchmarks). */
static bool stay_idle;
/* Whether the command line asked for anything (selftest, test=, idle);
 * if not, the guest is the desktop. */
static bool asked_for_work;

/* One command-line word; returns false if it ran a test that failed. Words
 * it does not know are ignored, as Linux does. */
static bool run_word(const char *word, size_t len, bool failed_so_far)
{
	static const char test_prefix[] = "test=";
	const size_t prefix_len = sizeof(test_prefix) - 1;

	if (word_is(word, len, "idle")) {
		stay_idle = true;
		asked_for_work = true;
		return true;
	}
	if (word_is(word, len, "selftest")) {
		asked_for_work = true;
		if (!selftest_run())
			finish(GUEST_EXIT_TEST_FAILED);
		return true;
	}
	if (!word_has_prefix(word, len, test_prefix, prefix_len))
		return true;
	asked_for_work = true;

	const char *name = word + prefix_len;
	size_t name_len = len - prefix_len;
	if (word_is(name, name_len, "poweroff"))
		finish(failed_so_far ? GUEST_EXIT_TEST_FAILED : GUEST_EXIT_OK);
	if (word_is(name, name_len, "triplefault"))
		idt_triple_fault();
	if (word_is(name, name_len, "mmioexec"))
		mmio_exec_test();
	if (word_is(name, name_len, "cpl3"))
		return user_test_cpl3();
	if (word_is(name, name_len, "gpu"))
		return user_test_gpu();
	if (word_is(name, name_len, "input"))
		return user_test_input();
	if (word_is(name, name_len, "hostile"))
		return user_test_hostile();
	const struct guest_test *test = selftest_find(name, name_len);
	if (!test) {
		guest_log("unknown test \"%.*s\" ignored", (int)name_len, name);
		return true;
	}
	return test->run();
}

static bool run_cmdline(const char *cmdline, size_t len)
{
	bool failed = false;
	size_t i = 0;
	while (i < len) {
		while (i < len && (cmdline[i] == ' ' || cmdline[i] == '\t'))
			i++;
		size_t start = i;
		while (i < len && cmdline[i] != ' ' && cmdline[i] != '\t')
			i++;
		if (i > start && !run_word(cmdline + start, i - start, failed))
			failed = true;
	}
	return !failed;
}

_Noreturn void guest_main(uint64_t boot_info_addr, uint64_t cpu)
{
	if (cpu != 0)
		smp_ap_main((uint32_t)cpu);

	idt_init();
	idt_load();
	serial_init();

	const char *problem = boot_info_problem(boot_info_addr);
	if (problem) {
		guest_log("bad boot info at 0x%lx: %s", boot_info_addr, problem);
		power_off(GUEST_EXIT_BAD_BOOT_INFO);
	}
	const struct vdi_boot_info *info = (const struct vdi_boot_info *)(uintptr_t)boot_info_addr;
	const char *cmdline = info->cmdline ? (const char *)(uintptr_t)info->cmdline : "";
	size_t cmdline_len = info->cmdline ? info->cmdline_len : 0;

	guest_log("booting on %u vCPUs, %lu MiB RAM, cmdline \"%.*s\"", info->cpu_count, info->mem_bytes / MIB,
		  (int)cmdline_len, cmdline);
	smp_release_aps(info->cpu_count);
	smp_bsp_up();
	page_alloc_init(info);
	user_init();

	bool ok = run_cmdline(cmdline, cmdline_len);
	if (!asked_for_work)
		user_desktop();
	if (ok && stay_idle) {
		guest_log("idle");
		cpu_halt_forever();
	}
	finish(ok ? GUEST_EXIT_OK : GUEST_EXIT_TEST_FAILED);
}
