/* rdp_tls.h — the RDP server's TLS identity: a certificate and key in the
 * data directory, generated self-signed on first start. Private to display/. */
#ifndef VDI_DISPLAY_RDP_TLS_H
#define VDI_DISPLAY_RDP_TLS_H

#include <stddef.h>

/* Fills cert_path and key_path (each of `size` bytes) with DATA_DIR/tls.crt
 * and DATA_DIR/tls.key. When both exist they are checked to belong together
 * and reused; when neither does, a self-signed RSA 2048 certificate is
 * generated (the directory created 0700, the key written 0600). 0 or a
 * negative errno (logged). */
int rdp_tls_identity(const char *data_dir, char *cert_path, char *key_path, size_t size);

#endif
