/* log.c — one-line diagnostics on stderr, prefixed with the program name. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_program = "vdi";
static enum log_level log_threshold = LOG_INFO;

void log_set_program(const char *name)
{
	log_program = name;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

void log_init_from_env(void)
{
	const char *v = getenv("VDI_LOG");
	if (!v)
		return;
	if (!strcmp(v, "debug"))
		log_threshold = LOG_DEBUG;
	else if (!strcmp(v, "info"))
		log_threshold = LOG_INFO;
	else if (!strcmp(v, "warn"))
		log_threshold = LOG_WARN;
	else if (!strcmp(v, "error"))
		log_threshold = LOG_ERROR;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_threshold)
		return;
	/* Build the whole line first so lines from different threads never interleave. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: ", log_program);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
