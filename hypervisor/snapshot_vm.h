/* snapshot_vm.h — snapshots of a whole VM (snapshot.c): saving its RAM and
 * state into a directory while the vCPUs are parked, and starting a new
 * vdi-vmm from one (suspend and resume, or an instant clone). */
#ifndef VDI_HYPERVISOR_SNAPSHOT_VM_H
#define VDI_HYPERVISOR_SNAPSHOT_VM_H

#include "snapshot.h"
#include "vmm.h"

/* Every device a VM has, as main() builds them; each gets a section. */
struct snapshot_devices {
	struct uart *uart;
	struct rtc *rtc;
	struct i8042 *i8042;
	struct poweroff *poweroff;
	struct pci_bus *pci;
	struct label *label;
	struct virtio_gpu *gpu;
	struct virtio_input *keyboard;
	struct virtio_input *tablet;
	struct virtio_rng *rng;
	struct virtio_snd *snd; /* NULL: the VM has no sound device */
};

#define SNAPSHOT_PAUSE VMM_SNAPSHOT_PAUSE /* stay paused afterwards */
#define SNAPSHOT_STOP  VMM_SNAPSHOT_STOP  /* power off afterwards (suspend to disk) */

/* The vdi-vmm executable's GNU build id (else a CRC of the executable):
 * a snapshot loads only into the build that made it. */
void snapshot_build_id(uint8_t out[SNAP_BUILD_ID_MAX], uint32_t *len);
/* A hash of the CPUID leaves the guest is given. */
uint64_t snapshot_cpu_fingerprint(const struct kvm_cpuid2 *cpuid);

/* Pauses the VM, writes DIR/memory and DIR/state (DIR made if needed; a
 * snapshot already there replaced only once the new one is whole), then
 * resumes it, unless SNAPSHOT_PAUSE or SNAPSHOT_STOP. Logs and returns
 * -errno on failure; the VM then runs on as before. */
int snapshot_save(struct vm *vm, const struct snapshot_devices *d, const char *dir, uint32_t flags);

/* Reads and verifies DIR/state (format, checksums, build id, VM shape) and
 * checks DIR/memory's size, before any VM exists. Logs one line ("refused:
 * why") and returns -errno when the snapshot cannot be used. */
int snapshot_open(const char *dir, struct snap_image *img);
/* Loads vCPUs, VM and devices from an opened snapshot into a VM made with
 * its RAM (vm_config.mem_file), its vCPU count and CPUID (cpuid_init with
 * the header's SNAP_F_CPUID_PROBED), and devices built as for a boot.
 * Refuses (one line, -EINVAL) a different CPU feature set, a device layout
 * that differs (a section missing or left over) or state a device cannot
 * take; the VM must then not run. */
int snapshot_restore(struct vm *vm, const struct snapshot_devices *d, struct snap_image *img, const char *dir);

#endif
