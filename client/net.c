/* net.c — TCP for vdi-client's own connections (the user API, the VNC certificate probe): connecting within
 * a deadline, and whole reads and writes under socket timeouts, so a silent server cannot hang the client. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
		} else {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int n = poll(&pfd, 1, timeout_ms);
			int err = 0;
			socklen_t len = sizeof(err);
			if (n == 0)
				rc = -ETIMEDOUT;
			else if (n < 0)
				rc = -errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				rc = -errno;
			else if (err)
				rc = -err;
		}
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int net_connect(const char *host, int port, int timeout_ms)
{
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list;
	int g = getaddrinfo(host, service, &hints, &list);
	if (g != 0)
		return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	int rc = -EHOSTUNREACH;
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		rc = connect_one(ai, timeout_ms);
		if (rc >= 0)
			break;
	}
	freeaddrinfo(list);
	return rc;
}

void net_set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int net_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int net_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
