/* mem_trim.c — a fixed mapping threshold, and malloc_trim() after connections close, rate-limited (see
 * mem_trim.h). */
#include "mem_trim.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static _Atomic int64_t trim_last_s;

void mem_trim_init(void)
{
	mallopt(M_MMAP_THRESHOLD, MEM_TRIM_MMAP_THRESHOLD);
}

void mem_trim_after_close(bool none_left)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t last = atomic_load(&trim_last_s);
	if (!none_left && ts.tv_sec - last < 1)
		return;
	if (!none_left && !atomic_compare_exchange_strong(&trim_last_s, &last, ts.tv_sec))
		return; /* another thread trims now */
	atomic_store(&trim_last_s, ts.tv_sec);
	malloc_trim(0);
}
