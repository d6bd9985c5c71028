/* load.c — the broker under load, against a real vdi-server (issue 19):
 *   burst  1,000 connection attempts at once, half VNC and half RDP, from ten
 *          loopback addresses: how many reached the login picture, how many
 *          were refused politely, the time until every one was answered;
 *   storm  a logon storm: N users (VDI_BENCH_STORM, 500) log in at once over
 *          RDP with their passwords (file backend, yescrypt) to a clone pool
 *          of N desktops, each to its desktop's first picture: p50/p99, logons
 *          a second beside the password hash's bound (cores / one hash's time),
 *          and the store checked: no desktop assigned twice, nobody lost;
 *   soak   (`make soak`, not CI) VDI_SOAK_CONNS (10,000) idle connections at
 *          the login screen, VNC and RDP alternately, opened by worker
 *          processes until the target or the first limit (the server's
 *          refusals, the host's memory); with them held, vdi-server's RSS,
 *          descriptors and threads, and a real login's latency.
 * Figures, not tests: nothing here passes or fails on time. */
#include "../../auth/auth.h"
#include "../../common/log.h"
#include "../../display/display.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/cache/cache.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/graphics.h>
#include <winpr/synch.h>

enum {
	DESK_W = 1024, /* the greeter's and the pools' size, and every client's: no resize */
	DESK_H = 768,
	DESK_MIB = 64,
	BURST = 1000,       /* connection attempts at once, half VNC, half RDP */
	BURST_SOURCES = 10, /* from 127.0.0.10 .. 127.0.0.19 */
	STORM_SOURCES = 10, /* storm users from 127.0.1.1 .. 127.0.1.10 */
	SOAK_PER_WORKER = 2000,
	SOAK_OPENERS = 24,          /* threads opening connections in each worker */
	SOAK_LOGINS = 5,            /* real logins timed while the crowd is held */
	SOAK_MIN_AVAIL_MIB = 6144,  /* the host's MemAvailable the soak leaves to everyone else */
	STORM_MIN_AVAIL_MIB = 4096, /* and the storm */
	STORM_MIB_PER_USER = 41,    /* measured: vdi-server ~19.5 MiB a connected user, a clone ~9, the client ~12 */
};

static const char *vmm_path = "build/bin/vdi-vmm";
static const char *server_path = "build/bin/vdi-server";
static const char *password = "bench-password";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Sorts and returns the p-th percentile in ms. */
static double pct_ms(uint64_t *v, size_t n, unsigned p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	size_t i = (n * p + 99) / 100;
	return (double)v[i ? i - 1 : 0] / 1e6;
}

/* ---- each thread's client address: every TCP connect of the thread, FreeRDP's too, leaves from it ---- */

static __thread const char *source_address;

int connect(int fd, const struct sockaddr *addr, socklen_t len);
int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	if (!real_connect)
		real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (source_address && addr && addr->sa_family == AF_INET) {
		struct sockaddr_in from = {.sin_family = AF_INET};
		if (inet_pton(AF_INET, source_address, &from.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
	}
	return real_connect(fd, addr, len);
}

/* ---- files, processes, the state store ---- */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Every vdi-vmm whose command line names `dir` (the run's own temporary
 * directory) is ours: killed and reaped (we are their subreaper). */
static void kill_vmms(const char *dir)
{
	for (int round = 0; round < 100; round++) {
		DIR *proc = opendir("/proc");
		if (!proc)
			return;
		int found = 0;
		struct dirent *e;
		while ((e = readdir(proc))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 0)
				continue;
			char path[64], cmd[4096];
			snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			ssize_t len = read(fd, cmd, sizeof(cmd) - 1);
			close(fd);
			if (len <= 0)
				continue;
			cmd[len] = '\0';
			bool mentions = false;
			for (ssize_t i = 0; i < len; i += (ssize_t)strlen(cmd + i) + 1)
				mentions |= strstr(cmd + i, dir) != NULL;
			if (!mentions || !strstr(cmd, "vdi-vmm"))
				continue;
			found++;
			kill((pid_t)pid, SIGKILL);
		}
		closedir(proc);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (!found)
			return;
		usleep(20000);
	}
	printf("warning: some vdi-vmm processes under %s would not die\n", dir);
}

/* The integer `sql` answers in the store at `db` (read-only); -1 when it cannot be read. */
static long db_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	long n = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 2000);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			n = (long)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return n;
}

/* The text `sql` answers (first row, first column) into buf; false when none. */
static bool db_text(const char *db, const char *sql, char *buf, size_t size)
{
	sqlite3 *h = NULL;
	bool ok = false;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 2000);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0)) {
			snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
			ok = true;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return ok;
}

static long proc_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* CPU seconds (user + system) a process has used. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after the name: state, then fields 4..13, utime and stime are fields 14 and 15 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double load_avg(void)
{
	double l[1] = {0};
	return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static long fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Descriptors of `pid` below FD_SETSIZE (1024), where libvncserver's must be. */
static long fd_count_low(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && atoi(e->d_name) < 1024;
	closedir(d);
	return n;
}

static long mem_available_mib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib < 0 ? -1 : kib / 1024;
}

/* Lines of `path` containing `text`. */
static int log_count(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* ---- users: one yescrypt hash made through auth/, the same on every line ---- */

/* `n` users PREFIX0.. into `path`; *hash_ms is what making the one hash took. */
static int make_users(const char *path, const char *prefix, int n, double *hash_ms)
{
	char err[256], scratch[4200];
	snprintf(scratch, sizeof(scratch), "%s.one", path);
	struct auth_config ac = {.backend = AUTH_BACKEND_FILE, .users_file = scratch};
	struct auth *a = auth_create(&ac, err, sizeof(err));
	uint64_t t0 = now_ns();
	if (!a || auth_user_add(a, "x", password, NULL) < 0) {
		printf("cannot make a users file: %s\n", a ? "auth_user_add failed" : err);
		auth_destroy(a);
		return -1;
	}
	if (hash_ms)
		*hash_ms = (double)(now_ns() - t0) / 1e6;
	auth_destroy(a);
	char line[512] = "";
	FILE *f = fopen(scratch, "r");
	bool ok = f && fgets(line, sizeof(line), f);
	if (f)
		fclose(f);
	unlink(scratch);
	char *hash = ok ? strchr(line, ':') : NULL;
	FILE *out = hash ? fopen(path, "w") : NULL;
	if (!out)
		return -1;
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%d%s", prefix, i, hash);
	fclose(out);
	chmod(path, 0600);
	return 0;
}

/* One password check's time alone (median of 5), through the file backend on `users`. */
static double check_ms(const char *users, const char *user)
{
	char err[256];
	struct auth_config ac = {.backend = AUTH_BACKEND_FILE, .users_file = users};
	struct auth *a = auth_create(&ac, err, sizeof(err));
	if (!a)
		return -1;
	uint64_t v[5];
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = now_ns();
		auth_check(a, user, password, "10.9.9.9", NULL);
		v[i] = now_ns() - t0;
	}
	auth_destroy(a);
	return pct_ms(v, 5, 50);
}

