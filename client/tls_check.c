/* tls_check.c — whether to trust a server's certificate: signed by --cacert's CAs, else by the system's CAs
 * (either for the host name or address connected to), else trusted on first use with its SHA-256
 * fingerprint kept per host:port in the known_hosts file; a changed one is refused. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define FP_LEN (32 * 3) /* "AB:" per byte, the last ':' a NUL */

int tls_default_known_hosts(char *out, size_t size)
{
	const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n = config && *config ? snprintf(out, size, "%s/vdi/known_hosts", config)
		: home && *home   ? snprintf(out, size, "%s/.config/vdi/known_hosts", home)
				  : -1;
	return n < 0 ? -ENOENT : (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int fingerprint(X509 *cert, char out[FP_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!X509_digest(cert, EVP_sha256(), md, &len) || len != 32)
		return -EINVAL;
	for (unsigned i = 0; i < len; i++)
		snprintf(out + i * 3, 4, "%02X%s", md[i], i + 1 < len ? ":" : "");
	return 0;
}

/* Signed by the CAs of cafile (or the system's when NULL) and issued for host. */
static bool verified(X509 *leaf, STACK_OF(X509) * chain, const char *cafile, const char *host, char *why,
		     size_t why_size)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	if (!store || !ctx)
		goto out;
	if (cafile ? X509_STORE_load_locations(store, cafile, NULL) != 1 : X509_STORE_set_default_paths(store) != 1) {
		snprintf(why, why_size, "cannot load the CA certificates%s%s", cafile ? " from " : "",
			 cafile ? cafile : "");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1)
		goto out;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1)
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	ok = X509_verify_cert(ctx) == 1;
	if (!ok)
		snprintf(why, why_size, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

/* The fingerprint known_hosts keeps for key ("host:port"): 1 found (in out), 0 not there, negative errno. With
 * any_port, key is "host:" and a line of that host on any port with the fingerprint out counts. */
static int known_lookup(const char *path, const char *key, char out[FP_LEN], bool any_port)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char line[512];
	int found = 0;
	size_t klen = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) != 0)
			continue;
		const char *fp = any_port ? line + klen + strspn(line + klen, "0123456789") : line + klen;
		if (*fp++ != ' ')
			continue;
		size_t n = strcspn(fp, " \r\n");
		if (n != FP_LEN - 1 || (any_port && strncmp(fp, out, n) != 0))
			continue;
		memcpy(out, fp, n);
		out[n] = '\0';
		found = 1;
	}
	fclose(f);
	return found;
}

/* Creates the file's directory (one level, as ~/.config/vdi) and appends the line. */
static int known_add(const char *path, const char *key, const char *fp)
{
	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "a");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "%s %s\n", key, fp);
	return fclose(f) == 0 ? 0 : -EIO;
}

/* The trusted certificate in a temporary PEM file, for a library that verifies it again itself. */
static int write_temp_pem(X509 *cert, char *out, size_t size)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (snprintf(out, size, "%s/vdi-client-ca.XXXXXX", dir && *dir ? dir : "/tmp") >= (int)size)
		return -ENAMETOOLONG;
	int fd = mkstemp(out);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(out);
		return -ENOMEM;
	}
	int ok = PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok) {
		unlink(out);
		return -EIO;
	}
	return 0;
}

static int trusted(const char *file, char *ca_out, size_t ca_size, bool *ca_is_temp)
{
	if (ca_out && snprintf(ca_out, ca_size, "%s", file) >= (int)ca_size)
		return -ENAMETOOLONG;
	if (ca_is_temp)
		*ca_is_temp = false;
	return 0;
}

