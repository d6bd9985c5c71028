/* virtio_input.c — virtio input devices (virtio 1.x section 5.8): a keyboard
 * and an absolute tablet that carry the host's input events to the guest as
 * evdev events, with what each device declares described in its
 * configuration space. */
#include "virtio.h"

#include "../../common/log.h"

#include <errno.h>
#include <linux/input.h>
#include <stdlib.h>
#include <string.h>

/* Configuration selectors (virtio 1.x 5.8.5). */
#define VIRTIO_INPUT_CFG_UNSET     0x00
#define VIRTIO_INPUT_CFG_ID_NAME   0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS   0x11
#define VIRTIO_INPUT_CFG_ABS_INFO  0x12

/* struct virtio_input_config: select, subsel, size, 5 reserved, then a
 * 128-byte union (string, bitmap, absinfo or devids). */
#define INPUT_CFG_SELECT 0
#define INPUT_CFG_SUBSEL 1
#define INPUT_CFG_SIZE   2
#define INPUT_CFG_DATA   8
#define INPUT_CFG_LEN    (INPUT_CFG_DATA + 128)

#define INPUT_EVENTQ     0
#define INPUT_STATUSQ    1
#define INPUT_EVENT_SIZE 8 /* le16 type, le16 code, le32 value */

#define INPUT_BITMAP_MAX 128 /* bytes of the configuration union */

_Static_assert(KEY_CNT / 8 <= INPUT_BITMAP_MAX, "key bitmap fits the configuration union");

struct virtio_input {
	struct virtio_device vdev;
	const char *name;   /* ID_NAME */
	const char *serial; /* ID_SERIAL */
	uint16_t product;

	/* What the device declares, fixed at creation: per event type, a
	 * bitmap of codes and its length in bytes (0: type not supported). */
	uint8_t bits[EV_CNT][INPUT_BITMAP_MAX];
	uint8_t bits_len[EV_CNT];

	/* Under the device lock. */
	uint8_t config[INPUT_CFG_LEN];
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING_MAX];
	size_t pending_head, pending_count;
	bool overflowing; /* a batch was dropped and none accepted since */
	struct virtq_chain chain;
};

static void input_declare(struct virtio_input *in, uint16_t type, uint16_t code)
{
	in->bits[type][code / 8] |= (uint8_t)(1u << (code % 8));
	if (in->bits_len[type] < code / 8 + 1)
		in->bits_len[type] = (uint8_t)(code / 8 + 1);
}

static bool input_declared(const struct virtio_input *in, uint16_t type, uint16_t code)
{
	if (type == EV_SYN)
		return true;
	if (type >= EV_CNT || code / 8 >= in->bits_len[type])
		return false;
	return in->bits[type][code / 8] & (1u << (code % 8));
}

static void input_declare_keyboard(struct virtio_input *in)
{
	/* Every key a PC keyboard and its media keys can send. */
	for (uint16_t code = KEY_ESC; code <= 255; code++)
		input_declare(in, EV_KEY, code);
	/* EV_REP: the guest repeats held keys itself. */
	input_declare(in, EV_REP, REP_DELAY);
	input_declare(in, EV_REP, REP_PERIOD);
	input_declare(in, EV_LED, LED_NUML);
	input_declare(in, EV_LED, LED_CAPSL);
	input_declare(in, EV_LED, LED_SCROLLL);
}

