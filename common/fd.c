/* fd.c — descriptors kept out of select()'s range, and the limit raised. */
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
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

/* The reserve: numbers held by duplicates of /dev/null, given out by dup3() over them (which replaces
 * the placeholder atomically). */
static pthread_mutex_t fd_reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static int fd_reserved[FD_SETSIZE];
static unsigned fd_nreserved;
static int fd_placeholder = -1;
static int fd_reserve_from = FD_SETSIZE;

unsigned fd_reserve_low(unsigned n)
{
	pthread_mutex_lock(&fd_reserve_lock);
	if (fd_placeholder < 0)
		fd_placeholder = fcntl(open("/dev/null", O_RDONLY | O_CLOEXEC), F_DUPFD_CLOEXEC, FD_SETSIZE);
	if (fd_placeholder >= 0 && n && n < FD_SETSIZE / 2) {
		fd_reserve_from = FD_SETSIZE - (int)n;
		for (int want = fd_reserve_from; want < FD_SETSIZE && fd_nreserved < FD_SETSIZE; want++) {
			int got = fcntl(fd_placeholder, F_DUPFD_CLOEXEC, want);
			if (got < 0)
				break;
			if (got >= FD_SETSIZE) {
				close(got);
				break;
			}
			fd_reserved[fd_nreserved++] = got;
			want = got;
		}
	}
	unsigned kept = fd_nreserved;
	pthread_mutex_unlock(&fd_reserve_lock);
	return kept;
}

void fd_release_low(int fd)
{
	if (fd < fd_reserve_from || fd >= FD_SETSIZE)
		return;
	pthread_mutex_lock(&fd_reserve_lock);
	if (fd_placeholder >= 0 && fd_nreserved < FD_SETSIZE) {
		int got = fcntl(fd_placeholder, F_DUPFD_CLOEXEC, fd);
		if (got == fd)
			fd_reserved[fd_nreserved++] = got;
		else if (got >= 0)
			close(got);
	}
	pthread_mutex_unlock(&fd_reserve_lock);
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
		pthread_mutex_lock(&fd_reserve_lock);
		low = fd_nreserved ? fd_reserved[--fd_nreserved] : -1;
		pthread_mutex_unlock(&fd_reserve_lock);
		if (low < 0)
			return -EMFILE;
		if (dup3(fd, low, O_CLOEXEC) < 0) {
			int err = errno;
			fd_release_low(low);
			return -err;
		}
	}
	close(fd);
	return low;
}
