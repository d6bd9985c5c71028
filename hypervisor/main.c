/* main.c — vdi-vmm: one KVM virtual machine per process. Parses the command
 * line, builds the VM and its devices, boots the guest, waits for it to end. */
#include "../common/log.h"
#include "boot/boot.h"
#include "control.h"
#include "devices/devices.h"
#include "audio.h"
#include "scanout.h"
#include "snapshot_vm.h"
#include "vmm.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses (documented in --help). */
enum {
	EXIT_POWEROFF = 0,
	EXIT_VMM_ERROR = 1,
	EXIT_GUEST_CRASH = 2,
	EXIT_GUEST_RESET = 3,
	EXIT_GUEST_FAILURE = 4,
};

#define VMM_DEFAULT_LINUX_CMDLINE "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1"

static const char vmm_usage[] =
    "usage: vdi-vmm [--mem MIB] [--cpus N] (--guest desktop | --kernel FILE [--initrd FILE])\n"
    "               [--cmdline STRING] [--serial stdout|file:PATH|none] [--serial-max BYTES]\n"
    "               [--control PATH]\n"
    "               [--display WxH] [--label TEXT] [--sound | --no-sound]\n"
    "       vdi-vmm --restore DIR [--clone] [--label TEXT] [--serial WHERE] [--control PATH]\n"
    "       vdi-vmm ctl SOCKET COMMAND (vdi-vmm ctl --help lists them)\n"
    "\n"
    "Runs one virtual machine on /dev/kvm until its guest powers off.\n"
    "\n"
    "  --mem MIB         guest RAM in MiB (default 256)\n"
    "  --cpus N          vCPUs, 1 to 64 (default 1)\n"
    "  --guest desktop   boot the in-tree desktop guest built into vdi-vmm\n"
    "  --kernel FILE     boot a Linux kernel: bzImage (64-bit boot protocol) or vmlinux ELF\n"
    "  --initrd FILE     initial ramdisk for --kernel\n"
    "  --cmdline STRING  guest command line (Linux default: \"" VMM_DEFAULT_LINUX_CMDLINE "\";\n"
    "                    in-tree guest: words such as selftest, test=smp)\n"
    "  --serial WHERE    the guest's COM1: stdout (default), file:PATH (created 0600, emptied), or none\n"
    "  --serial-max BYTES  at most this much output reaches WHERE; the rest is dropped (default: no cap)\n"
    "  --control PATH    serve the control socket at PATH (see vmm_control.h)\n"
    "  --display WxH     the virtual display's size (default 1024x768; clients may change it)\n"
    "  --label TEXT      the label the desktop guest shows on its taskbar (the user's name)\n"
    "  --sound, --no-sound  a virtio-snd device (48 kHz stereo out, mono microphone) whose\n"
    "                    streams the control socket carries (default: on with --guest desktop,\n"
    "                    off with --kernel; a restored VM has it if its snapshot does)\n"
    "  --restore DIR     start from a snapshot (vdi-vmm ctl SOCKET snapshot DIR): RAM, vCPUs and\n"
    "                    devices as they were; the guest goes on where it stopped\n"
    "  --clone           with --restore: map DIR/memory copy-on-write, shared with every other\n"
    "                    clone of it (an instant clone; give each its own --label)\n"
    "  --help            this text\n"
    "\n"
    "Exit status: 0 the guest powered off; 1 vdi-vmm could not run the VM; 2 the guest crashed\n"
    "(triple fault, or something the VMM cannot serve; a report names the exit and RIP);\n"
    "3 the guest reset the machine; 4 the in-tree guest reported a failure; 128+N killed by signal N.\n";

struct vmm_options {
	uint64_t mem_mib;
	int cpus;
	const char *guest;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	const char *serial;
	uint64_t serial_max; /* 0: no cap */
	const char *control;
	uint32_t width, height;
	const char *label;
	const char *restore;
	bool clone;
	bool shaped; /* --mem, --cpus, --display or --cmdline given */
	int sound;   /* 1 --sound, 0 --no-sound, -1 the default */
};

