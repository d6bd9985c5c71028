/* control_client.c — `vdi-vmm ctl SOCKET COMMAND`, the command-line face of
 * the control socket for admins and tests. */
#include "control.h"

#include "../common/ipc.h"
#include "../common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	enum vmm_msg_type type;
} control_commands[] = {
    {"status", VMM_REQ_STATUS},     {"pause", VMM_REQ_PAUSE}, {"resume", VMM_REQ_RESUME},
    {"poweroff", VMM_REQ_POWEROFF}, {"stats", VMM_REQ_STATS},
};

static void control_print_status(const struct vmm_status *s)
{
	const char *state = s->state == VMM_STATE_RUNNING  ? "running"
			    : s->state == VMM_STATE_PAUSED ? "paused"
							   : "stopping";
	printf("state %s\nvcpus %u\nmem_mib %" PRIu64 "\nuptime_ms %" PRIu64 "\npid %u\n", state, s->vcpus,
	       s->mem_bytes >> 20, s->uptime_ns / 1000000, s->pid);
}

static void control_print_stats(const struct vmm_stats *s)
{
	static const char *const names[] = VMM_EXIT_KIND_NAMES;
	for (int i = 0; i < VMM_EXIT_KINDS; i++)
		printf("exits.%s %" PRIu64 "\n", names[i], s->exits[i]);
	printf("unhandled.pio %" PRIu64 "\nunhandled.mmio %" PRIu64 "\n", s->unhandled_pio, s->unhandled_mmio);
	printf("guest_ram_bytes %" PRIu64 "\nguest_ram_touched_bytes %" PRIu64 "\nvmm_rss_bytes %" PRIu64 "\n",
	       s->guest_ram_bytes, s->guest_ram_touched_bytes, s->vmm_rss_bytes);
	uint64_t overhead =
	    s->vmm_rss_bytes > s->guest_ram_touched_bytes ? s->vmm_rss_bytes - s->guest_ram_touched_bytes : 0;
	printf("vmm_overhead_bytes %" PRIu64 "\n", overhead);
}

int control_client_main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vdi-vmm ctl SOCKET status|pause|resume|poweroff|stats\n");
		return 1;
	}
	const char *path = argv[1], *cmd = argv[2];
	int type = -1;
	for (size_t i = 0; i < sizeof(control_commands) / sizeof(control_commands[0]); i++)
		if (!strcmp(cmd, control_commands[i].name))
			type = (int)control_commands[i].type;
	if (type < 0) {
		log_error("ctl: unknown command '%s' (status, pause, resume, poweroff, stats)", cmd);
		return 1;
	}
	int fd = ipc_connect(path);
	if (fd < 0) {
		log_error("ctl: cannot connect to %s: %s", path, strerror(-fd));
		return 1;
	}
	struct vmm_msg req = {.version = VMM_PROTOCOL_VERSION, .type = (uint16_t)type, .id = 1};
	static uint8_t buf[VMM_MSG_MAX];
	ssize_t n = ipc_send(fd, &req, sizeof(req), NULL, 0);
	if (n == 0)
		n = ipc_recv(fd, buf, sizeof(buf), NULL, NULL);
	close(fd);
	struct vmm_msg rep;
	if (n < (ssize_t)sizeof(rep)) {
		log_error("ctl: no reply from %s%s%s", path, n < 0 ? ": " : "", n < 0 ? strerror((int)-n) : "");
		return 1;
	}
	memcpy(&rep, buf, sizeof(rep));
	if (rep.type != VMM_REPLY || rep.id != req.id || rep.length != (size_t)n - sizeof(rep)) {
		log_error("ctl: malformed reply from %s", path);
		return 1;
	}
	if (rep.result < 0) {
		log_error("ctl: %s failed: %s", cmd, strerror(-rep.result));
		return 1;
	}
	const uint8_t *payload = buf + sizeof(rep);
	if (type == VMM_REQ_STATUS && rep.length == sizeof(struct vmm_status)) {
		struct vmm_status s;
		memcpy(&s, payload, sizeof(s));
		control_print_status(&s);
	} else if (type == VMM_REQ_STATS && rep.length == sizeof(struct vmm_stats)) {
		struct vmm_stats s;
		memcpy(&s, payload, sizeof(s));
		control_print_stats(&s);
	} else if (type == VMM_REQ_STATUS || type == VMM_REQ_STATS) {
		log_error("ctl: reply of unexpected size %u", rep.length);
		return 1;
	} else {
		printf("ok\n");
	}
	return 0;
}
