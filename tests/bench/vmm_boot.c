/* vmm_boot.c — `make bench` figures for vdi-vmm: start to the guest's first
 * serial byte, VMM memory overhead, VMs started per second with 20 at once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *vmm = "build/bin/vdi-vmm";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Starts vdi-vmm with the guest's serial console on a pipe. */
static pid_t start_vm(const char *cmdline, const char *control, int *out_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO); /* "guest powered off" twenty times is noise here */
		if (control)
			execl(vmm, vmm, "--mem", "128", "--guest", "desktop", "--cmdline", cmdline, "--control",
			      control, (char *)NULL);
		else
			execl(vmm, vmm, "--mem", "128", "--guest", "desktop", "--cmdline", cmdline, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static int first_byte(int fd)
{
	char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static void drain_and_wait(pid_t pid, int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
	close(fd);
	waitpid(pid, NULL, 0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void bench_first_byte(void)
{
	enum { RUNS = 20 };
	double t[RUNS];
	for (int i = 0; i < RUNS; i++) {
		int fd;
		double t0 = now_ms();
		pid_t pid = start_vm("test=poweroff", NULL, &fd);
		if (pid < 0 || first_byte(fd) < 0) {
			printf("first serial byte: FAILED to start vdi-vmm\n");
			return;
		}
		t[i] = now_ms() - t0;
		drain_and_wait(pid, fd);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("%-44s %8.1f ms median (min %.1f, max %.1f) | anchor: Firecracker boots to init < 125 ms\n",
	       "vdi-vmm start -> guest's first serial byte", (t[RUNS / 2 - 1] + t[RUNS / 2]) / 2, t[0], t[RUNS - 1]);
}

static void bench_overhead(void)
{
	char sock[] = "/tmp/vdi-bench-XXXXXX";
	int tmp = mkstemp(sock);
	if (tmp < 0)
		return;
	close(tmp);
	unlink(sock);
	int fd;
	pid_t pid = start_vm("idle", sock, &fd);
	char line[256];
	FILE *serial = fdopen(fd, "r");
	while (fgets(line, sizeof(line), serial) && !strstr(line, "vdi-guest: idle")) {
	}
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s ctl %s stats", vmm, sock);
	FILE *p = popen(cmd, "r");
	unsigned long long rss = 0, touched = 0, v;
	char key[64];
	while (p && fscanf(p, "%63s %llu", key, &v) == 2) {
		if (!strcmp(key, "vmm_rss_bytes"))
			rss = v;
		else if (!strcmp(key, "guest_ram_touched_bytes"))
			touched = v;
	}
	if (p)
		pclose(p);
	snprintf(cmd, sizeof(cmd), "%s ctl %s poweroff >/dev/null", vmm, sock);
	if (system(cmd) != 0)
		kill(pid, SIGTERM);
	fclose(serial);
	waitpid(pid, NULL, 0);
	printf("%-44s %8.2f MiB (RSS %.2f MiB - guest RAM touched %.2f MiB) | anchor: Firecracker < 5 MiB\n",
	       "VMM memory overhead, idle in-tree guest", (double)(rss - touched) / 1048576.0, (double)rss / 1048576.0,
	       (double)touched / 1048576.0);
}

static void bench_parallel(void)
{
	enum { N = 20 };
	pid_t pid[N];
	int fd[N];
	double t0 = now_ms();
	for (int i = 0; i < N; i++)
		pid[i] = start_vm("test=poweroff", NULL, &fd[i]);
	for (int i = 0; i < N; i++)
		if (pid[i] < 0 || first_byte(fd[i]) < 0)
			printf("parallel start: VM %d failed\n", i);
	double first_all = now_ms() - t0;
	for (int i = 0; i < N; i++)
		drain_and_wait(pid[i], fd[i]);
	double done_all = now_ms() - t0;
	printf("%-44s %8.1f VMs/s (all 20 printing after %.0f ms; all powered off after %.0f ms)\n",
	       "VMs started per second, 20 in parallel", N * 1000.0 / first_all, first_all, done_all);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		vmm = argv[1];
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("vdi-vmm benchmarks skipped: no usable /dev/kvm\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	bench_first_byte();
	bench_overhead();
	bench_parallel();
	return 0;
}
