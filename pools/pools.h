/* pools.h — the pools' face: pool definitions and the desktops' VMs. A
 * desktop is one vdi-vmm process started from its pool's template, with a
 * control socket the display gateway attaches to. pools/ starts, stops,
 * watches and restarts those processes and reports every state change; who
 * uses a desktop (assignment, sessions) is the broker's business.
 *
 * VMMs are separate processes that outlive vdi-server: after a restart the
 * broker hands pools_adopt() the desktops it recorded, and they are watched
 * again without being restarted. */
#ifndef VDI_POOLS_H
#define VDI_POOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define POOL_NAME_MAX     32
#define DESKTOP_NAME_MAX  64
#define POOL_PATH_MAX     1024
#define POOL_CMDLINE_MAX  1024
#define POOL_ENTITLE_MAX  1024
#define DESKTOP_LABEL_MAX 255

enum desktop_state {
	DESKTOP_PROVISIONING,
	DESKTOP_STOPPED,
	DESKTOP_STARTING,
	DESKTOP_RUNNING,
	DESKTOP_STOPPING,
	DESKTOP_FAILED,
	DESKTOP_SUSPENDED, /* its memory and state on disk (SNAPSHOT_DIR/NAME); resumes where it was */
};
const char *desktop_state_name(enum desktop_state state);

/* The power scheduler (power.c): a pool's policy, and the power operations
 * that move it toward its targets. Pure: the caller gives the time, so
 * tests run a week of schedules in no time. */
#define POWER_WINDOWS_MAX 8

/* A time window with its own targets, e.g. weekdays 07:00-18:30. */
struct power_window {
	uint8_t days;                /* bit 0 Monday ... bit 6 Sunday */
	uint16_t start_min, end_min; /* minutes after local midnight; end > start */
	unsigned min, spare;
};

struct power_policy {
	unsigned min;   /* desktops that exist (powered or not) */
	unsigned max;   /* desktops at most (the pool's size) */
	unsigned spare; /* powered-on unassigned desktops kept ready */
	struct power_window windows[POWER_WINDOWS_MAX];
	size_t nwindows;
};

/* Parses "mon-fri 07:00-18:30 min=4 spare=2" (days: mon..sun, a range, or
 * a comma list; "daily"); 0 or -EINVAL with the reason in err. */
int power_window_parse(const char *text, struct power_window *out, char *err, size_t errlen);
/* Windows separated by ';' (at most POWER_WINDOWS_MAX); "" for none. */
int power_schedule_parse(const char *text, struct power_window *out, size_t *n, char *err, size_t errlen);
/* A window as power_window_parse() reads it. */
void power_window_format(const struct power_window *w, char *out, size_t size);
/* The min and spare that apply at local time `now` (the first window that
 * holds it, else the policy's own); both capped by max. */
void power_targets(const struct power_policy *p, time_t now, unsigned *min, unsigned *spare);

enum power_state { POWER_OFF, POWER_STARTING, POWER_ON, POWER_STOPPING, POWER_SUSPENDED };

struct power_desktop {
	enum power_state state;
	bool assigned; /* someone's (a session, a dedicated owner) */
	bool settling; /* free, but not for long enough to be stopped yet */
};

enum power_op {
	POWER_CREATE,    /* a new desktop, powered off (to reach min) */
	POWER_CREATE_ON, /* a new desktop, started (a spare) */
	POWER_START,
	POWER_RESUME,
	POWER_STOP,
	POWER_DELETE,
};

struct power_action {
	enum power_op op;
	size_t desktop; /* index into the desktops given; the creations: none */
};

/* At most `budget` actions (the host's power operations left) that move the
 * pool toward its targets: spares come from suspended desktops first
 * (fastest), then stopped ones, then new ones while under max; desktops
 * under min are created (powered off); spares beyond the target are
 * stopped, never below min existing or touching an assigned or settling one;
 * desktops beyond max that are free and off are deleted. Desktops already
 * starting count as ready; stopping ones still exist (the caller leaves out
 * those being deleted). Returns how many. */
size_t power_plan(const struct power_policy *p, time_t now, const struct power_desktop *desktops, size_t n,
		  size_t budget, struct power_action *out, size_t max_out);

enum pool_template { POOL_TEMPLATE_DESKTOP, POOL_TEMPLATE_LINUX };
enum pool_assignment { POOL_FLOATING, POOL_DEDICATED };
enum pool_on_logoff { POOL_LOGOFF_KEEP, POOL_LOGOFF_REFRESH, POOL_LOGOFF_DELETE };
enum pool_on_disconnect { POOL_DISCONNECT_NONE, POOL_DISCONNECT_SUSPEND, POOL_DISCONNECT_POWEROFF };
/* The guest's serial console (COM1): a debugging aid, off unless asked for.
 * "file" writes it to RUN_DIR/NAME.serial, mode 0600, at most serial_max
 * bytes (then it stops growing: the boot and the first messages are kept),
 * removed with its desktop. */
enum pool_serial { POOL_SERIAL_OFF, POOL_SERIAL_FILE };
#define POOL_SERIAL_MAX_DEF (1024 * 1024)
#define POOL_SERIAL_MAX_MIN 4096
#define POOL_SERIAL_MAX_MAX (1024 * 1024 * 1024)
/* Free desktops beyond the spare count (after a logoff, at a window's end). */
enum pool_surplus { POOL_SURPLUS_POWEROFF, POOL_SURPLUS_SUSPEND, POOL_SURPLUS_KEEP };