int tls_check(const struct tls_policy *p, const char *host, int port, void *leaf_ptr, void *chain_ptr, char *ca_out,
	      size_t ca_size, bool *ca_is_temp, struct client_error *e)
{
	X509 *leaf = leaf_ptr;
	STACK_OF(X509) *chain = chain_ptr;
	char why[256] = "", fp[FP_LEN], known[FP_LEN], key[CLIENT_HOST_MAX + 16];
	if (!leaf)
		return client_fail(e, CLIENT_CERT_REFUSED, "%s:%d showed no certificate", host, port);
	if (fingerprint(leaf, fp) < 0)
		return client_fail(e, CLIENT_CERT_REFUSED, "cannot hash the certificate of %s:%d", host, port);
	if (p->cacert) {
		if (!verified(leaf, chain, p->cacert, host, why, sizeof(why)))
			return client_fail(e, CLIENT_CERT_REFUSED,
					   "the certificate of %s:%d (SHA-256 %s) is refused: %s", host, port, fp, why);
		return trusted(p->cacert, ca_out, ca_size, ca_is_temp) < 0
			   ? client_fail(e, CLIENT_CERT_REFUSED, "path too long")
			   : 0;
	}
	if (verified(leaf, chain, NULL, host, why, sizeof(why)))
		return trusted(X509_get_default_cert_file(), ca_out, ca_size, ca_is_temp) < 0
			   ? client_fail(e, CLIENT_CERT_REFUSED, "path too long")
			   : 0;
	/* Trust on first use. */
	char path[4096];
	if (p->known_hosts)
		snprintf(path, sizeof(path), "%s", p->known_hosts);
	else if (tls_default_known_hosts(path, sizeof(path)) < 0)
		return client_fail(e, CLIENT_CERT_REFUSED, "no known_hosts file (HOME is not set; use --known-hosts)");
	snprintf(key, sizeof(key), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	int rc = known_lookup(path, key, known, false);
	if (rc < 0)
		return client_fail(e, CLIENT_CERT_REFUSED, "cannot read %s: %s", path, strerror(-rc));
	if (rc == 1 && strcmp(known, fp) != 0)
		return client_fail(e, CLIENT_CERT_REFUSED,
				   "the certificate of %s CHANGED: it was SHA-256 %s, now %s; refused (if the server "
				   "really has a new certificate, remove its line from %s)",
				   key, known, fp, path);
	if (rc == 0) {
		/* The same certificate already trusted for this host on another port (the broker's API, RDP and VNC
		 * share one): the person vouched for it once, and is not asked again per port. */
		char host_key[CLIENT_HOST_MAX + 8];
		snprintf(host_key, sizeof(host_key), strchr(host, ':') ? "[%s]:" : "%s:", host);
		memcpy(known, fp, sizeof(known));
		if (known_lookup(path, host_key, known, true) == 1) {
		} else if (!p->trust_on_first_use) {
			char question[512];
			snprintf(question, sizeof(question),
				 "%s shows a certificate nobody vouches for (%s). SHA-256 fingerprint: %s. Trust it?",
				 key, why, fp);
			if (!p->no_dialog && p->confirm)
				fprintf(stderr,
					"vdi-client: asking whether to trust the certificate of %s (SHA-256 %s)\n", key,
					fp);
			if (p->no_dialog || !p->confirm || !p->confirm(p->confirm_arg, question))
				return client_fail(
				    e, CLIENT_CERT_REFUSED,
				    "the certificate of %s (SHA-256 %s) is not trusted: %s (use --cacert, "
				    "or --trust-on-first-use to accept it)",
				    key, fp, why);
		}
		rc = known_add(path, key, fp);
		if (rc < 0)
			fprintf(stderr, "vdi-client: cannot remember the certificate in %s: %s\n", path, strerror(-rc));
		else
			fprintf(stderr, "vdi-client: trusting the certificate of %s (SHA-256 %s), kept in %s\n", key,
				fp, path);
	}
	if (ca_is_temp)
		*ca_is_temp = ca_out != NULL;
	if (ca_out && write_temp_pem(leaf, ca_out, ca_size) < 0)
		return client_fail(e, CLIENT_CERT_REFUSED, "cannot write a temporary file for the certificate");
	return 0;
}
