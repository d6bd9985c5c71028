/* client.h — vdi-client's face: its options, outcomes (exit statuses) and the parts main() wires together.
 * Everything runs on the main thread unless a function says otherwise; strings passed in are borrowed. */
#ifndef VDI_CLIENT_H
#define VDI_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/channel.h"

/* The outcome of a run, which is also vdi-client's exit status (README "## vdi-client"). */
enum client_status {
	CLIENT_OK = 0,          /* the user logged off or closed the window */
	CLIENT_FAILED = 1,      /* vdi-client itself could not run: no display, out of memory */
	CLIENT_USAGE = 2,       /* bad arguments, or a choice --no-dialog cannot make */
	CLIENT_UNREACHABLE = 3, /* no TCP connection to the server */
	CLIENT_BAD_PASSWORD = 4,
	CLIENT_LOCKED_OUT = 5,
	CLIENT_NOT_ENTITLED = 6,
	CLIENT_NO_DESKTOP = 7, /* the pool is exhausted, or there is no such pool */
	CLIENT_CERT_REFUSED = 8,
	CLIENT_PROTOCOL = 9, /* garbage, a connection closed or silent mid-handshake */
};

/* An outcome with its one-line message for the user (printed once, by main). */
struct client_error {
	enum client_status status;
	char msg[512];
};
/* Sets e's status and message; returns the status, so `return client_fail(e, ...)` reads well. */
enum client_status client_fail(struct client_error *e, enum client_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum client_proto { PROTO_RDP, PROTO_VNC };

#define CLIENT_HOST_MAX 256
#define CLIENT_NAME_MAX 256
#define CLIENT_PASS_MAX 1024
#define CLIENT_URL_MAX  (CLIENT_HOST_MAX + 96)
#define POOL_NAME_MAX   33
#define CLIENT_API_PORT 8443

struct client_opts {
	enum client_proto proto;
	char host[CLIENT_HOST_MAX];
	int port;
	char user[CLIENT_NAME_MAX];
	char password[CLIENT_PASS_MAX];
	bool have_url, have_password;
	const char *pool; /* --pool, a vdi:// URL's pool (in url_pool), or NULL */
	const char *api;  /* --api, a vdi:// URL's (in url_api), or NULL for https://HOST:8443 */
	bool vdi_url;     /* the server came as vdi://: api and pool point into the buffers below */
	int api_port;     /* a vdi:// URL's API port */
	char url_api[CLIENT_URL_MAX];
	char url_pool[POOL_NAME_MAX];
	const char *cacert;      /* --cacert, or NULL */
	const char *known_hosts; /* --known-hosts, or NULL for ~/.config/vdi/known_hosts */
	bool no_dialog, trust_on_first_use, fullscreen, kiosk, lossless;
	uint32_t width, height; /* --size */
};

/* options.c: parses argv into o. 0, 1 after --help (printed), or CLIENT_USAGE with the reason in e. */
int client_parse_args(int argc, char **argv, struct client_opts *o, struct client_error *e);
/* "[rdp|vnc]://[USER@]HOST[:PORT]" or "vdi://[USER@]HOST[:APIPORT][/POOL][?rdp[=PORT]|?vnc[=PORT]]" into o
 * (README "vdi:// links"); --api and --pool given on the command line win over a vdi:// URL's. -EINVAL when
 * malformed, o then unchanged. */
int client_parse_url(const char *url, struct client_opts *o);
/* The server o names as a URL without the user, the form client_parse_url reads back (kept in client.ini). */
void client_format_url(const struct client_opts *o, char *out, size_t size);
/* The first line of path into out (at most size - 1 bytes); 0 or negative errno. */
int client_read_first_line(const char *path, char *out, size_t size);

/* net.c: a TCP connection to host:port within timeout_ms; the socket, -ETIMEDOUT, or another negative errno. */
int net_connect(const char *host, int port, int timeout_ms);
/* Sets send and receive timeouts on a connected socket. */
void net_set_timeouts(int fd, int timeout_ms);
/* Reads exactly len bytes; 0, -EPIPE at end of stream, or a negative errno (-EAGAIN on a timeout). */
int net_read_full(int fd, void *buf, size_t len);
int net_write_full(int fd, const void *buf, size_t len);

/* tls_check.c: whether to trust the certificate a server showed for host:port (see README "Certificates").
 * The certificates are OpenSSL X509 pointers (typed void here so this header needs no OpenSSL); chain may be
 * NULL. confirm, when set, asks the user about an unknown certificate (the text names its fingerprint). On
 * trust returns 0 and, when ca_out is set, writes there a file that libraries verifying by themselves can take
 * as their CA file (the --cacert, the system bundle, or the trusted certificate itself in a temporary file the
 * caller unlinks when *ca_is_temp). Otherwise CLIENT_CERT_REFUSED with the reason in e. */
struct tls_policy {
	const char *cacert;
	const char *known_hosts;
	bool trust_on_first_use, no_dialog;
	bool (*confirm)(void *arg, const char *question);
	void *confirm_arg;
};
int tls_check(const struct tls_policy *p, const char *host, int port, void *leaf, void *chain, char *ca_out,
	      size_t ca_size, bool *ca_is_temp, struct client_error *e);
/* The default known_hosts path (~/.config/vdi/known_hosts) into out; 0 or negative errno. */
int tls_default_known_hosts(char *out, size_t size);

/* https.c: one HTTP/1.1 request over TLS (certificate checked with p) with Basic authentication. The body
 * (NUL-terminated, at most 1 MiB) is malloc'ed into *body; *retry_after is the Retry-After header or 0.
 * Returns the HTTP status, or a client status (< 100) with the reason in e. */
struct https_reply {
	int status;
	char *body;
	size_t len;
	unsigned retry_after;
};
int https_request(const struct tls_policy *p, const char *url, const char *method, const char *user,
		  const char *password, struct https_reply *r, struct client_error *e);
void https_reply_free(struct https_reply *r);

/* pools_json.c: the body of GET /api/v1/me/pools. Untrusted: bounded, names checked (1 to 32 of
 * A-Z a-z 0-9 _ -), states one of the four words. 0, or -EINVAL / -E2BIG / -ENOMEM. */
#define POOLS_MAX 64
enum pool_state { POOL_ASSIGNED, POOL_READY, POOL_STARTING, POOL_UNAVAILABLE };
struct pool_entry {
	char name[POOL_NAME_MAX];
	enum pool_state state;
};
struct pool_list {
	size_t count;
	struct pool_entry pools[POOLS_MAX];
};
int pools_json_parse(const char *json, size_t len, struct pool_list *out);
/* The body of POST .../ticket: the ticket (printable ASCII, 1 to 255 bytes) into out. 0 or -EINVAL. */
int pools_json_ticket(const char *json, size_t len, char *out, size_t size);
const char *pool_state_name(enum pool_state s);

/* api.c: the broker's user API. api_pools lists the user's pools: 0 with the list, 1 when the server has no
 * user API (404/403, or nothing listening where no --api was given), else a client status with e set.
 * api_ticket fetches a one-time ticket for pool into ticket: 0 or a client status. */
int api_pools(const struct client_opts *o, const struct tls_policy *p, struct pool_list *out, struct client_error *e);
int api_ticket(const struct client_opts *o, const struct tls_policy *p, const char *pool, char *ticket, size_t size,
	       struct client_error *e);

/* window.c: the one SDL window (class "vdi-client"), its streaming texture and text screens. */
struct window;
struct window *window_open(const struct client_opts *o, struct client_error *e);
void window_close(struct window *w);
/* The desktop's picture: (re)sizes the texture; 0 or -ENOMEM. */
int window_set_desktop_size(struct window *w, uint32_t width, uint32_t height);
/* Copies the rectangle of a BGRX32 buffer (stride bytes a row) into the texture; presented by
 * window_present. */
void window_update(struct window *w, const uint8_t *buf, uint32_t stride, int x, int y, int width, int height);
void window_present(struct window *w);
void window_toggle_fullscreen(struct window *w);
/* The window's drawable size now. */
void window_size(struct window *w, uint32_t *width, uint32_t *height);
/* A cursor from ARGB8888 pixels (width * 4 a row) with its hotspot; NULL pixels: the default cursor; a 0x0
 * image hides it. */
void window_set_cursor(struct window *w, const uint32_t *argb, int width, int height, int hot_x, int hot_y);
/* Shows lines of text (the first as a title) on a plain screen, e.g. "connecting". */
void window_message(struct window *w, const char *const *lines, size_t n);
/* The client's own screens: a canvas (XRGB8888) the size of the window, shown by window_show_canvas until the
 * next window_set_desktop_size. NULL when out of memory. */
uint32_t *window_canvas(struct window *w, int *width, int *height);
void window_show_canvas(struct window *w);
/* A banner of text over the desktop's last picture (kiosk's "reconnecting"); NULL text removes it. Presents. */
void window_overlay(struct window *w, const char *text);

/* events.c: what a session does with the window's input. Positions are window pixels (the desktop is drawn
 * 1:1 from the top-left corner); buttons an RFB mask (1 left, 2 middle, 4 right), changed the one that just
 * went down or up (0 for a move); wheel clicks positive away from the user and to the right; resize once the
 * window's size has settled. */
struct input_sink {
	void *arg;
	void (*key)(void *arg, uint32_t scancode, uint32_t keysym, bool down);
	void (*pointer)(void *arg, int x, int y, uint32_t buttons, uint32_t changed);
	void (*wheel)(void *arg, int dx, int dy);
	void (*resize)(void *arg, uint32_t width, uint32_t height);
	uint32_t buttons; /* the rest is events.c's state */
	bool pending_resize;
	uint32_t resize_at;
};
/* Handles the window's events (waiting up to timeout_ms for the first); 1 when the user closed the window. */
int window_poll(struct window *w, struct input_sink *s, int timeout_ms);
/* The client's own key chords (Ctrl+Alt+Enter: full screen) on an SDL_Event; true when it was one (then it is
 * not the screen's or the desktop's). */
bool window_chord(struct window *w, const void *event);

/* text.c: one line of text in the guest's DejaVu glyphs, its baseline at y; returns the x after it. */
int text_draw(uint32_t *px, int width, int height, int x, int baseline, const char *s, uint32_t rgb, bool bold);
int text_width(const char *s, bool bold);
int text_line_height(void);
int text_ascent(void);
/* Text screens (ui.c): a yes/no question; the user's pick of pools (its index, or -1 when the window closed);
 * the connect screen filling host/user/password in o (0, or -1 when closed), with why the last attempt failed
 * (NULL: nothing) in red under the fields. */
bool ui_confirm(void *window, const char *question);
int ui_pick_pool(struct window *w, const struct pool_list *pools);
int ui_connect_screen(struct window *w, struct client_opts *o, const char *why);

/* keymap.c: an SDL scancode (USB HID usage) to a PC set-1 scancode, 0x100 set for extended (E0) keys;
 * 0 when it has none. */
uint32_t keymap_scancode(int sdl_scancode);
/* The X keysym of an SDL keycode with the modifier state (US layout); 0 when unknown. */
uint32_t keymap_keysym(int sdl_keycode, bool shift);

/* channel.c: vdi's private channel as the client sees it (common/channel.h), whatever carries it (RDP's dynamic
 * channel, VNC's side stream), and how the last session ended. Fed on the transport's thread, read on the main
 * thread: locked inside. */
struct client_chan {
	pthread_mutex_t lock;
	struct channel_reader reader;
	const char *transport;               /* "rdp" or "vnc" */
	bool open;                           /* the server's hello came */
	bool bye;                            /* the server said why it ends the connection */
	uint32_t bye_reason;                 /* enum channel_bye */
	char bye_text[CHANNEL_TEXT_MAX + 1]; /* for the user */
	char ticket[CHANNEL_TEXT_MAX + 1];   /* the latest reconnect ticket, "" none */
	char ticket_pool[CHANNEL_TEXT_MAX + 1];
	/* Set by the session on the main thread. */
	bool established; /* the desktop was shown: a later loss is a network loss */
	bool user_closed; /* the user closed the window */
};
void client_chan_init(struct client_chan *ch);
void client_chan_destroy(struct client_chan *ch);
/* A new connection over transport: the hello, bye and flags start again; the ticket stays. */
void client_chan_begin(struct client_chan *ch, const char *transport);
/* Bytes from the server: 0, or a negative errno when they are malformed (the channel is then closed). */
int client_chan_input(struct client_chan *ch, const uint8_t *data, size_t len);
/* The client's HELLO into out: its length, or a negative errno. */
int client_chan_hello(uint8_t *out, size_t size);
/* Whether the server said why it ended the connection (reason and words copied out). */
bool client_chan_said_bye(struct client_chan *ch, uint32_t *reason, char *text, size_t size);
/* The latest reconnect ticket into out; false when there is none. A new session brings a new one. */
bool client_chan_ticket(struct client_chan *ch, char *out, size_t size);
void client_chan_forget_ticket(struct client_chan *ch);

/* rdp.c and vnc.c: a session in the window until the user closes it or the server ends it. password is the
 * user's password or the broker's ticket. ch carries the private channel and tells how the session ended.
 * Returns a client status with e set when it is not CLIENT_OK. */
int rdp_run(const struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
	    struct client_error *e);
int vnc_run(const struct client_opts *o, const struct tls_policy *p, struct window *w, struct client_chan *ch,
	    struct client_error *e);
/* vnc_side.c: the side stream of vdi's private channel over VNC: a thread that connects to the server again with
 * the token, checks the certificate as p says, and feeds ch until the server closes it or vnc_side_stop. */
struct vnc_side;
struct vnc_side *vnc_side_start(const struct client_opts *o, const struct tls_policy *p, struct client_chan *ch,
				const char *token);
/* Lets the stream deliver what the server sent before it closed (up to wait_ms), then ends it; NULL: nothing. */
void vnc_side_stop(struct vnc_side *s, int wait_ms);
/* rdp_chan.c: the client side of the dynamic channel; rdp.c registers it before connecting, for ch. */
int rdp_chan_register(void *settings, struct client_chan *ch);
/* vnc_probe.c: the RFB handshake up to VeNCrypt X509Plain and its TLS, to see and check the certificate before
 * libvncclient connects. 0 with the CA file libvncclient takes in ca_out, or a client status. */
int vnc_probe(const struct client_opts *o, const struct tls_policy *p, char *ca_out, size_t ca_size, bool *ca_is_temp,
	      struct client_error *e);

/* settings.c: the last server and user (~/.config/vdi/client.ini), never the password. */
void settings_load(struct client_opts *o);
void settings_save(const struct client_opts *o);

/* watchdog.c: ends the process with CLIENT_PROTOCOL and msg if not disarmed within seconds: libraries that block in a
 * handshake (FreeRDP's connect) have no timeout of their own for a silent server. */
void watchdog_arm(unsigned seconds, const char *msg);
void watchdog_disarm(void);
/* Around waiting for the user (a certificate question inside a handshake): the deadline starts again after. */
bool watchdog_pause(void);
void watchdog_resume(bool was_armed);

#endif
