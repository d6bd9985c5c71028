/* auth_file.h — private to auth/: the users file backend ("name:hash:groups" lines, yescrypt hashes),
 * re-read when it changes on disk, changed atomically under a lock shared with other processes. */
#ifndef VDI_AUTH_FILE_H
#define VDI_AUTH_FILE_H

#include <stdbool.h>

struct auth_file;

/* The file need not exist yet (no users until the first add). NULL only without memory or randomness. */
struct auth_file *auth_file_open(const char *path);
void auth_file_close(struct auth_file *f);

/* 0: right password; -EACCES: wrong password, unknown or disabled user; -EIO: the file is unreadable.
 * Costs one hash computation whatever the user, so timing does not tell which names exist. */
int auth_file_check(struct auth_file *f, const char *user, const char *password);
/* As auth_user_add() and friends in auth.h. */
int auth_file_add(struct auth_file *f, const char *user, const char *password, const char *groups);
int auth_file_passwd(struct auth_file *f, const char *user, const char *password);
int auth_file_del(struct auth_file *f, const char *user);
int auth_file_list(struct auth_file *f, void (*fn)(void *opaque, const char *user, const char *groups), void *opaque);
/* 1 if user is in group, 0 if not (or no such user), negative errno if the file is unreadable. */
int auth_file_in_group(struct auth_file *f, const char *user, const char *group);
/* 1 if the file has user (disabled or not), 0 if not, negative errno if the file is unreadable. */
int auth_file_has_user(struct auth_file *f, const char *user);
/* Lines skipped as malformed at the last load. */
unsigned auth_file_bad_lines(struct auth_file *f);

/* [A-Za-z0-9._-]{1,64}, not starting with '-': user and group names. */
bool auth_file_valid_name(const char *name);

#endif
