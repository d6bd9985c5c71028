/* mem_trim.h — giving memory back to the system after connections close.
 * glibc's allocator keeps what a burst of connections freed (in the arenas
 * of their threads) for reuse, so RSS stays at the burst's peak; and once a
 * large block has been freed it raises its threshold for mapping blocks of
 * their own, so later frame buffers come from the arenas too. A fixed
 * threshold keeps every large block (frame buffers, encoders' histories)
 * in a mapping of its own, unmapped on free and never touched where it is
 * never written; trimming returns the arenas' free pages. A trim walks
 * every arena, so it is done at most once a second, and always when the
 * last connection of a burst is gone. */
#ifndef VDI_COMMON_MEM_TRIM_H
#define VDI_COMMON_MEM_TRIM_H

#include <stdbool.h>

/* Blocks this large or larger get mappings of their own. */
#define MEM_TRIM_MMAP_THRESHOLD (256 * 1024)

/* Once at start, before threads: the fixed mapping threshold. */
void mem_trim_init(void);
/* A connection was freed; `none_left`: it was the last one of its server. */
void mem_trim_after_close(bool none_left);

#endif
