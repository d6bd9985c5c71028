/* fd.h — where descriptors live. libvncserver (and anything else built on
 * select()) cannot take a descriptor at or above FD_SETSIZE (1024): glibc's
 * checked FD_SET aborts the whole process. So the process runs with its
 * descriptor limit raised, the descriptors we make in numbers (one or more
 * per connection) are moved above FD_SETSIZE, and the low range stays free
 * for the few that must be low. */
#ifndef VDI_COMMON_FD_H
#define VDI_COMMON_FD_H

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the limit now in
 * force (never fails: the old limit stays when it cannot be raised). */
long fd_raise_limit(void);

/* The same open file at a number at or above FD_SETSIZE (close-on-exec),
 * `fd` closed; `fd` itself when none is free up there (the limit is low)
 * or fd < 0. */
int fd_move_high(int fd);

/* The same open file at a number below FD_SETSIZE (close-on-exec), `fd`
 * closed; `fd` itself when it is low already. When every free low number
 * is taken, one of the reserved ones (fd_reserve_low). -EMFILE when none
 * is left (`fd` is left open, the caller's still). */
int fd_move_low(int fd);

/* Keeps the top `n` numbers below FD_SETSIZE for fd_move_low(): a flood of
 * connections whose libraries make descriptors wherever the lowest number
 * is free (FreeRDP's events, accepted sockets) then cannot take the low
 * range from libvncserver. Once, at start; returns how many were kept. */
unsigned fd_reserve_low(unsigned n);
/* A number fd_move_low() gave out was closed: kept for it again (unless
 * another descriptor took the number meanwhile). */
void fd_release_low(int fd);

#endif
