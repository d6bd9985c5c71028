/* fuzz_api.c — arbitrary bytes as a REST API request, without a network: the request target as sent
 * (escapes, %00, query), route matching and its path parameter, the Content-Type and the JSON body
 * (broker/api.c's api_request_check(), the code the server runs before authentication and any
 * backend). Input: a method index byte, the target up to '\n', the Content-Type up to '\n' ("-" for
 * none), then the body. Every answer is a status the API sends, with a reason. */
#include "../../broker/api.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", ""};
	if (size < 1 || size > 256 * 1024)
		return 0;
	const char *method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *tend = nl ? nl : end;
	char *target = strndup(p, (size_t)(tend - p));
	p = nl ? nl + 1 : end;
	nl = memchr(p, '\n', (size_t)(end - p));
	const char *cend = nl ? nl : end;
	char *ctype = strndup(p, (size_t)(cend - p));
	p = nl ? nl + 1 : end;
	char why[512];
	why[0] = '\0';
	unsigned status = api_request_check(method, target, strcmp(ctype, "-") ? ctype : NULL, p, (size_t)(end - p),
					    why, sizeof(why));
	if (status != 0 && status != 400 && status != 404 && status != 405 && status != 414 && status != 415)
		abort();
	if (status && !why[0])
		abort();
	/* The reason is printable text, however hostile the request. */
	for (const char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			abort();
	free(target);
	free(ctype);
	return 0;
}
