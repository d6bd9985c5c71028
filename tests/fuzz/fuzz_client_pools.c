/* fuzz_client_pools.c — arbitrary bytes as the broker's replies vdi-client parses (client/pools_json.c): the
 * pool list of GET /api/v1/me/pools and the ticket of POST .../ticket. Either is refused or yields names and
 * a ticket within their bounds. */
#include "../../client/pools_json.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool_list list;
	if (pools_json_parse((const char *)data, size, &list) == 0) {
		if (list.count > POOLS_MAX)
			abort();
		for (size_t i = 0; i < list.count; i++) {
			size_t n = strlen(list.pools[i].name);
			if (n == 0 || n >= POOL_NAME_MAX || pool_state_name(list.pools[i].state)[0] == '?')
				abort();
		}
	} else if (list.count != 0) {
		abort();
	}
	char ticket[256];
	if (pools_json_ticket((const char *)data, size, ticket, sizeof(ticket)) == 0 &&
	    (strlen(ticket) == 0 || strlen(ticket) >= sizeof(ticket)))
		abort();
	return 0;
}