/* ---- vdi-server ---- */

struct server {
	char dir[128];
	char log[256];
	char db[256];
	pid_t pid;
	int rdp_port, vnc_port;
};

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* vdi-server on a configuration of our own in s->dir (users in s->dir/users),
 * `server_extra` added to [server] and `rest` (pools) after; waits for ready. */
static int server_start(struct server *s, const char *server_extra, const char *rest)
{
	char path[256], vmm_abs[4096], text[8192];
	if (!realpath(vmm_path, vmm_abs))
		return -errno;
	s->rdp_port = free_port();
	s->vnc_port = free_port();
	snprintf(text, sizeof(text),
		 "[server]\ndata_dir = %s\nbind = 0.0.0.0\nrdp_port = %d\nvnc_port = %d\nvmm = %s\n"
		 "greeter_size = %dx%d\nlog_level = info\n%s\n[auth]\nbackend = file\nusers_file = %s/users\n"
		 "[api]\nlisten = off\n%s",
		 s->dir, s->rdp_port, s->vnc_port, vmm_abs, DESK_W, DESK_H, server_extra, s->dir, rest);
	snprintf(path, sizeof(path), "%s/vdi.ini", s->dir);
	if (!write_file(path, text))
		return -EIO;
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
	snprintf(s->db, sizeof(s->db), "%s/vdi.db", s->dir);
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a bench that dies takes its server along */
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(server_path, server_path, "--config", path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		if (log_count(s->log, "vdi-server ready"))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		usleep(50000);
	}
	printf("vdi-server did not start; its log (%s):\n", s->log);
	FILE *f = fopen(s->log, "r");
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stdout);
	if (f)
		fclose(f);
	return -EIO;
}

static bool server_alive(struct server *s)
{
	return s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 400 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
			usleep(50000);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	kill_vmms(s->dir);
}

/* Until `want` desktops run or `secs` pass; how many run. */
static long wait_running(struct server *s, long want, int secs)
{
	long n = 0;
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < (uint64_t)secs * 1000000000ull && server_alive(s)) {
		n = db_int(s->db, "SELECT count(*) FROM desktops WHERE state = 'running'");
		if (n >= want)
			break;
		usleep(200000);
	}
	return n;
}

/* ---- a VNC client to the login picture: RFB 3.8, security None, one whole frame (Raw) ---- */

enum outcome { OUT_PICTURE, OUT_REFUSED, OUT_FAILED };

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The picture's bytes are read and dropped, rectangle by rectangle, until the
 * whole screen was covered. */
static bool vnc_read_frame(int fd, unsigned w, unsigned h)
{
	static __thread uint8_t sink[65536];
	uint64_t covered = 0;
	while (covered < (uint64_t)w * h) {
		uint8_t head[4];
		if (!read_full(fd, head, 4) || head[0] != 0)
			return false;
		unsigned rects = (unsigned)head[2] << 8 | head[3];
		for (unsigned i = 0; i < rects; i++) {
			uint8_t r[12];
			if (!read_full(fd, r, 12))
				return false;
			unsigned rw = (unsigned)r[4] << 8 | r[5], rh = (unsigned)r[6] << 8 | r[7];
			if (be32(r + 8) != 0)
				continue; /* a pseudo-encoding: no pixels */
			size_t left = (size_t)rw * rh * 4;
			while (left) {
				size_t n = left < sizeof(sink) ? left : sizeof(sink);
				if (!read_full(fd, sink, n))
					return false;
				left -= n;
			}
			covered += (uint64_t)rw * rh;
		}
	}
	return true;
}

/* Connects from this thread's source address; *fd_out holds the connection
 * at the login picture (OUT_PICTURE). `reason` gets a refusal's words. */
static enum outcome vnc_greeter(int port, int timeout_s, int *fd_out, char *reason, size_t rlen)
{
	*fd_out = -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reason, rlen, "socket: %s", strerror(errno));
		return OUT_FAILED;
	}
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = timeout_s};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	uint8_t version[12], ntypes, types[255], result[4], init[24];
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(reason, rlen, "connect: %s", strerror(errno));
		close(fd);
		return OUT_FAILED;
	}
	if (!read_full(fd, version, 12)) {
		snprintf(reason, rlen, "closed before the RFB version");
		close(fd);
		return OUT_FAILED;
	}
	if (!memcmp(version, "RFB 003.003\n", 12)) {
		/* RFB 3.3: the server chose; security 0 is a refusal with its reason */
		uint8_t sec[8];
		char text[129] = "";
		if (read_full(fd, sec, 8) && be32(sec) == 0) {
			uint32_t n = be32(sec + 4) < 128 ? be32(sec + 4) : 128;
			if (read_full(fd, text, n))
				text[n] = '\0';
			snprintf(reason, rlen, "%s", text);
			close(fd);
			return OUT_REFUSED;
		}
		snprintf(reason, rlen, "RFB 3.3 without a refusal");
		close(fd);
		return OUT_FAILED;
	}
	bool ok = write(fd, "RFB 003.008\n", 12) == 12 && read_full(fd, &ntypes, 1);
	if (ok && ntypes == 0) {
		uint8_t len[4];
		char text[129] = "";
		if (read_full(fd, len, 4)) {
			uint32_t n = be32(len) < 128 ? be32(len) : 128;
			if (read_full(fd, text, n))
				text[n] = '\0';
		}
		snprintf(reason, rlen, "%s", text);
		close(fd);
		return OUT_REFUSED;
	}
	ok = ok && read_full(fd, types, ntypes) && memchr(types, 1, ntypes) && write(fd, "\x01", 1) == 1 &&
	     read_full(fd, result, 4);
	if (ok && be32(result) != 0) {
		/* RFB 3.8: a failed SecurityResult carries its reason */
		uint8_t len[4];
		char text[129] = "";
		if (read_full(fd, len, 4)) {
			uint32_t n = be32(len) < 128 ? be32(len) : 128;
			if (read_full(fd, text, n))
				text[n] = '\0';
		}
		snprintf(reason, rlen, "%s", text);
		close(fd);
		return OUT_REFUSED;
	}
	ok = ok && write(fd, "\x01", 1) == 1 && read_full(fd, init, 24);
	unsigned w = 0, h = 0;
	if (ok) {
		w = (unsigned)init[0] << 8 | init[1];
		h = (unsigned)init[2] << 8 | init[3];
		uint32_t name_len = be32(init + 20);
		uint8_t name[256];
		ok = name_len <= sizeof(name) && read_full(fd, name, name_len);
	}
	if (ok) {
		/* SetEncodings Raw, then a whole-frame request */
		uint8_t enc[8] = {2, 0, 0, 1, 0, 0, 0, 0};
		uint8_t req[10] = {3, 0, 0, 0, 0, 0, init[0], init[1], init[2], init[3]};
		ok = write(fd, enc, 8) == 8 && write(fd, req, 10) == 10 && vnc_read_frame(fd, w, h);
	}
	if (!ok) {
		snprintf(reason, rlen, "the handshake or the picture did not complete (%s)",
			 errno == EAGAIN ? "timed out" : "closed");
		close(fd);
		return OUT_FAILED;
	}
	*fd_out = fd;
	return OUT_PICTURE;
}

