/* test_keysym.c — display/keysym.c: keysyms to evdev codes on a US layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/display.h"

#include <linux/input-event-codes.h>

static void expect_key(uint32_t keysym, int code, bool shift)
{
	bool got = !shift;
	assert_int_equal(keysym_to_evdev(keysym, &got), code);
	assert_int_equal(got, shift);
}

static void test_letters_and_digits(void **state)
{
	(void)state;
	expect_key('a', KEY_A, false);
	expect_key('q', KEY_Q, false);
	expect_key('z', KEY_Z, false);
	expect_key('A', KEY_A, true);
	expect_key('M', KEY_M, true);
	expect_key('0', KEY_0, false);
	expect_key('1', KEY_1, false);
	expect_key('9', KEY_9, false);
	expect_key(' ', KEY_SPACE, false);
}

static void test_punctuation(void **state)
{
	(void)state;
	expect_key('!', KEY_1, true);
	expect_key('@', KEY_2, true);
	expect_key('#', KEY_3, true);
	expect_key('^', KEY_6, true);
	expect_key('(', KEY_9, true);
	expect_key(')', KEY_0, true);
	expect_key('-', KEY_MINUS, false);
	expect_key('_', KEY_MINUS, true);
	expect_key('=', KEY_EQUAL, false);
	expect_key('+', KEY_EQUAL, true);
	expect_key('[', KEY_LEFTBRACE, false);
	expect_key('{', KEY_LEFTBRACE, true);
	expect_key('\\', KEY_BACKSLASH, false);
	expect_key('|', KEY_BACKSLASH, true);
	expect_key(';', KEY_SEMICOLON, false);
	expect_key(':', KEY_SEMICOLON, true);
	expect_key('\'', KEY_APOSTROPHE, false);
	expect_key('"', KEY_APOSTROPHE, true);
	expect_key(',', KEY_COMMA, false);
	expect_key('<', KEY_COMMA, true);
	expect_key('.', KEY_DOT, false);
	expect_key('>', KEY_DOT, true);
	expect_key('/', KEY_SLASH, false);
	expect_key('?', KEY_SLASH, true);
	expect_key('`', KEY_GRAVE, false);
	expect_key('~', KEY_GRAVE, true);
}

/* Every printable ASCII character has a key. */
static void test_all_printable(void **state)
{
	(void)state;
	for (uint32_t c = 0x20; c < 0x7f; c++) {
		bool shift;
		assert_true(keysym_to_evdev(c, &shift) > 0);
	}
}

static void test_special_keys(void **state)
{
	(void)state;
	expect_key(0xff08, KEY_BACKSPACE, false);
	expect_key(0xff09, KEY_TAB, false);
	expect_key(0xfe20, KEY_TAB, true);
	expect_key(0xff0d, KEY_ENTER, false);
	expect_key(0xff1b, KEY_ESC, false);
	expect_key(0xffff, KEY_DELETE, false);
	expect_key(0xff50, KEY_HOME, false);
	expect_key(0xff51, KEY_LEFT, false);
	expect_key(0xff52, KEY_UP, false);
	expect_key(0xff53, KEY_RIGHT, false);
	expect_key(0xff54, KEY_DOWN, false);
	expect_key(0xff55, KEY_PAGEUP, false);
	expect_key(0xff56, KEY_PAGEDOWN, false);
	expect_key(0xff57, KEY_END, false);
	expect_key(0xff63, KEY_INSERT, false);
	expect_key(0xffbe, KEY_F1, false);
	expect_key(0xffc7, KEY_F10, false);
	expect_key(0xffc9, KEY_F12, false);
	expect_key(0xffe1, KEY_LEFTSHIFT, false);
	expect_key(0xffe2, KEY_RIGHTSHIFT, false);
	expect_key(0xffe3, KEY_LEFTCTRL, false);
	expect_key(0xffe4, KEY_RIGHTCTRL, false);
	expect_key(0xffe9, KEY_LEFTALT, false);
	expect_key(0xffea, KEY_RIGHTALT, false);
	expect_key(0xffeb, KEY_LEFTMETA, false);
	expect_key(0xffec, KEY_RIGHTMETA, false);
	expect_key(0xffe7, KEY_LEFTMETA, false);
	expect_key(0xffe5, KEY_CAPSLOCK, false);
	expect_key(0xff7f, KEY_NUMLOCK, false);
	expect_key(0xfe03, KEY_RIGHTALT, false);
	expect_key(0xff8d, KEY_KPENTER, false);
	expect_key(0xffb0, KEY_KP0, false);
	expect_key(0xffb9, KEY_KP9, false);
	expect_key(0xffab, KEY_KPPLUS, false);
	expect_key(0xffad, KEY_KPMINUS, false);
	expect_key(0xffaa, KEY_KPASTERISK, false);
	expect_key(0xffaf, KEY_KPSLASH, false);
	expect_key(0xffae, KEY_KPDOT, false);
}

static void test_unknown(void **state)
{
	(void)state;
	expect_key(0, -1, false);
	expect_key(0x1f, -1, false);
	expect_key(0x7f, -1, false);
	expect_key(0xe9, -1, false); /* é: not on a US keyboard */
	expect_key(0x20ac, -1, false);
	expect_key(0xffffffff, -1, false);
	assert_int_equal(keysym_to_evdev('a', NULL), KEY_A);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_letters_and_digits),
	    cmocka_unit_test(test_punctuation),
	    cmocka_unit_test(test_all_printable),
	    cmocka_unit_test(test_special_keys),
	    cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