static void input_declare_tablet(struct virtio_input *in)
{
	static const uint16_t buttons[] = {BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA};
	for (size_t i = 0; i < sizeof(buttons) / sizeof(buttons[0]); i++)
		input_declare(in, EV_KEY, buttons[i]);
	input_declare(in, EV_ABS, ABS_X);
	input_declare(in, EV_ABS, ABS_Y);
	input_declare(in, EV_REL, REL_WHEEL);
	input_declare(in, EV_REL, REL_HWHEEL);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The answer to the select/subsel pair the driver wrote: size 0 when the
 * device has nothing under it. */
static void input_config_update(struct virtio_input *in)
{
	uint8_t select = in->config[INPUT_CFG_SELECT], subsel = in->config[INPUT_CFG_SUBSEL];
	uint8_t *data = &in->config[INPUT_CFG_DATA];
	size_t size = 0;
	memset(&in->config[INPUT_CFG_SIZE], 0, INPUT_CFG_LEN - INPUT_CFG_SIZE);
	switch (select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		if (subsel == 0) {
			const char *s = select == VIRTIO_INPUT_CFG_ID_NAME ? in->name : in->serial;
			size = strlen(s);
			memcpy(data, s, size);
		}
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (subsel == 0) {
			put_le16(&data[0], BUS_VIRTUAL);
			put_le16(&data[2], VIRTIO_PCI_VENDOR);
			put_le16(&data[4], in->product);
			put_le16(&data[6], 1); /* version */
			size = 8;
		}
		break;
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (subsel != EV_SYN && subsel < EV_CNT) {
			size = in->bits_len[subsel];
			memcpy(data, in->bits[subsel], size);
		}
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (input_declared(in, EV_ABS, subsel)) {
			put_le32(&data[0], 0);                     /* min */
			put_le32(&data[4], VIRTIO_TABLET_ABS_MAX); /* max */
			put_le32(&data[8], 0);                     /* fuzz */
			put_le32(&data[12], 0);                    /* flat */
			put_le32(&data[16], 0);                    /* resolution */
			size = 20;
		}
		break;
	default: /* UNSET, PROP_BITS (no properties) and unknown selectors */
		break;
	}
	in->config[INPUT_CFG_SIZE] = (uint8_t)size;
}

static void input_config_read(struct virtio_device *vdev, uint32_t offset, uint8_t *data, uint32_t size)
{
	struct virtio_input *in = vdev->opaque;
	memcpy(data, &in->config[offset], size);
}

/* Only select and subsel are the driver's to write. */
static void input_config_write(struct virtio_device *vdev, uint32_t offset, const uint8_t *data, uint32_t size)
{
	struct virtio_input *in = vdev->opaque;
	bool changed = false;
	for (uint32_t i = 0; i < size; i++) {
		if (offset + i == INPUT_CFG_SELECT || offset + i == INPUT_CFG_SUBSEL) {
			in->config[offset + i] = data[i];
			changed = true;
		}
	}
	if (changed)
		input_config_update(in);
}

/* Hands pending events to the guest, one per eventq buffer, while it has
 * buffers. Device lock held. */
static void input_deliver(struct virtio_input *in)
{
	struct virtio_device *vdev = &in->vdev;
	struct virtqueue *vq = &vdev->queues[INPUT_EVENTQ];
	bool pushed = false;
	while (in->pending_count > 0 && virtq_pop(vq, &in->chain) == 1) {
		if (in->chain.nreadable > 0 || in->chain.writable_bytes < INPUT_EVENT_SIZE) {
			virtio_mark_broken(vdev, "eventq buffer %u: %zu readable and %zu writable bytes for an event",
					   in->chain.head, in->chain.readable_bytes, in->chain.writable_bytes);
			break;
		}
		const struct virtio_input_event *e = &in->pending[in->pending_head];
		uint8_t buf[INPUT_EVENT_SIZE];
		put_le16(&buf[0], e->type);
		put_le16(&buf[2], e->code);
		put_le32(&buf[4], (uint32_t)e->value);
		virtq_chain_write(&in->chain, 0, buf, sizeof(buf));
		virtq_push(vq, &in->chain, sizeof(buf));
		in->pending_head = (in->pending_head + 1) % VIRTIO_INPUT_PENDING_MAX;
		in->pending_count--;
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(vdev, vq);
}

/* LED state and the like from the guest: taken and acknowledged, since the
 * host has no LEDs to light. */
static void input_drain_status(struct virtio_input *in)
{
	struct virtio_device *vdev = &in->vdev;
	struct virtqueue *vq = &vdev->queues[INPUT_STATUSQ];
	bool pushed = false;
	while (virtq_pop(vq, &in->chain) == 1) {
		virtq_push(vq, &in->chain, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(vdev, vq);
}

static void input_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_input *in = vdev->opaque;
	if (vq->index == INPUT_EVENTQ)
		input_deliver(in);
	else
		input_drain_status(in);
}

static void input_driver_ok(struct virtio_device *vdev)
{
	struct virtio_input *in = vdev->opaque;
	input_deliver(in);
	input_drain_status(in);
}

static void input_reset(struct virtio_device *vdev)
{
	struct virtio_input *in = vdev->opaque;
	in->pending_head = 0;
	in->pending_count = 0;
	in->overflowing = false;
	in->config[INPUT_CFG_SELECT] = VIRTIO_INPUT_CFG_UNSET;
	in->config[INPUT_CFG_SUBSEL] = 0;
	input_config_update(in);
}

static const struct virtio_device_ops input_ops = {
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
    .driver_ok = input_driver_ok,
};

int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *events, size_t count)
{
	if (!in || (count > 0 && !events))
		return -EINVAL;
	for (size_t i = 0; i < count; i++) {
		if (!input_declared(in, events[i].type, events[i].code))
			return -EINVAL;
	}
	if (count == 0)
		return 0;
	int err = 0;
	virtio_lock(&in->vdev);
	if (count > VIRTIO_INPUT_PENDING_MAX - in->pending_count) {
		if (!in->overflowing)
			log_warn("%s: the guest is not taking events; dropping input until it does", in->vdev.name);
		in->overflowing = true;
		err = -ENOBUFS;
	} else {
		in->overflowing = false;
		for (size_t i = 0; i < count; i++) {
			size_t at = (in->pending_head + in->pending_count) % VIRTIO_INPUT_PENDING_MAX;
			in->pending[at] = events[i];
			in->pending_count++;
		}
		input_deliver(in);
	}
	virtio_unlock(&in->vdev);
	return err;
}

struct virtio_input *virtio_input_create(const struct virtio_pci_config *cfg, enum virtio_input_kind kind)
{
	if (kind != VIRTIO_INPUT_KEYBOARD && kind != VIRTIO_INPUT_TABLET) {
		errno = EINVAL;
		return NULL;
	}
	struct virtio_input *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	if (kind == VIRTIO_INPUT_KEYBOARD) {
		in->vdev.name = "virtio-keyboard";
		in->name = "vdi keyboard";
		in->serial = "vdi-keyboard";
		in->product = 1;
		input_declare_keyboard(in);
	} else {
		in->vdev.name = "virtio-tablet";
		in->name = "vdi tablet";
		in->serial = "vdi-tablet";
		in->product = 2;
		input_declare_tablet(in);
	}
	in->vdev.device_id = VIRTIO_ID_INPUT;
	in->vdev.config_size = INPUT_CFG_LEN;
	in->vdev.num_queues = 2;
	in->vdev.ops = &input_ops;
	in->vdev.opaque = in;
	input_config_update(in);
	int err = virtio_pci_init(&in->vdev, cfg);
	if (err) {
		free(in);
		errno = -err;
		return NULL;
	}
	return in;
}

void virtio_input_destroy(struct virtio_input *in)
{
	if (!in)
		return;
	virtio_pci_destroy(&in->vdev);
	free(in);
}

void virtio_input_save(struct virtio_input *in, struct snap_buf *out)
{
	virtio_lock(&in->vdev);
	virtio_device_save(&in->vdev, out);
	snap_put_u8(out, in->config[INPUT_CFG_SELECT]);
	snap_put_u8(out, in->config[INPUT_CFG_SUBSEL]);
	snap_put_u8(out, in->overflowing);
	snap_put_u32(out, (uint32_t)in->pending_count);
	for (size_t i = 0; i < in->pending_count; i++) {
		const struct virtio_input_event *e = &in->pending[(in->pending_head + i) % VIRTIO_INPUT_PENDING_MAX];
		snap_put_u16(out, e->type);
		snap_put_u16(out, e->code);
		snap_put_u32(out, (uint32_t)e->value);
	}
	virtio_unlock(&in->vdev);
}

int virtio_input_load(struct virtio_input *in, struct snap_cursor *c)
{
	virtio_lock(&in->vdev);
	int r = virtio_device_load(&in->vdev, c);
	uint8_t select = snap_get_u8(c), subsel = snap_get_u8(c), overflowing = snap_get_u8(c);
	uint32_t count = snap_get_u32(c);
	if (r == 0 && (c->failed || overflowing > 1 || count > VIRTIO_INPUT_PENDING_MAX))
		r = -EINVAL;
	for (uint32_t i = 0; r == 0 && i < count; i++) {
		struct virtio_input_event e = {snap_get_u16(c), snap_get_u16(c), (int32_t)snap_get_u32(c)};
		if (!input_declared(in, e.type, e.code))
			r = -EINVAL;
		in->pending[i] = e;
	}
	if (r == 0 && !snap_cursor_done(c))
		r = -EINVAL;
	if (r == 0) {
		in->pending_head = 0;
		in->pending_count = count;
		in->overflowing = overflowing;
		in->config[INPUT_CFG_SELECT] = select;
		in->config[INPUT_CFG_SUBSEL] = subsel;
		input_config_update(in);
	}
	virtio_unlock(&in->vdev);
	return r;
}