/* ---- an RDP client (libfreerdp's core; gdi when the picture is compared) ---- */

struct load_rdp {
	rdpContext ctx; /* first: FreeRDP allocates ContextSize bytes and hands out &ctx */
	pBitmapUpdate gdi_bitmap;
	const uint32_t *ref; /* the desktop's picture; NULL: the first frame will do */
	bool light;          /* no gdi: frames counted at their end markers, not drawn */
	uint64_t frames;
	uint64_t first_at;
	bool desktop;
};

/* The picture is the desktop where 90 % of a grid matches (a clone's label and clock differ). */
static bool looks_like(const rdpGdi *gdi, const uint32_t *ref)
{
	if (!gdi || gdi->width != DESK_W || gdi->height != DESK_H)
		return false;
	int same = 0, total = 0;
	for (uint32_t y = 8; y < DESK_H; y += 24) {
		const uint8_t *row = gdi->primary_buffer + (size_t)y * gdi->stride;
		for (uint32_t x = 8; x < DESK_W; x += 24) {
			uint32_t px;
			memcpy(&px, row + (size_t)x * 4, 4);
			same += (px & 0xffffff) == (ref[(size_t)y * DESK_W + x] & 0xffffff);
			total++;
		}
	}
	return same * 10 >= total * 9;
}

static BOOL rdp_bitmap(rdpContext *ctx, const BITMAP_UPDATE *bitmap)
{
	struct load_rdp *r = (struct load_rdp *)ctx;
	if (r->light)
		return TRUE;
	BOOL ok = r->gdi_bitmap(ctx, bitmap);
	if (!r->frames++)
		r->first_at = now_ns();
	if (r->ref && !r->desktop && looks_like(ctx->gdi, r->ref))
		r->desktop = true;
	return ok;
}

static BOOL rdp_surface_bits(rdpContext *ctx, const SURFACE_BITS_COMMAND *cmd)
{
	(void)ctx, (void)cmd;
	return TRUE;
}

/* Without gdi, what gdi_init() would register: FreeRDP fails an update whose callback is missing. */
/* A light client's picture is whole at the frame's end marker, acknowledged as gdi would (the server
 * paces its frames by the acknowledgements). */
static BOOL rdp_frame_marker(rdpContext *ctx, const SURFACE_FRAME_MARKER *marker)
{
	struct load_rdp *r = (struct load_rdp *)ctx;
	if (marker->frameAction != SURFACECMD_FRAMEACTION_END)
		return TRUE;
	if (!r->frames++)
		r->first_at = now_ns();
	if (ctx->settings->FrameAcknowledge > 0)
		IFCALL(ctx->update->SurfaceFrameAcknowledge, ctx, marker->frameId);
	return TRUE;
}

static BOOL rdp_scrblt(rdpContext *ctx, const SCRBLT_ORDER *order)
{
	(void)ctx, (void)order;
	return TRUE;
}

static BOOL rdp_opaque_rect(rdpContext *ctx, const OPAQUE_RECT_ORDER *order)
{
	(void)ctx, (void)order;
	return TRUE;
}

static BOOL rdp_palette(rdpContext *ctx, const PALETTE_UPDATE *palette)
{
	(void)ctx, (void)palette;
	return TRUE;
}

static BOOL rdp_set_bounds(rdpContext *ctx, const rdpBounds *bounds)
{
	(void)ctx, (void)bounds;
	return TRUE;
}

static BOOL rdp_begin_paint(rdpContext *ctx)
{
	if (ctx->gdi)
		ctx->gdi->primary->hdc->hwnd->invalid->null = TRUE;
	return TRUE;
}

