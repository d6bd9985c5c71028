/* bus.h — PIO and MMIO dispatch: devices register address ranges with callbacks. */
#ifndef VDI_HYPERVISOR_BUS_H
#define VDI_HYPERVISOR_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A device's access callbacks. `offset` is relative to the registered base;
 * `size` is 1, 2, 4 or 8. `data` is little-endian guest bytes. A read callback
 * must fill all `size` bytes. Callbacks run on vCPU threads, concurrently for
 * different vCPUs: a device that keeps state locks it itself. */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t size);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

/* Ranges kept sorted by base, never overlapping; lookups are a binary search. */
struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	struct bus_range *ranges;
	size_t count;
	size_t capacity;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* 0, -EINVAL (empty or wrapping range), -EEXIST (overlaps `name` of another
 * device; logged), -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque,
		 const char *name);
/* 0, or -ENOENT when no range starts at `base`. */
int bus_unregister(struct bus *bus, uint64_t base);

/* Dispatch an access. Returns false when no range covers [addr, addr+size):
 * for a read, `data` is then filled with 0xff (what a bus with nothing on it
 * returns). An access that straddles the end of a range is unhandled too. */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t size);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t size);

#endif
