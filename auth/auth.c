/* auth.c — auth/'s face: picks the backend, puts lockout in front of it, audits every decision, and
 * matches users against "user @group *" lists. */
#include "auth.h"

#include "auth_file.h"
#include "auth_lockout.h"
#include "auth_pam.h"

#include "../common/log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define USER_MAX          256 /* longer names are refused without asking the backend */
#define PASSWORD_MAX      1024
#define ADDRESS_MAX       128
#define LOCKOUT_TABLE_MAX AUTH_KNOWN_ADDRESSES_MAX
#define LOG_USER_MAX      64 /* of a name, in a log line */
#define NAME_KEY_MAX      64
#define NAME_HEX          24 /* hex digits of an unknown name's HMAC in the audit */

struct auth {
	enum auth_backend backend;
	char *pam_service;
	char *admins;
	struct auth_file *file;
	struct auth_lockout *lockout;
	unsigned char name_key[NAME_KEY_MAX];
	size_t name_key_len;
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
	struct auth_lockout_config lc = {
	    .pair_attempts = cfg->lockout_attempts ? cfg->lockout_attempts : 5,
	    .address_attempts = cfg->lockout_address_attempts ? cfg->lockout_address_attempts : 20,
	    .user_attempts = cfg->lockout_user_attempts ? cfg->lockout_user_attempts : 10,
	    .window_s = cfg->lockout_window_s ? cfg->lockout_window_s : 600,
	    .duration_s = cfg->lockout_duration_s ? cfg->lockout_duration_s : 300,
	    .max_duration_s = cfg->lockout_max_duration_s ? cfg->lockout_max_duration_s : 3600,
	    .max_delay_s = cfg->lockout_max_delay_s ? cfg->lockout_max_delay_s : 60,
	    .max_entries = LOCKOUT_TABLE_MAX,
	    .clock = cfg->clock ? cfg->clock : monotonic_seconds,
	};
	a->lockout = auth_lockout_create(&lc);
	if (cfg->name_key) {
		a->name_key_len = cfg->name_key_len < NAME_KEY_MAX ? cfg->name_key_len : NAME_KEY_MAX;
		memcpy(a->name_key, cfg->name_key, a->name_key_len);
	} else {
		a->name_key_len = 32;
		if (getrandom(a->name_key, a->name_key_len, 0) != (ssize_t)a->name_key_len)
			a->name_key_len = 0;
	}
	if (a->name_key_len < 16) {
		set_err(err, err_len, "the key of unknown user names needs 16 to 64 bytes");
		auth_destroy(a);
		return NULL;
	}
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
	explicit_bzero(a->name_key, sizeof(a->name_key));
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

/* Whether the backend knows user: the users file's, or the system's user database for PAM. */
static bool known_user(struct auth *a, const char *user)
{
	if (!*user || strnlen(user, USER_MAX + 1) > USER_MAX)
		return false;
	if (a->backend == AUTH_BACKEND_FILE)
		return auth_file_has_user(a->file, user) == 1;
	return auth_pam_user_exists(user) == 1;
}

/* The name the audit keeps of a refused attempt's user: as typed when the backend knows it, else
 * "unknown:" and the start of its HMAC (out holds at least 8 + NAME_HEX + 1). */
static const char *audit_name(struct auth *a, const char *user, char *out)
{
	if (!*user || known_user(a, user))
		return user;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), a->name_key, (int)a->name_key_len, (const unsigned char *)user, strnlen(user, 4096),
		  mac, &len) ||
	    len * 2 < NAME_HEX)
		return "unknown";
	memcpy(out, "unknown:", 8);
	for (unsigned i = 0; i < NAME_HEX / 2; i++)
		snprintf(out + 8 + 2 * i, 3, "%02x", mac[i]);
	return out;
}

static void audit(struct auth *a, const char *event, const char *user, const char *address, const char *detail)
{
	char name[8 + NAME_HEX + 1];
	if (a->audit)
		a->audit(a->audit_opaque, event, strcmp(event, "login_ok") ? audit_name(a, user, name) : user, address,
			 detail);
}

/* Whether user or addr is locked out: if so the attempt is refused, counted and audited (the audit's
 * log line is the only one: a flood of them is aggregated there), and *locked_for_s (may be NULL) set. */
static bool refused_locked(struct auth *a, const char *user, const char *addr, unsigned *locked_for_s)
{
	unsigned left = auth_lockout_remaining(a->lockout, user, addr);
	if (!left)
		return false;
	char detail[96];
	count(a, &a->stats.locked_refused);
	snprintf(detail, sizeof(detail), "locked out for %u more s", left);
	audit(a, "locked_refused", user, addr, detail);
	if (locked_for_s)
		*locked_for_s = left;
	return true;
}

void auth_remember_login(struct auth *a, const char *user, const char *address, uint64_t age_s)
{
	auth_lockout_known_since(a->lockout, user, address, age_s);
}

enum auth_result auth_check_remembered(struct auth *a, const char *user, const char *address, unsigned *locked_for_s)
{
	char addr[ADDRESS_MAX + 1];
	if (locked_for_s)
		*locked_for_s = 0;
	user = user ? user : "";
	snprintf(addr, sizeof(addr), "%s", address ? address : "");
	return refused_locked(a, user, addr, locked_for_s) ? AUTH_LOCKED : AUTH_OK;
}

enum auth_result auth_check(struct auth *a, const char *user, const char *password, const char *address,
			    unsigned *locked_for_s)
{
	char addr[ADDRESS_MAX + 1], log_user[LOG_USER_MAX + 1], log_addr[ADDRESS_MAX + 1], detail[160];
	if (locked_for_s)
		*locked_for_s = 0;
	user = user ? user : "";
	password = password ? password : "";
	snprintf(addr, sizeof(addr), "%s", address ? address : "");

	if (refused_locked(a, user, addr, locked_for_s))
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
		auth_lockout_success(a->lockout, user, addr);
		count(a, &a->stats.logins_ok);
		printable(log_user, sizeof(log_user), user);
		printable(log_addr, sizeof(log_addr), *addr ? addr : "unknown address");
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
	/* No log line of our own for a failure: the audit's is aggregated in a flood, and an unknown name
	 * is not printed. */
	int reached = auth_lockout_failure(a->lockout, user, addr);
	unsigned left = reached ? auth_lockout_remaining(a->lockout, user, addr) : 0;
	if (reached & AUTH_LOCKOUT_DELAY)
		snprintf(detail, sizeof(detail),
			 "wrong user name or password; too many failures for this user: the "
			 "next attempt from this address in %u s",
			 left);
	else
		snprintf(detail, sizeof(detail), "wrong user name or password");
	audit(a, "login_failed", user, addr, detail);
	if (reached & (AUTH_LOCKOUT_PAIR | AUTH_LOCKOUT_ADDRESS)) {
		count(a, &a->stats.lockouts);
		snprintf(detail, sizeof(detail), "%s%s%s locked out for %u s",
			 reached & AUTH_LOCKOUT_PAIR ? "user from this address" : "",
			 (reached & AUTH_LOCKOUT_PAIR) && (reached & AUTH_LOCKOUT_ADDRESS) ? " and " : "",
			 reached & AUTH_LOCKOUT_ADDRESS ? "address" : "", left);
		audit(a, "lockout", user, addr, detail);
	}
	if (locked_for_s)
		*locked_for_s = left;
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
