/* window.c — vdi-client's one SDL window (X11 class "vdi-client"): the desktop's picture in a streaming
 * texture updated only where it changed, drawn 1:1 from the top-left corner with a software renderer, the
 * server's cursor, full screen, and a canvas for the client's own text screens. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <SDL2/SDL.h>

struct window {
	SDL_Window *win;
	SDL_Renderer *ren;
	SDL_Texture *desktop; /* the session's picture, XRGB8888 */
	uint32_t desk_w, desk_h;
	SDL_Texture *canvas_tex; /* the client's own screens */
	uint32_t *canvas;
	int canvas_w, canvas_h;
	bool showing_canvas;
	SDL_Cursor *cursor;
	bool fullscreen, kiosk;
	SDL_Rect windowed;    /* where the window was before it went full screen */
	SDL_Texture *overlay; /* a banner over the desktop ("reconnecting"), or NULL */
	int overlay_w, overlay_h;
};

struct window *window_open(const struct client_opts *o, struct client_error *e)
{
	/* SDL reads the class when it creates the window; set before SDL_Init as SDL's own docs ask. */
	setenv("SDL_VIDEO_X11_WMCLASS", "vdi-client", 1);
	SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_PING, "0");
	SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
	SDL_SetHint(SDL_HINT_MOUSE_FOCUS_CLICKTHROUGH, "1");
	if (SDL_Init(SDL_INIT_VIDEO) != 0) {
		client_fail(e, CLIENT_FAILED, "cannot open a window: %s", SDL_GetError());
		return NULL;
	}
	struct window *w = calloc(1, sizeof(*w));
	if (!w) {
		client_fail(e, CLIENT_FAILED, "out of memory");
		SDL_Quit();
		return NULL;
	}
	w->fullscreen = o->fullscreen;
	w->kiosk = o->kiosk;
	Uint32 flags = SDL_WINDOW_RESIZABLE | (o->fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
	int x = SDL_WINDOWPOS_CENTERED, y = SDL_WINDOWPOS_CENTERED, width = (int)o->width, height = (int)o->height;
	SDL_Rect screen;
	if (o->kiosk && SDL_GetDisplayBounds(0, &screen) == 0) {
		/* A kiosk covers the first screen from the start, borderless: thin clients often run an X server
		 * without a window manager, where full screen would otherwise stay a wish. */
		x = screen.x;
		y = screen.y;
		width = screen.w;
		height = screen.h;
		flags |= SDL_WINDOW_BORDERLESS;
	}
	w->win = SDL_CreateWindow("vdi-client", x, y, width, height, flags);
	w->ren = w->win ? SDL_CreateRenderer(w->win, -1, SDL_RENDERER_SOFTWARE) : NULL;
	if (!w->ren) {
		client_fail(e, CLIENT_FAILED, "cannot open a window: %s", SDL_GetError());
		window_close(w);
		return NULL;
	}
	if (o->fullscreen)
		SDL_SetWindowKeyboardGrab(w->win, SDL_TRUE);
	return w;
}

void window_close(struct window *w)
{
	if (!w)
		return;
	if (w->cursor)
		SDL_FreeCursor(w->cursor);
	if (w->overlay)
		SDL_DestroyTexture(w->overlay);
	if (w->desktop)
		SDL_DestroyTexture(w->desktop);
	if (w->canvas_tex)
		SDL_DestroyTexture(w->canvas_tex);
	free(w->canvas);
	if (w->ren)
		SDL_DestroyRenderer(w->ren);
	if (w->win)
		SDL_DestroyWindow(w->win);
	free(w);
	SDL_Quit();
}

void window_size(struct window *w, uint32_t *width, uint32_t *height)
{
	int x = 0, y = 0;
	SDL_GetRendererOutputSize(w->ren, &x, &y);
	*width = x > 0 ? (uint32_t)x : 0;
	*height = y > 0 ? (uint32_t)y : 0;
}

