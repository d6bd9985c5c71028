/* fuzz_config.c — arbitrary bytes as an INI file: the reader, every typed
 * getter on every entry, and vdi-server's schema, whose printed result must
 * load back to the same configuration. */
#include "../../common/config.h"
#include "../../vdi-server/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_getters(const struct cfg_entry *e)
{
	static const char *const words[] = {"a", "bb", "", NULL};
	char err[512];
	long long i;
	int b;
	int64_t d;
	uint64_t m;
	unsigned w, h;
	const char *s;
	cfg_get_int(e, LLONG_MIN, LLONG_MAX, &i, err, sizeof(err));
	cfg_get_int(e, 1, 1000, &i, err, sizeof(err));
	cfg_get_bool(e, &b, err, sizeof(err));
	cfg_get_duration(e, 0, INT64_MAX, &d, err, sizeof(err));
	cfg_get_size_mib(e, 0, UINT64_MAX, &m, err, sizeof(err));
	cfg_get_display(e, 0, UINT_MAX, UINT64_MAX, &w, &h, err, sizeof(err));
	cfg_get_enum(e, words, &b, err, sizeof(err));
	cfg_get_string(e, 1, 8, &s, err, sizeof(err));
	/* Every getter's error names the file first. */
	if (cfg_get_int(e, 1, 0, &i, err, sizeof(err)) != -EINVAL || strncmp(err, "f.ini:", 6))
		abort();
}

static char *fuzz_print(const struct vdi_config *c, size_t *len)
{
	char *out;
	FILE *m = open_memstream(&out, len);
	if (!m || vdi_config_print(c, m) < 0)
		abort();
	fclose(m);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct cfg_file *f;
	if (cfg_parse_buffer("f.ini", data, size, &f, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < f->nsections; i++)
			for (size_t j = 0; j < f->sections[i].nentries; j++)
				fuzz_getters(&f->sections[i].entries[j]);
		cfg_free(f);
	} else if (strncmp(err, "f.ini:", 6)) {
		abort();
	}

	struct vdi_config *c;
	if (vdi_config_load_buffer("f.ini", data, size, NULL, &c, err, sizeof(err)) < 0) {
		if (strncmp(err, "f.ini:", 6))
			abort();
		return 0;
	}
	size_t len1, len2;
	char *out1 = fuzz_print(c, &len1);
	struct vdi_config *c2;
	if (vdi_config_load_buffer("f.ini", out1, len1, NULL, &c2, err, sizeof(err)) < 0)
		abort(); /* what --print-config writes must load */
	char *out2 = fuzz_print(c2, &len2);
	if (len1 != len2 || memcmp(out1, out2, len1))
		abort();
	free(out1);
	free(out2);
	vdi_config_free(c);
	vdi_config_free(c2);
	return 0;
}
