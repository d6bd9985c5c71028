/* chan.h — the server's end of vdi's private channel for one connection, whatever carries it (RDP's dynamic
 * channel, VNC's side stream): messages queued for the client, the client's hello, when a reconnect ticket is
 * due. Counted (the connection and a VNC side stream each hold a reference) and safe from any thread.
 * Private to display/. */
#ifndef VDI_DISPLAY_CHAN_H
#define VDI_DISPLAY_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct display_chan;

/* NULL on no memory. address is for the log. */
struct display_chan *display_chan_new(const char *address);
struct display_chan *display_chan_ref(struct display_chan *ch);
void display_chan_unref(struct display_chan *ch);

/* A transport opened the channel (over "rdp" or "vnc"): the server's HELLO is queued. */
void display_chan_opened(struct display_chan *ch, const char *transport);
bool display_chan_is_open(struct display_chan *ch);
/* Bytes from the client. A malformed message: -EPROTO / -EMSGSIZE (logged); the transport closes the channel. */
int display_chan_input(struct display_chan *ch, const uint8_t *data, size_t len);
/* The next whole message to send (malloc'ed, the caller frees), or NULL. */
uint8_t *display_chan_take(struct display_chan *ch, size_t *len);
/* Readable while messages wait or after display_chan_end (level: stays readable until drained). */
int display_chan_wake_fd(struct display_chan *ch);
/* The picture's connection ended: the transport sends what is queued and closes. */
void display_chan_end(struct display_chan *ch);
bool display_chan_ended(struct display_chan *ch);
/* The transport is gone (a side stream closed): nothing more is queued. */
void display_chan_closed(struct display_chan *ch);
/* Queues a BYE while open (once: a later one is dropped). */
void display_chan_bye(struct display_chan *ch, uint32_t reason, const char *text);
/* Waits up to wait_ms for a transport on another thread to take what is queued. */
void display_chan_drain(struct display_chan *ch, int wait_ms);

/* Reconnect tickets: due (true) once the client said hello with CHANNEL_CAP_SESSION and the last ticket is old,
 * or display_chan_ticket_soon() asked; display_chan_session() queues one and schedules the next. */
bool display_chan_ticket_due(struct display_chan *ch);
void display_chan_ticket_soon(struct display_chan *ch);
void display_chan_session(struct display_chan *ch, uint32_t ttl_s, const char *ticket, const char *user,
			  const char *pool);
/* Milliseconds until a ticket is due (-1: not before something else happens). */
int display_chan_due_ms(struct display_chan *ch);

#endif
