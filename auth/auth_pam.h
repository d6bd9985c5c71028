/* auth_pam.h — private to auth/: one PAM conversation per check, and system group membership. */
#ifndef VDI_AUTH_PAM_H
#define VDI_AUTH_PAM_H

/* pam_authenticate then pam_acct_mgmt on service with PAM_RHOST = address (if any).
 * 0: may log in; -EACCES: wrong password, unknown user, account refused; -EIO: PAM could not answer. */
int auth_pam_check(const char *service, const char *user, const char *password, const char *address);
/* 1 if the system's user database (getpwnam: files, LDAP... through NSS) has user, else 0. */
int auth_pam_user_exists(const char *user);
/* 1 if the system user is in the system group (primary or supplementary), 0 if not or unknown. */
int auth_pam_in_group(const char *user, const char *group);

#endif
