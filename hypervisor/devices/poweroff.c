/* poweroff.c — the in-tree guest's power-off port, and the POST code port
 * that Linux also uses as an I/O delay. */
#include "devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define POWEROFF_PORT_LEN 4

/* Nothing here changes after creation, so no lock is needed. */
struct poweroff {
	struct bus *pio;
	void (*poweroff)(void *opaque, uint32_t code);
	void *opaque;
};

static void poweroff_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

static void poweroff_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct poweroff *p = opaque;
	/* Only whole writes at the port itself count; a stray access to its
	 * upper bytes or an odd size is not a request to stop. */
	if (offset != 0 || (size != 1 && size != 2 && size != 4))
		return;
	uint32_t code = 0;
	for (uint32_t i = 0; i < size; i++)
		code |= (uint32_t)data[i] << (8 * i);
	if (p->poweroff)
		p->poweroff(p->opaque, code);
}

static const struct bus_ops poweroff_ops = {
    .read = poweroff_read,
    .write = poweroff_write,
};

/* Port 0x80 is written once per I/O delay, thousands of times at boot: it
 * must stay a silent, cheap sink. */
static void post_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, size);
}

static void post_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)size;
}

static const struct bus_ops post_ops = {
    .read = post_read,
    .write = post_write,
};

struct poweroff *poweroff_create(struct bus *pio, void (*poweroff)(void *opaque, uint32_t code), void *opaque)
{
	struct poweroff *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pio = pio;
	p->poweroff = poweroff;
	p->opaque = opaque;
	int err = bus_register(pio, POWEROFF_PORT, POWEROFF_PORT_LEN, &poweroff_ops, p, "poweroff");
	if (!err) {
		err = bus_register(pio, POST_PORT, 1, &post_ops, p, "post");
		if (err)
			bus_unregister(pio, POWEROFF_PORT);
	}
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

void poweroff_destroy(struct poweroff *p)
{
	if (!p)
		return;
	bus_unregister(p->pio, POWEROFF_PORT);
	bus_unregister(p->pio, POST_PORT);
	free(p);
}

void poweroff_save(struct poweroff *p, struct snap_buf *out)
{
	(void)p;
	(void)out;
}

int poweroff_load(struct poweroff *p, struct snap_cursor *in)
{
	(void)p;
	return snap_cursor_done(in) ? 0 : -EINVAL;
}
