/* bus.c — PIO and MMIO dispatch through a sorted array of ranges. */
#include "bus.h"

#include "../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	pthread_rwlock_destroy(&bus->lock);
	bus->ranges = NULL;
	bus->count = bus->capacity = 0;
}

/* Index of the first range whose base is > addr. */
static size_t bus_upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque,
		 const char *name)
{
	if (len == 0 || base + (len - 1) < base || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	size_t at = bus_upper_bound(bus, base);
	const struct bus_range *prev = at > 0 ? &bus->ranges[at - 1] : NULL;
	const struct bus_range *next = at < bus->count ? &bus->ranges[at] : NULL;
	const struct bus_range *clash = NULL;
	if (prev && base - prev->base < prev->len)
		clash = prev;
	else if (next && next->base - base < len)
		clash = next;
	if (clash) {
		log_error("%s range 0x%llx+0x%llx for %s overlaps %s", bus->name, (unsigned long long)base,
			  (unsigned long long)len, name, clash->name);
		pthread_rwlock_unlock(&bus->lock);
		return -EEXIST;
	}
	if (bus->count == bus->capacity) {
		size_t cap = bus->capacity ? bus->capacity * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
		if (!r) {
			pthread_rwlock_unlock(&bus->lock);
			return -ENOMEM;
		}
		bus->ranges = r;
		bus->capacity = cap;
	}
	memmove(&bus->ranges[at + 1], &bus->ranges[at], (bus->count - at) * sizeof(bus->ranges[0]));
	bus->ranges[at] = (struct bus_range){base, len, ops, opaque, name};
	bus->count++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	pthread_rwlock_wrlock(&bus->lock);
	size_t at = bus_upper_bound(bus, base);
	if (at == 0 || bus->ranges[at - 1].base != base) {
		pthread_rwlock_unlock(&bus->lock);
		return -ENOENT;
	}
	at--;
	memmove(&bus->ranges[at], &bus->ranges[at + 1], (bus->count - at - 1) * sizeof(bus->ranges[0]));
	bus->count--;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

/* The range covering all of [addr, addr+size), copied out under the lock. */
static bool bus_find(struct bus *bus, uint64_t addr, uint32_t size, struct bus_range *out)
{
	bool found = false;
	pthread_rwlock_rdlock(&bus->lock);
	size_t at = bus_upper_bound(bus, addr);
	if (at > 0) {
		const struct bus_range *r = &bus->ranges[at - 1];
		uint64_t off = addr - r->base;
		if (off < r->len && size <= r->len - off) {
			*out = *r;
			found = true;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t size)
{
	struct bus_range r;
	if (size == 0 || size > 8 || !bus_find(bus, addr, size, &r)) {
		memset(data, 0xff, size > 8 ? 8 : size);
		return false;
	}
	if (r.ops->read)
		r.ops->read(r.opaque, addr - r.base, data, size);
	else
		memset(data, 0xff, size);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t size)
{
	struct bus_range r;
	if (size == 0 || size > 8 || !bus_find(bus, addr, size, &r))
		return false;
	if (r.ops->write)
		r.ops->write(r.opaque, addr - r.base, data, size);
	return true;
}