static BOOL rdp_true(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

static BOOL rdp_resize(rdpContext *ctx)
{
	if (!ctx->gdi)
		return TRUE;
	return gdi_resize(ctx->gdi, ctx->settings->DesktopWidth, ctx->settings->DesktopHeight);
}

static BOOL rdp_pointer_new(rdpContext *ctx, rdpPointer *p)
{
	(void)ctx, (void)p;
	return TRUE;
}
static void rdp_pointer_free(rdpContext *ctx, rdpPointer *p)
{
	(void)ctx, (void)p;
}
static BOOL rdp_pointer_set(rdpContext *ctx, const rdpPointer *p)
{
	(void)ctx, (void)p;
	return TRUE;
}
static BOOL rdp_pointer_position(rdpContext *ctx, UINT32 x, UINT32 y)
{
	(void)ctx, (void)x, (void)y;
	return TRUE;
}

static BOOL rdp_pre_connect(freerdp *instance)
{
	(void)instance;
	return TRUE;
}

static BOOL rdp_post_connect(freerdp *instance)
{
	rdpContext *ctx = instance->context;
	struct load_rdp *r = (struct load_rdp *)ctx;
	if (!r->light && !gdi_init(instance, PIXEL_FORMAT_BGRX32))
		return FALSE;
	/* The caches gdi_init() makes: the pointer updates go there. */
	if (r->light && !(ctx->cache = cache_new(ctx->settings)))
		return FALSE;
	rdpPointer pointer = {.size = sizeof(rdpPointer),
			      .New = rdp_pointer_new,
			      .Free = rdp_pointer_free,
			      .Set = rdp_pointer_set,
			      .SetNull = rdp_true,
			      .SetDefault = rdp_true,
			      .SetPosition = rdp_pointer_position};
	graphics_register_pointer(ctx->graphics, &pointer);
	r->gdi_bitmap = ctx->update->BitmapUpdate;
	ctx->update->BitmapUpdate = rdp_bitmap;
	if (r->light) {
		ctx->update->SurfaceBits = rdp_surface_bits;
		ctx->update->SurfaceFrameMarker = rdp_frame_marker;
		ctx->update->Palette = rdp_palette;
		ctx->update->SetBounds = rdp_set_bounds;
		ctx->update->primary->ScrBlt = rdp_scrblt;
		ctx->update->primary->OpaqueRect = rdp_opaque_rect;
	}
	ctx->update->BeginPaint = rdp_begin_paint;
	ctx->update->EndPaint = rdp_true;
	ctx->update->DesktopResize = rdp_resize;
	return TRUE;
}

static void rdp_post_disconnect(freerdp *instance)
{
	if (instance->context->gdi) {
		gdi_free(instance);
	} else if (instance->context->cache) {
		cache_free(instance->context->cache);
		instance->context->cache = NULL;
	}
}

static DWORD rdp_accept(freerdp *instance, const char *host, UINT16 port, const char *common_name, const char *subject,
			const char *issuer, const char *fingerprint, DWORD flags)
{
	(void)instance, (void)host, (void)port, (void)common_name, (void)subject, (void)issuer, (void)fingerprint;
	(void)flags;
	return 2; /* this session only */
}

/* FreeRDP 2's one-time initialisations (WinPR's, OpenSSL's, its loggers') race when hundreds of clients
 * start at the same moment: instances are made and freed one at a time, connected all at once. */
static pthread_mutex_t rdp_lifecycle = PTHREAD_MUTEX_INITIALIZER;

static void rdp_free(freerdp *instance)
{
	if (!instance)
		return;
	pthread_mutex_lock(&rdp_lifecycle);
	if (instance->context)
		freerdp_context_free(instance);
	freerdp_free(instance);
	pthread_mutex_unlock(&rdp_lifecycle);
}

static void rdp_close(freerdp *instance)
{
	if (!instance)
		return;
	freerdp_disconnect(instance);
	rdp_free(instance);
}

/* When the last rdp_open() of this thread had the session active (freerdp_connect returned), from
 * before its TCP connect; 0 if it never was. */
static __thread uint64_t rdp_active_ns;

/* Connects from this thread's source address (autologon when user is set)
 * and pumps until the first frame, or the picture `ref` when given; NULL on
 * failure or after `timeout_s`. *ns is the time from before the TCP connect. */
static freerdp *rdp_open(int port, const char *user, const uint32_t *ref, bool light, int timeout_s, uint64_t *ns,
			 char *reason, size_t rlen)
{
	pthread_mutex_lock(&rdp_lifecycle);
	freerdp *instance = freerdp_new();
	if (!instance) {
		pthread_mutex_unlock(&rdp_lifecycle);
		snprintf(reason, rlen, "freerdp_new failed");
		return NULL;
	}
	instance->ContextSize = sizeof(struct load_rdp);
	instance->PreConnect = rdp_pre_connect;
	instance->PostConnect = rdp_post_connect;
	instance->PostDisconnect = rdp_post_disconnect;
	instance->VerifyCertificateEx = rdp_accept;
	if (!freerdp_context_new(instance)) {
		freerdp_free(instance);
		pthread_mutex_unlock(&rdp_lifecycle);
		snprintf(reason, rlen, "freerdp_context_new failed");
		return NULL;
	}
	pthread_mutex_unlock(&rdp_lifecycle);
	struct load_rdp *r = (struct load_rdp *)instance->context;
	r->ref = ref;
	r->light = light;
	rdpSettings *s = instance->settings;
	s->ServerPort = (UINT32)port;
	s->DesktopWidth = DESK_W;
	s->DesktopHeight = DESK_H;
	s->ColorDepth = 32;
	s->SoftwareGdi = !light;
	s->RdpSecurity = FALSE;
	s->TlsSecurity = TRUE;
	s->NlaSecurity = FALSE;
	s->ExtSecurity = FALSE;
	s->AutoLogonEnabled = user != NULL;
	s->SupportGraphicsPipeline = FALSE;
	s->RemoteFxCodec = FALSE;
	s->NSCodec = FALSE;
	s->TcpConnectTimeout = (UINT32)timeout_s * 1000;
	if (!freerdp_settings_set_string(s, FreeRDP_ServerHostname, "127.0.0.1") ||
	    (user && (!freerdp_settings_set_string(s, FreeRDP_Username, user) ||
		      !freerdp_settings_set_string(s, FreeRDP_Password, password)))) {
		rdp_free(instance);
		snprintf(reason, rlen, "settings failed");
		return NULL;
	}
	uint64_t t0 = now_ns();
	rdp_active_ns = 0;
	if (!freerdp_connect(instance)) {
		snprintf(reason, rlen, "connection sequence failed: %s",
			 freerdp_get_last_error_string(freerdp_get_last_error(instance->context)));
		rdp_free(instance);
		return NULL;
	}
	rdp_active_ns = now_ns() - t0;
	while (now_ns() - t0 < (uint64_t)timeout_s * 1000000000ull) {
		if (ref ? r->desktop : r->frames > 0) {
			*ns = (ref ? now_ns() : r->first_at) - t0;
			return instance;
		}
		if (freerdp_shall_disconnect(instance))
			break;
		HANDLE handles[MAXIMUM_WAIT_OBJECTS];
		DWORD n = freerdp_get_event_handles(instance->context, handles, MAXIMUM_WAIT_OBJECTS);
		if (!n || WaitForMultipleObjects(n, handles, FALSE, 50) == WAIT_FAILED ||
		    !freerdp_check_event_handles(instance->context))
			break;
	}
	snprintf(reason, rlen, "%s", r->frames ? "a picture, never the desktop's" : "no picture");
	freerdp_disconnect(instance);
	rdp_free(instance);
	return NULL;
}

/* The desktop guest's picture from a running desktop's control socket. */
static uint32_t *desktop_picture(const char *socket)
{
	struct surface *s = surface_attach_vmm(socket);
	if (!s)
		return NULL;
	struct surface_viewer *v = surface_viewer_add(s);
	uint32_t *pic = NULL;
	for (int i = 0; v && !pic && i < 200; i++) {
		struct surface_update u;
		if (surface_viewer_take(v, &u) && u.pixels && u.width == DESK_W && u.height == DESK_H) {
			pic = malloc((size_t)DESK_W * DESK_H * 4);
			for (uint32_t y = 0; pic && y < DESK_H; y++)
				memcpy(pic + (size_t)y * DESK_W, u.pixels + (size_t)y * u.stride, DESK_W * 4);
		} else {
			usleep(20000);
		}
	}
	surface_viewer_remove(v);
	surface_destroy(s);
	return pic;
}

/* One client to the login picture before the crowd: FreeRDP 2 makes its loggers on first use
 * (WLog_Get grows a shared list without a lock), so hundreds of first uses at once corrupt its heap. */
static void rdp_warm_up(int port)
{
	char reason[96];
	uint64_t ns;
	rdp_close(rdp_open(port, NULL, NULL, false, 60, &ns, reason, sizeof(reason)));
	rdp_close(rdp_open(port, NULL, NULL, true, 60, &ns, reason, sizeof(reason)));
}

/* Many clients at once: threads with small stacks, released together. */
static int spawn(pthread_t *t, int n, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	int started = 0;
	for (; started < n; started++)
		if (pthread_create(&t[started], &attr, fn, arg) != 0)
			break;
	pthread_attr_destroy(&attr);
	return started;
}

/* ---- burst: 1,000 connection attempts at once ---- */

struct burst {
	int vnc_port, rdp_port;
	atomic_int next;
	atomic_int ready;
	atomic_bool go;
	enum outcome out[BURST];
	uint64_t ns[BURST];
	char reason[BURST][96];
	int fd[BURST];
	freerdp *rdp[BURST];
	char sources[BURST_SOURCES][16];
};

static void *burst_client(void *opaque)
{
	struct burst *b = opaque;
	int i = atomic_fetch_add(&b->next, 1);
	source_address = b->sources[i % BURST_SOURCES];
	atomic_fetch_add(&b->ready, 1);
	while (!atomic_load(&b->go))
		usleep(1000);
	uint64_t t0 = now_ns(), ns = 0;
	if (i % 2 == 0) {
		b->out[i] = vnc_greeter(b->vnc_port, 120, &b->fd[i], b->reason[i], sizeof(b->reason[i]));
	} else {
		b->rdp[i] = rdp_open(b->rdp_port, NULL, NULL, true, 120, &ns, b->reason[i], sizeof(b->reason[i]));
		b->out[i] = b->rdp[i] ? OUT_PICTURE : OUT_FAILED;
	}
	b->ns[i] = now_ns() - t0;
	return NULL;
}

static void bench_burst(const char *dir)
{
	struct server s = {0};
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	char users[256];
	snprintf(users, sizeof(users), "%s/users", dir);
	if (make_users(users, "b", 1, NULL) < 0 || server_start(&s, "", "") < 0) {
		server_stop(&s);
		return;
	}
	struct burst *b = calloc(1, sizeof(*b));
	pthread_t *t = calloc(BURST, sizeof(*t));
	if (!b || !t) {
		free(b), free(t);
		server_stop(&s);
		return;
	}
	b->vnc_port = s.vnc_port;
	b->rdp_port = s.rdp_port;
	for (int k = 0; k < BURST_SOURCES; k++)
		snprintf(b->sources[k], sizeof(b->sources[k]), "127.0.0.%d", 10 + k);
	rdp_warm_up(s.rdp_port);
	sleep(1);
	long rss0 = proc_status_kib(s.pid, "VmRSS");
	int started = spawn(t, BURST, burst_client, b);
	while (atomic_load(&b->ready) < started)
		usleep(1000);
	uint64_t t0 = now_ns();
	atomic_store(&b->go, true);
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	long rss_peak = proc_status_kib(s.pid, "VmRSS"), fds = fd_count(s.pid);
	long threads = proc_status_kib(s.pid, "Threads");
	int pic[2] = {0}, refused[2] = {0}, failed[2] = {0};
	uint64_t lat[BURST];
	size_t nlat = 0;
	const char *why[2] = {NULL, NULL};
	for (int i = 0; i < started; i++) {
		int rdp = i % 2;
		if (b->out[i] == OUT_PICTURE) {
			pic[rdp]++;
			lat[nlat++] = b->ns[i];
		} else if (b->out[i] == OUT_REFUSED) {
			refused[rdp]++;
			why[rdp] = b->reason[i];
		} else {
			failed[rdp]++;
			why[rdp] = b->reason[i];
		}
	}
	/* An RDP client is refused before TLS (closed): the server's log tells those from failures. */
	int rdp_refused_log = log_count(s.log, "rdp: refusing");
	bool alive = server_alive(&s);
	double p50 = pct_ms(lat, nlat, 50), p99 = pct_ms(lat, nlat, 99);
	printf("%-44s %d of %d at the login picture in %.1f s (VNC %d/%d, RDP %d/%d); p50 %.0f ms, p99 %.0f ms | "
	       "anchor: 170 VNC clients aborted vdi-server before\n",
	       "1,000 connection attempts at once", pic[0] + pic[1], started, secs, pic[0], (started + 1) / 2, pic[1],
	       started / 2, p50, p99);
	printf("%-44s VNC %d refused with a reason, %d failed%s%s; RDP %d failed (%d refused in the log)%s%s\n",
	       "  the rest", refused[0], failed[0], why[0] ? ": " : "", why[0] ? why[0] : "", failed[1],
	       rdp_refused_log, why[1] ? ": " : "", why[1] ? why[1] : "");
	printf("%-44s closed at a time limit: %d in TLS (RDP), %d in the RFB handshake, %d in RDP's login "
	       "sequence (handshake_timeout 10 s, login_timeout 60 s); %d VNC refused for want of a descriptor "
	       "below 1024\n",
	       "  the server's log", log_count(s.log, "no TLS handshake within"),
	       log_count(s.log, "no VNC handshake within"), log_count(s.log, "no RDP login within"),
	       log_count(s.log, "no descriptor below"));
	printf("%-44s %s; RSS %.0f -> %.0f MiB, %ld descriptors, %ld threads with them held\n", "  vdi-server",
	       alive ? "alive" : "DIED", rss0 / 1024.0, rss_peak / 1024.0, fds, threads);
	for (int i = 0; i < started; i++) {
		if (b->fd[i] >= 0 && i % 2 == 0 && b->out[i] == OUT_PICTURE)
			close(b->fd[i]);
		rdp_close(b->rdp[i]);
	}
	free(t);
	free(b);
	server_stop(&s);
}

/* ---- storm: N users log in at once, each to the first picture of its own desktop ---- */

struct storm {
	int port;
	int n;
	const uint32_t *ref;
	atomic_int next;
	atomic_int ready;
	atomic_bool go;
	uint64_t *ns, *active;
	freerdp **conn;
	char (*reason)[96];
	char sources[STORM_SOURCES][16];
};

static void *storm_client(void *opaque)
{
	struct storm *st = opaque;
	int i = atomic_fetch_add(&st->next, 1);
	source_address = st->sources[i % STORM_SOURCES];
	char user[32];
	snprintf(user, sizeof(user), "s%d", i);
	atomic_fetch_add(&st->ready, 1);
	while (!atomic_load(&st->go))
		usleep(1000);
	st->conn[i] = rdp_open(st->port, user, st->ref, false, 300, &st->ns[i], st->reason[i], sizeof(st->reason[i]));
	st->active[i] = rdp_active_ns;
	return NULL;
}

static void bench_storm(const char *dir, int want)
{
	/* A storm the host cannot hold would measure the swap-less OOM killer: size it to the memory free. */
	long avail = mem_available_mib();
	int fits = avail > STORM_MIN_AVAIL_MIB ? (int)((avail - STORM_MIN_AVAIL_MIB) / STORM_MIB_PER_USER) : 0;
	if (fits < want) {
		printf("%-44s %d users; this host's %ld MiB available hold %d at ~%d MiB each\n",
		       "storm: sized down from", want, avail, fits, STORM_MIB_PER_USER);
		want = fits;
	}
	if (want < 1)
		return;
	struct server s = {0};
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	char users[256], pool[512];
	snprintf(users, sizeof(users), "%s/users", dir);
	double hash_ms = 0;
	if (make_users(users, "s", want, &hash_ms) < 0)
		return;
	double one_check = check_ms(users, "s0");
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	/* The clones' memory is shared with their template: a pool of `want` fits where cold boots would not. */
	snprintf(pool, sizeof(pool),
		 "[pool:storm]\nclone = yes\nmemory = %dM\ndisplay = %dx%d\nsize = %d\nspare = %d\n"
		 "disconnect_timeout = 1h\n",
		 DESK_MIB, DESK_W, DESK_H, want, want);
	uint64_t t_boot = now_ns();
	if (server_start(&s, "power_ops = 64\n", pool) < 0) {
		server_stop(&s);
		return;
	}
	long running = wait_running(&s, want, 60 + want / 2);
	double boot_s = (double)(now_ns() - t_boot) / 1e9;
	long desktops = db_int(s.db, "SELECT count(*) FROM desktops WHERE state = 'running' AND pool = 'storm'");
	printf("%-44s %ld of %d clone desktops running after %.0f s (64 MiB each); host MemAvailable %ld MiB\n",
	       "storm: the pool", desktops, want, boot_s, mem_available_mib());
	int n = want;
	if (running < want && desktops > 0) {
		n = (int)desktops;
		printf("%-44s sized to the %d desktops that run\n", "storm:", n);
	}
	char sock[256];
	uint32_t *ref = NULL;
	if (!db_text(s.db, "SELECT socket FROM desktops WHERE state = 'running' AND pool = 'storm' LIMIT 1", sock,
		     sizeof(sock)) ||
	    !(ref = desktop_picture(sock))) {
		printf("storm: cannot see a desktop's picture\n");
		server_stop(&s);
		return;
	}
	struct storm *st = calloc(1, sizeof(*st));
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	if (st) {
		st->ns = calloc((size_t)n, sizeof(*st->ns));
		st->active = calloc((size_t)n, sizeof(*st->active));
		st->conn = calloc((size_t)n, sizeof(*st->conn));
		st->reason = calloc((size_t)n, sizeof(*st->reason));
	}
	if (!st || !t || !st->ns || !st->active || !st->conn || !st->reason) {
		printf("storm: no memory\n");
	} else {
		st->port = s.rdp_port;
		st->n = n;
		st->ref = ref;
		for (int k = 0; k < STORM_SOURCES; k++)
			snprintf(st->sources[k], sizeof(st->sources[k]), "127.0.1.%d", 1 + k);
		rdp_warm_up(s.rdp_port);
		long rss0 = proc_status_kib(s.pid, "VmRSS");
		int started = spawn(t, n, storm_client, st);
		while (atomic_load(&st->ready) < started)
			usleep(1000);
		double load0 = load_avg(), server_cpu0 = cpu_s(s.pid), self_cpu0 = self_cpu_s();
		uint64_t t0 = now_ns();
		atomic_store(&st->go, true);
		for (int k = 0; k < started; k++)
			pthread_join(t[k], NULL);
		double secs = (double)(now_ns() - t0) / 1e9;
		double server_cpu = cpu_s(s.pid) - server_cpu0, self_cpu = self_cpu_s() - self_cpu0;
		long rss_peak = proc_status_kib(s.pid, "VmRSS");
		uint64_t *lat = calloc((size_t)n, sizeof(*lat)), *act = calloc((size_t)n, sizeof(*act));
		uint64_t *after = calloc((size_t)n, sizeof(*after));
		size_t ok = 0;
		const char *why = NULL;
		for (int i = 0; i < started; i++) {
			if (st->conn[i] && lat && act && after) {
				act[ok] = st->active[i];
				after[ok] = st->ns[i] - st->active[i];
				lat[ok++] = st->ns[i];
			} else if (!st->conn[i]) {
				why = st->reason[i];
			}
		}
		/* The split: the connection sequence (TLS, RDP's capabilities, FreeRDP's client) until the
		 * session is active, then authentication, assignment and the desktop's first picture. */
		double act50 = pct_ms(act, ok, 50), act99 = pct_ms(act, ok, 99);
		double after50 = pct_ms(after, ok, 50), after99 = pct_ms(after, ok, 99);
		free(after);
		/* The store: nobody assigned two desktops or a desktop two users; every user who saw a
		 * desktop holds a session, every other one was told why (the log). */
		long twice =
		    db_int(s.db, "SELECT count(*) FROM (SELECT desktop_id FROM sessions WHERE desktop_id IS NOT "
				 "NULL GROUP BY desktop_id HAVING count(*) > 1)");
		long users_twice =
		    db_int(s.db, "SELECT count(*) FROM (SELECT assigned_user FROM desktops WHERE "
				 "assigned_user IS NOT NULL GROUP BY assigned_user HAVING count(*) > 1)");
		long sessions = db_int(s.db, "SELECT count(*) FROM sessions WHERE desktop_id IS NOT NULL");
		long logins_ok = db_int(s.db, "SELECT count(*) FROM audit WHERE event = 'login_ok'");
		long failed_audit = db_int(s.db, "SELECT count(*) FROM audit WHERE event IN ('login_failed', "
						 "'locked_refused', 'lockout')");
		bool alive = server_alive(&s);
		double bound = one_check > 0 ? (double)cores * 1000.0 / one_check : 0;
		double p50 = pct_ms(lat, ok, 50), p90 = pct_ms(lat, ok, 90), p99 = pct_ms(lat, ok, 99);
		printf("%-44s %zu of %d at their desktop's picture in %.1f s: %.1f logons/s; p50 %.0f ms, p90 %.0f, "
		       "p99 %.0f | anchor: the hash's bound %.0f/s (%ld cores / %.1f ms)\n",
		       "logon storm, RDP, all at once", ok, started, secs, secs > 0 ? (double)ok / secs : 0, p50, p90,
		       p99, bound, cores, one_check);
		printf("%-44s one yescrypt hash made in %.1f ms, checked in %.1f ms; %ld sessions, %ld login_ok, "
		       "%ld refused in the audit; desktops assigned twice: %ld, users with two: %ld; vdi-server %s, "
		       "RSS %.0f -> %.0f MiB%s%s\n",
		       "  checks", hash_ms, one_check, sessions, logins_ok, failed_audit, twice, users_twice,
		       alive ? "alive" : "DIED", rss0 / 1024.0, rss_peak / 1024.0, why ? "; a failure: " : "",
		       why ? why : "");
		printf("%-44s session active p50 %.0f ms, p99 %.0f; then to the desktop's picture (authentication, "
		       "assignment, first frame) p50 %.0f ms, p99 %.0f\n",
		       "  where the time goes", act50, act99, after50, after99);
		printf("%-44s vdi-server %.1f s, the clients (FreeRDP, decoding every frame) %.1f s, of %.1f s on %ld "
		       "cores; the host's load average %.1f before, %.1f after\n",
		       "  CPU in the storm", server_cpu, self_cpu, secs * (double)cores, cores, load0, load_avg());
		if (ok)
			printf(
			    "%-44s %.0f ms of vdi-server's CPU a logon: %.1f logons/s on %ld cores of its own, against "
			    "the hash's %.0f/s\n",
			    "  vdi-server's own bound", server_cpu * 1000.0 / (double)ok,
			    (double)cores * (double)ok / server_cpu, cores, bound);
		free(act);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf(
		    "%-44s vdi-server %.1f MiB a logged-in user (RSS), the clients %.1f MiB each at their peak; host "
		    "MemAvailable %ld MiB now\n",
		    "  memory", ok ? (rss_peak - rss0) / 1024.0 / (double)ok : 0.0,
		    (double)ru.ru_maxrss / 1024.0 / (double)started, mem_available_mib());
		if (n < want)
			printf("%-44s the target is %d users; this host ran %d desktops\n", "  (sized down)", want, n);
		for (int i = 0; i < started; i++)
			rdp_close(st->conn[i]);
		free(lat);
	}
	if (st) {
		free(st->ns);
		free(st->active);
		free(st->conn);
		free(st->reason);
	}
	free(st);
	free(t);
	free(ref);
	server_stop(&s);
}

/* ---- soak: thousands of idle connections at the login screen, held by worker processes ---- */

struct soak_shared {
	atomic_bool stop;     /* open no more */
	atomic_bool release;  /* close everything and exit */
	atomic_bool vnc_full; /* the server refused a VNC client: RDP only from then on */
	atomic_int vnc, rdp, refused, failed;
	atomic_int attempts;
	int target;
	int vnc_port, rdp_port;
	char last_refusal[128];
	char last_failure[128];
	pthread_mutex_t lock;
};

struct soak_worker {
	struct soak_shared *sh;
	int quota;
	atomic_int next;
	int *fds;
	freerdp **rdp;
};

static void soak_note(struct soak_shared *sh, char *slot, const char *text)
{
	pthread_mutex_lock(&sh->lock);
	snprintf(slot, 128, "%s", text);
	pthread_mutex_unlock(&sh->lock);
}

static void *soak_opener(void *opaque)
{
	struct soak_worker *w = opaque;
	struct soak_shared *sh = w->sh;
	int i;
	while (!atomic_load(&sh->stop) && (i = atomic_fetch_add(&w->next, 1)) < w->quota) {
		int k = atomic_fetch_add(&sh->attempts, 1);
		if (k >= sh->target) {
			atomic_store(&sh->stop, true);
			break;
		}
		char reason[128] = "";
		bool vnc = k % 2 == 0 && !atomic_load(&sh->vnc_full);
		if (vnc) {
			enum outcome o = vnc_greeter(sh->vnc_port, 60, &w->fds[i], reason, sizeof(reason));
			if (o == OUT_PICTURE) {
				atomic_fetch_add(&sh->vnc, 1);
				continue;
			}
			if (o == OUT_REFUSED) {
				/* The low descriptors libvncserver needs, or the cap: VNC is full. */
				atomic_fetch_add(&sh->refused, 1);
				atomic_store(&sh->vnc_full, true);
				soak_note(sh, sh->last_refusal, reason);
				continue;
			}
		} else {
			uint64_t ns;
			w->rdp[i] = rdp_open(sh->rdp_port, NULL, NULL, true, 60, &ns, reason, sizeof(reason));
			if (w->rdp[i]) {
				atomic_fetch_add(&sh->rdp, 1);
				continue;
			}
		}
		int f = atomic_fetch_add(&sh->failed, 1);
		soak_note(sh, sh->last_failure, reason);
		/* A run of failures is a limit reached: stop there rather than hammer. */
		if (f >= 50)
			atomic_store(&sh->stop, true);
	}
	return NULL;
}

static void soak_worker_run(struct soak_shared *sh, int quota)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct soak_worker w = {.sh = sh, .quota = quota};
	w.fds = malloc((size_t)quota * sizeof(*w.fds));
	w.rdp = calloc((size_t)quota, sizeof(*w.rdp));
	if (!w.fds || !w.rdp)
		_exit(1);
	for (int i = 0; i < quota; i++)
		w.fds[i] = -1;
	rdp_warm_up(sh->rdp_port);
	pthread_t t[SOAK_OPENERS];
	int started = spawn(t, SOAK_OPENERS, soak_opener, &w);
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	while (!atomic_load(&sh->release))
		usleep(100000);
	for (int i = 0; i < quota; i++) {
		if (w.fds[i] >= 0)
			close(w.fds[i]);
		rdp_close(w.rdp[i]);
	}
	_exit(0);
}

