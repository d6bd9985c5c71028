/* vcpu.c — one thread per vCPU running the KVM_RUN loop: a short switch over
 * exit reasons that dispatches I/O to the buses and ends the VM with a report
 * when the guest does something the VMM cannot serve. */
#include "vmm.h"

#include "../common/log.h"
#include "boot/boot.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL       SIGUSR1
/* Unserved accesses logged one by one before only the counters go on. */
#define VCPU_UNHANDLED_REPORTS 16

static __thread struct vcpu *vcpu_current;

static void vcpu_kick_handler(int sig)
{
	(void)sig;
	/* A kick that lands outside KVM_RUN must still stop the next entry. */
	if (vcpu_current)
		vcpu_current->run->immediate_exit = 1;
}

int vcpu_init(struct vm *vm, int index)
{
	struct vcpu *v = &vm->vcpus[index];
	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		log_error("KVM_CREATE_VCPU %d: %s", index, strerror(errno));
		return -errno;
	}
	int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EIO;
	}
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		log_error("mmap of vCPU %d run area: %s", index, strerror(errno));
		return -errno;
	}
	return 0;
}

static uint64_t vcpu_rip(struct vcpu *v)
{
	struct kvm_regs regs;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return 0;
	return regs.rip;
}

/* " bytes: f0 48 0f c7 0e ..." for the instruction at RIP, when it is in RAM. */
static void vcpu_describe_code(struct vcpu *v, uint64_t rip, char *out, size_t cap)
{
	struct kvm_translation tr = {.linear_address = rip};
	out[0] = '\0';
	if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return;
	const uint8_t *code = vm_gpa(v->vm, tr.physical_address, 8);
	if (!code)
		return;
	size_t n = (size_t)snprintf(out, cap, ", code");
	for (int i = 0; i < 8 && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, " %02x", code[i]);
}

/* `stepped`: KVM has already moved RIP past the instruction (port writes). */
static void vcpu_report_unhandled(struct vcpu *v, const char *space, bool write, bool stepped, uint64_t addr,
				  uint32_t size, uint64_t value)
{
	struct vm *vm = v->vm;
	unsigned n = atomic_fetch_add(&vm->unhandled_reported, 1);
	if (n >= VCPU_UNHANDLED_REPORTS)
		return;
	if (write)
		log_warn("guest %s write at 0x%" PRIx64 " (%u byte%s, 0x%" PRIx64
			 "): nothing there, dropped (vCPU %d, %sRIP 0x%" PRIx64 ")",
			 space, addr, size, size == 1 ? "" : "s", value, v->index, stepped ? "next " : "", vcpu_rip(v));
	else
		log_warn("guest %s read at 0x%" PRIx64
			 " (%u byte%s): nothing there, reads all-ones (vCPU %d, RIP 0x%" PRIx64 ")",
			 space, addr, size, size == 1 ? "" : "s", v->index, vcpu_rip(v));
	if (n + 1 == VCPU_UNHANDLED_REPORTS)
		log_warn("further unserved guest accesses are only counted (see stats)");
}

static uint64_t vcpu_bytes_value(const uint8_t *data, uint32_t size)
{
	uint64_t v = 0;
	memcpy(&v, data, size > 8 ? 8 : size);
	return v;
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;
	/* KVM guarantees the data area fits the run page; a string op repeats. */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		bool handled;
		if (run->io.direction == KVM_EXIT_IO_OUT)
			handled = bus_write(&v->vm->pio, run->io.port, data, size);
		else
			handled = bus_read(&v->vm->pio, run->io.port, data, size);
		if (!handled) {
			atomic_fetch_add(&v->vm->unhandled_pio, 1);
			bool out = run->io.direction == KVM_EXIT_IO_OUT;
			vcpu_report_unhandled(v, "port", out, out, run->io.port, size, vcpu_bytes_value(data, size));
		}
	}
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;
	bool handled;
	if (run->mmio.is_write)
		handled = bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		handled = bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	if (!handled) {
		atomic_fetch_add(&v->vm->unhandled_mmio, 1);
		vcpu_report_unhandled(v, "MMIO", run->mmio.is_write, false, run->mmio.phys_addr, len,
				      vcpu_bytes_value(run->mmio.data, len));
	}
}

static void vcpu_crash(struct vcpu *v, const char *what)
{
	char code[64];
	uint64_t rip = vcpu_rip(v);
	vcpu_describe_code(v, rip, code, sizeof(code));
	vm_stop(v->vm, VM_STOP_CRASH, 0, "%s on vCPU %d at RIP 0x%" PRIx64 "%s", what, v->index, rip, code);
}