static int vmm_parse_number(const char *flag, const char *text, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max) {
		log_error("%s '%s': expected a whole number from %lld to %lld", flag, text, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int vmm_parse_display(const char *text, uint32_t *width, uint32_t *height)
{
	unsigned w, h;
	char extra;
	if (sscanf(text, "%ux%u%c", &w, &h, &extra) != 2 || w < 1 || h < 1 || w > VIRTIO_GPU_MAX_WIDTH ||
	    h > VIRTIO_GPU_MAX_HEIGHT || (uint64_t)w * h > VIRTIO_GPU_MAX_DISPLAY_PIXELS) {
		log_error("--display '%s': expected WIDTHxHEIGHT, each 1 to %d, at most %u pixels (8192x4096)", text,
			  VIRTIO_GPU_MAX_WIDTH, VIRTIO_GPU_MAX_DISPLAY_PIXELS);
		return -EINVAL;
	}
	*width = w;
	*height = h;
	return 0;
}

static int vmm_parse_options(int argc, char **argv, struct vmm_options *o)
{
	static const struct option longopts[] = {
	    {"mem", required_argument, NULL, 'm'},
	    {"cpus", required_argument, NULL, 'c'},
	    {"guest", required_argument, NULL, 'g'},
	    {"kernel", required_argument, NULL, 'k'},
	    {"initrd", required_argument, NULL, 'i'},
	    {"cmdline", required_argument, NULL, 'l'},
	    {"serial", required_argument, NULL, 's'},
	    {"control", required_argument, NULL, 'C'},
	    {"display", required_argument, NULL, 'd'},
	    {"label", required_argument, NULL, 'L'},
	    {"restore", required_argument, NULL, 'R'},
	    {"clone", no_argument, NULL, 'K'},
	    {"serial-max", required_argument, NULL, 'S'},
	    {"sound", no_argument, NULL, 'a'},
	    {"no-sound", no_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	*o = (struct vmm_options){
	    .mem_mib = 256, .cpus = 1, .serial = "stdout", .width = 1024, .height = 768, .sound = -1};
	opterr = 0;
	int c;
	long long v;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			/* 2^40 MiB: far past any host; the real bound is checked against the host. */
			if (vmm_parse_number("--mem", optarg, 2, 1ll << 40, &v) < 0)
				return -EINVAL;
			o->mem_mib = (uint64_t)v;
			o->shaped = true;
			break;
		case 'c':
			if (vmm_parse_number("--cpus", optarg, 1, VM_MAX_CPUS, &v) < 0)
				return -EINVAL;
			o->cpus = (int)v;
			o->shaped = true;
			break;
		case 'g':
			o->guest = optarg;
			break;
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'l':
			o->cmdline = optarg;
			o->shaped = true;
			break;
		case 's':
			o->serial = optarg;
			break;
		case 'S':
			if (vmm_parse_number("--serial-max", optarg, 1, 1ll << 40, &v) < 0)
				return -EINVAL;
			o->serial_max = (uint64_t)v;
			break;
		case 'C':
			o->control = optarg;
			break;
		case 'd':
			if (vmm_parse_display(optarg, &o->width, &o->height) < 0)
				return -EINVAL;
			o->shaped = true;
			break;
		case 'R':
			o->restore = optarg;
			break;
		case 'K':
			o->clone = true;
			break;
		case 'a':
		case 'A':
			o->sound = c == 'a';
			o->shaped = true;
			break;
		case 'L':
			if (strlen(optarg) > VMM_LABEL_MAX) {
				log_error("--label: at most %d bytes", VMM_LABEL_MAX);
				return -EINVAL;
			}
			o->label = optarg;
			break;
		case 'h':
			fputs(vmm_usage, stdout);
			exit(0);
		case ':':
			log_error("%s needs a value (see vdi-vmm --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see vdi-vmm --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see vdi-vmm --help)", argv[optind]);
		return -EINVAL;
	}
	if (o->clone && !o->restore) {
		log_error("--clone needs --restore DIR");
		return -EINVAL;
	}
	if (o->restore && (o->guest || o->kernel || o->initrd || o->shaped)) {
		log_error("--restore takes the guest, its memory, vCPUs, display and sound from the snapshot: drop "
			  "--guest, --kernel, --initrd, --cmdline, --mem, --cpus, --display, --sound and --no-sound");
		return -EINVAL;
	}
	if (!o->restore && !o->guest == !o->kernel) {
		log_error("give exactly one of --guest desktop or --kernel FILE (see vdi-vmm --help)");
		return -EINVAL;
	}
	if (o->guest && strcmp(o->guest, "desktop")) {
		log_error("--guest '%s': the built-in guest is 'desktop'", o->guest);
		return -EINVAL;
	}
	if (o->initrd && !o->kernel) {
		log_error("--initrd needs --kernel");
		return -EINVAL;
	}
	if (strcmp(o->serial, "stdout") && strcmp(o->serial, "none") && strncmp(o->serial, "file:", 5)) {
		log_error("--serial '%s': expected stdout, file:PATH or none", o->serial);
		return -EINVAL;
	}
	if (!strcmp(o->serial, "file:")) {
		log_error("--serial file: needs a path");
		return -EINVAL;
	}
	if (!o->cmdline)
		o->cmdline = o->kernel ? VMM_DEFAULT_LINUX_CMDLINE : "";
	return 0;
}

static int vmm_open_serial(const char *serial)
{
	if (!strcmp(serial, "stdout"))
		return dup(STDOUT_FILENO);
	if (!strcmp(serial, "none"))
		return -1;
	const char *path = serial + 5;
	/* What a user types may show on it: for its owner only, also when the file was there before. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		int e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd < 0)
		log_error("--serial file:%s: %s", path, strerror(errno));
	return fd < 0 ? -2 : fd;
}

static void vmm_on_reset(void *opaque)
{
	vm_stop(opaque, VM_STOP_RESET, 0, "guest reset the machine (i8042 reset line)");
}

static void vmm_on_poweroff(void *opaque, uint32_t code)
{
	if (code == 0)
		vm_stop(opaque, VM_STOP_POWEROFF, 0, "guest powered off");
	else
		vm_stop(opaque, VM_STOP_GUEST_FAILURE, (int)code, "guest powered off reporting failure code %u", code);
}

struct vmm_devices {
	struct uart *uart;
	struct rtc *rtc;
	struct i8042 *i8042;
	struct poweroff *poweroff;
	struct pci_bus *pci;
	struct label *label;
	struct scanout *scanout;
	struct virtio_gpu *gpu;
	struct virtio_input *keyboard;
	struct virtio_input *tablet;
	struct virtio_rng *rng;
	struct audio *audio;
	struct virtio_snd *snd; /* NULL without sound */
};

/* PCI INTx lines for the virtio devices: ISA IRQs no platform device uses. */
static const uint32_t vmm_pci_gsis[] = {10, 11, 5, 9, 7};

static const struct virtio_pci_config *vmm_slot(struct virtio_pci_config *cfg, int n)
{
	cfg->gsi = vmm_pci_gsis[n];
	cfg->bar_address = VM_PCI_MMIO_START + (uint64_t)n * VIRTIO_PCI_BAR_SIZE;
	return cfg;
}

/* The virtio devices, in slot order gpu, keyboard, tablet, rng, and sound
 * when it is on, with BARs laid out from the bottom of the PCI hole as
 * firmware would. */
static int vmm_create_virtio(struct vm *vm, const struct vmm_options *o, bool sound, struct vmm_devices *d)
{
	struct virtio_pci_config cfg = {
	    .pci = d->pci,
	    .mmio = &vm->mmio,
	    .memory = vm->memory,
	    .irq = vm->irq,
	    .msi = vm->msi,
	};
	struct gpu_scanout_ops ops = scanout_gpu_ops(d->scanout);
	d->gpu = virtio_gpu_create(vmm_slot(&cfg, 0), o->width, o->height, &ops);
	d->keyboard = d->gpu ? virtio_input_create(vmm_slot(&cfg, 1), VIRTIO_INPUT_KEYBOARD) : NULL;
	d->tablet = d->keyboard ? virtio_input_create(vmm_slot(&cfg, 2), VIRTIO_INPUT_TABLET) : NULL;
	d->rng = d->tablet ? virtio_rng_create(vmm_slot(&cfg, 3)) : NULL;
	if (!d->rng)
		return -ENOMEM;
	if (!sound)
		return 0;
	d->audio = audio_create();
	if (d->audio) {
		struct snd_host_ops host = audio_snd_ops(d->audio);
		d->snd = virtio_snd_create(vmm_slot(&cfg, 4), &host, NULL);
	}
	return d->snd ? 0 : -ENOMEM;
}

static int vmm_create_devices(struct vm *vm, const struct vmm_options *o, bool sound, int serial_fd,
			      struct vmm_devices *d)
{
	d->uart = uart_create(&vm->pio, UART_COM1_BASE, UART_COM1_IRQ, vm->irq, serial_fd);
	if (d->uart && o->serial_max)
		uart_set_output_limit(d->uart, o->serial_max);
	d->rtc = rtc_create(&vm->pio);
	d->i8042 = i8042_create(&vm->pio, vmm_on_reset, vm);
	d->poweroff = poweroff_create(&vm->pio, vmm_on_poweroff, vm);
	d->pci = pci_create(&vm->pio);
	d->label = label_create(&vm->pio, vm->msi);
	d->scanout = scanout_create();
	if (!d->uart || !d->rtc || !d->i8042 || !d->poweroff || !d->pci || !d->label || !d->scanout ||
	    vmm_create_virtio(vm, o, sound, d) < 0) {
		log_error("cannot create the platform devices");
		return -ENOMEM;
	}
	if (o->label && !o->restore)
		label_set(d->label, o->label, strlen(o->label));
	return 0;
}

static struct snapshot_devices vmm_snapshot_devices(const struct vmm_devices *d)
{
	return (struct snapshot_devices){
	    .uart = d->uart,
	    .rtc = d->rtc,
	    .i8042 = d->i8042,
	    .poweroff = d->poweroff,
	    .pci = d->pci,
	    .label = d->label,
	    .gpu = d->gpu,
	    .keyboard = d->keyboard,
	    .tablet = d->tablet,
	    .rng = d->rng,
	    .snd = d->snd,
	};
}

/* A VM from a snapshot opened (and verified) by snapshot_open: its RAM
 * from DIR/memory, the same CPUID as when it was taken, then every vCPU's
 * and device's state. A label given now moves the label's generation past
 * the restored guest's, so it redraws its taskbar. */
static int vmm_restore(struct vm *vm, const struct vmm_options *o, int serial_fd, struct vmm_devices *d,
		       struct snap_image *img)
{
	char mem_path[PATH_MAX];
	snprintf(mem_path, sizeof(mem_path), "%s/memory", o->restore);
	struct vm_config cfg = {
	    .mem_bytes = img->header.mem_bytes,
	    .cpus = (int)img->header.vcpus,
	    .mem_file = mem_path,
	    .mem_private = o->clone,
	};
	int r;
	bool sound = snap_image_find(img, SNAP_SEC_VIRTIO_SND, 0) != NULL;
	if ((r = vm_create(vm, &cfg)) < 0 || (r = vmm_create_devices(vm, o, sound, serial_fd, d)) < 0 ||
	    (r = cpuid_init(vm, img->header.flags & SNAP_F_CPUID_PROBED)) < 0)
		return r;
	struct snapshot_devices all = vmm_snapshot_devices(d);
	if ((r = snapshot_restore(vm, &all, img, o->restore)) < 0)
		return r;
	if (o->label)
		label_set(d->label, o->label, strlen(o->label));
	log_debug("restored %s%s", o->restore, o->clone ? " as a clone" : "");
	return 0;
}

static void vmm_destroy_devices(struct vmm_devices *d)
{
	if (d->snd)
		virtio_snd_destroy(d->snd);
	if (d->audio)
		audio_destroy(d->audio);
	if (d->rng)
		virtio_rng_destroy(d->rng);
	if (d->tablet)
		virtio_input_destroy(d->tablet);
	if (d->keyboard)
		virtio_input_destroy(d->keyboard);
	if (d->gpu)
		virtio_gpu_destroy(d->gpu);
	if (d->scanout)
		scanout_destroy(d->scanout);
	if (d->label)
		label_destroy(d->label);
	if (d->pci)
		pci_destroy(d->pci);
	if (d->poweroff)
		poweroff_destroy(d->poweroff);
	if (d->i8042)
		i8042_destroy(d->i8042);
	if (d->rtc)
		rtc_destroy(d->rtc);
	if (d->uart)
		uart_destroy(d->uart);
}

static int vmm_boot(struct vm *vm, const struct vmm_options *o)
{
	struct boot_entry entry;
	int r;
	if (o->kernel)
		r = boot_load_linux(vm, o->kernel, o->initrd, o->cmdline, &entry);
	else
		r = boot_load_vdi_guest(vm, vdi_guest_image, (size_t)(vdi_guest_image_end - vdi_guest_image),
					o->cmdline, &entry);
	if (r < 0)
		return r;
	/* Only Linux needs the host probed: the in-tree guest never uses the
	 * features that some hosts advertise but cannot run. */
	if ((r = cpuid_init(vm, o->kernel != NULL)) < 0)
		return r;
	if ((r = boot_write_long_mode_tables(vm)) < 0) {
		log_error("no room for the boot page tables in guest RAM");
		return r;
	}
	for (int i = 0; i < vm->ncpus; i++)
		if ((r = boot_setup_vcpu(&vm->vcpus[i], &entry)) < 0)
			return r;
	return 0;
}

/* Waits until the VM stops or a termination signal arrives. */
static void vmm_wait(struct vm *vm, int sig_fd)
{
	struct pollfd p[2] = {{.fd = vm->stop_eventfd, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
	while (!vm_stopped(vm)) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				vm_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo, "stopped by signal %u (%s)",
					si.ssi_signo, strsignal((int)si.ssi_signo));
		}
	}
}

static int vmm_exit_status(struct vm *vm)
{
	switch ((enum vm_stop_reason)atomic_load(&vm->stop_reason)) {
	case VM_STOP_POWEROFF:
		log_info("%s", vm->stop_message);
		return EXIT_POWEROFF;
	case VM_STOP_GUEST_FAILURE:
		log_error("%s", vm->stop_message);
		return EXIT_GUEST_FAILURE;
	case VM_STOP_RESET:
		log_info("%s", vm->stop_message);
		return EXIT_GUEST_RESET;
	case VM_STOP_CRASH:
		log_error("guest crashed: %s", vm->stop_message);
		return EXIT_GUEST_CRASH;
	case VM_STOP_SIGNAL:
		log_info("%s", vm->stop_message);
		return 128 + vm->stop_code;
	case VM_STOP_ERROR:
	case VM_RUNNING:
	default:
		log_error("%s", vm->stop_message[0] ? vm->stop_message : "the VM stopped unexpectedly");
		return EXIT_VMM_ERROR;
	}
}

int main(int argc, char **argv)
{
	log_set_program("vdi-vmm");
	log_init_from_env();
	if (argc >= 2 && !strcmp(argv[1], "ctl"))
		return control_client_main(argc - 1, argv + 1);

	struct vmm_options o;
	if (vmm_parse_options(argc, argv, &o) < 0)
		return EXIT_VMM_ERROR;
	if (o.kernel && access(o.kernel, R_OK) < 0) {
		log_error("--kernel %s: %s", o.kernel, strerror(errno));
		return EXIT_VMM_ERROR;
	}
	if (o.initrd && access(o.initrd, R_OK) < 0) {
		log_error("--initrd %s: %s", o.initrd, strerror(errno));
		return EXIT_VMM_ERROR;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Termination signals are read from a signalfd by this thread only. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	int sig_fd = signalfd(-1, &term, SFD_CLOEXEC);

	int serial_fd = vmm_open_serial(o.serial);
	if (serial_fd == -2)
		return EXIT_VMM_ERROR;

	static struct vm vm;
	struct vmm_devices devices = {0};
	struct control *control = NULL;
	int status = EXIT_VMM_ERROR;
	if (o.restore) {
		struct snap_image img;
		if (snapshot_open(o.restore, &img) < 0)
			goto out;
		int r = vmm_restore(&vm, &o, serial_fd, &devices, &img);
		snap_image_free(&img);
		if (r < 0)
			goto out;
	} else {
		struct vm_config cfg = {.mem_bytes = o.mem_mib << 20, .cpus = o.cpus};
		bool sound = o.sound >= 0 ? o.sound : o.guest != NULL;
		if (vm_create(&vm, &cfg) < 0 || vmm_create_devices(&vm, &o, sound, serial_fd, &devices) < 0 ||
		    vmm_boot(&vm, &o) < 0)
			goto out;
	}
	struct snapshot_devices all = vmm_snapshot_devices(&devices);
	struct control_devices control_devices = {
	    .scanout = devices.scanout,
	    .gpu = devices.gpu,
	    .keyboard = devices.keyboard,
	    .tablet = devices.tablet,
	    .label = devices.label,
	    .audio = devices.audio,
	    .all = &all,
	};
	if (devices.snd && virtio_snd_start_clock(devices.snd) < 0) {
		log_error("cannot start the sound device's clock");
		goto out;
	}
	if (o.control && !(control = control_start(&vm, &control_devices, o.control)))
		goto out;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	vm.start_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	if (vcpus_start(&vm) == 0)
		vmm_wait(&vm, sig_fd);
	vcpus_join(&vm);
	status = vmm_exit_status(&vm);
out:
	control_stop(control);
	vmm_destroy_devices(&devices);
	vm_destroy(&vm);
	if (serial_fd >= 0)
		close(serial_fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return status;
}
