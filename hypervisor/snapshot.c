/* snapshot.c — saving a VM to DIR/memory and DIR/state and starting it
 * again from them: guest RAM (sparse), every vCPU's registers, FPU/XSAVE,
 * MSRs, LAPIC and events, the in-kernel irqchip, PIT and clock, and each
 * device's own section. Nothing of a snapshot is used before all of it has
 * been read and verified. */
#include "snapshot.h"

#include "../common/log.h"
#include "boot/boot.h"
#include "devices/devices.h"
#include "snapshot_vm.h"
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SNAP_PAGE             4096u
#define SNAP_MSR_TSC_DEADLINE 0x6e0u
/* How much of a clone's page map is read at once. */
#define SNAP_PAGEMAP_BATCH    4096u
#define PAGEMAP_PRESENT       (1ull << 63)
#define PAGEMAP_SWAPPED       (1ull << 62)

/* --- Identity: which vdi-vmm, which CPU features --- */

static int snapshot_note_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct {
		uint8_t *out;
		uint32_t *len;
	} *want = arg;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0; /* only the executable itself */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		size_t left = ph->p_memsz;
		while (left >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			size_t name = (n->n_namesz + 3u) & ~3u, desc = (n->n_descsz + 3u) & ~3u;
			size_t total = sizeof(*n) + name + desc;
			if (total > left)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(p + sizeof(*n), "GNU", 4) &&
			    n->n_descsz <= SNAP_BUILD_ID_MAX) {
				memcpy(want->out, p + sizeof(*n) + name, n->n_descsz);
				*want->len = n->n_descsz;
				return 1;
			}
			p += total;
			left -= total;
		}
	}
	return 0;
}

/* The executable's GNU build id; without one, a CRC of the executable. */
void snapshot_build_id(uint8_t out[SNAP_BUILD_ID_MAX], uint32_t *len)
{
	struct {
		uint8_t *out;
		uint32_t *len;
	} want = {out, len};
	*len = 0;
	if (dl_iterate_phdr(snapshot_note_cb, &want) == 1)
		return;
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t size = 0;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	uint8_t buf[65536];
	ssize_t n;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		crc = crc32(crc, buf, (uInt)n);
		size += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	uint32_t c = (uint32_t)crc;
	memcpy(out, &c, 4);
	memcpy(out + 4, &size, 8);
	*len = 12;
}

uint64_t snapshot_cpu_fingerprint(const struct kvm_cpuid2 *cpuid)
{
	/* FNV-1a over the CPUID leaves the guest is given, less what differs
	 * per vCPU. */
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t words[7];
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		words[0] = e->function, words[1] = e->index, words[2] = e->flags;
		words[3] = e->eax, words[4] = e->ebx, words[5] = e->ecx, words[6] = e->edx;
		/* KVM reports the APIC ID of the host CPU that asked; these are
		 * the fields cpuid_set_vcpu() sets per vCPU anyway. */
		if (e->function == 1)
			words[4] &= 0xffffu;
		else if (e->function == 0xb || e->function == 0x1f)
			words[3] = words[4] = words[5] = words[6] = 0;
		const uint8_t *b = (const uint8_t *)words;
		for (size_t k = 0; k < sizeof(words); k++) {
			h ^= b[k];
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

/* --- vCPUs --- */

static void snap_put_blob(struct snap_buf *out, const void *p, uint32_t n)
{
	snap_put_u32(out, n);
	snap_put_bytes(out, p, n);
}

/* A record of exactly n bytes, or -EINVAL. */
static int snap_get_blob(struct snap_cursor *in, void *p, uint32_t n)
{
	if (snap_get_u32(in) != n)
		in->failed = true;
	snap_get_bytes(in, p, n);
	return in->failed ? -EINVAL : 0;
}

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS: 1 when KVM took it. */
static int snapshot_msr_one(int vcpu_fd, unsigned long request, uint32_t index, uint64_t *data)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = *data;
	int r = ioctl(vcpu_fd, request, m);
	*data = m->entries[0].data;
	free(m);
	return r;
}

/* The MSRs this host saves: KVM's index list, less those KVM_GET_MSRS
 * refuses for this vCPU model. Learned once per process. */
static pthread_mutex_t snap_msr_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *snap_msr_list;
static uint32_t snap_msr_count;

static int snapshot_msr_list(struct vm *vm)
{
	pthread_mutex_lock(&snap_msr_lock);
	if (snap_msr_list) {
		pthread_mutex_unlock(&snap_msr_lock);
		return 0;
	}
	struct kvm_msr_list probe = {.nmsrs = 0};
	int r = -EIO;
	struct kvm_msr_list *list = NULL;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		goto out;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	uint32_t *keep = calloc(probe.nmsrs ? probe.nmsrs : 1, sizeof(uint32_t));
	if (!list || !keep) {
		free(keep);
		r = -ENOMEM;
		goto out;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(keep);
		goto out;
	}
	uint32_t n = 0;
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		uint64_t value = 0;
		if (snapshot_msr_one(vm->vcpus[0].fd, KVM_GET_MSRS, list->indices[i], &value) == 1)
			keep[n++] = list->indices[i];
	}
	snap_msr_list = keep;
	snap_msr_count = n;
	r = 0;
out:
	if (r < 0)
		log_error("snapshot: cannot list the vCPUs' MSRs: %s", strerror(r == -EIO ? errno : -r));
	free(list);
	pthread_mutex_unlock(&snap_msr_lock);
	return r;
}

