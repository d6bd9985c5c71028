/* events.c — the window's events turned into what a session sends: keys (scancode and keysym), the pointer
 * with its buttons, the wheel on both axes, a settled window size; Ctrl+Alt+Enter toggles full screen. */
#include "client.h"

#include <SDL2/SDL.h>

#define RESIZE_SETTLE_MS 300

bool window_chord(struct window *w, const void *event)
{
	const SDL_Event *ev = event;
	if (ev->type != SDL_KEYDOWN && ev->type != SDL_KEYUP)
		return false;
	const SDL_KeyboardEvent *k = &ev->key;
	bool ctrl = k->keysym.mod & KMOD_CTRL, alt = k->keysym.mod & KMOD_ALT;
	if ((k->keysym.scancode != SDL_SCANCODE_RETURN && k->keysym.scancode != SDL_SCANCODE_KP_ENTER) || !ctrl || !alt)
		return false;
	if (k->type == SDL_KEYDOWN && !k->repeat)
		window_toggle_fullscreen(w);
	return true;
}

static void key_event(struct window *w, struct input_sink *s, const SDL_Event *ev)
{
	const SDL_KeyboardEvent *k = &ev->key;
	bool down = k->type == SDL_KEYDOWN;
	if (window_chord(w, ev))
		return;
	uint32_t sc = keymap_scancode(k->keysym.scancode);
	uint32_t sym = keymap_keysym(k->keysym.sym, (k->keysym.mod & KMOD_SHIFT) != 0);
	if (sc || sym)
		s->key(s->arg, sc, sym, down);
}

static int wheel_clicks(float v)
{
	return v > 0 ? (v < 1 ? 1 : (int)v) : v < 0 ? (v > -1 ? -1 : (int)v) : 0;
}

int window_poll(struct window *w, struct input_sink *s, int timeout_ms)
{
	SDL_Event ev;
	int got = timeout_ms > 0 ? SDL_WaitEventTimeout(&ev, timeout_ms) : SDL_PollEvent(&ev);
	while (got) {
		switch (ev.type) {
		case SDL_QUIT:
			return 1;
		case SDL_WINDOWEVENT:
			if (ev.window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
				s->pending_resize = true;
				s->resize_at = SDL_GetTicks() + RESIZE_SETTLE_MS;
			} else if (ev.window.event == SDL_WINDOWEVENT_EXPOSED) {
				window_present(w);
			}
			break;
		case SDL_KEYDOWN:
		case SDL_KEYUP:
			key_event(w, s, &ev);
			break;
		case SDL_MOUSEMOTION:
			s->pointer(s->arg, ev.motion.x, ev.motion.y, s->buttons, 0);
			break;
		case SDL_MOUSEBUTTONDOWN:
		case SDL_MOUSEBUTTONUP: {
			if (ev.button.button < SDL_BUTTON_LEFT || ev.button.button > SDL_BUTTON_RIGHT)
				break;
			/* 1 left, 2 middle, 4 right: RFB's button mask. */
			uint32_t bit = 1u << (ev.button.button - 1);
			s->buttons = ev.type == SDL_MOUSEBUTTONDOWN ? s->buttons | bit : s->buttons & ~bit;
			s->pointer(s->arg, ev.button.x, ev.button.y, s->buttons, bit);
			break;
		}
		case SDL_MOUSEWHEEL: {
			int flip = ev.wheel.direction == SDL_MOUSEWHEEL_FLIPPED ? -1 : 1;
			int dy = wheel_clicks(ev.wheel.preciseY) * flip, dx = wheel_clicks(ev.wheel.preciseX) * flip;
			if (dx || dy)
				s->wheel(s->arg, dx, dy);
			break;
		}
		default:
			break;
		}
		got = SDL_PollEvent(&ev);
	}
	if (s->pending_resize && SDL_TICKS_PASSED(SDL_GetTicks(), s->resize_at)) {
		s->pending_resize = false;
		uint32_t width, height;
		window_size(w, &width, &height);
		if (s->resize)
			s->resize(s->arg, width, height);
	}
	return 0;
}
