/* test_ipc.c — SOCK_SEQPACKET message framing and descriptor passing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_message_round_trip(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	assert_int_equal(ipc_send(sv[0], "hello", 5, NULL, 0), 0);
	assert_int_equal(ipc_send(sv[0], "world!", 6, NULL, 0), 0);
	char buf[16];
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), NULL, NULL), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), NULL, NULL), 6);
	close(sv[0]);
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), NULL, NULL), 0);
	close(sv[1]);
}

static void test_fd_passing(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(ipc_send(sv[0], "f", 1, &p[1], 1), 0);
	int fds[IPC_MAX_FDS], nfds = IPC_MAX_FDS;
	char buf[4];
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), fds, &nfds), 1);
	assert_int_equal(nfds, 1);
	assert_int_equal(write(fds[0], "x", 1), 1);
	assert_int_equal(read(p[0], buf, 1), 1);
	assert_int_equal(buf[0], 'x');
	close(fds[0]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_oversized_rejected(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv);
	assert_int_equal(ipc_send(sv[0], "0123456789", 10, NULL, 0), 0);
	char buf[4];
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), NULL, NULL), -EMSGSIZE);
	/* Descriptors nobody asked for are closed, and the message refused. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(ipc_send(sv[0], "f", 1, &p[1], 1), 0);
	close(p[1]);
	assert_int_equal(ipc_recv(sv[1], buf, sizeof(buf), NULL, NULL), -EMSGSIZE);
	/* Every write end is closed now: the reader sees end of file. */
	assert_int_equal(read(p[0], buf, 1), 0);
	close(p[0]);
	assert_int_equal(ipc_send(sv[0], "x", 1, NULL, IPC_MAX_FDS + 1), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

static void test_listen_connect(void **state)
{
	(void)state;
	char dir[] = "/tmp/vdi-ipc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/s", dir);
	int l = ipc_listen(path);
	assert_true(l >= 0);
	/* A stale socket is replaced. */
	int l2 = ipc_listen(path);
	assert_true(l2 >= 0);
	int c = ipc_connect(path);
	assert_true(c >= 0);
	close(c);
	close(l);
	close(l2);
	unlink(path);
	/* Anything else in the way is refused, not removed. */
	int f = open(path, O_CREAT | O_WRONLY, 0600);
	close(f);
	assert_int_equal(ipc_listen(path), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	assert_int_equal(ipc_connect(path), -ENOENT);
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(ipc_listen(longpath), -ENAMETOOLONG);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_round_trip),
	    cmocka_unit_test(test_fd_passing),
	    cmocka_unit_test(test_oversized_rejected),
	    cmocka_unit_test(test_listen_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
