/* test_pci.c — unit tests for configuration mechanism #1 and the host bridge
 * in hypervisor/devices/pci.c, through ports 0xcf8/0xcfc on a real PIO bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/devices/devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	struct bus pio;
	struct pci_bus *pci;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	bus_init(&f->pio, "pio");
	f->pci = pci_create(&f->pio);
	if (!f->pci)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pci_destroy(f->pci);
	assert_int_equal(f->pio.count, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static void outl(struct fixture *f, uint16_t port, uint32_t v)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(&f->pio, port, d, 4));
}

/* A read of `size` bytes at `port`, assembled little-endian. */
static uint32_t in_size(struct fixture *f, uint16_t port, uint32_t size)
{
	uint8_t d[4] = {0};
	assert_true(bus_read(&f->pio, port, d, size));
	uint32_t v = 0;
	for (uint32_t i = 0; i < size; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static void out_size(struct fixture *f, uint16_t port, uint32_t v, uint32_t size)
{
	uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(bus_write(&f->pio, port, d, size));
}

/* Config read of `size` bytes at `reg` of 00:dev.0, the way Linux's
 * pci_conf1_read does it. */
static uint32_t cfg_read(struct fixture *f, unsigned dev, unsigned reg, uint32_t size)
{
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, dev, 0, reg));
	return in_size(f, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static void cfg_write(struct fixture *f, unsigned dev, unsigned reg, uint32_t v, uint32_t size)
{
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, dev, 0, reg));
	out_size(f, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), v, size);
}

static void test_host_bridge_ids(void **state)
{
	struct fixture *f = *state;
	const uint32_t id = (uint32_t)PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR;
	assert_int_equal(cfg_read(f, 0, 0x00, 4), id);
	assert_int_equal(cfg_read(f, 0, 0x00, 2), PCI_HOST_VENDOR);
	assert_int_equal(cfg_read(f, 0, 0x02, 2), PCI_HOST_DEVICE);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(cfg_read(f, 0, i, 1), (id >> (8 * i)) & 0xff);
	assert_int_equal(cfg_read(f, 0, 0x08, 4), 0x06000000); /* host bridge, revision 0 */
	assert_int_equal(cfg_read(f, 0, 0x0a, 2), 0x0600);
	assert_int_equal(cfg_read(f, 0, 0x0b, 1), 0x06);
	assert_int_equal(cfg_read(f, 0, 0x0e, 1), 0x00); /* header type 0 */
	assert_int_equal(cfg_read(f, 0, 0x2c, 4), id);   /* subsystem ids */
	assert_int_equal(cfg_read(f, 0, 0x3d, 1), 0x00); /* no interrupt pin */
	assert_int_equal(cfg_read(f, 0, 0x04, 4), 0x00000000);
	/* Every register at every size and alignment reads the same bytes. */
	uint8_t space[256];
	for (unsigned reg = 0; reg < 256; reg++)
		space[reg] = (uint8_t)cfg_read(f, 0, reg, 1);
	for (unsigned reg = 0; reg < 256; reg += 2)
		assert_int_equal(cfg_read(f, 0, reg, 2), space[reg] | space[reg + 1] << 8);
	for (unsigned reg = 0; reg < 256; reg += 4) {
		uint32_t want = (uint32_t)space[reg] | (uint32_t)space[reg + 1] << 8 | (uint32_t)space[reg + 2] << 16 |
				(uint32_t)space[reg + 3] << 24;
		assert_int_equal(cfg_read(f, 0, reg, 4), want);
	}
}

