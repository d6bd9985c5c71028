/* file.c — the users file backend: one "name:hash:groups" line per user, yescrypt hashes, the file
 * re-read when it changes on disk and rewritten atomically (temp file, fsync, rename) under a flock
 * on "FILE.lock" so concurrent writers in other processes never lose each other's changes. */
#include "auth_file.h"

#include "../common/log.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN     64
#define PASSWORD_MAX_LEN 1024
#define LINE_MAX_LEN     4096
#define FILE_MAX_SIZE    (16u << 20)
#define SALT_BYTES       16

/* A line as read: a user (name set) or anything else kept verbatim (comments, blanks, malformed). */
struct line {
	char *name, *hash, *groups; /* a user line */
	char *raw;                  /* any other line */
};

struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct auth_file {
	pthread_mutex_t mutex;
	char *path, *lock_path, *dir;
	struct line *lines;
	size_t nlines;
	struct file_id id;                  /* of the file the lines came from */
	bool loaded;                        /* lines reflect id */
	bool load_failed;                   /* logged once until it loads again */
	unsigned bad_lines;                 /* at the last load */
	char dummy_hash[CRYPT_OUTPUT_SIZE]; /* verified for unknown users so they cost the same */
};

bool auth_file_valid_name(const char *name)
{
	size_t n = 0;
	if (!name || name[0] == '-')
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		if (n >= NAME_MAX_LEN || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
					   c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* Comma-separated names; empty is fine. */
static bool valid_groups(const char *groups)
{
	if (!groups || !*groups)
		return true;
	if (strlen(groups) > LINE_MAX_LEN / 2)
		return false;
	char buf[LINE_MAX_LEN / 2 + 1];
	strcpy(buf, groups);
	char *save = NULL;
	size_t count = 0;
	for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save), count++)
		if (!auth_file_valid_name(g))
			return false;
	/* strtok_r skips empty fields; count them back in to refuse "a,,b", ",a" and "a,". */
	size_t commas = 0;
	for (const char *p = groups; *p; p++)
		commas += *p == ',';
	return count == commas + 1;
}

static bool valid_password(const char *password)
{
	return password && *password && strlen(password) <= PASSWORD_MAX_LEN;
}

/* A stored hash: a modern crypt method ("$id$..."), or "!"/"*" at the start for a disabled account.
 * Anything else would fall back to DES in crypt_r, so it is refused. */
