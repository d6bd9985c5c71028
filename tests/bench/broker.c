/* broker.c — `make bench` figures for the broker: logons per second through
 * authentication and assignment (file backend and PAM, at the broker's display
 * hooks in-process, and over RDP against vdi-server), connect to the first
 * desktop picture over RDP with a spare desktop running, and vdi-server's
 * memory per idle greeter connection (VNC and RDP). */
#include "../../broker/broker.h"
#include "../../common/log.h"
#include "../../display/conn.h"

#include <arpa/inet.h>
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/graphics.h>
#include <winpr/synch.h>

#define PW_LIB  "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
#define PW_MODS "/usr/lib/x86_64-linux-gnu/pam_wrapper"

enum {
	HOOK_USERS = 48,  /* logons per in-process run, each to a desktop of its own */
	HOOK_CLIENTS = 8, /* connections logging on at once */
	RDP_SEQ = 8,      /* one-at-a-time RDP connects for the latency figure */
	RDP_USERS = 32,   /* vdi-server's pool: RDP_SEQ + the concurrent RDP logons */
	RDP_CLIENTS = 4,  /* RDP clients logging on at once */
	IDLE_CONNS = 20,  /* idle greeter connections for the memory figure */
	DESK_W = 1024,    /* the pools' display and every client's size: no resize */
	DESK_H = 768,
	DESK_MIB = 64,
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
	size_t i = n * p / 100;
	return (double)v[i < n ? i : n - 1] / 1e6;
}

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

/* Every vdi-vmm whose command line names `dir` (the run's unique temporary
 * directory) is ours: killed and reaped. The bench is the VMMs' subreaper,
 * so even those vdi-server started come back to it. */
static void kill_vmms(const char *dir)
{
	for (int round = 0; round < 50; round++) {
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
			waitpid((pid_t)pid, NULL, WNOHANG);
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

/* The number of rows `sql` counts in the state store at `db` (read-only, so
 * the broker writing it is undisturbed); -1 when it cannot be read yet. */
static int db_count(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	int n = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 1000);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return n;
}

/* Until `want` desktops run; the time it took in ms, or -1. */
static double wait_desktops(const char *data_dir, int want)
{
	char db[4200];
	snprintf(db, sizeof(db), "%s/vdi.db", data_dir);
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < 60000000000ull) {
		if (db_count(db, "SELECT count(*) FROM desktops WHERE state = 'running'") >= want)
			return (double)(now_ns() - t0) / 1e6;
		usleep(20000);
	}
	return -1;
}

/* A users file of `n` users PREFIX0.. with one password: one yescrypt hash
 * made through auth/, the same hash on every line (a check costs the same). */
