/* pci.c — PCI configuration mechanism #1 (0xcf8/0xcfc): test=pci lists every
 * function on bus 0 and checks that absent devices read as all ones. */
#include "arch.h"
#include "guest.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_ENABLE         0x80000000u

#define PCI_SLOTS                32
#define PCI_FUNCTIONS            8
#define PCI_VENDOR_NONE          0xffff
#define PCI_HEADER_MULTIFUNCTION 0x80

#define PCI_OFFSET_ID     0x00 /* vendor (low 16 bits), device (high 16) */
#define PCI_OFFSET_CLASS  0x08 /* revision (low 8 bits), class code (high 24) */
#define PCI_OFFSET_HEADER 0x0c /* header type in bits 16-23 */

static uint32_t pci_read32(unsigned bus, unsigned slot, unsigned function, unsigned offset)
{
	outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | bus << 16 | slot << 11 | function << 8 | (offset & 0xfc));
	return inl(PCI_CONFIG_DATA);
}

/* Prints the function if present; returns whether it is. */
static bool pci_report_function(unsigned slot, unsigned function)
{
	uint32_t id = pci_read32(0, slot, function, PCI_OFFSET_ID);
	if ((id & 0xffff) == PCI_VENDOR_NONE)
		return false;
	uint32_t class_code = pci_read32(0, slot, function, PCI_OFFSET_CLASS) >> 8;
	guest_log("pci 00:%02x.%u %04x:%04x class %06x", slot, function, id & 0xffff, id >> 16, class_code);
	return true;
}

/* An absent device must read all ones in the whole dword, not just in the
 * vendor field. */
static bool pci_check_absent(unsigned bus, unsigned slot)
{
	uint32_t id = pci_read32(bus, slot, 0, PCI_OFFSET_ID);
	if (id == 0xffffffffu)
		return true;
	guest_log("pci FAILED absent %02x:%02x.0 read 0x%08x, expected 0xffffffff", bus, slot, id);
	return false;
}

bool pci_test(void)
{
	unsigned found = 0;
	int absent_slot = -1;
	bool host_bridge = false;

	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		if (!pci_report_function(slot, 0)) {
			if (absent_slot < 0)
				absent_slot = (int)slot;
			continue;
		}
		found++;
		if (slot == 0)
			host_bridge = true;
		uint32_t header = pci_read32(0, slot, 0, PCI_OFFSET_HEADER) >> 16;
		if (!(header & PCI_HEADER_MULTIFUNCTION))
			continue;
		for (unsigned function = 1; function < PCI_FUNCTIONS; function++)
			found += pci_report_function(slot, function);
	}

	if (!host_bridge) {
		guest_log("pci FAILED no host bridge at 00:00.0");
		return false;
	}
	if (absent_slot >= 0 && !pci_check_absent(0, (unsigned)absent_slot))
		return false;
	/* The VMM has bus 0 only. */
	if (!pci_check_absent(1, 0))
		return false;
	guest_log("pci ok %u functions", found);
	return true;
}
