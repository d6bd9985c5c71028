/* log_limit.h — log lines of refused connections, which come in floods:
 * per port, address and reason the first refusal is logged, the ones that
 * follow within the minute are only counted, and the count is logged once
 * the minute is over ("vnc: 57 more refusals of 10.0.0.9 in the last
 * minute: too many connections from your address; ..."), every minute for
 * as long as the flood lasts. Past LOG_LIMIT_KEYS keys at once, the
 * refusals of further ones are counted together ("of other addresses").
 * So a flood costs the log at most two lines a minute per key. Thread
 * safe. */
#ifndef VDI_COMMON_LOG_LIMIT_H
#define VDI_COMMON_LOG_LIMIT_H

#include <stdint.h>

#define LOG_LIMIT_KEYS      64
#define LOG_LIMIT_WINDOW_MS 60000

struct log_limit;

/* clock_ms: milliseconds on a monotonic clock; NULL for CLOCK_MONOTONIC,
 * and then a thread (started at the first refusal counted) logs each
 * count when its minute ends. With another clock nothing is logged by
 * itself: the caller calls log_limit_flush(). NULL on no memory. */
struct log_limit *log_limit_new(int64_t (*clock_ms)(void));
/* Logs the counts not logged yet, ends the thread. NULL: nothing. */
void log_limit_free(struct log_limit *ll);

/* A refusal on `port` ("vnc", "rdp", "api") of `address` for `reason`;
 * port and reason are string constants (kept, not copied). Logged as
 * "PORT: refusing ADDRESS: REASON" when it is the first of its minute.
 * ll NULL: always logged. */
void log_limit_refusal(struct log_limit *ll, const char *port, const char *address, const char *reason);

/* Logs the counts whose minute is over (what the thread does). */
void log_limit_flush(struct log_limit *ll);

#endif
