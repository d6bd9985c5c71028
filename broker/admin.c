/* admin.c — the broker's side of the admin REST API (broker/api.c): pools
 * created, changed and deleted at run time, desktops powered and
 * screenshotted, sessions ended, the audit log paged, metrics. */
#include "api.h"
#include "internal.h"

#include "../common/log.h"
#include "../common/png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pools as JSON ---- */

static const char *const admin_templates[] = {"desktop", "linux"};
static const char *const admin_assignments[] = {"floating", "dedicated"};
static const char *const admin_logoffs[] = {"keep", "refresh", "delete"};

static const char *const admin_disconnects[] = {"none", "suspend", "poweroff"};
static const char *const admin_surplus[] = {"poweroff", "suspend", "keep"};
static const char *const admin_serials[] = {"off", "file"};

json_t *broker_pool_to_json(const struct pool_spec *s)
{
	char display[32], schedule[POWER_WINDOWS_MAX * 64] = "";
	snprintf(display, sizeof(display), "%ux%u", s->width, s->height);
	for (size_t i = 0; i < s->nwindows; i++) {
		size_t n = strlen(schedule);
		if (n)
			n += (size_t)snprintf(schedule + n, sizeof(schedule) - n, "; ");
		power_window_format(&s->windows[i], schedule + n, sizeof(schedule) - n);
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:I}", "name", s->name,
			      "template", admin_templates[s->template], "kernel", s->kernel, "initrd", s->initrd,
			      "disk", s->disk, "cmdline", s->cmdline, "vcpus", (json_int_t)s->vcpus, "memory",
			      (json_int_t)s->memory_mib, "display", display, "size", (json_int_t)s->size, "assignment",
			      admin_assignments[s->assignment], "on_logoff", admin_logoffs[s->on_logoff], "entitlement",
			      s->entitlement, "disconnect_timeout", (json_int_t)s->disconnect_timeout_s);
	if (j &&
	    json_object_update_new(j, json_pack("{s:I, s:I, s:s, s:b, s:s, s:I}", "min", (json_int_t)s->min, "spare",
						(json_int_t)s->spare, "schedule", schedule, "clone", s->clone,
						"on_disconnect", admin_disconnects[s->on_disconnect],
						"on_disconnect_after", (json_int_t)s->on_disconnect_after_s)) < 0) {
		json_decref(j);
		return NULL;
	}
	if (j && json_object_update_new(j, json_pack("{s:s, s:I, s:I, s:s, s:I}", "surplus", admin_surplus[s->surplus],
						     "surplus_after", (json_int_t)s->surplus_after_s, "idle_timeout",
						     (json_int_t)s->idle_timeout_s, "serial", admin_serials[s->serial],
						     "serial_max", (json_int_t)s->serial_max)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int admin_word(json_t *v, const char *const *words, int n, const char *key, char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	for (int i = 0; s && i < n; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	snprintf(err, errlen, "%s: expected %s%s%s%s%s", key, words[0], n > 1 ? " or " : "", n > 1 ? words[1] : "",
		 n > 2 ? " or " : "", n > 2 ? words[2] : "");
	return -1;
}

static int admin_uint(json_t *v, const char *key, unsigned *out, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000) {
		snprintf(err, errlen, "%s: expected a whole number", key);
		return -1;
	}
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int admin_text(json_t *v, const char *key, char *out, size_t size, char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	if (!s || strlen(s) >= size) {
		snprintf(err, errlen, "%s: expected a string of at most %zu bytes", key, size - 1);
		return -1;
	}
	snprintf(out, size, "%s", s);
	return 0;
}

/* Applies the settings in `j` to `s` (absent keys keep their values);
 * unknown keys and bad values are errors naming the key. */
int broker_pool_from_json(json_t *j, struct pool_spec *s, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		int r = 0;
		if (!strcmp(key, "name")) {
			if (!json_is_string(v) || strcmp(json_string_value(v), s->name) != 0) {
				snprintf(err, errlen, "name: a pool keeps its name");
				return -EINVAL;
			}
		} else if (!strcmp(key, "template")) {
			int t = admin_word(v, admin_templates, 2, key, err, errlen);
			r = t < 0 ? -1 : (s->template = (enum pool_template)t, 0);
		} else if (!strcmp(key, "assignment")) {
			int t = admin_word(v, admin_assignments, 2, key, err, errlen);
			r = t < 0 ? -1 : (s->assignment = (enum pool_assignment)t, 0);
		} else if (!strcmp(key, "on_logoff")) {
			int t = admin_word(v, admin_logoffs, 3, key, err, errlen);
			r = t < 0 ? -1 : (s->on_logoff = (enum pool_on_logoff)t, 0);
		} else if (!strcmp(key, "vcpus")) {
			r = admin_uint(v, key, &s->vcpus, err, errlen);
		} else if (!strcmp(key, "memory")) {
			r = admin_uint(v, key, &s->memory_mib, err, errlen);
		} else if (!strcmp(key, "size")) {
			r = admin_uint(v, key, &s->size, err, errlen);
		} else if (!strcmp(key, "disconnect_timeout")) {
			r = admin_uint(v, key, &s->disconnect_timeout_s, err, errlen);
		} else if (!strcmp(key, "min")) {
			r = admin_uint(v, key, &s->min, err, errlen);
		} else if (!strcmp(key, "spare")) {
			r = admin_uint(v, key, &s->spare, err, errlen);
		} else if (!strcmp(key, "on_disconnect_after")) {
			r = admin_uint(v, key, &s->on_disconnect_after_s, err, errlen);
		} else if (!strcmp(key, "surplus_after")) {
			r = admin_uint(v, key, &s->surplus_after_s, err, errlen);
		} else if (!strcmp(key, "idle_timeout")) {
			r = admin_uint(v, key, &s->idle_timeout_s, err, errlen);
		} else if (!strcmp(key, "serial")) {
			int t = admin_word(v, admin_serials, 2, key, err, errlen);
			r = t < 0 ? -1 : (s->serial = (enum pool_serial)t, 0);
		} else if (!strcmp(key, "serial_max")) {
			r = admin_uint(v, key, &s->serial_max, err, errlen);
		} else if (!strcmp(key, "surplus")) {
			int t = admin_word(v, admin_surplus, 3, key, err, errlen);
			r = t < 0 ? -1 : (s->surplus = (enum pool_surplus)t, 0);
		} else if (!strcmp(key, "on_disconnect")) {
			int t = admin_word(v, admin_disconnects, 3, key, err, errlen);
			r = t < 0 ? -1 : (s->on_disconnect = (enum pool_on_disconnect)t, 0);
		} else if (!strcmp(key, "clone")) {
			if (!json_is_boolean(v) && !json_is_string(v)) {
				snprintf(err, errlen, "clone: expected true or false");
				r = -1;
			} else {
				const char *t = json_string_value(v);
				s->clone = t ? !strcmp(t, "yes") || !strcmp(t, "true") : json_is_true(v);
			}
		} else if (!strcmp(key, "schedule")) {
			/* One string of windows separated by ';', or an array of windows. */
			char text[POWER_WINDOWS_MAX * 160] = "";
			size_t i;
			json_t *w;
			if (json_is_string(v)) {
				snprintf(text, sizeof(text), "%s", json_string_value(v));
			} else if (json_is_array(v)) {
				json_array_foreach(v, i, w)
				{
					size_t n = strlen(text);
					snprintf(text + n, sizeof(text) - n, "%s%s", n ? ";" : "",
						 json_is_string(w) ? json_string_value(w) : "?");
				}
			}
			char why[200];
			if ((!json_is_string(v) && !json_is_array(v)) ||
			    power_schedule_parse(text, s->windows, &s->nwindows, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "schedule: %s",
					 json_is_string(v) || json_is_array(v) ? why : "expected windows as text");
				r = -1;
			}
		} else if (!strcmp(key, "display")) {
			unsigned w, h;
			char tail;
			const char *d = json_string_value(v);
			if (!d || sscanf(d, "%ux%u%c", &w, &h, &tail) != 2) {
				snprintf(err, errlen, "display: expected WIDTHxHEIGHT");
				r = -1;
			} else {
				s->width = w;
				s->height = h;
			}
		} else if (!strcmp(key, "entitlement")) {
			r = admin_text(v, key, s->entitlement, sizeof(s->entitlement), err, errlen);
		} else if (!strcmp(key, "kernel")) {
			r = admin_text(v, key, s->kernel, sizeof(s->kernel), err, errlen);
		} else if (!strcmp(key, "initrd")) {
			r = admin_text(v, key, s->initrd, sizeof(s->initrd), err, errlen);
		} else if (!strcmp(key, "disk")) {
			r = admin_text(v, key, s->disk, sizeof(s->disk), err, errlen);
		} else if (!strcmp(key, "cmdline")) {
			r = admin_text(v, key, s->cmdline, sizeof(s->cmdline), err, errlen);
		} else {
			snprintf(
			    err, errlen,
			    "%s: unknown setting (template, kernel, initrd, disk, cmdline, vcpus, memory, display, "
			    "size, assignment, on_logoff, entitlement, disconnect_timeout, min, spare, schedule, "
			    "clone, "
			    "on_disconnect, on_disconnect_after, surplus, surplus_after, idle_timeout, serial, "
			    "serial_max)",
			    key);
			return -EINVAL;
		}
		if (r < 0)
			return -EINVAL;
	}
	return pool_spec_check(s, err, errlen);
}

/* ---- operations: pool creation, followed until its desktops run ---- */

static struct broker_op *admin_op_new(struct broker *b, const char *pool, unsigned total)
{
	struct broker_op *op = &b->ops[b->next_op % BROKER_OPS];
	memset(op, 0, sizeof(*op));
	snprintf(op->id, sizeof(op->id), "op-%u", ++b->next_op);
	snprintf(op->pool, sizeof(op->pool), "%s", pool);
	op->total = total;
	return op;
}

static void admin_operation_get(void *opaque, const char *id, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	struct broker_op *op = NULL;
	for (unsigned i = 0; i < BROKER_OPS; i++)
		if (b->ops[i].id[0] && strcmp(b->ops[i].id, id) == 0)
			op = &b->ops[i];
	if (!op) {
		broker_unlock(b);
		api_result_error(res, 404, "no operation %s", id);
		return;
	}
	unsigned running = 0, failed = 0;
	for (struct broker_desktop *d = b->desktops; d; d = d->next) {
		if (strcmp(d->pool, op->pool) != 0)
			continue;
		running += d->state == DESKTOP_RUNNING;
		failed += d->state == DESKTOP_FAILED;
	}
	unsigned done = running < op->total ? running : op->total;
	const char *state = done == op->total ? "done" : failed && failed + running >= op->total ? "failed" : "running";
	res->json =
	    json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", op->id, "state", state, "done", (json_int_t)done, "total",
		      (json_int_t)op->total, "error",
		      !strcmp(state, "failed") ? "desktops failed to start (see their logs in the run directory)" : "");
	broker_unlock(b);
}

/* ---- pools ---- */

static void admin_pools_list(void *opaque, struct api_result *res)
{
	struct broker *b = opaque;
	json_t *list = json_array();
	broker_lock(b);
	for (struct broker_pool *p = b->pool_list; p; p = p->next) {
		json_t *j = broker_pool_to_json(&p->spec);
		unsigned n = 0, running = 0, assigned = 0;
		for (struct broker_desktop *d = b->desktops; d; d = d->next) {
			if (strcmp(d->pool, p->spec.name) != 0)
				continue;
			n++;
			running += d->state == DESKTOP_RUNNING;
			assigned += d->user[0] != '\0';
		}
		json_object_set_new(j, "source", json_string(p->from_api ? "api" : "config"));
		json_object_set_new(j, "desktops", json_integer(n));
		json_object_set_new(j, "running", json_integer(running));
		json_object_set_new(j, "assigned", json_integer(assigned));
		json_array_append_new(list, j);
	}
	broker_unlock(b);
	res->json = json_pack("{s:o}", "pools", list);
}

static void admin_pool_get(void *opaque, const char *name, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	struct broker_pool *p = broker_pool_find(b, name);
	if (p)
		res->json = broker_pool_to_json(&p->spec);
	broker_unlock(b);
	if (!p)
		api_result_error(res, 404, "no pool %s", name);
}

static void admin_pool_create(void *opaque, const char *name, json_t *body, struct api_result *res)
{
	struct broker *b = opaque;
	struct pool_spec spec;
	char err[256];
	pool_spec_defaults(&spec, name);
	/* Every desktop is kept ready unless the admin says how many. */
	if (!json_object_get(body, "spare"))
		json_object_set_new(body, "spare",
				    json_integer(json_is_integer(json_object_get(body, "size"))
						     ? json_integer_value(json_object_get(body, "size"))
						     : (json_int_t)spec.size));
	if (broker_pool_from_json(body, &spec, err, sizeof(err)) < 0) {
		api_result_error(res, 400, "%s", err);
		return;
	}
	broker_lock(b);
	int r = broker_pool_add(b, &spec, true);
	if (r == 0) {
		struct broker_op *op = admin_op_new(b, name, spec.size);
		res->status = 202;
		res->json = json_pack("{s:s, s:s}", "operation", op->id, "pool", name);
	}
	broker_unlock(b);
	if (r < 0)
		api_result_errno(res, r, r == -EEXIST ? "pool %s exists" : "cannot create pool %s", name);
}

static void admin_pool_update(void *opaque, const char *name, json_t *body, struct api_result *res)
{
	struct broker *b = opaque;
	char err[256];
	broker_lock(b);
	struct broker_pool *p = broker_pool_find(b, name);
	struct pool_spec spec;
	int r = -ENOENT;
	if (p) {
		spec = p->spec;
		/* A pool that kept all its desktops ready goes on doing so at a new size. */
		if (json_is_integer(json_object_get(body, "size")) && !json_object_get(body, "spare") &&
		    p->spec.spare == p->spec.size)
			json_object_set(body, "spare", json_object_get(body, "size"));
		r = broker_pool_from_json(body, &spec, err, sizeof(err));
		if (r == 0)
			r = broker_pool_change(b, p, &spec);
		else
			api_result_error(res, 400, "%s", err);
	}
	if (r == 0)
		res->json = broker_pool_to_json(&p->spec);
	broker_unlock(b);
	if (r == -ENOENT)
		api_result_error(res, 404, "no pool %s", name);
	else if (r < 0 && r != -EINVAL)
		api_result_errno(res, r, "cannot change pool %s", name);
}

static void admin_pool_delete(void *opaque, const char *name, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	int r = broker_pool_remove(b, name);
	broker_unlock(b);
	if (r == -EBUSY)
		api_result_error(res, 409, "pool %s has desktops in use; log their users off first", name);
	else if (r == -EPERM)
		api_result_error(res, 409, "pool %s is defined in the configuration file; change it there", name);
	else if (r < 0)
		api_result_errno(res, r, "no pool %s", name);
	else
		res->status = 204;
}

/* ---- desktops ---- */

static json_t *admin_desktop_json(struct broker *b, const struct broker_desktop *d)
{
	struct desktop_info info = {0};
	pools_desktop_info(b->pools, d->name, &info);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:b}", "name", d->name, "pool", d->pool, "state",
			 desktop_state_name(d->state), "user", d->user, "vmm_pid", (json_int_t)info.pid, "connected",
			 d->conn != NULL, "restarts", (json_int_t)info.restarts, "held", d->held_off);
}

