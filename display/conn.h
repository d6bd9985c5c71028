/* conn.h — a client connection as the protocol servers see it: the surface
 * it shows, switches and close requests from the broker's threads, and the
 * hooks called at its start and end. Private to display/. */
#ifndef VDI_DISPLAY_CONN_H
#define VDI_DISPLAY_CONN_H

#include "display.h"

/* A connection of `protocol` ("rdp", "vnc") from `address`; NULL on no
 * memory (logged). */
struct display_conn *display_conn_new(const struct display_hooks *hooks, const char *protocol, const char *address);
/* Asks the hooks for the first surface (info->protocol and address are
 * filled in here). NULL: the client is refused; display_conn_end() still
 * follows. */
struct surface *display_conn_open(struct display_conn *c, struct display_conn_info *info);
/* Readable when a switch or a close is pending. */
int display_conn_event_fd(const struct display_conn *c);
/* On the connection's thread, after its event fd became readable: the
 * surface to show from now on, or NULL when nothing changed. On a switch
 * *old is the surface shown until now: remove its viewer, then drop the
 * connection's reference with surface_destroy(*old). *close is set when
 * the connection is to end. */
struct surface *display_conn_take(struct display_conn *c, bool *close, struct surface **old);
/* The surface shown now (the connection's thread; NULL before open). */
struct surface *display_conn_surface(const struct display_conn *c);
/* Any thread: ask the surface shown now for this size (RDP's disp channel
 * runs on a thread of its own). Remembered: a surface switched to later is
 * asked for it too. */
void display_conn_request_size(struct display_conn *c, uint32_t width, uint32_t height);
const char *display_conn_address(const struct display_conn *c);
/* The client's keyboard or pointer did something (the connection's thread). */
void display_conn_touch(struct display_conn *c);
/* The connection's end of vdi's private channel (chan.h): the transport's to
 * open and carry; the connection keeps a reference until it ends. */
struct display_chan *display_conn_chan(const struct display_conn *c);
/* On the connection's thread, every wake: asks the hooks for a reconnect
 * ticket when one is due. */
void display_conn_chan_tick(struct display_conn *c);
/* The server stops: clients with the channel hear so (waits up to wait_ms
 * for a side stream on another thread to take it). */
void display_conn_shutdown(struct display_conn *c, int wait_ms);
/* Calls the disconnect hook (when open succeeded), drops the surfaces'
 * references, frees. NULL does nothing. */
void display_conn_end(struct display_conn *c);

#endif
