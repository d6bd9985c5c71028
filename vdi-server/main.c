/* main.c — vdi-server: reads the configuration (or its embedded default),
 * starts the broker with its pools and the RDP and VNC gateways on one
 * public port each, and runs until SIGINT or SIGTERM. Desktops keep running
 * when it stops; the next start adopts them. `--desktop SOCKET` instead
 * serves one running VM to every client without a login (development and
 * the display tests). */
#include "../broker/broker.h"
#include "../common/conn_limit.h"
#include "../common/fd.h"
#include "../common/log.h"
#include "../common/mem_trim.h"
#include "../common/tls.h"
#include "../display/display.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

static const char server_usage[] =
    "usage: vdi-server [--config FILE] [--data-dir DIR] [--print-config]\n"
    "       vdi-server --desktop SOCKET [--vnc-port N] [--rdp-port N] [--data-dir DIR]\n"
    "\n"
    "Without --desktop: the VDI server. Users connect with an RDP or VNC client,\n"
    "log in, and get a desktop from a pool (see README, Configuration).\n"
    "\n"
    "  --config FILE     the configuration (default: the embedded one: pool 'demo'\n"
    "                    of 2 desktops, user 'demo', RDP 3389, VNC 5900, API 8443)\n"
    "  --data-dir DIR    overrides [server] data_dir (default ./vdi-data)\n"
    "  --print-config    print the effective configuration and exit\n"
    "\n"
    "With --desktop: serves one running desktop, the VM behind a vdi-vmm control\n"
    "socket, to every client, with no login (development and tests).\n"
    "\n"
    "  --desktop SOCKET  the vdi-vmm control socket of the desktop to serve\n"
    "  --vnc-port N      VNC (RFB 3.8, and WebSocket for noVNC) port; 0: off (default 5900)\n"
    "  --rdp-port N      RDP (TLS) port; 0: off (default 3389)\n"
    "  --help            this text\n";

struct server_options {
	const char *config;
	const char *desktop;
	const char *data_dir;
	bool print_config;
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
	    {"config", required_argument, NULL, 'c'},   {"print-config", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	*o = (struct server_options){.vnc_port = 5900, .rdp_port = 3389};
	bool ports = false;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->desktop = optarg;
			break;
		case 'v':
			ports = true;
			if (server_port("--vnc-port", optarg, &o->vnc_port) < 0)
				return -EINVAL;
			break;
		case 'r':
			ports = true;
			if (server_port("--rdp-port", optarg, &o->rdp_port) < 0)
				return -EINVAL;
			break;
		case 'D':
			o->data_dir = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'p':
			o->print_config = true;
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
	if (o->desktop && (o->config || o->print_config)) {
		log_error("--desktop serves one VM without the broker: it takes no --config");
		return -EINVAL;
	}
	if (!o->desktop && ports) {
		log_error("--vnc-port and --rdp-port go with --desktop; the server's ports are in its configuration");
		return -EINVAL;
	}
	return 0;
}

static sigset_t server_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	return term;
}

/* --desktop: one VM for every client. */
static int serve_one_desktop(const struct server_options *o)
{
	const char *data_dir = o->data_dir ? o->data_dir : "vdi-data";
	sigset_t term = server_signals();
	struct surface *desktop = surface_attach_vmm(o->desktop);
	if (!desktop)
		return 1;
	char cert[4096], key[4096];
	snprintf(cert, sizeof(cert), "%s/tls.crt", data_dir);
	snprintf(key, sizeof(key), "%s/tls.key", data_dir);
	struct display_hooks hooks = display_hooks_one_surface(desktop);
	struct display_listen vnc_listen = {.port = o->vnc_port}, rdp_listen = {.port = o->rdp_port};
	struct vnc_server *vnc = NULL;
	if (o->vnc_port && !(vnc = vnc_server_start(&hooks, &vnc_listen,
						    &(struct vnc_security){.cert_path = cert, .key_path = key}))) {
		surface_destroy(desktop);
		return 1;
	}
	struct rdp_server *rdp = NULL;
	if (o->rdp_port && !(rdp = rdp_server_start(&hooks, &rdp_listen, cert, key))) {
		vnc_server_stop(vnc);
		surface_destroy(desktop);
		return 1;
	}
	log_info("serving %s: VNC on port %d, RDP on port %d", o->desktop, o->vnc_port, o->rdp_port);
	int sig;
	sigwait(&term, &sig);
	log_info("stopping on signal %d", sig);
	rdp_server_stop(rdp);
	vnc_server_stop(vnc);
	surface_destroy(desktop);
	return 0;
}

