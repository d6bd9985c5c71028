/* config.h — vdi-server's configuration: the schema of its INI file
 * ([server], [auth], [api], [pool:NAME]) and the embedded default. */
#ifndef VDI_SERVER_CONFIG_H
#define VDI_SERVER_CONFIG_H

#include "../common/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VDI_POOL_NAME_MAX 32 /* [A-Za-z0-9_-]{1,32} */

enum vdi_auth_backend { VDI_AUTH_FILE, VDI_AUTH_PAM };
enum vdi_pool_template { VDI_TEMPLATE_DESKTOP, VDI_TEMPLATE_LINUX };
enum vdi_pool_assignment { VDI_ASSIGN_FLOATING, VDI_ASSIGN_DEDICATED };
enum vdi_pool_on_logoff { VDI_LOGOFF_KEEP, VDI_LOGOFF_REFRESH, VDI_LOGOFF_DELETE };
enum vdi_pool_on_disconnect { VDI_DISCONNECT_NONE, VDI_DISCONNECT_SUSPEND, VDI_DISCONNECT_POWEROFF };
enum vdi_pool_surplus { VDI_SURPLUS_POWEROFF, VDI_SURPLUS_SUSPEND, VDI_SURPLUS_KEEP };
enum vdi_pool_serial { VDI_SERIAL_OFF, VDI_SERIAL_FILE };

/* Users and @groups, as written ("alice", "@staff"); `everyone` for "*". */
struct vdi_principals {
	bool everyone;
	size_t count;
	char **names;
	char *text; /* the same as one space-separated list ("alice @staff", "*", ""), for auth_in_list() */
};

struct vdi_pool_config {
	char name[VDI_POOL_NAME_MAX + 1];
	enum vdi_pool_template template;
	char *kernel, *initrd, *disk, *cmdline; /* linux only; NULL when unset; paths resolved */
	unsigned vcpus;                         /* 1..64 */
	unsigned memory_mib;                    /* 16..65536 */
	unsigned display_width, display_height; /* each 64..8192 */
	unsigned size;                          /* most desktops, 1..1000 */
	enum vdi_pool_assignment assignment;
	enum vdi_pool_on_logoff on_logoff;
	struct vdi_principals entitlement;
	int64_t disconnect_timeout; /* seconds; 0: keep forever */
	unsigned min;               /* desktops that exist, powered or not */
	unsigned spare;             /* powered-on free desktops kept ready (default: size) */
	char *schedule;             /* windows "mon-fri 07:00-18:30 spare=2; ..." (NULL: none) */
	bool clone;                 /* desktops start as instant clones of a template */
	enum vdi_pool_on_disconnect on_disconnect;
	int64_t on_disconnect_after;   /* seconds */
	enum vdi_pool_surplus surplus; /* free desktops beyond the spares */
	int64_t surplus_after;         /* seconds */
	int64_t idle_timeout;          /* seconds; 0: never */
	enum vdi_pool_serial serial;   /* the guest's serial console: off, or a file (0600, capped) */
	unsigned serial_max;           /* bytes, 4 KiB..1 GiB (default 1 MiB) */
};

struct vdi_config {
	char *source; /* the file read, or "(embedded default)" */

	/* [server] */
	char *data_dir;
	char *bind;           /* numeric IPv4 or IPv6 address of the RDP and VNC listeners */
	int rdp_port;         /* 0: off */
	int vnc_port;         /* 0: off */
	bool vnc_require_tls; /* vnc_security = tls: no VNC client without TLS */
	char *tls_cert, *tls_key;
	char *vmm; /* the vdi-vmm executable */
	unsigned greeter_width, greeter_height;
	enum log_level log_level;
	unsigned power_ops; /* power operations at once on this host */
	/* Connections before and beside a login (every port): caps, time limits. */
	unsigned max_connections;             /* in all */
	unsigned max_connections_per_address; /* 0: no cap */
	unsigned new_connections_per_second;  /* per address; 0: no cap */
	char *admin_addresses;                /* CIDRs exempt from per-address caps, with a reserve */
	int64_t handshake_timeout;            /* seconds: TLS and RFB handshakes */
	int64_t login_timeout;                /* seconds: RDP connection sequence to its client info PDU */
	int64_t greeter_timeout;              /* seconds at the login screen without input; 0: never */

	/* [auth] */
	enum vdi_auth_backend auth_backend;
	char *pam_service;
	char *users_file;
	unsigned lockout_attempts, lockout_address_attempts, lockout_user_attempts;
	int64_t lockout_window, lockout_duration, lockout_max_duration, lockout_max_delay; /* seconds */
	struct vdi_principals admins;

	/* [audit] */
	int64_t audit_retention; /* seconds; 0: forever */

	/* [api] */
	bool api_enabled;
	char *api_addr; /* numeric address; NULL when off */
	int api_port;
	char *api_tls_cert, *api_tls_key;
	int64_t api_idle_timeout; /* seconds */

	size_t npools;
	struct vdi_pool_config *pools; /* in file order */

	/* Private: which data_dir-derived paths were given explicitly. */
	bool tls_explicit_, users_file_explicit_, api_tls_explicit_;
};

/* Reads the configuration at `path`, or the embedded default when path is
 * NULL. Returns 0 and *out (free with vdi_config_free), or a negative errno
 * with `err` holding "FILE:LINE: [section] key: message" (or "FILE:LINE:
 * message" for syntax errors). Nothing is logged: the caller reports err. */
int vdi_config_load(const char *path, struct vdi_config **out, char *err, size_t errlen);
/* The same from a buffer named `name`; relative paths are taken relative to
 * `base_dir` (NULL: the working directory). For tests and the fuzzer. */
int vdi_config_load_buffer(const char *name, const void *data, size_t len, const char *base_dir,
			   struct vdi_config **out, char *err, size_t errlen);
void vdi_config_free(struct vdi_config *c);

/* --data-dir: replaces data_dir and the paths derived from it (tls_cert,
 * tls_key, users_file, the API's certificate) that the file did not set.
 * Returns 0, -ENAMETOOLONG (empty or over 1008 bytes) or -ENOMEM. */
int vdi_config_set_data_dir(struct vdi_config *c, const char *dir);

/* Writes the effective configuration as an INI file that loads back to the
 * same values (vdi-server --print-config). Returns 0 or -EIO. */
int vdi_config_print(const struct vdi_config *c, FILE *out);

/* The pool called `name`, or NULL. */
const struct vdi_pool_config *vdi_config_pool(const struct vdi_config *c, const char *name);

#endif
