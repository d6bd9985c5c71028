/* test_config.c — the INI reader (syntax, errors, typed getters) and
 * vdi-server's configuration schema (defaults, every key, errors, paths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/config.h"
/* vdi-server's schema is part of the vdi-server binary, not of libvdi. */
#include "../../vdi-server/config.h"

#include <limits.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[8192];

static struct cfg_file *parse_ok(const char *text)
{
	struct cfg_file *f = NULL;
	err[0] = '\0';
	int rc = cfg_parse_buffer("t.ini", text, strlen(text), &f, err, sizeof(err));
	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	return f;
}

/* The parse must fail with exactly this message. */
static void parse_fails(const char *text, size_t len, const char *message)
{
	struct cfg_file *f = (struct cfg_file *)1;
	err[0] = '\0';
	assert_int_equal(cfg_parse_buffer("t.ini", text, len, &f, err, sizeof(err)), -EINVAL);
	assert_null(f);
	assert_string_equal(err, message);
}

static void parse_fails_str(const char *text, const char *message)
{
	parse_fails(text, strlen(text), message);
}

static void test_sections_entries_lines(void **state)
{
	(void)state;
	struct cfg_file *f = parse_ok("\xef\xbb\xbf# a comment\n"
				      "; another\n"
				      "\n"
				      "  [server]   # trailing comment\n"
				      "\tbind\t=\t127.0.0.1  \r\n"
				      "empty =\n"
				      "spaced = a b  c\n"
				      "hash = a#b x ;y\n"
				      "cut = value # comment\n"
				      "cut2 = value ; comment\n"
				      "eq = a=b\n"
				      "[ pool:demo ]\n"
				      "size=2\n"
				      "[Kind.x-y_z]\n");
	assert_string_equal(f->name, "t.ini");
	assert_int_equal(f->nsections, 3);
	const struct cfg_section *s = &f->sections[0];
	assert_string_equal(s->name, "server");
	assert_string_equal(s->kind, "server");
	assert_null(s->arg);
	assert_int_equal(s->line, 4);
	assert_int_equal(s->nentries, 7);
	const char *keys[] = {"bind", "empty", "spaced", "hash", "cut", "cut2", "eq"};
	const char *values[] = {"127.0.0.1", "", "a b  c", "a#b x", "value", "value", "a=b"};
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(s->entries[i].key, keys[i]);
		assert_string_equal(s->entries[i].value, values[i]);
		assert_int_equal(s->entries[i].line, 5 + (int)i);
		assert_ptr_equal(s->entries[i].section, s);
	}
	assert_ptr_equal(s->file, f);
	const struct cfg_section *p = cfg_find_section(f, "pool:demo");
	assert_ptr_equal(p, &f->sections[1]);
	assert_string_equal(p->kind, "pool");
	assert_string_equal(p->arg, "demo");
	assert_string_equal(cfg_find_entry(p, "size")->value, "2");
	assert_int_equal(cfg_find_entry(p, "size")->line, 13);
	assert_null(cfg_find_entry(p, "nope"));
	assert_null(cfg_find_section(f, "pool"));
	assert_string_equal(f->sections[2].name, "Kind.x-y_z");
	assert_int_equal(f->sections[2].nentries, 0);
	cfg_free(f);

	/* Nothing at all is a valid, empty file; so is a last line without newline. */
	f = parse_ok("");
	assert_int_equal(f->nsections, 0);
	cfg_free(f);
	f = parse_ok("[a]\nk = v");
	assert_string_equal(f->sections[0].entries[0].value, "v");
	cfg_free(f);
	cfg_free(NULL);
}

static void test_quoting(void **state)
{
	(void)state;
	struct cfg_file *f = parse_ok("[s]\n"
				      "a = \"  keeps # and ; and spaces  \"\n"
				      "b = \"say \\\"hi\\\" C:\\\\dir\"   # comment after the quote\n"
				      "c = \"\"\n"
				      "d = \"x\";comment\n"
				      "e = not \"quoted\" at all\n");
	const struct cfg_section *s = &f->sections[0];
	assert_string_equal(cfg_find_entry(s, "a")->value, "  keeps # and ; and spaces  ");
	assert_string_equal(cfg_find_entry(s, "b")->value, "say \"hi\" C:\\dir");
	assert_string_equal(cfg_find_entry(s, "c")->value, "");
	assert_string_equal(cfg_find_entry(s, "d")->value, "x");
	assert_string_equal(cfg_find_entry(s, "e")->value, "not \"quoted\" at all");
	cfg_free(f);

	parse_fails_str("[s]\na = \"open\n", "t.ini:2: quoted value without its closing '\"'");
	parse_fails_str("[s]\na = \"ends in backslash\\\n", "t.ini:2: quoted value without its closing '\"'");
	parse_fails_str("[s]\na = \"x\\n\"\n", "t.ini:2: unknown escape '\\n' in a quoted value (only \\\" and \\\\)");
	parse_fails_str("[s]\n\na = \"x\" y\n", "t.ini:3: unexpected text after the closing '\"'");
}

static void test_write_value_round_trip(void **state)
{
	(void)state;
	const char *values[] = {"plain",      "with spaces inside",  "",       " lead", "trail ", "a#b", "x ;y",
				"\"quoted\"", "back\\slash \"q\" #", "ünïcödé"};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *buf;
		size_t len;
		FILE *m = open_memstream(&buf, &len);
		fputs("[s]\nk = ", m);
		cfg_write_value(m, values[i]);
		fputc('\n', m);
		fclose(m);
		struct cfg_file *f = parse_ok(buf);
		assert_string_equal(f->sections[0].entries[0].value, values[i]);
		cfg_free(f);
		free(buf);
	}
}

static void test_syntax_errors(void **state)
{
	(void)state;
	parse_fails_str("[s]\njust words\n",
			"t.ini:2: expected [section], key = value, or a # comment; got 'just words'");
	parse_fails_str("[s]\n = value\n", "t.ini:2: empty key before '='");
	parse_fails_str("[s]\nmy key = 1\n", "t.ini:2: invalid key 'my key': use letters, digits, '_', '-' and '.'");
	parse_fails_str("k = v\n[s]\n", "t.ini:1: 'k' is outside any [section]");
	parse_fails_str("[s]\na = 1\nb = 2\n a =3\n", "t.ini:4: [s] a: duplicate key (first set on line 2)");
	/* The same key in two sections is fine. */
	cfg_free(parse_ok("[s]\na = 1\n[t]\na = 1\n"));
	parse_fails_str("[s]\n[pool:x]\n\n[pool:x]\n", "t.ini:4: duplicate section [pool:x] (first on line 2)");
	parse_fails_str("[s\n", "t.ini:1: section header without ']'");
	parse_fails_str("[s] x\n", "t.ini:1: unexpected text after ']'");
	parse_fails_str("[ ]\n", "t.ini:1: empty section name '[]'");
	parse_fails_str("[a b]\n",
			"t.ini:1: invalid section name '[a b]': expected [name] or [kind:NAME] with letters, "
			"digits, '_', '-' and '.'");
	parse_fails_str("[pool:]\n", "t.ini:1: invalid section name '[pool:]': expected [name] or [kind:NAME] with "
				     "letters, digits, '_', '-' and '.'");
	parse_fails_str("[:x]\n", "t.ini:1: invalid section name '[:x]': expected [name] or [kind:NAME] with "
				  "letters, digits, '_', '-' and '.'");
	parse_fails_str("[s]\na = x\x1b[31m\n", "t.ini:2: control character 0x1b at column 6");
	parse_fails_str("[s]\na = b\rc\n", "t.ini:2: control character 0x0d at column 6");
	/* A long but legal key is quoted back only in part. */
	char longkey[300];
	memset(longkey, 'k', sizeof(longkey));
	memcpy(longkey + 200, " x=1", 5);
	parse_fails_str(longkey, "t.ini:1: invalid key '"
				 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
				 "': use letters, digits, '_', '-' and '.'");
}