static void test_address_latch(void **state)
{
	struct fixture *f = *state;
	/* Linux's type 1 probe: write 0x80000000, read it back. */
	out_size(f, PCI_CONFIG_ADDRESS + 3, 0x01, 1);
	outl(f, PCI_CONFIG_ADDRESS, 0x80000000);
	assert_int_equal(in_size(f, PCI_CONFIG_ADDRESS, 4), 0x80000000);
	/* Reserved bits 30:24 and 1:0 do not stick. */
	outl(f, PCI_CONFIG_ADDRESS, 0xffffffff);
	assert_int_equal(in_size(f, PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
	/* Narrower accesses do not touch the latch and read as nothing. */
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 0, 0, 0));
	for (unsigned off = 0; off < 4; off++) {
		out_size(f, (uint16_t)(PCI_CONFIG_ADDRESS + off), 0x00, 1);
		assert_int_equal(in_size(f, (uint16_t)(PCI_CONFIG_ADDRESS + off), 1), 0xff);
	}
	out_size(f, PCI_CONFIG_ADDRESS, 0, 2);
	out_size(f, PCI_CONFIG_ADDRESS + 2, 0, 2);
	assert_int_equal(in_size(f, PCI_CONFIG_ADDRESS, 2), 0xffff);
	assert_int_equal(in_size(f, PCI_CONFIG_ADDRESS, 4), 0x80000000);
	/* Low address bits ignored: register 0x01 selects dword 0. */
	outl(f, PCI_CONFIG_ADDRESS, 0x80000001);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 2), PCI_HOST_VENDOR);
}

static void test_absent_devices(void **state)
{
	struct fixture *f = *state;
	for (unsigned dev = 1; dev < PCI_MAX_SLOTS; dev++) {
		assert_int_equal(cfg_read(f, dev, 0, 4), 0xffffffff);
		assert_int_equal(cfg_read(f, dev, 0x3e, 2), 0xffff);
		cfg_write(f, dev, 0x04, 0x0007, 2);
	}
	/* Other buses, other functions. */
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(1, 0, 0, 0));
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0xffffffff);
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(255, 31, 7, 0xfc));
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0xffffffff);
	for (unsigned fn = 1; fn < 8; fn++) {
		outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 0, fn, 0));
		assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0xffffffff);
		out_size(f, PCI_CONFIG_DATA + 1, 0xffff, 2);
	}
	/* Enable bit clear: no configuration cycle at all. */
	outl(f, PCI_CONFIG_ADDRESS, 0x00000000);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0xffffffff);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA + 2, 2), 0xffff);
	out_size(f, PCI_CONFIG_DATA + 1, 0xff, 1);
	outl(f, PCI_CONFIG_ADDRESS, 0x00000004);
	outl(f, PCI_CONFIG_DATA, 0xffffffff);
	/* None of those writes reached the host bridge. */
	assert_int_equal(cfg_read(f, 0, 0x04, 4), 0);
	assert_int_equal(cfg_read(f, 0, 0x00, 2), PCI_HOST_VENDOR);
}

static void test_read_only_fields(void **state)
{
	struct fixture *f = *state;
	uint8_t before[256];
	for (unsigned reg = 0; reg < 256; reg++)
		before[reg] = (uint8_t)cfg_read(f, 0, reg, 1);
	for (unsigned reg = 0; reg < 256; reg += 4)
		cfg_write(f, 0, reg, 0xffffffff, 4);
	for (unsigned reg = 0; reg < 256; reg++) {
		uint8_t got = (uint8_t)cfg_read(f, 0, reg, 1);
		switch (reg) {
		case 0x04:
			assert_int_equal(got, 0x07); /* IO, memory, bus master */
			break;
		case 0x05:
			assert_int_equal(got, 0x04); /* INTx disable */
			break;
		case 0x0c: /* cache line size */
		case 0x0d: /* latency timer */
		case 0x3c: /* interrupt line */
			assert_int_equal(got, 0xff);
			break;
		default:
			assert_int_equal(got, before[reg]);
			break;
		}
	}
}

static void test_command_register(void **state)
{
	struct fixture *f = *state;
	cfg_write(f, 0, 0x04, 0x0006, 2);
	assert_int_equal(cfg_read(f, 0, 0x04, 2), 0x0006);
	cfg_write(f, 0, 0x05, 0x04, 1);
	assert_int_equal(cfg_read(f, 0, 0x04, 2), 0x0406);
	/* A dword write covers status too; status stays read-only. */
	cfg_write(f, 0, 0x04, 0xffff0001, 4);
	assert_int_equal(cfg_read(f, 0, 0x04, 4), 0x00000001);
	cfg_write(f, 0, 0x3c, 0x0b, 1);
	assert_int_equal(cfg_read(f, 0, 0x3c, 2), 0x000b);
}

