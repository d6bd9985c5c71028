/* mptable.c — the Intel MultiProcessor Specification 1.4 tables that tell a
 * Linux guest (booted without ACPI) its vCPUs, IOAPIC and ISA interrupts. */
#include "boot.h"

#include "../../common/log.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* Entry layouts from the MP spec, chapter 4. */
struct mptable_floating {
	char signature[4]; /* "_MP_" */
	uint32_t config_table;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5]; /* all 0: a configuration table is present; virtual wire mode */
} __attribute__((packed));

struct mptable_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table, header included */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_address;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mptable_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint8_t reserved[8];
} __attribute__((packed));

struct mptable_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mptable_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;
	uint32_t address;
} __attribute__((packed));

/* I/O and local interrupt assignment entries share one layout. */
struct mptable_interrupt {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags; /* polarity, trigger; 0 = as the source bus conventionally does */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_id;  /* IOAPIC id, or local APIC id (0xFF: all) */
	uint8_t dst_pin; /* IOAPIC INTIN#, or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mptable_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mptable_header) == 44, "MP configuration table header is 44 bytes");
_Static_assert(sizeof(struct mptable_processor) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mptable_bus) == 8, "MP bus entry is 8 bytes");
_Static_assert(sizeof(struct mptable_ioapic) == 8, "MP IOAPIC entry is 8 bytes");
_Static_assert(sizeof(struct mptable_interrupt) == 8, "MP interrupt entry is 8 bytes");

enum {
	MPTABLE_PROCESSOR = 0,
	MPTABLE_BUS = 1,
	MPTABLE_IOAPIC = 2,
	MPTABLE_IO_INTERRUPT = 3,
	MPTABLE_LOCAL_INTERRUPT = 4,
};
enum { MPTABLE_INT = 0, MPTABLE_NMI = 1, MPTABLE_EXTINT = 3 };

#define MPTABLE_CPU_ENABLED    0x01
#define MPTABLE_CPU_BSP        0x02
#define MPTABLE_LAPIC_VERSION  0x14 /* integrated xAPIC */
#define MPTABLE_IOAPIC_VERSION 0x11 /* 82093AA, what KVM's IOAPIC reports */
/* Family 6 in the signature; FPU (bit 0) and APIC (bit 9) in the CPUID.1:EDX
 * features: what firmware reports when it does not copy the real CPUID. */
#define MPTABLE_CPU_SIGNATURE  0x600
#define MPTABLE_CPU_FEATURES   0x201
#define MPTABLE_ISA_IRQS       16
#define MPTABLE_EBDA_END       0xA0000ull

static size_t mptable_config_size(int ncpus)
{
	return sizeof(struct mptable_header) + (size_t)ncpus * sizeof(struct mptable_processor) +
	       sizeof(struct mptable_bus) + sizeof(struct mptable_ioapic) +
	       (MPTABLE_ISA_IRQS + 2) * sizeof(struct mptable_interrupt);
}

static uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

/* Appends one entry at *pos and advances it. */
static void mptable_put(uint8_t **pos, const void *entry, size_t size)
{
	memcpy(*pos, entry, size);
	*pos += size;
}

static void mptable_fill_entries(uint8_t *pos, int ncpus)
{
	for (int i = 0; i < ncpus; i++) {
		struct mptable_processor cpu = {
		    .type = MPTABLE_PROCESSOR,
		    .apic_id = (uint8_t)i,
		    .apic_version = MPTABLE_LAPIC_VERSION,
		    .flags = MPTABLE_CPU_ENABLED | (i == 0 ? MPTABLE_CPU_BSP : 0),
		    .signature = MPTABLE_CPU_SIGNATURE,
		    .features = MPTABLE_CPU_FEATURES,
		};
		mptable_put(&pos, &cpu, sizeof(cpu));
	}
	struct mptable_bus isa = {.type = MPTABLE_BUS, .bus_id = 0};
	memcpy(isa.bus_type, "ISA   ", sizeof(isa.bus_type));
	mptable_put(&pos, &isa, sizeof(isa));

	/* The IOAPIC's id follows the local APIC ids, so none collide. */
	uint8_t ioapic_id = (uint8_t)ncpus;
	struct mptable_ioapic ioapic = {
	    .type = MPTABLE_IOAPIC,
	    .id = ioapic_id,
	    .version = MPTABLE_IOAPIC_VERSION,
	    .flags = 1, /* usable */
	    .address = (uint32_t)VM_IOAPIC_BASE,
	};
	mptable_put(&pos, &ioapic, sizeof(ioapic));

	/* ISA IRQ n arrives on IOAPIC pin n, IRQ 0 included: that is KVM's
	 * default GSI routing (each GSI below 16 drives PIC line n and IOAPIC
	 * pin n), and the in-kernel PIT raises GSI 0. PC firmware describes the
	 * timer on pin 2 only because its board wires it there; a table saying
	 * so here would send Linux to a pin that never fires. */
	for (int irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		struct mptable_interrupt io = {
		    .type = MPTABLE_IO_INTERRUPT,
		    .irq_type = MPTABLE_INT,
		    .src_bus = 0,
		    .src_irq = (uint8_t)irq,
		    .dst_id = ioapic_id,
		    .dst_pin = (uint8_t)irq,
		};
		mptable_put(&pos, &io, sizeof(io));
	}
	/* The PIC drives LINT0 of the BSP (virtual wire mode); NMI goes to
	 * LINT1 of every CPU. */
	struct mptable_interrupt extint = {
	    .type = MPTABLE_LOCAL_INTERRUPT,
	    .irq_type = MPTABLE_EXTINT,
	    .dst_id = 0,
	    .dst_pin = 0,
	};
	mptable_put(&pos, &extint, sizeof(extint));
	struct mptable_interrupt nmi = {
	    .type = MPTABLE_LOCAL_INTERRUPT,
	    .irq_type = MPTABLE_NMI,
	    .dst_id = 0xFF,
	    .dst_pin = 1,
	};
	mptable_put(&pos, &nmi, sizeof(nmi));
}

int mptable_write(struct vm *vm)
{
	int ncpus = vm->ncpus;
	if (ncpus < 1 || ncpus > VM_MAX_CPUS) {
		log_error("MP table: %d vCPUs (1 to %d supported)", ncpus, VM_MAX_CPUS);
		return -EINVAL;
	}

	/* The floating pointer goes at the start of the EBDA, where Linux
	 * scans (the last KiB below 640 KiB). The configuration table follows
	 * it while it fits below 0xA0000 — up to 40 vCPUs; past that it goes
	 * to the reserved BIOS area, which the spec allows and Linux reads
	 * wherever the pointer says. */
	size_t config_size = mptable_config_size(ncpus);
	uint64_t floating_gpa = VM_EBDA_START;
	uint64_t config_gpa = floating_gpa + sizeof(struct mptable_floating);
	if (config_gpa + config_size > MPTABLE_EBDA_END)
		config_gpa = VM_BIOS_START;
	struct mptable_floating *fp = vm_gpa(vm, floating_gpa, sizeof(*fp));
	uint8_t *config = vm_gpa(vm, config_gpa, config_size);
	if (!fp || !config) {
		log_error("MP table: guest RAM too small to hold it");
		return -ENOMEM;
	}

	memset(config, 0, config_size);
	mptable_fill_entries(config + sizeof(struct mptable_header), ncpus);
	struct mptable_header hdr = {
	    .length = (uint16_t)config_size,
	    .spec_rev = 4,
	    .entry_count = (uint16_t)(ncpus + 1 + 1 + MPTABLE_ISA_IRQS + 2),
	    .lapic_address = (uint32_t)VM_LAPIC_BASE,
	};
	memcpy(hdr.signature, "PCMP", 4);
	memcpy(hdr.oem_id, "VDI     ", 8);
	memcpy(hdr.product_id, "VDI-VMM     ", 12);
	memcpy(config, &hdr, sizeof(hdr));
	config[offsetof(struct mptable_header, checksum)] = mptable_checksum(config, config_size);

	struct mptable_floating f = {
	    .config_table = (uint32_t)config_gpa,
	    .length = 1,
	    .spec_rev = 4,
	};
	memcpy(f.signature, "_MP_", 4);
	f.checksum = mptable_checksum((const uint8_t *)&f, sizeof(f));
	memcpy(fp, &f, sizeof(f));
	return 0;
}
