/* options.c — vdi-client's command line: options, the server URL and the password file. */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: vdi-client [OPTIONS] [[rdp|vnc]://[USER@]HOST[:PORT] | vdi://[USER@]HOST[:PORT][/POOL]]\n"
    "  --user U             the user name (or USER@ in the URL)\n"
    "  --password-file F    the password is F's first line\n"
    "  --pool NAME          the pool to connect to, without asking\n"
    "  --api URL            the broker's user API (default https://HOST:8443)\n"
    "  --cacert FILE        trust the server's certificate only if FILE's CAs signed it\n"
    "  --known-hosts FILE   certificates trusted on first use (default ~/.config/vdi/known_hosts)\n"
    "  --trust-on-first-use with --no-dialog: trust and remember an unknown certificate\n"
    "  --no-dialog          ask nothing; errors become exit statuses\n"
    "  --size WxH           window and desktop size (default 1024x768)\n"
    "  --fullscreen         start full screen (Ctrl+Alt+Enter toggles)\n"
    "  --kiosk              full screen, no way out but logging off\n"
    "  --lossless           ask for lossless pictures only (no JPEG, H.264, RemoteFX or progressive)\n"
    "vdi://HOST[:PORT][/POOL] names the broker's user API (https://HOST:PORT, default 8443) and the pool;\n"
    "the desktop is then reached over RDP at HOST:3389, or as ?rdp=PORT or ?vnc=PORT says.\n"
    "Without a URL a connect screen asks for the server, user name and password.\n"
    "Exit status: 0 logged off or closed, 2 usage, 3 server unreachable, 4 wrong password, 5 locked out,\n"
    "6 not entitled, 7 pool exhausted or no desktop, 8 certificate refused or changed, 9 protocol error.\n";

enum client_status client_fail(struct client_error *e, enum client_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->status = status;
	return status;
}

static int copy(char *dst, size_t size, const char *src, size_t len)
{
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int parse_port(const char *s, size_t len, int *out)
{
	char buf[8];
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || *end || v < 1 || v > 65535 || buf[0] == '+' || buf[0] == '-' || buf[0] == ' ')
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A vdi:// URL's tail after HOST[:PORT]: "/POOL" and "?rdp[=PORT]" or "?vnc[=PORT]". */
static int parse_vdi_tail(const char *p, struct client_opts *n)
{
	if (*p == '/') {
		size_t len = strcspn(++p, "?");
		/* A trailing slash, as links get, is no part of the pool's name. */
		size_t name_len = len && p[len - 1] == '/' ? len - 1 : len;
		if (name_len) {
			if (copy(n->url_pool, sizeof(n->url_pool), p, name_len) < 0 ||
			    strspn(n->url_pool, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
				name_len)
				return -EINVAL;
		}
		p += len;
	}
	if (*p == '?') {
		p++;
		if (!strncmp(p, "rdp", 3))
			n->proto = PROTO_RDP;
		else if (!strncmp(p, "vnc", 3))
			n->proto = PROTO_VNC;
		else
			return -EINVAL;
		n->port = n->proto == PROTO_RDP ? 3389 : 5900;
		p += 3;
		if (*p == '=') {
			if (parse_port(p + 1, strlen(p + 1), &n->port) < 0)
				return -EINVAL;
			p += strlen(p);
		}
	}
	return *p ? -EINVAL : 0;
}

int client_parse_url(const char *url, struct client_opts *o)
{
	struct client_opts n = *o;
	const char *p = url;
	bool vdi = false;
	n.proto = PROTO_RDP;
	if (!strncmp(p, "rdp://", 6)) {
		p += 6;
	} else if (!strncmp(p, "vnc://", 6)) {
		n.proto = PROTO_VNC;
		p += 6;
	} else if (!strncmp(p, "vdi://", 6)) {
		vdi = true;
		p += 6;
	} else if (strstr(p, "://")) {
		return -EINVAL;
	}
	size_t auth_len = strcspn(p, "/?");
	const char *at = memchr(p, '@', auth_len);
	if (at) {
		if (copy(n.user, sizeof(n.user), p, (size_t)(at - p)) < 0 || strpbrk(n.user, ":/"))
			return -EINVAL;
		p = at + 1;
	}
	const char *host_end, *port = NULL, *end = p + strcspn(p, vdi ? "/?" : "");
	if (*p == '[') { /* [IPv6]:PORT */
		host_end = memchr(p, ']', (size_t)(end - p));
		if (!host_end)
			return -EINVAL;
		p++;
		port = host_end[1] == ':' ? host_end + 2 : NULL;
		if (host_end + 1 != end && !port)
			return -EINVAL;
	} else {
		host_end = memchr(p, ':', (size_t)(end - p));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
	}
	if (copy(n.host, sizeof(n.host), p, (size_t)(host_end - p)) < 0 || strpbrk(n.host, "/?#@ []"))
		return -EINVAL;
	int port_num = vdi ? CLIENT_API_PORT : n.proto == PROTO_RDP ? 3389 : 5900;
	if (port && parse_port(port, (size_t)(end - port), &port_num) < 0)
		return -EINVAL;
	n.url_pool[0] = '\0';
	if (vdi) {
		n.api_port = port_num;
		n.port = 3389;
		if (parse_vdi_tail(end, &n) < 0)
			return -EINVAL;
		snprintf(n.url_api, sizeof(n.url_api), strchr(n.host, ':') ? "https://[%s]:%d" : "https://%s:%d",
			 n.host, n.api_port);
	} else {
		n.port = port_num;
	}
	/* What --api and --pool said stays; what an earlier vdi:// URL said goes. */
	bool own_api = o->api == o->url_api, own_pool = o->pool == o->url_pool;
	*o = n;
	if (own_api || !o->api)
		o->api = vdi ? o->url_api : NULL;
	if (own_pool || !o->pool)
		o->pool = vdi && o->url_pool[0] ? o->url_pool : NULL;
	o->vdi_url = vdi;
	o->have_url = true;
	return 0;
}

void client_format_url(const struct client_opts *o, char *out, size_t size)
{
	const char *lb = strchr(o->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
	if (!o->vdi_url) {
		snprintf(out, size, "%s://%s%s%s:%d", o->proto == PROTO_VNC ? "vnc" : "rdp", lb, o->host, rb, o->port);
		return;
	}
	char port[16] = "", desk[32] = "";
	if (o->api_port != CLIENT_API_PORT)
		snprintf(port, sizeof(port), ":%d", o->api_port);
	if (o->proto == PROTO_VNC || o->port != 3389)
		snprintf(desk, sizeof(desk), "?%s=%d", o->proto == PROTO_VNC ? "vnc" : "rdp", o->port);
	snprintf(out, size, "vdi://%s%s%s%s%s%s%s", lb, o->host, rb, port, o->url_pool[0] ? "/" : "", o->url_pool,
		 desk);
}

int client_read_first_line(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	int rc = 0;
	if (!fgets(out, (int)size, f))
		rc = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (rc < 0)
		return rc;
	size_t n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == size - 1)
		return -E2BIG;
	out[n] = '\0';
	return 0;
}

static int parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	unsigned a, b;
	char tail;
	if (sscanf(s, "%ux%u%c", &a, &b, &tail) != 2 || a < 200 || b < 200 || a > 8192 || b > 8192)
		return -EINVAL;
	*w = a;
	*h = b;
	return 0;
}

int client_parse_args(int argc, char **argv, struct client_opts *o, struct client_error *e)
{
	enum {
		O_USER = 256,
		O_PASSWORD_FILE,
		O_POOL,
		O_API,
		O_CACERT,
		O_KNOWN_HOSTS,
		O_TOFU,
		O_NO_DIALOG,
		O_SIZE,
		O_FULLSCREEN,
		O_KIOSK,
		O_LOSSLESS,
	};
	static const struct option longopts[] = {
	    {"user", required_argument, NULL, O_USER},
	    {"password-file", required_argument, NULL, O_PASSWORD_FILE},
	    {"pool", required_argument, NULL, O_POOL},
	    {"api", required_argument, NULL, O_API},
	    {"cacert", required_argument, NULL, O_CACERT},
	    {"known-hosts", required_argument, NULL, O_KNOWN_HOSTS},
	    {"trust-on-first-use", no_argument, NULL, O_TOFU},
	    {"no-dialog", no_argument, NULL, O_NO_DIALOG},
	    {"size", required_argument, NULL, O_SIZE},
	    {"fullscreen", no_argument, NULL, O_FULLSCREEN},
	    {"kiosk", no_argument, NULL, O_KIOSK},
	    {"lossless", no_argument, NULL, O_LOSSLESS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *user = NULL, *password_file = NULL;
	*o = (struct client_opts){.width = 1024, .height = 768, .port = 3389};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_USER:
			user = optarg;
			break;
		case O_PASSWORD_FILE:
			password_file = optarg;
			break;
		case O_POOL:
			o->pool = optarg;
			break;
		case O_API:
			if (strncmp(optarg, "https://", 8) != 0)
				return client_fail(e, CLIENT_USAGE, "--api takes an https:// URL, not '%s'", optarg);
			o->api = optarg;
			break;
		case O_CACERT:
			o->cacert = optarg;
			break;
		case O_KNOWN_HOSTS:
			o->known_hosts = optarg;
			break;
		case O_TOFU:
			o->trust_on_first_use = true;
			break;
		case O_NO_DIALOG:
			o->no_dialog = true;
			break;
		case O_SIZE:
			if (parse_size(optarg, &o->width, &o->height) < 0)
				return client_fail(e, CLIENT_USAGE, "--size takes WxH, each 200 to 8192, not '%s'",
						   optarg);
			break;
		case O_FULLSCREEN:
			o->fullscreen = true;
			break;
		case O_KIOSK:
			o->kiosk = o->fullscreen = true;
			break;
		case O_LOSSLESS:
			o->lossless = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case ':':
			return client_fail(e, CLIENT_USAGE, "%s needs a value\n%s", argv[optind - 1], usage);
		default:
			return client_fail(e, CLIENT_USAGE, "unknown option '%s'\n%s", argv[optind - 1], usage);
		}
	}
	if (argc - optind > 1)
		return client_fail(e, CLIENT_USAGE, "more than one URL\n%s", usage);
	if (optind < argc && client_parse_url(argv[optind], o) < 0)
		return client_fail(e, CLIENT_USAGE,
				   "bad URL '%s': expected [rdp|vnc]://[USER@]HOST[:PORT] or "
				   "vdi://[USER@]HOST[:PORT][/POOL][?rdp=PORT|?vnc=PORT]",
				   argv[optind]);
	if (user && copy(o->user, sizeof(o->user), user, strlen(user)) < 0)
		return client_fail(e, CLIENT_USAGE, "bad --user");
	if (password_file) {
		int rc = client_read_first_line(password_file, o->password, sizeof(o->password));
		if (rc < 0)
			return client_fail(e, CLIENT_USAGE, "cannot read the password from %s: %s", password_file,
					   strerror(-rc));
		o->have_password = true;
	}
	if (o->no_dialog && (!o->have_url || !o->user[0] || !o->have_password))
		return client_fail(e, CLIENT_USAGE, "--no-dialog needs a URL, a user name and --password-file");
	return 0;
}
