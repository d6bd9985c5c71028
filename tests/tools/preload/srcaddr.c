/* srcaddr.c — LD_PRELOAD for tests: every IPv4 TCP connect() of the program leaves from the address in
 * VDI_SOURCE_ADDRESS (e.g. 127.0.0.2: loopback has all of 127/8), so a test can play a client at
 * another address with unchanged clients. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	if (!real_connect)
		real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	const char *source = getenv("VDI_SOURCE_ADDRESS");
	int type = 0;
	socklen_t tlen = sizeof(type);
	if (source && addr && addr->sa_family == AF_INET && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	    type == SOCK_STREAM) {
		struct sockaddr_in from = {.sin_family = AF_INET};
		if (inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
	}
	return real_connect(fd, addr, len);
}
