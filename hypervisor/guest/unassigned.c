/* unassigned.c — test=pio and test=mmio: accesses to a port and to an
 * address where vdi-vmm has no device must read as all ones and swallow
 * writes, the way a real bus floats. */
#include "arch.h"
#include "guest.h"

#define UNASSIGNED_PORT 0x9f0
#define UNASSIGNED_MMIO 0xd0000000u /* in the 32-bit PCI hole, no BAR there */

bool pio_unassigned_test(void)
{
	uint32_t v8 = inb(UNASSIGNED_PORT);
	uint32_t v16 = inw(UNASSIGNED_PORT);
	uint32_t v32 = inl(UNASSIGNED_PORT);
	outb(UNASSIGNED_PORT, 0x5a);
	outw(UNASSIGNED_PORT, 0x5a5a);
	outl(UNASSIGNED_PORT, 0x5a5a5a5a);
	uint32_t after = inb(UNASSIGNED_PORT);

	if (v8 != 0xff) {
		guest_log("pio FAILED read 0x%x from port 0x%x (8-bit), expected 0xff", v8, UNASSIGNED_PORT);
		return false;
	}
	if (v16 != 0xffff) {
		guest_log("pio FAILED read 0x%x from port 0x%x (16-bit), expected 0xffff", v16, UNASSIGNED_PORT);
		return false;
	}
	if (v32 != 0xffffffffu) {
		guest_log("pio FAILED read 0x%x from port 0x%x (32-bit), expected 0xffffffff", v32, UNASSIGNED_PORT);
		return false;
	}
	if (after != 0xff) {
		guest_log("pio FAILED read 0x%x from port 0x%x (8-bit) after writes, expected 0xff", after,
			  UNASSIGNED_PORT);
		return false;
	}
	guest_log("pio unassigned ok");
	return true;
}

bool mmio_unassigned_test(void)
{
	uint32_t v32 = mmio_read32(UNASSIGNED_MMIO);
	uint32_t v16 = mmio_read16(UNASSIGNED_MMIO);
	uint32_t v8 = mmio_read8(UNASSIGNED_MMIO);
	mmio_write32(UNASSIGNED_MMIO, 0x5a5a5a5a);
	uint32_t after = mmio_read32(UNASSIGNED_MMIO);

	if (v32 != 0xffffffffu || v16 != 0xffff || v8 != 0xff || after != 0xffffffffu) {
		guest_log(
		    "mmio FAILED read 0x%x (32-bit) 0x%x (16-bit) 0x%x (8-bit) 0x%x (32-bit after write) at 0x%x, "
		    "expected all ones",
		    v32, v16, v8, after, UNASSIGNED_MMIO);
		return false;
	}
	guest_log("mmio unassigned ok");
	return true;
}

/* test=mmioexec: jump to where nothing is. There is no instruction to fetch,
 * so the vCPU cannot go on: vdi-vmm must end the VM with a report instead of
 * hanging or crashing. The serial lock is held so the output ends whole. */
_Noreturn void mmio_exec_test(void)
{
	guest_log("executing from unassigned memory now");
	serial_lock();
	void (*nowhere)(void) = (void (*)(void))(uintptr_t)UNASSIGNED_MMIO;
	nowhere();
	serial_unlock();
	guest_log("mmioexec FAILED: came back from unassigned memory");
	power_off(GUEST_EXIT_TEST_FAILED);
}
