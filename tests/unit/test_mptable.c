/* test_mptable.c — unit tests for hypervisor/boot/mptable.c: the tables are
 * found the way Linux looks for them, checksum to zero, and describe every
 * vCPU, the IOAPIC and the ISA interrupts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/boot/boot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (2u << 20)
#define POISON   0x5A

static struct vm *make_vm(uint64_t ram, int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->mem = malloc(ram);
	assert_non_null(vm->mem);
	memset(vm->mem, POISON, ram);
	vm->low_bytes = ram;
	vm->mem_bytes = ram;
	vm->ncpus = ncpus;
	return vm;
}

static void free_vm(struct vm *vm)
{
	free(vm->mem);
	free(vm);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Like Linux: a 16-byte-aligned "_MP_" whose 16 bytes sum to zero, searched
 * in the last KiB below 640 KiB. Returns its address or 0. */
static uint64_t find_floating(struct vm *vm)
{
	for (uint64_t a = 0x9FC00; a < 0xA0000; a += 16) {
		const uint8_t *p = vm->mem + a;
		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && sum(p, 16) == 0)
			return a;
	}
	return 0;
}

struct walk {
	int cpus, bsps, buses, ioapics, io_ints, local_ints;
	uint8_t apic_ids[256];
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	int irq_pin[16];
	int extint_lint0, nmi_lint1;
	uint64_t config, config_len;
};

static void check_tables(struct vm *vm, int ncpus, struct walk *w)
{
	memset(w, 0, sizeof(*w));
	uint64_t fp = find_floating(vm);
	assert_int_equal(fp, VM_EBDA_START);
	const uint8_t *f = vm->mem + fp;
	assert_int_equal(f[9], 4);  /* spec 1.4 */
	assert_int_equal(f[11], 0); /* a configuration table follows, no default config */
	uint64_t config = le32(f + 4);
	const uint8_t *c = vm->mem + config;
	assert_memory_equal(c, "PCMP", 4);
	uint16_t len = le16(c + 4);
	assert_int_equal(c[6], 4);
	assert_int_equal(sum(c, len), 0);
	assert_int_equal(le32(c + 36), VM_LAPIC_BASE);
	assert_int_equal(le16(c + 40), 0); /* no extended table */
	w->config = config;
	w->config_len = len;
	/* The table lies in memory the e820 map reserves. */
	assert_true((config >= VM_EBDA_START && config + len <= 0xA0000) ||
		    (config >= VM_BIOS_START && config + len <= VM_KERNEL_MIN));

	for (int i = 0; i < 16; i++)
		w->irq_pin[i] = -1;
	w->extint_lint0 = w->nmi_lint1 = -1;
	size_t off = 44;
	int entries = 0;
	int last_type = 0;
	while (off < len) {
		const uint8_t *e = c + off;
		assert_true(e[0] >= last_type); /* sorted by type, as the spec asks */
		last_type = e[0];
		entries++;
		switch (e[0]) {
		case 0:
			assert_true(off + 20 <= len);
			assert_int_equal(e[3] & 1, 1); /* enabled */
			w->apic_ids[w->cpus++] = e[1];
			if (e[3] & 2) {
				w->bsps++;
				assert_int_equal(e[1], 0);
			}
			off += 20;
			break;
		case 1:
			assert_memory_equal(e + 2, "ISA   ", 6);
			assert_int_equal(e[1], 0);
			w->buses++;
			off += 8;
			break;
		case 2:
			w->ioapics++;
			w->ioapic_id = e[1];
			assert_int_equal(e[3] & 1, 1);
			w->ioapic_addr = le32(e + 4);
			off += 8;
			break;
		case 3:
			w->io_ints++;
			assert_int_equal(e[1], 0);        /* vectored INT */
			assert_int_equal(le16(e + 2), 0); /* ISA conventions: edge, active high */
			assert_int_equal(e[4], 0);        /* ISA bus */
			assert_true(e[5] < 16);
			assert_int_equal(e[6], w->ioapic_id);
			w->irq_pin[e[5]] = e[7];
			off += 8;
			break;
		case 4:
			w->local_ints++;
			if (e[1] == 3) {
				assert_int_equal(e[6], 0);
				w->extint_lint0 = e[7];
			} else if (e[1] == 1) {
				assert_int_equal(e[6], 0xFF);
				w->nmi_lint1 = e[7];
			}
			off += 8;
			break;
		default:
			fail_msg("unknown MP entry type %d", e[0]);
		}
	}
	assert_int_equal(off, len);
	assert_int_equal(le16(c + 34), entries);
	assert_int_equal(w->cpus, ncpus);
	assert_int_equal(w->bsps, 1);
	for (int i = 0; i < ncpus; i++)
		assert_int_equal(w->apic_ids[i], i);
	assert_int_equal(w->buses, 1);
	assert_int_equal(w->ioapics, 1);
	assert_int_equal(w->ioapic_id, ncpus);
	assert_int_equal(w->ioapic_addr, VM_IOAPIC_BASE);
	assert_int_equal(w->io_ints, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(w->irq_pin[i], i); /* KVM's default GSI routing */
	assert_int_equal(w->local_ints, 2);
	assert_int_equal(w->extint_lint0, 0);
	assert_int_equal(w->nmi_lint1, 1);
}

/* Nothing but the two tables was written. */
static void check_nothing_else_written(struct vm *vm, const struct walk *w, uint64_t ram)
{
	for (uint64_t a = 0; a < ram; a++) {
		if (a >= VM_EBDA_START && a < VM_EBDA_START + 16)
			continue;
		if (a >= w->config && a < w->config + w->config_len)
			continue;
		if (vm->mem[a] != POISON)
			fail_msg("byte at 0x%llx written", (unsigned long long)a);
	}
}

static void test_cpu_counts(void **state)
{
	(void)state;
	static const int counts[] = {1, 2, 4, 39, 40, 41, 63, VM_MAX_CPUS};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct vm *vm = make_vm(RAM_SIZE, counts[i]);
		assert_int_equal(mptable_write(vm), 0);
		struct walk w;
		check_tables(vm, counts[i], &w);
		check_nothing_else_written(vm, &w, RAM_SIZE);
		free_vm(vm);
	}
}