static void vcpu_handle_internal_error(struct vcpu *v)
{
	char what[96];
	uint32_t sub = v->run->internal.suberror;
	const char *name = sub == KVM_INTERNAL_ERROR_EMULATION                ? "emulation failure"
			   : sub == KVM_INTERNAL_ERROR_SIMUL_EX               ? "exception during exception delivery"
			   : sub == KVM_INTERNAL_ERROR_DELIVERY_EV            ? "event delivery failed"
			   : sub == KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON ? "unexpected exit reason"
									      : "unknown";
	snprintf(what, sizeof(what), "KVM internal error %u (%s)", sub, name);
	vcpu_crash(v, what);
}

static void vcpu_handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_stop(v->vm, VM_STOP_POWEROFF, 0, "guest powered off (system event)");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_stop(v->vm, VM_STOP_RESET, 0, "guest requested a reset (system event)");
		break;
	default:
		vcpu_crash(v, "guest crash (system event)");
		break;
	}
}

/* Waits while the VM is paused; returns false once it has stopped. */
static bool vcpu_wait_runnable(struct vcpu *v)
{
	struct vm *vm = v->vm;
	if (!vm->paused || vm_stopped(vm))
		return !vm_stopped(vm);
	/* A port or MMIO read just served completes only on the next entry.
	 * Entering with immediate_exit makes KVM finish it and return at once,
	 * so a parked vCPU's state is whole (what a snapshot saves). */
	for (int tries = 0; tries < 8; tries++) {
		v->run->immediate_exit = 1;
		int r = ioctl(v->fd, KVM_RUN, 0);
		v->run->immediate_exit = 0;
		/* An access split in pieces asks for the next piece. */
		if (r == 0 && v->run->exit_reason == KVM_EXIT_MMIO)
			vcpu_handle_mmio(v);
		else if (r == 0 && v->run->exit_reason == KVM_EXIT_IO)
			vcpu_handle_io(v);
		else
			break;
	}
	pthread_mutex_lock(&vm->lock);
	v->parked = true;
	pthread_cond_broadcast(&vm->cond);
	while (vm->paused && !vm_stopped(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	v->parked = false;
	pthread_mutex_unlock(&vm->lock);
	return !vm_stopped(vm);
}

static void vcpu_count(struct vm *vm, enum vmm_exit_kind kind)
{
	atomic_fetch_add(&vm->exits[kind], 1);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%d", v->index);
	pthread_setname_np(pthread_self(), name);
	vcpu_current = v;
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	while (vcpu_wait_runnable(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				atomic_thread_fence(memory_order_seq_cst);
				vcpu_count(vm, VMM_EXIT_INTR);
				continue;
			}
			vm_stop(vm, VM_STOP_ERROR, 0, "KVM_RUN on vCPU %d failed: %s", v->index, strerror(errno));
			break;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_count(vm, VMM_EXIT_IO);
			vcpu_handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			vcpu_count(vm, VMM_EXIT_MMIO);
			vcpu_handle_mmio(v);
			break;
		case KVM_EXIT_HLT:
			vcpu_count(vm, VMM_EXIT_HLT);
			break;
		case KVM_EXIT_INTR:
			vcpu_count(vm, VMM_EXIT_INTR);
			break;
		case KVM_EXIT_SHUTDOWN:
			vcpu_count(vm, VMM_EXIT_SHUTDOWN);
			vcpu_crash(v, "guest triple fault (KVM_EXIT_SHUTDOWN)");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			vcpu_count(vm, VMM_EXIT_INTERNAL);
			vcpu_handle_internal_error(v);
			break;
		case KVM_EXIT_FAIL_ENTRY: {
			vcpu_count(vm, VMM_EXIT_FAIL_ENTRY);
			char what[80];
			snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
				 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			vcpu_crash(v, what);
			break;
		}
		case KVM_EXIT_SYSTEM_EVENT:
			vcpu_count(vm, VMM_EXIT_SYSTEM_EVENT);
			vcpu_handle_system_event(v);
			break;
		default: {
			vcpu_count(vm, VMM_EXIT_OTHER);
			char what[64];
			snprintf(what, sizeof(what), "unexpected KVM exit %u", v->run->exit_reason);
			vcpu_crash(v, what);
			break;
		}
		}
	}
	return NULL;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa = {.sa_handler = vcpu_kick_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	/* vCPU threads unblock the kick signal themselves; everything else stays
	 * blocked in them so process signals reach the main thread only. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = 0;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (err) {
			log_error("cannot start vCPU %d thread: %s", i, strerror(err));
			r = -err;
			break;
		}
		v->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		vm_stop(vm, VM_STOP_ERROR, 0, "could not start every vCPU");
	return r;
}

void vcpus_kick(struct vm *vm)
{
	atomic_thread_fence(memory_order_seq_cst);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->thread_started || !v->run)
			continue;
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
}

void vcpus_join(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
}