static void admin_desktops_list(void *opaque, const char *pool, struct api_result *res)
{
	struct broker *b = opaque;
	json_t *list = json_array();
	broker_lock(b);
	for (struct broker_desktop *d = b->desktops; d; d = d->next)
		if (!pool || strcmp(d->pool, pool) == 0)
			json_array_append_new(list, admin_desktop_json(b, d));
	broker_unlock(b);
	res->json = json_pack("{s:o}", "desktops", list);
}

static void admin_desktop_get(void *opaque, const char *name, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	struct broker_desktop *d = broker_desktop_find(b, name);
	if (d)
		res->json = admin_desktop_json(b, d);
	broker_unlock(b);
	if (!d)
		api_result_error(res, 404, "no desktop %s", name);
}

enum admin_power { ADMIN_ON, ADMIN_OFF, ADMIN_REFRESH, ADMIN_DELETE, ADMIN_SUSPEND, ADMIN_RESUME };

static void admin_power(struct broker *b, const char *name, enum admin_power what, struct api_result *res)
{
	broker_lock(b);
	struct broker_desktop *d = broker_desktop_find(b, name);
	int r = -ENOENT;
	if (d) {
		/* Off or suspended by an admin stays so until an admin says otherwise. */
		bool held = what == ADMIN_OFF || what == ADMIN_SUSPEND;
		if (held != d->held_off && store_desktop_set_held(b->store, d->store_id, held) < 0)
			log_warn("broker: desktop %s: its hold is not stored; a restart forgets it", d->name);
		d->held_off = held;
		/* Decided here; done by an action worker, the lock released while this request waits for it. */
		enum act_kind act = ACT_RESTART;
		r = 0;
		switch (what) {
		case ADMIN_ON:
			r = d->state == DESKTOP_RUNNING || d->state == DESKTOP_STARTING ? 1 : 0;
			break;
		case ADMIN_OFF:
			act = ACT_STOP;
			break;
		case ADMIN_REFRESH:
			break;
		case ADMIN_SUSPEND:
			act = ACT_SUSPEND;
			r = d->state == DESKTOP_RUNNING ? 0 : -EBUSY;
			break;
		case ADMIN_RESUME:
			act = ACT_RESUME;
			r = d->state == DESKTOP_SUSPENDED ? 0 : -EBUSY;
			break;
		case ADMIN_DELETE:
			broker_audit(b, "desktop_delete", d->user, NULL, d->pool, d->name, "admin");
			d->deleting = true;
			act = ACT_REMOVE;
			break;
		}
		r = r == 0 ? broker_act_wait(b, act, name) : r > 0 ? 0 : r;
		/* The desktop may have gone while the lock was released. */
		d = broker_desktop_find(b, name);
		if (r == 0 && !d && what != ADMIN_DELETE)
			r = -ENOENT;
	}
	if (r == 0 && what != ADMIN_DELETE)
		res->json = admin_desktop_json(b, d);
	broker_unlock(b);
	if (r == 0 && what == ADMIN_DELETE)
		res->status = 202;
	if (r == 0 && what == ADMIN_DELETE)
		res->json = json_pack("{s:s, s:s}", "name", name, "state", "stopping");
	if (r == -EBUSY)
		api_result_error(res, 409, "desktop %s is not %s", name,
				 what == ADMIN_SUSPEND ? "running" : "suspended");
	else if (r < 0)
		api_result_errno(res, r, r == -ENOENT ? "no desktop %s" : "desktop %s: the VMM refused", name);
}