static void bench_soak(const char *dir, int target)
{
	struct server s = {0};
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	char users[256];
	snprintf(users, sizeof(users), "%s/users", dir);
	if (make_users(users, "soak", 1, NULL) < 0)
		return;
	/* No caps but the server's own (descriptors), no time limit at the login screen, and the handshakes'
	 * limits out of the way of a crowd that arrives faster than two cores draw login screens: the
	 * crowd stays. */
	const char *limits = "max_connections = 1000000\nmax_connections_per_address = 0\n"
			     "new_connections_per_second = 0\ngreeter_timeout = 0\nhandshake_timeout = 1h\n"
			     "login_timeout = 1h\n";
	char pool[256];
	snprintf(pool, sizeof(pool), "[pool:soak]\nmemory = %dM\ndisplay = %dx%d\nsize = 1\ndisconnect_timeout = 1h\n",
		 DESK_MIB, DESK_W, DESK_H);
	if (server_start(&s, limits, pool) < 0 || wait_running(&s, 1, 60) < 1) {
		printf("soak: vdi-server or its desktop did not start\n");
		server_stop(&s);
		return;
	}
	char sock[256];
	uint32_t *ref = NULL;
	if (!db_text(s.db, "SELECT socket FROM desktops WHERE state = 'running' LIMIT 1", sock, sizeof(sock)) ||
	    !(ref = desktop_picture(sock))) {
		printf("soak: cannot see the desktop's picture\n");
		server_stop(&s);
		return;
	}
	sleep(1);
	long rss0 = proc_status_kib(s.pid, "VmRSS"), fds0 = fd_count(s.pid);
	long avail0 = mem_available_mib();
	struct soak_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		server_stop(&s);
		return;
	}
	memset(sh, 0, sizeof(*sh));
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&sh->lock, &ma);
	sh->target = target;
	sh->vnc_port = s.vnc_port;
	sh->rdp_port = s.rdp_port;
	int workers = (target + SOAK_PER_WORKER - 1) / SOAK_PER_WORKER;
	pid_t *pids = calloc((size_t)workers, sizeof(*pids));
	fflush(stdout);
	for (int k = 0; pids && k < workers; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			soak_worker_run(sh, SOAK_PER_WORKER);
	}
	printf("soak: %d worker processes opening %d connections (VNC and RDP alternately) to vdi-server %d\n", workers,
	       target, (int)s.pid);
	uint64_t t0 = now_ns(), last_print = 0;
	const char *stopped = "the target";
	for (;;) {
		int held = atomic_load(&sh->vnc) + atomic_load(&sh->rdp);
		int running = 0;
		for (int k = 0; k < workers; k++)
			running += pids[k] > 0 && waitpid(pids[k], NULL, WNOHANG) == 0;
		long avail = mem_available_mib();
		if (!server_alive(&s)) {
			stopped = "vdi-server died";
			break;
		}
		if (!running) {
			stopped = "the worker processes' end (one died?)";
			break;
		}
		if (avail >= 0 && avail < SOAK_MIN_AVAIL_MIB) {
			stopped = "the host's memory (MemAvailable under 6 GiB)";
			atomic_store(&sh->stop, true);
		}
		if (now_ns() - last_print > 10000000000ull) {
			last_print = now_ns();
			printf(
			    "soak: %4.0f s: %d held (VNC %d, RDP %d), %d refused, %d failed; vdi-server RSS %.0f MiB, "
			    "%ld descriptors, %ld threads; MemAvailable %ld MiB\n",
			    (double)(now_ns() - t0) / 1e9, held, atomic_load(&sh->vnc), atomic_load(&sh->rdp),
			    atomic_load(&sh->refused), atomic_load(&sh->failed),
			    proc_status_kib(s.pid, "VmRSS") / 1024.0, fd_count(s.pid),
			    proc_status_kib(s.pid, "Threads"), avail);
		}
		/* Done when every worker's openers finished: attempts reached, or stopped. */
		if (atomic_load(&sh->attempts) >= target + SOAK_OPENERS * workers || atomic_load(&sh->stop)) {
			/* Let the openers still in a connect finish. */
			sleep(5);
			break;
		}
		if (atomic_load(&sh->failed) > 50)
			stopped = "a run of failures";
		usleep(500000);
	}
	atomic_store(&sh->stop, true);
	sleep(2);
	int vnc = atomic_load(&sh->vnc), rdp = atomic_load(&sh->rdp);
	if (vnc + rdp < target && !strcmp(stopped, "the target"))
		stopped = atomic_load(&sh->failed) ? "failures" : "the server's refusals";
	double open_s = (double)(now_ns() - t0) / 1e9;
	long rss = proc_status_kib(s.pid, "VmRSS"), fds = fd_count(s.pid), threads = proc_status_kib(s.pid, "Threads");
	long low = fd_count_low(s.pid);
	printf("%-44s %d held (VNC %d, RDP %d) of %d after %.0f s; stopped by %s\n", "soak: idle at the login screen",
	       vnc + rdp, vnc, rdp, target, open_s, stopped);
	if (atomic_load(&sh->refused))
		printf("%-44s %d VNC refused: \"%s\" (with %d VNC held; %ld of vdi-server's descriptors below 1024); "
		       "RDP only from then on\n",
		       "  refusals", atomic_load(&sh->refused), sh->last_refusal, vnc, low);
	if (atomic_load(&sh->failed))
		printf("%-44s %d: %s\n", "  failures", atomic_load(&sh->failed), sh->last_failure);
	printf("%-44s RSS %.0f -> %.0f MiB (%.2f MiB a connection), descriptors %ld -> %ld (%.2f a connection), "
	       "%ld threads; host MemAvailable %ld -> %ld MiB | anchor: 9 MiB (VNC) to 16 MiB (RDP) a connection "
	       "before\n",
	       "  vdi-server", rss0 / 1024.0, rss / 1024.0,
	       vnc + rdp ? (double)(rss - rss0) / 1024.0 / (vnc + rdp) : 0.0, fds0, fds,
	       vnc + rdp ? (double)(fds - fds0) / (vnc + rdp) : 0.0, threads, avail0, mem_available_mib());
	/* A real login with the crowd held: RDP with the password to the desktop's picture. */
	uint64_t lat[SOAK_LOGINS];
	size_t nlat = 0;
	char reason[128] = "";
	for (int k = 0; k < SOAK_LOGINS && server_alive(&s); k++) {
		uint64_t ns;
		freerdp *c = rdp_open(s.rdp_port, "soak0", ref, false, 60, &ns, reason, sizeof(reason));
		if (c)
			lat[nlat++] = ns;
		rdp_close(c);
	}
	printf("%-44s %zu of %d to the desktop's picture: median %.0f ms, max %.0f ms%s%s | anchor: RDS broker "
	       "0.2 s a connection\n",
	       "  a real RDP login meanwhile", nlat, SOAK_LOGINS, pct_ms(lat, nlat, 50), pct_ms(lat, nlat, 100),
	       nlat < SOAK_LOGINS ? "; failed: " : "", nlat < SOAK_LOGINS ? reason : "");
	atomic_store(&sh->release, true);
	for (int k = 0; k < workers; k++)
		if (pids[k] > 0)
			waitpid(pids[k], NULL, 0);
	sleep(3);
	printf("%-44s RSS %.0f MiB, %ld descriptors, %ld threads; %s\n", "  after they closed",
	       proc_status_kib(s.pid, "VmRSS") / 1024.0, fd_count(s.pid), proc_status_kib(s.pid, "Threads"),
	       server_alive(&s) ? "alive" : "DIED");
	free(pids);
	free(ref);
	munmap(sh, sizeof(*sh));
	server_stop(&s);
}

