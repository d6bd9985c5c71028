/* ipc.h — message framing over Unix SOCK_SEQPACKET sockets: one message per
 * packet, optionally carrying file descriptors (SCM_RIGHTS). */
#ifndef VDI_COMMON_IPC_H
#define VDI_COMMON_IPC_H

#include <stddef.h>
#include <sys/types.h>

#define IPC_MAX_FDS 4

/* Listening socket at `path` (an existing socket file there is replaced;
 * any other file is refused with -EEXIST). Mode 0600. Returns fd or -errno. */
int ipc_listen(const char *path);
/* Connected socket to `path`, or -errno. */
int ipc_connect(const char *path);
/* Sends one message; returns 0 or -errno. `fds` may be NULL. */
int ipc_send(int sock, const void *msg, size_t len, const int *fds, int nfds);
/* The same without waiting: -EAGAIN when the peer's receive queue is full
 * (nothing was sent). */
int ipc_try_send(int sock, const void *msg, size_t len, const int *fds, int nfds);
/* Receives one message into buf. Returns its length (0: peer closed) or
 * -errno: -EMSGSIZE when the packet was larger than `cap` or carried more fds
 * than `*nfds` (extra descriptors received are closed). On entry *nfds is the
 * room in fds (may be NULL/0); on return, the number received. */
ssize_t ipc_recv(int sock, void *buf, size_t cap, int *fds, int *nfds);

#endif