static void admin_desktop_suspend(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_SUSPEND, res);
}

static void admin_desktop_resume(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_RESUME, res);
}

static void admin_desktop_poweron(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_ON, res);
}

static void admin_desktop_poweroff(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_OFF, res);
}

static void admin_desktop_refresh(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_REFRESH, res);
}

static void admin_desktop_delete(void *opaque, const char *name, struct api_result *res)
{
	admin_power(opaque, name, ADMIN_DELETE, res);
}

static void admin_desktop_screenshot(void *opaque, const char *name, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	struct broker_desktop *d = broker_desktop_find(b, name);
	struct surface *s = d ? surface_ref(d->surface) : NULL;
	broker_unlock(b);
	if (!d) {
		api_result_error(res, 404, "no desktop %s", name);
		return;
	}
	if (!s) {
		api_result_error(res, 409, "desktop %s is not running", name);
		return;
	}
	/* A viewer's first take is the whole frame, a private copy. */
	struct surface_viewer *v = surface_viewer_add(s);
	struct surface_update u;
	char *png = NULL;
	size_t len = 0;
	int r = -ENOMEM;
	if (v && surface_viewer_take(v, &u) && u.pixels && u.width && u.height) {
		FILE *f = open_memstream(&png, &len);
		r = f ? png_write_xrgb(f, u.pixels, u.width, u.height, u.stride) : -ENOMEM;
		if (f)
			fclose(f);
	} else if (v) {
		r = -EAGAIN;
	}
	surface_viewer_remove(v);
	surface_destroy(s);
	if (r < 0) {
		free(png);
		api_result_error(res, r == -EAGAIN ? 409 : 500, "desktop %s has no picture yet", name);
		return;
	}
	res->bytes = png;
	res->len = len;
	res->content_type = "image/png";
}

