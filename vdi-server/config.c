/* config.c — vdi-server's configuration schema on top of the INI reader:
 * every key's type, range and default, the embedded default, relative path
 * resolution, and printing the effective configuration. */
#include "config.h"

#include "../pools/pools.h"

#include "../common/config.h"
#include "../common/conn_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VDI_DEFAULT_NAME       "(embedded default)"
/* Short enough that --print-config's lines, quoted and escaped, stay within
 * the reader's 4096-byte line limit and load back. */
#define VDI_PATH_MAX           1024
#define VDI_DATA_DIR_MAX       (VDI_PATH_MAX - 16) /* room for "/tls.crt" and the like */
#define VDI_CMDLINE_MAX        2000
#define VDI_DISPLAY_MIN        64
#define VDI_DISPLAY_MAX        8192
/* vdi-vmm's limit: 8K UHD fits, anything larger in both directions does not. */
#define VDI_DISPLAY_PIXELS_MAX (8192ull * 4096ull)
#define VDI_PRINCIPAL_MAX      64
#define VDI_DAY                86400
#define VDI_CONNECTIONS_MAX    1000000

/* No file: a data directory, one pool of in-tree desktops everyone may use,
 * the file backend; every other key keeps its default. */
static const char vdi_default_ini[] = "[server]\n"
				      "data_dir = ./vdi-data\n"
				      "\n"
				      "[auth]\n"
				      "backend = file\n"
				      "\n"
				      "[pool:demo]\n"
				      "template = desktop\n"
				      "size = 2\n"
				      "assignment = floating\n"
				      "on_logoff = keep\n"
				      "entitlement = *\n";

static const char *const vdi_log_words[] = {"error", "warn", "info", "debug", NULL};
static const char *const vdi_vnc_security_words[] = {"any", "tls", NULL};
static const char *const vdi_backend_words[] = {"file", "pam", NULL};
static const char *const vdi_template_words[] = {"desktop", "linux", NULL};
static const char *const vdi_assignment_words[] = {"floating", "dedicated", NULL};
static const char *const vdi_on_logoff_words[] = {"keep", "refresh", "delete", NULL};
static const char *const vdi_on_disconnect_words[] = {"none", "suspend", "poweroff", NULL};
static const char *const vdi_surplus_words[] = {"poweroff", "suspend", "keep", NULL};
static const char *const vdi_serial_words[] = {"off", "file", NULL};

struct vdi_loader {
	struct vdi_config *c;
	const char *base_dir; /* relative paths in the file are relative to this; NULL: as written */
	char *err;
	size_t errlen;
	/* Entries that cross-key checks point at. */
	const struct cfg_entry *tls_cert, *tls_key, *api_tls_cert, *api_tls_key, *rdp_port, *vnc_port, *listen;
	bool pool_spare_set; /* the pool being read said spare = */
};

static int vdi_oom(struct vdi_loader *l)
{
	snprintf(l->err, l->errlen, "out of memory reading the configuration");
	return -ENOMEM;
}

static int vdi_set_string(struct vdi_loader *l, char **dst, const char *value)
{
	char *s = strdup(value);
	if (!s)
		return vdi_oom(l);
	free(*dst);
	*dst = s;
	return 0;
}

