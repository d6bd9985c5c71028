/* control_keys.c — what `vdi-vmm ctl ... type|key` sends: characters and key
 * names as Linux evdev key codes, for a US keyboard layout. */
#include "control.h"

#include <linux/input-event-codes.h>
#include <string.h>
#include <strings.h>

/* Printable ASCII from 0x20: the key, and whether shift is held for it. */
static const struct {
	uint8_t code;
	bool shift;
} control_ascii[95] = {
    [' ' - 32] = {KEY_SPACE, false},      ['!' - 32] = {KEY_1, true},
    ['"' - 32] = {KEY_APOSTROPHE, true},  ['#' - 32] = {KEY_3, true},
    ['$' - 32] = {KEY_4, true},           ['%' - 32] = {KEY_5, true},
    ['&' - 32] = {KEY_7, true},           ['\'' - 32] = {KEY_APOSTROPHE, false},
    ['(' - 32] = {KEY_9, true},           [')' - 32] = {KEY_0, true},
    ['*' - 32] = {KEY_8, true},           ['+' - 32] = {KEY_EQUAL, true},
    [',' - 32] = {KEY_COMMA, false},      ['-' - 32] = {KEY_MINUS, false},
    ['.' - 32] = {KEY_DOT, false},        ['/' - 32] = {KEY_SLASH, false},
    ['0' - 32] = {KEY_0, false},          ['1' - 32] = {KEY_1, false},
    ['2' - 32] = {KEY_2, false},          ['3' - 32] = {KEY_3, false},
    ['4' - 32] = {KEY_4, false},          ['5' - 32] = {KEY_5, false},
    ['6' - 32] = {KEY_6, false},          ['7' - 32] = {KEY_7, false},
    ['8' - 32] = {KEY_8, false},          ['9' - 32] = {KEY_9, false},
    [':' - 32] = {KEY_SEMICOLON, true},   [';' - 32] = {KEY_SEMICOLON, false},
    ['<' - 32] = {KEY_COMMA, true},       ['=' - 32] = {KEY_EQUAL, false},
    ['>' - 32] = {KEY_DOT, true},         ['?' - 32] = {KEY_SLASH, true},
    ['@' - 32] = {KEY_2, true},           ['[' - 32] = {KEY_LEFTBRACE, false},
    ['\\' - 32] = {KEY_BACKSLASH, false}, [']' - 32] = {KEY_RIGHTBRACE, false},
    ['^' - 32] = {KEY_6, true},           ['_' - 32] = {KEY_MINUS, true},
    ['`' - 32] = {KEY_GRAVE, false},      ['{' - 32] = {KEY_LEFTBRACE, true},
    ['|' - 32] = {KEY_BACKSLASH, true},   ['}' - 32] = {KEY_RIGHTBRACE, true},
    ['~' - 32] = {KEY_GRAVE, true},
};

/* Letters in alphabetical order. */
static const uint8_t control_letters[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

int control_key_for_char(char c, bool *shift)
{
	*shift = false;
	if (c >= 'a' && c <= 'z')
		return control_letters[c - 'a'];
	if (c >= 'A' && c <= 'Z') {
		*shift = true;
		return control_letters[c - 'A'];
	}
	if (c == '\n')
		return KEY_ENTER;
	if (c == '\t')
		return KEY_TAB;
	if (c < ' ' || c > '~')
		return -1;
	*shift = control_ascii[c - ' '].shift;
	return control_ascii[c - ' '].code;
}

static const struct {
	const char *name;
	uint16_t code;
} control_key_names[] = {
    {"enter", KEY_ENTER},
    {"return", KEY_ENTER},
    {"backspace", KEY_BACKSPACE},
    {"tab", KEY_TAB},
    {"esc", KEY_ESC},
    {"escape", KEY_ESC},
    {"space", KEY_SPACE},
    {"delete", KEY_DELETE},
    {"insert", KEY_INSERT},
    {"home", KEY_HOME},
    {"end", KEY_END},
    {"pageup", KEY_PAGEUP},
    {"pagedown", KEY_PAGEDOWN},
    {"up", KEY_UP},
    {"down", KEY_DOWN},
    {"left", KEY_LEFT},
    {"right", KEY_RIGHT},
    {"shift", KEY_LEFTSHIFT},
    {"ctrl", KEY_LEFTCTRL},
    {"control", KEY_LEFTCTRL},
    {"alt", KEY_LEFTALT},
    {"altgr", KEY_RIGHTALT},
    {"super", KEY_LEFTMETA},
    {"meta", KEY_LEFTMETA},
    {"capslock", KEY_CAPSLOCK},
    {"f1", KEY_F1},
    {"f2", KEY_F2},
    {"f3", KEY_F3},
    {"f4", KEY_F4},
    {"f5", KEY_F5},
    {"f6", KEY_F6},
    {"f7", KEY_F7},
    {"f8", KEY_F8},
    {"f9", KEY_F9},
    {"f10", KEY_F10},
    {"f11", KEY_F11},
    {"f12", KEY_F12},
    {"printscreen", KEY_SYSRQ},
    {"menu", KEY_COMPOSE},
    {"numlock", KEY_NUMLOCK},
};

int control_key_for_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(control_key_names) / sizeof(control_key_names[0]); i++)
		if (strlen(control_key_names[i].name) == len && !strncasecmp(name, control_key_names[i].name, len))
			return control_key_names[i].code;
	/* One character names its key: "a", "1", "/". */
	bool shift;
	if (len == 1 && name[0] > ' ')
		return control_key_for_char((char)(name[0] >= 'A' && name[0] <= 'Z' ? name[0] - 'A' + 'a' : name[0]),
					    &shift);
	return -1;
}
