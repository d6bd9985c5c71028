/* control.h — the control socket server (protocol: vmm_control.h). */
#ifndef VDI_HYPERVISOR_CONTROL_H
#define VDI_HYPERVISOR_CONTROL_H

#include "devices/devices.h"
#include "snapshot_vm.h"
#include "vmm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the control socket drives besides the VM itself; any may be NULL
 * (requests for it then fail with -ENODEV). */
struct control_devices {
	struct scanout *scanout;
	struct virtio_gpu *gpu;
	struct virtio_input *keyboard;
	struct virtio_input *tablet;
	struct label *label;
	struct audio *audio; /* the sound device's rings */
	const struct snapshot_devices *all; /* for VMM_REQ_SNAPSHOT */
	uint32_t pointer_buttons;           /* VMM_BUTTON_* the tablet holds down now */
};

struct control;
/* Listens at `path` and serves requests on a thread of its own. */
struct control *control_start(struct vm *vm, struct control_devices *devices, const char *path);
/* Stops serving, closes every connection and removes the socket file. */
void control_stop(struct control *ctl);

/* One request in, one reply out: the whole protocol logic, separate from the
 * socket so it can be tested and fuzzed. Returns the reply's length.
 * VMM_REQ_DISPLAY_SUBSCRIBE and VMM_REQ_AUDIO_SUBSCRIBE need the connection and is answered by the
 * socket side; here they get -EINVAL. */
size_t control_handle_request(struct vm *vm, struct control_devices *devices, const uint8_t *msg, size_t len,
			      uint8_t *reply, size_t cap);

/* control_keys.c: evdev key codes for a US layout. A character's key (and
 * whether it needs shift), or -1; a key's name ("enter", "f5", "a"), or -1. */
int control_key_for_char(char c, bool *shift);
int control_key_for_name(const char *name, size_t len);

/* `vdi-vmm ctl SOCKET COMMAND`: the command-line client. Returns an exit status. */
int control_client_main(int argc, char **argv);

#endif
