/* main.c — vdi-server. Today it is the display gateway serving one running
 * desktop (a vdi-vmm's control socket) to every client over VNC and RDP;
 * the broker, pools and the embedded default come with the broker issue. */
#include "../common/log.h"
#include "../display/display.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char server_usage[] =
    "usage: vdi-server --desktop SOCKET [--vnc-port N] [--rdp-port N] [--data-dir DIR]\n"
    "\n"
    "Serves one desktop, the VM behind a vdi-vmm control socket, to every client.\n"
    "\n"
    "  --desktop SOCKET  the vdi-vmm control socket of the desktop to serve\n"
    "  --vnc-port N      VNC (RFB 3.8, and WebSocket for noVNC) port; 0: off (default 5900)\n"
    "  --rdp-port N      RDP (TLS) port; 0: off (default 3389)\n"
    "  --data-dir DIR    where state such as the TLS certificate lives (default ./vdi-data);\n"
    "                    RDP uses DIR/tls.crt and DIR/tls.key, made self-signed when absent\n"
    "  --help            this text\n";

struct server_options {
	const char *desktop;
	const char *data_dir;
	int vnc_port;
	int rdp_port;
};

static int server_port(const char *flag, const char *text, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > 65535) {
		log_error("%s '%s': expected a port from 0 to 65535", flag, text);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int server_parse(int argc, char **argv, struct server_options *o)
{
	static const struct option longopts[] = {
	    {"desktop", required_argument, NULL, 'd'},  {"vnc-port", required_argument, NULL, 'v'},
	    {"rdp-port", required_argument, NULL, 'r'}, {"data-dir", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	*o = (struct server_options){.data_dir = "vdi-data", .vnc_port = 5900, .rdp_port = 3389};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->desktop = optarg;
			break;
		case 'v':
			if (server_port("--vnc-port", optarg, &o->vnc_port) < 0)
				return -EINVAL;
			break;
		case 'r':
			if (server_port("--rdp-port", optarg, &o->rdp_port) < 0)
				return -EINVAL;
			break;
		case 'D':
			o->data_dir = optarg;
			break;
		case 'h':
			fputs(server_usage, stdout);
			exit(0);
		case ':':
			log_error("%s needs a value (see vdi-server --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see vdi-server --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see vdi-server --help)", argv[optind]);
		return -EINVAL;
	}
	if (!o->desktop) {
		log_error("--desktop SOCKET is needed: the broker that assigns desktops is not there yet");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	log_set_program("vdi-server");
	log_init_from_env();
	struct server_options o;
	if (server_parse(argc, argv, &o) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);

	struct surface *desktop = surface_attach_vmm(o.desktop);
	if (!desktop)
		return 1;
	struct display_hooks hooks = display_hooks_one_surface(desktop);
	struct display_listen vnc_listen = {.port = o.vnc_port}, rdp_listen = {.port = o.rdp_port};
	struct vnc_server *vnc = NULL;
	if (o.vnc_port && !(vnc = vnc_server_start(&hooks, &vnc_listen))) {
		surface_destroy(desktop);
		return 1;
	}
	struct rdp_server *rdp = NULL;
	if (o.rdp_port && !(rdp = rdp_server_start(&hooks, &rdp_listen, o.data_dir))) {
		vnc_server_stop(vnc);
		surface_destroy(desktop);
		return 1;
	}
	log_info("serving %s: VNC on port %d, RDP on port %d", o.desktop, o.vnc_port, o.rdp_port);
	int sig;
	sigwait(&term, &sig);
	log_info("stopping on signal %d", sig);
	rdp_server_stop(rdp);
	vnc_server_stop(vnc);
	surface_destroy(desktop);
	return 0;
}
