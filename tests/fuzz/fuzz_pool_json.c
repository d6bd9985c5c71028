/* fuzz_pool_json.c — arbitrary bytes as the JSON body of an admin API
 * request that creates or changes a pool (broker/admin.c), and as a pool
 * record read back from the state store: any settings object is applied or
 * refused with a message, and an accepted one passes the pool checks and
 * writes back as JSON that reads again to the same pool. */
#include "../../broker/internal.h"

#include <stdio.h>
#include <string.h>

/* Bytes that are not JSON still make an object: keys (known and not),
 * each with a string, an integer or another kind of value, from the bytes;
 * random text is rarely a JSON object. */
static json_t *fuzz_object(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
	    "name",   "template", "kernel", "initrd",     "disk",      "cmdline",     "vcpus",
	    "memory", "display",  "size",   "assignment", "on_logoff", "entitlement", "disconnect_timeout",
	    "colour"};
	json_t *o = json_object();
	size_t i = 0;
	while (i + 2 <= size) {
		const char *key = keys[data[i] % (sizeof(keys) / sizeof(keys[0]))];
		uint8_t kind = data[i + 1];
		i += 2;
		size_t n = i < size ? data[i] % 24 : 0;
		i++;
		if (n > size - (i < size ? i : size))
			n = size - (i < size ? i : size);
		const char *text = i < size ? (const char *)data + i : "";
		json_t *v;
		switch (kind % 4) {
		case 0:
			v = json_stringn(text, n); /* NULL unless UTF-8, as jansson parses */
			break;
		case 1: {
			long long k = 0;
			for (size_t j = 0; j < n && j < 8; j++)
				k = k << 8 | data[i + j];
			v = json_integer(kind & 0x80 ? -k : k % 100000);
			break;
		}
		case 2:
			v = json_true();
			break;
		default:
			v = json_null();
			break;
		}
		i += n;
		if (v)
			json_object_set_new(o, key, v);
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!body || !json_is_object(body)) {
		json_decref(body);
		body = fuzz_object(data, size);
	}
	struct pool_spec spec, again;
	char err[256], why[256];
	pool_spec_defaults(&spec, "fuzz");
	if (broker_pool_from_json(body, &spec, err, sizeof(err)) == 0) {
		if (pool_spec_check(&spec, why, sizeof(why)) != 0)
			__builtin_trap();
		json_t *out = broker_pool_to_json(&spec);
		pool_spec_defaults(&again, "fuzz");
		if (!out || broker_pool_from_json(out, &again, err, sizeof(err)) != 0 ||
		    memcmp(&spec, &again, sizeof(spec)) != 0)
			__builtin_trap();
		json_decref(out);
	} else if (!err[0]) {
		__builtin_trap(); /* a refusal always says why */
	}
	json_decref(body);
	return 0;
}
