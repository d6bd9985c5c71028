/* test_pools.c — pools/: desktops as real vdi-vmm processes on /dev/kvm
 * (skipped without it): started and running once they answer, labelled,
 * powered off, restarted from the template, a VMM killed with SIGKILL
 * reported failed and started again, desktops adopted by a new pools
 * instance (as after a vdi-server restart) without being restarted, a
 * dead or reused pid not adopted, and bad specs refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../pools/pools.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VMM "build/bin/vdi-vmm"

struct seen {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char log[8192]; /* "name:from>to;" */
};
static struct seen seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
static char run_dir[64];

static void on_state(void *opaque, const struct desktop_info *d, enum desktop_state from, const char *reason)
{
	(void)opaque;
	(void)reason;
	pthread_mutex_lock(&seen.lock);
	size_t n = strlen(seen.log);
	if (n < sizeof(seen.log) - 100)
		snprintf(seen.log + n, sizeof(seen.log) - n, "%s:%s>%s;", d->name, desktop_state_name(from),
			 desktop_state_name(d->state));
	pthread_cond_broadcast(&seen.changed);
	pthread_mutex_unlock(&seen.lock);
}

/* Waits (up to `seconds`) until the event log has `needle`. */
static bool saw(const char *needle, int seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&seen.lock);
	bool found;
	while (!(found = strstr(seen.log, needle) != NULL))
		if (pthread_cond_timedwait(&seen.changed, &seen.lock, &until) == ETIMEDOUT)
			break;
	found = strstr(seen.log, needle) != NULL;
	if (!found)
		fprintf(stderr, "events so far: %s\n", seen.log);
	pthread_mutex_unlock(&seen.lock);
	return found;
}

static void forget_events(void)
{
	pthread_mutex_lock(&seen.lock);
	seen.log[0] = '\0';
	pthread_mutex_unlock(&seen.lock);
}

static struct pools *make_pools(void)
{
	struct pools_config cfg = {
	    .vmm_path = VMM,
	    .run_dir = run_dir,
	    .snapshot_dir = run_dir,
	    .events = {.state = on_state},
	    .start_timeout_s = 20,
	    .stop_timeout_s = 5,
	};
	char err[256];
	struct pools *p = pools_create(&cfg, err, sizeof(err));
	if (!p)
		fprintf(stderr, "%s\n", err);
	return p;
}

static int setup(void **state)
{
	(void)state;
	if (access("/dev/kvm", R_OK | W_OK) != 0 || access(VMM, X_OK) != 0) {
		fprintf(stderr, "skipping: needs /dev/kvm and %s\n", VMM);
		return 0;
	}
	snprintf(run_dir, sizeof(run_dir), "/tmp/vdi-pools.XXXXXX");
	return mkdtemp(run_dir) ? 0 : -1;
}

static bool have_kvm(void)
{
	return run_dir[0] != '\0';
}

