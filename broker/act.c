/* act.c — what the broker asks of pools/ (start, stop, suspend, resume or
 * remove a desktop, set its label) is decided under the broker's lock and
 * carried out here, by worker threads, outside it: a suspend waits up to a
 * minute for its snapshot, a power-off or a label up to seconds for its VMM,
 * and no login, greeter or API call waits behind them. Actions on one
 * desktop run one at a time, in the order they were asked for. */
#include "internal.h"

#include "../common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct act {
	struct act *next;
	enum act_kind kind;
	char desktop[DESKTOP_NAME_MAX + 1];
	char label[DESKTOP_LABEL_MAX + 1];
	struct pool_spec spec; /* ACT_START, ACT_CREATE_OFF */
	bool waited;           /* someone waits for the result: they free it */
	bool done;
	int result;
};

static const char *act_name(enum act_kind kind)
{
	static const char *const names[] = {
	    [ACT_START] = "start",     [ACT_CREATE_OFF] = "create", [ACT_STOP] = "power off", [ACT_RESTART] = "start",
	    [ACT_SUSPEND] = "suspend", [ACT_RESUME] = "resume",     [ACT_REMOVE] = "remove",  [ACT_LABEL] = "label",
	};
	return names[kind];
}

/* The power state the desktop is headed for once this action has run. */
static enum power_state act_heads_for(enum act_kind kind, enum power_state now)
{
	switch (kind) {
	case ACT_START:
	case ACT_RESTART:
	case ACT_RESUME:
		return POWER_STARTING;
	case ACT_STOP:
	case ACT_SUSPEND:
	case ACT_REMOVE:
		return POWER_STOPPING;
	default:
		return now;
	}
}

static struct act *act_new(struct broker *b, enum act_kind kind, const char *desktop, const char *label,
			   const struct pool_spec *spec)
{
	assert_locked(b);
	struct act *a = calloc(1, sizeof(*a));
	if (!a) {
		log_error("broker: no memory to %s desktop %s", act_name(kind), desktop);
		return NULL;
	}
	a->kind = kind;
	snprintf(a->desktop, sizeof(a->desktop), "%s", desktop);
	snprintf(a->label, sizeof(a->label), "%s", label ? label : "");
	if (spec)
		a->spec = *spec;
	struct broker_desktop *d = broker_desktop_find(b, desktop);
	if (d) {
		d->acts++;
		d->heads_for = act_heads_for(kind, d->acts > 1 ? d->heads_for : broker_power_state(d->state));
	}
	*b->acts_tail = a;
	b->acts_tail = &a->next;
	pthread_cond_broadcast(&b->acts_ready);
	return a;
}

void broker_act(struct broker *b, enum act_kind kind, const char *desktop, const char *label,
		const struct pool_spec *spec)
{
	act_new(b, kind, desktop, label, spec);
}

int broker_act_wait(struct broker *b, enum act_kind kind, const char *desktop)
{
	struct act *a = act_new(b, kind, desktop, NULL, NULL);
	if (!a)
		return -ENOMEM;
	a->waited = true;
	while (!a->done)
		broker_wait(b, &b->acts_done);
	int r = a->result;
	free(a);
	return r;
}

/* Outside the lock. */
static int act_run(struct broker *b, struct act *a)
{
	switch (a->kind) {
	case ACT_START:
		return pools_desktop_start(b->pools, &a->spec, a->desktop, a->label[0] ? a->label : NULL);
	case ACT_CREATE_OFF:
		return pools_adopt(b->pools, &a->spec, a->desktop, 0, NULL);
	case ACT_STOP:
		return pools_desktop_stop(b->pools, a->desktop);
	case ACT_RESTART:
		return pools_desktop_restart(b->pools, a->desktop);
	case ACT_SUSPEND:
		return pools_desktop_suspend(b->pools, a->desktop);
	case ACT_RESUME:
		return pools_desktop_resume(b->pools, a->desktop);
	case ACT_REMOVE:
		return pools_desktop_remove(b->pools, a->desktop);
	case ACT_LABEL:
		return pools_desktop_set_label(b->pools, a->desktop, a->label);
	}
	return -EINVAL;
}

/* Under the lock: the first queued action whose desktop has none running. */
static struct act **act_next(struct broker *b)
{
	for (struct act **it = &b->acts; *it; it = &(*it)->next) {
		bool busy = false;
		for (unsigned i = 0; i < BROKER_ACT_WORKERS && !busy; i++)
			busy = b->acts_running[i] && strcmp(b->acts_running[i]->desktop, (*it)->desktop) == 0;
		if (!busy)
			return it;
	}
	return NULL;
}

/* Under the lock: a (run or dropped) is finished. */
static void act_finish(struct broker *b, struct act *a, int result)
{
	struct broker_desktop *d = broker_desktop_find(b, a->desktop);
	if (d && d->acts)
		d->acts--;
	a->result = result;
	a->done = true;
	if (a->waited)
		pthread_cond_broadcast(&b->acts_done);
	else
		free(a);
}

static void *act_worker(void *opaque)
{
	struct broker *b = opaque;
	broker_lock(b);
	unsigned slot = b->nact_workers_started++;
	for (;;) {
		struct act **it = b->acts_stopping ? NULL : act_next(b);
		if (!it) {
			if (b->acts_stopping)
				break;
			broker_wait(b, &b->acts_ready);
			continue;
		}
		struct act *a = *it;
		*it = a->next;
		if (!*it)
			b->acts_tail = it;
		b->acts_running[slot] = a;
		broker_unlock(b);
		int r = act_run(b, a);
		if (r < 0 && r != -ENOENT)
			log_warn("broker: cannot %s desktop %s: %s", act_name(a->kind), a->desktop, strerror(-r));
		broker_lock(b);
		b->acts_running[slot] = NULL;
		act_finish(b, a, r);
		/* Another action on the same desktop may go now. */
		pthread_cond_broadcast(&b->acts_ready);
	}
	broker_unlock(b);
	return NULL;
}

int broker_act_start(struct broker *b)
{
	for (unsigned i = 0; i < BROKER_ACT_WORKERS; i++) {
		if (pthread_create(&b->act_workers[i], NULL, act_worker, b) != 0)
			return -EAGAIN;
		b->nact_workers++;
	}
	return 0;
}

void broker_act_stop(struct broker *b)
{
	broker_lock(b);
	b->acts_stopping = true;
	pthread_cond_broadcast(&b->acts_ready);
	broker_unlock(b);
	for (unsigned i = 0; i < b->nact_workers; i++)
		pthread_join(b->act_workers[i], NULL);
	b->nact_workers = 0;
	/* What never ran is dropped: VMMs keep running, and the next vdi-server decides afresh. */
	broker_lock(b);
	unsigned dropped = 0;
	while (b->acts) {
		struct act *a = b->acts;
		b->acts = a->next;
		act_finish(b, a, -ECANCELED);
		dropped++;
	}
	b->acts_tail = &b->acts;
	if (dropped)
		log_info("broker: %u desktop actions not begun before the stop were dropped", dropped);
	broker_unlock(b);
}