static bool part(const char *parts, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = parts; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncmp(p, name, n))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	long n = strtol(v, NULL, 10);
	return n < lo ? lo : n > hi ? hi : (int)n;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || argc > 4)) {
		printf("usage: load [VDI-VMM [VDI-SERVER [PARTS]]]\n"
		       "  PARTS: comma-separated burst,storm,soak (default: burst,storm)\n"
		       "  VDI_BENCH_STORM=N users in the storm (500); VDI_SOAK_CONNS=N idle connections (10000)\n");
		return argc > 4 ? 2 : 0;
	}
	if (argc > 1)
		vmm_path = argv[1];
	if (argc > 2)
		server_path = argv[2];
	const char *parts = argc > 3 ? argv[3] : "burst,storm";
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	setenv("WLOG_LEVEL", "OFF", 0);
	log_set_program("bench-load");
	if (!getenv("VDI_LOG"))
		log_set_level(LOG_ERROR);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("load benchmarks skipped: no usable /dev/kvm\n");
		return 0;
	}
	if (access(server_path, X_OK) < 0) {
		printf("load benchmarks skipped: %s is not built (make all)\n", server_path);
		return 0;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	uint64_t t0 = now_ns();
	char dir[] = "/tmp/vdi-bench-load.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char sub[96];
	snprintf(sub, sizeof(sub), "%s/burst", dir);
	if (part(parts, "burst") && mkdir(sub, 0700) == 0)
		bench_burst(sub);
	snprintf(sub, sizeof(sub), "%s/storm", dir);
	if (part(parts, "storm") && mkdir(sub, 0700) == 0)
		bench_storm(sub, env_int("VDI_BENCH_STORM", 500, 1, 1000));
	snprintf(sub, sizeof(sub), "%s/soak", dir);
	if (part(parts, "soak") && mkdir(sub, 0700) == 0)
		bench_soak(sub, env_int("VDI_SOAK_CONNS", 10000, 2, 100000));
	if (getenv("VDI_BENCH_KEEP"))
		printf("kept %s\n", dir);
	else
		rm_tree(dir);
	printf("(load benchmarks took %.0f s)\n", (double)(now_ns() - t0) / 1e9);
	return 0;
}
