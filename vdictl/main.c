/* vdictl — the administrator's command line: calls vdi-server's REST API over HTTPS (its own small
 * HTTP/1.1 client on OpenSSL) and prints tables, objects, progress of long operations, or raw JSON. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses. */
#define EXIT_API   1
#define EXIT_USAGE 2
#define EXIT_CONN  3

#define HEADER_MAX    (64 * 1024)
#define BODY_MAX      (256 * 1024 * 1024) /* an 8192x4096 screenshot fits with room to spare */
#define TIMEOUT_S     30
#define DEFAULT_API   "https://127.0.0.1:8443"
#define DEFAULT_CA    "./vdi-data/tls.crt"
#define POLL_INTERVAL 500 /* ms between polls of a long operation */

struct opts {
	const char *api, *user, *password_file, *new_password_file, *cacert;
	bool insecure, json, follow;
	const char *pool, *after, *limit, *event, *groups, *output;
	const char *args[64];
	int nargs;
};

/* The API's address, parsed from --api. */
struct target {
	char host[256]; /* without brackets */
	char port[8];
	char prefix[256]; /* path before /api/v1, no trailing '/' */
	bool host_is_ip;
};

struct client {
	struct target t;
	SSL_CTX *ctx;
	char auth[1024]; /* "Basic ..." */
	bool json;
	const struct opts *o;
	const char *user;
};

struct response {
	int status;
	char content_type[128];
	char *body; /* NUL-terminated */
	size_t len;
};

static const char *prog = "vdictl";

static void usage(FILE *f)
{
	fprintf(f, "usage: vdictl [--api URL] [--user U] [--password-file F] [--insecure | --cacert FILE] [--json]\n"
		   "              COMMAND ...\n"
		   "commands:\n"
		   "  pools [list]                      pool show NAME\n"
		   "  pool create NAME key=value...     pool set NAME key=value...      pool delete NAME\n"
		   "  desktops [list] [--pool P]        desktop show|poweron|poweroff|refresh|delete NAME\n"
		   "  desktop suspend|resume NAME       desktop screenshot NAME -o FILE.png\n"
		   "  sessions [list]                   session disconnect|logoff ID\n"
		   "  users [list]                      user add NAME [--groups G1,G2] [--new-password-file F]\n"
		   "  user passwd NAME [--new-password-file F]                          user del NAME\n"
		   "  events [--after ID] [--limit N] [--event KIND] [--follow]\n"
		   "  metrics\n"
		   "URL defaults to " DEFAULT_API "; the user to $VDI_USER, else $USER; the password comes from\n"
		   "--password-file, $VDI_PASSWORD or a prompt. A new user's password comes from\n"
		   "--new-password-file, $VDI_NEW_PASSWORD or a prompt. The server's certificate is checked\n"
		   "against --cacert, else " DEFAULT_CA " when it exists, else the system's CAs.\n"
		   "In key=value, a whole number (10, -1) is sent as a JSON integer, anything else as a string;\n"
		   "a key given several times (schedule=A schedule=B) is sent as an array of strings.\n"
		   "Exit status: 0 ok, 1 the API refused (its message is printed), 2 usage, 3 connection or TLS.\n");
}

/* vdictl is a one-shot command whose first error ends it with a documented status, so the two
 * die functions exit here instead of every caller unwinding: the one place outside main() that
 * calls exit(). */
static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (vdictl --help for usage)\n");
	va_end(ap);
	exit(EXIT_USAGE);
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

/* ---- options ---- */

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off; /* offset of a const char * in struct opts, or of a bool */
		bool flag;
	} table[] = {
	    {"--api", offsetof(struct opts, api), false},
	    {"--user", offsetof(struct opts, user), false},
	    {"--password-file", offsetof(struct opts, password_file), false},
	    {"--new-password-file", offsetof(struct opts, new_password_file), false},
	    {"--cacert", offsetof(struct opts, cacert), false},
	    {"--pool", offsetof(struct opts, pool), false},
	    {"--after", offsetof(struct opts, after), false},
	    {"--limit", offsetof(struct opts, limit), false},
	    {"--event", offsetof(struct opts, event), false},
	    {"--groups", offsetof(struct opts, groups), false},
	    {"-o", offsetof(struct opts, output), false},
	    {"--output", offsetof(struct opts, output), false},
	    {"--insecure", offsetof(struct opts, insecure), true},
	    {"--json", offsetof(struct opts, json), true},
	    {"--follow", offsetof(struct opts, follow), true},
	};
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!options_done && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(stdout);
			exit(0);
		}
		if (!options_done && !strcmp(a, "--")) {
			options_done = true;
			continue;
		}
		if (!options_done && a[0] == '-' && a[1]) {
			size_t k;
			const char *val = NULL;
			size_t alen = strcspn(a, "=");
			for (k = 0; k < sizeof(table) / sizeof(table[0]); k++)
				if (strlen(table[k].name) == alen && !strncmp(table[k].name, a, alen))
					break;
			if (k == sizeof(table) / sizeof(table[0]))
				die_usage("unknown option %s", a);
			if (table[k].flag) {
				if (a[alen])
					die_usage("%s takes no value", table[k].name);
				*(bool *)((char *)o + table[k].off) = true;
				continue;
			}
			if (a[alen])
				val = a + alen + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				die_usage("%s needs a value", a);
			*(const char **)((char *)o + table[k].off) = val;
			continue;
		}
		if (o->nargs >= (int)(sizeof(o->args) / sizeof(o->args[0])))
			die_usage("too many arguments");
		o->args[o->nargs++] = a;
	}
	if (o->insecure && o->cacert)
		die_usage("--insecure and --cacert exclude each other");
}

