/* config.c — a strict INI reader with typed getters (see config.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* At most this much of an offending value is quoted back in a message. */
#define CFG_QUOTE_MAX 80

/* Remembers where each section name and each (section, key) was first seen,
 * so duplicates are found in one pass even in a hostile 1 MiB file. */
struct cfg_seen {
	size_t section; /* SIZE_MAX for section names */
	const char *str;
	int line;
};

struct cfg_parser {
	struct cfg_file *file;
	size_t cap_sections;
	size_t cap_entries; /* room in the last section's entries */
	struct cfg_seen *seen;
	size_t seen_cap; /* a power of two */
	size_t seen_count;
	int line;
	char *err;
	size_t errlen;
};

static void cfg_vappend(char *err, size_t errlen, int used, const char *fmt, va_list ap)
{
	if (used < 0) {
		err[0] = '\0';
		return;
	}
	if ((size_t)used >= errlen)
		return;
	vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
}

static void cfg_fail(struct cfg_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_fail(struct cfg_parser *p, const char *fmt, ...)
{
	if (!p->err || !p->errlen)
		return;
	int n = snprintf(p->err, p->errlen, "%s:%d: ", p->file->name, p->line);
	va_list ap;
	va_start(ap, fmt);
	cfg_vappend(p->err, p->errlen, n, fmt, ap);
	va_end(ap);
}

void cfg_entry_error(const struct cfg_entry *e, char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = snprintf(err, errlen, "%s:%d: [%s] %s: ", e->section->file->name, e->line, e->section->name, e->key);
	va_list ap;
	va_start(ap, fmt);
	cfg_vappend(err, errlen, n, fmt, ap);
	va_end(ap);
}

void cfg_section_error(const struct cfg_section *s, char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = snprintf(err, errlen, "%s:%d: [%s]: ", s->file->name, s->line, s->name);
	va_list ap;
	va_start(ap, fmt);
	cfg_vappend(err, errlen, n, fmt, ap);
	va_end(ap);
}

/* How many bytes of s to quote in a message: at most CFG_QUOTE_MAX, never
 * cutting a UTF-8 sequence in two. */
static int cfg_quote_len(const char *s)
{
	size_t n = strnlen(s, CFG_QUOTE_MAX + 1);
	if (n <= CFG_QUOTE_MAX)
		return (int)n;
	n = CFG_QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static uint64_t cfg_hash(size_t section, const char *s)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)section;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Records (section, str) at the parser's line; returns the line it was first
 * seen on, 0 when it is new, or -ENOMEM. */
static int cfg_remember(struct cfg_parser *p, size_t section, const char *str)
{
	if (2 * (p->seen_count + 1) > p->seen_cap) {
		size_t cap = p->seen_cap ? 2 * p->seen_cap : 64;
		struct cfg_seen *t = calloc(cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < p->seen_cap; i++) {
			if (!p->seen[i].str)
				continue;
			size_t j = cfg_hash(p->seen[i].section, p->seen[i].str) & (cap - 1);
			while (t[j].str)
				j = (j + 1) & (cap - 1);
			t[j] = p->seen[i];
		}
		free(p->seen);
		p->seen = t;
		p->seen_cap = cap;
	}
	size_t j = cfg_hash(section, str) & (p->seen_cap - 1);
	for (; p->seen[j].str; j = (j + 1) & (p->seen_cap - 1))
		if (p->seen[j].section == section && !strcmp(p->seen[j].str, str))
			return p->seen[j].line;
	p->seen[j] = (struct cfg_seen){.section = section, .str = str, .line = p->line};
	p->seen_count++;
	return 0;
}

static bool cfg_is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool cfg_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '.';
}

static char *cfg_skip_space(char *s)
{
	while (cfg_is_space(*s))
		s++;
	return s;
}