struct pool_spec {
	char name[POOL_NAME_MAX + 1];
	enum pool_template template;
	char kernel[POOL_PATH_MAX], initrd[POOL_PATH_MAX], disk[POOL_PATH_MAX];
	char cmdline[POOL_CMDLINE_MAX];
	unsigned vcpus;
	unsigned memory_mib;
	uint32_t width, height; /* the display at boot */
	unsigned size;          /* desktops in the pool at most */
	enum pool_assignment assignment;
	enum pool_on_logoff on_logoff;
	char entitlement[POOL_ENTITLE_MAX]; /* user names and @groups; "*" everyone */
	unsigned disconnect_timeout_s;      /* 0: keep forever */
	/* Desktops start as instant clones of a template booted once (its
	 * memory shared copy-on-write) instead of each booting. */
	bool clone;
	/* Power: desktops that exist, powered-on free ones kept ready, time
	 * windows with their own (power_plan()); what happens to a desktop
	 * whose user disconnected, after a while. */
	unsigned min, spare;
	struct power_window windows[POWER_WINDOWS_MAX];
	size_t nwindows;
	enum pool_on_disconnect on_disconnect;
	unsigned on_disconnect_after_s;
	enum pool_surplus surplus; /* powered off, suspended or kept running */
	unsigned surplus_after_s;  /* once free this long */
	unsigned idle_timeout_s;   /* a session without input this long is disconnected; 0: never */
	enum pool_serial serial;
	unsigned serial_max; /* bytes, POOL_SERIAL_MAX_MIN..POOL_SERIAL_MAX_MAX */
};

/* Fills a spec with the defaults (the in-tree desktop, 1 vCPU, 256 MiB,
 * 1024x768, 2 desktops all kept running as spares, floating, keep,
 * everyone, an hour, nothing on disconnect, no serial console). */
void pool_spec_defaults(struct pool_spec *spec, const char *name);
/* The one rule for each kind of name, wherever a name comes from (the
 * config file, the API's routes and bodies, the state store): a pool's is 1
 * to POOL_NAME_MAX of [A-Za-z0-9_-]; a desktop's (POOL-N) 1 to
 * DESKTOP_NAME_MAX of [A-Za-z0-9_.-], not starting with '.'. NULL is not. */
bool pool_name_valid(const char *name);
bool desktop_name_valid(const char *name);
/* 0, or -EINVAL with the reason in err. */
int pool_spec_check(const struct pool_spec *spec, char *err, size_t errlen);

struct desktop_info {
	char name[DESKTOP_NAME_MAX + 1];
	char pool[POOL_NAME_MAX + 1];
	enum desktop_state state;
	pid_t pid;                  /* 0 when no VMM runs */
	char socket[POOL_PATH_MAX]; /* its control socket */
	unsigned restarts;          /* after failures, in a row */
	bool given_up;              /* failed too often in a row: not started again until asked */
};

/* What pools tells its owner; called on pools' own thread with no pools
 * lock held (the callee may call back into pools). */
struct pools_events {
	/* A desktop changed state; `reason` says why ("started", "exited with
	 * status 2", "killed by signal 9", "did not start in 30 s", ...). */
	void (*state)(void *opaque, const struct desktop_info *d, enum desktop_state from, const char *reason);
	void *opaque;
};

struct pools_config {
	const char *vmm_path;     /* the vdi-vmm executable */
	const char *run_dir;      /* sockets, serial logs and VMM logs: RUN_DIR/NAME.{sock,serial,log} */
	const char *snapshot_dir; /* suspended desktops (DIR/NAME) and templates (DIR/template-POOL) */
	struct pools_events events;
	unsigned start_timeout_s; /* 0: 30 */
	unsigned stop_timeout_s;  /* 0: 10; then SIGKILL */
	unsigned restart_limit;   /* failures in a row before a desktop stays failed; 0: 3 */
};

struct pools;
struct pools *pools_create(const struct pools_config *cfg, char *err, size_t errlen);
/* Stops watching; the VMMs keep running (a restarted vdi-server adopts
 * them). */
void pools_destroy(struct pools *p);

/* Desktops. Names are unique across pools ([A-Za-z0-9_.-], 1..64). */
/* A new desktop of `spec`, started at once (starting, then running once its
 * control socket answers). -EEXIST, -EINVAL, or the launch's errno. */
int pools_desktop_start(struct pools *p, const struct pool_spec *spec, const char *name, const char *label);
/* Powers a desktop off (stopping, then stopped) and keeps its record;
 * -ENOENT. */
int pools_desktop_stop(struct pools *p, const char *name);
/* Starts a stopped or failed desktop again, from its template (a refresh
 * when it was running: stopped first). */
int pools_desktop_restart(struct pools *p, const char *name);
/* Suspends a running desktop to disk (stopping, then suspended; its VMM
 * exits); -ENOENT, -EINVAL when it is not running. */
int pools_desktop_suspend(struct pools *p, const char *name);
/* Starts a suspended desktop from its snapshot: it goes on where it was.
 * -EINVAL when it is not suspended. */
int pools_desktop_resume(struct pools *p, const char *name);
/* Forgets a desktop (stopping its VMM first if it runs). */
int pools_desktop_remove(struct pools *p, const char *name);
/* A VMM a previous vdi-server started: watched again if process `pid` is
 * alive and answers on `socket`, else reported failed (and restarted).
 * With pid 0, a desktop that has no VMM: suspended when its snapshot is
 * there, else stopped (nothing is started). */
int pools_adopt(struct pools *p, const struct pool_spec *spec, const char *name, pid_t pid, const char *socket);
/* The taskbar label of a running desktop (the user's name). */
int pools_desktop_set_label(struct pools *p, const char *name, const char *label);
int pools_desktop_info(struct pools *p, const char *name, struct desktop_info *out);
/* Up to `max` desktops (of `pool`, or all when NULL); returns how many
 * there are. */
size_t pools_desktop_list(struct pools *p, const char *pool, struct desktop_info *out, size_t max);

#endif
