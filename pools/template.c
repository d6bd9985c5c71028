/* template.c — a pool's template: one desktop booted cold, snapshotted once
 * its guest has drawn a screen, so every later desktop of the pool starts as
 * an instant clone of it (vdi-vmm --restore DIR --clone). */
#include "template.h"
#include "launch.h"

#include "../common/log.h"
#include "../hypervisor/vmm_control.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEMPLATE_BOOT_MS   60000 /* to a screen, on a host that emulates guest kernel code */
#define TEMPLATE_SETTLE_MS 1500  /* after the first screen: the shell finishes drawing, then idles */
#define TEMPLATE_CALL_MS   30000 /* the snapshot itself */

static void template_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Whether the guest has set a scanout yet (its screen is up). */
static bool template_has_screen(const char *socket)
{
	struct vmm_surface vs;
	uint32_t len = 0;
	int r = pool_vmm_call(socket, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0, &vs, sizeof(vs), &len, 1000);
	return r == 0 && len == sizeof(vs) && vs.width && vs.height;
}

static void template_file(const char *path, struct template_file *out)
{
	struct stat st;
	if (!path[0] || stat(path, &st) < 0)
		return; /* left zero: a missing file is caught when the VMM starts */
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->size = st.st_size;
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

void pool_template_source(const char *vmm_path, const struct pool_spec *spec, struct template_source *out)
{
	memset(out, 0, sizeof(*out));
	out->template = spec->template;
	out->vcpus = spec->vcpus;
	out->memory_mib = spec->memory_mib;
	out->width = spec->width;
	out->height = spec->height;
	if (spec->template == POOL_TEMPLATE_DESKTOP) {
		template_file(vmm_path, &out->files[0]);
		return;
	}
	snprintf(out->kernel, sizeof(out->kernel), "%s", spec->kernel);
	snprintf(out->initrd, sizeof(out->initrd), "%s", spec->initrd);
	snprintf(out->disk, sizeof(out->disk), "%s", spec->disk);
	snprintf(out->cmdline, sizeof(out->cmdline), "%s", spec->cmdline);
	template_file(spec->kernel, &out->files[0]);
	template_file(spec->initrd, &out->files[1]);
	template_file(spec->disk, &out->files[2]);
}

int pool_template_prepare(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *dir,
			  int *booted)
{
	char name[DESKTOP_NAME_MAX + 16], socket[POOL_PATH_MAX];
	/* Named after the directory too: two templates of a pool may be made at once. */
	const char *slash = strrchr(dir, '/');
	snprintf(name, sizeof(name), "template-%s-%.8s", spec->name, slash ? slash + 1 : dir);
	if ((size_t)snprintf(socket, sizeof(socket), "%s/%s.sock", run_dir, name) >= 108)
		return -ENAMETOOLONG;
	unlink(socket);
	pid_t pid;
	int r = pool_launch(vmm_path, run_dir, spec, name, NULL, socket, &pid);
	if (r < 0)
		return r;
	int waited = 0;
	while (waited < TEMPLATE_BOOT_MS && !template_has_screen(socket)) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			log_error("pools: the template of pool %s exited while booting (see %s/%s.log)", spec->name,
				  run_dir, name);
			return -ECHILD;
		}
		template_sleep_ms(100);
		waited += 100;
	}
	if (waited >= TEMPLATE_BOOT_MS) {
		log_error("pools: the template of pool %s showed no screen in %d s", spec->name,
			  TEMPLATE_BOOT_MS / 1000);
		r = -ETIMEDOUT;
	} else {
		__atomic_store_n(booted, 1, __ATOMIC_RELEASE);
		template_sleep_ms(TEMPLATE_SETTLE_MS);
		char payload[sizeof(struct vmm_snapshot) + VMM_SNAPSHOT_PATH_MAX];
		struct vmm_snapshot req = {.flags = VMM_SNAPSHOT_STOP};
		size_t n = strlen(dir);
		if (n > VMM_SNAPSHOT_PATH_MAX)
			r = -ENAMETOOLONG;
		else {
			memcpy(payload, &req, sizeof(req));
			memcpy(payload + sizeof(req), dir, n);
			r = pool_vmm_call(socket, VMM_REQ_SNAPSHOT, payload, (uint32_t)(sizeof(req) + n), NULL, 0, NULL,
					  TEMPLATE_CALL_MS);
		}
		if (r < 0)
			log_error("pools: the template of pool %s could not be snapshotted: %s", spec->name,
				  strerror(-r));
	}
	/* Powered off by the snapshot; killed otherwise. */
	for (int i = 0; i < 100 && waitpid(pid, NULL, WNOHANG) != pid; i++) {
		if (i == 50 || r < 0)
			kill(pid, SIGKILL);
		template_sleep_ms(50);
	}
	unlink(socket);
	if (r == 0)
		log_info("pools: pool %s has a template for instant clones in %s", spec->name, dir);
	return r;
}
