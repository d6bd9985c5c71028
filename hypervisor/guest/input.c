/* input.c — the virtio-input driver (drivers.h): the keyboard and the
 * tablet, each with its event queue full of 8-byte buffers that go back to
 * the device as events are taken. Tablet positions are scaled from the
 * device's ABS range to display pixels. */
#include "drivers.h"
#include "guest.h"
#include "virtio.h"

#define ENOMEM 12
#define ENODEV 19

#define INPUT_DEVICES    2
#define INPUT_QUEUE      0 /* eventq; the status queue (LEDs) stays off */
#define INPUT_QUEUE_SIZE 64

/* virtio_input_config (virtio 1.2 5.8.4). */
#define INPUT_CFG_SELECT   0
#define INPUT_CFG_SUBSEL   1
#define INPUT_CFG_SIZE     2
#define INPUT_CFG_DATA     8
#define INPUT_CFG_EV_BITS  0x11
#define INPUT_CFG_ABS_INFO 0x12
#define ABS_INFO_MAX       4 /* min, then max */

struct input_device {
	struct virtio_dev dev;
	struct input_event *buffers; /* INPUT_QUEUE_SIZE of them, descriptor i uses buffer i */
	bool tablet;
	uint32_t abs_max[2]; /* X, Y */
};

static struct input_device input_devices[INPUT_DEVICES];
static unsigned input_count;
static uint32_t input_width = 1, input_height = 1;
static unsigned input_turn; /* which device input_next looks at first */

static uint8_t input_config_select(struct virtio_dev *dev, uint8_t select, uint8_t subsel)
{
	virtio_config_write8(dev, INPUT_CFG_SELECT, select);
	virtio_config_write8(dev, INPUT_CFG_SUBSEL, subsel);
	return virtio_config_read8(dev, INPUT_CFG_SIZE);
}

static void input_post(struct input_device *in, uint16_t i)
{
	struct virtq *vq = &in->dev.queues[INPUT_QUEUE];
	vq->desc[i] = (struct virtq_desc){
	    .addr = (uintptr_t)&in->buffers[i],
	    .len = sizeof(struct input_event),
	    .flags = VIRTQ_DESC_F_WRITE,
	};
	virtq_publish(vq, i);
}

static int input_setup(struct input_device *in)
{
	struct virtio_dev *dev = &in->dev;
	if (!dev->device)
		return -ENODEV;
	in->tablet = input_config_select(dev, INPUT_CFG_EV_BITS, EV_ABS) != 0;
	for (uint8_t axis = ABS_X; axis <= ABS_Y; axis++) {
		uint32_t max = 0;
		if (in->tablet && input_config_select(dev, INPUT_CFG_ABS_INFO, axis))
			max = virtio_config_read32(dev, INPUT_CFG_DATA + ABS_INFO_MAX);
		in->abs_max[axis] = max ? max : 1;
	}
	if (!in->buffers)
		in->buffers = page_alloc(INPUT_QUEUE_SIZE * sizeof(struct input_event));
	if (!in->buffers)
		return -ENOMEM;
	int r = virtio_start(dev, 0, VECTOR_INPUT);
	if (r < 0 || (r = virtio_queue_setup(dev, INPUT_QUEUE, INPUT_QUEUE_SIZE)) < 0)
		return r;
	virtio_driver_ok(dev);
	for (uint16_t i = 0; i < dev->queues[INPUT_QUEUE].size; i++)
		input_post(in, i);
	return 0;
}

int input_init(void)
{
	input_count = 0;
	for (unsigned nth = 0; nth < INPUT_DEVICES; nth++) {
		struct input_device *in = &input_devices[input_count];
		if (virtio_find(&in->dev, VIRTIO_ID_INPUT, nth) < 0)
			break;
		int r = input_setup(in);
		if (r < 0) {
			guest_log("virtio-input %u: setup failed (%d), status 0x%x", nth, r, virtio_status(&in->dev));
			return r;
		}
		input_count++;
	}
	if (!input_count) {
		guest_log("no virtio-input found");
		return -ENODEV;
	}
	return 0;
}

void input_set_display_size(uint32_t width, uint32_t height)
{
	input_width = width ? width : 1;
	input_height = height ? height : 1;
}

static int32_t input_scale(int32_t value, uint32_t max, uint32_t pixels)
{
	if (value <= 0)
		return 0;
	if ((uint32_t)value >= max)
		return (int32_t)(pixels - 1);
	/* Rounded to nearest: the host scaled pixels up the same way, so a
	 * position comes back exactly. */
	return (int32_t)(((uint64_t)value * (pixels - 1) + max / 2) / max);
}

/* 1: an event; 0: none pending; -1: a short (malformed) one, dropped. */
static int input_take(struct input_device *in, struct input_event *ev)
{
	struct virtq_used_elem elem;
	struct virtq *vq = &in->dev.queues[INPUT_QUEUE];
	if (!virtq_take_used(vq, &elem))
		return 0;
	uint16_t i = (uint16_t)(elem.id % vq->size);
	*ev = in->buffers[i];
	input_post(in, i);
	if (in->tablet && ev->type == EV_ABS && ev->code == ABS_X)
		ev->value = input_scale(ev->value, in->abs_max[0], input_width);
	else if (in->tablet && ev->type == EV_ABS && ev->code == ABS_Y)
		ev->value = input_scale(ev->value, in->abs_max[1], input_height);
	return elem.len >= sizeof(*ev) ? 1 : -1;
}

/* Alternating which device goes first keeps a busy tablet from starving
 * the keyboard. */
bool input_next(struct input_event *ev)
{
	for (unsigned n = 0; n < input_count; n++) {
		struct input_device *in = &input_devices[(input_turn + n) % input_count];
		int r;
		while ((r = input_take(in, ev)) < 0)
			;
		if (r > 0) {
			input_turn++;
			return true;
		}
	}
	return false;
}