static void pool_from_config(const struct vdi_pool_config *c, struct pool_spec *s)
{
	pool_spec_defaults(s, c->name);
	s->template = c->template == VDI_TEMPLATE_LINUX ? POOL_TEMPLATE_LINUX : POOL_TEMPLATE_DESKTOP;
	snprintf(s->kernel, sizeof(s->kernel), "%s", c->kernel ? c->kernel : "");
	snprintf(s->initrd, sizeof(s->initrd), "%s", c->initrd ? c->initrd : "");
	snprintf(s->disk, sizeof(s->disk), "%s", c->disk ? c->disk : "");
	snprintf(s->cmdline, sizeof(s->cmdline), "%s", c->cmdline ? c->cmdline : "");
	s->vcpus = c->vcpus;
	s->memory_mib = c->memory_mib;
	s->width = c->display_width;
	s->height = c->display_height;
	s->size = c->size;
	s->assignment = c->assignment == VDI_ASSIGN_DEDICATED ? POOL_DEDICATED : POOL_FLOATING;
	s->on_logoff = c->on_logoff == VDI_LOGOFF_REFRESH  ? POOL_LOGOFF_REFRESH
		       : c->on_logoff == VDI_LOGOFF_DELETE ? POOL_LOGOFF_DELETE
							   : POOL_LOGOFF_KEEP;
	snprintf(s->entitlement, sizeof(s->entitlement), "%s", c->entitlement.text);
	s->disconnect_timeout_s = (unsigned)c->disconnect_timeout;
	s->min = c->min;
	s->spare = c->spare;
	s->clone = c->clone;
	s->on_disconnect = c->on_disconnect == VDI_DISCONNECT_SUSPEND    ? POOL_DISCONNECT_SUSPEND
			   : c->on_disconnect == VDI_DISCONNECT_POWEROFF ? POOL_DISCONNECT_POWEROFF
									 : POOL_DISCONNECT_NONE;
	s->on_disconnect_after_s = (unsigned)c->on_disconnect_after;
	s->surplus = c->surplus == VDI_SURPLUS_SUSPEND ? POOL_SURPLUS_SUSPEND
		     : c->surplus == VDI_SURPLUS_KEEP  ? POOL_SURPLUS_KEEP
						       : POOL_SURPLUS_POWEROFF;
	s->surplus_after_s = (unsigned)c->surplus_after;
	s->idle_timeout_s = (unsigned)c->idle_timeout;
	s->serial = c->serial == VDI_SERIAL_FILE ? POOL_SERIAL_FILE : POOL_SERIAL_OFF;
	s->serial_max = c->serial_max;
	char err[200];
	if (c->schedule)
		power_schedule_parse(c->schedule, s->windows, &s->nwindows, err, sizeof(err)); /* checked on load */
}

struct user_seen {
	const char *name;
	bool found;
};
static void user_seen(void *opaque, const char *user, const char *groups)
{
	(void)groups;
	struct user_seen *u = opaque;
	if (strcmp(user, u->name) == 0)
		u->found = true;
}

/* The embedded default's user: `demo`, with a random password made on first
 * start, kept only as a hash. The password is printed once, then. */
static int demo_user(struct auth *auth, char *password, size_t size)
{
	struct user_seen seen = {.name = "demo"};
	if (auth_user_list(auth, user_seen, &seen) < 0)
		return -EIO;
	password[0] = '\0';
	if (seen.found)
		return 0;
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t random[16];
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
		return -EIO;
	size_t n = size - 1 < sizeof(random) ? size - 1 : sizeof(random);
	for (size_t i = 0; i < n; i++)
		password[i] = alphabet[random[i] % (sizeof(alphabet) - 1)];
	password[n] = '\0';
	return auth_user_add(auth, "demo", password, NULL);
}

/* Descriptors a connection may hold at once (RDP: its socket, the front's
 * socket pair, the viewer's and the broker's eventfds, the graphics
 * channel's, the time limit's duplicate, FreeRDP's own; the soak measured
 * 8.7 on average over VNC and RDP), and those kept for everything else. */
#define SERVER_FDS_PER_CONN 10
#define SERVER_FDS_SPARE    256

