/* display.h — the display gateway's face: surfaces (a framebuffer, its
 * damage, a cursor, a frame counter) and the servers that stream them to
 * clients over VNC and RDP, carrying keyboard and pointer back.
 *
 * A surface's pixels are XRGB8888 (bytes B, G, R, unused). A VM's scanout
 * becomes a surface through surface_attach_vmm(); each client of it is a
 * viewer that pulls frames at its own pace: while it is busy, damage
 * accumulates for it (merged, bounded), so a slow viewer gets fewer, larger
 * updates and never slows another. Input from any viewer goes to the
 * surface's input sink as Linux evdev codes. */
#ifndef VDI_DISPLAY_H
#define VDI_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SURFACE_MAX_RECTS  16 /* damage rectangles a viewer holds before merging */
#define SURFACE_CURSOR_MAX 64

struct surface_rect {
	uint32_t x, y, width, height;
};

/* Where a surface's input goes (a VM's virtio-input through its control
 * socket; the greeter later). Calls come from the viewers' threads. */
struct surface_input_ops {
	/* key: Linux evdev KEY_* code; down true on press. */
	void (*key)(void *opaque, uint32_t code, bool down);
	/* pointer at surface pixel (x, y) with buttons held (bit 0 left, 1 right, 2 middle) */
	void (*pointer)(void *opaque, int32_t x, int32_t y, uint32_t buttons);
	/* wheel clicks: dy positive away from the user, dx positive right */
	void (*wheel)(void *opaque, int32_t dy, int32_t dx);
	/* a client asks for this display size (its window); may be ignored */
	void (*resize)(void *opaque, uint32_t width, uint32_t height);
	void *opaque;
};

struct surface;
struct surface_viewer;

/* A surface of width x height whose pixels the caller writes (tests, the
 * greeter); NULL when a side is 0 or over 16384. */
struct surface *surface_create(uint32_t width, uint32_t height);
/* A surface that follows a vdi-vmm's scanout: subscribes on its control
 * socket (hypervisor/vmm_control.h), maps the surface read-only, turns its
 * events into damage and cursor state, and sends input back. A thread of
 * its own reads the socket. NULL (logged) when the VMM cannot be reached. */
struct surface *surface_attach_vmm(const char *control_socket);
/* Surfaces are counted: a connection showing one holds a reference
 * (display_conn), so its creator may let go at any time. surface_destroy()
 * drops the caller's reference; the last one frees the surface (remove its
 * viewers first). surface_ref() returns s. */
struct surface *surface_ref(struct surface *s);
void surface_destroy(struct surface *s);

/* A picture painted once and then shown read-only by any number of surfaces
 * and viewers at no cost of their own (the login screen every idle greeter
 * of a size shows). Counted: each holder keeps a reference. Its pixels are
 * written only by its creator, before any surface shows it. */
struct surface_picture;
/* width x height, zeroed; NULL when a side is 0 or over 16384, or out of memory. */
struct surface_picture *surface_picture_new(uint32_t width, uint32_t height);
uint8_t *surface_picture_pixels(struct surface_picture *p);
uint32_t surface_picture_width(const struct surface_picture *p);
uint32_t surface_picture_height(const struct surface_picture *p);
struct surface_picture *surface_picture_ref(struct surface_picture *p);
void surface_picture_unref(struct surface_picture *p);
/* How many hold it (a cache keeping pictures drops those only it holds). */
unsigned surface_picture_refs(const struct surface_picture *p);
/* A surface showing p (it takes a reference) until its owner writes it:
 * the first surface_pixels() copies the picture into pixels of the
 * surface's own (copy-on-write). Viewers show the picture itself, without
 * a frame of their own, until then. */
struct surface *surface_create_shared(struct surface_picture *p);
/* The owner shows p again (a reference taken), at p's size: its own pixels
 * are freed and every viewer starts over. -EPERM on an attached surface. */
int surface_set_picture(struct surface *s, struct surface_picture *p);

