/* pools_json.c — the broker's user API replies vdi-client reads (the pool list, a ticket), parsed as the
 * untrusted input they are: sizes bounded, every name and word checked. The fuzz target compiles this file. */
#include "client.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

static const char *const state_names[] = {"assigned", "ready", "starting", "unavailable"};

const char *pool_state_name(enum pool_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static bool pool_name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= POOL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int parse_pool(json_t *item, struct pool_entry *out)
{
	json_t *name = json_object_get(item, "name"), *state = json_object_get(item, "state");
	if (!json_is_string(name) || !json_is_string(state))
		return -EINVAL;
	const char *n = json_string_value(name);
	size_t len = json_string_length(name);
	if (!pool_name_ok(n, len))
		return -EINVAL;
	memcpy(out->name, n, len);
	out->name[len] = '\0';
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (!strcmp(json_string_value(state), state_names[i]) &&
		    json_string_length(state) == strlen(state_names[i])) {
			out->state = (enum pool_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int pools_json_parse(const char *json, size_t len, struct pool_list *out)
{
	out->count = 0;
	json_error_t err;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return -EINVAL;
	int rc = 0;
	json_t *pools = json_object_get(root, "pools");
	if (!json_is_object(root) || !json_is_array(pools)) {
		rc = -EINVAL;
	} else if (json_array_size(pools) > POOLS_MAX) {
		rc = -E2BIG;
	} else {
		size_t i;
		json_t *item;
		json_array_foreach(pools, i, item)
		{
			if (!json_is_object(item) || parse_pool(item, &out->pools[i]) < 0) {
				rc = -EINVAL;
				break;
			}
			for (size_t j = 0; j < i; j++)
				if (!strcmp(out->pools[j].name, out->pools[i].name))
					rc = -EINVAL;
			if (rc)
				break;
			out->count = i + 1;
		}
	}
	if (rc)
		out->count = 0;
	json_decref(root);
	return rc;
}

int pools_json_ticket(const char *json, size_t len, char *out, size_t size)
{
	json_error_t err;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	json_t *ticket = root ? json_object_get(root, "ticket") : NULL;
	int rc = -EINVAL;
	if (json_is_string(ticket)) {
		const char *t = json_string_value(ticket);
		size_t n = json_string_length(ticket);
		bool printable = n > 0 && n < 256 && n < size;
		for (size_t i = 0; printable && i < n; i++)
			printable = t[i] > 0x20 && t[i] < 0x7f;
		if (printable) {
			memcpy(out, t, n);
			out[n] = '\0';
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}