static void parse_api_url(const char *url, struct target *t)
{
	memset(t, 0, sizeof(*t));
	if (strncasecmp(url, "https://", 8) != 0)
		die_usage("--api must be an https:// URL, not \"%s\"", url);
	const char *p = url + 8, *end = p + strcspn(p, "/?#");
	const char *hs = p, *he;
	if (*p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he)
			die_usage("bad IPv6 address in --api \"%s\"", url);
		p = he + 1;
	} else {
		he = memchr(p, ':', (size_t)(end - p));
		if (!he)
			he = end;
		p = he;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(t->host))
		die_usage("no host in --api \"%s\"", url);
	memcpy(t->host, hs, (size_t)(he - hs));
	snprintf(t->port, sizeof(t->port), "443");
	if (p < end && *p == ':') {
		size_t n = (size_t)(end - p - 1);
		char *e;
		char tmp[8] = "";
		if (n == 0 || n >= sizeof(tmp))
			die_usage("bad port in --api \"%s\"", url);
		memcpy(tmp, p + 1, n);
		unsigned long v = strtoul(tmp, &e, 10);
		if (*e || v == 0 || v > 65535)
			die_usage("bad port in --api \"%s\"", url);
		snprintf(t->port, sizeof(t->port), "%lu", v);
	} else if (p != end) {
		die_usage("bad --api \"%s\"", url);
	}
	size_t pl = strcspn(end, "?#");
	while (pl && end[pl - 1] == '/')
		pl--;
	if (pl >= sizeof(t->prefix))
		die_usage("--api path too long");
	memcpy(t->prefix, end, pl);
	unsigned char buf[16];
	t->host_is_ip = inet_pton(AF_INET, t->host, buf) == 1 || inet_pton(AF_INET6, t->host, buf) == 1;
}

/* ---- passwords ---- */

static char *read_secret_file(const char *path, const char *what)
{
	FILE *f = fopen(path, "re");
	if (!f)
		die(EXIT_USAGE, "%s: cannot read the %s: %s", path, what, strerror(errno));
	char buf[1100];
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		die(EXIT_USAGE, "%s: the %s file is empty", path, what);
	char *s = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!s)
		die(EXIT_USAGE, "out of memory");
	return s;
}

/* Asks on the terminal without echo; NULL when there is no terminal. */
static char *prompt_secret(const char *prompt)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct termios old, quiet;
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* nothing useful to do: the read below still works or fails on its own */
	}
	char buf[1100];
	size_t n = 0;
	for (char c; n + 1 < sizeof(buf);) {
		ssize_t r = read(fd, &c, 1);
		if (r <= 0 || c == '\n' || c == '\r')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* as above */
	}
	close(fd);
	char *s = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return s;
}

static char *admin_password(const struct opts *o, const char *user)
{
	if (o->password_file)
		return read_secret_file(o->password_file, "password");
	const char *env = getenv("VDI_PASSWORD");
	if (env && *env)
		return strdup(env);
	char prompt[300];
	snprintf(prompt, sizeof(prompt), "password for %s: ", user);
	char *s = prompt_secret(prompt);
	if (!s)
		die(EXIT_USAGE, "no password: give --password-file, set VDI_PASSWORD, or run on a terminal");
	return s;
}

static char *new_password(const struct opts *o, const char *user)
{
	if (o->new_password_file)
		return read_secret_file(o->new_password_file, "new password");
	const char *env = getenv("VDI_NEW_PASSWORD");
	if (env && *env)
		return strdup(env);
	char prompt[300];
	snprintf(prompt, sizeof(prompt), "new password for %s: ", user);
	char *a = prompt_secret(prompt);
	if (!a)
		die(EXIT_USAGE, "no new password: give --new-password-file, set VDI_NEW_PASSWORD, or run on a "
				"terminal");
	char *b = prompt_secret("again: ");
	if (!b || strcmp(a, b) != 0)
		die(EXIT_USAGE, "the passwords differ");
	if (!*a)
		die(EXIT_USAGE, "the password is empty");
	free(b);
	return a;
}

/* ---- TLS and HTTP ---- */

static void tls_die(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	die(EXIT_CONN, "%s%s%s", what, e ? ": " : "", buf);
}

