/* ui.c — vdi-client's own screens in its window, drawn with text.c: a yes/no question (an unknown
 * certificate), the pick list of pools, and the connect screen (server, user name, password). */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include <SDL2/SDL.h>

#define BACKGROUND 0x202830
#define TITLE      0xffffff
#define TEXT       0xc8d0d8
#define HIGHLIGHT  0x3a6ea5
#define ERROR      0xff7070
#define ROW_H      28

static void clear(uint32_t *px, int w, int h)
{
	for (size_t i = 0; i < (size_t)w * h; i++)
		px[i] = BACKGROUND;
}

static void fill(uint32_t *px, int w, int h, int x, int y, int rw, int rh, uint32_t rgb)
{
	for (int yy = y < 0 ? 0 : y; yy < y + rh && yy < h; yy++)
		for (int xx = x < 0 ? 0 : x; xx < x + rw && xx < w; xx++)
			px[(size_t)yy * w + xx] = rgb;
}

/* The bytes of a word too long for max_width that fit on a line: up to its last ':' that fits (fingerprints
 * break between bytes), else as many characters as fit; at least one. */
static size_t long_word_fit(const char *word, size_t len, int max_width)
{
	char line[256];
	size_t fit = 1, colon = 0;
	for (size_t n = 1; n <= len && n < sizeof(line); n++) {
		memcpy(line, word, n);
		line[n] = '\0';
		if (text_width(line, false) > max_width)
			break;
		fit = n;
		if (word[n - 1] == ':')
			colon = n;
	}
	return colon ? colon : fit;
}

/* Draws text wrapped at max_width from y; returns the y after it. */
static int draw_wrapped(uint32_t *px, int w, int h, int x, int y, int max_width, const char *text, uint32_t rgb)
{
	char line[256];
	const char *p = text;
	while (*p) {
		size_t n = 0, fit = 0;
		while (p[n] && n + 1 < sizeof(line)) {
			size_t word = n + strcspn(p + n, " ");
			if (word >= sizeof(line))
				word = sizeof(line) - 1;
			memcpy(line, p, word);
			line[word] = '\0';
			if (text_width(line, false) > max_width) {
				if (!fit) /* one word wider than the line */
					fit = n = long_word_fit(p, word, max_width);
				break;
			}
			fit = word;
			n = p[word] ? word + 1 : word;
		}
		if (!fit)
			fit = n;
		memcpy(line, p, fit);
		line[fit] = '\0';
		text_draw(px, w, h, x, y, line, rgb, false);
		y += text_line_height() + 4;
		p += n ? n : 1;
	}
	return y;
}

/* Waits for the user without a deadline: the handshake it interrupts gets its full time again after. */
static bool confirm(struct window *win, const char *question)
{
	for (;;) {
		int w, h;
		uint32_t *px = window_canvas(win, &w, &h);
		if (!px)
			return false;
		clear(px, w, h);
		int y = draw_wrapped(px, w, h, 40, 60, w - 80, question, TITLE);
		text_draw(px, w, h, 40, y + 20, "Press Y to trust it, N or Escape to refuse.", TEXT, false);
		window_show_canvas(win);
		SDL_Event ev;
		if (!SDL_WaitEvent(&ev) || ev.type == SDL_QUIT)
			return false;
		if (ev.type == SDL_KEYDOWN) {
			if (ev.key.keysym.sym == SDLK_y)
				return true;
			if (ev.key.keysym.sym == SDLK_n || ev.key.keysym.sym == SDLK_ESCAPE)
				return false;
		}
	}
}

bool ui_confirm(void *window, const char *question)
{
	bool paused = watchdog_pause();
	bool yes = confirm(window, question);
	watchdog_resume(paused);
	return yes;
}

int ui_pick_pool(struct window *win, const struct pool_list *pools)
{
	int sel = 0, count = (int)pools->count, top = 90;
	for (;;) {
		int w, h;
		uint32_t *px = window_canvas(win, &w, &h);
		if (!px)
			return -1;
		clear(px, w, h);
		text_draw(px, w, h, 40, 50, "Choose a desktop pool (arrow keys and Enter, or a click):", TITLE, true);
		for (int i = 0; i < count; i++) {
			char row[POOL_NAME_MAX + 32];
			snprintf(row, sizeof(row), "%s   (%s)", pools->pools[i].name,
				 pool_state_name(pools->pools[i].state));
			if (i == sel)
				fill(px, w, h, 32, top + i * ROW_H, w - 64, ROW_H, HIGHLIGHT);
			text_draw(px, w, h, 44, top + i * ROW_H + 19, row, i == sel ? TITLE : TEXT, false);
		}
		window_show_canvas(win);
		SDL_Event ev;
		if (!SDL_WaitEvent(&ev) || ev.type == SDL_QUIT)
			return -1;
		if (window_chord(win, &ev))
			continue;
		if (ev.type == SDL_KEYDOWN) {
			SDL_Keycode k = ev.key.keysym.sym;
			if (k == SDLK_UP && sel > 0)
				sel--;
			else if (k == SDLK_DOWN && sel + 1 < count)
				sel++;
			else if (k == SDLK_RETURN || k == SDLK_KP_ENTER)
				return sel;
		} else if (ev.type == SDL_MOUSEBUTTONUP && ev.button.button == SDL_BUTTON_LEFT) {
			int row = (ev.button.y - top) / ROW_H;
			if (ev.button.y >= top && row < count)
				return row;
		}
	}
}

