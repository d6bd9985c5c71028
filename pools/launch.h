/* launch.h — one vdi-vmm process as pools/ sees it: launched detached, and
 * asked things on its control socket. Private to pools/. */
#ifndef VDI_POOLS_LAUNCH_H
#define VDI_POOLS_LAUNCH_H

#include "pools.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts vdi-vmm for desktop `name` of `spec`, a child of this process in
 * a session of its own (it outlives vdi-server; reap it with waitid), with its control socket at `socket`, its serial
 * console as the spec says (off, or RUN_DIR/NAME.serial: 0600, at most serial_max bytes) and its own messages in
 * RUN_DIR/NAME.log.
 * 0 and *pid, or a negative errno (logged). */
int pool_launch(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *name,
		const char *label, const char *socket, pid_t *pid);
/* The same from a snapshot directory: resumed, or with `clone` an instant
 * clone of it (memory shared copy-on-write); the serial console as `spec` says. */
int pool_launch_restore(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *snapshot,
			bool clone, const char *name, const char *label, const char *socket, pid_t *pid);
/* RUN_DIR/NAME.serial into path; false when it does not fit. */
bool pool_serial_path(const char *run_dir, const char *name, char *path, size_t size);
/* One request on the control socket at `socket` and its reply's result (0
 * or the VMM's negative errno), or a negative errno of our own (cannot
 * connect, timed out). The reply's payload goes to reply (up to cap bytes;
 * *len its size) when reply is not NULL. */
int pool_vmm_call(const char *socket, uint16_t type, const void *payload, uint32_t length, void *reply, size_t cap,
		  uint32_t *len, int timeout_ms);

#endif
