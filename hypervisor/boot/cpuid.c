/* cpuid.c — the CPUID table the vCPUs see: KVM's supported set, topology for
 * the configured vCPU count, and features the host cannot run hidden. */
#include "boot.h"

#include "../../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define CPUID_1_ECX_CX16 (1u << 13)
#define CPUID_1_EDX_HTT  (1u << 28)
#define CPUID_PROBE_PORT 0x10
#define CPUID_PROBE_DATA 0x2000 /* zeroed, 16-byte aligned scratch data */

static struct kvm_cpuid2 *cpuid_supported(int kvm_fd)
{
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int err = errno;
		free(c);
		if (err != E2BIG) {
			log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
			return NULL;
		}
	}
	return NULL;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == function && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

/* An instruction some hosts advertise but cannot run in guest kernel mode
 * (nested hosts that emulate CPL0 code), and the CPUID bit that offers it. */
struct cpuid_probe {
	const char *name;
	uint8_t code[16]; /* runs at 0x1000; data at CPUID_PROBE_DATA */
	uint8_t len;
	uint32_t leaf1_ecx_bit;
};

static const struct cpuid_probe cpuid_probes[] = {
    {"CMPXCHG16B",
     {0xf0, 0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00}, /* lock cmpxchg16b [0x2000] */
     10,
     CPUID_1_ECX_CX16},
};

/* Runs a probe in guest kernel mode in a throwaway VM. Returns 1 when the
 * host runs it, 0 when it cannot, -errno when the probe itself could not be
 * set up (then nothing is hidden). */
static int cpuid_run_probe(int kvm_fd, struct kvm_cpuid2 *cpuid, const struct cpuid_probe *probe)
{
	const uint64_t mem_bytes = 2ull << 20;
	int result = -EIO, vm_fd = -1, vcpu_fd = -1;
	struct kvm_run *run = MAP_FAILED;
	size_t run_size = 0;
	uint8_t *mem = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	struct vm scratch = {.mem = mem, .mem_bytes = mem_bytes, .low_bytes = mem_bytes};
	if (boot_write_long_mode_tables(&scratch) < 0)
		goto out;
	/* Reaching the port write means the instruction ran. */
	static const uint8_t tail[] = {0xe6, CPUID_PROBE_PORT, 0xf4}; /* out 0x10, al; hlt */
	memcpy(mem + 0x1000, probe->code, probe->len);
	memcpy(mem + 0x1000 + probe->len, tail, sizeof(tail));

	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0)
		goto out;
	struct kvm_userspace_memory_region region = {
	    .slot = 0, .memory_size = mem_bytes, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
	    ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_KVM_TSS) < 0)
		goto out;
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0UL);
	if (vcpu_fd < 0)
		goto out;
	int size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		goto out;
	run_size = (size_t)size;
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED || ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 || boot_enter_long_mode(vcpu_fd) < 0)
		goto out;
	struct kvm_regs regs = {.rflags = 2, .rip = 0x1000, .rsp = 0x8000};
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		goto out;
	if (ioctl(vcpu_fd, KVM_RUN, 0) < 0)
		goto out;
	result = run->exit_reason == KVM_EXIT_IO && run->io.port == CPUID_PROBE_PORT;
out:
	if (run != MAP_FAILED)
		munmap(run, run_size);
	if (vcpu_fd >= 0)
		close(vcpu_fd);
	if (vm_fd >= 0)
		close(vm_fd);
	munmap(mem, mem_bytes);
	return result;
}

int cpuid_init(struct vm *vm, int probe_host)
{
	struct kvm_cpuid2 *c = cpuid_supported(vm->kvm_fd);
	if (!c)
		return -EIO;
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(c, 1, 0);
	for (size_t i = 0; leaf1 && probe_host && i < sizeof(cpuid_probes) / sizeof(cpuid_probes[0]); i++) {
		const struct cpuid_probe *p = &cpuid_probes[i];
		if ((leaf1->ecx & p->leaf1_ecx_bit) && cpuid_run_probe(vm->kvm_fd, c, p) == 0) {
			leaf1->ecx &= ~p->leaf1_ecx_bit;
			log_debug("this host cannot run %s in guest kernel mode: hidden from the guest", p->name);
		}
	}
	vm->cpuid = c;
	vm->cpuid_probed = probe_host;
	return 0;
}

int cpuid_set_vcpu(struct vcpu *vcpu)
{
	struct kvm_cpuid2 *t = vcpu->vm->cpuid;
	size_t bytes = sizeof(*t) + t->nent * sizeof(t->entries[0]);
	struct kvm_cpuid2 *c = malloc(bytes);
	if (!c)
		return -ENOMEM;
	memcpy(c, t, bytes);
	uint32_t apic_id = (uint32_t)vcpu->index;
	uint32_t ncpus = (uint32_t)vcpu->vm->ncpus;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			/* Initial APIC ID and logical processor count of the package. */
			e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xff) << 16);
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: one package of ncpus single-thread cores. */
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				uint32_t shift = 0;
				while ((1u << shift) < ncpus)
					shift++;
				e->eax = shift;
				e->ebx = ncpus;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		default:
			break;
		}
	}
	int r = ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return r;
}