/* A small VM's whole table sits in the EBDA's KiB. */
static void test_small_vm_stays_in_ebda(void **state)
{
	(void)state;
	struct vm *vm = make_vm(RAM_SIZE, 8);
	assert_int_equal(mptable_write(vm), 0);
	struct walk w;
	check_tables(vm, 8, &w);
	assert_int_equal(w.config, VM_EBDA_START + 16);
	free_vm(vm);
}

static void test_rewrite_is_idempotent(void **state)
{
	(void)state;
	struct vm *vm = make_vm(RAM_SIZE, 64);
	assert_int_equal(mptable_write(vm), 0);
	vm->ncpus = 3; /* a smaller table over a bigger one: no stale entries count */
	assert_int_equal(mptable_write(vm), 0);
	struct walk w;
	check_tables(vm, 3, &w);
	free_vm(vm);
}

static void test_bad_cpu_counts(void **state)
{
	(void)state;
	struct vm *vm = make_vm(RAM_SIZE, 0);
	assert_int_equal(mptable_write(vm), -EINVAL);
	vm->ncpus = VM_MAX_CPUS + 1;
	assert_int_equal(mptable_write(vm), -EINVAL);
	vm->ncpus = -1;
	assert_int_equal(mptable_write(vm), -EINVAL);
	free_vm(vm);
}

static void test_ram_too_small(void **state)
{
	(void)state;
	struct vm *vm = make_vm(VM_EBDA_START, 1); /* ends where the EBDA starts */
	assert_int_equal(mptable_write(vm), -ENOMEM);
	free_vm(vm);
	vm = make_vm(VM_BIOS_START + 64, 64); /* the big table would not fit */
	assert_int_equal(mptable_write(vm), -ENOMEM);
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpu_counts),
	    cmocka_unit_test(test_small_vm_stays_in_ebda),
	    cmocka_unit_test(test_rewrite_is_idempotent),
	    cmocka_unit_test(test_bad_cpu_counts),
	    cmocka_unit_test(test_ram_too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