static int snapshot_xsave_size(struct vm *vm)
{
	int size = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (size > (int)sizeof(struct kvm_xsave))
		return size;
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0 ? (int)sizeof(struct kvm_xsave) : 0;
}

static int snapshot_save_vcpu(struct vcpu *v, struct snap_buf *out)
{
	struct vm *vm = v->vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs = {0};
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	const char *what = NULL;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		what = "KVM_GET_REGS";
	else if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		what = "KVM_GET_SREGS";
	else if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
		what = "KVM_GET_FPU";
	else if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		what = "KVM_GET_LAPIC";
	else if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
		what = "KVM_GET_MP_STATE";
	else if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		what = "KVM_GET_VCPU_EVENTS";
	else if (ioctl(v->fd, KVM_GET_DEBUGREGS, &debugregs) < 0)
		what = "KVM_GET_DEBUGREGS";
	bool have_xcrs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	if (!what && have_xcrs && ioctl(v->fd, KVM_GET_XCRS, &xcrs) < 0)
		what = "KVM_GET_XCRS";
	int xsave_size = snapshot_xsave_size(vm);
	void *xsave = xsave_size ? calloc(1, (size_t)xsave_size) : NULL;
	if (!what && xsave_size) {
		unsigned long req = xsave_size > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
		if (!xsave || ioctl(v->fd, req, xsave) < 0)
			what = "KVM_GET_XSAVE";
	}
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + snap_msr_count * sizeof(struct kvm_msr_entry));
	if (!what && !msrs)
		what = "allocating MSRs";
	if (!what) {
		msrs->nmsrs = snap_msr_count;
		for (uint32_t i = 0; i < snap_msr_count; i++)
			msrs->entries[i].index = snap_msr_list[i];
		int n = ioctl(v->fd, KVM_GET_MSRS, msrs);
		if (n != (int)snap_msr_count)
			what = "KVM_GET_MSRS";
	}
	if (what) {
		log_error("snapshot: %s on vCPU %d: %s", what, v->index, strerror(errno));
		free(xsave);
		free(msrs);
		return -EIO;
	}
	snap_put_blob(out, &regs, sizeof(regs));
	snap_put_blob(out, &sregs, sizeof(sregs));
	snap_put_blob(out, &fpu, sizeof(fpu));
	snap_put_blob(out, xsave, (uint32_t)xsave_size);
	snap_put_blob(out, &xcrs, have_xcrs ? sizeof(xcrs) : 0);
	snap_put_u32(out, snap_msr_count);
	for (uint32_t i = 0; i < snap_msr_count; i++) {
		snap_put_u32(out, msrs->entries[i].index);
		snap_put_u64(out, msrs->entries[i].data);
	}
	snap_put_blob(out, &mp, sizeof(mp));
	snap_put_blob(out, &lapic, sizeof(lapic));
	snap_put_blob(out, &events, sizeof(events));
	snap_put_blob(out, &debugregs, sizeof(debugregs));
	free(xsave);
	free(msrs);
	return 0;
}