static bool valid_hash(const char *hash)
{
	if (hash[0] != '$' && hash[0] != '!' && hash[0] != '*')
		return false;
	for (const char *p = hash; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static int hash_password(const char *password, char *out, size_t out_len)
{
	char rnd[SALT_BYTES], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	size_t got = 0;
	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	if (!crypt_gensalt_rn("$y$", 0, rnd, sizeof(rnd), setting, sizeof(setting)))
		return -EIO;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	int ret = -EIO;
	const char *h = crypt_r(password, setting, cd);
	if (h && h[0] == '$' && strlen(h) < out_len) {
		strcpy(out, h);
		ret = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

/* Compares without an early exit, so the time does not tell how many leading bytes matched. */
static bool equal_const_time(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	volatile unsigned char diff = la != lb;
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

/* True when password hashes to stored; always computes one hash. */
static bool verify(const char *password, const char *stored)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	const char *h = crypt_r(password, stored, cd);
	bool ok = h && h[0] == '$' && stored[0] == '$' && equal_const_time(h, stored);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

static void free_lines(struct line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(lines[i].name);
		free(lines[i].hash);
		free(lines[i].groups);
		free(lines[i].raw);
	}
	free(lines);
}

static struct line *find_user(struct line *lines, size_t n, const char *user)
{
	for (size_t i = 0; i < n; i++)
		if (lines[i].name && !strcmp(lines[i].name, user))
			return &lines[i];
	return NULL;
}

/* Parses one line (len bytes, NUL-terminated in place) into l, a user line if it is one. Returns
 * NULL or what is wrong with it. */
static const char *parse_line(struct line *lines, size_t nlines, struct line *l, char *text, size_t len)
{
	if (strlen(text) != len)
		return "contains a NUL byte";
	size_t i = 0;
	while (text[i] == ' ' || text[i] == '\t')
		i++;
	if (text[i] == '\0' || text[i] == '#')
		return NULL; /* kept verbatim */
	if (len > LINE_MAX_LEN)
		return "is too long";
	char *c1 = strchr(text, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || strchr(c2 + 1, ':'))
		return "is not name:hash:groups";
	*c1 = *c2 = '\0';
	const char *why = NULL;
	if (!auth_file_valid_name(text))
		why = "has a bad user name";
	else if (!valid_hash(c1 + 1))
		why = "has a bad hash (expected $y$... or another $id$ crypt hash)";
	else if (!valid_groups(c2 + 1))
		why = "has a bad group list";
	else if (find_user(lines, nlines, text))
		why = "repeats a user name";
	if (!why) {
		l->name = strdup(text);
		l->hash = strdup(c1 + 1);
		l->groups = strdup(c2 + 1);
	}
	*c1 = *c2 = ':';
	return why;
}

static int read_all(int fd, size_t size, char *buf)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)got;
}

static void fill_id(struct file_id *id, const struct stat *st)
{
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
	if (a->exists != b->exists)
		return false;
	return !a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
			      a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
			      a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec);
}

/* Reads and parses the whole file into f (called with the mutex held). A missing file is no users. */
static int load(struct auth_file *f)
{
	struct file_id id = {0};
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		free_lines(f->lines, f->nlines);
		f->lines = NULL;
		f->nlines = 0;
		f->bad_lines = 0;
		f->id = id;
		f->loaded = true;
		return 0;
	}
	struct stat st;
	int ret = 0;
	char *buf = NULL;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX_SIZE) {
		ret = -EINVAL; /* refresh() says what that means */
		goto out;
	}
	if (st.st_mode & 077)
		log_warn("%s: readable or writable by others (mode %03o); it should be 0600", f->path,
			 (unsigned)(st.st_mode & 0777));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	int n = read_all(fd, (size_t)st.st_size, buf);
	if (n < 0) {
		ret = n;
		goto out;
	}
	buf[n] = '\0';
	size_t max_lines = 1;
	for (int i = 0; i < n; i++)
		max_lines += buf[i] == '\n';
	struct line *lines = calloc(max_lines, sizeof(*lines));
	if (!lines) {
		ret = -ENOMEM;
		goto out;
	}
	size_t nlines = 0;
	unsigned bad = 0, lineno = 0;
	for (char *p = buf; p < buf + n;) {
		char *nl = memchr(p, '\n', (size_t)(buf + n - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(buf + n - p);
		p[len] = '\0';
		lineno++;
		struct line *l = &lines[nlines];
		const char *why = parse_line(lines, nlines, l, p, len);
		if (why) {
			log_error("%s:%u: line %s; skipped", f->path, lineno, why);
			bad++;
		}
		if (!l->name) {
			l->raw = malloc(len + 1);
			if (l->raw) {
				memcpy(l->raw, p, len + 1);
			}
		}
		if ((!l->name && !l->raw) || (l->name && (!l->hash || !l->groups))) {
			free_lines(lines, nlines + 1);
			ret = -ENOMEM;
			goto out;
		}
		nlines++;
		p += len + 1;
	}
	free_lines(f->lines, f->nlines);
	f->lines = lines;
	f->nlines = nlines;
	f->bad_lines = bad;
	fill_id(&id, &st);
	f->id = id;
	f->loaded = true;
out:
	free(buf);
	close(fd);
	return ret;
}

/* Re-reads the file if it changed since the last load (mutex held). */
static int refresh(struct auth_file *f, bool force)
{
	struct file_id now = {0};
	struct stat st;
	if (stat(f->path, &st) == 0)
		fill_id(&now, &st);
	else if (errno != ENOENT)
		goto failed;
	if (!force && f->loaded && same_id(&now, &f->id))
		return 0;
	int ret = load(f);
	if (ret == 0) {
		if (f->load_failed)
			log_info("%s: readable again", f->path);
		f->load_failed = false;
		return 0;
	}
	errno = -ret;
failed:
	if (!f->load_failed)
		log_error("%s: cannot read the users file: %s", f->path,
			  errno == EINVAL ? "not a regular file of at most 16 MiB" : strerror(errno));
	f->load_failed = true;
	return -EIO;
}

struct auth_file *auth_file_open(const char *path)
{
	struct auth_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->mutex, NULL);
	f->path = strdup(path);
	char *copy = strdup(path);
	if (copy)
		f->dir = strdup(dirname(copy));
	free(copy);
	if (f->path && asprintf(&f->lock_path, "%s.lock", path) < 0)
		f->lock_path = NULL;
	char rnd[33];
	if (!f->path || !f->dir || !f->lock_path || getrandom(rnd, 32, 0) != 32) {
		auth_file_close(f);
		return NULL;
	}
	/* A random password nobody knows, hashed as a real one would be. */
	for (int i = 0; i < 32; i++)
		rnd[i] = (char)('a' + (unsigned char)rnd[i] % 26);
	rnd[32] = '\0';
	if (hash_password(rnd, f->dummy_hash, sizeof(f->dummy_hash)) < 0) {
		log_error("cannot compute a yescrypt hash");
		auth_file_close(f);
		return NULL;
	}
	pthread_mutex_lock(&f->mutex);
	refresh(f, true);
	pthread_mutex_unlock(&f->mutex);
	return f;
}

