/* fuzz_vnc_front.c — arbitrary bytes as a VNC client's side of the front's
 * handshake (display/vnc_front.c, the code the server runs before
 * libvncserver sees anything): the RFB version, the security type, the
 * VeNCrypt version and subtype, the TLS handshake (real OpenSSL, the
 * server's self-signed identity), the user name and password lengths, the
 * security result, and on the plain path the relay to a libvncserver side
 * this target plays; or (flag 4) the side stream's TLS and token after its
 * preface. Input: a flags byte (1: TLS required, 2: the broker refuses,
 * 4: a side stream), then what the client sends; its write side is then closed, so
 * every read ends. Whatever the bytes, the front ends with an error or an
 * accepted client; with TLS required never one without TLS. */
#include "../../display/vnc_front.c"

#include "../../common/log.h"

#include <stdlib.h>
#include <sys/stat.h>

#define CLIENT_MAX (32 * 1024)

static struct vnc_tls *tls;
static char dir[] = "/tmp/fuzz_vnc_front_XXXXXX", cert_path[64], key_path[64];

static void remove_identity(void)
{
	unlink(cert_path);
	unlink(key_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	if (!mkdtemp(dir))
		abort();
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	atexit(remove_identity);
	tls = vnc_tls_new(cert_path, key_path);
	if (!tls)
		abort();
	return 0;
}

/* Everything the plain descriptor gives until its end. */
static void drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* libvncserver's side of the relay, as libvncserver answers: the client's
 * version (which the front wrote), our version, None offered, the None
 * choice, the result, then whatever the client sends after, until the
 * relay ends. */
static void play_libvncserver(int plain)
{
	char version[12];
	uint8_t choice = 0;
	static const uint8_t offer[] = {'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n', 1, RFB_SEC_NONE};
	static const uint8_t ok[4] = {0};
	if (read(plain, version, sizeof(version)) != (ssize_t)sizeof(version) ||
	    memcmp(version, "RFB 003.008\n", sizeof(version)) != 0 ||
	    write(plain, offer, sizeof(offer)) != (ssize_t)sizeof(offer) || read(plain, &choice, 1) != 1 ||
	    choice != RFB_SEC_NONE || write(plain, ok, sizeof(ok)) != (ssize_t)sizeof(ok))
		abort();
	drain(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > CLIENT_MAX)
		return 0;
	bool required = data[0] & 1, refuse = data[0] & 2, channel = data[0] & 4;
	tls->required = required;
	int pair[2];
	int stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		abort();
	/* The client: all it says, then its write side closed. */
	if (size > 1 && send(pair[0], data + 1, size - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(size - 1))
		abort();
	shutdown(pair[0], SHUT_WR);

	struct vnc_front *f = NULL;
	struct vnc_front_credentials creds;
	char token[VNC_FRONT_TOKEN_MAX + 1] = "";
	int rc = front_start(tls, pair[1], stop_fd, "fuzz", channel, &f, &creds, token);
	if (channel) {
		/* A side stream: its token, whole, or an error; never a picture's connection. */
		if ((rc == 2) != (f != NULL) || (rc >= 0 && rc != 2) || (rc == 2 && !token[0]))
			abort();
		if (f)
			vnc_front_close(f);
		close(pair[0]);
		close(stop_fd);
		return 0;
	}
	if (rc > 0 || (rc == 0) != (f != NULL))
		abort();
	if (rc == 0) {
		if (required && !f->ssl)
			abort(); /* in without TLS where TLS is required */
		if (strlen(creds.user) > VNC_FRONT_NAME_MAX || strlen(creds.password) > VNC_FRONT_NAME_MAX ||
		    (creds.given && !creds.user[0]))
			abort();
		int res = vnc_front_result(f, refuse ? "refused by the broker" : NULL);
		if (refuse ? res >= 0 : res > 0)
			abort();
		if (res == 0) {
			int plain = vnc_front_relay(f);
			if (plain < 0)
				abort();
			play_libvncserver(plain);
			close(plain);
		}
		vnc_front_close(f);
	} else if (creds.given || creds.user[0] || creds.password[0]) {
		abort(); /* a failed handshake leaves no credentials behind */
	}
	/* The client heard the server's version first, whatever came after. */
	char version[12];
	if (recv(pair[0], version, sizeof(version), MSG_DONTWAIT) != (ssize_t)sizeof(version) ||
	    memcmp(version, "RFB 003.008\n", sizeof(version)) != 0)
		abort();
	close(pair[0]);
	close(stop_fd);
	return 0;
}