struct field {
	const char *label;
	char *text;
	size_t size;
	bool secret;
};

static void draw_connect(struct window *win, const struct field *f, int nf, int focus, const char *error)
{
	int w, h;
	uint32_t *px = window_canvas(win, &w, &h);
	if (!px)
		return;
	clear(px, w, h);
	int x = w / 2 - 200, y = h / 2 - 110;
	text_draw(px, w, h, x, y, "Connect to a vdi desktop", TITLE, true);
	for (int i = 0; i < nf; i++) {
		int fy = y + 40 + i * 56;
		text_draw(px, w, h, x, fy, f[i].label, TEXT, false);
		fill(px, w, h, x, fy + 6, 400, 26, i == focus ? HIGHLIGHT : 0x303a44);
		char shown[CLIENT_PASS_MAX];
		size_t n = strlen(f[i].text);
		if (f[i].secret) {
			memset(shown, '*', n < sizeof(shown) ? n : sizeof(shown) - 1);
			shown[n < sizeof(shown) ? n : sizeof(shown) - 1] = '\0';
		} else {
			snprintf(shown, sizeof(shown), "%s", f[i].text);
		}
		text_draw(px, w, h, x + 6, fy + 25, shown, TITLE, false);
	}
	text_draw(px, w, h, x, y + 40 + nf * 56, "Tab: next field, Enter: connect", TEXT, false);
	if (error && *error)
		draw_wrapped(px, w, h, x, y + 70 + nf * 56, w - x - 24, error, ERROR);
	window_show_canvas(win);
}

int ui_connect_screen(struct window *win, struct client_opts *o, const char *why)
{
	char server[CLIENT_URL_MAX] = "";
	if (o->host[0])
		client_format_url(o, server, sizeof(server));
	struct field f[] = {
	    {"Server ([rdp|vnc]://HOST[:PORT] or vdi://HOST[/POOL])", server, sizeof(server), false},
	    {"User name", o->user, sizeof(o->user), false},
	    {"Password", o->password, sizeof(o->password), true},
	};
	int nf = 3, focus = !server[0] ? 0 : !o->user[0] ? 1 : 2;
	char error[CLIENT_URL_MAX + 600];
	snprintf(error, sizeof(error), "%s", why ? why : "");
	SDL_StartTextInput();
	for (;;) {
		draw_connect(win, f, nf, focus, error);
		SDL_Event ev;
		if (!SDL_WaitEvent(&ev) || ev.type == SDL_QUIT) {
			SDL_StopTextInput();
			return -1;
		}
		if (window_chord(win, &ev))
			continue;
		if (ev.type == SDL_TEXTINPUT) {
			size_t n = strlen(f[focus].text), add = strlen(ev.text.text);
			if (n + add < f[focus].size)
				memcpy(f[focus].text + n, ev.text.text, add + 1);
		} else if (ev.type == SDL_KEYDOWN) {
			SDL_Keycode k = ev.key.keysym.sym;
			size_t n = strlen(f[focus].text);
			if (k == SDLK_BACKSPACE && n) {
				f[focus].text[n - 1] = '\0';
			} else if (k == SDLK_TAB || k == SDLK_DOWN) {
				focus = (focus + ((ev.key.keysym.mod & KMOD_SHIFT) ? nf - 1 : 1)) % nf;
			} else if (k == SDLK_UP) {
				focus = (focus + nf - 1) % nf;
			} else if (k == SDLK_RETURN || k == SDLK_KP_ENTER) {
				if (client_parse_url(server, o) < 0)
					snprintf(error, sizeof(error), "'%s' is not a server address", server);
				else if (!o->user[0])
					snprintf(error, sizeof(error), "a user name is needed");
				else
					break;
			}
		}
	}
	SDL_StopTextInput();
	o->have_password = true;
	return 0;
}
