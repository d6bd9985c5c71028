/* fd.c — descriptors kept out of select()'s range, and the limit raised. */
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

long fd_raise_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

int fd_move_high(int fd)
{
	if (fd < 0 || fd >= FD_SETSIZE)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, FD_SETSIZE);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

int fd_move_low(int fd)
{
	if (fd >= 0 && fd < FD_SETSIZE)
		return fd;
	int low = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (low < 0)
		return -errno;
	if (low >= FD_SETSIZE) {
		close(low);
		return -EMFILE;
	}
	close(fd);
	return low;
}