static void test_byte_limits(void **state)
{
	(void)state;
	/* NUL anywhere: named with its line and column. */
	parse_fails("[s]\nab\0c = 1\n", sizeof("[s]\nab\0c = 1\n") - 1, "t.ini:2: NUL byte at column 3");
	/* Invalid UTF-8: a stray continuation byte, an overlong '/', a surrogate,
	 * a sequence cut short, a code point above U+10FFFF. */
	parse_fails_str("[s]\na = \x80\n", "t.ini:2: invalid UTF-8 at column 5");
	parse_fails_str("[s]\na = \xc0\xaf\n", "t.ini:2: invalid UTF-8 at column 5");
	parse_fails_str("[s]\na = x\xed\xa0\x80\n", "t.ini:2: invalid UTF-8 at column 6");
	parse_fails_str("[s]\na = \xe2\x82\n", "t.ini:2: invalid UTF-8 at column 5");
	parse_fails_str("[s]\na = \xf4\x90\x80\x80\n", "t.ini:2: invalid UTF-8 at column 5");
	struct cfg_file *f = parse_ok("[s]\na = \xe2\x82\xac \xf0\x9f\x96\xa5 \xc3\xa9\n");
	assert_string_equal(f->sections[0].entries[0].value, "€ 🖥 é");
	cfg_free(f);

	/* A line of exactly 4096 bytes is fine (a CR before the newline counts); 4097 is not. */
	size_t n = 4 + 4097 + 4095 + 2;
	char *buf = malloc(n + 1);
	memcpy(buf, "[s]\n", 4);
	memset(buf + 4, 'v', 4096);
	memcpy(buf + 4, "k = ", 4);
	buf[4 + 4096] = '\n';
	memset(buf + 4 + 4097, 'w', 4095);
	memcpy(buf + 4 + 4097, "l = ", 4);
	buf[n - 2] = '\r';
	buf[n - 1] = '\n';
	buf[n] = '\0';
	f = parse_ok(buf);
	assert_int_equal(strlen(cfg_find_entry(&f->sections[0], "k")->value), 4092);
	assert_int_equal(strlen(cfg_find_entry(&f->sections[0], "l")->value), 4091);
	cfg_free(f);
	buf[n - 2] = 'w';
	buf[n - 1] = 'w';
	parse_fails(buf, n, "t.ini:3: line longer than 4096 bytes");
	buf[4 + 4096] = 'v';
	parse_fails(buf, 4 + 4097, "t.ini:2: line longer than 4096 bytes");
	free(buf);

	/* 1 MiB of comments is fine; one byte more is refused, naming the line it falls on. */
	size_t big = CFG_MAX_FILE_BYTES + 1;
	buf = malloc(big);
	memset(buf, '#', big);
	for (size_t i = 99; i < big; i += 100)
		buf[i] = '\n';
	f = NULL;
	assert_int_equal(cfg_parse_buffer("t.ini", buf, big - 1, &f, err, sizeof(err)), 0);
	cfg_free(f);
	char expect[128];
	snprintf(expect, sizeof(expect), "t.ini:%zu: file larger than 1 MiB (1048576 bytes)",
		 (size_t)CFG_MAX_FILE_BYTES / 100 + 1);
	parse_fails(buf, big, expect);
	free(buf);
}

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static char *tmp_path(const char *name)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	return p;
}

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_file(void **state)
{
	(void)state;
	struct cfg_file *f;
	char *p = tmp_path("plain.ini");
	write_file(p, "[s]\nk = v\n");
	assert_int_equal(cfg_parse_file(p, &f, err, sizeof(err)), 0);
	assert_string_equal(f->name, p);
	assert_string_equal(f->sections[0].entries[0].value, "v");
	cfg_free(f);

	char expect[512];
	p = tmp_path("missing.ini");
	assert_int_equal(cfg_parse_file(p, &f, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory", p);
	assert_string_equal(err, expect);
	assert_int_equal(cfg_parse_file(tmpdir, &f, err, sizeof(err)), -EISDIR);

	p = tmp_path("big.ini");
	FILE *fp = fopen(p, "w");
	for (int i = 0; i < 20000; i++)
		fprintf(fp, "# %061d\n", i); /* 64 bytes a line: 1.2 MiB */
	fclose(fp);
	assert_int_equal(cfg_parse_file(p, &f, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:16385: file larger than 1 MiB (1048576 bytes)", p);
	assert_string_equal(err, expect);
}

/* One value in [s] under key k, for the getters. */
static struct cfg_file *value_file(const char *value)
{
	char text[256];
	snprintf(text, sizeof(text), "[s]\n\nk = \"%s\"\n", value);
	return parse_ok(text);
}

#define GETTER_OK(value, call)                                                                                         \
	do {                                                                                                           \
		struct cfg_file *f_ = value_file(value);                                                               \
		const struct cfg_entry *e = &f_->sections[0].entries[0];                                               \
		if ((call) != 0)                                                                                       \
			fail_msg("'%s' refused: %s", value, err);                                                      \
		cfg_free(f_);                                                                                          \
	} while (0)

#define GETTER_FAILS(value, call, message)                                                                             \
	do {                                                                                                           \
		struct cfg_file *f_ = value_file(value);                                                               \
		const struct cfg_entry *e = &f_->sections[0].entries[0];                                               \
		assert_int_equal((call), -EINVAL);                                                                     \
		assert_string_equal(err, message);                                                                     \
		cfg_free(f_);                                                                                          \
	} while (0)

static void test_get_int(void **state)
{
	(void)state;
	long long v = 42;
	GETTER_OK("1", cfg_get_int(e, 1, 1000, &v, err, sizeof(err)));
	assert_int_equal(v, 1);
	GETTER_OK("1000", cfg_get_int(e, 1, 1000, &v, err, sizeof(err)));
	assert_int_equal(v, 1000);
	GETTER_OK("-5", cfg_get_int(e, -5, 5, &v, err, sizeof(err)));
	assert_int_equal(v, -5);
	GETTER_OK("0007", cfg_get_int(e, 0, 10, &v, err, sizeof(err)));
	assert_int_equal(v, 7);
	GETTER_OK("9223372036854775807", cfg_get_int(e, LLONG_MIN, LLONG_MAX, &v, err, sizeof(err)));
	assert_true(v == LLONG_MAX);
	GETTER_OK("-9223372036854775808", cfg_get_int(e, LLONG_MIN, LLONG_MAX, &v, err, sizeof(err)));
	assert_true(v == LLONG_MIN);
	v = 42;
	const char *bad[] = {"0", "1001", "", "+1", "1.0", " 1", "1 ", "0x10", "12abc", "-", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char expect[256];
		snprintf(expect, sizeof(expect), "t.ini:3: [s] k: expected a whole number from 1 to 1000, got '%s'",
			 bad[i]);
		GETTER_FAILS(bad[i], cfg_get_int(e, 1, 1000, &v, err, sizeof(err)), expect);
	}
	GETTER_FAILS("9223372036854775808", cfg_get_int(e, LLONG_MIN, LLONG_MAX, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected a whole number from -9223372036854775808 to 9223372036854775807, got "
		     "'9223372036854775808'");
	assert_int_equal(v, 42); /* untouched on failure */
}

static void test_get_bool(void **state)
{
	(void)state;
	const char *yes[] = {"yes", "true", "on", "1", "YES", "True", "oN"};
	const char *no[] = {"no", "false", "off", "0", "NO", "False"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		int v = 0;
		GETTER_OK(yes[i], cfg_get_bool(e, &v, err, sizeof(err)));
		assert_int_equal(v, 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		int v = 1;
		GETTER_OK(no[i], cfg_get_bool(e, &v, err, sizeof(err)));
		assert_int_equal(v, 0);
	}
	int v = 7;
	GETTER_FAILS("y", cfg_get_bool(e, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected yes or no (or true/false, on/off, 1/0), got 'y'");
	GETTER_FAILS("2", cfg_get_bool(e, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected yes or no (or true/false, on/off, 1/0), got '2'");
	GETTER_FAILS("", cfg_get_bool(e, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected yes or no (or true/false, on/off, 1/0), got ''");
	assert_int_equal(v, 7);
}

static void test_get_duration(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t seconds;
	} ok[] = {{"0", 0},      {"300", 300},        {"300s", 300}, {"10m", 600}, {"2h", 7200},
		  {"1d", 86400}, {"30d", 30 * 86400}, {"0s", 0},     {"0d", 0}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -1;
		GETTER_OK(ok[i].text, cfg_get_duration(e, 0, 30 * 86400, &v, err, sizeof(err)));
		assert_int_equal(v, ok[i].seconds);
	}
	const char *bad[] = {"",
			     "s",
			     "10M",
			     "1w",
			     "1.5h",
			     "-1",
			     "10 m",
			     "1h30m",
			     "31d",
			     "2592001",
			     "99999999999999999999d",
			     "184467440737095516d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char expect[256];
		int64_t v = -1;
		snprintf(expect, sizeof(expect),
			 "t.ini:3: [s] k: expected a duration such as 300s, 10m, 2h or 1d (a number alone is "
			 "seconds) from 0 to 30d, got '%s'",
			 bad[i]);
		GETTER_FAILS(bad[i], cfg_get_duration(e, 0, 30 * 86400, &v, err, sizeof(err)), expect);
		assert_int_equal(v, -1);
	}
	int64_t v;
	GETTER_FAILS("0", cfg_get_duration(e, 1, 3599, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected a duration such as 300s, 10m, 2h or 1d (a number alone is seconds) "
		     "from 1s to 3599s, got '0'");
	char buf[32];
	cfg_format_duration(300, buf, sizeof(buf));
	assert_string_equal(buf, "5m");
	cfg_format_duration(301, buf, sizeof(buf));
	assert_string_equal(buf, "301s");
	cfg_format_duration(7200, buf, sizeof(buf));
	assert_string_equal(buf, "2h");
	cfg_format_duration(172800, buf, sizeof(buf));
	assert_string_equal(buf, "2d");
	cfg_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
}

static void test_get_size(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t mib;
	} ok[] = {{"256", 256},   {"256M", 256}, {"256MiB", 256},  {"2G", 2048},
		  {"2GiB", 2048}, {"16", 16},    {"65536", 65536}, {"64G", 65536}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 0;
		GETTER_OK(ok[i].text, cfg_get_size_mib(e, 16, 65536, &v, err, sizeof(err)));
		assert_int_equal(v, ok[i].mib);
	}
	const char *bad[] = {"15",   "65537", "65G",  "1T", "",  "256MB",
			     "256m", "2g",    "1.5G", "-1", "M", "99999999999999999999G"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char expect[256];
		uint64_t v = 0;
		snprintf(expect, sizeof(expect),
			 "t.ini:3: [s] k: expected a size such as 256M or 2G (a number alone is MiB) from 16M to 64G, "
			 "got '%s'",
			 bad[i]);
		GETTER_FAILS(bad[i], cfg_get_size_mib(e, 16, 65536, &v, err, sizeof(err)), expect);
	}
	uint64_t v;
	GETTER_OK("1T", cfg_get_size_mib(e, 1, UINT64_MAX, &v, err, sizeof(err)));
	assert_int_equal(v, 1024 * 1024);
	GETTER_OK("3TiB", cfg_get_size_mib(e, 1, UINT64_MAX, &v, err, sizeof(err)));
	assert_int_equal(v, 3 * 1024 * 1024);
}

static void test_get_display(void **state)
{
	(void)state;
	unsigned w = 0, h = 0;
	GETTER_OK("1024x768", cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)));
	assert_int_equal(w, 1024);
	assert_int_equal(h, 768);
	GETTER_OK("64x64", cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)));
	assert_int_equal(w, 64);
	GETTER_OK("8192x4096", cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)));
	assert_int_equal(w, 8192);
	assert_int_equal(h, 4096);
	GETTER_OK("4096X8192", cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)));
	assert_int_equal(h, 8192);
	const char *bad[] = {"63x64", "64x63",      "8193x64",    "1024", "1024x",
			     "x768",  "1024x768x2", "1024 x 768", "",     "-1x5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char expect[256];
		snprintf(expect, sizeof(expect),
			 "t.ini:3: [s] k: expected WIDTHxHEIGHT such as 1024x768, each from 64 to 8192, got '%s'",
			 bad[i]);
		GETTER_FAILS(bad[i], cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)), expect);
	}
	GETTER_FAILS("8192x8192", cfg_get_display(e, 64, 8192, 8192ull * 4096, &w, &h, err, sizeof(err)),
		     "t.ini:3: [s] k: 8192x8192 is 67108864 pixels, more than the 33554432 allowed");
	assert_int_equal(w, 4096);
}

static void test_get_enum_string(void **state)
{
	(void)state;
	static const char *const words[] = {"keep", "refresh", "delete", NULL};
	int v = -1;
	GETTER_OK("delete", cfg_get_enum(e, words, &v, err, sizeof(err)));
	assert_int_equal(v, 2);
	GETTER_OK("keep", cfg_get_enum(e, words, &v, err, sizeof(err)));
	assert_int_equal(v, 0);
	GETTER_FAILS("Keep", cfg_get_enum(e, words, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected one of keep, refresh, delete; got 'Keep'");
	GETTER_FAILS("", cfg_get_enum(e, words, &v, err, sizeof(err)),
		     "t.ini:3: [s] k: expected one of keep, refresh, delete; got ''");

	const char *s = NULL;
	GETTER_OK("abc", cfg_get_string(e, 1, 3, &s, err, sizeof(err)));
	GETTER_OK("", cfg_get_string(e, 0, 3, &s, err, sizeof(err)));
	GETTER_FAILS("", cfg_get_string(e, 1, 3, &s, err, sizeof(err)), "t.ini:3: [s] k: needs a value");
	GETTER_FAILS("abcd", cfg_get_string(e, 1, 3, &s, err, sizeof(err)), "t.ini:3: [s] k: longer than 3 bytes");
	GETTER_FAILS("ab", cfg_get_string(e, 3, 9, &s, err, sizeof(err)),
		     "t.ini:3: [s] k: 'ab' is shorter than 3 bytes");
}

/* Schema: a configuration from text, its relative paths from tmpdir. */
static struct vdi_config *load_ok(const char *text)
{
	struct vdi_config *c = NULL;
	err[0] = '\0';
	int rc = vdi_config_load_buffer("vdi.ini", text, strlen(text), tmpdir, &c, err, sizeof(err));
	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	return c;
}

static void load_fails(const char *text, const char *message)
{
	struct vdi_config *c = (struct vdi_config *)1;
	err[0] = '\0';
	int rc = vdi_config_load_buffer("vdi.ini", text, strlen(text), tmpdir, &c, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("'%s' loaded (rc %d) where '%s' was expected", text, rc, message);
	assert_null(c);
	assert_string_equal(err, message);
}

static void test_embedded_default(void **state)
{
	(void)state;
	struct vdi_config *c = NULL;
	assert_int_equal(vdi_config_load(NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c->source, "(embedded default)");
	assert_string_equal(c->data_dir, "./vdi-data");
	assert_string_equal(c->bind, "0.0.0.0");
	assert_int_equal(c->rdp_port, 3389);
	assert_int_equal(c->vnc_port, 5900);
	assert_string_equal(c->tls_cert, "./vdi-data/tls.crt");
	assert_string_equal(c->tls_key, "./vdi-data/tls.key");
	/* vdi-vmm next to the running program (here, the test). */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	strcpy(strrchr(exe, '/') + 1, "vdi-vmm");
	assert_string_equal(c->vmm, exe);
	assert_int_equal(c->greeter_width, 1024);
	assert_int_equal(c->greeter_height, 768);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->auth_backend, VDI_AUTH_FILE);
	assert_string_equal(c->pam_service, "vdi");
	assert_string_equal(c->users_file, "./vdi-data/users");
	assert_int_equal(c->lockout_attempts, 5);
	assert_int_equal(c->lockout_window, 600);
	assert_int_equal(c->lockout_duration, 300);
	assert_int_equal(c->lockout_address_attempts, 20);
	assert_int_equal(c->lockout_user_attempts, 10);
	assert_int_equal(c->lockout_max_duration, 3600);
	assert_int_equal(c->lockout_max_delay, 60);
	assert_int_equal(c->audit_retention, 90 * 86400);
	assert_false(c->admins.everyone);
	assert_int_equal(c->admins.count, 0);
	assert_string_equal(c->admins.text, "");
	assert_true(c->api_enabled);
	assert_string_equal(c->api_addr, "0.0.0.0");
	assert_int_equal(c->api_port, 8443);
	assert_string_equal(c->api_tls_cert, "./vdi-data/tls.crt");
	assert_string_equal(c->api_tls_key, "./vdi-data/tls.key");
	assert_int_equal(c->npools, 1);
	const struct vdi_pool_config *p = vdi_config_pool(c, "demo");
	assert_ptr_equal(p, &c->pools[0]);
	assert_int_equal(p->template, VDI_TEMPLATE_DESKTOP);
	assert_null(p->kernel);
	assert_null(p->initrd);
	assert_null(p->disk);
	assert_null(p->cmdline);
	assert_int_equal(p->vcpus, 1);
	assert_int_equal(p->memory_mib, 256);
	assert_int_equal(p->display_width, 1024);
	assert_int_equal(p->display_height, 768);
	assert_int_equal(p->size, 2);
	assert_int_equal(p->assignment, VDI_ASSIGN_FLOATING);
	assert_int_equal(p->on_logoff, VDI_LOGOFF_KEEP);
	assert_true(p->entitlement.everyone);
	assert_int_equal(p->entitlement.count, 0);
	assert_string_equal(p->entitlement.text, "*");
	assert_int_equal(p->disconnect_timeout, 3600);
	assert_null(vdi_config_pool(c, "nope"));

	/* --data-dir moves every path that follows it. */
	assert_int_equal(vdi_config_set_data_dir(c, "/srv/vdi"), 0);
	assert_string_equal(c->data_dir, "/srv/vdi");
	assert_string_equal(c->tls_cert, "/srv/vdi/tls.crt");
	assert_string_equal(c->tls_key, "/srv/vdi/tls.key");
	assert_string_equal(c->users_file, "/srv/vdi/users");
	assert_string_equal(c->api_tls_cert, "/srv/vdi/tls.crt");
	assert_string_equal(c->api_tls_key, "/srv/vdi/tls.key");
	vdi_config_free(c);

	/* An empty file: the defaults, but no pool. */
	c = load_ok("");
	assert_int_equal(c->npools, 0);
	assert_int_equal(c->rdp_port, 3389);
	vdi_config_free(c);
}

static const char full_example[] = "# Every key, none at its default.\n"
				   "[server]\n"
				   "data_dir = /var/lib/vdi\n"
				   "bind = ::\n"
				   "rdp_port = 13389\n"
				   "vnc_port = 0\n"
				   "vnc_security = tls\n"
				   "tls_cert = /etc/vdi/rdp.crt\n"
				   "tls_key = /etc/vdi/rdp.key\n"
				   "vmm = /usr/libexec/vdi-vmm\n"
				   "greeter_size = 1920x1080\n"
				   "log_level = debug\n"
				   "\n"
				   "[auth]\n"
				   "backend = pam\n"
				   "pam_service = vdi-login\n"
				   "users_file = /etc/vdi/users\n"
				   "lockout_attempts = 3\n"
				   "lockout_window = 15m\n"
				   "lockout_duration = 2h\n"
				   "lockout_max_duration = 1d\n"
				   "lockout_address_attempts = 50\n"
				   "lockout_user_attempts = 7\n"
				   "lockout_max_delay = 2m\n"
				   "admins = root @wheel ops.team@example\n"
				   "\n"
				   "[api]\n"
				   "listen = [::1]:9443\n"
				   "tls_cert = /etc/vdi/api.crt\n"
				   "tls_key = /etc/vdi/api.key\n"
				   "\n"
				   "[audit]\n"
				   "retention = 30d\n"
				   "\n"
				   "[pool:office]\n"
				   "template = desktop\n"
				   "vcpus = 2\n"
				   "memory = 1G\n"
				   "display = 1920x1080\n"
				   "size = 20\n"
				   "assignment = dedicated\n"
				   "on_logoff = refresh\n"
				   "entitlement = @staff alice\n"
				   "disconnect_timeout = 0\n"
				   "\n"
				   "[pool:lab_2]\n"
				   "template = linux\n"
				   "kernel = KERNEL\n"
				   "initrd = INITRD\n"
				   "disk = DISK\n"
				   "cmdline = \"console=ttyS0 quiet # not a comment\"\n"
				   "vcpus = 64\n"
				   "memory = 65536\n"
				   "display = 8192x4096\n"
				   "size = 1000\n"
				   "on_logoff = delete\n"
				   "disconnect_timeout = 365d\n";

/* full_example with its image paths pointing at files that exist. */
static char *full_example_text(void)
{
	if (mkdir(tmp_path("images"), 0700) < 0)
		assert_int_equal(errno, EEXIST);
	write_file(tmp_path("bzImage"), "k");
	write_file(tmp_path("initrd.img"), "i");
	write_file(tmp_path("disk.img"), "d");
	char *t;
	assert_true(asprintf(&t, "%s", full_example) > 0);
	const char *from[] = {"KERNEL", "INITRD", "DISK"}, *to[] = {"bzImage", "images/../initrd.img", "disk.img"};
	for (int i = 0; i < 3; i++) {
		char *at = strstr(t, from[i]), *n;
		assert_true(asprintf(&n, "%.*s%s%s", (int)(at - t), t, to[i], at + strlen(from[i])) > 0);
		free(t);
		t = n;
	}
	return t;
}

static void test_full_example(void **state)
{
	(void)state;
	char *text = full_example_text();
	struct vdi_config *c = load_ok(text);
	assert_string_equal(c->source, "vdi.ini");
	assert_string_equal(c->data_dir, "/var/lib/vdi");
	assert_string_equal(c->bind, "::");
	assert_int_equal(c->rdp_port, 13389);
	assert_int_equal(c->vnc_port, 0);
	assert_true(c->vnc_require_tls);
	assert_string_equal(c->tls_cert, "/etc/vdi/rdp.crt");
	assert_string_equal(c->tls_key, "/etc/vdi/rdp.key");
	assert_string_equal(c->vmm, "/usr/libexec/vdi-vmm");
	assert_int_equal(c->greeter_width, 1920);
	assert_int_equal(c->greeter_height, 1080);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->auth_backend, VDI_AUTH_PAM);
	assert_string_equal(c->pam_service, "vdi-login");
	assert_string_equal(c->users_file, "/etc/vdi/users");
	assert_int_equal(c->lockout_attempts, 3);
	assert_int_equal(c->lockout_window, 900);
	assert_int_equal(c->lockout_duration, 7200);
	assert_int_equal(c->lockout_max_duration, 86400);
	assert_int_equal(c->lockout_address_attempts, 50);
	assert_int_equal(c->lockout_user_attempts, 7);
	assert_int_equal(c->lockout_max_delay, 120);
	assert_int_equal(c->audit_retention, 30 * 86400);
	assert_int_equal(c->admins.count, 3);
	assert_string_equal(c->admins.names[0], "root");
	assert_string_equal(c->admins.names[1], "@wheel");
	assert_string_equal(c->admins.names[2], "ops.team@example");
	assert_string_equal(c->admins.text, "root @wheel ops.team@example");
	assert_true(c->api_enabled);
	assert_string_equal(c->api_addr, "::1");
	assert_int_equal(c->api_port, 9443);
	assert_string_equal(c->api_tls_cert, "/etc/vdi/api.crt");
	assert_string_equal(c->api_tls_key, "/etc/vdi/api.key");
	assert_int_equal(c->npools, 2);
	const struct vdi_pool_config *p = &c->pools[0];
	assert_string_equal(p->name, "office");
	assert_int_equal(p->vcpus, 2);
	assert_int_equal(p->memory_mib, 1024);
	assert_int_equal(p->display_width, 1920);
	assert_int_equal(p->display_height, 1080);
	assert_int_equal(p->size, 20);
	assert_int_equal(p->assignment, VDI_ASSIGN_DEDICATED);
	assert_int_equal(p->on_logoff, VDI_LOGOFF_REFRESH);
	assert_false(p->entitlement.everyone);
	assert_int_equal(p->entitlement.count, 2);
	assert_string_equal(p->entitlement.names[0], "@staff");
	assert_string_equal(p->entitlement.names[1], "alice");
	assert_string_equal(p->entitlement.text, "@staff alice");
	assert_int_equal(p->disconnect_timeout, 0);
	p = vdi_config_pool(c, "lab_2");
	assert_ptr_equal(p, &c->pools[1]);
	assert_int_equal(p->template, VDI_TEMPLATE_LINUX);
	assert_string_equal(p->kernel, tmp_path("bzImage"));
	assert_string_equal(p->initrd, tmp_path("images/../initrd.img"));
	assert_string_equal(p->disk, tmp_path("disk.img"));
	assert_string_equal(p->cmdline, "console=ttyS0 quiet # not a comment");
	assert_int_equal(p->vcpus, 64);
	assert_int_equal(p->memory_mib, 65536);
	assert_int_equal(p->display_width, 8192);
	assert_int_equal(p->display_height, 4096);
	assert_int_equal(p->size, 1000);
	assert_int_equal(p->assignment, VDI_ASSIGN_FLOATING);
	assert_int_equal(p->on_logoff, VDI_LOGOFF_DELETE);
	assert_true(p->entitlement.everyone);
	assert_string_equal(p->entitlement.text, "*");
	assert_int_equal(p->disconnect_timeout, 365 * 86400);

	/* --data-dir leaves the paths the file set alone. */
	assert_int_equal(vdi_config_set_data_dir(c, "elsewhere"), 0);
	assert_string_equal(c->data_dir, "elsewhere");
	assert_string_equal(c->tls_cert, "/etc/vdi/rdp.crt");
	assert_string_equal(c->users_file, "/etc/vdi/users");
	assert_string_equal(c->api_tls_cert, "/etc/vdi/api.crt");
	vdi_config_free(c);
	free(text);
}

/* What --print-config writes loads back to the same configuration. */
static void test_print_round_trip(void **state)
{
	(void)state;
	char *text = full_example_text();
	const char *inputs[] = {text, "[server]\ndata_dir = \"/tmp/odd dir #1\"\n[api]\nlisten = off\n", NULL};
	for (int i = 0; i < 3; i++) {
		struct vdi_config *c = NULL;
		if (inputs[i])
			c = load_ok(inputs[i]);
		else
			assert_int_equal(vdi_config_load(NULL, &c, err, sizeof(err)), 0);
		char *out1, *out2;
		size_t len1, len2;
		FILE *m = open_memstream(&out1, &len1);
		assert_int_equal(vdi_config_print(c, m), 0);
		fclose(m);
		struct vdi_config *c2 = NULL;
		if (vdi_config_load_buffer("printed", out1, len1, NULL, &c2, err, sizeof(err)))
			fail_msg("printed configuration does not load: %s\n%s", err, out1);
		m = open_memstream(&out2, &len2);
		assert_int_equal(vdi_config_print(c2, m), 0);
		fclose(m);
		/* Only the first line, which names the source, differs. */
		assert_string_equal(strchr(out1, '\n'), strchr(out2, '\n'));
		if (i == 1) {
			assert_string_equal(c2->data_dir, "/tmp/odd dir #1");
			assert_false(c2->api_enabled);
			assert_null(c2->api_addr);
			assert_non_null(strstr(out1, "\nlisten = off\n"));
		}
		if (i == 2)
			assert_non_null(strstr(out1, "\n[pool:demo]\ntemplate = desktop\n"));
		vdi_config_free(c);
		vdi_config_free(c2);
		free(out1);
		free(out2);
	}
	free(text);
}

static void test_relative_paths(void **state)
{
	(void)state;
	char dir[300], ini[400], expect[600];
	snprintf(dir, sizeof(dir), "%s/etc", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/etc/img", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(tmp_path("etc/img/vmlinux"), "k");
	snprintf(ini, sizeof(ini), "%s/etc/vdi.ini", tmpdir);
	write_file(ini, "[server]\ndata_dir = state\nvmm = ../bin/vdi-vmm\n"
			"[api]\ntls_cert = api.crt\ntls_key = /abs/api.key\n"
			"[pool:l]\ntemplate = linux\nkernel = img/vmlinux\n");
	struct vdi_config *c = NULL;
	if (vdi_config_load(ini, &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(c->source, ini);
	snprintf(expect, sizeof(expect), "%s/etc/state", tmpdir);
	assert_string_equal(c->data_dir, expect);
	snprintf(expect, sizeof(expect), "%s/etc/state/tls.crt", tmpdir);
	assert_string_equal(c->tls_cert, expect);
	snprintf(expect, sizeof(expect), "%s/etc/state/users", tmpdir);
	assert_string_equal(c->users_file, expect);
	snprintf(expect, sizeof(expect), "%s/etc/../bin/vdi-vmm", tmpdir);
	assert_string_equal(c->vmm, expect);
	snprintf(expect, sizeof(expect), "%s/etc/api.crt", tmpdir);
	assert_string_equal(c->api_tls_cert, expect);
	assert_string_equal(c->api_tls_key, "/abs/api.key");
	snprintf(expect, sizeof(expect), "%s/etc/img/vmlinux", tmpdir);
	assert_string_equal(c->pools[0].kernel, expect);
	/* --data-dir from the command line is taken as given (relative to the working directory). */
	assert_int_equal(vdi_config_set_data_dir(c, "cli-dir"), 0);
	assert_string_equal(c->data_dir, "cli-dir");
	assert_string_equal(c->tls_cert, "cli-dir/tls.crt");
	assert_string_equal(c->users_file, "cli-dir/users");
	snprintf(expect, sizeof(expect), "%s/etc/api.crt", tmpdir);
	assert_string_equal(c->api_tls_cert, expect);
	vdi_config_free(c);

	/* A config file in the working directory: paths start from ".". */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	write_file("here.ini", "[server]\ndata_dir = d\n");
	assert_int_equal(vdi_config_load("here.ini", &c, err, sizeof(err)), 0);
	assert_string_equal(c->data_dir, "./d");
	vdi_config_free(c);
	assert_int_equal(chdir(cwd), 0);

	/* Errors in a file name the file as given. */
	write_file(ini, "[server]\n\nrdp_port = 70000\n");
	assert_int_equal(vdi_config_load(ini, &c, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect),
		 "%s:3: [server] rdp_port: expected a whole number from 0 to 65535, got '70000'", ini);
	assert_string_equal(err, expect);
	snprintf(ini, sizeof(ini), "%s/none.ini", tmpdir);
	assert_int_equal(vdi_config_load(ini, &c, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open: No such file or directory", ini);
	assert_string_equal(err, expect);
	assert_null(c);
}

static void test_schema_errors(void **state)
{
	(void)state;
	/* Syntax errors come through unchanged. */
	load_fails("[server]\nrdp_port\n",
		   "vdi.ini:2: expected [section], key = value, or a # comment; got 'rdp_port'");
	load_fails("[server]\n[server]\n", "vdi.ini:2: duplicate section [server] (first on line 1)");
	/* Unknown sections and keys. */
	load_fails("[servr]\n",
		   "vdi.ini:1: [servr]: unknown section (known: [server], [auth], [api], [audit], [pool:NAME])");
	load_fails("[server:x]\n",
		   "vdi.ini:1: [server:x]: unknown section (known: [server], [auth], [api], [audit], [pool:NAME])");
	load_fails("[server]\nport = 1\n",
		   "vdi.ini:2: [server] port: unknown key (known here: data_dir, bind, rdp_port, vnc_port, "
		   "vnc_security, tls_cert, tls_key, vmm, greeter_size, log_level, power_ops, max_connections, "
		   "max_connections_per_address, new_connections_per_second, admin_addresses, handshake_timeout, "
		   "login_timeout, greeter_timeout)");
	load_fails("[server]\nmax_connections = 0\n",
		   "vdi.ini:2: [server] max_connections: expected a whole number from 1 to 1000000, got '0'");
	load_fails("[server]\nadmin_addresses = ::1 10.0.0.0/33\n",
		   "vdi.ini:2: [server] admin_addresses: '10.0.0.0/33' is not an address or CIDR (such as 10.0.0.5, "
		   "192.168.1.0/24, ::1 or 2001:db8::/48)");
	load_fails("[server]\nhandshake_timeout = 0\n",
		   "vdi.ini:2: [server] handshake_timeout: expected a duration such as 300s, 10m, 2h or 1d (a "
		   "number alone is seconds) from 1s to 1h, got '0'");
	load_fails("[auth]\n\nbackend = file\nlockout = 5\n",
		   "vdi.ini:4: [auth] lockout: unknown key (known here: backend, pam_service, users_file, "
		   "lockout_attempts, lockout_address_attempts, lockout_user_attempts, lockout_window, "
		   "lockout_duration, lockout_max_duration, lockout_max_delay, admins)");
	load_fails("[audit]\nretain = 1d\n", "vdi.ini:2: [audit] retain: unknown key (known here: retention)");
	load_fails("[api]\nport = 1\n",
		   "vdi.ini:2: [api] port: unknown key (known here: listen, tls_cert, tls_key, idle_timeout)");
	load_fails("[pool:a]\nmem = 1\n",
		   "vdi.ini:2: [pool:a] mem: unknown key (known here: template, kernel, initrd, disk, cmdline, vcpus, "
		   "memory, display, size, assignment, on_logoff, entitlement, disconnect_timeout, min, spare, "
		   "schedule, clone, on_disconnect, on_disconnect_after, surplus, surplus_after, idle_timeout, serial, serial_max)");
	/* [server] values. */
	load_fails("[server]\ndata_dir =\n", "vdi.ini:2: [server] data_dir: needs a value");
	load_fails("[server]\nbind = localhost\n",
		   "vdi.ini:2: [server] bind: expected a numeric IPv4 or IPv6 address such as 0.0.0.0 or ::, got "
		   "'localhost'");
	load_fails("[server]\nvnc_port = -1\n",
		   "vdi.ini:2: [server] vnc_port: expected a whole number from 0 to 65535, got '-1'");
	load_fails("[server]\nrdp_port = 5900\n", "vdi.ini:2: [server] rdp_port: port 5900 is used by both rdp_port "
						  "and vnc_port");
	load_fails("[server]\nrdp_port = 7000\nvnc_port = 7000\n",
		   "vdi.ini:3: [server] vnc_port: port 7000 is used by both rdp_port and vnc_port");
	load_fails("[server]\ntls_cert = a.crt\n",
		   "vdi.ini:2: [server] tls_cert: set tls_key as well: a certificate goes with its key");
	load_fails("[api]\ntls_key = a.key\n",
		   "vdi.ini:2: [api] tls_key: set tls_cert as well: a certificate goes with its key");
	load_fails("[server]\ngreeter_size = 32x32\n", "vdi.ini:2: [server] greeter_size: expected WIDTHxHEIGHT such "
						       "as 1024x768, each from 64 to 8192, got '32x32'");
	load_fails("[server]\nlog_level = verbose\n",
		   "vdi.ini:2: [server] log_level: expected one of error, warn, info, debug; got 'verbose'");
	/* [auth] values. */
	load_fails("[auth]\nbackend = ldap\n", "vdi.ini:2: [auth] backend: expected one of file, pam; got 'ldap'");
	load_fails("[auth]\npam_service = ../etc/passwd\n",
		   "vdi.ini:2: [auth] pam_service: expected a PAM service name (a file in /etc/pam.d: letters, digits, "
		   "'.', '_', '-'), got '../etc/passwd'");
	load_fails("[auth]\nlockout_attempts = 0\n",
		   "vdi.ini:2: [auth] lockout_attempts: expected a whole number from 1 to 1000, got '0'");
	load_fails("[auth]\nlockout_attempts = 1001\n",
		   "vdi.ini:2: [auth] lockout_attempts: expected a whole number from 1 to 1000, got '1001'");
	load_fails(
	    "[auth]\nlockout_window = 0\n",
	    "vdi.ini:2: [auth] lockout_window: expected a duration such as 300s, 10m, 2h or 1d (a number alone is "
	    "seconds) from 1s to 30d, got '0'");
	load_fails(
	    "[auth]\nlockout_duration = 5 min\n",
	    "vdi.ini:2: [auth] lockout_duration: expected a duration such as 300s, 10m, 2h or 1d (a number alone "
	    "is seconds) from 1s to 30d, got '5 min'");
	load_fails("[auth]\nadmins = *\n",
		   "vdi.ini:2: [auth] admins: '*' is not a user name or @group (letters, digits, "
		   "'.', '_', '-', '@'; at most 64)");
	load_fails("[auth]\nadmins = bob @ ann\n",
		   "vdi.ini:2: [auth] admins: '@' is not a user name or @group (letters, "
		   "digits, '.', '_', '-', '@'; at most 64)");
	load_fails("[auth]\nadmins = bob;rm\n", "vdi.ini:2: [auth] admins: 'bob;rm' is not a user name or @group "
						"(letters, digits, '.', '_', '-', '@'; at most 64)");
	load_fails("[auth]\nadmins = -x\n", "vdi.ini:2: [auth] admins: '-x' is not a user name or @group (letters, "
					    "digits, '.', '_', '-', '@'; at most 64)");
	load_fails("[auth]\nadmins = bob @ops bob\n", "vdi.ini:2: [auth] admins: 'bob' is listed twice");
	/* [api] values. */
	const char *bad_listen[] = {"0",           "65536",       "localhost:8443", "::1:8443",
				    "[0.0.0.0]:1", "[::1]8443",   "1.2.3.4:",       ":8443",
				    "on",          "1.2.3.4:+80", "[]:80",          "1.2.3.4:99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		char text[128], expect[512];
		snprintf(text, sizeof(text), "[api]\nlisten = %s\n", bad_listen[i]);
		snprintf(expect, sizeof(expect),
			 "vdi.ini:2: [api] listen: expected off, PORT, ADDRESS:PORT or [IPV6-ADDRESS]:PORT with a "
			 "numeric address and a port from 1 to 65535, got '%s'",
			 bad_listen[i]);
		load_fails(text, expect);
	}
	load_fails("[api]\nlisten = 3389\n",
		   "vdi.ini:2: [api] listen: port 3389 is used by both [api] listen and [server] rdp_port");
	load_fails("[server]\nvnc_port = 8443\n",
		   "vdi.ini:2: [server] vnc_port: port 8443 is used by both [api] listen and [server] vnc_port");
	/* [pool:NAME] sections and values. */
	load_fails("[pool]\n", "vdi.ini:1: [pool]: a pool's name is 1 to 32 letters, digits, '_' or '-', not starting "
			       "with '-': [pool:NAME]");
	load_fails("[pool:a.b]\n", "vdi.ini:1: [pool:a.b]: a pool's name is 1 to 32 letters, digits, '_' or '-', not "
				   "starting with '-': [pool:NAME]");
	load_fails(
	    "[pool:abcdefghijabcdefghijabcdefghijabc]\n",
	    "vdi.ini:1: [pool:abcdefghijabcdefghijabcdefghijabc]: a pool's name is 1 to 32 letters, digits, '_' or "
	    "'-', not starting with '-': [pool:NAME]");
	load_fails(
	    "[pool:-rf]\n",
	    "vdi.ini:1: [pool:-rf]: a pool's name is 1 to 32 letters, digits, '_' or '-', not starting with '-': "
	    "[pool:NAME]");
	load_fails("[pool:x]\ntemplate = windows\n",
		   "vdi.ini:2: [pool:x] template: expected one of desktop, linux; got 'windows'");
	load_fails("[pool:x]\ntemplate = linux\nvcpus = 2\n",
		   "vdi.ini:1: [pool:x]: template = linux needs kernel = PATH");
	write_file(tmp_path("k"), "k");
	load_fails("[pool:x]\nkernel = k\n",
		   "vdi.ini:2: [pool:x] kernel: only for template = linux (template desktop is the in-tree guest)");
	load_fails("[pool:x]\ntemplate = desktop\ncmdline = quiet\n",
		   "vdi.ini:3: [pool:x] cmdline: only for template = linux (template desktop is the in-tree guest)");
	char expect[600];
	snprintf(expect, sizeof(expect),
		 "vdi.ini:3: [pool:x] initrd: cannot read %s/no-initrd: No such file or directory", tmpdir);
	load_fails("[pool:x]\ntemplate = linux\ninitrd = no-initrd\nkernel = k\n", expect);
	load_fails("[pool:x]\nvcpus = 65\n",
		   "vdi.ini:2: [pool:x] vcpus: expected a whole number from 1 to 64, got '65'");
	load_fails("[pool:x]\nmemory = 8M\n",
		   "vdi.ini:2: [pool:x] memory: expected a size such as 256M or 2G (a number "
		   "alone is MiB) from 16M to 64G, got '8M'");
	load_fails("[pool:x]\ndisplay = 8192x8192\n",
		   "vdi.ini:2: [pool:x] display: 8192x8192 is 67108864 pixels, more than the 33554432 allowed");
	load_fails("[pool:x]\nsize = 0\n", "vdi.ini:2: [pool:x] size: expected a whole number from 1 to 1000, got '0'");
	load_fails("[pool:x]\nassignment = sticky\n",
		   "vdi.ini:2: [pool:x] assignment: expected one of floating, dedicated; got 'sticky'");
	load_fails("[pool:x]\non_logoff = reset\n",
		   "vdi.ini:2: [pool:x] on_logoff: expected one of keep, refresh, delete; got 'reset'");
	load_fails("[pool:x]\nentitlement =\n",
		   "vdi.ini:2: [pool:x] entitlement: needs user names, @groups, or * for everyone");
	load_fails("[pool:x]\nentitlement = * bob\n",
		   "vdi.ini:2: [pool:x] entitlement: '*' already means everyone: list names or '*', not both");
	load_fails("[pool:x]\nentitlement = @\n",
		   "vdi.ini:2: [pool:x] entitlement: '@' is not a user name or @group "
		   "(letters, digits, '.', '_', '-', '@'; at most 64); * means everyone");
	load_fails("[pool:x]\ndisconnect_timeout = 1y\n",
		   "vdi.ini:2: [pool:x] disconnect_timeout: expected a duration such as 300s, 10m, 2h or 1d (a number "
		   "alone is seconds) from 0 to 365d, got '1y'");
	load_fails("[pool:a]\n[pool:b]\n[pool:a]\n", "vdi.ini:3: duplicate section [pool:a] (first on line 1)");
}

static void test_schema_values(void **state)
{
	(void)state;
	/* listen forms; a bare PORT listens on [server] bind. */
	struct vdi_config *c = load_ok("[server]\nbind = 127.0.0.1\n[api]\nlisten = 9000\n");
	assert_string_equal(c->api_addr, "127.0.0.1");
	assert_int_equal(c->api_port, 9000);
	vdi_config_free(c);
	c = load_ok("[api]\nlisten = 10.1.2.3:1\n");
	assert_string_equal(c->api_addr, "10.1.2.3");
	assert_int_equal(c->api_port, 1);
	vdi_config_free(c);
	c = load_ok("[api]\nlisten = [::]:65535\n[server]\nbind = ::\n");
	assert_string_equal(c->api_addr, "::");
	assert_int_equal(c->api_port, 65535);
	vdi_config_free(c);
	c = load_ok("[api]\nlisten = off\n[server]\nrdp_port = 8443\nvnc_port = 0\n");
	assert_false(c->api_enabled);
	assert_null(c->api_addr);
	assert_int_equal(c->rdp_port, 8443);
	vdi_config_free(c);
	/* The API follows the server's certificate unless it has its own. */
	c = load_ok("[server]\ntls_cert = /c/s.crt\ntls_key = /c/s.key\n");
	assert_string_equal(c->api_tls_cert, "/c/s.crt");
	assert_string_equal(c->api_tls_key, "/c/s.key");
	vdi_config_free(c);
	/* VNC without TLS: allowed unless vnc_security says tls. */
	c = load_ok("[server]\n");
	assert_false(c->vnc_require_tls);
	vdi_config_free(c);
	c = load_ok("[server]\nvnc_security = tls\n");
	assert_true(c->vnc_require_tls);
	vdi_config_free(c);
	load_fails("[server]\nvnc_security = vencrypt\n",
		   "vdi.ini:2: [server] vnc_security: expected one of any, tls; got 'vencrypt'");
	/* Log levels and sizes. */
	const char *levels[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++) {
		char text[64];
		snprintf(text, sizeof(text), "[server]\nlog_level = %s\n", levels[i]);
		c = load_ok(text);
		assert_int_equal(c->log_level, (enum log_level)i);
		vdi_config_free(c);
	}
	c = load_ok("[pool:p]\nmemory = 16\ndisplay = 64x64\nsize = 1\nvcpus = 1\nentitlement = \"  @a  b \"\n");
	assert_int_equal(c->pools[0].memory_mib, 16);
	assert_int_equal(c->pools[0].display_width, 64);
	assert_int_equal(c->pools[0].entitlement.count, 2);
	assert_string_equal(c->pools[0].entitlement.names[0], "@a");
	assert_string_equal(c->pools[0].entitlement.names[1], "b");
	assert_string_equal(c->pools[0].entitlement.text, "@a b");
	vdi_config_free(c);
	/* Ports may be off, and off twice is not a conflict. */
	c = load_ok("[server]\nrdp_port = 0\nvnc_port = 0\n[auth]\nadmins =\n");
	assert_int_equal(c->rdp_port, 0);
	assert_int_equal(c->vnc_port, 0);
	assert_int_equal(c->admins.count, 0);
	vdi_config_free(c);
}

/* The example in README's Configuration section loads as documented. */
static void test_readme_example(void **state)
{
	(void)state;
	FILE *fp = fopen("README.md", "r");
	if (!fp)
		fail_msg("README.md not found: run from the repository's top directory");
	char *readme = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&readme, &cap, '\0', fp);
	fclose(fp);
	assert_true(n > 0);
	char *section = strstr(readme, "\n## Configuration\n");
	assert_non_null(section);
	char *start = strstr(section, "```ini\n");
	assert_non_null(start);
	start += strlen("```ini\n");
	char *end = strstr(start, "```");
	assert_non_null(end);
	*end = '\0';
	char dir[300], ini[400];
	snprintf(dir, sizeof(dir), "%s/readme", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/readme/images", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(tmp_path("readme/images/bzImage"), "k");
	write_file(tmp_path("readme/images/initrd.img"), "i");
	snprintf(ini, sizeof(ini), "%s/readme/vdi.ini", tmpdir);
	write_file(ini, start);
	free(readme);
	struct vdi_config *c = NULL;
	if (vdi_config_load(ini, &c, err, sizeof(err)))
		fail_msg("README's example does not load: %s", err);
	assert_string_equal(c->data_dir, "/var/lib/vdi");
	assert_int_equal(c->auth_backend, VDI_AUTH_PAM);
	assert_string_equal(c->admins.text, "root @wheel");
	assert_string_equal(c->api_addr, "127.0.0.1");
	assert_int_equal(c->npools, 2);
	assert_int_equal(c->pools[0].assignment, VDI_ASSIGN_DEDICATED);
	assert_int_equal(c->pools[1].template, VDI_TEMPLATE_LINUX);
	assert_string_equal(c->pools[1].kernel, tmp_path("readme/images/bzImage"));
	assert_string_equal(c->pools[1].cmdline, "console=ttyS0 quiet");
	vdi_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sections_entries_lines),
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_write_value_round_trip),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_byte_limits),
	    cmocka_unit_test(test_parse_file),
	    cmocka_unit_test(test_get_int),
	    cmocka_unit_test(test_get_bool),
	    cmocka_unit_test(test_get_duration),
	    cmocka_unit_test(test_get_size),
	    cmocka_unit_test(test_get_display),
	    cmocka_unit_test(test_get_enum_string),
	    cmocka_unit_test(test_embedded_default),
	    cmocka_unit_test(test_full_example),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_relative_paths),
	    cmocka_unit_test(test_schema_errors),
	    cmocka_unit_test(test_schema_values),
	    cmocka_unit_test(test_readme_example),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
