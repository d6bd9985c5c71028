/* keysym.c — X11/RFB keysyms to Linux evdev key codes for a US keyboard,
 * the layout the guests are told they have. */
#include "display.h"

#include <linux/input-event-codes.h>

struct keysym_key {
	uint16_t code;
	bool shift;
};

/* Printable ASCII, indexed by character - 0x20: the key a US keyboard has
 * for it and whether Shift is held to get it. */
static const struct keysym_key keysym_ascii[0x7f - 0x20] = {
    [' ' - 0x20] = {KEY_SPACE, false},      ['!' - 0x20] = {KEY_1, true},
    ['"' - 0x20] = {KEY_APOSTROPHE, true},  ['#' - 0x20] = {KEY_3, true},
    ['$' - 0x20] = {KEY_4, true},           ['%' - 0x20] = {KEY_5, true},
    ['&' - 0x20] = {KEY_7, true},           ['\'' - 0x20] = {KEY_APOSTROPHE, false},
    ['(' - 0x20] = {KEY_9, true},           [')' - 0x20] = {KEY_0, true},
    ['*' - 0x20] = {KEY_8, true},           ['+' - 0x20] = {KEY_EQUAL, true},
    [',' - 0x20] = {KEY_COMMA, false},      ['-' - 0x20] = {KEY_MINUS, false},
    ['.' - 0x20] = {KEY_DOT, false},        ['/' - 0x20] = {KEY_SLASH, false},
    ['0' - 0x20] = {KEY_0, false},          ['1' - 0x20] = {KEY_1, false},
    ['2' - 0x20] = {KEY_2, false},          ['3' - 0x20] = {KEY_3, false},
    ['4' - 0x20] = {KEY_4, false},          ['5' - 0x20] = {KEY_5, false},
    ['6' - 0x20] = {KEY_6, false},          ['7' - 0x20] = {KEY_7, false},
    ['8' - 0x20] = {KEY_8, false},          ['9' - 0x20] = {KEY_9, false},
    [':' - 0x20] = {KEY_SEMICOLON, true},   [';' - 0x20] = {KEY_SEMICOLON, false},
    ['<' - 0x20] = {KEY_COMMA, true},       ['=' - 0x20] = {KEY_EQUAL, false},
    ['>' - 0x20] = {KEY_DOT, true},         ['?' - 0x20] = {KEY_SLASH, true},
    ['@' - 0x20] = {KEY_2, true},           ['A' - 0x20] = {KEY_A, true},
    ['B' - 0x20] = {KEY_B, true},           ['C' - 0x20] = {KEY_C, true},
    ['D' - 0x20] = {KEY_D, true},           ['E' - 0x20] = {KEY_E, true},
    ['F' - 0x20] = {KEY_F, true},           ['G' - 0x20] = {KEY_G, true},
    ['H' - 0x20] = {KEY_H, true},           ['I' - 0x20] = {KEY_I, true},
    ['J' - 0x20] = {KEY_J, true},           ['K' - 0x20] = {KEY_K, true},
    ['L' - 0x20] = {KEY_L, true},           ['M' - 0x20] = {KEY_M, true},
    ['N' - 0x20] = {KEY_N, true},           ['O' - 0x20] = {KEY_O, true},
    ['P' - 0x20] = {KEY_P, true},           ['Q' - 0x20] = {KEY_Q, true},
    ['R' - 0x20] = {KEY_R, true},           ['S' - 0x20] = {KEY_S, true},
    ['T' - 0x20] = {KEY_T, true},           ['U' - 0x20] = {KEY_U, true},
    ['V' - 0x20] = {KEY_V, true},           ['W' - 0x20] = {KEY_W, true},
    ['X' - 0x20] = {KEY_X, true},           ['Y' - 0x20] = {KEY_Y, true},
    ['Z' - 0x20] = {KEY_Z, true},           ['[' - 0x20] = {KEY_LEFTBRACE, false},
    ['\\' - 0x20] = {KEY_BACKSLASH, false}, [']' - 0x20] = {KEY_RIGHTBRACE, false},
    ['^' - 0x20] = {KEY_6, true},           ['_' - 0x20] = {KEY_MINUS, true},
    ['`' - 0x20] = {KEY_GRAVE, false},      ['a' - 0x20] = {KEY_A, false},
    ['b' - 0x20] = {KEY_B, false},          ['c' - 0x20] = {KEY_C, false},
    ['d' - 0x20] = {KEY_D, false},          ['e' - 0x20] = {KEY_E, false},
    ['f' - 0x20] = {KEY_F, false},          ['g' - 0x20] = {KEY_G, false},
    ['h' - 0x20] = {KEY_H, false},          ['i' - 0x20] = {KEY_I, false},
    ['j' - 0x20] = {KEY_J, false},          ['k' - 0x20] = {KEY_K, false},
    ['l' - 0x20] = {KEY_L, false},          ['m' - 0x20] = {KEY_M, false},
    ['n' - 0x20] = {KEY_N, false},          ['o' - 0x20] = {KEY_O, false},
    ['p' - 0x20] = {KEY_P, false},          ['q' - 0x20] = {KEY_Q, false},
    ['r' - 0x20] = {KEY_R, false},          ['s' - 0x20] = {KEY_S, false},
    ['t' - 0x20] = {KEY_T, false},          ['u' - 0x20] = {KEY_U, false},
    ['v' - 0x20] = {KEY_V, false},          ['w' - 0x20] = {KEY_W, false},
    ['x' - 0x20] = {KEY_X, false},          ['y' - 0x20] = {KEY_Y, false},
    ['z' - 0x20] = {KEY_Z, false},          ['{' - 0x20] = {KEY_LEFTBRACE, true},
    ['|' - 0x20] = {KEY_BACKSLASH, true},   ['}' - 0x20] = {KEY_RIGHTBRACE, true},
    ['~' - 0x20] = {KEY_GRAVE, true},
};

