/* power.c — leaving the VM through vdi-vmm's power-off port. */
#include "arch.h"
#include "guest.h"

#define POWEROFF_PORT 0x510

/* 0 powers off; any other value powers off reporting that failure code.
 * Taking the serial lock first (never to release it) lets a line another
 * vCPU is printing finish, and keeps any from starting, so the output ends
 * with whole lines. */
_Noreturn void power_off(uint32_t code)
{
	serial_lock();
	outl(POWEROFF_PORT, code);
	cpu_halt_forever();
}
