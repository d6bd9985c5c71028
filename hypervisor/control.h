/* control.h — the control socket server (protocol: vmm_control.h). */
#ifndef VDI_HYPERVISOR_CONTROL_H
#define VDI_HYPERVISOR_CONTROL_H

#include "vmm.h"

#include <stddef.h>
#include <stdint.h>

struct control;
/* Listens at `path` and serves requests on a thread of its own. */
struct control *control_start(struct vm *vm, const char *path);
/* Stops serving, closes every connection and removes the socket file. */
void control_stop(struct control *ctl);

/* One request in, one reply out: the whole protocol logic, separate from the
 * socket so it can be tested and fuzzed. Returns the reply's length. */
size_t control_handle_request(struct vm *vm, const uint8_t *msg, size_t len, uint8_t *reply, size_t cap);

/* `vdi-vmm ctl SOCKET COMMAND`: the command-line client. Returns an exit status. */
int control_client_main(int argc, char **argv);

#endif
