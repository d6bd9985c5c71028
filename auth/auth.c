/* auth.c — auth/'s face: picks the backend, puts lockout in front of it, audits every decision, and
 * matches users against "user @group *" lists. */
#include "auth.h"

#include "auth_file.h"
#include "auth_lockout.h"
#include "auth_pam.h"

#include "../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USER_MAX          256 /* longer names are refused without asking the backend */
#define PASSWORD_MAX      1024
#define ADDRESS_MAX       128
#define LOCKOUT_TABLE_MAX 65536
#define LOG_USER_MAX      64 /* of a name, in a log line */

struct auth {
	enum auth_backend backend;
	char *pam_service;
	char *admins;
	struct auth_file *file;
	struct auth_lockout *lockout;
	auth_audit_fn audit;
	void *audit_opaque;
	pthread_mutex_t stats_mutex;
	struct auth_stats stats;
};

static uint64_t monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	if (!err || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool valid_service(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= 64 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				 c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && s[0] != '.';
}

/* Admin lists name people: a "*" or a bare "@" in one is a mistake, not a wish. */
static bool admin_list_ok(const char *list)
{
	for (const char *p = list; *p;) {
		p += strspn(p, " \t");
		size_t n = strcspn(p, " \t");
		if (n == 1 && (*p == '*' || *p == '@'))
			return false;
		p += n;
	}
	return true;
}

struct auth *auth_create(const struct auth_config *cfg, char *err, size_t err_len)
{
	const char *service = cfg->pam_service ? cfg->pam_service : "vdi";
	if (cfg->backend != AUTH_BACKEND_FILE && cfg->backend != AUTH_BACKEND_PAM) {
		set_err(err, err_len, "unknown authentication backend %d", (int)cfg->backend);
		return NULL;
	}
	if (cfg->backend == AUTH_BACKEND_FILE && (!cfg->users_file || !*cfg->users_file)) {
		set_err(err, err_len, "the file backend needs a users file");
		return NULL;
	}
	if (cfg->backend == AUTH_BACKEND_PAM && !valid_service(service)) {
		set_err(err, err_len, "bad PAM service name \"%.64s\" (letters, digits, '.', '_', '-')", service);
		return NULL;
	}
	if (cfg->admins && !admin_list_ok(cfg->admins)) {
		set_err(err, err_len, "admins: \"*\" and a bare \"@\" are not allowed; name users and @groups");
		return NULL;
	}
	struct auth *a = calloc(1, sizeof(*a));
	if (!a) {
		set_err(err, err_len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->stats_mutex, NULL);
	a->backend = cfg->backend;
	a->audit = cfg->audit;
	a->audit_opaque = cfg->audit_opaque;
	a->pam_service = strdup(service);
	a->admins = cfg->admins ? strdup(cfg->admins) : NULL;
	a->lockout = auth_lockout_create(cfg->lockout_attempts ? cfg->lockout_attempts : 5,
					 cfg->lockout_window_s ? cfg->lockout_window_s : 600,
					 cfg->lockout_duration_s ? cfg->lockout_duration_s : 300, LOCKOUT_TABLE_MAX,
					 cfg->clock ? cfg->clock : monotonic_seconds);
	if (!a->pam_service || (cfg->admins && !a->admins) || !a->lockout) {
		set_err(err, err_len, "out of memory");
		auth_destroy(a);
		return NULL;
	}
	if (a->backend == AUTH_BACKEND_FILE) {
		a->file = auth_file_open(cfg->users_file);
		/* A file that exists but cannot be read is a start-up error, not a later AUTH_ERROR. */
		if (!a->file || auth_file_list(a->file, NULL, NULL) < 0) {
			set_err(err, err_len, "%s: cannot read the users file", cfg->users_file);
			auth_destroy(a);
			return NULL;
		}
	}
	return a;
}

void auth_destroy(struct auth *a)
{
	if (!a)
		return;
	auth_file_close(a->file);
	auth_lockout_destroy(a->lockout);
	free(a->pam_service);
	free(a->admins);
	pthread_mutex_destroy(&a->stats_mutex);
	free(a);
}

/* A name as it may appear in a log line: printable, cut. */
static void printable(char *out, size_t out_len, const char *in)
{
	size_t n = 0;
	for (; in[n] && n + 1 < out_len; n++)
		out[n] = (unsigned char)in[n] < ' ' || in[n] == 0x7f ? '?' : in[n];
	out[n] = '\0';
}

static void count(struct auth *a, uint64_t *counter)
{
	pthread_mutex_lock(&a->stats_mutex);
	(*counter)++;
	pthread_mutex_unlock(&a->stats_mutex);
}

static void audit(struct auth *a, const char *event, const char *user, const char *address, const char *detail)
{
	if (a->audit)
		a->audit(a->audit_opaque, event, user, address, detail);
}

/* Whether user or addr is locked out: if so the attempt is refused, counted and audited, and *locked_for_s
 * (may be NULL) set. */
static bool refused_locked(struct auth *a, const char *user, const char *addr, const char *log_user,
			   const char *log_addr, unsigned *locked_for_s)
{
	unsigned left = auth_lockout_remaining(a->lockout, user, addr);
	if (!left)
		return false;
	char detail[96];
	count(a, &a->stats.locked_refused);
	snprintf(detail, sizeof(detail), "locked out for %u more s", left);
	log_info("login refused for %s from %s: %s", log_user, log_addr, detail);
	audit(a, "locked_refused", user, addr, detail);
	if (locked_for_s)
		*locked_for_s = left;
	return true;
}

enum auth_result auth_check_remembered(struct auth *a, const char *user, const char *address, unsigned *locked_for_s)
{
	char addr[ADDRESS_MAX + 1], log_user[LOG_USER_MAX + 1], log_addr[ADDRESS_MAX + 1];
	if (locked_for_s)
		*locked_for_s = 0;
	user = user ? user : "";
	snprintf(addr, sizeof(addr), "%s", address ? address : "");
	printable(log_user, sizeof(log_user), user);
	printable(log_addr, sizeof(log_addr), *addr ? addr : "unknown address");
	return refused_locked(a, user, addr, log_user, log_addr, locked_for_s) ? AUTH_LOCKED : AUTH_OK;
}

enum auth_result auth_check(struct auth *a, const char *user, const char *password, const char *address,
			    unsigned *locked_for_s)
{
	char addr[ADDRESS_MAX + 1], log_user[LOG_USER_MAX + 1], log_addr[ADDRESS_MAX + 1], detail[96];
	if (locked_for_s)
		*locked_for_s = 0;
	user = user ? user : "";
	password = password ? password : "";
	snprintf(addr, sizeof(addr), "%s", address ? address : "");
	printable(log_user, sizeof(log_user), user);
	printable(log_addr, sizeof(log_addr), *addr ? addr : "unknown address");

	if (refused_locked(a, user, addr, log_user, log_addr, locked_for_s))
		return AUTH_LOCKED;

	int rc = -EACCES;
	if (*user && strnlen(user, USER_MAX + 1) <= USER_MAX && strnlen(password, PASSWORD_MAX + 1) <= PASSWORD_MAX) {
		count(a, &a->stats.backend_calls);
		if (a->backend == AUTH_BACKEND_FILE)
			rc = auth_file_check(a->file, user, password);
		else
			rc = auth_pam_check(a->pam_service, user, password, addr);
	}
	if (rc == 0) {
		auth_lockout_success(a->lockout, user);
		count(a, &a->stats.logins_ok);
		log_info("login ok for %s from %s", log_user, log_addr);
		audit(a, "login_ok", user, addr, a->backend == AUTH_BACKEND_FILE ? "file" : "pam");
		return AUTH_OK;
	}
	count(a, &a->stats.logins_failed);
	if (rc != -EACCES) {
		/* The backend failed, not the user: nothing counted against them. */
		audit(a, "login_failed", user, addr, "the authentication backend could not answer");
		return AUTH_ERROR;
	}
	log_info("login failed for %s from %s", log_user, log_addr);
	audit(a, "login_failed", user, addr, "wrong user name or password");
	int reached = auth_lockout_failure(a->lockout, user, addr);
	if (!reached)
		return AUTH_DENIED;
	count(a, &a->stats.lockouts);
	unsigned duration = auth_lockout_remaining(a->lockout, user, addr);
	snprintf(detail, sizeof(detail), "%s%s%s locked out for %u s", reached & AUTH_LOCKOUT_USER ? "user" : "",
		 reached == (AUTH_LOCKOUT_USER | AUTH_LOCKOUT_ADDRESS) ? " and " : "",
		 reached & AUTH_LOCKOUT_ADDRESS ? "address" : "", duration);
	log_warn("%s after repeated failures for %s from %s", detail, log_user, log_addr);
	audit(a, "lockout", user, addr, detail);
	if (locked_for_s)
		*locked_for_s = duration;
	return AUTH_DENIED;
}

static bool in_group(struct auth *a, const char *user, const char *group)
{
	if (a->backend == AUTH_BACKEND_FILE)
		return auth_file_in_group(a->file, user, group) == 1;
	return auth_pam_in_group(user, group) == 1;
}

bool auth_in_list(struct auth *a, const char *user, const char *list)
{
	if (!user || !*user || !list)
		return false;
	size_t ulen = strlen(user);
	char group[USER_MAX + 1];
	for (const char *p = list; *p;) {
		p += strspn(p, " \t");
		size_t n = strcspn(p, " \t");
		if (!n)
			break;
		if (n == 1 && *p == '*')
			return true;
		if (*p == '@' && n > 1 && n - 1 <= USER_MAX) {
			memcpy(group, p + 1, n - 1);
			group[n - 1] = '\0';
			if (in_group(a, user, group))
				return true;
		} else if (n == ulen && !strncmp(p, user, n)) {
			return true;
		}
		p += n;
	}
	return false;
}

bool auth_is_admin(struct auth *a, const char *user)
{
	return auth_in_list(a, user, a->admins);
}

int auth_user_add(struct auth *a, const char *user, const char *password, const char *groups)
{
	return a->file ? auth_file_add(a->file, user, password, groups) : -ENOTSUP;
}

int auth_user_passwd(struct auth *a, const char *user, const char *password)
{
	return a->file ? auth_file_passwd(a->file, user, password) : -ENOTSUP;
}

int auth_user_del(struct auth *a, const char *user)
{
	return a->file ? auth_file_del(a->file, user) : -ENOTSUP;
}

int auth_user_list(struct auth *a, void (*fn)(void *opaque, const char *user, const char *groups), void *opaque)
{
	return a->file ? auth_file_list(a->file, fn, opaque) : -ENOTSUP;
}

void auth_get_stats(struct auth *a, struct auth_stats *out)
{
	pthread_mutex_lock(&a->stats_mutex);
	*out = a->stats;
	pthread_mutex_unlock(&a->stats_mutex);
}
