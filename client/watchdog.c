/* watchdog.c — a bound on handshakes inside libraries that have none for a silent server (FreeRDP's connect,
 * libvncclient's init): past the deadline the process ends with CLIENT_PROTOCOL and a one-line message. */
#include "client.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static bool armed;
static struct timespec deadline;
static char message[512];
static unsigned armed_seconds;
static pthread_t thread;
static bool started;

static void *watch(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!armed)
			pthread_cond_wait(&cond, &lock);
		if (pthread_cond_timedwait(&cond, &lock, &deadline) != 0 && armed) {
			/* The main thread is stuck in a library call: nothing to unwind, so end here. */
			fprintf(stderr, "vdi-client: %s\n", message);
			_exit(CLIENT_PROTOCOL);
		}
	}
	return NULL;
}

void watchdog_arm(unsigned seconds, const char *msg)
{
	pthread_mutex_lock(&lock);
	if (!started) {
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&cond, &attr);
		pthread_condattr_destroy(&attr);
		started = pthread_create(&thread, NULL, watch, NULL) == 0;
		if (started)
			pthread_detach(thread);
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	armed_seconds = seconds;
	if (msg != message)
		snprintf(message, sizeof(message), "%s", msg);
	armed = true;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

void watchdog_disarm(void)
{
	pthread_mutex_lock(&lock);
	armed = false;
	if (started)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

bool watchdog_pause(void)
{
	pthread_mutex_lock(&lock);
	bool was = armed;
	pthread_mutex_unlock(&lock);
	if (was)
		watchdog_disarm();
	return was;
}

void watchdog_resume(bool was_armed)
{
	if (was_armed)
		watchdog_arm(armed_seconds, message);
}
