/* rdp_front.h — the front of an RDP connection: we own the client's TCP
 * socket and its TLS, and FreeRDP's server serves one end of a socket pair
 * as if it were the client. The X.224 negotiation passes through as it is;
 * once FreeRDP has chosen TLS, the front accepts the client's TLS with the
 * server's certificate and opens a TLS session of its own to FreeRDP's end
 * (which insists on TLS itself), and a relay thread carries the decrypted
 * stream between the two. On the way it puts right what the clients we
 * know send unlike FreeRDP's strict parser wants (rdp_front_normalize): so
 * rdesktop, whose Erect Domain Request carries raw 16-bit integers where
 * PER wants a length first, connects. Security is unchanged: TLS to the
 * client always, its credentials only inside it. */
#ifndef VDI_RDP_FRONT_H
#define VDI_RDP_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The TLS contexts of all fronts: the server's identity toward clients, and
 * the client side toward FreeRDP. NULL (logged) when the certificate and
 * key do not load. */
struct rdp_front_tls;
struct rdp_front_tls *rdp_front_tls_new(const char *cert_path, const char *key_path);
void rdp_front_tls_free(struct rdp_front_tls *t);

struct rdp_front;

/* Takes the client's connected socket `sock` (the front owns it from now on,
 * even when this fails) and starts the relay thread. Returns the front and
 * in *peer_fd the descriptor FreeRDP's peer serves instead of `sock` (above
 * FD_SETSIZE where one is free; FreeRDP owns it), or NULL (logged; `sock`
 * closed) when out of memory, descriptors or threads. */
struct rdp_front *rdp_front_start(struct rdp_front_tls *t, int sock, const char *address, int *peer_fd);

/* The client's socket, which the front owns: what a time limit shuts down
 * (the relay then ends, and FreeRDP sees its end of the pair close). */
int rdp_front_socket(const struct rdp_front *f);

/* Ends the relay (if it still runs), closes the client's connection and our
 * end of the pair, frees f. NULL does nothing. */
void rdp_front_stop(struct rdp_front *f);

/* A whole TPKT from the client (`len` bytes, `cap` the buffer's size) as
 * FreeRDP's parser wants it: an Erect Domain Request whose subHeight and
 * subInterval are raw 16-bit integers (rdesktop's) is re-encoded in PER.
 * Returns the PDU's length now (it may grow, within cap); *changed says
 * whether it was rewritten. Anything else is left as it is. */
size_t rdp_front_normalize(uint8_t *pdu, size_t len, size_t cap, bool *changed);

/* Whether a TPKT from the client is an Erect Domain Request (after which
 * the front looks no further into the stream). */
bool rdp_front_is_erect_domain(const uint8_t *pdu, size_t len);

#endif
