/* mem_trim.h — giving memory back to the system after connections close.
 * glibc's allocator keeps what a burst of connections freed (in the arenas
 * of their threads) for reuse, so RSS stays at the burst's peak; trimming
 * returns the free pages. A trim walks every arena, so it is done at most
 * once a second, and always when the last connection of a burst is gone. */
#ifndef VDI_COMMON_MEM_TRIM_H
#define VDI_COMMON_MEM_TRIM_H

#include <stdbool.h>

/* A connection was freed; `none_left`: it was the last one of its server. */
void mem_trim_after_close(bool none_left);

#endif