/* The shared connection caps, max_connections cut to what the descriptor
 * limit holds: past it, new connections are refused politely rather than
 * failing wherever a descriptor runs out. */
static struct conn_limit *server_limit(const struct vdi_config *cfg)
{
	struct rlimit rl;
	unsigned max = cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t fit =
		    rl.rlim_cur > SERVER_FDS_SPARE ? (rl.rlim_cur - SERVER_FDS_SPARE) / SERVER_FDS_PER_CONN : 1;
		if (fit < max) {
			log_warn("max_connections %u: the descriptor limit (%llu, ulimit -n) holds %llu; using that",
				 max, (unsigned long long)rl.rlim_cur, (unsigned long long)fit);
			max = fit ? (unsigned)fit : 1;
		}
	}
	struct conn_limit_config lc = {.max_connections = max,
				       .per_address = cfg->max_connections_per_address,
				       .per_second = cfg->new_connections_per_second,
				       .admin_addresses = cfg->admin_addresses};
	return conn_limit_new(&lc);
}

static int serve_broker(const struct server_options *o)
{
	char err[1024];
	struct vdi_config *cfg = NULL;
	if (vdi_config_load(o->config, &cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (o->data_dir && vdi_config_set_data_dir(cfg, o->data_dir) < 0) {
		log_error("--data-dir %s: too long", o->data_dir);
		vdi_config_free(cfg);
		return 1;
	}
	if (o->print_config) {
		int r = vdi_config_print(cfg, stdout);
		vdi_config_free(cfg);
		return r < 0;
	}
	if (!getenv("VDI_LOG"))
		log_set_level(cfg->log_level);
	bool embedded = !o->config;
	sigset_t term = server_signals();

	struct conn_limit *limit = server_limit(cfg);
	if (!limit) {
		log_error("no memory");
		vdi_config_free(cfg);
		return 1;
	}
	struct pool_spec *pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*pools));
	for (size_t i = 0; pools && i < cfg->npools; i++)
		pool_from_config(&cfg->pools[i], &pools[i]);
	struct broker_config bc = {
	    .data_dir = cfg->data_dir,
	    .vmm_path = cfg->vmm,
	    .greeter_width = cfg->greeter_width,
	    .greeter_height = cfg->greeter_height,
	    .auth =
		{
		    .backend = cfg->auth_backend == VDI_AUTH_PAM ? AUTH_BACKEND_PAM : AUTH_BACKEND_FILE,
		    .pam_service = cfg->pam_service,
		    .users_file = cfg->users_file,
		    .lockout_attempts = cfg->lockout_attempts,
		    .lockout_address_attempts = cfg->lockout_address_attempts,
		    .lockout_user_attempts = cfg->lockout_user_attempts,
		    .lockout_window_s = (unsigned)cfg->lockout_window,
		    .lockout_duration_s = (unsigned)cfg->lockout_duration,
		    .lockout_max_duration_s = (unsigned)cfg->lockout_max_duration,
		    .lockout_max_delay_s = (unsigned)cfg->lockout_max_delay,
		    /* The embedded default's demo user administers it. */
		    .admins = embedded ? "demo" : cfg->admins.text,
		},
	    .audit_retention_s = cfg->audit_retention,
	    .pools = pools,
	    .npools = cfg->npools,
	    .power_ops = cfg->power_ops,
	    .greeter_timeout_s = (unsigned)cfg->greeter_timeout,
	    .limit = limit,
	    .handshake_timeout_s = (unsigned)cfg->handshake_timeout,
	    .api_idle_timeout_s = (unsigned)cfg->api_idle_timeout,
	};
	/* Tests run schedules on a clock of their own: VDI_TEST_CLOCK=START,SPEED
	 * (Unix seconds to start at, and how many seconds pass per real one). */
	const char *clock = getenv("VDI_TEST_CLOCK");
	if (clock && sscanf(clock, "%lld,%u", &bc.clock_start, &bc.clock_speed) != 2) {
		log_error("VDI_TEST_CLOCK: expected START,SPEED");
		free(pools);
		conn_limit_free(limit);
		vdi_config_free(cfg);
		return 1;
	}
	struct broker *b = pools ? broker_start(&bc, err, sizeof(err)) : NULL;
	free(pools);
	if (!b) {
		log_error("%s", pools ? err : "no memory");
		conn_limit_free(limit);
		vdi_config_free(cfg);
		return 1;
	}
	char password[32] = "";
	if (embedded && cfg->auth_backend == VDI_AUTH_FILE && demo_user(broker_auth(b), password, sizeof(password)) < 0)
		log_error("cannot create the demo user in %s", cfg->users_file);

	int rc = 0;
	struct display_hooks hooks = broker_display_hooks(b);
	struct display_listen vnc_listen = {.bind = cfg->bind,
					    .port = cfg->vnc_port,
					    .limit = limit,
					    .handshake_timeout_s = (unsigned)cfg->handshake_timeout};
	struct display_listen rdp_listen = {.bind = cfg->bind,
					    .port = cfg->rdp_port,
					    .limit = limit,
					    .handshake_timeout_s = (unsigned)cfg->handshake_timeout,
					    .login_timeout_s = (unsigned)cfg->login_timeout};
	struct vnc_security vnc_security = {
	    .cert_path = cfg->tls_cert, .key_path = cfg->tls_key, .require_tls = cfg->vnc_require_tls};
	struct vnc_server *vnc = NULL;
	struct rdp_server *rdp = NULL;
	char api_listen[128] = "";
	if (cfg->api_enabled) {
		const char *addr = cfg->api_addr ? cfg->api_addr : cfg->bind;
		/* "::" is every IPv6 and IPv4 address, as for the RDP and VNC ports. */
		if (!strcmp(addr, "::"))
			snprintf(api_listen, sizeof(api_listen), "*:%d", cfg->api_port);
		else
			snprintf(api_listen, sizeof(api_listen), strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr,
				 cfg->api_port);
	}
	if (tls_identity(cfg->tls_cert, cfg->tls_key) < 0 ||
	    (cfg->api_enabled && tls_identity(cfg->api_tls_cert, cfg->api_tls_key) < 0) ||
	    (cfg->vnc_port && !(vnc = vnc_server_start(&hooks, &vnc_listen, &vnc_security))) ||
	    (cfg->rdp_port && !(rdp = rdp_server_start(&hooks, &rdp_listen, cfg->tls_cert, cfg->tls_key)))) {
		rc = 1;
	} else if (cfg->api_enabled &&
		   broker_start_api(b, api_listen, cfg->api_tls_cert, cfg->api_tls_key, err, sizeof(err)) < 0) {
		log_error("the admin API: %s", err);
		rc = 1;
	} else {
		log_info("vdi-server ready (%s): RDP on port %d, VNC on port %d, API on %s, data in %s", cfg->source,
			 cfg->rdp_port, cfg->vnc_port, cfg->api_enabled ? api_listen : "(off)", cfg->data_dir);
		if (password[0]) {
			printf("\nvdi: created user 'demo' with password '%s' (shown this once; stored hashed in %s)\n",
			       password, cfg->users_file);
			printf("vdi: connect with:\n");
			if (cfg->rdp_port)
				printf("  xfreerdp /v:127.0.0.1:%d /u:demo /p:'%s' /cert:ignore\n", cfg->rdp_port,
				       password);
			if (cfg->vnc_port)
				printf("  vncviewer -X509CA %s 127.0.0.1::%d      (TLS; it asks for demo's password)\n",
				       cfg->tls_cert, cfg->vnc_port);
			if (cfg->api_enabled)
				printf("  vdictl --api https://127.0.0.1:%d --user demo --cacert %s desktops\n",
				       cfg->api_port, cfg->api_tls_cert);
			printf("\n");
			fflush(stdout);
		}
		int sig;
		sigwait(&term, &sig);
		log_info("stopping on signal %d; desktops keep running", sig);
	}
	rdp_server_stop(rdp);
	vnc_server_stop(vnc);
	broker_stop(b);
	conn_limit_free(limit);
	vdi_config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	log_set_program("vdi-server");
	log_init_from_env();
	mem_trim_init();
	struct server_options o;
	if (server_parse(argc, argv, &o) < 0)
		return 1;
	/* Every connection takes several descriptors: far more than the default 1024 are wanted. */
	long limit = fd_raise_limit();
	/* A quarter of the low range stays for libvncserver's one descriptor per VNC connection. */
	fd_reserve_low(256);
	if (limit >= 0 && limit < 4096)
		log_warn("the descriptor limit is %ld (ulimit -n): few connections at once will fit", limit);
	else
		log_debug("descriptor limit: %ld", limit);
	return o.desktop ? serve_one_desktop(&o) : serve_broker(&o);
}