int window_set_desktop_size(struct window *w, uint32_t width, uint32_t height)
{
	w->showing_canvas = false;
	/* A session's picture again: whatever the banner said is over. */
	if (w->overlay) {
		SDL_DestroyTexture(w->overlay);
		w->overlay = NULL;
	}
	if (w->desktop && width == w->desk_w && height == w->desk_h)
		return 0;
	if (w->desktop)
		SDL_DestroyTexture(w->desktop);
	w->desktop =
	    SDL_CreateTexture(w->ren, SDL_PIXELFORMAT_XRGB8888, SDL_TEXTUREACCESS_STREAMING, (int)width, (int)height);
	if (!w->desktop)
		return -ENOMEM;
	SDL_SetTextureBlendMode(w->desktop, SDL_BLENDMODE_NONE);
	w->desk_w = width;
	w->desk_h = height;
	return 0;
}

void window_update(struct window *w, const uint8_t *buf, uint32_t stride, int x, int y, int width, int height)
{
	if (!w->desktop || x < 0 || y < 0 || width <= 0 || height <= 0 || (uint32_t)x >= w->desk_w ||
	    (uint32_t)y >= w->desk_h)
		return;
	if ((uint32_t)width > w->desk_w - (uint32_t)x)
		width = (int)(w->desk_w - (uint32_t)x);
	if ((uint32_t)height > w->desk_h - (uint32_t)y)
		height = (int)(w->desk_h - (uint32_t)y);
	SDL_Rect r = {x, y, width, height};
	SDL_UpdateTexture(w->desktop, &r, buf + (size_t)y * stride + (size_t)x * 4, (int)stride);
}

void window_present(struct window *w)
{
	SDL_SetRenderDrawColor(w->ren, 0, 0, 0, 255);
	SDL_RenderClear(w->ren);
	if (w->showing_canvas && w->canvas_tex) {
		SDL_RenderCopy(w->ren, w->canvas_tex, NULL, NULL);
	} else if (w->desktop) {
		SDL_Rect dst = {0, 0, (int)w->desk_w, (int)w->desk_h};
		SDL_RenderCopy(w->ren, w->desktop, NULL, &dst);
	}
	if (w->overlay) {
		uint32_t ww, wh;
		window_size(w, &ww, &wh);
		SDL_Rect dst = {((int)ww - w->overlay_w) / 2, ((int)wh - w->overlay_h) / 2, w->overlay_w, w->overlay_h};
		SDL_RenderCopy(w->ren, w->overlay, NULL, &dst);
	}
	SDL_RenderPresent(w->ren);
}

/* Full screen both ways: a window manager's (SDL's full-screen desktop mode) and, for an X server without one (thin
 * clients often run none, and then nobody acts on the request), a borderless window over the display it is on. */
void window_toggle_fullscreen(struct window *w)
{
	if (w->kiosk)
		return;
	w->fullscreen = !w->fullscreen;
	SDL_Rect screen;
	if (w->fullscreen) {
		SDL_GetWindowPosition(w->win, &w->windowed.x, &w->windowed.y);
		SDL_GetWindowSize(w->win, &w->windowed.w, &w->windowed.h);
		if (SDL_GetDisplayBounds(SDL_GetWindowDisplayIndex(w->win), &screen) == 0) {
			SDL_SetWindowBordered(w->win, SDL_FALSE);
			SDL_SetWindowPosition(w->win, screen.x, screen.y);
			SDL_SetWindowSize(w->win, screen.w, screen.h);
		}
		SDL_SetWindowFullscreen(w->win, SDL_WINDOW_FULLSCREEN_DESKTOP);
	} else {
		SDL_SetWindowFullscreen(w->win, 0);
		if (w->windowed.w > 0 && w->windowed.h > 0) {
			SDL_SetWindowBordered(w->win, SDL_TRUE);
			SDL_SetWindowSize(w->win, w->windowed.w, w->windowed.h);
			SDL_SetWindowPosition(w->win, w->windowed.x, w->windowed.y);
		}
	}
	SDL_SetWindowKeyboardGrab(w->win, w->fullscreen ? SDL_TRUE : SDL_FALSE);
}

