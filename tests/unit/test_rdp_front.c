/* test_rdp_front.c — display/rdp_front.c's normalization of the client's
 * first PDUs: rdesktop's Erect Domain Request re-encoded in PER, FreeRDP's
 * and mstsc's own left alone, anything else (other PDUs, truncated or
 * odd ones) passed as it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../display/rdp_front.h"

#include <string.h>

/* TPKT, X.224 Data, ErectDomainRequest */
#define HEAD(len) 3, 0, 0, (len), 2, 0xf0, 0x80, 0x04

static void test_rdesktop_reencoded(void **state)
{
	(void)state;
	/* rdesktop 1.9: subHeight 1 and subInterval 1 as bare big-endian 16-bit values. */
	uint8_t pdu[64] = {HEAD(12), 0x00, 0x01, 0x00, 0x01};
	bool changed;
	assert_true(rdp_front_is_erect_domain(pdu, 12));
	size_t len = rdp_front_normalize(pdu, 12, sizeof(pdu), &changed);
	assert_true(changed);
	const uint8_t want[] = {HEAD(12), 0x01, 0x01, 0x01, 0x01};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(pdu, want, sizeof(want));
	/* The result is what FreeRDP wants: a second pass leaves it. */
	assert_int_equal(rdp_front_normalize(pdu, len, sizeof(pdu), &changed), len);
	assert_false(changed);
}

static void test_wide_values_grow(void **state)
{
	(void)state;
	uint8_t pdu[64] = {HEAD(12), 0x12, 0x34, 0x00, 0x05};
	bool changed;
	size_t len = rdp_front_normalize(pdu, 12, sizeof(pdu), &changed);
	assert_true(changed);
	const uint8_t want[] = {HEAD(13), 0x02, 0x12, 0x34, 0x01, 0x05};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(pdu, want, sizeof(want));
	/* No room to grow: left as it was. */
	uint8_t tight[12] = {HEAD(12), 0x12, 0x34, 0x00, 0x05};
	assert_int_equal(rdp_front_normalize(tight, 12, 13, &changed), 12);
	assert_false(changed);
}

static void test_per_left_alone(void **state)
{
	(void)state;
	bool changed;
	/* FreeRDP's client and mstsc: 0 and 0, one value byte each. */
	uint8_t freerdp[] = {HEAD(12), 0x01, 0x00, 0x01, 0x00};
	uint8_t copy[sizeof(freerdp)];
	memcpy(copy, freerdp, sizeof(copy));
	assert_int_equal(rdp_front_normalize(freerdp, sizeof(freerdp), 64, &changed), sizeof(freerdp));
	assert_false(changed);
	assert_memory_equal(freerdp, copy, sizeof(copy));
	/* Zero-length integers are PER too. */
	uint8_t empty[] = {HEAD(10), 0x00, 0x00};
	assert_int_equal(rdp_front_normalize(empty, sizeof(empty), 64, &changed), sizeof(empty));
	assert_false(changed);
}

static void test_others_untouched(void **state)
{
	(void)state;
	bool changed;
	/* An Attach User Request, a Channel Join Request: not ours to touch. */
	uint8_t aurq[] = {3, 0, 0, 8, 2, 0xf0, 0x80, 0x28};
	assert_false(rdp_front_is_erect_domain(aurq, sizeof(aurq)));
	assert_int_equal(rdp_front_normalize(aurq, sizeof(aurq), 64, &changed), sizeof(aurq));
	assert_false(changed);
	uint8_t cjrq[] = {3, 0, 0, 12, 2, 0xf0, 0x80, 0x38, 0x00, 0x08, 0x03, 0xf1};
	assert_int_equal(rdp_front_normalize(cjrq, sizeof(cjrq), 64, &changed), sizeof(cjrq));
	assert_false(changed);
	/* A TPKT length that is not the buffer's, a short one, a wrong version, no X.224 Data header. */
	uint8_t lying[] = {HEAD(40), 0x00, 0x01, 0x00, 0x01};
	assert_false(rdp_front_is_erect_domain(lying, sizeof(lying)));
	assert_int_equal(rdp_front_normalize(lying, sizeof(lying), 64, &changed), sizeof(lying));
	assert_false(changed);
	uint8_t shorter[] = {HEAD(7)};
	assert_false(rdp_front_is_erect_domain(shorter, 7));
	uint8_t version[] = {4, 0, 0, 12, 2, 0xf0, 0x80, 0x04, 0x00, 0x01, 0x00, 0x01};
	assert_false(rdp_front_is_erect_domain(version, sizeof(version)));
	uint8_t x224[] = {3, 0, 0, 12, 2, 0xe0, 0x80, 0x04, 0x00, 0x01, 0x00, 0x01};
	assert_false(rdp_front_is_erect_domain(x224, sizeof(x224)));
	/* An Erect Domain Request that is neither PER nor rdesktop's: FreeRDP refuses it, we do not guess. */
	uint8_t odd[] = {HEAD(11), 0x05, 0x01, 0x02};
	assert_int_equal(rdp_front_normalize(odd, sizeof(odd), 64, &changed), sizeof(odd));
	assert_false(changed);
	uint8_t longer[] = {HEAD(14), 0x00, 0x01, 0x00, 0x01, 0x00, 0x01};
	assert_int_equal(rdp_front_normalize(longer, sizeof(longer), 64, &changed), sizeof(longer));
	assert_false(changed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rdesktop_reencoded),
	    cmocka_unit_test(test_wide_values_grow),
	    cmocka_unit_test(test_per_left_alone),
	    cmocka_unit_test(test_others_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