static SSL_CTX *tls_context(const struct opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		tls_die("TLS set-up failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (o->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	const char *ca = o->cacert;
	if (!ca && access(DEFAULT_CA, R_OK) == 0)
		ca = DEFAULT_CA;
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			die(EXIT_USAGE, "%s: cannot load the CA certificate", ca);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_die("cannot load the system's CA certificates");
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static int set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = TIMEOUT_S};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/* Connects within the timeout to the first address that answers; dies with status 3 if none. */
static int tcp_connect(const struct target *t)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *p;
	int rc = getaddrinfo(t->host, t->port, &hints, &ai);
	if (rc != 0)
		die(EXIT_CONN, "cannot resolve %s: %s", t->host, gai_strerror(rc));
	int err = 0;
	for (p = ai; p; p = p->ai_next) {
		int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, p->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, p->ai_addr, p->ai_addrlen) < 0 && errno != EINPROGRESS) {
			err = errno;
			close(fd);
			continue;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, TIMEOUT_S * 1000);
		socklen_t sl = sizeof(err);
		if (n <= 0)
			err = n == 0 ? ETIMEDOUT : errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err == 0 && fcntl(fd, F_SETFL, 0) == 0 && set_timeouts(fd) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(ai);
			return fd;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	die(EXIT_CONN, "cannot connect to %s port %s: %s", t->host, t->port, strerror(err ? err : ECONNREFUSED));
}

static SSL *tls_connect(struct client *c, int fd)
{
	SSL *ssl = SSL_new(c->ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		tls_die("TLS set-up failed");
	if (c->t.host_is_ip) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set1_ip_asc(vp, c->t.host);
	} else {
		SSL_set_tlsext_host_name(ssl, c->t.host);
		SSL_set1_host(ssl, c->t.host);
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			die(EXIT_CONN, "TLS: the server's certificate is not trusted: %s (try --cacert FILE)",
			    X509_verify_cert_error_string(v));
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			die(EXIT_CONN, "TLS handshake with %s timed out", c->t.host);
		tls_die("TLS handshake failed");
	}
	return ssl;
}

/* A buffered reader over the TLS stream. */
struct reader {
	SSL *ssl;
	char buf[16384];
	size_t pos, len;
	bool eof;
};

static int rd_fill(struct reader *r)
{
	if (r->pos < r->len)
		return 0;
	if (r->eof)
		return -1;
	int n = SSL_read(r->ssl, r->buf, sizeof(r->buf));
	if (n <= 0) {
		int e = SSL_get_error(r->ssl, n);
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
			r->eof = true;
			return -1;
		}
		if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
			die(EXIT_CONN, "the server did not answer within %d s", TIMEOUT_S);
		tls_die("reading the reply failed");
	}
	r->pos = 0;
	r->len = (size_t)n;
	return 0;
}

