/* vm.c — a KVM virtual machine: guest RAM (one memfd), in-kernel irqchip and
 * PIT, vCPU file descriptors, run state (stop, pause) and memory statistics. */
#include "vmm.h"

#include "../common/log.h"
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa < vm->low_bytes) {
		if (len > vm->low_bytes - gpa)
			return NULL;
		return vm->mem + gpa;
	}
	if (gpa >= VM_HIGH_RAM_START && gpa - VM_HIGH_RAM_START < vm->high_bytes) {
		uint64_t off = gpa - VM_HIGH_RAM_START;
		if (len > vm->high_bytes - off)
			return NULL;
		return vm->mem + vm->low_bytes + off;
	}
	return NULL;
}

int vm_memory_map(const struct vm *vm, struct mem_region *out, int max)
{
	/* Low RAM is split around the EBDA and BIOS area the way PC firmware
	 * leaves it, so a Linux guest finds its MP table where it looks. */
	struct mem_region r[VM_MAX_MEM_REGIONS];
	int n = 0;
	r[n++] = (struct mem_region){0, VM_EBDA_START, MEM_RAM};
	r[n++] = (struct mem_region){VM_EBDA_START, 0xA0000 - VM_EBDA_START, MEM_RESERVED};
	r[n++] = (struct mem_region){VM_BIOS_START, VM_KERNEL_MIN - VM_BIOS_START, MEM_RESERVED};
	if (vm->low_bytes > VM_KERNEL_MIN)
		r[n++] = (struct mem_region){VM_KERNEL_MIN, vm->low_bytes - VM_KERNEL_MIN, MEM_RAM};
	if (vm->high_bytes)
		r[n++] = (struct mem_region){VM_HIGH_RAM_START, vm->high_bytes, MEM_RAM};
	if (n > max)
		n = max;
	memcpy(out, r, (size_t)n * sizeof(r[0]));
	return n;
}

/* Total RAM + swap: the most guest RAM this host could ever back. */
static uint64_t vm_host_memory_bytes(uint64_t *ram, uint64_t *swap)
{
	FILE *f = fopen("/proc/meminfo", "re");
	*ram = *swap = 0;
	if (!f)
		return 0;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kib;
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			*ram = (uint64_t)kib * 1024;
		else if (sscanf(line, "SwapTotal: %llu kB", &kib) == 1)
			*swap = (uint64_t)kib * 1024;
	}
	fclose(f);
	return *ram + *swap;
}

