/* devices.h — the platform devices every VM has. One file per device; each
 * registers its ranges on a bus at creation and assumes the guest is hostile:
 * any value at any offset in any size must leave the device in a defined
 * state, never crash the VMM. Devices depend on a bus and callbacks only, not
 * on struct vm, so their register models are unit-testable. */
#ifndef VDI_HYPERVISOR_DEVICES_H
#define VDI_HYPERVISOR_DEVICES_H

#include "../bus.h"
#include "../vmm.h"

#include <stdint.h>

/* 16550A UART. Output bytes go to out_fd (-1: discarded). Interrupts (THR
 * empty, receive data) are raised on `gsi` through `irq` when IER enables
 * them. */
#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
struct uart;
struct uart *uart_create(struct bus *pio, uint16_t base, uint32_t gsi, struct irq_line irq, int out_fd);
/* Queue bytes the guest will read from RBR (console input); returns bytes
 * taken: at most the free receive FIFO space (16 bytes, 1 while the guest
 * has the FIFOs off). The caller keeps or drops the rest. */
size_t uart_receive(struct uart *uart, const uint8_t *data, size_t len);
void uart_destroy(struct uart *uart);

/* CMOS RTC and NVRAM at ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data).
 * Time registers read the host clock (UTC) in BCD or binary and 12/24-hour
 * form as status register B selects. */
#define RTC_PORT_INDEX 0x70
struct rtc;
struct rtc *rtc_create(struct bus *pio);
void rtc_destroy(struct rtc *rtc);

/* i8042 keyboard controller, enough of it for a guest to find it and to pulse
 * the reset line (command 0xfe to port 0x64), which calls `reset`. */
#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD  0x64
struct i8042;
struct i8042 *i8042_create(struct bus *pio, void (*reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *kbc);

/* The in-tree guest's power-off port: a 1, 2 or 4 byte write of 0 powers the
 * VM off; a non-zero value powers it off reporting that guest failure code.
 * Also sinks port 0x80 (POST codes, Linux's I/O delay). */
#define POWEROFF_PORT 0x510
#define POST_PORT     0x80
struct poweroff;
struct poweroff *poweroff_create(struct bus *pio, void (*poweroff)(void *opaque, uint32_t code), void *opaque);
void poweroff_destroy(struct poweroff *p);

/* PCI host bridge, configuration mechanism #1 (address at 0xcf8, data at
 * 0xcfc-0xcff). Bus 0 only. Device 00:00.0 is the host bridge itself. */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_HOST_VENDOR    0x1b36 /* Red Hat's generic PCIe host bridge id */
#define PCI_HOST_DEVICE    0x0008
#define PCI_MAX_SLOTS      32
#define PCI_CONFIG_SIZE    256

struct pci_device;
/* A device's config space hooks, for what config[] alone cannot model. Both
 * get the offset within the 256-byte space and a size of 1, 2 or 4 (never
 * crossing a dword) and run with the PCI bus lock held, so they must not
 * call pci_* functions. A write first updates config[] through writable[]
 * (BAR sizing falls out of a BAR's mask), then config_write sees the raw
 * guest value, e.g. to move a BAR. A read's value is config_read's return
 * value (low `size` bytes, little-endian); a hook that does not model that
 * offset returns the bytes of config[]. */
struct pci_device_ops {
	uint32_t (*config_read)(struct pci_device *dev, uint32_t offset, uint32_t size);
	void (*config_write)(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t size);
};
struct pci_device {
	uint8_t config[PCI_CONFIG_SIZE];   /* little-endian; guarded by the PCI bus lock once added */
	uint8_t writable[PCI_CONFIG_SIZE]; /* per-byte mask of bits the guest may change */
	const struct pci_device_ops *ops;  /* NULL: plain config space */
	void *opaque;
	int slot;
};
struct pci_bus;
struct pci_bus *pci_create(struct bus *pio);
/* Resets all of `dev` and fills a type-0 header: ids, subsystem ids (the
 * same), 24-bit class code, revision 0; command bits IO, memory, bus master
 * and INTx disable, cache line size, latency timer and interrupt line are
 * writable. Set ops and opaque afterwards. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code);
/* Puts `dev` in the first free slot and returns that slot; -ENOSPC when all
 * are taken, -EEXIST when `dev` is already on the bus. */
int pci_add_device(struct pci_bus *pci, struct pci_device *dev);
void pci_destroy(struct pci_bus *pci);

#endif