/* For the owner of a surface_create() surface: the pixels to write (width *
 * 4 bytes a row), then surface_damage() for what changed (clipped to the
 * surface). Resizing replaces the pixels (zeroed). An attached surface has
 * no writable pixels (NULL) and cannot be resized (-EPERM): it follows its
 * VMM. */
uint8_t *surface_pixels(struct surface *s);
int surface_resize(struct surface *s, uint32_t width, uint32_t height);
void surface_damage(struct surface *s, uint32_t x, uint32_t y, uint32_t width, uint32_t height);
void surface_set_cursor(struct surface *s, const uint8_t *argb, uint32_t width, uint32_t height, uint32_t hot_x,
			uint32_t hot_y);
void surface_move_cursor(struct surface *s, int32_t x, int32_t y, bool visible);
void surface_set_input(struct surface *s, const struct surface_input_ops *ops);

/* Input from a viewer, passed on to the surface's input ops (dropped when
 * there are none). */
void surface_key(struct surface *s, uint32_t evdev_code, bool down);
void surface_pointer(struct surface *s, int32_t x, int32_t y, uint32_t buttons);
void surface_wheel(struct surface *s, int32_t dy, int32_t dx);
void surface_request_size(struct surface *s, uint32_t width, uint32_t height);

/* Viewers. wake_fd (an eventfd the surface creates) becomes readable when
 * the viewer has something new; the viewer then takes it. */
struct surface_viewer *surface_viewer_add(struct surface *s);
void surface_viewer_remove(struct surface_viewer *v);
int surface_viewer_wake_fd(const struct surface_viewer *v);

/* What changed for a viewer since it last took an update. The frame is a
 * private copy of the damaged pixels (the whole frame when size changed),
 * so the viewer reads it while the guest goes on writing the surface; or,
 * while the surface shows a shared picture, that picture itself. */
struct surface_update {
	uint32_t width, height, stride; /* the viewer's frame */
	const uint8_t *pixels;          /* stride * height bytes, valid until the next take */
	/* Non-NULL: pixels are this shared picture's, which never change; a
	 * reference (surface_picture_ref()) keeps them past the next take. */
	struct surface_picture *picture;
	bool resized; /* the size changed: everything is new (rects[0] is the whole frame) */
	uint32_t nrects;
	struct surface_rect rects[SURFACE_MAX_RECTS];
	bool cursor_changed; /* a new cursor image */
	uint32_t cursor_width, cursor_height, cursor_hot_x, cursor_hot_y;
	const uint8_t *cursor_argb; /* B, G, R, A, cursor_width * 4 bytes a row; valid until the next take */
	bool cursor_moved;
	int32_t cursor_x, cursor_y;
	bool cursor_visible;
	uint64_t frame; /* the surface's frame counter at this take */
};
/* Fills *u and clears the viewer's pending state. Returns true when there
 * was anything new. */
bool surface_viewer_take(struct surface_viewer *v, struct surface_update *u);

/* Keysyms (X11, RFB) to evdev codes for a US layout; -1 when unknown.
 * *shift is set when the keysym implies a shifted key ('A', '!'). */
int keysym_to_evdev(uint32_t keysym, bool *shift);

/* Connections. Each client connection, over either protocol, shows one
 * surface at a time; whoever runs the servers (the broker) decides which
 * through hooks: a new connection asks connect() for its first surface (a
 * login screen, or a desktop), and later display_conn_switch() moves it to
 * another (the desktop after login) without the client reconnecting.
 * Input from the client goes to the surface it shows. */
struct display_conn;

struct display_conn_info {
	const char *protocol; /* "rdp" or "vnc" */
	const char *address;  /* the client's address */
	/* Credentials the client sent inside TLS (RDP's client info PDU, for
	 * autologon); NULL when it sent none. Never log the password. */
	const char *user, *password, *domain;
	uint32_t width, height; /* the desktop size the client asked for; 0 when none */
};

/* A reconnect ticket for the connection's session (vdi's private channel, common/channel.h): the broker's
 * one-time login for this user and pool, alive ttl_s seconds. */