/* Sets MSRs one batch at a time; names the first one KVM refuses. */
static int snapshot_set_msrs(struct vcpu *v, struct kvm_msrs *msrs)
{
	int n = ioctl(v->fd, KVM_SET_MSRS, msrs);
	if (n == (int)msrs->nmsrs)
		return 0;
	if (n < 0)
		log_error("restore: KVM_SET_MSRS on vCPU %d: %s", v->index, strerror(errno));
	else
		log_error("restore: vCPU %d: this host's KVM refuses MSR 0x%x = 0x%llx", v->index,
			  msrs->entries[n].index, (unsigned long long)msrs->entries[n].data);
	return -EINVAL;
}

/* The order QEMU uses: registers, extended state, control registers, MSRs
 * (the APIC base is in sregs, before the LAPIC), then MP state, LAPIC,
 * pending events and debug registers. */
static int snapshot_load_vcpu(struct vcpu *v, struct snap_cursor *in)
{
	struct vm *vm = v->vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	snap_get_blob(in, &regs, sizeof(regs));
	snap_get_blob(in, &sregs, sizeof(sregs));
	snap_get_blob(in, &fpu, sizeof(fpu));
	int xsave_size = snapshot_xsave_size(vm);
	uint32_t saved_xsave = snap_get_u32(in);
	const uint8_t *xsave = snap_get_view(in, saved_xsave);
	if (!in->failed && saved_xsave != (uint32_t)xsave_size) {
		log_error("restore: vCPU %d: %u bytes of XSAVE state, this host has %d", v->index, saved_xsave,
			  xsave_size);
		return -EINVAL;
	}
	bool have_xcrs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	snap_get_blob(in, &xcrs, have_xcrs ? sizeof(xcrs) : 0);
	uint32_t nmsrs = snap_get_u32(in);
	if (in->failed || nmsrs > 4096)
		return -EINVAL;
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + nmsrs * sizeof(struct kvm_msr_entry));
	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = nmsrs;
	uint64_t deadline = 0;
	bool has_deadline = false;
	for (uint32_t i = 0; i < nmsrs; i++) {
		msrs->entries[i].index = snap_get_u32(in);
		msrs->entries[i].data = snap_get_u64(in);
		if (msrs->entries[i].index == SNAP_MSR_TSC_DEADLINE)
			has_deadline = true, deadline = msrs->entries[i].data;
	}
	snap_get_blob(in, &mp, sizeof(mp));
	snap_get_blob(in, &lapic, sizeof(lapic));
	snap_get_blob(in, &events, sizeof(events));
	snap_get_blob(in, &debugregs, sizeof(debugregs));
	if (!snap_cursor_done(in)) {
		free(msrs);
		return -EINVAL;
	}
	/* KVM takes these from a valid-fields mask rather than guessing. */
	events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	const char *what = NULL;
	int err = 0;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		what = "KVM_SET_REGS";
	else if (!xsave_size && ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		what = "KVM_SET_FPU";
	else if (xsave_size && ioctl(v->fd, KVM_SET_XSAVE, xsave) < 0)
		what = "KVM_SET_XSAVE";
	else if (have_xcrs && ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0)
		what = "KVM_SET_XCRS";
	else if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		what = "KVM_SET_SREGS";
	else if ((err = snapshot_set_msrs(v, msrs)) == 0) {
		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
			what = "KVM_SET_MP_STATE";
		else if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
			what = "KVM_SET_LAPIC";
		else if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
			what = "KVM_SET_VCPU_EVENTS";
		else if (ioctl(v->fd, KVM_SET_DEBUGREGS, &debugregs) < 0)
			what = "KVM_SET_DEBUGREGS";
		/* The deadline is only armed once the LAPIC's timer mode is set. */
		else if (has_deadline && snapshot_msr_one(v->fd, KVM_SET_MSRS, SNAP_MSR_TSC_DEADLINE, &deadline) != 1)
			what = "KVM_SET_MSRS (TSC deadline)";
	}
	free(msrs);
	if (what) {
		log_error("restore: %s on vCPU %d: %s", what, v->index, strerror(errno));
		return -EINVAL;
	}
	return err;
}

