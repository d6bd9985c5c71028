/* vmm_control.h — the vdi-vmm control socket protocol. This is the one header
 * vdi-server (and `vdi-vmm ctl`) includes to drive a VM process.
 *
 * Transport: a Unix SOCK_SEQPACKET socket at the path given by --control.
 * Every message is one packet: a struct vmm_msg header, then `length` bytes of
 * payload. Integers are in host byte order (both ends are on one host).
 *
 * The client sends requests (type VMM_REQ_*), each with an `id` of its
 * choosing; the VMM answers each with exactly one VMM_REPLY carrying the same
 * id, a result (0 or a negative errno) and a payload whose shape depends on
 * the request. Requests on one connection are answered in order. Several
 * clients may be connected at once. A malformed message gets a VMM_REPLY with
 * result -EINVAL (-EPROTO for a wrong version); the connection stays usable.
 *
 *   request           payload in          reply payload
 *   VMM_REQ_STATUS    none                struct vmm_status
 *   VMM_REQ_PAUSE     none                none  (returns once every vCPU is parked)
 *   VMM_REQ_RESUME    none                none
 *   VMM_REQ_POWEROFF  none                none  (the VM stops; vdi-vmm exits 0)
 *   VMM_REQ_STATS     none                struct vmm_stats
 *
 * Requests are idempotent where that makes sense: pausing a paused VM or
 * resuming a running one succeeds and changes nothing.
 */
#ifndef VDI_HYPERVISOR_VMM_CONTROL_H
#define VDI_HYPERVISOR_VMM_CONTROL_H

#include <stdint.h>

#define VMM_PROTOCOL_VERSION 1
#define VMM_MSG_MAX          65536 /* largest packet either side sends */

enum vmm_msg_type {
	VMM_REPLY = 1,
	VMM_REQ_STATUS = 16,
	VMM_REQ_PAUSE = 17,
	VMM_REQ_RESUME = 18,
	VMM_REQ_POWEROFF = 19,
	VMM_REQ_STATS = 20,
};

struct vmm_msg {
	uint16_t version; /* VMM_PROTOCOL_VERSION */
	uint16_t type;    /* enum vmm_msg_type */
	uint32_t id;      /* request id, echoed in the reply */
	int32_t result;   /* replies: 0 or -errno; requests: 0 */
	uint32_t length;  /* payload bytes after this header */
};

enum vmm_state {
	VMM_STATE_RUNNING = 1,
	VMM_STATE_PAUSED = 2,
	VMM_STATE_STOPPING = 3,
};

struct vmm_status {
	uint32_t state; /* enum vmm_state */
	uint32_t vcpus;
	uint64_t mem_bytes; /* guest RAM size */
	uint64_t uptime_ns; /* since the vCPUs started */
	uint32_t pid;
	uint32_t reserved;
};

/* KVM exits, counted by kind. */
enum vmm_exit_kind {
	VMM_EXIT_IO = 0,       /* port I/O */
	VMM_EXIT_MMIO = 1,     /* memory-mapped I/O */
	VMM_EXIT_HLT = 2,      /* halt reaching user space */
	VMM_EXIT_INTR = 3,     /* signal (kick, pause) */
	VMM_EXIT_SHUTDOWN = 4, /* triple fault */
	VMM_EXIT_INTERNAL = 5, /* KVM internal error (emulation failure) */
	VMM_EXIT_FAIL_ENTRY = 6,
	VMM_EXIT_SYSTEM_EVENT = 7,
	VMM_EXIT_OTHER = 8,
	VMM_EXIT_KINDS = 9,
};

#define VMM_EXIT_KIND_NAMES                                                                                            \
	{                                                                                                              \
		"io", "mmio", "hlt", "intr", "shutdown", "internal_error", "fail_entry", "system_event", "other"       \
	}

struct vmm_stats {
	uint64_t exits[VMM_EXIT_KINDS];
	uint64_t unhandled_pio;           /* guest port accesses nothing serves */
	uint64_t unhandled_mmio;          /* guest MMIO accesses nothing serves */
	uint64_t guest_ram_bytes;         /* configured */
	uint64_t guest_ram_touched_bytes; /* resident pages of guest RAM */
	uint64_t vmm_rss_bytes;           /* whole process RSS, guest RAM included */
};

#endif