static void test_misaligned_and_odd(void **state)
{
	struct fixture *f = *state;
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 0, 0, 0));
	uint8_t d[8];
	/* Would leave the data dword: the bus turns it away. */
	memset(d, 0, sizeof(d));
	assert_false(bus_read(&f->pio, PCI_CONFIG_DATA + 1, d, 4));
	assert_false(bus_read(&f->pio, PCI_CONFIG_DATA + 3, d, 2));
	assert_false(bus_read(&f->pio, PCI_CONFIG_DATA, d, 8));
	assert_false(bus_write(&f->pio, PCI_CONFIG_DATA + 2, d, 4));
	assert_false(bus_read(&f->pio, PCI_CONFIG_ADDRESS + 2, d, 4));
	/* A 3-byte access is no configuration cycle. */
	assert_true(bus_read(&f->pio, PCI_CONFIG_DATA, d, 3));
	assert_memory_equal(d, "\xff\xff\xff", 3);
	memset(d, 0xff, sizeof(d));
	assert_true(bus_write(&f->pio, PCI_CONFIG_DATA + 1, d, 3));
	assert_true(bus_write(&f->pio, PCI_CONFIG_ADDRESS, d, 3));
	assert_int_equal(in_size(f, PCI_CONFIG_ADDRESS, 4), 0x80000000);
	/* Word accesses at data port offsets 1 and 2 land at the right bytes. */
	assert_int_equal(in_size(f, PCI_CONFIG_DATA + 1, 2), (PCI_HOST_VENDOR >> 8) | (PCI_HOST_DEVICE & 0xff) << 8);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA + 2, 2), PCI_HOST_DEVICE);
	/* The last dword of config space at every size. */
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 0, 0, 0xfc));
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA + 3, 1), 0);
	out_size(f, PCI_CONFIG_DATA + 2, 0xffff, 2);
	assert_int_equal(in_size(f, PCI_CONFIG_DATA, 4), 0);
}

static void test_add_device_slots(void **state)
{
	struct fixture *f = *state;
	static struct pci_device devs[PCI_MAX_SLOTS];
	for (int i = 1; i < PCI_MAX_SLOTS; i++) {
		pci_device_init(&devs[i], 0x1af4, (uint16_t)(0x1040 + i), 0x020000);
		assert_int_equal(devs[i].slot, -1);
		assert_int_equal(pci_add_device(f->pci, &devs[i]), i);
		assert_int_equal(devs[i].slot, i);
	}
	struct pci_device extra;
	pci_device_init(&extra, 0x1af4, 0x1041, 0x020000);
	assert_int_equal(pci_add_device(f->pci, &extra), -ENOSPC);
	assert_int_equal(extra.slot, -1);
	assert_int_equal(pci_add_device(f->pci, &devs[5]), -EEXIST);
	assert_int_equal(pci_add_device(f->pci, NULL), -EINVAL);

	/* Each answers in its slot with its own header. */
	for (unsigned i = 1; i < PCI_MAX_SLOTS; i++) {
		assert_int_equal(cfg_read(f, i, 0x00, 4), (0x1040u + i) << 16 | 0x1af4);
		assert_int_equal(cfg_read(f, i, 0x08, 4), 0x02000000);
		assert_int_equal(cfg_read(f, i, 0x2e, 2), 0x1040 + i);
	}
	cfg_write(f, 7, 0x04, 0x0002, 2);
	assert_int_equal(devs[7].config[0x04], 0x02);
	assert_int_equal(cfg_read(f, 8, 0x04, 2), 0);
}

/* A device with hooks: records writes, overrides reads of one register. */
struct hooked {
	struct pci_device pci;
	uint32_t last_offset, last_value, last_size;
	uint8_t config_at_write; /* config[] byte as the hook saw it */
	int writes;
};

