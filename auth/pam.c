/* pam.c — the PAM backend: a conversation that answers the password and user-name prompts and logs
 * the modules' messages but never a prompt reply; group membership through getgrouplist(). */
#include "auth_pam.h"

#include "../common/log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PAM_TEXT_LOGGED 200

struct conv_data {
	const char *user, *password;
};

/* Module text is logged on one line: control characters become '?', long text is cut. */
static void log_module_text(int style, const char *text)
{
	char clean[PAM_TEXT_LOGGED + 1];
	size_t n = 0;
	for (; text && text[n] && n < PAM_TEXT_LOGGED; n++)
		clean[n] = (unsigned char)text[n] < ' ' || text[n] == 0x7f ? '?' : text[n];
	clean[n] = '\0';
	if (style == PAM_ERROR_MSG)
		log_warn("pam: %s", clean);
	else
		log_info("pam: %s", clean);
}

static void free_replies(struct pam_response *r, int n)
{
	for (int i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

/* PAM rules: the replies array and each reply string are malloc'd here and freed by PAM on success;
 * on failure nothing is handed over. */
static int conversation(int num_msg, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
	const struct conv_data *cd = appdata;
	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || !msg || !resp)
		return PAM_CONV_ERR;
	struct pam_response *r = calloc((size_t)num_msg, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < num_msg; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			r[i].resp = strdup(cd->password);
			break;
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(cd->user);
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			log_module_text(msg[i]->msg_style, msg[i]->msg);
			continue;
		default:
			log_warn("pam: a module asked a question of kind %d, which vdi cannot answer",
				 msg[i]->msg_style);
			free_replies(r, num_msg);
			return PAM_CONV_ERR;
		}
		if (!r[i].resp) {
			free_replies(r, num_msg);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* The password was wrong or the account may not log in now, as opposed to PAM failing. */
static bool is_denial(int rc)
{
	switch (rc) {
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_PERM_DENIED:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_AUTHTOK_EXPIRED:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
		return true;
	default:
		return false;
	}
}

int auth_pam_check(const char *service, const char *user, const char *password, const char *address)
{
	struct conv_data cd = {.user = user, .password = password};
	struct pam_conv conv = {.conv = conversation, .appdata_ptr = &cd};
	pam_handle_t *pamh = NULL;
	int rc = pam_start(service, user, &conv, &pamh);
	if (rc != PAM_SUCCESS) {
		log_error("pam_start(%s): %s", service, pamh ? pam_strerror(pamh, rc) : "failed");
		if (pamh)
			pam_end(pamh, rc);
		return -EIO;
	}
	const char *step = "pam_set_item(PAM_RHOST)";
	if (address && *address)
		rc = pam_set_item(pamh, PAM_RHOST, address);
	if (rc == PAM_SUCCESS) {
		step = "pam_authenticate";
		rc = pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
	}
	if (rc == PAM_SUCCESS) {
		step = "pam_acct_mgmt";
		rc = pam_acct_mgmt(pamh, PAM_DISALLOW_NULL_AUTHTOK);
	}
	int ret = 0;
	if (rc != PAM_SUCCESS) {
		if (is_denial(rc)) {
			log_debug("%s (service %s): %s", step, service, pam_strerror(pamh, rc));
			ret = -EACCES;
		} else {
			log_error("%s (service %s): %s", step, service, pam_strerror(pamh, rc));
			ret = -EIO;
		}
	}
	pam_end(pamh, rc);
	return ret;
}

/* getpwnam_r/getgrnam_r with a buffer that grows on ERANGE; returns the buffer to free, or NULL. */
static char *lookup_pw(const char *user, struct passwd *pw)
{
	struct passwd *res = NULL;
	for (size_t len = 4096; len <= (1u << 20); len *= 2) {
		char *buf = malloc(len);
		if (!buf)
			return NULL;
		int e = getpwnam_r(user, pw, buf, len, &res);
		if (e == 0 && res)
			return buf;
		free(buf);
		if (e != ERANGE)
			return NULL;
	}
	return NULL;
}

static char *lookup_gr(const char *group, struct group *gr)
{
	struct group *res = NULL;
	for (size_t len = 4096; len <= (1u << 20); len *= 2) {
		char *buf = malloc(len);
		if (!buf)
			return NULL;
		int e = getgrnam_r(group, gr, buf, len, &res);
		if (e == 0 && res)
			return buf;
		free(buf);
		if (e != ERANGE)
			return NULL;
	}
	return NULL;
}

int auth_pam_user_exists(const char *user)
{
	struct passwd pw;
	char *buf = lookup_pw(user, &pw);
	free(buf);
	return buf != NULL;
}

int auth_pam_in_group(const char *user, const char *group)
{
	struct passwd pw;
	struct group gr;
	char *pw_buf = lookup_pw(user, &pw);
	char *gr_buf = pw_buf ? lookup_gr(group, &gr) : NULL;
	int ret = 0;
	if (gr_buf) {
		int n = 64;
		for (int tries = 0; tries < 4 && !ret; tries++) {
			gid_t *gids = calloc((size_t)n, sizeof(*gids));
			if (!gids)
				break;
			int want = n;
			int got = getgrouplist(pw.pw_name, pw.pw_gid, gids, &want);
			for (int i = 0; got > 0 && i < got; i++)
				ret |= gids[i] == gr.gr_gid;
			free(gids);
			if (got >= 0 || want <= n || want > 65536)
				break;
			n = want;
		}
	}
	free(pw_buf);
	free(gr_buf);
	return ret;
}