/* --- The VM: irqchip, PIT, clock --- */

static int snapshot_save_vm(struct vm *vm, struct snap_buf *out)
{
	for (uint32_t chip = 0; chip < 3; chip++) {
		struct kvm_irqchip c = {.chip_id = chip};
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0) {
			log_error("snapshot: KVM_GET_IRQCHIP %u: %s", chip, strerror(errno));
			return -EIO;
		}
		snap_put_blob(out, &c, sizeof(c));
	}
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0 || ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0) {
		log_error("snapshot: KVM_GET_PIT2 / KVM_GET_CLOCK: %s", strerror(errno));
		return -EIO;
	}
	snap_put_blob(out, &pit, sizeof(pit));
	snap_put_u64(out, clock.clock);
	return 0;
}

static int snapshot_load_vm(struct vm *vm, struct snap_cursor *in)
{
	struct kvm_irqchip chips[3];
	for (uint32_t chip = 0; chip < 3; chip++) {
		snap_get_blob(in, &chips[chip], sizeof(chips[chip]));
		if (!in->failed && chips[chip].chip_id != chip)
			in->failed = true;
	}
	struct kvm_pit_state2 pit;
	snap_get_blob(in, &pit, sizeof(pit));
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	clock.clock = snap_get_u64(in);
	if (!snap_cursor_done(in))
		return -EINVAL;
	for (uint32_t chip = 0; chip < 3; chip++) {
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[chip]) < 0) {
			log_error("restore: KVM_SET_IRQCHIP %u: %s", chip, strerror(errno));
			return -EINVAL;
		}
	}
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0 || ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
		log_error("restore: KVM_SET_PIT2 / KVM_SET_CLOCK: %s", strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/* --- Devices --- */

#define SNAP_DEVICE_ADAPTERS(name, T)                                                                                  \
	static void name##_save_any(void *d, struct snap_buf *b)                                                       \
	{                                                                                                              \
		name##_save((T *)d, b);                                                                                \
	}                                                                                                              \
	static int name##_load_any(void *d, struct snap_cursor *c)                                                     \
	{                                                                                                              \
		return name##_load((T *)d, c);                                                                         \
	}
SNAP_DEVICE_ADAPTERS(uart, struct uart)
SNAP_DEVICE_ADAPTERS(rtc, struct rtc)
SNAP_DEVICE_ADAPTERS(i8042, struct i8042)
SNAP_DEVICE_ADAPTERS(poweroff, struct poweroff)
SNAP_DEVICE_ADAPTERS(label, struct label)
SNAP_DEVICE_ADAPTERS(pci, struct pci_bus)
SNAP_DEVICE_ADAPTERS(virtio_gpu, struct virtio_gpu)
SNAP_DEVICE_ADAPTERS(virtio_input, struct virtio_input)
SNAP_DEVICE_ADAPTERS(virtio_rng, struct virtio_rng)
SNAP_DEVICE_ADAPTERS(virtio_snd, struct virtio_snd)

struct snap_device {
	uint32_t type, instance;
	void *device;
	void (*save)(void *device, struct snap_buf *out);
	int (*load)(void *device, struct snap_cursor *in);
};

/* Every device in one table, PCI bus before the devices on it. */
static int snapshot_device_table(const struct snapshot_devices *d, struct snap_device *t)
{
	int n = 0;
#define SNAP_ADD(dev, ty, inst, name) t[n++] = (struct snap_device){ty, inst, dev, name##_save_any, name##_load_any}
	SNAP_ADD(d->uart, SNAP_SEC_UART, 0, uart);
	SNAP_ADD(d->rtc, SNAP_SEC_RTC, 0, rtc);
	SNAP_ADD(d->i8042, SNAP_SEC_I8042, 0, i8042);
	SNAP_ADD(d->poweroff, SNAP_SEC_POWEROFF, 0, poweroff);
	SNAP_ADD(d->label, SNAP_SEC_LABEL, 0, label);
	SNAP_ADD(d->pci, SNAP_SEC_PCI, 0, pci);
	SNAP_ADD(d->gpu, SNAP_SEC_VIRTIO_GPU, 0, virtio_gpu);
	SNAP_ADD(d->keyboard, SNAP_SEC_VIRTIO_INPUT, 0, virtio_input);
	SNAP_ADD(d->tablet, SNAP_SEC_VIRTIO_INPUT, 1, virtio_input);
	SNAP_ADD(d->rng, SNAP_SEC_VIRTIO_RNG, 0, virtio_rng);
	if (d->snd)
		SNAP_ADD(d->snd, SNAP_SEC_VIRTIO_SND, 0, virtio_snd);
#undef SNAP_ADD
	return n;
}

/* --- Memory --- */

static bool snapshot_page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < SNAP_PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int snapshot_write_run(int fd, const uint8_t *mem, uint64_t from, uint64_t to)
{
	while (from < to) {
		ssize_t n = pwrite(fd, mem + from, (size_t)(to - from), (off_t)from);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		from += (uint64_t)n;
	}
	return 0;
}

/* Where guest RAM may hold data: the memfd's (or a clone's file's) data
 * ranges, and for a clone also every page it has written itself, which
 * the page map shows as present or swapped. All else reads as zeroes. */
struct snap_scan {
	struct vm *vm;
	int pagemap_fd;
	uint64_t data_start, data_end; /* the file's data range at or after the scan point */
	uint64_t map[SNAP_PAGEMAP_BATCH];
	uint64_t map_first, map_count;
};

static bool snapshot_page_maybe_data(struct snap_scan *s, uint64_t page)
{
	uint64_t off = page * SNAP_PAGE;
	if (off >= s->data_end && s->data_end != UINT64_MAX) {
		off_t data = lseek(s->vm->mem_fd, (off_t)off, SEEK_DATA);
		off_t hole = data < 0 ? -1 : lseek(s->vm->mem_fd, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {
			s->data_start = s->data_end = UINT64_MAX;
		} else {
			s->data_start = (uint64_t)data;
			s->data_end = (uint64_t)hole;
		}
	}
	if (off + SNAP_PAGE > s->data_start && off < s->data_end)
		return true;
	if (s->pagemap_fd < 0)
		return false;
	if (page < s->map_first || page >= s->map_first + s->map_count) {
		uint64_t vpage = (uintptr_t)s->vm->mem / SNAP_PAGE + page;
		ssize_t n = pread(s->pagemap_fd, s->map, sizeof(s->map), (off_t)(vpage * 8));
		s->map_first = page;
		s->map_count = n > 0 ? (uint64_t)n / 8 : 0;
		/* A page map that cannot be read: take the page as data. */
		if (!s->map_count)
			return true;
	}
	return s->map[page - s->map_first] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED);
}

/* Writes guest RAM to fd, sparse: zero pages become holes. Returns 0 and
 * the bytes written, or -errno. */
static int snapshot_write_memory(struct vm *vm, int fd, uint64_t *written)
{
	if (ftruncate(fd, (off_t)vm->mem_bytes) < 0)
		return -errno;
	struct snap_scan *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->pagemap_fd = vm->mem_private ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
	if (vm->mem_private && s->pagemap_fd < 0) {
		int err = errno;
		free(s);
		return -err;
	}
	uint64_t pages = vm->mem_bytes / SNAP_PAGE, run = UINT64_MAX;
	int r = 0;
	*written = 0;
	for (uint64_t p = 0; p <= pages && r == 0; p++) {
		bool data = p < pages && snapshot_page_maybe_data(s, p) && !snapshot_page_zero(vm->mem + p * SNAP_PAGE);
		if (data && run == UINT64_MAX)
			run = p;
		/* Runs end at a zero page or every 1 MiB, to keep writes modest. */
		if (run != UINT64_MAX && (!data || p - run == 256)) {
			r = snapshot_write_run(fd, vm->mem, run * SNAP_PAGE, p * SNAP_PAGE);
			*written += (p - run) * SNAP_PAGE;
			run = data ? p : UINT64_MAX;
		}
	}
	if (s->pagemap_fd >= 0)
		close(s->pagemap_fd);
	free(s);
	return r;
}

/* --- Saving --- */

static int snapshot_build_state(struct vm *vm, const struct snapshot_devices *d, struct snap_writer *w)
{
	struct snap_header_info h = {
	    .flags = vm->cpuid_probed ? SNAP_F_CPUID_PROBED : 0,
	    .cpu_fingerprint = snapshot_cpu_fingerprint(vm->cpuid),
	    .vcpus = (uint32_t)vm->ncpus,
	    .mem_bytes = vm->mem_bytes,
	    .low_bytes = vm->low_bytes,
	};
	snapshot_build_id(h.build_id, &h.build_id_len);
	int r = snap_writer_init(w, &h);
	if (r == 0)
		r = snapshot_msr_list(vm);
	for (int i = 0; r == 0 && i < vm->ncpus; i++) {
		struct snap_buf b = {0};
		r = snapshot_save_vcpu(&vm->vcpus[i], &b);
		if (r == 0)
			r = snap_writer_add(w, SNAP_SEC_VCPU, (uint32_t)i, &b);
		snap_buf_free(&b);
	}
	if (r == 0) {
		struct snap_buf b = {0};
		r = snapshot_save_vm(vm, &b);
		if (r == 0)
			r = snap_writer_add(w, SNAP_SEC_VM, 0, &b);
		snap_buf_free(&b);
	}
	struct snap_device table[16];
	int n = snapshot_device_table(d, table);
	for (int i = 0; r == 0 && i < n; i++) {
		struct snap_buf b = {0};
		table[i].save(table[i].device, &b);
		r = snap_writer_add(w, table[i].type, table[i].instance, &b);
		snap_buf_free(&b);
	}
	if (r == 0)
		r = snap_writer_finish(w);
	return r;
}

static int snapshot_write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = snapshot_write_run(fd, data, 0, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static uint64_t snapshot_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Writes both files under temporary names, then puts them in place: the
 * old state goes first and the new one comes last, so a crash at any
 * point leaves either a whole snapshot or none that loads. */
static int snapshot_write(struct vm *vm, const struct snapshot_devices *d, const char *dir)
{
	char mem_tmp[PATH_MAX], state_tmp[PATH_MAX], mem_path[PATH_MAX], state_path[PATH_MAX];
	/* The longest of the four names. */
	if ((size_t)snprintf(mem_tmp, sizeof(mem_tmp), "%s/.memory.tmp", dir) >= sizeof(mem_tmp)) {
		log_error("snapshot: %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	snprintf(state_tmp, sizeof(state_tmp), "%s/.state.tmp", dir);
	snprintf(mem_path, sizeof(mem_path), "%s/memory", dir);
	snprintf(state_path, sizeof(state_path), "%s/state", dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int err = errno;
		log_error("snapshot: cannot make %s: %s", dir, strerror(err));
		return -err;
	}
	uint64_t t0 = snapshot_now_ns();
	struct snap_writer w;
	int r = snapshot_build_state(vm, d, &w);
	if (r < 0) {
		log_error("snapshot: cannot save the VM's state: %s", strerror(-r));
		snap_writer_free(&w);
		return r;
	}
	uint64_t written = 0;
	int fd = open(mem_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *failed = NULL;
	if (fd < 0) {
		r = -errno, failed = mem_tmp;
	} else {
		r = snapshot_write_memory(vm, fd, &written);
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			failed = mem_tmp;
	}
	if (r == 0 && (r = snapshot_write_file(state_tmp, w.out.data, w.out.len)) < 0)
		failed = state_tmp;
	size_t state_bytes = w.out.len;
	snap_writer_free(&w);
	if (r == 0 && unlink(state_path) < 0 && errno != ENOENT)
		r = -errno, failed = state_path;
	if (r == 0 && rename(mem_tmp, mem_path) < 0)
		r = -errno, failed = mem_path;
	if (r == 0 && rename(state_tmp, state_path) < 0)
		r = -errno, failed = state_path;
	if (r < 0) {
		log_error("snapshot: %s: %s", failed, strerror(-r));
		unlink(mem_tmp);
		unlink(state_tmp);
		return r;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			log_warn("snapshot: fsync %s: %s", dir, strerror(errno));
		close(dfd);
	}
	log_info("snapshot of %" PRIu64 " MiB RAM (%" PRIu64 " KiB of it written, state %zu KiB) to %s in %.1f ms",
		 vm->mem_bytes >> 20, written >> 10, state_bytes >> 10, dir, (double)(snapshot_now_ns() - t0) / 1e6);
	return 0;
}

int snapshot_save(struct vm *vm, const struct snapshot_devices *d, const char *dir, uint32_t flags)
{
	bool was_paused = vm->paused;
	int r = vm_pause(vm);
	if (r < 0)
		return r;
	r = snapshot_write(vm, d, dir);
	if (r == 0 && (flags & SNAPSHOT_STOP)) {
		vm_stop(vm, VM_STOP_POWEROFF, 0, "suspended to %s", dir);
		return 0;
	}
	if (!was_paused && !(r == 0 && (flags & SNAPSHOT_PAUSE)))
		vm_resume(vm);
	return r < 0 ? -EIO : 0;
}

/* --- Restoring --- */

int snapshot_open(const char *dir, struct snap_image *img)
{
	char path[PATH_MAX];
	*img = (struct snap_image){0};
	if ((size_t)snprintf(path, sizeof(path), "%s/state", dir) >= sizeof(path)) {
		log_error("--restore %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = errno;
		log_error("--restore %s: %s: %s", dir, path, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > SNAP_SECTION_MAX * 2ull) {
		log_error("--restore %s: %s is not a state file (%lld bytes)", dir, path, (long long)st.st_size);
		close(fd);
		return -EINVAL;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *data = malloc(len ? len : 1);
	size_t got = 0;
	while (data && got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!data || got != len) {
		log_error("--restore %s: cannot read %s", dir, path);
		free(data);
		return -EIO;
	}
	uint8_t id[SNAP_BUILD_ID_MAX];
	uint32_t id_len;
	snapshot_build_id(id, &id_len);
	char why[256];
	if (snap_image_parse(img, data, len, id, id_len, why, sizeof(why)) < 0) {
		log_error("--restore %s: refused: %s", dir, why);
		snap_image_free(img);
		return -EINVAL;
	}
	if (img->header.vcpus < 1 || img->header.vcpus > VM_MAX_CPUS ||
	    img->header.low_bytes !=
		(img->header.mem_bytes < VM_LOW_RAM_END ? img->header.mem_bytes : VM_LOW_RAM_END) ||
	    img->header.mem_bytes % SNAP_PAGE || img->header.mem_bytes < (2ull << 20)) {
		log_error("--restore %s: refused: a VM this vdi-vmm does not build (%u vCPUs, RAM %" PRIu64
			  " bytes, %" PRIu64 " below 4 GiB)",
			  dir, img->header.vcpus, img->header.mem_bytes, img->header.low_bytes);
		snap_image_free(img);
		return -EINVAL;
	}
	/* The memory file's size is checked now too, so a short one is refused
	 * before anything is built. */
	snprintf(path, sizeof(path), "%s/memory", dir);
	if (stat(path, &st) < 0) {
		log_error("--restore %s: refused: %s: %s", dir, path, strerror(errno));
		snap_image_free(img);
		return -ENOENT;
	}
	if ((uint64_t)st.st_size != img->header.mem_bytes) {
		log_error("--restore %s: refused: %s is %lld bytes, the snapshot's RAM is %" PRIu64
			  " bytes (truncated or not this snapshot's)",
			  dir, path, (long long)st.st_size, img->header.mem_bytes);
		snap_image_free(img);
		return -EINVAL;
	}
	return 0;
}

int snapshot_restore(struct vm *vm, const struct snapshot_devices *d, struct snap_image *img, const char *dir)
{
	if (snapshot_cpu_fingerprint(vm->cpuid) != img->header.cpu_fingerprint) {
		log_error("--restore %s: refused: taken on a different CPU feature set (CPUID fingerprint %016" PRIx64
			  ", this host %016" PRIx64 ")",
			  dir, img->header.cpu_fingerprint, snapshot_cpu_fingerprint(vm->cpuid));
		return -EINVAL;
	}
	if ((uint32_t)vm->ncpus != img->header.vcpus || vm->mem_bytes != img->header.mem_bytes) {
		log_error("--restore %s: refused: VM shape differs from the snapshot's", dir);
		return -EINVAL;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		int r = cpuid_set_vcpu(&vm->vcpus[i]);
		if (r < 0) {
			log_error("--restore %s: KVM_SET_CPUID2 on vCPU %d: %s", dir, i, strerror(-r));
			return r;
		}
	}
	struct snap_section *s = snap_image_find(img, SNAP_SEC_VM, 0);
	struct snap_cursor c;
	if (!s) {
		log_error("--restore %s: refused: no VM section", dir);
		return -EINVAL;
	}
	c = snap_section_cursor(s);
	if (snapshot_load_vm(vm, &c) < 0) {
		log_error("--restore %s: refused: bad VM section", dir);
		return -EINVAL;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		s = snap_image_find(img, SNAP_SEC_VCPU, (uint32_t)i);
		if (!s) {
			log_error("--restore %s: refused: no state for vCPU %d", dir, i);
			return -EINVAL;
		}
		c = snap_section_cursor(s);
		if (snapshot_load_vcpu(&vm->vcpus[i], &c) < 0) {
			log_error("--restore %s: refused: vCPU %d's state does not load", dir, i);
			return -EINVAL;
		}
	}
	struct snap_device table[16];
	int n = snapshot_device_table(d, table);
	for (int i = 0; i < n; i++) {
		s = snap_image_find(img, table[i].type, table[i].instance);
		if (!s) {
			log_error("--restore %s: refused: the snapshot has no %s %u; its devices differ from this "
				  "vdi-vmm's",
				  dir, snap_section_name(table[i].type), table[i].instance);
			return -EINVAL;
		}
		c = snap_section_cursor(s);
		if (table[i].load(table[i].device, &c) < 0) {
			log_error("--restore %s: refused: %s %u's state is not one this vdi-vmm's device can take", dir,
				  snap_section_name(table[i].type), table[i].instance);
			return -EINVAL;
		}
	}
	for (uint32_t i = 0; i < img->nsections; i++) {
		if (!img->sections[i].used) {
			log_error("--restore %s: refused: the snapshot has a %s %u this vdi-vmm does not build", dir,
				  snap_section_name(img->sections[i].type), img->sections[i].instance);
			return -EINVAL;
		}
	}
	return 0;
}