static uint32_t hooked_read(struct pci_device *dev, uint32_t offset, uint32_t size)
{
	if (offset == 0x40 && size == 4)
		return 0xcafef00d;
	uint32_t v = 0;
	for (uint32_t i = 0; i < size; i++)
		v |= (uint32_t)dev->config[offset + i] << (8 * i);
	return v;
}

static void hooked_write(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t size)
{
	struct hooked *h = dev->opaque;
	h->writes++;
	h->last_offset = offset;
	h->last_value = value;
	h->last_size = size;
	h->config_at_write = dev->config[offset];
}

static const struct pci_device_ops hooked_ops = {.config_read = hooked_read, .config_write = hooked_write};

static void test_device_hooks(void **state)
{
	struct fixture *f = *state;
	struct hooked h = {0};
	pci_device_init(&h.pci, 0x1af4, 0x1050, 0x038000);
	h.pci.ops = &hooked_ops;
	h.pci.opaque = &h;
	int slot = pci_add_device(f->pci, &h.pci);
	assert_int_equal(slot, 1);

	assert_int_equal(cfg_read(f, 1, 0x40, 4), 0xcafef00d);
	assert_int_equal(cfg_read(f, 1, 0x00, 2), 0x1af4);

	/* The mask applies first; the hook sees the raw value and the result. */
	cfg_write(f, 1, 0x04, 0xfffe, 2);
	assert_int_equal(h.writes, 1);
	assert_int_equal(h.last_offset, 0x04);
	assert_int_equal(h.last_value, 0xfffe);
	assert_int_equal(h.last_size, 2);
	assert_int_equal(h.config_at_write, 0x06);
	cfg_write(f, 1, 0x3f, 0xaa, 1);
	assert_int_equal(h.last_offset, 0x3f);
	assert_int_equal(h.last_size, 1);
	/* Writes to absent slots reach no hook. */
	cfg_write(f, 2, 0x04, 0xffff, 2);
	assert_int_equal(h.writes, 2);
}

static void test_hostile_guest(void **state)
{
	struct fixture *f = *state;
	struct pci_device dev;
	pci_device_init(&dev, 0x1af4, 0x1041, 0x020000);
	assert_int_equal(pci_add_device(f->pci, &dev), 1);
	uint32_t seed = 777;
	for (int round = 0; round < 50000; round++) {
		seed = seed * 1103515245u + 12345u;
		uint16_t port = (uint16_t)(PCI_CONFIG_ADDRESS + ((seed >> 4) & 7));
		static const uint32_t sizes[] = {1, 2, 4, 8, 3};
		uint32_t size = sizes[(seed >> 8) % 5];
		uint8_t d[8];
		for (int i = 0; i < 8; i++)
			d[i] = (uint8_t)(seed >> (i * 2));
		if ((seed >> 12) & 1)
			bus_write(&f->pio, port, d, size);
		else
			bus_read(&f->pio, port, d, size);
		if ((round & 15) == 0) /* aim at existing devices often */
			outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, (seed >> 16) & 1, 0, seed >> 20));
	}
	/* Identity survived. */
	assert_int_equal(cfg_read(f, 0, 0x00, 4), (uint32_t)PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
	assert_int_equal(cfg_read(f, 1, 0x00, 4), 0x10411af4);
	assert_int_equal(cfg_read(f, 1, 0x08, 4), 0x02000000);
}

static void test_create_conflict(void **state)
{
	(void)state;
	struct bus pio;
	bus_init(&pio, "pio");
	static const struct bus_ops none = {0};
	assert_int_equal(bus_register(&pio, PCI_CONFIG_DATA, 4, &none, NULL, "other"), 0);
	errno = 0;
	assert_null(pci_create(&pio));
	assert_int_equal(errno, EEXIST);
	assert_int_equal(pio.count, 1);
	pci_destroy(NULL);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_host_bridge_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_address_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_absent_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misaligned_and_odd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_device_slots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_guest, setup, teardown),
	    cmocka_unit_test(test_create_conflict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
