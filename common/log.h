/* log.h — one-line diagnostics on stderr, prefixed with the program name. */
#ifndef VDI_COMMON_LOG_H
#define VDI_COMMON_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Program name printed before every line ("vdi-vmm: ..."). */
void log_set_program(const char *name);
/* Lines above this level are dropped; VDI_LOG=debug|info|warn|error sets it at start. */
void log_set_level(enum log_level level);
void log_init_from_env(void);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
