/* keymap.c — evdev key codes to characters on a US keyboard, with both
 * shift keys and caps lock (which, as on a PC, affects only letters), and
 * control with a letter as its ASCII control character (Ctrl+G: BEL). */
#include "desktop.h"

#define KEY_BACKSPACE  14
#define KEY_TAB        15
#define KEY_ENTER      28
#define KEY_LEFTCTRL   29
#define KEY_RIGHTCTRL  97
#define KEY_LEFTSHIFT  42
#define KEY_RIGHTSHIFT 54
#define KEY_CAPSLOCK   58
#define KEY_KPENTER    96

struct key_chars {
	char plain, shifted;
};

/* Indexed by evdev code; the keypad's operators (55, 74, 78, 98) type the same
 * with or without num lock, so they need no num lock state. */
static const struct key_chars us_keys[] = {
    [2] = {'1', '!'},   [3] = {'2', '@'},  [4] = {'3', '#'},  [5] = {'4', '$'},  [6] = {'5', '%'},   [7] = {'6', '^'},
    [8] = {'7', '&'},   [9] = {'8', '*'},  [10] = {'9', '('}, [11] = {'0', ')'}, [12] = {'-', '_'},  [13] = {'=', '+'},
    [16] = {'q', 'Q'},  [17] = {'w', 'W'}, [18] = {'e', 'E'}, [19] = {'r', 'R'}, [20] = {'t', 'T'},  [21] = {'y', 'Y'},
    [22] = {'u', 'U'},  [23] = {'i', 'I'}, [24] = {'o', 'O'}, [25] = {'p', 'P'}, [26] = {'[', '{'},  [27] = {']', '}'},
    [30] = {'a', 'A'},  [31] = {'s', 'S'}, [32] = {'d', 'D'}, [33] = {'f', 'F'}, [34] = {'g', 'G'},  [35] = {'h', 'H'},
    [36] = {'j', 'J'},  [37] = {'k', 'K'}, [38] = {'l', 'L'}, [39] = {';', ':'}, [40] = {'\'', '"'}, [41] = {'`', '~'},
    [43] = {'\\', '|'}, [44] = {'z', 'Z'}, [45] = {'x', 'X'}, [46] = {'c', 'C'}, [47] = {'v', 'V'},  [48] = {'b', 'B'},
    [49] = {'n', 'N'},  [50] = {'m', 'M'}, [51] = {',', '<'}, [52] = {'.', '>'}, [53] = {'/', '?'},  [55] = {'*', '*'},
    [57] = {' ', ' '},  [74] = {'-', '-'}, [78] = {'+', '+'}, [98] = {'/', '/'},
};

char keymap_event(struct keymap *k, uint16_t code, int32_t value)
{
	bool pressed = value != 0; /* 1 press, 2 autorepeat */
	switch (code) {
	case KEY_LEFTSHIFT:
		k->shift_left = pressed;
		return 0;
	case KEY_LEFTCTRL:
		k->ctrl_left = pressed;
		return 0;
	case KEY_RIGHTCTRL:
		k->ctrl_right = pressed;
		return 0;
	case KEY_RIGHTSHIFT:
		k->shift_right = pressed;
		return 0;
	case KEY_CAPSLOCK:
		if (value == 1)
			k->caps_lock = !k->caps_lock;
		return 0;
	default:
		break;
	}
	if (!pressed)
		return 0;
	switch (code) {
	case KEY_ENTER:
	case KEY_KPENTER:
		return '\n';
	case KEY_BACKSPACE:
		return '\b';
	case KEY_TAB:
		return '\t';
	default:
		break;
	}
	if (code >= sizeof(us_keys) / sizeof(us_keys[0]))
		return 0;
	struct key_chars kc = us_keys[code];
	if (k->ctrl_left || k->ctrl_right)
		return kc.plain >= 'a' && kc.plain <= 'z' ? (char)(kc.plain & 0x1f) : 0;
	bool shift = k->shift_left || k->shift_right;
	if (kc.plain >= 'a' && kc.plain <= 'z')
		shift ^= k->caps_lock;
	return shift ? kc.shifted : kc.plain;
}