/* Keysyms outside printable ASCII: editing, function, modifier and keypad keys. */
static const struct {
	uint32_t keysym;
	uint16_t code;
} keysym_special[] = {
    {0xff08, KEY_BACKSPACE},  {0xff09, KEY_TAB},        {0xff0d, KEY_ENTER},      {0xff13, KEY_PAUSE},
    {0xff14, KEY_SCROLLLOCK}, {0xff15, KEY_SYSRQ},      {0xff1b, KEY_ESC},        {0xffff, KEY_DELETE},
    {0xff50, KEY_HOME},       {0xff51, KEY_LEFT},       {0xff52, KEY_UP},         {0xff53, KEY_RIGHT},
    {0xff54, KEY_DOWN},       {0xff55, KEY_PAGEUP},     {0xff56, KEY_PAGEDOWN},   {0xff57, KEY_END},
    {0xff61, KEY_SYSRQ},      {0xff63, KEY_INSERT},     {0xff67, KEY_COMPOSE},    {0xff7f, KEY_NUMLOCK},
    {0xffbe, KEY_F1},         {0xffbf, KEY_F2},         {0xffc0, KEY_F3},         {0xffc1, KEY_F4},
    {0xffc2, KEY_F5},         {0xffc3, KEY_F6},         {0xffc4, KEY_F7},         {0xffc5, KEY_F8},
    {0xffc6, KEY_F9},         {0xffc7, KEY_F10},        {0xffc8, KEY_F11},        {0xffc9, KEY_F12},
    {0xffe1, KEY_LEFTSHIFT},  {0xffe2, KEY_RIGHTSHIFT}, {0xffe3, KEY_LEFTCTRL},   {0xffe4, KEY_RIGHTCTRL},
    {0xffe5, KEY_CAPSLOCK},   {0xffe7, KEY_LEFTMETA},   {0xffe8, KEY_RIGHTMETA},  {0xffe9, KEY_LEFTALT},
    {0xffea, KEY_RIGHTALT},   {0xffeb, KEY_LEFTMETA},   {0xffec, KEY_RIGHTMETA},  {0xfe03, KEY_RIGHTALT},
    {0xff7e, KEY_RIGHTALT},   {0xff8d, KEY_KPENTER},    {0xffaa, KEY_KPASTERISK}, {0xffab, KEY_KPPLUS},
    {0xffac, KEY_KPCOMMA},    {0xffad, KEY_KPMINUS},    {0xffae, KEY_KPDOT},      {0xffaf, KEY_KPSLASH},
    {0xffb0, KEY_KP0},        {0xffb1, KEY_KP1},        {0xffb2, KEY_KP2},        {0xffb3, KEY_KP3},
    {0xffb4, KEY_KP4},        {0xffb5, KEY_KP5},        {0xffb6, KEY_KP6},        {0xffb7, KEY_KP7},
    {0xffb8, KEY_KP8},        {0xffb9, KEY_KP9},        {0xffbd, KEY_KPEQUAL},    {0xff95, KEY_KP7},
    {0xff96, KEY_KP4},        {0xff97, KEY_KP8},        {0xff98, KEY_KP6},        {0xff99, KEY_KP2},
    {0xff9a, KEY_KP9},        {0xff9b, KEY_KP3},        {0xff9c, KEY_KP1},        {0xff9d, KEY_KP5},
    {0xff9e, KEY_KP0},        {0xff9f, KEY_KPDOT},
};

int keysym_to_evdev(uint32_t keysym, bool *shift)
{
	bool shifted = false;
	int code = -1;
	if (keysym >= 0x20 && keysym < 0x7f) {
		code = keysym_ascii[keysym - 0x20].code;
		shifted = keysym_ascii[keysym - 0x20].shift;
	} else if (keysym == 0xfe20) {
		/* ISO_Left_Tab: what X sends for Shift+Tab */
		code = KEY_TAB;
		shifted = true;
	} else {
		for (size_t i = 0; i < sizeof(keysym_special) / sizeof(keysym_special[0]); i++) {
			if (keysym_special[i].keysym == keysym) {
				code = keysym_special[i].code;
				break;
			}
		}
	}
	if (shift)
		*shift = code >= 0 && shifted;
	return code;
}