void auth_file_close(struct auth_file *f)
{
	if (!f)
		return;
	free_lines(f->lines, f->nlines);
	free(f->path);
	free(f->lock_path);
	free(f->dir);
	pthread_mutex_destroy(&f->mutex);
	free(f);
}

int auth_file_check(struct auth_file *f, const char *user, const char *password)
{
	char stored[CRYPT_OUTPUT_SIZE];
	pthread_mutex_lock(&f->mutex);
	int ret = refresh(f, false);
	struct line *l = ret == 0 ? find_user(f->lines, f->nlines, user) : NULL;
	bool known = l && l->hash[0] == '$' && strlen(l->hash) < sizeof(stored);
	strcpy(stored, known ? l->hash : f->dummy_hash);
	pthread_mutex_unlock(&f->mutex);
	if (ret < 0)
		return ret;
	/* The hash is computed outside the lock so logins run in parallel. */
	bool ok = verify(password, stored);
	return ok && known ? 0 : -EACCES;
}

static int write_string(int fd, const char *s)
{
	size_t len = strlen(s), done = 0;
	while (done < len) {
		ssize_t n = write(fd, s + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Writes f->lines to a temporary file in the same directory and renames it over the users file. */
static int write_file(struct auth_file *f)
{
	char *tmp = NULL;
	char *base = strrchr(f->path, '/');
	base = base ? base + 1 : f->path;
	if (asprintf(&tmp, "%s/.%s.XXXXXX", f->dir, base) < 0)
		return -ENOMEM;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_error("%s: cannot create a temporary file: %s", tmp, strerror(e));
		free(tmp);
		return -EIO;
	}
	int ret = fchmod(fd, 0600) < 0 ? -errno : 0;
	for (size_t i = 0; i < f->nlines && ret == 0; i++) {
		const struct line *l = &f->lines[i];
		if (l->name) {
			ret = write_string(fd, l->name);
			ret = ret ? ret : write_string(fd, ":");
			ret = ret ? ret : write_string(fd, l->hash);
			ret = ret ? ret : write_string(fd, ":");
			ret = ret ? ret : write_string(fd, l->groups);
		} else {
			ret = write_string(fd, l->raw);
		}
		ret = ret ? ret : write_string(fd, "\n");
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, f->path) < 0)
		ret = -errno;
	if (ret < 0) {
		log_error("%s: cannot write the users file: %s", f->path, strerror(-ret));
		unlink(tmp);
		free(tmp);
		return -EIO;
	}
	free(tmp);
	/* The rename is durable once the directory is. */
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

enum change { CHANGE_ADD, CHANGE_PASSWD, CHANGE_DEL };

/* Changes f->lines in memory (mutex held); the caller writes them out. */
static int apply(struct auth_file *f, enum change what, const char *user, const char *hash, const char *groups)
{
	struct line *l = find_user(f->lines, f->nlines, user);
	if (what == CHANGE_ADD) {
		if (l)
			return -EEXIST;
		struct line *grown = realloc(f->lines, (f->nlines + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		f->lines = grown;
		struct line *n = &f->lines[f->nlines++];
		*n = (struct line){.name = strdup(user), .hash = strdup(hash), .groups = strdup(groups)};
		return n->name && n->hash && n->groups ? 0 : -ENOMEM;
	}
	if (!l)
		return -ENOENT;
	if (what == CHANGE_PASSWD) {
		char *h = strdup(hash);
		if (!h)
			return -ENOMEM;
		free(l->hash);
		l->hash = h;
		return 0;
	}
	free(l->name);
	free(l->hash);
	free(l->groups);
	size_t i = (size_t)(l - f->lines);
	memmove(l, l + 1, (f->nlines - i - 1) * sizeof(*l));
	f->nlines--;
	return 0;
}

/* Applies one change to the file as it is on disk now, holding the cross-process lock. */
static int change(struct auth_file *f, enum change what, const char *user, const char *hash, const char *groups)
{
	int lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		log_error("%s: %s", f->lock_path, strerror(errno));
		return -EIO;
	}
	while (flock(lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			log_error("%s: flock: %s", f->lock_path, strerror(errno));
			close(lock_fd);
			return -EIO;
		}
	}
	pthread_mutex_lock(&f->mutex);
	/* Forced: a file another process renamed into place may differ from ours only in an inode
	 * number the kernel reused. */
	int ret = refresh(f, true);
	if (ret == 0)
		ret = apply(f, what, user, hash, groups);
	if (ret == 0)
		ret = write_file(f);
	/* Whatever happened, the lines again say what the disk says. */
	refresh(f, true);
	pthread_mutex_unlock(&f->mutex);
	flock(lock_fd, LOCK_UN);
	close(lock_fd);
	return ret;
}

int auth_file_add(struct auth_file *f, const char *user, const char *password, const char *groups)
{
	if (!auth_file_valid_name(user) || !valid_password(password) || !valid_groups(groups))
		return -EINVAL;
	char hash[CRYPT_OUTPUT_SIZE];
	int ret = hash_password(password, hash, sizeof(hash));
	if (ret < 0)
		return ret;
	return change(f, CHANGE_ADD, user, hash, groups ? groups : "");
}

int auth_file_passwd(struct auth_file *f, const char *user, const char *password)
{
	if (!auth_file_valid_name(user) || !valid_password(password))
		return -EINVAL;
	char hash[CRYPT_OUTPUT_SIZE];
	int ret = hash_password(password, hash, sizeof(hash));
	if (ret < 0)
		return ret;
	return change(f, CHANGE_PASSWD, user, hash, NULL);
}

int auth_file_del(struct auth_file *f, const char *user)
{
	if (!auth_file_valid_name(user))
		return -EINVAL;
	return change(f, CHANGE_DEL, user, NULL, NULL);
}

int auth_file_list(struct auth_file *f, void (*fn)(void *opaque, const char *user, const char *groups), void *opaque)
{
	pthread_mutex_lock(&f->mutex);
	int ret = refresh(f, false);
	for (size_t i = 0; ret >= 0 && i < f->nlines; i++) {
		if (!f->lines[i].name)
			continue;
		if (fn)
			fn(opaque, f->lines[i].name, f->lines[i].groups);
		ret++;
	}
	pthread_mutex_unlock(&f->mutex);
	return ret;
}

int auth_file_in_group(struct auth_file *f, const char *user, const char *group)
{
	pthread_mutex_lock(&f->mutex);
	int ret = refresh(f, false);
	const struct line *l = ret == 0 ? find_user(f->lines, f->nlines, user) : NULL;
	if (l) {
		size_t glen = strlen(group);
		for (const char *p = l->groups; *p;) {
			const char *end = strchrnul(p, ',');
			if ((size_t)(end - p) == glen && !strncmp(p, group, glen)) {
				ret = 1;
				break;
			}
			p = *end ? end + 1 : end;
		}
	}
	pthread_mutex_unlock(&f->mutex);
	return ret;
}

int auth_file_has_user(struct auth_file *f, const char *user)
{
	pthread_mutex_lock(&f->mutex);
	int ret = refresh(f, false);
	if (ret == 0)
		ret = find_user(f->lines, f->nlines, user) != NULL;
	pthread_mutex_unlock(&f->mutex);
	return ret;
}

unsigned auth_file_bad_lines(struct auth_file *f)
{
	pthread_mutex_lock(&f->mutex);
	refresh(f, false);
	unsigned n = f->bad_lines;
	pthread_mutex_unlock(&f->mutex);
	return n;
}