static int vm_open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == ENOENT || err == ENXIO || err == ENODEV)
			log_error("/dev/kvm not found: enable virtualization (Intel VT-x or AMD-V) in the firmware "
				  "setup and load the kvm_intel or kvm_amd module (modprobe kvm_intel)");
		else if (err == EACCES || err == EPERM)
			log_error("no permission to open /dev/kvm: add this user to the 'kvm' group "
				  "(usermod -aG kvm $USER, then log in again) or run as root");
		else
			log_error("cannot open /dev/kvm: %s", strerror(err));
		return -err;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("/dev/kvm speaks KVM API %d, vdi-vmm needs %d", version, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	static const struct {
		int cap;
		const char *name;
	} needed[] = {
	    {KVM_CAP_IRQCHIP, "in-kernel irqchip"}, {KVM_CAP_PIT2, "in-kernel PIT"},
	    {KVM_CAP_USER_MEMORY, "user memory"},   {KVM_CAP_IMMEDIATE_EXIT, "immediate exit"},
	    {KVM_CAP_SET_TSS_ADDR, "TSS address"},  {KVM_CAP_EXT_CPUID, "CPUID filtering"},
	    {KVM_CAP_MP_STATE, "vCPU MP state"},
	};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			log_error("this host's KVM lacks %s support, which vdi-vmm needs", needed[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	return fd;
}

/* Copies the data ranges of a sparse memory file into guest RAM: holes
 * stay holes of the memfd, so a restored guest costs what it used. */
static int vm_load_memory(struct vm *vm, int fd, const char *path)
{
	off_t end = (off_t)vm->mem_bytes;
	for (off_t at = 0; at < end;) {
		off_t data = lseek(fd, at, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		off_t hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {
			log_error("%s: %s", path, strerror(errno));
			return -errno;
		}
		if (hole > end)
			hole = end;
		while (data < hole) {
			ssize_t n = pread(fd, vm->mem + data, (size_t)(hole - data), data);
			if (n <= 0) {
				log_error("%s: %s", path, n < 0 ? strerror(errno) : "shorter than its size");
				return n < 0 ? -errno : -EIO;
			}
			data += n;
		}
		at = hole;
	}
	return 0;
}

/* Opens a snapshot's memory file, which must be exactly `bytes` long. */
static int vm_open_memory_file(const char *path, uint64_t bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = errno;
		log_error("%s: %s", path, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	if ((uint64_t)st.st_size != bytes) {
		log_error("%s: %lld bytes, the snapshot's RAM is %" PRIu64 " bytes", path, (long long)st.st_size,
			  bytes);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int vm_create_memory(struct vm *vm, const struct vm_config *cfg)
{
	uint64_t bytes = cfg->mem_bytes;
	uint64_t ram, swap;
	uint64_t host = vm_host_memory_bytes(&ram, &swap);
	if (host && bytes > host) {
		log_error("--mem %" PRIu64 " MiB is more than this host can give (%" PRIu64 " MiB RAM, %" PRIu64
			  " MiB swap)",
			  bytes >> 20, ram >> 20, swap >> 20);
		return -ENOMEM;
	}
	int file_fd = -1;
	if (cfg->mem_file && (file_fd = vm_open_memory_file(cfg->mem_file, bytes)) < 0)
		return file_fd;
	void *mem;
	if (file_fd >= 0 && cfg->mem_private) {
		/* Writable but private: the guest's writes become this
		 * process's pages; the file and other clones never see them. */
		vm->mem_fd = file_fd;
		vm->mem_private = true;
		file_fd = -1;
		mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, vm->mem_fd, 0);
	} else {
		vm->mem_fd = memfd_create("vdi-guest-ram", MFD_CLOEXEC);
		if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)bytes) < 0) {
			int err = errno;
			log_error("cannot make %" PRIu64 " MiB of guest RAM: %s", bytes >> 20, strerror(err));
			if (file_fd >= 0)
				close(file_fd);
			return -err;
		}
		mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	}
	if (mem == MAP_FAILED) {
		int err = errno;
		log_error("cannot map %" PRIu64 " MiB of guest RAM: %s", bytes >> 20, strerror(err));
		if (file_fd >= 0)
			close(file_fd);
		return -err;
	}
	vm->mem = mem;
	vm->mem_bytes = bytes;
	if (file_fd >= 0) {
		int r = vm_load_memory(vm, file_fd, cfg->mem_file);
		close(file_fd);
		if (r < 0)
			return r;
	}
	vm->low_bytes = bytes < VM_LOW_RAM_END ? bytes : VM_LOW_RAM_END;
	vm->high_bytes = bytes - vm->low_bytes;

	struct kvm_userspace_memory_region low = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = vm->low_bytes,
	    .userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0) {
		int err = errno;
		log_error("KVM_SET_USER_MEMORY_REGION (%" PRIu64 " MiB): %s", vm->low_bytes >> 20, strerror(err));
		return -err;
	}
	if (vm->high_bytes) {
		struct kvm_userspace_memory_region high = {
		    .slot = 1,
		    .guest_phys_addr = VM_HIGH_RAM_START,
		    .memory_size = vm->high_bytes,
		    .userspace_addr = (uintptr_t)(vm->mem + vm->low_bytes),
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0) {
			int err = errno;
			log_error("KVM_SET_USER_MEMORY_REGION (high %" PRIu64 " MiB): %s", vm->high_bytes >> 20,
				  strerror(err));
			return -err;
		}
	}
	return 0;
}

static int vm_create_irqchip(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_KVM_TSS) < 0) {
		log_error("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	uint64_t identity = VM_KVM_IDENTITY_MAP;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 && errno != EINVAL) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	/* The dummy speaker makes KVM answer port 0x61 too (PIT gate, refresh bit). */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int vm_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

int vm_msi_signal(void *opaque, uint64_t address, uint32_t data)
{
	struct vm *vm = opaque;
	struct kvm_msi msi = {.address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32), .data = data};
	/* KVM returns 0 when the interrupt was blocked (e.g. no LAPIC accepts it). */
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

static void *vm_gpa_callback(void *opaque, uint64_t gpa, uint64_t len)
{
	return vm_gpa(opaque, gpa, len);
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->stop_eventfd = -1;
	for (int i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpus[i].fd = -1;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->irq = (struct irq_line){vm_irq_set, vm};
	vm->msi = (struct msi_line){vm_msi_signal, vm};
	vm->memory = (struct guest_memory){vm_gpa_callback, vm};

	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS) {
		log_error("--cpus %d: must be 1 to %d", cfg->cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	/* Below 2 MiB there would be no room for the boot structures and a kernel. */
	if (cfg->mem_bytes < (2ull << 20)) {
		log_error("--mem must be at least 2 MiB");
		return -EINVAL;
	}
	int r = vm_open_kvm();
	if (r < 0)
		return r;
	vm->kvm_fd = r;
	int max_cpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_cpus > 0 && cfg->cpus > max_cpus) {
		log_error("--cpus %d: this host's KVM allows at most %d vCPUs", cfg->cpus, max_cpus);
		return -EINVAL;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0)
		return -errno;
	if ((r = vm_create_memory(vm, cfg)) < 0)
		return r;
	if ((r = vm_create_irqchip(vm)) < 0)
		return r;
	vm->ncpus = cfg->cpus;
	for (int i = 0; i < vm->ncpus; i++) {
		if ((r = vcpu_init(vm, i)) < 0)
			return r;
	}
	return 0;
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->run)
			munmap(v->run, v->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	if (vm->mem)
		munmap(vm->mem, vm->mem_bytes);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	free(vm->cpuid);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}

void vm_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	pthread_mutex_lock(&vm->lock);
	if (atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason)) {
		vm->stop_code = code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vcpus_kick(vm);
	uint64_t one = 1;
	if (write(vm->stop_eventfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow from a handful of writes; nothing to do. */
	}
}

bool vm_stopped(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_RUNNING;
}

int vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->paused = true;
	pthread_mutex_unlock(&vm->lock);
	vcpus_kick(vm);
	pthread_mutex_lock(&vm->lock);
	for (;;) {
		int parked = 0;
		for (int i = 0; i < vm->ncpus; i++)
			parked += vm->vcpus[i].parked || !vm->vcpus[i].thread_started;
		if (parked == vm->ncpus || vm_stopped(vm))
			break;
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	int r = vm_stopped(vm) ? -ESHUTDOWN : 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->paused = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return vm_stopped(vm) ? -ESHUTDOWN : 0;
}

uint64_t vm_guest_ram_touched(const struct vm *vm)
{
	/* The guest pages in this process's page tables (pagemap's "present"
	 * bit): what the guest or a loader touched, and for an instant clone,
	 * whose memory maps its template's file privately, only the pages it
	 * touched itself, not the whole file's page cache (mincore's view). */
	long page = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t first = (uint64_t)(uintptr_t)vm->mem / (uint64_t)page;
	uint64_t pages = (vm->mem_bytes + (uint64_t)page - 1) / (uint64_t)page;
	uint64_t touched = 0, entries[4096];
	for (uint64_t done = 0; done < pages;) {
		uint64_t n = pages - done < 4096 ? pages - done : 4096;
		ssize_t got = pread(fd, entries, n * sizeof(entries[0]), (off_t)((first + done) * sizeof(entries[0])));
		if (got <= 0)
			break;
		n = (uint64_t)got / sizeof(entries[0]);
		for (uint64_t i = 0; i < n; i++)
			touched += entries[i] >> 63;
		done += n;
	}
	close(fd);
	return touched * (uint64_t)page;
}

uint64_t vm_process_rss(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		return 0;
	unsigned long long size = 0, resident = 0;
	int n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
