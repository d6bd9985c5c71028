/* tls.h — vdi's TLS identity, shared by the RDP server and the admin API: a
 * certificate and key reused from their files, or generated self-signed
 * (OpenSSL) on first start. */
#ifndef VDI_COMMON_TLS_H
#define VDI_COMMON_TLS_H

/* When both files exist they are checked to load and belong together and
 * are reused; when neither does, a self-signed RSA 2048 certificate is
 * generated (the key's directory created 0700 if absent, the key written
 * 0600); one without the other is an error. 0 or a negative errno
 * (logged). */
int tls_identity(const char *cert_path, const char *key_path);

#endif