/* ---- sessions ---- */

static void admin_sessions_list(void *opaque, struct api_result *res)
{
	struct broker *b = opaque;
	struct store_session *list = NULL;
	size_t n = 0;
	if (store_session_list(b->store, &list, &n) < 0) {
		api_result_error(res, 500, "cannot read the sessions");
		return;
	}
	json_t *arr = json_array();
	broker_lock(b);
	for (size_t i = 0; i < n; i++) {
		const struct store_session *s = &list[i];
		struct broker_desktop *d = broker_desktop_by_id(b, s->desktop_id);
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id",
						     (json_int_t)s->id, "user", s->user, "pool", s->pool, "desktop",
						     d ? d->name : "", "state", store_session_state_name(s->state),
						     "protocol", s->protocol, "address", s->address, "started",
						     (json_int_t)s->started, "last_seen", (json_int_t)s->last_seen,
						     "disconnected_at", (json_int_t)s->disconnected_at));
	}
	broker_unlock(b);
	free(list);
	res->json = json_pack("{s:o}", "sessions", arr);
}

static void admin_session_disconnect(void *opaque, int64_t id, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	int r = session_disconnect_id(b, id);
	broker_unlock(b);
	if (r < 0)
		api_result_errno(res, r, "no session %lld", (long long)id);
	else
		res->status = 204;
}

