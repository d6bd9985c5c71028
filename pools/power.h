/* power.h — private to pools/ until the broker drives it: the power
 * scheduler's policy and planner. Pure: given a pool's policy, the clock and
 * what its desktops are doing, it says which power operations to start now. */
#ifndef VDI_POOLS_POWER_H
#define VDI_POOLS_POWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
/* The min and spare that apply at local time `now` (the first window that
 * holds it, else the policy's own); both capped by max. */
void power_targets(const struct power_policy *p, time_t now, unsigned *min, unsigned *spare);

enum power_state { POWER_OFF, POWER_STARTING, POWER_ON, POWER_STOPPING, POWER_SUSPENDED };

struct power_desktop {
	enum power_state state;
	bool assigned; /* someone's (a session, a dedicated owner) */
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
 * stopped, never below min existing or touching an assigned desktop;
 * desktops beyond max that are free and off are deleted. Desktops already
 * starting count as ready, already stopping as gone. Returns how many. */
size_t power_plan(const struct power_policy *p, time_t now, const struct power_desktop *desktops, size_t n,
		  size_t budget, struct power_action *out, size_t max_out);

#endif