/* One line without CRLF into buf; -1 at EOF or when longer than the buffer. */
static int rd_line(struct reader *r, char *buf, size_t buflen)
{
	size_t n = 0;
	for (;;) {
		if (rd_fill(r) < 0)
			return -1;
		char c = r->buf[r->pos++];
		if (c == '\n')
			break;
		if (n + 1 >= buflen)
			return -1;
		buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

/* Appends up to want bytes (SIZE_MAX: to EOF) to the body; -1 if the stream ended first. */
static int rd_body(struct reader *r, struct response *resp, size_t want)
{
	while (want) {
		if (rd_fill(r) < 0)
			return want == SIZE_MAX ? 0 : -1;
		size_t n = r->len - r->pos;
		if (n > want)
			n = want;
		if (resp->len + n > BODY_MAX)
			die(EXIT_CONN, "the reply is larger than %d MiB", BODY_MAX >> 20);
		char *nb = realloc(resp->body, resp->len + n + 1);
		if (!nb)
			die(EXIT_CONN, "out of memory");
		memcpy(nb + resp->len, r->buf + r->pos, n);
		resp->body = nb;
		resp->len += n;
		resp->body[resp->len] = '\0';
		r->pos += n;
		if (want != SIZE_MAX)
			want -= n;
	}
	return 0;
}

static void read_response(struct reader *r, struct response *resp)
{
	char line[8192];
	if (rd_line(r, line, sizeof(line)) < 0 || strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
		die(EXIT_CONN, "the server's reply is not HTTP");
	resp->status = atoi(line + 9);
	if (resp->status < 100 || resp->status > 599)
		die(EXIT_CONN, "the server's reply has a bad status");
	long long length = -1;
	bool chunked = false;
	size_t header_bytes = 0;
	for (;;) {
		if (rd_line(r, line, sizeof(line)) < 0)
			die(EXIT_CONN, "the server's reply headers are cut short or too long");
		header_bytes += strlen(line) + 2;
		if (header_bytes > HEADER_MAX)
			die(EXIT_CONN, "the server's reply headers are too long");
		if (!line[0])
			break;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		v += strspn(v, " \t");
		if (!strcasecmp(line, "Content-Length")) {
			char *e;
			length = strtoll(v, &e, 10);
			if (*e || length < 0)
				die(EXIT_CONN, "the server's reply has a bad Content-Length");
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			chunked = strcasestr(v, "chunked") != NULL;
		} else if (!strcasecmp(line, "Content-Type")) {
			snprintf(resp->content_type, sizeof(resp->content_type), "%s", v);
		}
	}
	resp->body = calloc(1, 1);
	if (!resp->body)
		die(EXIT_CONN, "out of memory");
	if (resp->status == 204 || resp->status == 304 || (resp->status >= 100 && resp->status < 200))
		return;
	if (chunked) {
		for (;;) {
			if (rd_line(r, line, sizeof(line)) < 0)
				die(EXIT_CONN, "the server's chunked reply is cut short");
			char *e;
			unsigned long long n = strtoull(line, &e, 16);
			if (e == line || (*e && *e != ';'))
				die(EXIT_CONN, "the server's chunked reply is malformed");
			if (n > BODY_MAX)
				die(EXIT_CONN, "the reply is larger than %d MiB", BODY_MAX >> 20);
			if (n == 0)
				break;
			if (rd_body(r, resp, (size_t)n) < 0 || rd_line(r, line, sizeof(line)) < 0 || line[0])
				die(EXIT_CONN, "the server's chunked reply is cut short");
		}
		while (rd_line(r, line, sizeof(line)) == 0 && line[0])
			; /* trailers */
		return;
	}
	if (length > BODY_MAX)
		die(EXIT_CONN, "the reply is larger than %d MiB", BODY_MAX >> 20);
	if (rd_body(r, resp, length < 0 ? SIZE_MAX : (size_t)length) < 0)
		die(EXIT_CONN, "the server's reply is cut short");
}

/* The Basic credentials, asked for at the first request so usage errors come before a prompt. */
static void client_login(struct client *c)
{
	char *pw = admin_password(c->o, c->user);
	size_t ul = strlen(c->user), credlen = ul + 1 + strlen(pw);
	if (credlen > 600)
		die_usage("the user name and password are too long");
	char cred[601];
	memcpy(cred, c->user, ul);
	cred[ul] = ':';
	memcpy(cred + ul + 1, pw, strlen(pw) + 1);
	memcpy(c->auth, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)c->auth + 6, (unsigned char *)cred, (int)credlen);
	explicit_bzero(cred, sizeof(cred));
	explicit_bzero(pw, strlen(pw));
	free(pw);
}

/* One request on a fresh connection ("Connection: close": a command makes few requests). */
static void http(struct client *c, const char *method, const char *path, json_t *body, struct response *resp)
{
	memset(resp, 0, sizeof(*resp));
	if (!c->auth[0])
		client_login(c);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text)
		die(EXIT_USAGE, "out of memory");
	int fd = tcp_connect(&c->t);
	SSL *ssl = tls_connect(c, fd);
	bool v6 = strchr(c->t.host, ':') != NULL;
	size_t hdrcap = strlen(path) + strlen(c->t.prefix) + sizeof(c->auth) + sizeof(c->t.host) + 512;
	char *hdr = malloc(hdrcap);
	if (!hdr)
		die(EXIT_USAGE, "out of memory");
	int n = snprintf(hdr, hdrcap,
			 "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nAuthorization: %s\r\nUser-Agent: vdictl\r\n"
			 "Accept: application/json, image/png, text/plain\r\nConnection: close\r\n",
			 method, c->t.prefix, path, v6 ? "[" : "", c->t.host, v6 ? "]" : "", c->t.port, c->auth);
	if (text)
		n += snprintf(hdr + n, hdrcap - (size_t)n, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      strlen(text));
	n += snprintf(hdr + n, hdrcap - (size_t)n, "\r\n");
	if (SSL_write(ssl, hdr, n) != n || (text && SSL_write(ssl, text, (int)strlen(text)) != (int)strlen(text)))
		tls_die("sending the request failed");
	explicit_bzero(hdr, hdrcap);
	free(hdr);
	free(text);
	struct reader *r = calloc(1, sizeof(*r));
	if (!r)
		die(EXIT_CONN, "out of memory");
	r->ssl = ssl;
	read_response(r, resp);
	free(r);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

static bool is_json(const struct response *resp)
{
	return strncasecmp(resp->content_type, "application/json", 16) == 0;
}

static json_t *response_json(const struct response *resp)
{
	if (!is_json(resp) || !resp->len)
		return NULL;
	return json_loadb(resp->body, resp->len, 0, NULL);
}

/* Dies with status 1 and the API's message unless the status is 2xx. */
static void check(const struct response *resp)
{
	if (resp->status >= 200 && resp->status < 300)
		return;
	json_t *j = response_json(resp);
	const char *msg = json_string_value(json_object_get(j, "error"));
	if (msg)
		die(EXIT_API, "%s (HTTP %d)", msg, resp->status);
	die(EXIT_API, "the API answered HTTP %d", resp->status);
}

static void response_free(struct response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

/* ---- output ---- */

/* A cell's text: strings as they are, arrays of scalars joined with ",", the rest as JSON. */
static char *cell_text(json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_array(v)) {
		size_t i, used = 0;
		json_t *e;
		/* Words join with ","; phrases (schedule windows, whose days may hold commas) with "; ". */
		const char *sep = ",";
		json_array_foreach(v, i, e) if (json_is_string(e) && strpbrk(json_string_value(e), " ,")) sep = "; ";
		char *out = calloc(1, 1);
		json_array_foreach(v, i, e)
		{
			char *s = json_is_string(e) ? strdup(json_string_value(e)) : json_dumps(e, JSON_ENCODE_ANY);
			if (!s || !out)
				break;
			char *no = realloc(out, used + strlen(s) + 3);
			if (!no) {
				free(s);
				break;
			}
			out = no;
			used += (size_t)sprintf(out + used, "%s%s", i ? sep : "", s);
			free(s);
		}
		return out;
	}
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* Timestamps (Unix seconds under these keys) are shown as UTC date and time. */
static char *cell_for(const char *key, json_t *v)
{
	static const char *const time_keys[] = {"time",    "created",   "updated",
						"started", "last_seen", "disconnected_at"};
	for (size_t i = 0; json_is_integer(v) && json_integer_value(v) > 0 && i < 6; i++)
		if (!strcmp(key, time_keys[i])) {
			time_t t = (time_t)json_integer_value(v);
			struct tm tm;
			char buf[32];
			if (gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm))
				return strdup(buf);
		}
	return cell_text(v);
}

/* Prints an array of objects as an aligned table: columns are the keys in order of first
 * appearance; header=false for --follow's later pages. */
static void print_table(json_t *rows, bool header)
{
	json_t *cols = json_array(), *row, *v;
	size_t i, j;
	const char *key;
	json_array_foreach(rows, i, row)
	{
		json_object_foreach(row, key, v)
		{
			bool seen = false;
			json_t *c;
			json_array_foreach(cols, j, c) seen = seen || !strcmp(json_string_value(c), key);
			if (!seen)
				json_array_append_new(cols, json_string(key));
		}
	}
	size_t ncols = json_array_size(cols), nrows = json_array_size(rows);
	if (!ncols) {
		if (header)
			printf("(none)\n");
		json_decref(cols);
		return;
	}
	size_t *width = calloc(ncols, sizeof(*width));
	char **cells = calloc(ncols * (nrows + 1), sizeof(*cells));
	if (!width || !cells)
		die(EXIT_API, "out of memory");
	for (j = 0; j < ncols; j++) {
		char *h = strdup(json_string_value(json_array_get(cols, j)));
		for (char *p = h; p && *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		cells[j] = h;
	}
	for (i = 0; i < nrows; i++)
		for (j = 0; j < ncols; j++)
			cells[(i + 1) * ncols + j] = cell_for(
			    json_string_value(json_array_get(cols, j)),
			    json_object_get(json_array_get(rows, i), json_string_value(json_array_get(cols, j))));
	for (i = header ? 0 : 1; i <= nrows; i++)
		for (j = 0; j < ncols; j++) {
			char *s = cells[i * ncols + j];
			if (s && strlen(s) > width[j])
				width[j] = strlen(s);
		}
	for (i = header ? 0 : 1; i <= nrows; i++) {
		for (j = 0; j < ncols; j++) {
			const char *s = cells[i * ncols + j] ? cells[i * ncols + j] : "?";
			if (j + 1 < ncols)
				printf("%-*s  ", (int)width[j], s);
			else
				printf("%s\n", s);
		}
	}
	for (i = 0; i < ncols * (nrows + 1); i++)
		free(cells[i]);
	free(cells);
	free(width);
	json_decref(cols);
	fflush(stdout);
}

/* An object as aligned "key: value" lines. */
static void print_object(json_t *obj)
{
	const char *key;
	json_t *v;
	size_t w = 0;
	json_object_foreach(obj, key, v) if (strlen(key) > w) w = strlen(key);
	json_object_foreach(obj, key, v)
	{
		char *s = cell_for(key, v);
		printf("%-*s  %s\n", (int)w + 1, key, s ? s : "?");
		free(s);
	}
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s)
		printf("%s\n", s);
	free(s);
}

/* ---- commands ---- */

/* GET path and print the array under key as a table (or the raw JSON). */
static int cmd_list(struct client *c, const char *path, const char *key)
{
	struct response resp;
	http(c, "GET", path, NULL, &resp);
	check(&resp);
	json_t *j = response_json(&resp);
	if (!j)
		die(EXIT_API, "the API's reply is not JSON");
	if (c->json)
		print_json(j);
	else if (json_is_array(json_object_get(j, key)))
		print_table(json_object_get(j, key), true);
	else if (json_is_array(j))
		print_table(j, true);
	else
		print_object(j);
	json_decref(j);
	response_free(&resp);
	return 0;
}

static int cmd_show(struct client *c, const char *path)
{
	struct response resp;
	http(c, "GET", path, NULL, &resp);
	check(&resp);
	json_t *j = response_json(&resp);
	if (!j)
		die(EXIT_API, "the API's reply is not JSON");
	if (c->json)
		print_json(j);
	else
		print_object(j);
	json_decref(j);
	response_free(&resp);
	return 0;
}

/* Polls operations/ID until it ends, printing "LABEL: N/M desktops" whenever progress moves. */
static int follow_operation(struct client *c, const char *id, const char *label)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/operations/%s", id);
	long long last_done = -1, last_total = -1;
	for (;;) {
		struct response resp;
		http(c, "GET", path, NULL, &resp);
		check(&resp);
		json_t *j = response_json(&resp);
		const char *state = json_string_value(json_object_get(j, "state"));
		if (!state)
			die(EXIT_API, "the API's operation %s has no state", id);
		long long done = json_integer_value(json_object_get(j, "done"));
		long long total = json_integer_value(json_object_get(j, "total"));
		if (c->json && strcmp(state, "running") != 0) {
			print_json(j);
		} else if (!c->json && (done != last_done || total != last_total)) {
			printf("%s: %lld/%lld desktops\n", label, done, total);
			fflush(stdout);
		}
		last_done = done, last_total = total;
		if (!strcmp(state, "failed")) {
			const char *err = json_string_value(json_object_get(j, "error"));
			fprintf(stderr, "%s: %s failed: %s\n", prog, label, err ? err : "(no reason given)");
			json_decref(j);
			response_free(&resp);
			return EXIT_API;
		}
		bool running = !strcmp(state, "running");
		json_decref(j);
		response_free(&resp);
		if (!running)
			return 0;
		struct timespec ts = {0, POLL_INTERVAL * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* A state-changing request: prints `done` (or the JSON), or follows a 202's operation. */
static int cmd_change(struct client *c, const char *method, const char *path, json_t *body, const char *done,
		      const char *progress_label)
{
	struct response resp;
	http(c, method, path, body, &resp);
	check(&resp);
	json_t *j = response_json(&resp);
	json_t *op = json_object_get(j, "operation");
	int rc = 0;
	if (resp.status == 202 && op) {
		char id[64];
		if (json_is_integer(op))
			snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(op));
		else
			snprintf(id, sizeof(id), "%s", json_string_value(op) ? json_string_value(op) : "");
		if (!id[0] ||
		    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(id))
			die(EXIT_API, "the API gave a bad operation id");
		rc = follow_operation(c, id, progress_label);
		if (rc == 0 && !c->json)
			printf("%s\n", done);
	} else if (c->json && j) {
		print_json(j);
	} else {
		printf("%s\n", done);
	}
	json_decref(j);
	response_free(&resp);
	return rc;
}

/* The value of a key=value argument: a whole number (no leading zeros, within 64 bits) as a JSON
 * integer, anything else as a string. The server judges keys and values; vdictl passes them on. */
static json_t *setting_value(const char *key, const char *text)
{
	const char *d = text + (text[0] == '-');
	bool digits = d[0] && strspn(d, "0123456789") == strlen(d);
	bool canonical = d[0] != '0' || !strcmp(text, "0"); /* "007" stays a string: it may be a name */
	if (digits && canonical) {
		errno = 0;
		char *end;
		long long n = strtoll(text, &end, 10);
		if (errno == 0 && !*end)
			return json_integer((json_int_t)n);
	}
	json_t *v = json_string(text);
	if (!v)
		die_usage("value of %s is not UTF-8", key);
	return v;
}

/* key=value arguments from args[from] on as a JSON object. A key given more than once becomes an
 * array of its values as strings, in order (a pool's schedule=... windows). */
static json_t *settings(struct opts *o, int from, json_t *obj)
{
	char keys[sizeof(o->args) / sizeof(o->args[0])][256];
	for (int i = from; i < o->nargs; i++) {
		const char *arg = o->args[i], *eq = strchr(arg, '=');
		if (!eq || eq == arg)
			die_usage("expected key=value, not \"%s\"", arg);
		if ((size_t)(eq - arg) >= sizeof(keys[i]))
			die_usage("key too long in \"%s\"", arg);
		memcpy(keys[i], arg, (size_t)(eq - arg));
		keys[i][eq - arg] = '\0';
	}
	for (int i = from; i < o->nargs; i++) {
		const char *key = keys[i], *text = strchr(o->args[i], '=') + 1;
		int times = 0;
		for (int k = from; k < o->nargs; k++)
			times += !strcmp(keys[k], key);
		if (times == 1) {
			if (json_object_set_new(obj, key, setting_value(key, text)) < 0)
				die_usage("key %s is not UTF-8", key);
			continue;
		}
		json_t *arr = json_object_get(obj, key);
		if (!arr) {
			arr = json_array();
			if (!arr || json_object_set_new(obj, key, arr) < 0)
				die_usage("key %s is not UTF-8", key);
		}
		json_t *v = json_string(text);
		if (!v || json_array_append_new(arr, v) < 0)
			die_usage("value of %s is not UTF-8", key);
	}
	return obj;
}

/* Path segments from the command line go into URLs: percent-encode all but unreserved bytes. */
static void url_segment(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	for (; *s && n + 4 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~')
			out[n++] = (char)ch;
		else
			n += (size_t)snprintf(out + n, outlen - n, "%%%02X", ch);
	}
	if (*s)
		die_usage("argument too long");
	out[n] = '\0';
}

static void need_args(struct opts *o, int n, const char *what)
{
	if (o->nargs != n)
		die_usage("usage: vdictl %s", what);
}

static int cmd_screenshot(struct client *c, const char *name, const char *file)
{
	if (!file)
		die_usage("desktop screenshot needs -o FILE.png");
	char path[1024];
	snprintf(path, sizeof(path), "/api/v1/desktops/%s/screenshot", name);
	struct response resp;
	http(c, "GET", path, NULL, &resp);
	check(&resp);
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (resp.len < 8 || memcmp(resp.body, sig, 8) != 0)
		die(EXIT_API, "the API's screenshot is not a PNG");
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	FILE *f = fopen(tmp, "we");
	if (!f)
		die(EXIT_USAGE, "%s: %s", tmp, strerror(errno));
	bool ok = fwrite(resp.body, 1, resp.len, f) == resp.len;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, file) != 0) {
		unlink(tmp);
		die(EXIT_USAGE, "%s: cannot write the screenshot", file);
	}
	if (!c->json)
		printf("wrote %s (%zu bytes)\n", file, resp.len);
	response_free(&resp);
	return 0;
}

static int cmd_events(struct client *c, struct opts *o)
{
	char after[32] = "0", path[512];
	if (o->after) {
		if (strspn(o->after, "0123456789") != strlen(o->after) || !*o->after || strlen(o->after) > 19)
			die_usage("--after takes an event id");
		snprintf(after, sizeof(after), "%s", o->after);
	}
	if (o->limit && (strspn(o->limit, "0123456789") != strlen(o->limit) || !*o->limit || strlen(o->limit) > 9))
		die_usage("--limit takes a number");
	char event[192] = "";
	if (o->event)
		url_segment(event, sizeof(event), o->event);
	for (bool first = true;; first = false) {
		snprintf(path, sizeof(path), "/api/v1/events?after=%s%s%s%s%s", after, o->limit ? "&limit=" : "",
			 o->limit ? o->limit : "", o->event ? "&event=" : "", event);
		struct response resp;
		http(c, "GET", path, NULL, &resp);
		check(&resp);
		json_t *j = response_json(&resp);
		json_t *events = json_object_get(j, "events");
		if (!json_is_array(events))
			die(EXIT_API, "the API's events reply has no \"events\" list");
		if (c->json && !o->follow) {
			print_json(j);
		} else if (c->json) {
			size_t i;
			json_t *e;
			json_array_foreach(events, i, e)
			{
				char *s = json_dumps(e, JSON_COMPACT);
				printf("%s\n", s ? s : "{}");
				free(s);
			}
			fflush(stdout);
		} else if (first || json_array_size(events)) {
			print_table(events, first);
		}
		json_t *lastev = json_array_get(events, json_array_size(events) - 1);
		if (json_is_integer(json_object_get(lastev, "id")))
			snprintf(after, sizeof(after), "%lld",
				 (long long)json_integer_value(json_object_get(lastev, "id")));
		json_decref(j);
		response_free(&resp);
		if (!o->follow)
			return 0;
		sleep(1);
	}
}

static int run(struct client *c, struct opts *o)
{
	if (o->nargs == 0)
		die_usage("no command");
	const char *cmd = o->args[0], *sub = o->nargs > 1 ? o->args[1] : NULL;
	char name[512] = "", path[1024], msg[1200];
	if (o->nargs > 2)
		url_segment(name, sizeof(name), o->args[2]);
	const char *nm = o->nargs > 2 ? o->args[2] : "";

	if (!strcmp(cmd, "pools") && (!sub || !strcmp(sub, "list"))) {
		need_args(o, sub ? 2 : 1, "pools [list]");
		return cmd_list(c, "/api/v1/pools", "pools");
	}
	if (!strcmp(cmd, "pool") && sub) {
		if (o->nargs < 3)
			die_usage("usage: vdictl pool %s NAME", sub);
		snprintf(path, sizeof(path), "/api/v1/pools/%s", name);
		if (!strcmp(sub, "show")) {
			need_args(o, 3, "pool show NAME");
			return cmd_show(c, path);
		}
		if (!strcmp(sub, "create")) {
			json_t *body = json_pack("{s:s}", "name", nm);
			if (!body)
				die_usage("the pool name is not UTF-8");
			settings(o, 3, body);
			snprintf(msg, sizeof(msg), "created pool %s", nm);
			char label[600];
			snprintf(label, sizeof(label), "creating pool %s", nm);
			int rc = cmd_change(c, "POST", "/api/v1/pools", body, msg, label);
			json_decref(body);
			return rc;
		}
		if (!strcmp(sub, "set")) {
			if (o->nargs < 4)
				die_usage("usage: vdictl pool set NAME key=value...");
			json_t *body = settings(o, 3, json_object());
			snprintf(msg, sizeof(msg), "updated pool %s", nm);
			char label[600];
			snprintf(label, sizeof(label), "updating pool %s", nm);
			int rc = cmd_change(c, "PATCH", path, body, msg, label);
			json_decref(body);
			return rc;
		}
		if (!strcmp(sub, "delete")) {
			need_args(o, 3, "pool delete NAME");
			snprintf(msg, sizeof(msg), "deleted pool %s", nm);
			char label[600];
			snprintf(label, sizeof(label), "deleting pool %s", nm);
			return cmd_change(c, "DELETE", path, NULL, msg, label);
		}
		die_usage("unknown pool command %s", sub);
	}
	if (!strcmp(cmd, "desktops") && (!sub || !strcmp(sub, "list"))) {
		need_args(o, sub ? 2 : 1, "desktops [list] [--pool P]");
		if (o->pool) {
			char pool[512];
			url_segment(pool, sizeof(pool), o->pool);
			snprintf(path, sizeof(path), "/api/v1/desktops?pool=%s", pool);
		} else {
			snprintf(path, sizeof(path), "/api/v1/desktops");
		}
		return cmd_list(c, path, "desktops");
	}
	if (!strcmp(cmd, "desktop") && sub) {
		need_args(o, 3, "desktop show|poweron|poweroff|suspend|resume|refresh|delete|screenshot NAME");
		snprintf(path, sizeof(path), "/api/v1/desktops/%s", name);
		if (!strcmp(sub, "show"))
			return cmd_show(c, path);
		if (!strcmp(sub, "screenshot"))
			return cmd_screenshot(c, name, o->output);
		if (!strcmp(sub, "delete")) {
			snprintf(msg, sizeof(msg), "deleted desktop %s", nm);
			return cmd_change(c, "DELETE", path, NULL, msg, msg);
		}
		static const char *const actions[][2] = {{"poweron", "powering on"},
							 {"poweroff", "powering off"},
							 {"suspend", "suspending"},
							 {"resume", "resuming"},
							 {"refresh", "refreshing"}};
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
			if (!strcmp(sub, actions[i][0])) {
				snprintf(path, sizeof(path), "/api/v1/desktops/%s/%s", name, sub);
				snprintf(msg, sizeof(msg), "%s desktop %s", actions[i][1], nm);
				return cmd_change(c, "POST", path, NULL, msg, msg);
			}
		die_usage("unknown desktop command %s", sub);
	}
	if (!strcmp(cmd, "sessions") && (!sub || !strcmp(sub, "list"))) {
		need_args(o, sub ? 2 : 1, "sessions [list]");
		return cmd_list(c, "/api/v1/sessions", "sessions");
	}
	if (!strcmp(cmd, "session") && sub && (!strcmp(sub, "disconnect") || !strcmp(sub, "logoff"))) {
		need_args(o, 3, "session disconnect|logoff ID");
		snprintf(path, sizeof(path), "/api/v1/sessions/%s/%s", name, sub);
		snprintf(msg, sizeof(msg), "%s session %s", !strcmp(sub, "logoff") ? "logged off" : "disconnected", nm);
		return cmd_change(c, "POST", path, NULL, msg, msg);
	}
	if (!strcmp(cmd, "users") && (!sub || !strcmp(sub, "list"))) {
		need_args(o, sub ? 2 : 1, "users [list]");
		return cmd_list(c, "/api/v1/users", "users");
	}
	if (!strcmp(cmd, "user") && sub) {
		need_args(o, 3, "user add|passwd|del NAME");
		snprintf(path, sizeof(path), "/api/v1/users/%s", name);
		if (!strcmp(sub, "add") || !strcmp(sub, "passwd")) {
			char *pw = new_password(o, nm);
			json_t *body = json_pack("{s:s}", "password", pw);
			explicit_bzero(pw, strlen(pw));
			free(pw);
			if (!body)
				die_usage("the password is not UTF-8");
			int rc;
			if (!strcmp(sub, "add")) {
				json_object_set_new(body, "name", json_string(nm));
				if (o->groups)
					json_object_set_new(body, "groups", json_string(o->groups));
				snprintf(msg, sizeof(msg), "added user %s", nm);
				rc = cmd_change(c, "POST", "/api/v1/users", body, msg, msg);
			} else {
				snprintf(msg, sizeof(msg), "changed the password of %s", nm);
				rc = cmd_change(c, "PATCH", path, body, msg, msg);
			}
			json_decref(body);
			return rc;
		}
		if (!strcmp(sub, "del")) {
			snprintf(msg, sizeof(msg), "deleted user %s", nm);
			return cmd_change(c, "DELETE", path, NULL, msg, msg);
		}
		die_usage("unknown user command %s", sub);
	}
	if (!strcmp(cmd, "events")) {
		need_args(o, 1, "events [--after ID] [--limit N] [--event KIND] [--follow]");
		return cmd_events(c, o);
	}
	if (!strcmp(cmd, "metrics")) {
		need_args(o, 1, "metrics");
		struct response resp;
		http(c, "GET", "/metrics", NULL, &resp);
		check(&resp);
		fwrite(resp.body, 1, resp.len, stdout);
		response_free(&resp);
		return 0;
	}
	if (!sub &&
	    (!strcmp(cmd, "pool") || !strcmp(cmd, "desktop") || !strcmp(cmd, "session") || !strcmp(cmd, "user")))
		die_usage("%s needs a subcommand", cmd);
	die_usage("unknown command %s", cmd);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	parse_args(argc, argv, &o);
	struct client c = {.json = o.json};
	parse_api_url(o.api ? o.api : (getenv("VDI_API") ? getenv("VDI_API") : DEFAULT_API), &c.t);
	if (o.nargs == 0)
		die_usage("no command");
	const char *user = o.user;
	if (!user)
		user = getenv("VDI_USER");
	if (!user || !*user)
		user = getenv("USER");
	if (!user || !*user)
		user = "admin";
	if (strchr(user, ':'))
		die_usage("a user name cannot contain ':'");
	signal(SIGPIPE, SIG_IGN);
	c.ctx = tls_context(&o);
	c.o = &o;
	c.user = user;
	int rc = run(&c, &o);
	explicit_bzero(c.auth, sizeof(c.auth));
	SSL_CTX_free(c.ctx);
	return rc;
}