struct display_ticket {
	char ticket[128];
	char user[128];
	char pool[64];
	uint32_t ttl_s;
};

struct display_hooks {
	/* A client connected: the surface it sees first, which the connection
	 * takes a reference on (the caller keeps its own); NULL refuses the
	 * client. Called on the connection's thread; may block briefly. */
	struct surface *(*connect)(void *opaque, struct display_conn *c, const struct display_conn_info *info);
	/* The client is gone (it closed, the network failed, the server stops,
	 * or display_conn_close()). After this returns `c` is freed: nobody may
	 * use it again. Called on the connection's thread. */
	void (*disconnect)(void *opaque, struct display_conn *c);
	/* The client's private channel asks for a reconnect ticket: 0 with *t
	 * filled, or a negative errno while the connection has no session
	 * (asked again after its next switch). May be NULL. Called on the
	 * connection's thread; must not block long. */
	int (*ticket)(void *opaque, struct display_conn *c, struct display_ticket *t);
	void *opaque;
};

/* From any thread, while `c` is connected (before its disconnect hook has
 * returned): show surface `s` on the connection from now on (it takes a
 * reference), asking it for the client's size. */
void display_conn_switch(struct display_conn *c, struct surface *s);
/* From any thread, while `c` is connected: end the connection (logoff). */
void display_conn_close(struct display_conn *c);
/* The same, telling a client with vdi's private channel why first: reason
 * is an enum channel_bye (common/channel.h), text the words for the user. */
void display_conn_close_why(struct display_conn *c, uint32_t reason, const char *text);
/* Seconds since the client last used its keyboard or pointer (any thread,
 * while `c` is connected). */
unsigned display_conn_idle_seconds(struct display_conn *c);
/* Hooks that show `s` to every client (one desktop, shadowing). */
struct display_hooks display_hooks_one_surface(struct surface *s);

struct conn_limit; /* common/conn_limit.h */

/* Where a server listens: `bind` an address (NULL: every address, IPv4 and
 * IPv6), `port` (0: the server is off); and what a client may take before
 * it logs in. A client refused by `limit` hears why in its protocol where
 * it can (VNC: an RFB failure reason) and is closed at once (RDP: before
 * the TLS handshake). A client still in a handshake at its time limit is
 * closed; so is an RDP client that has not sent its login (the client info
 * PDU) by login_timeout_s after it connected. */
struct display_listen {
	const char *bind;
	int port;
	struct conn_limit *limit;     /* shared with the other ports; NULL: no caps */
	unsigned handshake_timeout_s; /* TLS (RDP, VeNCrypt) and RFB handshakes; 0: none */
	unsigned login_timeout_s;     /* RDP: connected to client info PDU; 0: none */
};

/* The VNC server (libvncserver): RFB 3.8, and WebSocket on the same port
 * for noVNC. Each connection gets its own thread. With a certificate and
 * key (generated self-signed when neither exists: common/tls.h), RFB
 * clients are offered VeNCrypt X509Plain first (TLS, then a user name and
 * password, which reach the connect hook as RDP's do) and None second,
 * and WebSocket clients may come as wss://; require_tls refuses the rest.
 * security NULL: no TLS. */
struct vnc_security {
	const char *cert_path, *key_path;
	bool require_tls;
};
struct vnc_server;
struct vnc_server *vnc_server_start(const struct display_hooks *hooks, const struct display_listen *listen,
				    const struct vnc_security *security);
void vnc_server_stop(struct vnc_server *vnc);

/* The RDP server (FreeRDP 2): TLS only, with the certificate and key at
 * these paths (generated self-signed when neither exists: common/tls.h).
 * Each connection gets its own thread. rdp_server_stop(NULL) does nothing. */
struct rdp_server;
struct rdp_server *rdp_server_start(const struct display_hooks *hooks, const struct display_listen *listen,
				    const char *cert_path, const char *key_path);
void rdp_server_stop(struct rdp_server *rdp);

#endif
