/* selftest.c — the pass/fail tests "test=NAME" selects, and "selftest",
 * which runs them all in order and prints one verdict line. */
#include "guest.h"

static const struct guest_test guest_tests[] = {
    {"serial", serial_test},
    {"smp", smp_test},
    {"rtc", rtc_test},
    {"pci", pci_test},
    {"pio", pio_unassigned_test},
    {"mmio", mmio_unassigned_test},
};
#define GUEST_TEST_COUNT (sizeof(guest_tests) / sizeof(guest_tests[0]))

static bool name_is(const char *name, size_t len, const char *want)
{
	size_t i = 0;
	while (i < len && want[i] && name[i] == want[i])
		i++;
	return i == len && !want[i];
}

const struct guest_test *selftest_find(const char *name, size_t len)
{
	for (size_t i = 0; i < GUEST_TEST_COUNT; i++) {
		if (name_is(name, len, guest_tests[i].name))
			return &guest_tests[i];
	}
	return NULL;
}

static void append(char *buf, size_t cap, size_t *used, const char *s)
{
	while (*s && *used + 1 < cap)
		buf[(*used)++] = *s++;
	buf[*used] = '\0';
}

bool selftest_run(void)
{
	char failed[64] = ""; /* room for every name with a space before it */
	size_t used = 0;

	for (size_t i = 0; i < GUEST_TEST_COUNT; i++) {
		if (guest_tests[i].run())
			continue;
		append(failed, sizeof(failed), &used, " ");
		append(failed, sizeof(failed), &used, guest_tests[i].name);
	}

	if (used) {
		guest_log("selftest FAILED:%s", failed);
		return false;
	}
	guest_log("selftest ok");
	return true;
}