/* Ends the string at `end` and drops the blanks before it. */
static void cfg_trim_end(char *start, char *end)
{
	while (end > start && cfg_is_space(end[-1]))
		end--;
	*end = '\0';
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t cfg_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes of one line (without its newline): NUL, control characters other
 * than tab (and a CR ending the line) and invalid UTF-8 are refused. */
static int cfg_check_bytes(struct cfg_parser *p, const char *s, size_t n)
{
	if (n > CFG_MAX_LINE_BYTES) {
		cfg_fail(p, "line longer than %u bytes", CFG_MAX_LINE_BYTES);
		return -EINVAL;
	}
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0) {
			cfg_fail(p, "NUL byte at column %zu", i + 1);
			return -EINVAL;
		}
		if ((c < 0x20 && c != '\t' && !(c == '\r' && i + 1 == n)) || c == 0x7f) {
			cfg_fail(p, "control character 0x%02x at column %zu", c, i + 1);
			return -EINVAL;
		}
		size_t len = cfg_utf8_len((const unsigned char *)s + i, n - i);
		if (!len) {
			cfg_fail(p, "invalid UTF-8 at column %zu", i + 1);
			return -EINVAL;
		}
		i += len;
	}
	return 0;
}

static int cfg_add_section(struct cfg_parser *p, char *name, char *colon)
{
	struct cfg_file *f = p->file;
	int first = cfg_remember(p, SIZE_MAX, name);
	if (first < 0)
		return first;
	if (first) {
		cfg_fail(p, "duplicate section [%s] (first on line %d)", name, first);
		return -EINVAL;
	}
	if (f->nsections == p->cap_sections) {
		size_t cap = p->cap_sections ? 2 * p->cap_sections : 8;
		struct cfg_section *t = realloc(f->sections, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		f->sections = t;
		p->cap_sections = cap;
	}
	size_t kind_len = colon ? (size_t)(colon - name) : strlen(name);
	char *kind = strndup(name, kind_len);
	if (!kind)
		return -ENOMEM;
	f->sections[f->nsections++] =
	    (struct cfg_section){.name = name, .kind = kind, .arg = colon ? colon + 1 : NULL, .line = p->line};
	p->cap_entries = 0;
	return 0;
}

/* "[name]" or "[kind:arg]", then nothing but blanks or a comment. */
static int cfg_header(struct cfg_parser *p, char *s)
{
	char *close = strchr(s, ']');
	if (!close) {
		cfg_fail(p, "section header without ']'");
		return -EINVAL;
	}
	char *rest = cfg_skip_space(close + 1);
	if (*rest && *rest != '#' && *rest != ';') {
		cfg_fail(p, "unexpected text after ']'");
		return -EINVAL;
	}
	char *name = cfg_skip_space(s + 1);
	cfg_trim_end(name, close);
	if (!*name) {
		cfg_fail(p, "empty section name '[]'");
		return -EINVAL;
	}
	char *colon = strchr(name, ':');
	char *kind_end = colon ? colon : name + strlen(name);
	bool ok = kind_end > name;
	for (char *c = name; c < kind_end; c++)
		ok = ok && cfg_is_name_char(*c);
	if (colon) {
		ok = ok && colon[1];
		for (char *c = colon + 1; *c; c++)
			ok = ok && !cfg_is_space(*c) && *c != '[' && *c != ':';
	}
	if (!ok) {
		cfg_fail(p,
			 "invalid section name '[%.*s]': expected [name] or [kind:NAME] with letters, digits, '_', "
			 "'-' and '.'",
			 cfg_quote_len(name), name);
		return -EINVAL;
	}
	return cfg_add_section(p, name, colon);
}

/* Unquotes a "..." value in place (\" and \\ only); the closing quote may be
 * followed by blanks and a comment. */
static int cfg_unquote(struct cfg_parser *p, char *v)
{
	char *w = v, *r = v + 1;
	for (;;) {
		char c = *r;
		if (!c) {
			cfg_fail(p, "quoted value without its closing '\"'");
			return -EINVAL;
		}
		if (c == '"') {
			r++;
			break;
		}
		if (c == '\\') {
			if (r[1] != '"' && r[1] != '\\') {
				if (!r[1])
					cfg_fail(p, "quoted value without its closing '\"'");
				else
					cfg_fail(p, "unknown escape '\\%c' in a quoted value (only \\\" and \\\\)",
						 r[1]);
				return -EINVAL;
			}
			r++;
		}
		*w++ = *r++;
	}
	*w = '\0';
	r = cfg_skip_space(r);
	if (*r && *r != '#' && *r != ';') {
		cfg_fail(p, "unexpected text after the closing '\"'");
		return -EINVAL;
	}
	return 0;
}

static int cfg_key_value(struct cfg_parser *p, char *s, char *eq)
{
	char *key = s;
	cfg_trim_end(key, eq);
	if (!*key) {
		cfg_fail(p, "empty key before '='");
		return -EINVAL;
	}
	for (char *c = key; *c; c++) {
		if (!cfg_is_name_char(*c)) {
			cfg_fail(p, "invalid key '%.*s': use letters, digits, '_', '-' and '.'", cfg_quote_len(key),
				 key);
			return -EINVAL;
		}
	}
	struct cfg_file *f = p->file;
	if (!f->nsections) {
		cfg_fail(p, "'%s' is outside any [section]", key);
		return -EINVAL;
	}
	char *v = cfg_skip_space(eq + 1);
	if (*v == '"') {
		if (cfg_unquote(p, v) < 0)
			return -EINVAL;
	} else {
		/* A '#' or ';' at the start or after a blank begins a comment. */
		char *c = v;
		while (*c && !((*c == '#' || *c == ';') && (c == v || cfg_is_space(c[-1]))))
			c++;
		cfg_trim_end(v, c);
	}
	struct cfg_section *sec = &f->sections[f->nsections - 1];
	int first = cfg_remember(p, f->nsections - 1, key);
	if (first < 0)
		return first;
	if (first) {
		cfg_fail(p, "[%s] %s: duplicate key (first set on line %d)", sec->name, key, first);
		return -EINVAL;
	}
	if (sec->nentries == p->cap_entries) {
		size_t cap = p->cap_entries ? 2 * p->cap_entries : 8;
		struct cfg_entry *t = realloc(sec->entries, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		sec->entries = t;
		p->cap_entries = cap;
	}
	sec->entries[sec->nentries++] = (struct cfg_entry){.key = key, .value = v, .line = p->line};
	return 0;
}

static int cfg_line(struct cfg_parser *p, char *s)
{
	s = cfg_skip_space(s);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return cfg_header(p, s);
	char *eq = strchr(s, '=');
	if (eq)
		return cfg_key_value(p, s, eq);
	cfg_fail(p, "expected [section], key = value, or a # comment; got '%.*s'", cfg_quote_len(s), s);
	return -EINVAL;
}

static int cfg_parse_all(struct cfg_parser *p, size_t len)
{
	char *text = p->file->storage_;
	size_t pos = 0;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3; /* a byte order mark some editors write */
	while (pos < len) {
		p->line++;
		char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		int rc = cfg_check_bytes(p, text + pos, end - pos);
		if (rc < 0)
			return rc;
		text[end] = '\0';
		if (end > pos && text[end - 1] == '\r')
			text[end - 1] = '\0';
		rc = cfg_line(p, text + pos);
		if (rc < 0)
			return rc;
		pos = end + 1;
	}
	return 0;
}

void cfg_free(struct cfg_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nsections; i++) {
		free((char *)f->sections[i].kind);
		free(f->sections[i].entries);
	}
	free(f->sections);
	free(f->storage_);
	free((char *)f->name);
	free(f);
}

int cfg_parse_buffer(const char *name, const void *data, size_t len, struct cfg_file **out, char *err, size_t errlen)
{
	*out = NULL;
	struct cfg_file *f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name))) {
		free(f);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	struct cfg_parser p = {.file = f, .err = err, .errlen = errlen};
	int rc;
	if (len > CFG_MAX_FILE_BYTES) {
		p.line = 1;
		for (const char *c = data, *e = c + CFG_MAX_FILE_BYTES; (c = memchr(c, '\n', (size_t)(e - c))); c++)
			p.line++;
		cfg_fail(&p, "file larger than 1 MiB (%u bytes)", CFG_MAX_FILE_BYTES);
		rc = -EINVAL;
		goto out;
	}
	if (!(f->storage_ = malloc(len + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	if (len)
		memcpy(f->storage_, data, len);
	f->storage_[len] = '\0';
	rc = cfg_parse_all(&p, len);
out:
	free(p.seen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc < 0) {
		cfg_free(f);
		return rc;
	}
	for (size_t i = 0; i < f->nsections; i++) {
		f->sections[i].file = f;
		for (size_t j = 0; j < f->sections[i].nentries; j++)
			f->sections[i].entries[j].section = &f->sections[i];
	}
	*out = f;
	return 0;
}

int cfg_parse_file(const char *path, struct cfg_file **out, char *err, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		return -EISDIR;
	}
	/* One byte more than the limit tells a file that is too large. */
	size_t cap = CFG_MAX_FILE_BYTES + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
			free(buf);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	int rc = cfg_parse_buffer(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

const struct cfg_section *cfg_find_section(const struct cfg_file *f, const char *name)
{
	for (size_t i = 0; i < f->nsections; i++)
		if (!strcmp(f->sections[i].name, name))
			return &f->sections[i];
	return NULL;
}

const struct cfg_entry *cfg_find_entry(const struct cfg_section *s, const char *key)
{
	for (size_t i = 0; s && i < s->nentries; i++)
		if (!strcmp(s->entries[i].key, key))
			return &s->entries[i];
	return NULL;
}

/* Decimal digits at *s into *out (saturating at UINT64_MAX); false when there are none. */
static bool cfg_digits(const char **s, uint64_t *out)
{
	const char *c = *s;
	uint64_t v = 0;
	if (*c < '0' || *c > '9')
		return false;
	for (; *c >= '0' && *c <= '9'; c++) {
		unsigned d = (unsigned)(*c - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*s = c;
	*out = v;
	return true;
}

int cfg_get_int(const struct cfg_entry *e, long long min, long long max, long long *out, char *err, size_t errlen)
{
	const char *s = e->value;
	bool neg = *s == '-';
	uint64_t v;
	s += neg;
	bool ok = cfg_digits(&s, &v) && !*s;
	long long x = 0;
	if (ok && neg)
		ok = v <= (uint64_t)LLONG_MAX + 1, x = v > (uint64_t)LLONG_MAX ? LLONG_MIN : -(long long)v;
	else if (ok)
		ok = v <= (uint64_t)LLONG_MAX, x = (long long)v;
	if (!ok || x < min || x > max) {
		cfg_entry_error(e, err, errlen, "expected a whole number from %lld to %lld, got '%.*s'", min, max,
				cfg_quote_len(e->value), e->value);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int cfg_get_bool(const struct cfg_entry *e, int *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(e->value, yes[i]))
			return *out = 1, 0;
		if (!strcasecmp(e->value, no[i]))
			return *out = 0, 0;
	}
	cfg_entry_error(e, err, errlen, "expected yes or no (or true/false, on/off, 1/0), got '%.*s'",
			cfg_quote_len(e->value), e->value);
	return -EINVAL;
}

void cfg_format_duration(int64_t seconds, char *buf, size_t len)
{
	static const struct {
		int64_t unit;
		char suffix;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
	if (seconds == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (seconds % units[i].unit == 0) {
			snprintf(buf, len, "%lld%c", (long long)(seconds / units[i].unit), units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%llds", (long long)seconds);
}

int cfg_get_duration(const struct cfg_entry *e, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
	const char *s = e->value;
	uint64_t v, unit = 1;
	bool ok = cfg_digits(&s, &v);
	if (ok && *s) {
		switch (*s++) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			ok = false;
		}
		ok = ok && !*s;
	}
	if (ok)
		v = v > UINT64_MAX / unit ? UINT64_MAX : v * unit;
	if (!ok || v > (uint64_t)INT64_MAX || (int64_t)v < min || (int64_t)v > max) {
		char lo[32], hi[32];
		cfg_format_duration(min, lo, sizeof(lo));
		cfg_format_duration(max, hi, sizeof(hi));
		cfg_entry_error(
		    e, err, errlen,
		    "expected a duration such as 300s, 10m, 2h or 1d (a number alone is seconds) from %s to "
		    "%s, got '%.*s'",
		    lo, hi, cfg_quote_len(e->value), e->value);
		return -EINVAL;
	}
	*out = (int64_t)v;
	return 0;
}

static void cfg_format_mib(uint64_t mib, char *buf, size_t len)
{
	if (mib && mib % (1024 * 1024) == 0)
		snprintf(buf, len, "%lluT", (unsigned long long)(mib / (1024 * 1024)));
	else if (mib && mib % 1024 == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(mib / 1024));
	else
		snprintf(buf, len, "%lluM", (unsigned long long)mib);
}

int cfg_get_size_mib(const struct cfg_entry *e, uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	static const struct {
		const char *suffix;
		uint64_t mib;
	} units[] = {{"", 1},       {"M", 1},           {"MiB", 1},          {"G", 1024},
		     {"GiB", 1024}, {"T", 1024 * 1024}, {"TiB", 1024 * 1024}};
	const char *s = e->value;
	uint64_t v;
	bool ok = cfg_digits(&s, &v);
	if (ok) {
		size_t i = 0;
		while (i < sizeof(units) / sizeof(units[0]) && strcmp(s, units[i].suffix))
			i++;
		ok = i < sizeof(units) / sizeof(units[0]);
		if (ok)
			v = v > UINT64_MAX / units[i].mib ? UINT64_MAX : v * units[i].mib;
	}
	if (!ok || v < min || v > max) {
		char lo[32], hi[32];
		cfg_format_mib(min, lo, sizeof(lo));
		cfg_format_mib(max, hi, sizeof(hi));
		cfg_entry_error(e, err, errlen,
				"expected a size such as 256M or 2G (a number alone is MiB) from %s to %s, got '%.*s'",
				lo, hi, cfg_quote_len(e->value), e->value);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cfg_get_display(const struct cfg_entry *e, unsigned min_side, unsigned max_side, uint64_t max_pixels, unsigned *w,
		    unsigned *h, char *err, size_t errlen)
{
	const char *s = e->value;
	uint64_t x, y;
	bool ok = cfg_digits(&s, &x) && (*s == 'x' || *s == 'X');
	if (ok)
		s++;
	ok = ok && cfg_digits(&s, &y) && !*s;
	if (!ok || x < min_side || x > max_side || y < min_side || y > max_side) {
		cfg_entry_error(e, err, errlen,
				"expected WIDTHxHEIGHT such as 1024x768, each from %u to %u, got '%.*s'", min_side,
				max_side, cfg_quote_len(e->value), e->value);
		return -EINVAL;
	}
	if (x * y > max_pixels) {
		cfg_entry_error(e, err, errlen, "%llux%llu is %llu pixels, more than the %llu allowed",
				(unsigned long long)x, (unsigned long long)y, (unsigned long long)(x * y),
				(unsigned long long)max_pixels);
		return -EINVAL;
	}
	*w = (unsigned)x;
	*h = (unsigned)y;
	return 0;
}

int cfg_get_enum(const struct cfg_entry *e, const char *const *words, int *out, char *err, size_t errlen)
{
	for (int i = 0; words[i]; i++) {
		if (!strcmp(e->value, words[i])) {
			*out = i;
			return 0;
		}
	}
	char list[512];
	size_t n = 0;
	list[0] = '\0';
	for (int i = 0; words[i] && n < sizeof(list); i++) {
		int m = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", words[i]);
		if (m < 0)
			break;
		n += (size_t)m;
	}
	cfg_entry_error(e, err, errlen, "expected one of %s; got '%.*s'", list, cfg_quote_len(e->value), e->value);
	return -EINVAL;
}

int cfg_get_string(const struct cfg_entry *e, size_t min_len, size_t max_len, const char **out, char *err,
		   size_t errlen)
{
	size_t n = strlen(e->value);
	if (n < min_len) {
		if (n == 0)
			cfg_entry_error(e, err, errlen, "needs a value");
		else
			cfg_entry_error(e, err, errlen, "'%s' is shorter than %zu bytes", e->value, min_len);
		return -EINVAL;
	}
	if (n > max_len) {
		cfg_entry_error(e, err, errlen, "longer than %zu bytes", max_len);
		return -EINVAL;
	}
	*out = e->value;
	return 0;
}

void cfg_write_value(FILE *out, const char *value)
{
	size_t n = strlen(value);
	bool quote =
	    !n || cfg_is_space(value[0]) || cfg_is_space(value[n - 1]) || value[0] == '"' || strpbrk(value, "#;");
	if (!quote) {
		fputs(value, out);
		return;
	}
	fputc('"', out);
	for (const char *c = value; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', out);
		fputc(*c, out);
	}
	fputc('"', out);
}