static void test_spec_checks(void **state)
{
	(void)state;
	struct pool_spec spec;
	char err[160];
	pool_spec_defaults(&spec, "demo");
	assert_int_equal(pool_spec_check(&spec, err, sizeof(err)), 0);
	spec.vcpus = 0;
	assert_int_equal(pool_spec_check(&spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vcpus"));
	pool_spec_defaults(&spec, "bad name");
	assert_int_equal(pool_spec_check(&spec, err, sizeof(err)), -EINVAL);
	pool_spec_defaults(&spec, "x");
	spec.template = POOL_TEMPLATE_LINUX;
	assert_int_equal(pool_spec_check(&spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kernel"));
	pool_spec_defaults(&spec, "x");
	spec.width = 8192;
	spec.height = 8192;
	assert_int_equal(pool_spec_check(&spec, err, sizeof(err)), -EINVAL);
}

static void test_lifecycle(void **state)
{
	(void)state;
	if (!have_kvm())
		skip();
	struct pools *p = make_pools();
	assert_non_null(p);
	struct pool_spec spec;
	pool_spec_defaults(&spec, "demo");
	spec.memory_mib = 64;
	forget_events();
	assert_int_equal(pools_desktop_start(p, &spec, "demo-1", "alice"), 0);
	assert_int_equal(pools_desktop_start(p, &spec, "demo-1", NULL), -EEXIST);
	assert_int_equal(pools_desktop_start(p, &spec, "../x", NULL), -EINVAL);
	assert_true(saw("demo-1:provisioning>starting;", 5));
	assert_true(saw("demo-1:starting>running;", 20));
	struct desktop_info d;
	assert_int_equal(pools_desktop_info(p, "demo-1", &d), 0);
	assert_int_equal(d.state, DESKTOP_RUNNING);
	assert_true(d.pid > 0);
	assert_int_equal(kill(d.pid, 0), 0);
	assert_int_equal(pools_desktop_set_label(p, "demo-1", "bob"), 0);
	assert_int_equal(pools_desktop_set_label(p, "nope", "bob"), -ENOENT);
	struct desktop_info list[4];
	assert_int_equal(pools_desktop_list(p, "demo", list, 4), 1);
	assert_int_equal(pools_desktop_list(p, "other", list, 4), 0);

	/* Power off: stopping, stopped; the process is gone. */
	pid_t old = d.pid;
	assert_int_equal(pools_desktop_stop(p, "demo-1"), 0);
	assert_true(saw("demo-1:stopping>stopped;", 10));
	assert_int_equal(pools_desktop_info(p, "demo-1", &d), 0);
	assert_int_equal(d.pid, 0);
	usleep(100000);
	assert_true(kill(old, 0) < 0);

	/* Started again, then refreshed while running: a new VMM. */
	forget_events();
	assert_int_equal(pools_desktop_restart(p, "demo-1"), 0);
	assert_true(saw("demo-1:starting>running;", 20));
	assert_int_equal(pools_desktop_info(p, "demo-1", &d), 0);
	old = d.pid;
	forget_events();
	assert_int_equal(pools_desktop_restart(p, "demo-1"), 0);
	assert_true(saw("demo-1:running>stopping;demo-1:stopping>stopped;demo-1:stopped>starting;", 10));
	assert_true(saw("demo-1:starting>running;", 20));
	assert_int_equal(pools_desktop_info(p, "demo-1", &d), 0);
	assert_int_not_equal(d.pid, old);

	/* A VMM killed behind our back: failed, then started again. */
	forget_events();
	kill(d.pid, SIGKILL);
	assert_true(saw("demo-1:running>failed;", 5));
	assert_true(saw("demo-1:failed>starting;", 5));
	assert_true(saw("demo-1:starting>running;", 20));

	forget_events();
	assert_int_equal(pools_desktop_remove(p, "demo-1"), 0);
	assert_true(saw("demo-1:stopping>stopped;", 10));
	assert_int_equal(pools_desktop_info(p, "demo-1", &d), -ENOENT);
	assert_int_equal(pools_desktop_remove(p, "demo-1"), -ENOENT);
	pools_destroy(p);
}

static void test_adopt_after_restart(void **state)
{
	(void)state;
	if (!have_kvm())
		skip();
	struct pools *p = make_pools();
	struct pool_spec spec;
	pool_spec_defaults(&spec, "demo");
	spec.memory_mib = 64;
	forget_events();
	assert_int_equal(pools_desktop_start(p, &spec, "keep-1", NULL), 0);
	assert_true(saw("keep-1:starting>running;", 20));
	struct desktop_info d;
	pools_desktop_info(p, "keep-1", &d);
	/* vdi-server goes away; its VMMs do not. */
	pools_destroy(p);
	usleep(200000);
	assert_int_equal(kill(d.pid, 0), 0);

	forget_events();
	p = make_pools();
	assert_int_equal(pools_adopt(p, &spec, "keep-1", d.pid, d.socket), 0);
	struct desktop_info again;
	assert_int_equal(pools_desktop_info(p, "keep-1", &again), 0);
	assert_int_equal(again.state, DESKTOP_RUNNING);
	assert_int_equal(again.pid, d.pid);
	/* A pid that is not the VMM on that socket (our own) is not adopted:
	 * reported failed and started afresh. */
	assert_int_equal(pools_adopt(p, &spec, "keep-2", getpid(), d.socket), 0);
	assert_true(saw("keep-2:stopped>failed;", 5));
	assert_true(saw("keep-2:starting>running;", 25));
	/* The adopted VMM is watched: killing it is noticed. */
	kill(d.pid, SIGKILL);
	assert_true(saw("keep-1:running>failed;", 5));
	assert_true(saw("keep-1:starting>running;", 25));
	assert_int_equal(pools_desktop_remove(p, "keep-1"), 0);
	assert_int_equal(pools_desktop_remove(p, "keep-2"), 0);
	assert_true(saw("keep-1:stopping>stopped;", 10));
	assert_true(saw("keep-2:stopping>stopped;", 10));
	pools_destroy(p);
}

static void test_bad_vmm_and_start_timeout(void **state)
{
	(void)state;
	char err[256];
	struct pools_config cfg = {.vmm_path = "/nonexistent/vdi-vmm", .run_dir = "/tmp"};
	assert_null(pools_create(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/vdi-vmm"));
	if (!have_kvm())
		skip();
	/* A "VMM" that never answers: failed after the start timeout, given up
	 * after the restart limit. */
	char fake[128];
	snprintf(fake, sizeof(fake), "%s/sleeper", run_dir);
	FILE *f = fopen(fake, "w");
	fputs("#!/bin/sh\nexec sleep 60\n", f);
	fclose(f);
	chmod(fake, 0755);
	struct pools_config c2 = {.vmm_path = fake,
				  .run_dir = run_dir,
				  .events = {.state = on_state},
				  .start_timeout_s = 1,
				  .restart_limit = 1};
	struct pools *p = pools_create(&c2, err, sizeof(err));
	assert_non_null(p);
	struct pool_spec spec;
	pool_spec_defaults(&spec, "demo");
	forget_events();
	assert_int_equal(pools_desktop_start(p, &spec, "slow-1", NULL), 0);
	assert_true(saw("slow-1:starting>failed;", 5));
	assert_true(saw("slow-1:failed>starting;slow-1:starting>failed;", 8));
	sleep(2);
	struct desktop_info d;
	assert_int_equal(pools_desktop_info(p, "slow-1", &d), 0);
	assert_int_equal(d.state, DESKTOP_FAILED);
	assert_int_equal(pools_desktop_remove(p, "slow-1"), 0);
	pools_destroy(p);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_suspend_and_resume(void **state)
{
	(void)state;
	if (!have_kvm())
		skip();
	struct pools *p = make_pools();
	struct pool_spec spec;
	pool_spec_defaults(&spec, "demo");
	spec.memory_mib = 64;
	spec.serial = POOL_SERIAL_FILE; /* read below */
	forget_events();
	assert_int_equal(pools_desktop_start(p, &spec, "sus-1", "carol"), 0);
	assert_true(saw("sus-1:starting>running;", 20));
	assert_int_equal(pools_desktop_resume(p, "sus-1"), -EINVAL);
	sleep(1); /* the guest draws its desktop */
	assert_int_equal(pools_desktop_suspend(p, "sus-1"), 0);
	assert_true(saw("sus-1:running>stopping;sus-1:stopping>suspended;", 20));
	assert_true(file_exists(run_dir, "sus-1/state"));
	struct desktop_info d;
	assert_int_equal(pools_desktop_info(p, "sus-1", &d), 0);
	assert_int_equal(d.pid, 0);
	/* A restarted vdi-server finds it suspended, and it resumes. */
	pools_destroy(p);
	p = make_pools();
	assert_int_equal(pools_adopt(p, &spec, "sus-1", 0, NULL), 0);
	assert_int_equal(pools_desktop_info(p, "sus-1", &d), 0);
	assert_int_equal(d.state, DESKTOP_SUSPENDED);
	forget_events();
	assert_int_equal(pools_desktop_resume(p, "sus-1"), 0);
	assert_true(saw("sus-1:suspended>starting;sus-1:starting>running;", 20));
	/* Its snapshot is spent once it runs from it. */
	for (int i = 0; i < 20 && file_exists(run_dir, "sus-1"); i++)
		usleep(100000);
	assert_false(file_exists(run_dir, "sus-1"));
	/* The guest went on where it was: the resumed VMM's console (opened
	 * afresh) shows no boot of the desktop. */
	char serial[128], line[256];
	snprintf(serial, sizeof(serial), "%s/sus-1.serial", run_dir);
	FILE *f = fopen(serial, "r");
	assert_non_null(f);
	int ready = 0;
	while (fgets(line, sizeof(line), f))
		ready += strstr(line, "desktop ready") != NULL;
	fclose(f);
	assert_int_equal(ready, 0);
	assert_int_equal(pools_desktop_remove(p, "sus-1"), 0);
	assert_true(saw("sus-1:stopping>stopped;", 10));
	pools_destroy(p);
}

/* How many lines of desktop NAME's console contain `what`. */
static int serial_count(const char *name, const char *what)
{
	char serial[128], line[256];
	snprintf(serial, sizeof(serial), "%s/%s.serial", run_dir, name);
	FILE *f = fopen(serial, "r");
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* How many templates (snapshot directories) pool `pool` has. */
static int template_dirs(const char *pool)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -d %s/template-%s/*/state 2>/dev/null | wc -l", run_dir, pool);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

static void test_clones_from_a_template(void **state)
{
	(void)state;
	if (!have_kvm())
		skip();
	struct pools *p = make_pools();
	struct pool_spec spec;
	pool_spec_defaults(&spec, "cl");
	spec.memory_mib = 64;
	spec.clone = true;
	spec.serial = POOL_SERIAL_FILE; /* read below */
	forget_events();
	/* The first waits (starting, no VMM) while the template is made, then
	 * starts as its clone: it never boots. */
	assert_int_equal(pools_desktop_start(p, &spec, "cl-1", NULL), 0);
	struct desktop_info d;
	assert_int_equal(pools_desktop_info(p, "cl-1", &d), 0);
	assert_int_equal(d.state, DESKTOP_STARTING);
	assert_int_equal(d.pid, 0);
	assert_true(saw("cl-1:starting>running;", 90));
	assert_int_equal(template_dirs("cl"), 1);
	/* Once made, the next starts from it at once, with its own label. */
	assert_int_equal(pools_desktop_start(p, &spec, "cl-2", "dave"), 0);
	assert_true(saw("cl-2:starting>running;", 20));
	for (int i = 0; i < 50 && !serial_count("cl-2", "label \"dave\""); i++)
		usleep(100000);
	assert_int_equal(serial_count("cl-2", "label \"dave\""), 1);
	assert_int_equal(serial_count("cl-1", "desktop ready"), 0);
	assert_int_equal(serial_count("cl-2", "desktop ready"), 0);
	/* New settings: a new template; a desktop nobody waits for waits for it. */
	spec.memory_mib = 96;
	assert_int_equal(pools_desktop_start(p, &spec, "cl-3", NULL), 0);
	assert_int_equal(pools_desktop_info(p, "cl-3", &d), 0);
	assert_int_equal(d.pid, 0);
	assert_true(saw("cl-3:starting>running;", 90));
	assert_int_equal(template_dirs("cl"), 2);
	assert_int_equal(serial_count("cl-3", "desktop ready"), 0);
	/* Newer settings again, and a user waits: the template has not booted
	 * yet, so this desktop boots cold rather than wait for it. */
	spec.memory_mib = 80;
	assert_int_equal(pools_desktop_start(p, &spec, "cl-4", "erin"), 0);
	assert_int_equal(pools_desktop_info(p, "cl-4", &d), 0);
	assert_true(d.pid > 0);
	assert_true(saw("cl-4:starting>running;", 20));
	for (int i = 0; i < 600 && !serial_count("cl-4", "desktop ready"); i++)
		usleep(100000);
	assert_int_equal(serial_count("cl-4", "desktop ready"), 1);
	/* A desktop waiting for its template can be removed meanwhile. */
	spec.memory_mib = 72;
	assert_int_equal(pools_desktop_start(p, &spec, "cl-5", NULL), 0);
	assert_int_equal(pools_desktop_remove(p, "cl-5"), 0);
	assert_int_equal(pools_desktop_info(p, "cl-5", &d), -ENOENT);
	const char *names[] = {"cl-1", "cl-2", "cl-3", "cl-4"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(pools_desktop_remove(p, names[i]), 0);
	assert_true(saw("cl-4:stopping>stopped;", 10));
	pools_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_checks),         cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_adopt_after_restart), cmocka_unit_test(test_bad_vmm_and_start_timeout),
	    cmocka_unit_test(test_suspend_and_resume),  cmocka_unit_test(test_clones_from_a_template),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
