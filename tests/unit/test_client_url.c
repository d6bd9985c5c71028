/* test_client_url.c — vdi-client's server URLs (client/options.c): rdp://, vnc:// and vdi:// links with their users,
 * ports, pools and desktop protocols, what --api and --pool keep, the form kept in client.ini read back the same,
 * and malformed URLs refused without touching what was there. */
#include "../../client/options.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static struct client_opts parsed(const char *url)
{
	struct client_opts o = {.port = 3389};
	assert_int_equal(client_parse_url(url, &o), 0);
	return o;
}

static void rdp_and_vnc(void **state)
{
	(void)state;
	struct client_opts o = parsed("rdp://alice@desk.example:3390");
	assert_int_equal(o.proto, PROTO_RDP);
	assert_string_equal(o.host, "desk.example");
	assert_string_equal(o.user, "alice");
	assert_int_equal(o.port, 3390);
	assert_null(o.api);
	assert_null(o.pool);
	o = parsed("vnc://[::1]");
	assert_int_equal(o.proto, PROTO_VNC);
	assert_string_equal(o.host, "::1");
	assert_int_equal(o.port, 5900);
	o = parsed("10.0.0.1");
	assert_int_equal(o.proto, PROTO_RDP);
	assert_int_equal(o.port, 3389);
}

static void vdi_links(void **state)
{
	(void)state;
	struct client_opts o = parsed("vdi://bob@broker.example/lab");
	assert_true(o.vdi_url);
	assert_string_equal(o.host, "broker.example");
	assert_string_equal(o.user, "bob");
	assert_string_equal(o.api, "https://broker.example:8443");
	assert_string_equal(o.pool, "lab");
	assert_int_equal(o.proto, PROTO_RDP);
	assert_int_equal(o.port, 3389);
	o = parsed("vdi://[::1]:9443?vnc=5901");
	assert_string_equal(o.api, "https://[::1]:9443");
	assert_null(o.pool);
	assert_int_equal(o.proto, PROTO_VNC);
	assert_int_equal(o.port, 5901);
	o = parsed("vdi://h:1/office/?rdp");
	assert_string_equal(o.pool, "office");
	assert_string_equal(o.api, "https://h:1");
	o = parsed("vdi://h/");
	assert_null(o.pool);
}

static void bad_urls(void **state)
{
	(void)state;
	const char *bad[] = {"vdi://",
			     "vdi://h:0",
			     "vdi://h:65536",
			     "vdi://h/no pool",
			     "vdi://h/a/b",
			     "vdi://h?ssh",
			     "vdi://h?rdp=x",
			     "vdi://h?vnc=99999",
			     "http://h",
			     "rdp://h:+1",
			     "rdp://a@",
			     "rdp://h/x",
			     "vdi://h/"
			     "0123456789012345678901234567890123",
			     "rdp://[::1",
			     "vdi://a:b@h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct client_opts o = {.port = 4444, .host = "kept"};
		if (client_parse_url(bad[i], &o) == 0)
			fail_msg("'%s' was taken", bad[i]);
		assert_string_equal(o.host, "kept");
		assert_int_equal(o.port, 4444);
	}
}

static void options_win(void **state)
{
	(void)state;
	struct client_opts o = {0};
	o.api = "https://other:1";
	o.pool = "mine";
	assert_int_equal(client_parse_url("vdi://h/lab", &o), 0);
	assert_string_equal(o.api, "https://other:1");
	assert_string_equal(o.pool, "mine");
	/* A URL's own API and pool go when another URL replaces it. */
	o = (struct client_opts){0};
	assert_int_equal(client_parse_url("vdi://h/lab", &o), 0);
	assert_ptr_equal(o.pool, o.url_pool);
	assert_int_equal(client_parse_url("rdp://h", &o), 0);
	assert_null(o.api);
	assert_null(o.pool);
}

static void formatted_back(void **state)
{
	(void)state;
	const char *urls[] = {"rdp://h:3389",     "vnc://[::1]:5901",     "vdi://h",
			      "vdi://h:9443/lab", "vdi://h/lab?vnc=5900", "vdi://[fe80::1]?rdp=3390"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct client_opts o = parsed(urls[i]);
		char out[CLIENT_URL_MAX];
		client_format_url(&o, out, sizeof(out));
		assert_string_equal(out, urls[i]);
	}
	struct client_opts o = parsed("vdi://carol@h:8443/lab?rdp=3389");
	char out[CLIENT_URL_MAX];
	client_format_url(&o, out, sizeof(out));
	assert_string_equal(out, "vdi://h/lab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rdp_and_vnc), cmocka_unit_test(vdi_links),      cmocka_unit_test(bad_urls),
	    cmocka_unit_test(options_win), cmocka_unit_test(formatted_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
