/* print.c — a small printf for the guest's log lines. Each call prints one
 * whole line, "vdi-guest: " + the formatted text + "\n", under the serial
 * lock. Control and non-ASCII characters in %s/%c arguments print as '?', so
 * a string from outside (the command line) cannot break the line format. */
#include <stdarg.h>

#include "guest.h"

#define LOG_PREFIX "vdi-guest: "

struct conversion {
	bool zero_pad;
	unsigned width;
	int precision; /* -1: none */
	int length;    /* 0: int, 1: long, 2: long long, 3: size_t */
};

static void put_safe_char(char c)
{
	serial_putc(c >= 0x20 && c < 0x7f ? c : '?');
}

static void put_padding(char c, unsigned n)
{
	while (n--)
		serial_putc(c);
}

static void put_string(const char *s, const struct conversion *conv)
{
	if (!s)
		s = "(null)";
	size_t len = 0;
	while (s[len] && (conv->precision < 0 || len < (size_t)conv->precision))
		len++;
	if (conv->width > len)
		put_padding(' ', conv->width - (unsigned)len);
	for (size_t i = 0; i < len; i++)
		put_safe_char(s[i]);
}

static void put_number(uint64_t value, unsigned base, bool negative, const struct conversion *conv)
{
	static const char digits[] = "0123456789abcdef";
	char buf[20]; /* 2^64-1 has 20 decimal digits */
	unsigned n = 0;
	do {
		buf[n++] = digits[value % base];
		value /= base;
	} while (value);

	unsigned len = n + (negative ? 1 : 0);
	unsigned pad = conv->width > len ? conv->width - len : 0;
	if (!conv->zero_pad)
		put_padding(' ', pad);
	if (negative)
		serial_putc('-');
	if (conv->zero_pad)
		put_padding('0', pad);
	while (n)
		serial_putc(buf[--n]);
}

static uint64_t take_unsigned(va_list *ap, int length)
{
	switch (length) {
	case 0:
		return va_arg(*ap, unsigned int);
	case 1:
		return va_arg(*ap, unsigned long);
	case 2:
		return va_arg(*ap, unsigned long long);
	default:
		return va_arg(*ap, size_t);
	}
}

static int64_t take_signed(va_list *ap, int length)
{
	switch (length) {
	case 0:
		return va_arg(*ap, int);
	case 1:
		return va_arg(*ap, long);
	case 2:
		return va_arg(*ap, long long);
	default:
		return (int64_t)va_arg(*ap, size_t);
	}
}

static void format(const char *fmt, va_list *ap)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			serial_putc(*p);
			continue;
		}
		struct conversion conv = {.precision = -1};
		p++;
		if (*p == '0') {
			conv.zero_pad = true;
			p++;
		}
		while (*p >= '0' && *p <= '9')
			conv.width = conv.width * 10 + (unsigned)(*p++ - '0');
		if (p[0] == '.' && p[1] == '*') {
			int precision = va_arg(*ap, int);
			conv.precision = precision < 0 ? -1 : precision;
			p += 2;
		}
		if (*p == 'l') {
			conv.length = 1;
			if (*++p == 'l') {
				conv.length = 2;
				p++;
			}
		} else if (*p == 'z') {
			conv.length = 3;
			p++;
		}
		switch (*p) {
		case 'd': {
			int64_t v = take_signed(ap, conv.length);
			put_number(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, v < 0, &conv);
			break;
		}
		case 'u':
			put_number(take_unsigned(ap, conv.length), 10, false, &conv);
			break;
		case 'x':
			put_number(take_unsigned(ap, conv.length), 16, false, &conv);
			break;
		case 'p':
			serial_putc('0');
			serial_putc('x');
			put_number((uintptr_t)va_arg(*ap, void *), 16, false, &conv);
			break;
		case 's':
			put_string(va_arg(*ap, const char *), &conv);
			break;
		case 'c':
			put_safe_char((char)va_arg(*ap, int));
			break;
		case '%':
			serial_putc('%');
			break;
		default:
			/* Not a conversion we know: show it rather than guess at args. */
			serial_putc('%');
			if (!*p)
				return;
			serial_putc(*p);
			break;
		}
	}
}

void guest_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	serial_lock();
	for (const char *p = LOG_PREFIX; *p; p++)
		serial_putc(*p);
	format(fmt, &ap);
	serial_putc('\n');
	serial_unlock();
	va_end(ap);
}
