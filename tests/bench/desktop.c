/* desktop.c — `make bench` figures for the desktop guest's screen: from the
 * guest's RESOURCE_FLUSH to a consumer on the control socket being told, and
 * the CPU an idle desktop costs. */
#include "../../common/ipc.h"
#include "../../hypervisor/vmm_control.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *vmm = "build/bin/vdi-vmm";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Starts the desktop guest; returns once its serial console says it is
 * drawn. */
static pid_t start_desktop(const char *sock, FILE **serial)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		execl(vmm, vmm, "--mem", "256", "--guest", "desktop", "--display", "1920x1080", "--control", sock,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*serial = fdopen(p[0], "r");
	char line[512];
	while (fgets(line, sizeof(line), *serial))
		if (strstr(line, "desktop ready"))
			return pid;
	return -1;
}

static int request(int fd, uint16_t type, const void *payload, uint32_t len, uint32_t id)
{
	uint8_t buf[256];
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = id, .length = len};
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	return ipc_send(fd, buf, sizeof(h) + len, NULL, 0);
}

/* Types a character at a time; each makes the guest repaint a line of its
 * text window and flush it. The damage event carries when the VMM took
 * the flush; the time it arrives here is when the consumer is notified. */
static void bench_flush_latency(int fd)
{
	enum { KEYS = 200 };
	static uint64_t lat[KEYS * 4];
	int n = 0;
	static uint8_t buf[VMM_MSG_MAX];
	for (int k = 0; k < KEYS; k++) {
		uint32_t key = k % 10 == 9 ? KEY_ENTER : KEY_A; /* short lines: the window never fills */
		struct vmm_input in[2] = {{VMM_INPUT_KEY, key, 1, 0}, {VMM_INPUT_KEY, key, 0, 0}};
		request(fd, VMM_REQ_INPUT, in, sizeof(in), 100 + (uint32_t)k);
		uint64_t until = now_ns() + 200000000ull;
		bool got_damage = false;
		while (now_ns() < until && !(got_damage && n > 0)) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 50) <= 0)
				continue;
			int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
			ssize_t len = ipc_recv(fd, buf, sizeof(buf), fds, &nfds);
			uint64_t t = now_ns();
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			struct vmm_msg h;
			if (len < (ssize_t)sizeof(h))
				return;
			memcpy(&h, buf, sizeof(h));
			if (h.type == VMM_EVENT_DAMAGE && h.length >= sizeof(struct vmm_damage)) {
				struct vmm_damage d;
				memcpy(&d, buf + sizeof(h), sizeof(d));
				if (n < (int)(sizeof(lat) / sizeof(lat[0])))
					lat[n++] = t - d.flush_ns;
				got_damage = true;
			}
		}
	}
	if (!n) {
		printf("flush -> consumer notified: FAILED, no damage events\n");
		return;
	}
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_u64);
	printf("%-44s %8.1f us median, p99 %.1f us (%d flushes) | anchor: one 60 Hz frame = 16667 us\n",
	       "guest RESOURCE_FLUSH -> consumer notified", lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, n);
}

static uint64_t cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long utime = 0, stime = 0;
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
	return utime + stime;
}

static void bench_idle_cpu(pid_t pid)
{
	enum { SECONDS = 10 };
	uint64_t t0 = cpu_ticks(pid);
	sleep(SECONDS);
	uint64_t t1 = cpu_ticks(pid);
	double pct = (double)(t1 - t0) * 100.0 / (double)sysconf(_SC_CLK_TCK) / SECONDS;
	printf("%-44s %8.2f %% of one CPU over %d s (clock ticking) | anchor: a polling guest = 100 %%\n",
	       "idle desktop CPU use (VMM + guest)", pct, SECONDS);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		vmm = argv[1];
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("desktop benchmarks skipped: no usable /dev/kvm\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	char sock[] = "/tmp/vdi-bench-XXXXXX";
	int tmp = mkstemp(sock);
	if (tmp < 0)
		return 1;
	close(tmp);
	unlink(sock);
	FILE *serial;
	pid_t pid = start_desktop(sock, &serial);
	if (pid < 0) {
		printf("desktop benchmarks: FAILED, the desktop did not come up\n");
		return 1;
	}
	bench_idle_cpu(pid);
	int fd = ipc_connect(sock);
	if (fd >= 0 && request(fd, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0, 1) == 0)
		bench_flush_latency(fd);
	if (fd >= 0)
		request(fd, VMM_REQ_POWEROFF, NULL, 0, 2);
	kill(pid, SIGTERM);
	fclose(serial);
	waitpid(pid, NULL, 0);
	if (fd >= 0)
		close(fd);
	return 0;
}
