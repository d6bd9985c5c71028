/* config.h — a strict INI reader: [section] and [kind:NAME] headers, ordered
 * key = value entries that remember their line, and typed getters whose errors
 * name the file, line, section and key. No global state; one call frees all. */
#ifndef VDI_COMMON_CONFIG_H
#define VDI_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_MAX_FILE_BYTES (1u << 20) /* a larger file is refused */
#define CFG_MAX_LINE_BYTES 4096u      /* a longer line (without its newline) is refused */

struct cfg_file;
struct cfg_section;

struct cfg_entry {
	const char *key;
	const char *value; /* unquoted and unescaped; "" when empty */
	int line;          /* 1-based */
	const struct cfg_section *section;
};

struct cfg_section {
	const char *name; /* what is inside the brackets: "server", "pool:demo" */
	const char *kind; /* before the ':' ("pool"), or the whole name */
	const char *arg;  /* after the ':' ("demo"); NULL when there is no ':' */
	int line;
	size_t nentries;
	struct cfg_entry *entries; /* in file order */
	const struct cfg_file *file;
};

struct cfg_file {
	const char *name; /* the file name that error messages start with */
	size_t nsections;
	struct cfg_section *sections; /* in file order */
	char *storage_;               /* private: the text the strings point into */
};

/* Parses `len` bytes named `name` (for messages). On success *out is the
 * parsed file (free with cfg_free) and 0 is returned; on failure -EINVAL (or
 * -ENOMEM) and `err` holds "NAME:LINE: message". Nothing is logged. */
int cfg_parse_buffer(const char *name, const void *data, size_t len, struct cfg_file **out, char *err, size_t errlen);
/* Reads and parses the file at `path`; errors as above, and -errno with
 * "PATH: reason" when it cannot be read. */
int cfg_parse_file(const char *path, struct cfg_file **out, char *err, size_t errlen);
void cfg_free(struct cfg_file *file);

/* Lookups; NULL when absent. */
const struct cfg_section *cfg_find_section(const struct cfg_file *file, const char *name);
const struct cfg_entry *cfg_find_entry(const struct cfg_section *section, const char *key);

/* Formats "FILE:LINE: [section] key: message" into err (for schema layers). */
void cfg_entry_error(const struct cfg_entry *e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Formats "FILE:LINE: [section]: message". */
void cfg_section_error(const struct cfg_section *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed getters: 0, or -EINVAL with an error from cfg_entry_error. On
 * failure *out is left unchanged. */
/* A whole decimal number from min to max. */
int cfg_get_int(const struct cfg_entry *e, long long min, long long max, long long *out, char *err, size_t errlen);
/* yes/no, true/false, on/off, 1/0 (any case). */
int cfg_get_bool(const struct cfg_entry *e, int *out, char *err, size_t errlen);
/* Seconds: "300", "300s", "10m", "2h", "1d"; from min to max seconds. */
int cfg_get_duration(const struct cfg_entry *e, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen);
/* MiB: "256", "256M", "256MiB", "2G", "2GiB", "1T", "1TiB"; from min to max MiB. */
int cfg_get_size_mib(const struct cfg_entry *e, uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen);
/* "WxH" with each side from min_side to max_side and at most max_pixels in all. */
int cfg_get_display(const struct cfg_entry *e, unsigned min_side, unsigned max_side, uint64_t max_pixels, unsigned *w,
		    unsigned *h, char *err, size_t errlen);
/* One of `words` (NULL-terminated; case-sensitive); *out is its index. */
int cfg_get_enum(const struct cfg_entry *e, const char *const *words, int *out, char *err, size_t errlen);
/* The value itself, from min_len to max_len bytes. */
int cfg_get_string(const struct cfg_entry *e, size_t min_len, size_t max_len, const char **out, char *err,
		   size_t errlen);

/* Writes seconds in the largest unit that is exact ("1h", "300s" -> "5m", "0"). */
void cfg_format_duration(int64_t seconds, char *buf, size_t len);
/* Writes `value` as an INI value that reads back the same: bare when it
 * can be, else double-quoted with \" and \\ escapes. */
void cfg_write_value(FILE *out, const char *value);

#endif
