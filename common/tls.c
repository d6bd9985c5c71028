/* tls.c — vdi's TLS certificate and key: reused from their files, or
 * generated self-signed (OpenSSL) on first start. */
#include "tls.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A pair that is there is reused only when it loads and matches, so a
 * half-written or swapped file is an error at start, not at every connect. */
static int tls_check(const char *cert_path, const char *key_path)
{
	int rc = -EINVAL;
	FILE *cf = fopen(cert_path, "r");
	FILE *kf = fopen(key_path, "r");
	X509 *cert = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
	if (!cf || !kf)
		log_error("tls: cannot open %s: %s", !cf ? cert_path : key_path, strerror(errno));
	else if (!cert || !key)
		log_error("tls: %s is not a PEM %s", !cert ? cert_path : key_path,
			  !cert ? "certificate" : "private key");
	else if (X509_check_private_key(cert, key) != 1)
		log_error("tls: %s does not belong to %s", key_path, cert_path);
	else if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		/* FreeRDP 2 loads the TLS key as RSA only. */
		log_error("tls: %s is not an RSA key", key_path);
	else
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	if (cf)
		fclose(cf);
	if (kf)
		fclose(kf);
	return rc;
}

/* Writes to path.tmp with `mode`, then renames, so a crash never leaves a
 * truncated file under the real name. */
static int tls_write(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		int err = errno;
		log_error("tls: cannot create %s: %s", tmp, strerror(err));
		return -err;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	fclose(f);
	if (!ok || rename(tmp, path) < 0) {
		log_error("tls: cannot write %s", path);
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/* The names clients check: this host's name, and the loopback addresses a
 * first try on the machine itself uses (vdictl's default API URL). */
static int tls_add_names(X509 *cert, const char *host)
{
	char san[512];
	snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	int ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *tls_self_signed(EVP_PKEY *key)
{
	char host[256] = "vdi";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0] || strchr(host, ','))
		snprintf(host, sizeof(host), "vdi");
	X509 *cert = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (!cert || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* a positive serial number, as RFC 5280 asks */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto fail;
	X509_NAME *name = X509_get_subject_name(cert);
	if (X509_set_version(cert, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 86400) || X509_set_pubkey(cert, key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 || tls_add_names(cert, host) < 0 ||
	    X509_sign(cert, key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return cert;
fail:
	BN_free(bn);
	X509_free(cert);
	return NULL;
}

static int tls_generate(const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = key ? tls_self_signed(key) : NULL;
	int rc = -EIO;
	if (!cert)
		log_error("tls: cannot generate a self-signed certificate");
	else if ((rc = tls_write(key_path, 0600, key, NULL)) == 0 && (rc = tls_write(cert_path, 0644, NULL, cert)) == 0)
		log_info("tls: generated a self-signed certificate %s", cert_path);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int tls_identity(const char *cert_path, const char *key_path)
{
	bool have_cert = access(cert_path, F_OK) == 0, have_key = access(key_path, F_OK) == 0;
	if (have_cert || have_key)
		return tls_check(cert_path, key_path);
	/* The directory of a key we generate is private. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", key_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			int err = errno;
			log_error("tls: cannot create %s: %s", dir, strerror(err));
			return -err;
		}
	}
	return tls_generate(cert_path, key_path);
}