static char *vdi_join(const char *dir, const char *name)
{
	/* "./x" is "x": a printed configuration read back names the same
	 * paths in the same words, not "././x". */
	while (name[0] == '.' && name[1] == '/') {
		name += 2;
		while (*name == '/')
			name++;
	}
	char *s;
	if (asprintf(&s, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
		return NULL;
	return s;
}

static int vdi_unknown(struct vdi_loader *l, const struct cfg_entry *e, const char *known)
{
	cfg_entry_error(e, l->err, l->errlen, "unknown key (known here: %s)", known);
	return -EINVAL;
}

/* A path; relative ones are taken from the config file's directory. */
static int vdi_path_max(struct vdi_loader *l, const struct cfg_entry *e, size_t max, char **dst)
{
	const char *v;
	if (cfg_get_string(e, 1, max, &v, l->err, l->errlen) < 0)
		return -EINVAL;
	char *s = v[0] != '/' && l->base_dir ? vdi_join(l->base_dir, v) : strdup(v);
	if (!s)
		return vdi_oom(l);
	if (strlen(s) > max) {
		cfg_entry_error(e, l->err, l->errlen, "%s is longer than %zu bytes", s, max);
		free(s);
		return -EINVAL;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int vdi_path(struct vdi_loader *l, const struct cfg_entry *e, char **dst)
{
	return vdi_path_max(l, e, VDI_PATH_MAX, dst);
}

/* A path to an image vdi-vmm will read: it must be readable now. */
static int vdi_image_path(struct vdi_loader *l, const struct cfg_entry *e, char **dst)
{
	int rc = vdi_path(l, e, dst);
	if (rc < 0)
		return rc;
	if (access(*dst, R_OK) < 0) {
		int err = errno;
		cfg_entry_error(e, l->err, l->errlen, "cannot read %s: %s", *dst, strerror(err));
		return -EINVAL;
	}
	return 0;
}

static int vdi_uint(struct vdi_loader *l, const struct cfg_entry *e, long long min, long long max, unsigned *dst)
{
	long long v;
	if (cfg_get_int(e, min, max, &v, l->err, l->errlen) < 0)
		return -EINVAL;
	*dst = (unsigned)v;
	return 0;
}

static int vdi_port(struct vdi_loader *l, const struct cfg_entry *e, int *dst)
{
	long long v;
	if (cfg_get_int(e, 0, 65535, &v, l->err, l->errlen) < 0)
		return -EINVAL;
	*dst = (int)v;
	return 0;
}

static bool vdi_numeric_address(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "off", "PORT", "IPV4:PORT" or "[IPV6]:PORT". */
static int vdi_listen(struct vdi_loader *l, const struct cfg_entry *e)
{
	struct vdi_config *c = l->c;
	const char *v = e->value;
	if (!strcmp(v, "off")) {
		c->api_enabled = false;
		free(c->api_addr);
		c->api_addr = NULL;
		return 0;
	}
	const char *colon = strrchr(v, ':');
	char addr[64] = "";
	const char *port = v;
	bool ok = true;
	if (colon) {
		size_t n = (size_t)(colon - v);
		const char *a = v;
		if (v[0] == '[') { /* [IPv6]:PORT */
			ok = n >= 2 && v[n - 1] == ']';
			a = v + 1;
			n = n >= 2 ? n - 2 : 0;
		} else {
			ok = !memchr(v, ':', n); /* a bare IPv6 address needs brackets */
		}
		ok = ok && n > 0 && n < sizeof(addr);
		if (ok) {
			memcpy(addr, a, n);
			addr[n] = '\0';
			ok = vdi_numeric_address(addr) && (v[0] == '[') == (strchr(addr, ':') != NULL);
		}
		port = colon + 1;
	}
	char *end = NULL;
	errno = 0;
	long p = ok && port[0] >= '0' && port[0] <= '9' ? strtol(port, &end, 10) : -1;
	if (!ok || p < 1 || p > 65535 || errno || *end) {
		cfg_entry_error(e, l->err, l->errlen,
				"expected off, PORT, ADDRESS:PORT or [IPV6-ADDRESS]:PORT with a numeric address and a "
				"port from 1 to 65535, got '%s'",
				v);
		return -EINVAL;
	}
	c->api_enabled = true;
	c->api_port = (int)p;
	free(c->api_addr);
	c->api_addr = NULL;
	if (addr[0] && !(c->api_addr = strdup(addr)))
		return vdi_oom(l);
	return 0;
}

static void vdi_principals_free(struct vdi_principals *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->names[i]);
	free(p->names);
	free(p->text);
	*p = (struct vdi_principals){0};
}

/* Fills p->text from the names. */
static int vdi_principals_text(struct vdi_principals *p)
{
	size_t len = p->everyone ? 2 : 1;
	for (size_t i = 0; i < p->count; i++)
		len += strlen(p->names[i]) + 1;
	char *t = malloc(len), *w = t;
	if (!t)
		return -ENOMEM;
	if (p->everyone)
		*w++ = '*';
	for (size_t i = 0; i < p->count; i++) {
		size_t n = strlen(p->names[i]);
		if (w != t)
			*w++ = ' ';
		memcpy(w, p->names[i], n);
		w += n;
	}
	*w = '\0';
	free(p->text);
	p->text = t;
	return 0;
}

static bool vdi_principal_ok(const char *w, size_t n)
{
	size_t start = w[0] == '@';
	if (n <= start || n - start > VDI_PRINCIPAL_MAX || w[start] == '-' || w[start] == '@')
		return false;
	for (size_t i = start; i < n; i++) {
		char ch = w[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '.' || ch == '_' || ch == '-' || ch == '@';
		if (!ok)
			return false;
	}
	return true;
}

/* Space-separated user names and @groups; "*" (everyone) where allowed. */
static int vdi_principals(struct vdi_loader *l, const struct cfg_entry *e, bool allow_everyone, bool allow_empty,
			  struct vdi_principals *dst)
{
	struct vdi_principals p = {0};
	const char *s = e->value;
	int rc = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		size_t n = strcspn(s, " \t");
		if (n == 1 && s[0] == '*' && allow_everyone) {
			p.everyone = true;
		} else if (!vdi_principal_ok(s, n)) {
			cfg_entry_error(e, l->err, l->errlen,
					"'%.*s' is not a user name or @group (letters, digits, '.', '_', '-', '@'; at "
					"most %d)%s",
					(int)(n > 80 ? 80 : n), s, VDI_PRINCIPAL_MAX,
					allow_everyone ? "; * means everyone" : "");
			rc = -EINVAL;
			goto fail;
		} else {
			for (size_t i = 0; i < p.count; i++) {
				if (strlen(p.names[i]) == n && !memcmp(p.names[i], s, n)) {
					cfg_entry_error(e, l->err, l->errlen, "'%s' is listed twice", p.names[i]);
					rc = -EINVAL;
					goto fail;
				}
			}
			char **t = realloc(p.names, (p.count + 1) * sizeof(*t));
			if (!t || !(t[p.count] = strndup(s, n))) {
				if (t)
					p.names = t;
				rc = vdi_oom(l);
				goto fail;
			}
			p.names = t;
			p.count++;
		}
		s += n;
	}
	if (p.everyone && p.count) {
		cfg_entry_error(e, l->err, l->errlen, "'*' already means everyone: list names or '*', not both");
		rc = -EINVAL;
		goto fail;
	}
	if (!allow_empty && !p.everyone && !p.count) {
		cfg_entry_error(e, l->err, l->errlen, "needs user names, @groups, or * for everyone");
		rc = -EINVAL;
		goto fail;
	}
	if (vdi_principals_text(&p) < 0) {
		rc = vdi_oom(l);
		goto fail;
	}
	vdi_principals_free(dst);
	*dst = p;
	return 0;
fail:
	vdi_principals_free(&p);
	return rc;
}

static int vdi_server_key(struct vdi_loader *l, const struct cfg_entry *e)
{
	struct vdi_config *c = l->c;
	const char *k = e->key;
	int v;
	if (!strcmp(k, "data_dir"))
		return vdi_path_max(l, e, VDI_DATA_DIR_MAX, &c->data_dir);
	if (!strcmp(k, "bind")) {
		if (!vdi_numeric_address(e->value)) {
			cfg_entry_error(e, l->err, l->errlen,
					"expected a numeric IPv4 or IPv6 address such as 0.0.0.0 or ::, got '%s'",
					e->value);
			return -EINVAL;
		}
		return vdi_set_string(l, &c->bind, e->value);
	}
	if (!strcmp(k, "rdp_port"))
		return l->rdp_port = e, vdi_port(l, e, &c->rdp_port);
	if (!strcmp(k, "vnc_port"))
		return l->vnc_port = e, vdi_port(l, e, &c->vnc_port);
	if (!strcmp(k, "vnc_security")) {
		if (cfg_get_enum(e, vdi_vnc_security_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		c->vnc_require_tls = v == 1;
		return 0;
	}
	if (!strcmp(k, "tls_cert"))
		return l->tls_cert = e, vdi_path(l, e, &c->tls_cert);
	if (!strcmp(k, "tls_key"))
		return l->tls_key = e, vdi_path(l, e, &c->tls_key);
	if (!strcmp(k, "vmm"))
		return vdi_path(l, e, &c->vmm);
	if (!strcmp(k, "greeter_size"))
		return cfg_get_display(e, VDI_DISPLAY_MIN, VDI_DISPLAY_MAX, VDI_DISPLAY_PIXELS_MAX, &c->greeter_width,
				       &c->greeter_height, l->err, l->errlen);
	if (!strcmp(k, "power_ops"))
		return vdi_uint(l, e, 1, 64, &c->power_ops);
	if (!strcmp(k, "max_connections"))
		return vdi_uint(l, e, 1, VDI_CONNECTIONS_MAX, &c->max_connections);
	if (!strcmp(k, "max_connections_per_address"))
		return vdi_uint(l, e, 0, VDI_CONNECTIONS_MAX, &c->max_connections_per_address);
	if (!strcmp(k, "new_connections_per_second"))
		return vdi_uint(l, e, 0, 100000, &c->new_connections_per_second);
	if (!strcmp(k, "admin_addresses")) {
		char why[200];
		if (conn_limit_parse_addresses(e->value, why, sizeof(why)) < 0) {
			cfg_entry_error(e, l->err, l->errlen, "%s", why);
			return -EINVAL;
		}
		return vdi_set_string(l, &c->admin_addresses, e->value);
	}
	if (!strcmp(k, "handshake_timeout"))
		return cfg_get_duration(e, 1, 3600, &c->handshake_timeout, l->err, l->errlen);
	if (!strcmp(k, "login_timeout"))
		return cfg_get_duration(e, 1, 3600, &c->login_timeout, l->err, l->errlen);
	if (!strcmp(k, "greeter_timeout"))
		return cfg_get_duration(e, 0, VDI_DAY, &c->greeter_timeout, l->err, l->errlen);
	if (!strcmp(k, "log_level")) {
		if (cfg_get_enum(e, vdi_log_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		static const enum log_level levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
		c->log_level = levels[v];
		return 0;
	}
	return vdi_unknown(l, e,
			   "data_dir, bind, rdp_port, vnc_port, vnc_security, tls_cert, tls_key, vmm, greeter_size, "
			   "log_level, power_ops, max_connections, max_connections_per_address, "
			   "new_connections_per_second, admin_addresses, handshake_timeout, login_timeout, "
			   "greeter_timeout");
}

static int vdi_auth_key(struct vdi_loader *l, const struct cfg_entry *e)
{
	struct vdi_config *c = l->c;
	const char *k = e->key;
	int v;
	if (!strcmp(k, "backend")) {
		if (cfg_get_enum(e, vdi_backend_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		c->auth_backend = (enum vdi_auth_backend)v;
		return 0;
	}
	if (!strcmp(k, "pam_service")) {
		/* A file name under /etc/pam.d. */
		const char *s = e->value;
		bool ok = s[0] && s[0] != '.' && strlen(s) <= 64 &&
			  strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
				    "TUVWXYZ0123456789._-") == strlen(s);
		if (!ok) {
			cfg_entry_error(e, l->err, l->errlen,
					"expected a PAM service name (a file in /etc/pam.d: letters, digits, '.', '_', "
					"'-'), got '%s'",
					s);
			return -EINVAL;
		}
		return vdi_set_string(l, &c->pam_service, s);
	}
	if (!strcmp(k, "users_file")) {
		c->users_file_explicit_ = true;
		return vdi_path(l, e, &c->users_file);
	}
	if (!strcmp(k, "lockout_attempts"))
		return vdi_uint(l, e, 1, 1000, &c->lockout_attempts);
	if (!strcmp(k, "lockout_window"))
		return cfg_get_duration(e, 1, 30 * VDI_DAY, &c->lockout_window, l->err, l->errlen);
	if (!strcmp(k, "lockout_duration"))
		return cfg_get_duration(e, 1, 30 * VDI_DAY, &c->lockout_duration, l->err, l->errlen);
	if (!strcmp(k, "lockout_max_duration"))
		return cfg_get_duration(e, 1, 30 * VDI_DAY, &c->lockout_max_duration, l->err, l->errlen);
	if (!strcmp(k, "lockout_address_attempts"))
		return vdi_uint(l, e, 1, 100000, &c->lockout_address_attempts);
	if (!strcmp(k, "lockout_user_attempts"))
		return vdi_uint(l, e, 1, 100000, &c->lockout_user_attempts);
	if (!strcmp(k, "lockout_max_delay"))
		return cfg_get_duration(e, 1, VDI_DAY, &c->lockout_max_delay, l->err, l->errlen);
	if (!strcmp(k, "admins"))
		return vdi_principals(l, e, false, true, &c->admins);
	return vdi_unknown(l, e,
			   "backend, pam_service, users_file, lockout_attempts, lockout_address_attempts, "
			   "lockout_user_attempts, lockout_window, lockout_duration, lockout_max_duration, "
			   "lockout_max_delay, admins");
}

static int vdi_audit_key(struct vdi_loader *l, const struct cfg_entry *e)
{
	if (!strcmp(e->key, "retention"))
		return cfg_get_duration(e, 0, (int64_t)100 * 365 * VDI_DAY, &l->c->audit_retention, l->err, l->errlen);
	return vdi_unknown(l, e, "retention");
}

static int vdi_api_key(struct vdi_loader *l, const struct cfg_entry *e)
{
	struct vdi_config *c = l->c;
	if (!strcmp(e->key, "listen"))
		return l->listen = e, vdi_listen(l, e);
	if (!strcmp(e->key, "tls_cert"))
		return l->api_tls_cert = e, vdi_path(l, e, &c->api_tls_cert);
	if (!strcmp(e->key, "tls_key"))
		return l->api_tls_key = e, vdi_path(l, e, &c->api_tls_key);
	if (!strcmp(e->key, "idle_timeout"))
		return cfg_get_duration(e, 1, 3600, &c->api_idle_timeout, l->err, l->errlen);
	return vdi_unknown(l, e, "listen, tls_cert, tls_key, idle_timeout");
}

/* Bytes: "65536", "64K", "64KiB", "1M", "1MiB", "1G", "1GiB"; from min to max. */
static int vdi_bytes(struct vdi_loader *l, const struct cfg_entry *e, uint64_t min, uint64_t max, unsigned *dst)
{
	const char *s = e->value;
	uint64_t v = 0;
	size_t n = 0;
	for (; s[n] >= '0' && s[n] <= '9' && n < 12; n++)
		v = v * 10 + (uint64_t)(s[n] - '0');
	const char *unit = s + n;
	uint64_t mult = !*unit                                       ? 1
			: !strcmp(unit, "K") || !strcmp(unit, "KiB") ? 1024
			: !strcmp(unit, "M") || !strcmp(unit, "MiB") ? 1024 * 1024
			: !strcmp(unit, "G") || !strcmp(unit, "GiB") ? 1024 * 1024 * 1024
								     : 0;
	if (!n || n >= 12 || !mult || v > max / mult || v * mult < min) {
		cfg_entry_error(e, l->err, l->errlen,
				"expected a size from %" PRIu64 " to %" PRIu64
				" bytes (K, M, G: KiB, MiB, GiB); got '%s'",
				min, max, s);
		return -EINVAL;
	}
	*dst = (unsigned)(v * mult);
	return 0;
}

static int vdi_pool_key(struct vdi_loader *l, struct vdi_pool_config *p, const struct cfg_entry *e)
{
	const char *k = e->key;
	int v;
	if (!strcmp(k, "template")) {
		if (cfg_get_enum(e, vdi_template_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->template = (enum vdi_pool_template)v;
		return 0;
	}
	if (!strcmp(k, "kernel"))
		return vdi_image_path(l, e, &p->kernel);
	if (!strcmp(k, "initrd"))
		return vdi_image_path(l, e, &p->initrd);
	if (!strcmp(k, "disk"))
		return vdi_image_path(l, e, &p->disk);
	if (!strcmp(k, "cmdline")) {
		const char *s;
		if (cfg_get_string(e, 0, VDI_CMDLINE_MAX, &s, l->err, l->errlen) < 0)
			return -EINVAL;
		return vdi_set_string(l, &p->cmdline, s);
	}
	if (!strcmp(k, "vcpus"))
		return vdi_uint(l, e, 1, 64, &p->vcpus);
	if (!strcmp(k, "memory")) {
		uint64_t mib;
		if (cfg_get_size_mib(e, 16, 65536, &mib, l->err, l->errlen) < 0)
			return -EINVAL;
		p->memory_mib = (unsigned)mib;
		return 0;
	}
	if (!strcmp(k, "display"))
		return cfg_get_display(e, VDI_DISPLAY_MIN, VDI_DISPLAY_MAX, VDI_DISPLAY_PIXELS_MAX, &p->display_width,
				       &p->display_height, l->err, l->errlen);
	if (!strcmp(k, "size"))
		return vdi_uint(l, e, 1, 1000, &p->size);
	if (!strcmp(k, "assignment")) {
		if (cfg_get_enum(e, vdi_assignment_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->assignment = (enum vdi_pool_assignment)v;
		return 0;
	}
	if (!strcmp(k, "on_logoff")) {
		if (cfg_get_enum(e, vdi_on_logoff_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->on_logoff = (enum vdi_pool_on_logoff)v;
		return 0;
	}
	if (!strcmp(k, "entitlement"))
		return vdi_principals(l, e, true, false, &p->entitlement);
	if (!strcmp(k, "disconnect_timeout"))
		return cfg_get_duration(e, 0, 365 * VDI_DAY, &p->disconnect_timeout, l->err, l->errlen);
	if (!strcmp(k, "min"))
		return vdi_uint(l, e, 0, 1000, &p->min);
	if (!strcmp(k, "spare")) {
		l->pool_spare_set = true;
		return vdi_uint(l, e, 0, 1000, &p->spare);
	}
	if (!strcmp(k, "schedule")) {
		struct power_window w[POWER_WINDOWS_MAX];
		size_t n;
		char why[200];
		if (power_schedule_parse(e->value, w, &n, why, sizeof(why)) < 0) {
			cfg_entry_error(e, l->err, l->errlen, "%s", why);
			return -EINVAL;
		}
		return vdi_set_string(l, &p->schedule, e->value);
	}
	if (!strcmp(k, "clone")) {
		int b;
		if (cfg_get_bool(e, &b, l->err, l->errlen) < 0)
			return -EINVAL;
		p->clone = b;
		return 0;
	}
	if (!strcmp(k, "on_disconnect")) {
		if (cfg_get_enum(e, vdi_on_disconnect_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->on_disconnect = (enum vdi_pool_on_disconnect)v;
		return 0;
	}
	if (!strcmp(k, "on_disconnect_after"))
		return cfg_get_duration(e, 0, 365 * VDI_DAY, &p->on_disconnect_after, l->err, l->errlen);
	if (!strcmp(k, "surplus")) {
		if (cfg_get_enum(e, vdi_surplus_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->surplus = (enum vdi_pool_surplus)v;
		return 0;
	}
	if (!strcmp(k, "surplus_after"))
		return cfg_get_duration(e, 0, 365 * VDI_DAY, &p->surplus_after, l->err, l->errlen);
	if (!strcmp(k, "idle_timeout"))
		return cfg_get_duration(e, 0, 365 * VDI_DAY, &p->idle_timeout, l->err, l->errlen);
	if (!strcmp(k, "serial")) {
		if (cfg_get_enum(e, vdi_serial_words, &v, l->err, l->errlen) < 0)
			return -EINVAL;
		p->serial = (enum vdi_pool_serial)v;
		return 0;
	}
	if (!strcmp(k, "serial_max"))
		return vdi_bytes(l, e, POOL_SERIAL_MAX_MIN, POOL_SERIAL_MAX_MAX, &p->serial_max);
	return vdi_unknown(l, e,
			   "template, kernel, initrd, disk, cmdline, vcpus, memory, display, size, assignment, "
			   "on_logoff, entitlement, disconnect_timeout, min, spare, schedule, clone, on_disconnect, "
			   "on_disconnect_after, surplus, surplus_after, idle_timeout, serial, serial_max");
}

static int vdi_pool_section(struct vdi_loader *l, const struct cfg_section *s)
{
	const char *name = s->arg;
	size_t n = name ? strlen(name) : 0;
	if (!name || n > VDI_POOL_NAME_MAX || !pool_name_valid(name)) {
		cfg_section_error(s, l->err, l->errlen,
				  "a pool's name is 1 to %d letters, digits, '_' or '-', not starting with '-': "
				  "[pool:NAME]",
				  VDI_POOL_NAME_MAX);
		return -EINVAL;
	}
	struct vdi_pool_config *p = &l->c->pools[l->c->npools++];
	*p = (struct vdi_pool_config){
	    .template = VDI_TEMPLATE_DESKTOP,
	    .vcpus = 1,
	    .memory_mib = 256,
	    .display_width = 1024,
	    .display_height = 768,
	    .size = 2,
	    .assignment = VDI_ASSIGN_FLOATING,
	    .on_logoff = VDI_LOGOFF_KEEP,
	    .entitlement = {.everyone = true},
	    .disconnect_timeout = 3600,
	    .on_disconnect_after = 600,
	    .serial = VDI_SERIAL_OFF,
	    .serial_max = POOL_SERIAL_MAX_DEF,
	};
	l->pool_spare_set = false;
	memcpy(p->name, name, n + 1);
	if (vdi_principals_text(&p->entitlement) < 0)
		return vdi_oom(l);
	for (size_t i = 0; i < s->nentries; i++) {
		int rc = vdi_pool_key(l, p, &s->entries[i]);
		if (rc < 0)
			return rc;
	}
	if (!l->pool_spare_set)
		p->spare = p->size; /* every desktop kept ready unless said otherwise */
	if (p->spare > p->size || p->min > p->size) {
		const struct cfg_entry *e = cfg_find_entry(s, p->spare > p->size ? "spare" : "min");
		cfg_entry_error(e, l->err, l->errlen, "at most the pool's size (%u)", p->size);
		return -EINVAL;
	}
	if (p->template == VDI_TEMPLATE_LINUX && !p->kernel) {
		cfg_section_error(s, l->err, l->errlen, "template = linux needs kernel = PATH");
		return -EINVAL;
	}
	if (p->template == VDI_TEMPLATE_DESKTOP) {
		static const char *const linux_only[] = {"kernel", "initrd", "disk", "cmdline"};
		for (size_t i = 0; i < sizeof(linux_only) / sizeof(linux_only[0]); i++) {
			const struct cfg_entry *e = cfg_find_entry(s, linux_only[i]);
			if (e) {
				cfg_entry_error(e, l->err, l->errlen,
						"only for template = linux (template desktop is the in-tree guest)");
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int vdi_section(struct vdi_loader *l, const struct cfg_section *s)
{
	int (*key)(struct vdi_loader *, const struct cfg_entry *) = NULL;
	if (!strcmp(s->kind, "pool"))
		return vdi_pool_section(l, s);
	if (!s->arg && !strcmp(s->kind, "server"))
		key = vdi_server_key;
	else if (!s->arg && !strcmp(s->kind, "auth"))
		key = vdi_auth_key;
	else if (!s->arg && !strcmp(s->kind, "api"))
		key = vdi_api_key;
	else if (!s->arg && !strcmp(s->kind, "audit"))
		key = vdi_audit_key;
	if (!key) {
		cfg_section_error(s, l->err, l->errlen,
				  "unknown section (known: [server], [auth], [api], [audit], [pool:NAME])");
		return -EINVAL;
	}
	for (size_t i = 0; i < s->nentries; i++) {
		int rc = key(l, &s->entries[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A certificate without its key (or the other way round) is a mistake. */
static int vdi_check_pair(struct vdi_loader *l, const struct cfg_entry *cert, const struct cfg_entry *key)
{
	if (!cert == !key)
		return 0;
	const struct cfg_entry *e = cert ? cert : key;
	cfg_entry_error(e, l->err, l->errlen, "set %s as well: a certificate goes with its key",
			cert ? "tls_key" : "tls_cert");
	return -EINVAL;
}

static int vdi_check_ports(struct vdi_loader *l)
{
	struct vdi_config *c = l->c;
	if (c->rdp_port && c->rdp_port == c->vnc_port) {
		const struct cfg_entry *e = l->vnc_port ? l->vnc_port : l->rdp_port;
		cfg_entry_error(e, l->err, l->errlen, "port %d is used by both rdp_port and vnc_port", c->rdp_port);
		return -EINVAL;
	}
	if (c->api_enabled && (c->api_port == c->rdp_port || c->api_port == c->vnc_port)) {
		const struct cfg_entry *e = l->listen;
		if (!e)
			e = c->api_port == c->rdp_port ? l->rdp_port : l->vnc_port;
		cfg_entry_error(e, l->err, l->errlen, "port %d is used by both [api] listen and [server] %s",
				c->api_port, c->api_port == c->rdp_port ? "rdp_port" : "vnc_port");
		return -EINVAL;
	}
	return 0;
}

/* Fills the paths that default to places in data_dir. */
static int vdi_derive(struct vdi_config *c)
{
	if (!c->tls_explicit_) {
		free(c->tls_cert);
		free(c->tls_key);
		c->tls_cert = vdi_join(c->data_dir, "tls.crt");
		c->tls_key = vdi_join(c->data_dir, "tls.key");
	}
	if (!c->users_file_explicit_) {
		free(c->users_file);
		c->users_file = vdi_join(c->data_dir, "users");
	}
	if (!c->api_tls_explicit_) {
		free(c->api_tls_cert);
		free(c->api_tls_key);
		c->api_tls_cert = c->tls_cert ? strdup(c->tls_cert) : NULL;
		c->api_tls_key = c->tls_key ? strdup(c->tls_key) : NULL;
	}
	if (!c->tls_cert || !c->tls_key || !c->users_file || !c->api_tls_cert || !c->api_tls_key)
		return -ENOMEM;
	return 0;
}

/* vdi-vmm next to the running executable, else whatever PATH finds. */
static char *vdi_default_vmm(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return strdup("vdi-vmm");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash || n > VDI_DATA_DIR_MAX)
		return strdup("vdi-vmm");
	slash[1] = '\0';
	return vdi_join(exe, "vdi-vmm");
}

static int vdi_apply(struct vdi_loader *l, const struct cfg_file *f)
{
	struct vdi_config *c = l->c;
	size_t npools = 0;
	for (size_t i = 0; i < f->nsections; i++)
		npools += !strcmp(f->sections[i].kind, "pool");
	if (npools && !(c->pools = calloc(npools, sizeof(*c->pools))))
		return vdi_oom(l);
	for (size_t i = 0; i < f->nsections; i++) {
		int rc = vdi_section(l, &f->sections[i]);
		if (rc < 0)
			return rc;
	}
	int rc = vdi_check_pair(l, l->tls_cert, l->tls_key);
	if (!rc)
		rc = vdi_check_pair(l, l->api_tls_cert, l->api_tls_key);
	if (!rc)
		rc = vdi_check_ports(l);
	if (rc)
		return rc;
	c->tls_explicit_ = l->tls_cert != NULL;
	c->api_tls_explicit_ = l->api_tls_cert != NULL;
	if (vdi_derive(c) < 0)
		return vdi_oom(l);
	if (c->api_enabled && !c->api_addr && !(c->api_addr = strdup(c->bind)))
		return vdi_oom(l);
	if (!c->vmm && !(c->vmm = vdi_default_vmm()))
		return vdi_oom(l);
	return 0;
}

static struct vdi_config *vdi_config_new(const char *source)
{
	struct vdi_config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->source = strdup(source);
	c->data_dir = strdup("./vdi-data");
	c->bind = strdup("0.0.0.0");
	c->pam_service = strdup("vdi");
	c->admins.text = strdup("");
	c->rdp_port = 3389;
	c->vnc_port = 5900;
	c->greeter_width = 1024;
	c->greeter_height = 768;
	c->log_level = LOG_INFO;
	c->power_ops = 4;
	c->max_connections = 4096;
	c->max_connections_per_address = 512;
	c->new_connections_per_second = 50;
	c->admin_addresses = strdup("127.0.0.1 ::1");
	c->handshake_timeout = 10;
	c->login_timeout = 60;
	c->greeter_timeout = 300;
	c->api_idle_timeout = 30;
	c->auth_backend = VDI_AUTH_FILE;
	c->lockout_attempts = 5;
	c->lockout_window = 600;
	c->lockout_duration = 300;
	c->lockout_address_attempts = 20;
	c->lockout_user_attempts = 10;
	c->lockout_max_duration = 3600;
	c->lockout_max_delay = 60;
	c->audit_retention = 90 * VDI_DAY;
	c->api_enabled = true;
	c->api_port = 8443;
	if (!c->source || !c->data_dir || !c->bind || !c->pam_service || !c->admins.text || !c->admin_addresses) {
		vdi_config_free(c);
		return NULL;
	}
	return c;
}

void vdi_config_free(struct vdi_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npools; i++) {
		struct vdi_pool_config *p = &c->pools[i];
		free(p->kernel);
		free(p->initrd);
		free(p->disk);
		free(p->cmdline);
		free(p->schedule);
		vdi_principals_free(&p->entitlement);
	}
	free(c->pools);
	vdi_principals_free(&c->admins);
	free(c->source);
	free(c->data_dir);
	free(c->bind);
	free(c->admin_addresses);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->vmm);
	free(c->pam_service);
	free(c->users_file);
	free(c->api_addr);
	free(c->api_tls_cert);
	free(c->api_tls_key);
	free(c);
}

static int vdi_load_parsed(const struct cfg_file *f, const char *source, const char *base_dir, struct vdi_config **out,
			   char *err, size_t errlen)
{
	struct vdi_config *c = vdi_config_new(source);
	if (!c) {
		snprintf(err, errlen, "out of memory reading the configuration");
		return -ENOMEM;
	}
	struct vdi_loader l = {.c = c, .base_dir = base_dir, .err = err, .errlen = errlen};
	int rc = vdi_apply(&l, f);
	if (rc < 0) {
		vdi_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int vdi_config_load_buffer(const char *name, const void *data, size_t len, const char *base_dir,
			   struct vdi_config **out, char *err, size_t errlen)
{
	*out = NULL;
	struct cfg_file *f;
	int rc = cfg_parse_buffer(name, data, len, &f, err, errlen);
	if (rc < 0)
		return rc;
	rc = vdi_load_parsed(f, name, base_dir, out, err, errlen);
	cfg_free(f);
	return rc;
}

int vdi_config_load(const char *path, struct vdi_config **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path)
		return vdi_config_load_buffer(VDI_DEFAULT_NAME, vdi_default_ini, strlen(vdi_default_ini), NULL, out,
					      err, errlen);
	struct cfg_file *f;
	int rc = cfg_parse_file(path, &f, err, errlen);
	if (rc < 0)
		return rc;
	/* Relative paths in the file, data_dir included, start from its directory. */
	char *dir = strdup(path);
	if (!dir) {
		cfg_free(f);
		snprintf(err, errlen, "out of memory reading the configuration");
		return -ENOMEM;
	}
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	rc = vdi_load_parsed(f, path, dir, out, err, errlen);
	free(dir);
	cfg_free(f);
	return rc;
}

int vdi_config_set_data_dir(struct vdi_config *c, const char *dir)
{
	if (!dir[0] || strlen(dir) > VDI_DATA_DIR_MAX)
		return -ENAMETOOLONG;
	char *d = strdup(dir);
	if (!d)
		return -ENOMEM;
	free(c->data_dir);
	c->data_dir = d;
	return vdi_derive(c);
}

const struct vdi_pool_config *vdi_config_pool(const struct vdi_config *c, const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

static void vdi_print_key(FILE *out, const char *key, const char *value)
{
	fprintf(out, "%s = ", key);
	cfg_write_value(out, value);
	fputc('\n', out);
}

static void vdi_print_principals(FILE *out, const char *key, const struct vdi_principals *p)
{
	fprintf(out, "%s =%s%s\n", key, p->text[0] ? " " : "", p->text);
}

static void vdi_print_duration(FILE *out, const char *key, int64_t seconds)
{
	char buf[32];
	cfg_format_duration(seconds, buf, sizeof(buf));
	fprintf(out, "%s = %s\n", key, buf);
}

int vdi_config_print(const struct vdi_config *c, FILE *out)
{
	static const char *const levels[] = {
	    [LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug"};
	fputs("# vdi-server's effective configuration, read from ", out);
	for (const char *s = c->source; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
	fputs(".\n", out);
	fputs("# Relative paths below are relative to vdi-server's working directory.\n\n[server]\n", out);
	vdi_print_key(out, "data_dir", c->data_dir);
	fprintf(out, "bind = %s\nrdp_port = %d\nvnc_port = %d\nvnc_security = %s\n", c->bind, c->rdp_port, c->vnc_port,
		vdi_vnc_security_words[c->vnc_require_tls]);
	vdi_print_key(out, "tls_cert", c->tls_cert);
	vdi_print_key(out, "tls_key", c->tls_key);
	vdi_print_key(out, "vmm", c->vmm);
	fprintf(out, "greeter_size = %ux%u\nlog_level = %s\npower_ops = %u\n", c->greeter_width, c->greeter_height,
		levels[c->log_level], c->power_ops);
	fprintf(out, "max_connections = %u\nmax_connections_per_address = %u\nnew_connections_per_second = %u\n",
		c->max_connections, c->max_connections_per_address, c->new_connections_per_second);
	vdi_print_key(out, "admin_addresses", c->admin_addresses);
	vdi_print_duration(out, "handshake_timeout", c->handshake_timeout);
	vdi_print_duration(out, "login_timeout", c->login_timeout);
	vdi_print_duration(out, "greeter_timeout", c->greeter_timeout);

	fprintf(out, "\n[auth]\nbackend = %s\npam_service = %s\n", vdi_backend_words[c->auth_backend], c->pam_service);
	vdi_print_key(out, "users_file", c->users_file);
	fprintf(out, "lockout_attempts = %u\nlockout_address_attempts = %u\nlockout_user_attempts = %u\n",
		c->lockout_attempts, c->lockout_address_attempts, c->lockout_user_attempts);
	vdi_print_duration(out, "lockout_window", c->lockout_window);
	vdi_print_duration(out, "lockout_duration", c->lockout_duration);
	vdi_print_duration(out, "lockout_max_duration", c->lockout_max_duration);
	vdi_print_duration(out, "lockout_max_delay", c->lockout_max_delay);
	vdi_print_principals(out, "admins", &c->admins);

	fputs("\n[api]\n", out);
	if (!c->api_enabled)
		fputs("listen = off\n", out);
	else if (strchr(c->api_addr, ':'))
		fprintf(out, "listen = [%s]:%d\n", c->api_addr, c->api_port);
	else
		fprintf(out, "listen = %s:%d\n", c->api_addr, c->api_port);
	vdi_print_key(out, "tls_cert", c->api_tls_cert);
	vdi_print_key(out, "tls_key", c->api_tls_key);
	vdi_print_duration(out, "idle_timeout", c->api_idle_timeout);

	fputs("\n[audit]\n", out);
	vdi_print_duration(out, "retention", c->audit_retention);

	for (size_t i = 0; i < c->npools; i++) {
		const struct vdi_pool_config *p = &c->pools[i];
		fprintf(out, "\n[pool:%s]\ntemplate = %s\n", p->name, vdi_template_words[p->template]);
		if (p->kernel)
			vdi_print_key(out, "kernel", p->kernel);
		if (p->initrd)
			vdi_print_key(out, "initrd", p->initrd);
		if (p->disk)
			vdi_print_key(out, "disk", p->disk);
		if (p->cmdline)
			vdi_print_key(out, "cmdline", p->cmdline);
		fprintf(out, "vcpus = %u\nmemory = %uM\ndisplay = %ux%u\nsize = %u\nassignment = %s\non_logoff = %s\n",
			p->vcpus, p->memory_mib, p->display_width, p->display_height, p->size,
			vdi_assignment_words[p->assignment], vdi_on_logoff_words[p->on_logoff]);
		vdi_print_principals(out, "entitlement", &p->entitlement);
		vdi_print_duration(out, "disconnect_timeout", p->disconnect_timeout);
		fprintf(out, "min = %u\nspare = %u\nclone = %s\non_disconnect = %s\n", p->min, p->spare,
			p->clone ? "yes" : "no", vdi_on_disconnect_words[p->on_disconnect]);
		vdi_print_duration(out, "on_disconnect_after", p->on_disconnect_after);
		fprintf(out, "surplus = %s\n", vdi_surplus_words[p->surplus]);
		vdi_print_duration(out, "surplus_after", p->surplus_after);
		vdi_print_duration(out, "idle_timeout", p->idle_timeout);
		fprintf(out, "serial = %s\nserial_max = %u\n", vdi_serial_words[p->serial], p->serial_max);
		if (p->schedule)
			vdi_print_key(out, "schedule", p->schedule);
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}