static void admin_session_logoff(void *opaque, int64_t id, struct api_result *res)
{
	struct broker *b = opaque;
	broker_lock(b);
	int r = session_logoff_id(b, id, "logged off by an admin");
	broker_unlock(b);
	if (r < 0)
		api_result_errno(res, r, "no session %lld", (long long)id);
	else
		res->status = 204;
}

/* ---- audit and metrics ---- */

static void admin_events_list(void *opaque, int64_t after, unsigned limit, const char *event, struct api_result *res)
{
	struct broker *b = opaque;
	struct store_audit *list = NULL;
	size_t n = 0;
	if (store_audit_list(b->store, after, limit, event, &list, &n) < 0) {
		api_result_error(res, 500, "cannot read the audit log");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct store_audit *a = &list[i];
		json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
						     (json_int_t)a->id, "time", (json_int_t)a->time, "event", a->event,
						     "user", a->user, "address", a->address, "pool", a->pool, "desktop",
						     a->desktop, "detail", a->detail));
	}
	free(list);
	res->json = json_pack("{s:o}", "events", arr);
}

static void admin_metrics(void *opaque, struct api_result *res)
{
	struct broker *b = opaque;
	struct store_counts counts;
	if (store_count_states(b->store, &counts) < 0) {
		api_result_error(res, 500, "cannot count");
		return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		api_result_error(res, 500, "no memory");
		return;
	}
	fprintf(f, "# HELP vdi_desktops Desktops by state.\n# TYPE vdi_desktops gauge\n");
	for (int s = 0; s < STORE_DESKTOP_STATE_COUNT; s++)
		fprintf(f, "vdi_desktops{state=\"%s\"} %llu\n", store_desktop_state_name((enum store_desktop_state)s),
			(unsigned long long)counts.desktops[s]);
	fprintf(f, "# HELP vdi_sessions Sessions by state.\n# TYPE vdi_sessions gauge\n");
	for (int s = 0; s < STORE_SESSION_STATE_COUNT; s++)
		fprintf(f, "vdi_sessions{state=\"%s\"} %llu\n", store_session_state_name((enum store_session_state)s),
			(unsigned long long)counts.sessions[s]);
	unsigned conns = 0, on_desktop = 0;
	broker_lock(b);
	for (struct broker_conn *c = b->conns; c; c = c->next) {
		conns++;
		on_desktop += c->phase == CONN_DESKTOP;
	}
	broker_unlock(b);
	fprintf(f, "# HELP vdi_connections Client connections now.\n# TYPE vdi_connections gauge\n");
	fprintf(f, "vdi_connections{on=\"greeter\"} %u\nvdi_connections{on=\"desktop\"} %u\n", conns - on_desktop,
		on_desktop);
	struct store_event_count *events = NULL;
	size_t n = 0;
	if (store_audit_count_events(b->store, 0, &events, &n) == 0) {
		fprintf(f, "# HELP vdi_audit_events_total Audit records by event.\n# TYPE vdi_audit_events_total "
			   "counter\n");
		for (size_t i = 0; i < n; i++)
			fprintf(f, "vdi_audit_events_total{event=\"%s\"} %llu\n", events[i].event,
				(unsigned long long)events[i].count);
		free(events);
	}
	fclose(f);
	res->bytes = text;
	res->len = len;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void admin_audit(void *opaque, const char *user, const char *method, const char *path, unsigned status)
{
	struct broker *b = opaque;
	char detail[STORE_DETAIL_MAX];
	snprintf(detail, sizeof(detail), "%s %s -> %u", method, path, status);
	broker_audit(b, "admin", user, NULL, NULL, NULL, detail);
}

int broker_start_api(struct broker *b, const char *listen, const char *cert, const char *key, char *err, size_t errlen)
{
	struct api_backend be = {
	    .opaque = b,
	    .pools_list = admin_pools_list,
	    .pool_create = admin_pool_create,
	    .pool_get = admin_pool_get,
	    .pool_update = admin_pool_update,
	    .pool_delete = admin_pool_delete,
	    .desktops_list = admin_desktops_list,
	    .desktop_get = admin_desktop_get,
	    .desktop_poweron = admin_desktop_poweron,
	    .desktop_poweroff = admin_desktop_poweroff,
	    .desktop_refresh = admin_desktop_refresh,
	    .desktop_delete = admin_desktop_delete,
	    .desktop_screenshot = admin_desktop_screenshot,
	    .sessions_list = admin_sessions_list,
	    .session_disconnect = admin_session_disconnect,
	    .session_logoff = admin_session_logoff,
	    .events_list = admin_events_list,
	    .operation_get = admin_operation_get,
	    .metrics = admin_metrics,
	    .audit = admin_audit,
	    .desktop_suspend = admin_desktop_suspend,
	    .desktop_resume = admin_desktop_resume,
	    .me_pools = user_api_pools,
	    .me_ticket = user_api_ticket,
	};
	struct api_config cfg = {.listen = listen,
				 .cert_file = cert,
				 .key_file = key,
				 .auth = b->auth,
				 .limit = b->limit,
				 .handshake_timeout_s = b->handshake_timeout_s,
				 .timeout_s = b->api_idle_timeout_s};
	b->api = api_start(&cfg, &be, err, errlen);
	return b->api ? 0 : -EINVAL;
}
