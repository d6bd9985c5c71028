/* label.c — the label port: a short text the host sets and the in-tree guest
 * shows (the session's user name on its taskbar). Port layout in
 * hypervisor/guest/drivers.h; the guest reads it whenever the generation
 * moves, and hears of a new one at once through the interrupt vector it
 * wrote to the notify register (a restored clone, a user who just logged
 * in), instead of at its next clock tick. */
#include "devices.h"

#include "../../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_REG_GENERATION 0x0
#define LABEL_REG_LENGTH     0x4
#define LABEL_REG_OFFSET     0x8
#define LABEL_REG_DATA       0xc
#define LABEL_REG_NOTIFY     0x10
#define LABEL_MSI_ADDRESS    0xfee00000u /* fixed delivery to APIC 0 */

struct label {
	pthread_mutex_t lock;
	struct bus *pio;
	struct msi_line msi;
	uint32_t notify; /* the vector to raise on a new label; 0: none */
	uint32_t generation;
	uint32_t length;
	uint32_t offset; /* where the next data read starts */
	char text[LABEL_TEXT_MAX];
};

static void label_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct label *l = opaque;
	uint32_t value = 0xffffffff;
	pthread_mutex_lock(&l->lock);
	if (size == 4) {
		switch (offset) {
		case LABEL_REG_GENERATION:
			value = l->generation;
			break;
		case LABEL_REG_LENGTH:
			value = l->length;
			break;
		case LABEL_REG_OFFSET:
			value = l->offset;
			break;
		case LABEL_REG_NOTIFY:
			value = l->notify;
			break;
		case LABEL_REG_DATA:
			value = 0;
			for (uint32_t i = 0; i < 4; i++)
				if (l->offset < l->length && l->offset + i < l->length)
					value |= (uint32_t)(uint8_t)l->text[l->offset + i] << (8 * i);
			if (l->offset < LABEL_TEXT_MAX)
				l->offset += 4;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	for (uint32_t i = 0; i < size; i++)
		data[i] = i < 4 ? (uint8_t)(value >> (8 * i)) : 0xff;
}

static void label_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct label *l = opaque;
	if ((offset != LABEL_REG_OFFSET && offset != LABEL_REG_NOTIFY) || size != 4)
		return;
	uint32_t value = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	pthread_mutex_lock(&l->lock);
	if (offset == LABEL_REG_OFFSET)
		l->offset = value < LABEL_TEXT_MAX ? value : LABEL_TEXT_MAX;
	else /* vectors 0-31 are the CPU's exceptions: no interrupt */
		l->notify = value >= 32 && value <= 255 ? value : 0;
	pthread_mutex_unlock(&l->lock);
}

static const struct bus_ops label_ops = {.read = label_read, .write = label_write};

struct label *label_create(struct bus *pio, struct msi_line msi)
{
	struct label *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->pio = pio;
	l->msi = msi;
	int err = bus_register(pio, LABEL_PORT_BASE, LABEL_PORT_LEN, &label_ops, l, "label");
	if (err) {
		pthread_mutex_destroy(&l->lock);
		free(l);
		errno = -err;
		return NULL;
	}
	return l;
}

int label_set(struct label *l, const char *text, size_t len)
{
	if (len >= LABEL_TEXT_MAX || memchr(text, '\0', len))
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	memcpy(l->text, text, len);
	l->length = (uint32_t)len;
	l->generation++;
	uint32_t notify = l->notify;
	pthread_mutex_unlock(&l->lock);
	if (notify && l->msi.signal && l->msi.signal(l->msi.opaque, LABEL_MSI_ADDRESS, notify) < 0)
		log_warn("label: the new label's interrupt was not delivered; the guest reads it at its next tick");
	return 0;
}

void label_destroy(struct label *l)
{
	if (!l)
		return;
	bus_unregister(l->pio, LABEL_PORT_BASE);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void label_save(struct label *l, struct snap_buf *out)
{
	pthread_mutex_lock(&l->lock);
	snap_put_u32(out, l->generation);
	snap_put_u32(out, l->offset);
	snap_put_u32(out, l->notify);
	snap_put_u32(out, l->length);
	snap_put_bytes(out, l->text, l->length);
	pthread_mutex_unlock(&l->lock);
}

int label_load(struct label *l, struct snap_cursor *in)
{
	uint32_t generation = snap_get_u32(in), offset = snap_get_u32(in), notify = snap_get_u32(in),
		 length = snap_get_u32(in);
	if (in->failed || length >= LABEL_TEXT_MAX || offset > LABEL_TEXT_MAX ||
	    (notify && (notify < 32 || notify > 255)))
		return -EINVAL;
	const uint8_t *text = snap_get_view(in, length);
	if (!snap_cursor_done(in) || memchr(text, '\0', length))
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	memset(l->text, 0, sizeof(l->text));
	memcpy(l->text, text, length);
	l->length = length;
	l->offset = offset;
	l->notify = notify;
	l->generation = generation;
	pthread_mutex_unlock(&l->lock);
	return 0;
}