static int make_users(const char *path, const char *prefix, int n)
{
	char err[256], scratch[4200];
	snprintf(scratch, sizeof(scratch), "%s.one", path);
	struct auth_config ac = {.backend = AUTH_BACKEND_FILE, .users_file = scratch};
	struct auth *a = auth_create(&ac, err, sizeof(err));
	if (!a || auth_user_add(a, "x", password, NULL) < 0) {
		printf("cannot make a users file: %s\n", a ? "auth_user_add failed" : err);
		auth_destroy(a);
		return -1;
	}
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

/* ---- logons at the broker's display hooks, in-process ---- */

struct hook_run {
	struct display_hooks hooks;
	const char *prefix;
	int n;
	atomic_int next;
	atomic_int failed;
	uint64_t lat[HOOK_USERS];
	struct display_conn *conns[HOOK_USERS];
};

/* One logon as the RDP server makes it with autologon credentials: connect,
 * then wait on the connection's event fd for the switch to the desktop. */
static struct display_conn *hook_logon(struct hook_run *r, int i, uint64_t *lat)
{
	char user[32], address[32];
	snprintf(user, sizeof(user), "%s%d", r->prefix, i);
	snprintf(address, sizeof(address), "10.0.%d.%d", i / 200, i % 200 + 1);
	struct display_conn *c = display_conn_new(&r->hooks, "rdp", address);
	if (!c)
		return NULL;
	struct display_conn_info info = {.user = user, .password = password, .width = DESK_W, .height = DESK_H};
	uint64_t t0 = now_ns();
	if (!display_conn_open(c, &info)) {
		display_conn_end(c);
		return NULL;
	}
	while (now_ns() - t0 < 30000000000ull) {
		struct pollfd p = {.fd = display_conn_event_fd(c), .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		bool close = false;
		struct surface *old = NULL;
		struct surface *next = display_conn_take(c, &close, &old);
		surface_destroy(old);
		if (close)
			break;
		if (next) {
			*lat = now_ns() - t0;
			return c;
		}
	}
	display_conn_end(c);
	return NULL;
}

static void *hook_client(void *opaque)
{
	struct hook_run *r = opaque;
	int i;
	while ((i = atomic_fetch_add(&r->next, 1)) < r->n) {
		r->conns[i] = hook_logon(r, i, &r->lat[i]);
		if (!r->conns[i])
			atomic_fetch_add(&r->failed, 1);
	}
	return NULL;
}

/* All r->n users log on, HOOK_CLIENTS at a time; prints the row. Every
 * connection then ends (its session stays, disconnected). */
static void hook_round(struct hook_run *r, const char *what, const char *anchor)
{
	atomic_store(&r->next, 0);
	atomic_store(&r->failed, 0);
	memset(r->conns, 0, sizeof(r->conns));
	pthread_t t[HOOK_CLIENTS];
	uint64_t t0 = now_ns();
	int started = 0;
	for (; started < HOOK_CLIENTS; started++)
		if (pthread_create(&t[started], NULL, hook_client, r) != 0)
			break;
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	uint64_t lat[HOOK_USERS];
	size_t n = 0;
	for (int i = 0; i < r->n; i++) {
		if (r->conns[i])
			lat[n++] = r->lat[i];
		display_conn_end(r->conns[i]);
	}
	int failed = atomic_load(&r->failed);
	if (!n) {
		printf("%-44s FAILED: no logon reached a desktop\n", what);
		return;
	}
	double p50 = pct_ms(lat, n, 50), p90 = pct_ms(lat, n, 90), p99 = pct_ms(lat, n, 99);
	printf("%-44s %8.1f logons/s (%zu in %.2f s, %d at once; latency p50 %.1f ms, p90 %.1f, p99 %.1f)%s%s | "
	       "anchor: %s\n",
	       what, (double)n / secs, n, secs, HOOK_CLIENTS, p50, p90, p99, failed ? " FAILED: " : "",
	       failed ? "some logons did not land" : "", anchor);
}

/* A broker in-process on `backend`, a pool of HOOK_USERS desktops; two rounds:
 * first logons (a free running desktop assigned) and reconnects. */
static void bench_hooks(enum auth_backend backend, const char *label)
{
	char dir[] = "/tmp/vdi-bench-broker.XXXXXX";
	if (!mkdtemp(dir)) {
		printf("%s: cannot make a temporary directory\n", label);
		return;
	}
	char users[256];
	snprintf(users, sizeof(users), "%s/users", dir);
	const char *prefix = backend == AUTH_BACKEND_PAM ? "p" : "u";
	if (backend == AUTH_BACKEND_FILE && make_users(users, prefix, HOOK_USERS) < 0) {
		rm_tree(dir);
		return;
	}
	struct pool_spec pool;
	pool_spec_defaults(&pool, "bench");
	pool.memory_mib = DESK_MIB;
	pool.width = DESK_W;
	pool.height = DESK_H;
	pool.size = HOOK_USERS;
	pool.spare = HOOK_USERS;
	struct broker_config bc = {
	    .data_dir = dir,
	    .vmm_path = vmm_path,
	    .greeter_width = DESK_W,
	    .greeter_height = DESK_H,
	    .auth = {.backend = backend, .pam_service = "vdi", .users_file = users},
	    .pools = &pool,
	    .npools = 1,
	    .host_name = "bench",
	};
	char err[512];
	struct broker *b = broker_start(&bc, err, sizeof(err));
	if (!b) {
		printf("%s: broker_start: %s\n", label, err);
		kill_vmms(dir);
		rm_tree(dir);
		return;
	}
	double boot = wait_desktops(dir, HOOK_USERS);
	char what[96];
	if (boot < 0) {
		printf("%s: the pool's %d desktops did not all run within 60 s\n", label, HOOK_USERS);
	} else {
		printf("%-44s %8.0f ms for %d desktops of %d MiB (their control sockets answer)\n",
		       "broker start -> pool running", boot, HOOK_USERS, DESK_MIB);
		struct hook_run *r = calloc(1, sizeof(*r));
		if (r) {
			r->hooks = broker_display_hooks(b);
			r->prefix = prefix;
			r->n = HOOK_USERS;
			snprintf(what, sizeof(what), "logon %s, hooks, new desktop", label);
			hook_round(r, what, "Citrix 20,000 logons in 13 min = 25.6/s");
			snprintf(what, sizeof(what), "logon %s, hooks, reconnect", label);
			hook_round(r, what, "Citrix 25.6/s");
			free(r);
		}
	}
	if (backend == AUTH_BACKEND_FILE) {
		/* What one password check costs alone: yescrypt's price. */
		struct auth *a = broker_auth(b);
		uint64_t v[5];
		for (int i = 0; i < 5; i++) {
			uint64_t t0 = now_ns();
			auth_check(a, "u0", password, "10.9.9.9", NULL);
			v[i] = now_ns() - t0;
		}
		printf("%-44s %8.1f ms median of 5 (%.1f checks/s/core bounds the file backend)\n",
		       "one yescrypt password check (auth_check)", pct_ms(v, 5, 50), 1000.0 / pct_ms(v, 5, 50));
	}
	broker_stop(b);
	kill_vmms(dir);
	rm_tree(dir);
}

/* PAM through pam_wrapper and pam_matrix: the bench re-runs itself with the
 * wrapper preloaded and a service directory whose passdb holds the users. */
static int pam_reexec(char **argv)
{
	if (getenv("VDI_BENCH_PAM_DIR"))
		return 0;
	if (access(PW_LIB, R_OK) < 0 || access(PW_MODS "/pam_matrix.so", R_OK) < 0)
		return -ENOENT;
	char dir[] = "/tmp/vdi-bench-pam.XXXXXX";
	if (!mkdtemp(dir))
		return -errno;
	char path[256], text[4096];
	snprintf(path, sizeof(path), "%s/passdb", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	for (int i = 0; i < HOOK_USERS; i++)
		fprintf(f, "p%d:%s:vdi\n", i, password);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pam.d", dir);
	mkdir(path, 0700);
	snprintf(
	    text, sizeof(text),
	    "auth required %s/pam_matrix.so passdb=%s/passdb\naccount required %s/pam_matrix.so passdb=%s/passdb\n",
	    PW_MODS, dir, PW_MODS, dir);
	/* "other" too: libpam reads it as the fallback and complains without it. */
	snprintf(path, sizeof(path), "%s/pam.d/vdi", dir);
	if (!write_file(path, text))
		return -EIO;
	snprintf(path, sizeof(path), "%s/pam.d/other", dir);
	if (!write_file(path, text))
		return -EIO;
	snprintf(path, sizeof(path), "%s/pam.d", dir);
	setenv("LD_PRELOAD", PW_LIB, 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", path, 1);
	setenv("VDI_BENCH_PAM_DIR", dir, 1);
	fflush(stdout);
	execv("/proc/self/exe", argv);
	rm_tree(dir);
	return -errno;
}

/* ---- a FreeRDP client (libfreerdp's core and gdi, no channels) ---- */

struct bench_rdp {
	rdpContext ctx; /* first: FreeRDP allocates ContextSize bytes and hands out &ctx */
	pBitmapUpdate gdi_bitmap;
	const uint32_t *ref; /* the desktop's picture, DESK_W x DESK_H; NULL: any frame will do */
	uint64_t frames;
	uint64_t first_at; /* when the first bitmap update was applied */
	bool desktop;
};

/* Times from before the TCP connect: the session active (freerdp_connect
 * returned), the first frame (the greeter), the desktop's picture. */
struct rdp_times {
	uint64_t active, first, desktop;
};

/* Samples a grid: the picture is the desktop where 90 % of the points match
 * (the taskbar's clock and user label may differ). */
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
	struct bench_rdp *r = (struct bench_rdp *)ctx;
	BOOL ok = r->gdi_bitmap(ctx, bitmap);
	if (!r->frames++)
		r->first_at = now_ns();
	if (r->ref && !r->desktop)
		r->desktop = looks_like(ctx->gdi, r->ref);
	return ok;
}

/* Updates are decoded straight into gdi's picture; a paint has nothing
 * more to show (FreeRDP fails the update without these). */
static BOOL rdp_begin_paint(rdpContext *ctx)
{
	ctx->gdi->primary->hdc->hwnd->invalid->null = TRUE;
	return TRUE;
}

static BOOL rdp_end_paint(rdpContext *ctx)
{
	(void)ctx;
	return TRUE;
}

static BOOL rdp_resize(rdpContext *ctx)
{
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
static BOOL rdp_pointer_plain(rdpContext *ctx)
{
	(void)ctx;
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
	struct bench_rdp *r = (struct bench_rdp *)ctx;
	if (!gdi_init(instance, PIXEL_FORMAT_BGRX32))
		return FALSE;
	rdpPointer pointer = {.size = sizeof(rdpPointer),
			      .New = rdp_pointer_new,
			      .Free = rdp_pointer_free,
			      .Set = rdp_pointer_set,
			      .SetNull = rdp_pointer_plain,
			      .SetDefault = rdp_pointer_plain,
			      .SetPosition = rdp_pointer_position};
	graphics_register_pointer(ctx->graphics, &pointer);
	r->gdi_bitmap = ctx->update->BitmapUpdate;
	ctx->update->BitmapUpdate = rdp_bitmap;
	ctx->update->BeginPaint = rdp_begin_paint;
	ctx->update->EndPaint = rdp_end_paint;
	ctx->update->DesktopResize = rdp_resize;
	return TRUE;
}

static void rdp_post_disconnect(freerdp *instance)
{
	gdi_free(instance);
}

static DWORD rdp_accept(freerdp *instance, const char *host, UINT16 port, const char *common_name, const char *subject,
			const char *issuer, const char *fingerprint, DWORD flags)
{
	(void)instance, (void)host, (void)port, (void)common_name, (void)subject, (void)issuer, (void)fingerprint;
	(void)flags;
	return 2; /* this session only */
}

static void rdp_free(freerdp *instance)
{
	if (!instance)
		return;
	if (instance->context)
		freerdp_context_free(instance);
	freerdp_free(instance);
}

/* Connects (autologon when user is set) and pumps until the first frame,
 * or until the picture is `ref` when given; NULL on failure or after 30 s.
 * *t says when it got there. */
static freerdp *rdp_connect(int port, const char *user, const uint32_t *ref, struct rdp_times *t)
{
	freerdp *instance = freerdp_new();
	if (!instance)
		return NULL;
	instance->ContextSize = sizeof(struct bench_rdp);
	instance->PreConnect = rdp_pre_connect;
	instance->PostConnect = rdp_post_connect;
	instance->PostDisconnect = rdp_post_disconnect;
	instance->VerifyCertificateEx = rdp_accept;
	if (!freerdp_context_new(instance)) {
		freerdp_free(instance);
		return NULL;
	}
	struct bench_rdp *r = (struct bench_rdp *)instance->context;
	r->ref = ref;
	rdpSettings *s = instance->settings;
	s->ServerPort = (UINT32)port;
	s->DesktopWidth = DESK_W;
	s->DesktopHeight = DESK_H;
	s->ColorDepth = 32;
	s->SoftwareGdi = TRUE;
	s->RdpSecurity = FALSE;
	s->TlsSecurity = TRUE;
	s->NlaSecurity = FALSE;
	s->ExtSecurity = FALSE;
	s->AutoLogonEnabled = user != NULL;
	s->SupportGraphicsPipeline = FALSE;
	s->RemoteFxCodec = FALSE;
	s->NSCodec = FALSE;
	if (!freerdp_settings_set_string(s, FreeRDP_ServerHostname, "127.0.0.1") ||
	    (user && (!freerdp_settings_set_string(s, FreeRDP_Username, user) ||
		      !freerdp_settings_set_string(s, FreeRDP_Password, password)))) {
		rdp_free(instance);
		return NULL;
	}
	uint64_t t0 = now_ns();
	if (!freerdp_connect(instance)) {
		rdp_free(instance);
		return NULL;
	}
	t->active = now_ns() - t0;
	while (now_ns() - t0 < 30000000000ull) {
		if (ref ? r->desktop : r->frames > 0) {
			t->desktop = now_ns() - t0;
			t->first = r->first_at - t0;
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
	freerdp_disconnect(instance);
	rdp_free(instance);
	return NULL;
}

static void rdp_close(freerdp *instance)
{
	if (!instance)
		return;
	freerdp_disconnect(instance);
	rdp_free(instance);
}

/* ---- vdi-server ---- */

struct server {
	char dir[128];
	char log[256];
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

static bool log_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[1024];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* vdi-server on a configuration of our own in s->dir (already made) with a
 * pool of `pool_size` desktops (0: no pool); waits until it is ready. */
static int server_start(struct server *s, int pool_size)
{
	char path[256], vmm_abs[4096], text[8192];
	if (!realpath(vmm_path, vmm_abs))
		return -errno;
	s->rdp_port = free_port();
	s->vnc_port = free_port();
	int n = snprintf(text, sizeof(text),
			 "[server]\ndata_dir = %s\nbind = 127.0.0.1\nrdp_port = %d\nvnc_port = %d\nvmm = %s\n"
			 "greeter_size = %dx%d\nlog_level = info\n[auth]\nbackend = file\n[api]\nlisten = off\n",
			 s->dir, s->rdp_port, s->vnc_port, vmm_abs, DESK_W, DESK_H);
	if (pool_size)
		snprintf(text + n, sizeof(text) - (size_t)n, "[pool:bench]\nmemory = %dM\ndisplay = %dx%d\nsize = %d\n",
			 DESK_MIB, DESK_W, DESK_H, pool_size);
	snprintf(path, sizeof(path), "%s/vdi.ini", s->dir);
	if (!write_file(path, text))
		return -EIO;
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
	unlink(s->log);
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl(server_path, server_path, "--config", path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (log_has(s->log, "vdi-server ready"))
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

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 200 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
			usleep(50000);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	kill_vmms(s->dir);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* ---- idle VNC viewers: RFB 3.8 with security None, one full frame ---- */

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

/* Until the server has been quiet for `quiet_ms`: what a viewer reads. */
static void drain(int fd, int quiet_ms)
{
	uint8_t buf[65536];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, quiet_ms) > 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static int vnc_idle(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t version[12], ntypes, types[255], result[4], init[24];
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && read_full(fd, version, 12) &&
		  write(fd, "RFB 003.008\n", 12) == 12 && read_full(fd, &ntypes, 1) && ntypes &&
		  read_full(fd, types, ntypes) && memchr(types, 1, ntypes) && write(fd, "\x01", 1) == 1 &&
		  read_full(fd, result, 4) && !memcmp(result, "\0\0\0\0", 4) && write(fd, "\x01", 1) == 1 &&
		  read_full(fd, init, 24);
	if (ok) {
		uint32_t name_len =
		    (uint32_t)init[20] << 24 | (uint32_t)init[21] << 16 | (uint32_t)init[22] << 8 | init[23];
		uint8_t name[256];
		ok = name_len <= sizeof(name) && read_full(fd, name, name_len);
	}
	if (ok) {
		/* FramebufferUpdateRequest, non-incremental, the whole screen */
		uint8_t req[10] = {3, 0, 0, 0, 0, 0, init[0], init[1], init[2], init[3]};
		ok = write(fd, req, sizeof(req)) == (ssize_t)sizeof(req);
		drain(fd, 300);
	}
	if (!ok && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* RSS of vdi-server (no pool) alone, then with IDLE_CONNS idle greeter
 * connections of one protocol; a fresh server for each protocol. */
static void bench_idle_memory(const char *dir, bool rdp)
{
	struct server s = {0};
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	if (server_start(&s, 0) < 0) {
		server_stop(&s);
		return;
	}
	usleep(300000);
	long before = rss_kib(s.pid);
	int fds[IDLE_CONNS];
	freerdp *clients[IDLE_CONNS] = {0};
	int open = 0;
	for (int i = 0; i < IDLE_CONNS; i++) {
		struct rdp_times t;
		if (rdp) {
			clients[i] = rdp_connect(s.rdp_port, NULL, NULL, &t);
			open += clients[i] != NULL;
		} else {
			fds[i] = vnc_idle(s.vnc_port);
			open += fds[i] >= 0;
		}
	}
	sleep(1);
	long after = rss_kib(s.pid);
	const char *what = rdp ? "vdi-server RSS per idle RDP greeter" : "vdi-server RSS per idle VNC greeter";
	if (open < IDLE_CONNS || before < 0 || after < 0) {
		printf("%-44s FAILED: %d of %d connections opened\n", what, open, IDLE_CONNS);
	} else {
		double per = (double)(after - before) / IDLE_CONNS / 1024.0;
		printf("%-44s %8.2f MiB (RSS %.1f -> %.1f MiB with %d at %dx%d; %.0f per GiB) | anchor: Horizon 4,000 "
		       "sessions per Connection Server\n",
		       what, per, before / 1024.0, after / 1024.0, IDLE_CONNS, DESK_W, DESK_H,
		       per > 0 ? 1024.0 / per : 0.0);
	}
	for (int i = 0; i < IDLE_CONNS; i++) {
		if (rdp)
			rdp_close(clients[i]);
		else if (fds[i] >= 0)
			close(fds[i]);
	}
	server_stop(&s);
}

/* The desktop guest's picture, from a running desktop's control socket (all
 * of the pool's desktops show the same but for the taskbar). */
static uint32_t *desktop_picture(const char *socket)
{
	struct surface *s = surface_attach_vmm(socket);
	if (!s)
		return NULL;
	struct surface_viewer *v = surface_viewer_add(s);
	uint32_t *pic = NULL;
	for (int i = 0; v && !pic && i < 100; i++) {
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

struct rdp_run {
	int port;
	const uint32_t *ref;
	atomic_int next;
	int first, end;
	struct rdp_times t[RDP_USERS];
	bool ok[RDP_USERS];
};

static void *rdp_client(void *opaque)
{
	struct rdp_run *r = opaque;
	int i;
	while ((i = r->first + atomic_fetch_add(&r->next, 1)) < r->end) {
		char user[32];
		snprintf(user, sizeof(user), "r%d", i);
		freerdp *c = rdp_connect(r->port, user, r->ref, &r->t[i]);
		r->ok[i] = c != NULL;
		rdp_close(c);
	}
	return NULL;
}

/* Users r[first, end) connect, `clients` at a time; prints the row. */
static void rdp_round(struct rdp_run *r, int first, int end, int clients, const char *what, const char *anchor,
		      bool rate)
{
	r->first = first;
	r->end = end;
	atomic_store(&r->next, 0);
	pthread_t t[RDP_CLIENTS];
	uint64_t t0 = now_ns();
	int started = 0;
	if (clients == 1)
		rdp_client(r);
	else
		for (; started < clients && started < RDP_CLIENTS; started++)
			if (pthread_create(&t[started], NULL, rdp_client, r) != 0)
				break;
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	uint64_t lat[RDP_USERS], active[RDP_USERS], greeter[RDP_USERS];
	size_t n = 0;
	for (int i = first; i < end; i++) {
		if (!r->ok[i])
			continue;
		active[n] = r->t[i].active;
		greeter[n] = r->t[i].first;
		lat[n++] = r->t[i].desktop;
	}
	if (!n) {
		printf("%-44s FAILED: no connection showed the desktop\n", what);
		return;
	}
	int failed = end - first - (int)n;
	double p50 = pct_ms(lat, n, 50), p90 = pct_ms(lat, n, 90), lo = pct_ms(lat, n, 0);
	if (rate)
		printf(
		    "%-44s %8.1f logons/s (%zu in %.2f s, %d at once; latency p50 %.0f ms, p90 %.0f)%s | anchor: %s\n",
		    what, (double)n / secs, n, secs, clients, p50, p90, failed ? " FAILED: some did not land" : "",
		    anchor);
	else
		printf(
		    "%-44s %8.0f ms median (min %.0f, p90 %.0f, %zu connects; medians: session active %.0f ms, greeter "
		    "frame %.0f)%s | anchor: %s\n",
		    what, p50, lo, p90, n, pct_ms(active, n, 50), pct_ms(greeter, n, 50),
		    failed ? " FAILED: some did not land" : "", anchor);
}

/* vdi-server with a pool of RDP_USERS running desktops: one-at-a-time
 * connects to the first desktop picture, reconnects, then logons with
 * RDP_CLIENTS clients at once. */
static void bench_rdp_full(const char *dir)
{
	struct server s = {0};
	snprintf(s.dir, sizeof(s.dir), "%s", dir);
	char users[256], sock[256];
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(sock, sizeof(sock), "%s/run/bench-1.sock", dir);
	if (make_users(users, "r", RDP_USERS) < 0 || server_start(&s, RDP_USERS) < 0) {
		server_stop(&s);
		return;
	}
	uint32_t *ref = NULL;
	if (wait_desktops(dir, RDP_USERS) < 0)
		printf("vdi-server's %d desktops did not all run within 60 s\n", RDP_USERS);
	else if (!(ref = desktop_picture(sock)))
		printf("cannot see the desktop's picture on %s\n", sock);
	struct rdp_run *r = ref ? calloc(1, sizeof(*r)) : NULL;
	if (r) {
		r->port = s.rdp_port;
		r->ref = ref;
		rdp_round(r, 0, RDP_SEQ, 1, "RDP connect -> desktop (spare running)", "RDS broker 0.2 s per connection",
			  false);
		rdp_round(r, 0, RDP_SEQ, 1, "RDP reconnect -> desktop", "RDS broker 0.2 s per connection", false);
		rdp_round(r, RDP_SEQ, RDP_USERS, RDP_CLIENTS, "logon file/yescrypt, full RDP",
			  "Citrix 20,000 logons in 13 min = 25.6/s", true);
	}
	free(r);
	free(ref);
	server_stop(&s);
}

/* PARTS, comma-separated: file, pam, rdp, memory; all when absent. */
static bool part(const char *parts, const char *name)
{
	if (!parts)
		return true;
	size_t len = strlen(name);
	for (const char *p = parts; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncmp(p, name, n))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || argc > 4)) {
		printf("usage: broker [VDI-VMM [VDI-SERVER [PARTS]]]\n"
		       "  PARTS: comma-separated file,pam,rdp,memory (default: all)\n");
		return argc > 4 ? 2 : 0;
	}
	if (argc > 1)
		vmm_path = argv[1];
	if (argc > 2)
		server_path = argv[2];
	const char *parts = argc > 3 ? argv[3] : NULL;
	int pam = part(parts, "pam") ? pam_reexec(argv) : -ECANCELED;
	/* The wrapper is loaded here; the VMMs and vdi-server need not load it. */
	unsetenv("LD_PRELOAD");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	setenv("WLOG_LEVEL", "OFF", 0);
	log_set_program("bench-broker");
	if (!getenv("VDI_LOG"))
		log_set_level(LOG_ERROR);
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("broker benchmarks skipped: no usable /dev/kvm\n");
		return 0;
	}
	/* VMMs vdi-server started come back to us when it stops, to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	uint64_t t0 = now_ns();
	if (part(parts, "file"))
		bench_hooks(AUTH_BACKEND_FILE, "file/yescrypt");
	if (pam == 0)
		bench_hooks(AUTH_BACKEND_PAM, "PAM/pam_matrix");
	else if (pam != -ECANCELED)
		printf("PAM logons skipped: %s\n",
		       pam == -ENOENT ? "pam_wrapper is not installed (libpam-wrapper)" : strerror(-pam));
	const char *pam_dir = getenv("VDI_BENCH_PAM_DIR");
	if (pam_dir)
		rm_tree(pam_dir);
	char dir[] = "/tmp/vdi-bench-server.XXXXXX";
	bool server = part(parts, "rdp") || part(parts, "memory");
	if (server && access(server_path, X_OK) < 0) {
		printf("RDP and memory figures skipped: %s is not built (make all)\n", server_path);
		server = false;
	}
	if (server && mkdtemp(dir)) {
		char sub[96];
		snprintf(sub, sizeof(sub), "%s/logon", dir);
		if (part(parts, "rdp") && mkdir(sub, 0700) == 0)
			bench_rdp_full(sub);
		snprintf(sub, sizeof(sub), "%s/vnc-idle", dir);
		if (part(parts, "memory") && mkdir(sub, 0700) == 0)
			bench_idle_memory(sub, false);
		snprintf(sub, sizeof(sub), "%s/rdp-idle", dir);
		if (part(parts, "memory") && mkdir(sub, 0700) == 0)
			bench_idle_memory(sub, true);
		rm_tree(dir);
	}
	printf("(broker benchmarks took %.0f s)\n", (double)(now_ns() - t0) / 1e9);
	return 0;
}
