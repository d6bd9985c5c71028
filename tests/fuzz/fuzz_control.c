/* fuzz_control.c — arbitrary bytes as control socket requests. */
#include "../../hypervisor/control.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

static struct vm *fuzz_vm(void)
{
	static struct vm vm;
	if (!vm.mem) {
		vm.mem_bytes = vm.low_bytes = 1u << 20;
		vm.mem = mmap(NULL, vm.mem_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		vm.ncpus = 1;
		pthread_mutex_init(&vm.lock, NULL);
		pthread_cond_init(&vm.cond, NULL);
		vm.stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	/* Each input starts from a running VM. */
	atomic_store(&vm.stop_reason, VM_RUNNING);
	vm.paused = false;
	return &vm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[VMM_MSG_MAX];
	struct vm *vm = fuzz_vm();
	size_t n = control_handle_request(vm, NULL, data, size, reply, sizeof(reply));
	struct vmm_msg h;
	if (n < sizeof(h) || n > sizeof(reply))
		abort();
	memcpy(&h, reply, sizeof(h));
	if (h.type != VMM_REPLY || h.length != n - sizeof(h))
		abort();
	return 0;
}