void window_set_cursor(struct window *w, const uint32_t *argb, int width, int height, int hot_x, int hot_y)
{
	if (!argb) {
		SDL_SetCursor(SDL_GetDefaultCursor());
		SDL_ShowCursor(SDL_ENABLE);
		return;
	}
	if (width <= 0 || height <= 0) {
		SDL_ShowCursor(SDL_DISABLE);
		return;
	}
	SDL_Surface *s =
	    SDL_CreateRGBSurfaceWithFormatFrom((void *)argb, width, height, 32, width * 4, SDL_PIXELFORMAT_ARGB8888);
	SDL_Cursor *c = s ? SDL_CreateColorCursor(s, hot_x, hot_y) : NULL;
	SDL_FreeSurface(s);
	if (!c)
		return;
	SDL_SetCursor(c);
	SDL_ShowCursor(SDL_ENABLE);
	if (w->cursor)
		SDL_FreeCursor(w->cursor);
	w->cursor = c;
}

uint32_t *window_canvas(struct window *w, int *width, int *height)
{
	uint32_t ww, wh;
	window_size(w, &ww, &wh);
	if (!w->canvas || (int)ww != w->canvas_w || (int)wh != w->canvas_h) {
		free(w->canvas);
		if (w->canvas_tex)
			SDL_DestroyTexture(w->canvas_tex);
		w->canvas_w = (int)(ww ? ww : 1);
		w->canvas_h = (int)(wh ? wh : 1);
		w->canvas = calloc((size_t)w->canvas_w * w->canvas_h, 4);
		w->canvas_tex = SDL_CreateTexture(w->ren, SDL_PIXELFORMAT_XRGB8888, SDL_TEXTUREACCESS_STREAMING,
						  w->canvas_w, w->canvas_h);
		if (!w->canvas || !w->canvas_tex)
			return NULL;
	}
	*width = w->canvas_w;
	*height = w->canvas_h;
	return w->canvas;
}

void window_show_canvas(struct window *w)
{
	if (!w->canvas || !w->canvas_tex)
		return;
	SDL_UpdateTexture(w->canvas_tex, NULL, w->canvas, w->canvas_w * 4);
	w->showing_canvas = true;
	window_present(w);
}

void window_message(struct window *w, const char *const *lines, size_t n)
{
	int cw, ch;
	uint32_t *px = window_canvas(w, &cw, &ch);
	if (!px)
		return;
	for (size_t i = 0; i < (size_t)cw * ch; i++)
		px[i] = 0x202830;
	int lh = text_line_height() + 6, y = ch / 2 - (int)n * lh / 2 + text_ascent();
	for (size_t i = 0; i < n; i++, y += lh)
		text_draw(px, cw, ch, (cw - text_width(lines[i], i == 0)) / 2, y, lines[i],
			  i == 0 ? 0xffffff : 0xc8d0d8, i == 0);
	window_show_canvas(w);
}

void window_overlay(struct window *w, const char *text)
{
	if (w->overlay) {
		SDL_DestroyTexture(w->overlay);
		w->overlay = NULL;
	}
	if (text) {
		int bw = text_width(text, true) + 48, bh = text_line_height() + 32;
		uint32_t *px = malloc((size_t)bw * bh * 4);
		w->overlay =
		    px ? SDL_CreateTexture(w->ren, SDL_PIXELFORMAT_XRGB8888, SDL_TEXTUREACCESS_STATIC, bw, bh) : NULL;
		if (w->overlay) {
			/* A dark banner with a light frame: plain enough to read on any picture. */
			for (int y = 0; y < bh; y++)
				for (int x = 0; x < bw; x++)
					px[y * bw + x] =
					    x < 2 || y < 2 || x >= bw - 2 || y >= bh - 2 ? 0xe0e4e8 : 0x182030;
			text_draw(px, bw, bh, 24, 16 + text_ascent(), text, 0xffffff, true);
			SDL_UpdateTexture(w->overlay, NULL, px, bw * 4);
			w->overlay_w = bw;
			w->overlay_h = bh;
		}
		free(px);
	}
	window_present(w);
}
