/* test_virtio_input.c — unit tests for the virtio keyboard and tablet
 * (hypervisor/devices/virtio_input.c): their configuration space, event
 * delivery into guest buffers, the pending queue and its bound, the status
 * queue, and injection from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/log.h"
#include "virtio_guest.h"

#include <errno.h>
#include <linux/input.h>
#include <pthread.h>
#include <stdatomic.h>

#define CFG_SELECT 0
#define CFG_SUBSEL 1
#define CFG_SIZE   2
#define CFG_DATA   8

#define EVENTQ  0
#define STATUSQ 1

struct fixture {
	struct vg *g;
	struct virtio_input *input;
	uint16_t next_desc[2];
	uint16_t used_seen[2];
};

static int setup_kind(void **state, enum virtio_input_kind kind)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->g = vg_create();
	if (!f->g)
		return -1;
	f->input = virtio_input_create(&f->g->cfg, kind);
	if (!f->input)
		return -1;
	*state = f;
	return 0;
}

static int setup_keyboard(void **state)
{
	return setup_kind(state, VIRTIO_INPUT_KEYBOARD);
}

static int setup_tablet(void **state)
{
	return setup_kind(state, VIRTIO_INPUT_TABLET);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_input_destroy(f->input);
	vg_destroy(f->g);
	free(f);
	log_set_level(LOG_INFO);
	return 0;
}

static uint8_t cfg_byte(struct vg *g, uint32_t off)
{
	return (uint8_t)vg_mmio_read(g, g->bar + g->device + off, 1);
}

/* Selects select/subsel and returns size, with the data in out[128]. */
static uint8_t cfg_query(struct vg *g, uint8_t select, uint8_t subsel, uint8_t *out)
{
	vg_mmio_write(g, g->bar + g->device + CFG_SELECT, select, 1);
	vg_mmio_write(g, g->bar + g->device + CFG_SUBSEL, subsel, 1);
	for (uint32_t i = 0; i < 128; i += 4) {
		uint32_t v = (uint32_t)vg_mmio_read(g, g->bar + g->device + CFG_DATA + i, 4);
		memcpy(out + i, &v, 4);
	}
	return cfg_byte(g, CFG_SIZE);
}

static bool bit(const uint8_t *bitmap, unsigned n)
{
	return bitmap[n / 8] & (1u << (n % 8));
}

/* Memory, capabilities, features, both queues of 8 on INTx, no DRIVER_OK. */
static void set_up_queues(struct fixture *f)
{
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_int_equal(vg_negotiate(g), VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK);
	vg_queue_setup(g, EVENTQ, 8, 0xffff);
	vg_queue_setup(g, STATUSQ, 8, 0xffff);
	f->next_desc[0] = f->next_desc[1] = 0;
	f->used_seen[0] = f->used_seen[1] = 0;
}

static void driver_ok(struct vg *g)
{
	vg_status(g, VG_S_ACKNOWLEDGE | VG_S_DRIVER | VG_S_FEATURES_OK | VG_S_DRIVER_OK);
}

static uint64_t event_buffer(uint16_t desc)
{
	return VG_DATA + 16u * desc;
}

/* Posts n 8-byte eventq buffers (descriptors round-robin). */
static void post_event_buffers(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		uint16_t d = f->next_desc[EVENTQ];
		f->next_desc[EVENTQ] = (uint16_t)((d + 1) % 8);
		vg_set_desc(f->g, EVENTQ, d, event_buffer(d), 8, 2 /* WRITE */, 0);
		memset(f->g->mem + event_buffer(d), 0xee, 8);
		vg_make_available(f->g, EVENTQ, d);
	}
}

/* The next event the device returned, checked for an 8-byte completion. */
static struct virtio_input_event next_event(struct fixture *f)
{
	uint16_t at = f->used_seen[EVENTQ]++;
	assert_true((uint16_t)(vg_used_idx(f->g, EVENTQ) - at) > 0);
	uint32_t id, len;
	vg_used_elem(f->g, EVENTQ, at, &id, &len);
	assert_int_equal(len, 8);
	const uint8_t *p = f->g->mem + event_buffer((uint16_t)id);
	struct virtio_input_event e;
	e.type = (uint16_t)(p[0] | p[1] << 8);
	e.code = (uint16_t)(p[2] | p[3] << 8);
	e.value = (int32_t)((uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24);
	return e;
}

static void assert_event(struct virtio_input_event e, uint16_t type, uint16_t code, int32_t value)
{
	assert_int_equal(e.type, type);
	assert_int_equal(e.code, code);
	assert_int_equal(e.value, value);
}

static void test_keyboard_identity_and_config(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	assert_int_equal(vg_cfg_read(g, 0x00, 4), (0x1040u + 18) << 16 | 0x1af4);
	assert_int_equal(vg_cfg_read(g, 0x08, 4) >> 8, 0x098000);
	vg_enable_memory(g);
	vg_find_caps(g);
	assert_true(g->has_device_cfg);
	assert_int_equal(g->device, 0x2000);
	assert_int_equal(g->device_len, 136);

	uint8_t d[128];
	assert_int_equal(cfg_query(g, 0x01, 0, d), 12);
	assert_memory_equal(d, "vdi keyboard", 12);
	assert_int_equal(d[12], 0);
	assert_int_equal(cfg_query(g, 0x02, 0, d), strlen("vdi-keyboard"));
	assert_int_equal(cfg_query(g, 0x03, 0, d), 8);
	assert_int_equal(d[0] | d[1] << 8, BUS_VIRTUAL);
	assert_int_equal(d[2] | d[3] << 8, 0x1af4);
	assert_int_equal(d[4] | d[5] << 8, 1);
	assert_int_equal(d[6] | d[7] << 8, 1);
	assert_int_equal(cfg_query(g, 0x10, 0, d), 0); /* no properties */
	/* Keys 1..255, nothing else. */
	assert_int_equal(cfg_query(g, 0x11, EV_KEY, d), 32);
	assert_false(bit(d, 0));
	for (unsigned k = 1; k < 256; k++)
		assert_true(bit(d, k));
	assert_int_equal(cfg_query(g, 0x11, EV_REP, d), 1);
	assert_int_equal(d[0], 0x03);
	assert_int_equal(cfg_query(g, 0x11, EV_LED, d), 1);
	assert_int_equal(d[0], 1 << LED_NUML | 1 << LED_CAPSL | 1 << LED_SCROLLL);
	assert_int_equal(cfg_query(g, 0x11, EV_REL, d), 0);
	assert_int_equal(cfg_query(g, 0x11, EV_ABS, d), 0);
	assert_int_equal(cfg_query(g, 0x11, EV_SYN, d), 0);
	assert_int_equal(cfg_query(g, 0x11, 0xff, d), 0);
	assert_int_equal(cfg_query(g, 0x12, ABS_X, d), 0);
	/* Unknown selectors and subselectors: size 0 and zeros. */
	assert_int_equal(cfg_query(g, 0x55, 0, d), 0);
	for (int i = 0; i < 128; i++)
		assert_int_equal(d[i], 0);
	assert_int_equal(cfg_query(g, 0x01, 1, d), 0);
	assert_int_equal(cfg_query(g, 0x00, 0, d), 0);
}

static void test_config_access_rules(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	uint8_t d[128];
	cfg_query(g, 0x01, 0, d);
	/* size and data belong to the device. */
	vg_mmio_write(g, g->bar + g->device + CFG_SIZE, 99, 1);
	vg_mmio_write(g, g->bar + g->device + CFG_DATA, 0x41414141, 4);
	assert_int_equal(cfg_byte(g, CFG_SIZE), 12);
	assert_int_equal(cfg_byte(g, CFG_DATA), 'v');
	/* select and subsel read back; one 2-byte write sets both. */
	vg_mmio_write(g, g->bar + g->device + CFG_SELECT, 0x11 | EV_LED << 8, 2);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device, 4), 0x11 | EV_LED << 8 | 1 << 16);
	assert_int_equal(cfg_byte(g, CFG_DATA), 0x07);
	/* Past the structure: zeros, writes dropped, including a straddle. */
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 136, 4), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 132, 8), 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 128, 8), 0);
	vg_mmio_write(g, g->bar + g->device + 135, 0xffff, 2);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device + 0xff8, 8), 0);
	/* Every size at every offset is served. */
	for (uint32_t off = 0; off < 140; off++)
		for (uint32_t size = 1; size <= 8; size++)
			vg_mmio_read(g, g->bar + g->device + off, size);
	/* A reset forgets the selection. */
	vg_status(g, 0);
	assert_int_equal(vg_mmio_read(g, g->bar + g->device, 4), 0);
}

static void test_tablet_config(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	vg_enable_memory(g);
	vg_find_caps(g);
	uint8_t d[128];
	assert_int_equal(cfg_query(g, 0x01, 0, d), 10);
	assert_memory_equal(d, "vdi tablet", 10);
	assert_int_equal(cfg_query(g, 0x03, 0, d), 8);
	assert_int_equal(d[4] | d[5] << 8, 2);
	assert_int_equal(cfg_query(g, 0x11, EV_KEY, d), BTN_EXTRA / 8 + 1);
	for (unsigned k = 0; k < (BTN_EXTRA / 8 + 1) * 8; k++)
		assert_int_equal(bit(d, k), k >= BTN_LEFT && k <= BTN_EXTRA);
	assert_int_equal(cfg_query(g, 0x11, EV_ABS, d), 1);
	assert_int_equal(d[0], 1 << ABS_X | 1 << ABS_Y);
	assert_int_equal(cfg_query(g, 0x11, EV_REL, d), 2);
	assert_true(bit(d, REL_WHEEL));
	assert_true(bit(d, REL_HWHEEL));
	assert_false(bit(d, REL_X));
	assert_int_equal(cfg_query(g, 0x11, EV_LED, d), 0);
	assert_int_equal(cfg_query(g, 0x11, EV_REP, d), 0);
	for (unsigned axis = ABS_X; axis <= ABS_Y; axis++) {
		assert_int_equal(cfg_query(g, 0x12, (uint8_t)axis, d), 20);
		uint32_t v[5];
		memcpy(v, d, sizeof(v));
		assert_int_equal(v[0], 0);
		assert_int_equal(v[1], VIRTIO_TABLET_ABS_MAX);
		assert_int_equal(v[2], 0);
		assert_int_equal(v[3], 0);
	}
	assert_int_equal(cfg_query(g, 0x12, ABS_Z, d), 0);
	assert_int_equal(cfg_query(g, 0x12, 0xff, d), 0);
}

static void test_send_validation(void **state)
{
	struct fixture *f = *state;
	const struct virtio_input_event ok[] = {
	    {EV_KEY, KEY_A, 1}, {EV_KEY, KEY_ESC, 0}, {EV_KEY, 255, 1}, {EV_LED, LED_CAPSL, 1}, {EV_SYN, SYN_REPORT, 0},
	};
	/* Sent before the driver's reset: thrown away by it. */
	assert_int_equal(virtio_input_send(f->input, ok, 1), 0);
	set_up_queues(f);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(virtio_input_send(f->input, &ok[i], 1), 0);
	const struct virtio_input_event bad[] = {
	    {EV_KEY, 0, 1},      {EV_KEY, 256, 1},      {EV_KEY, BTN_LEFT, 1}, {EV_REL, REL_WHEEL, 1},
	    {EV_ABS, ABS_X, 5},  {EV_LED, LED_KANA, 1}, {EV_MSC, MSC_SCAN, 1}, {EV_MAX, 0, 0},
	    {0xffff, 0xffff, 0}, {EV_KEY, 0xffff, 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(virtio_input_send(f->input, &bad[i], 1), -EINVAL);
	/* One bad event refuses the whole batch. */
	const struct virtio_input_event mixed[] = {{EV_KEY, KEY_A, 1}, {EV_REL, REL_X, 1}, {EV_SYN, 0, 0}};
	assert_int_equal(virtio_input_send(f->input, mixed, 3), -EINVAL);
	assert_int_equal(virtio_input_send(f->input, NULL, 0), 0);
	assert_int_equal(virtio_input_send(f->input, NULL, 1), -EINVAL);
	assert_int_equal(virtio_input_send(NULL, ok, 1), -EINVAL);
	/* Nothing went to a guest whose driver is not ready: all are pending
	 * and come out, in order, at DRIVER_OK. */
	post_event_buffers(f, 8);
	driver_ok(f->g);
	assert_int_equal(vg_used_idx(f->g, EVENTQ), 5);
	for (size_t i = 0; i < 5; i++)
		assert_event(next_event(f), ok[i].type, ok[i].code, ok[i].value);
}

static void test_tablet_send_validation(void **state)
{
	struct fixture *f = *state;
	const struct virtio_input_event ok[] = {
	    {EV_ABS, ABS_X, 0},      {EV_ABS, ABS_Y, VIRTIO_TABLET_ABS_MAX},
	    {EV_KEY, BTN_LEFT, 1},   {EV_KEY, BTN_EXTRA, 0},
	    {EV_REL, REL_WHEEL, -1}, {EV_REL, REL_HWHEEL, 1},
	    {EV_SYN, SYN_REPORT, 0},
	};
	set_up_queues(f);
	assert_int_equal(virtio_input_send(f->input, ok, sizeof(ok) / sizeof(ok[0])), 0);
	const struct virtio_input_event bad[] = {
	    {EV_KEY, KEY_A, 1}, {EV_KEY, BTN_TOUCH, 1}, {EV_ABS, ABS_Z, 1}, {EV_REL, REL_X, 1}, {EV_LED, 0, 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(virtio_input_send(f->input, &bad[i], 1), -EINVAL);
	post_event_buffers(f, 8);
	driver_ok(f->g);
	assert_int_equal(vg_used_idx(f->g, EVENTQ), 7);
	for (size_t i = 0; i < 7; i++)
		assert_event(next_event(f), ok[i].type, ok[i].code, ok[i].value);
}

static void test_delivery_as_buffers_come(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	set_up_queues(f);
	driver_ok(g);
	/* No buffers yet: events wait. */
	const struct virtio_input_event press[] = {{EV_KEY, KEY_A, 1}, {EV_SYN, SYN_REPORT, 0}};
	const struct virtio_input_event release[] = {{EV_KEY, KEY_A, 0}, {EV_SYN, SYN_REPORT, 0}};
	assert_int_equal(virtio_input_send(f->input, press, 2), 0);
	assert_int_equal(vg_used_idx(g, EVENTQ), 0);
	assert_int_equal(g->irq_level, 0);
	/* One buffer: one event, an interrupt. */
	post_event_buffers(f, 1);
	vg_kick(g, EVENTQ);
	assert_int_equal(vg_used_idx(g, EVENTQ), 1);
	assert_event(next_event(f), EV_KEY, KEY_A, 1);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(vg_mmio_read(g, g->bar + g->isr, 1), 1);
	/* More buffers: the rest of the batch, then new batches at once. */
	post_event_buffers(f, 4);
	vg_kick(g, EVENTQ);
	assert_event(next_event(f), EV_SYN, SYN_REPORT, 0);
	assert_int_equal(virtio_input_send(f->input, release, 2), 0);
	assert_int_equal(vg_used_idx(g, EVENTQ), 4);
	assert_event(next_event(f), EV_KEY, KEY_A, 0);
	assert_event(next_event(f), EV_SYN, SYN_REPORT, 0);
	/* Negative values survive the trip. */
	const struct virtio_input_event rep[] = {{EV_REP, REP_DELAY, -250}, {EV_SYN, 0, 0}};
	assert_int_equal(virtio_input_send(f->input, rep, 2), 0);
	assert_event(next_event(f), EV_REP, REP_DELAY, -250);
	assert_int_equal(vg_used_idx(g, EVENTQ), 5);
	/* A buffer the device could read from is a broken driver. */
	log_set_level(LOG_ERROR);
	vg_set_desc(g, EVENTQ, 7, VG_DATA, 8, 0, 0);
	vg_make_available(g, EVENTQ, 7);
	vg_kick(g, EVENTQ);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
	assert_int_equal(vg_used_idx(g, EVENTQ), 5);
	/* So is one too small for an event. */
	set_up_queues(f);
	driver_ok(g);
	vg_set_desc(g, EVENTQ, 0, VG_DATA, 4, 2, 0);
	vg_make_available(g, EVENTQ, 0);
	assert_int_equal(virtio_input_send(f->input, press, 2), 0);
	assert_true(vg_common_read(g, VG_DEVICE_STATUS, 1) & VG_S_NEEDS_RESET);
}

static void test_pending_bound_and_reset(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	log_set_level(LOG_ERROR); /* the overflow line is expected */
	set_up_queues(f);
	struct virtio_input_event batch[100];
	for (int i = 0; i < 100; i++)
		batch[i] = (struct virtio_input_event){EV_KEY, (uint16_t)(1 + i), i & 1};
	int accepted = 0;
	while (accepted + 100 <= VIRTIO_INPUT_PENDING_MAX) {
		assert_int_equal(virtio_input_send(f->input, batch, 100), 0);
		accepted += 100;
	}
	/* Does not fit: dropped whole. */
	assert_int_equal(virtio_input_send(f->input, batch, 100), -ENOBUFS);
	assert_int_equal(virtio_input_send(f->input, batch, 100), -ENOBUFS);
	/* What still fits does. */
	int room = VIRTIO_INPUT_PENDING_MAX - accepted;
	assert_int_equal(virtio_input_send(f->input, batch, (size_t)room), 0);
	assert_int_equal(virtio_input_send(f->input, batch, 1), -ENOBUFS);
	static struct virtio_input_event huge[VIRTIO_INPUT_PENDING_MAX + 1];
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
		huge[i] = (struct virtio_input_event){EV_SYN, 0, 0};
	assert_int_equal(virtio_input_send(f->input, huge, VIRTIO_INPUT_PENDING_MAX + 1), -ENOBUFS);

	/* Drained in order once the driver is ready. */
	driver_ok(g);
	for (int i = 0; i < VIRTIO_INPUT_PENDING_MAX; i++) {
		if (i % 8 == 0) {
			post_event_buffers(f, 8);
			vg_kick(g, EVENTQ);
		}
		struct virtio_input_event e = next_event(f);
		int k = i < accepted ? i % 100 : i - accepted;
		assert_event(e, EV_KEY, (uint16_t)(1 + k), k & 1);
	}
	post_event_buffers(f, 8);
	vg_kick(g, EVENTQ);
	assert_int_equal(vg_used_idx(g, EVENTQ), VIRTIO_INPUT_PENDING_MAX);
	/* Room again. */
	assert_int_equal(virtio_input_send(f->input, huge, VIRTIO_INPUT_PENDING_MAX), 0);
	assert_int_equal(vg_used_idx(g, EVENTQ), VIRTIO_INPUT_PENDING_MAX + 8);

	/* A reset throws the rest away. */
	vg_status(g, 0);
	set_up_queues(f);
	post_event_buffers(f, 8);
	driver_ok(g);
	vg_kick(g, EVENTQ);
	assert_int_equal(vg_used_idx(g, EVENTQ), 0);
	assert_int_equal(virtio_input_send(f->input, huge, VIRTIO_INPUT_PENDING_MAX), 0);
	assert_int_equal(vg_used_idx(g, EVENTQ), 8);
}

static void test_status_queue(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	set_up_queues(f);
	/* The guest tells the keyboard its LEDs, before and after DRIVER_OK. */
	uint8_t led[8] = {EV_LED, 0, LED_CAPSL, 0, 1, 0, 0, 0};
	memcpy(g->mem + VG_DATA + 0x1000, led, 8);
	vg_set_desc(g, STATUSQ, 0, VG_DATA + 0x1000, 8, 0, 0);
	vg_make_available(g, STATUSQ, 0);
	vg_kick(g, STATUSQ);
	assert_int_equal(vg_used_idx(g, STATUSQ), 0);
	driver_ok(g);
	assert_int_equal(vg_used_idx(g, STATUSQ), 1);
	uint32_t id, len;
	vg_used_elem(g, STATUSQ, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_int_equal(g->irq_level, 1);
	vg_make_available(g, STATUSQ, 0);
	vg_make_available(g, STATUSQ, 0);
	vg_kick(g, STATUSQ);
	assert_int_equal(vg_used_idx(g, STATUSQ), 3);
	assert_int_equal(vg_used_idx(g, EVENTQ), 0);
}

struct sender {
	struct virtio_input *input;
	int batches;
	int accepted;
	atomic_int *finished;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < s->batches; i++) {
		const struct virtio_input_event b[] = {{EV_KEY, (uint16_t)(1 + i % 200), 1}, {EV_SYN, SYN_REPORT, 0}};
		int rc = virtio_input_send(s->input, b, 2);
		if (rc == 0)
			s->accepted++;
		else if (rc != -ENOBUFS)
			s->accepted = -1000000;
	}
	atomic_fetch_add(s->finished, 1);
	return NULL;
}

/* Gives back every buffer the device used since *seen and kicks; returns
 * how many events that was. */
static long recycle(struct vg *g, uint16_t *seen)
{
	uint16_t used = __atomic_load_n((uint16_t *)(g->mem + vg_used_gpa(EVENTQ) + 2), __ATOMIC_ACQUIRE);
	long n = 0;
	for (; *seen != used; (*seen)++, n++) {
		uint32_t id, len;
		vg_used_elem(g, EVENTQ, *seen, &id, &len);
		assert_int_equal(len, 8);
		vg_make_available(g, EVENTQ, (uint16_t)id);
	}
	if (n > 0)
		vg_kick(g, EVENTQ);
	return n;
}

/* Several host threads inject while the guest takes events: every accepted
 * event arrives once, whole batches or nothing. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct vg *g = f->g;
	log_set_level(LOG_ERROR);
	set_up_queues(f);
	post_event_buffers(f, 8);
	driver_ok(g);
	enum { THREADS = 4 };
	atomic_int finished = 0;
	struct sender senders[THREADS];
	pthread_t threads[THREADS];
	for (int i = 0; i < THREADS; i++) {
		senders[i] = (struct sender){f->input, 3000, 0, &finished};
		assert_int_equal(pthread_create(&threads[i], NULL, send_thread, &senders[i]), 0);
	}
	long delivered = 0;
	uint16_t seen = 0;
	while (atomic_load(&finished) < THREADS)
		delivered += recycle(g, &seen);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	/* What is still pending comes out now. */
	long n;
	while ((n = recycle(g, &seen)) > 0)
		delivered += n;
	long accepted = 0;
	for (int i = 0; i < THREADS; i++)
		accepted += senders[i].accepted;
	assert_true(accepted > 0);
	assert_int_equal(delivered, 2 * accepted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keyboard_identity_and_config, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_config_access_rules, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_tablet_config, setup_tablet, teardown),
	    cmocka_unit_test_setup_teardown(test_send_validation, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_tablet_send_validation, setup_tablet, teardown),
	    cmocka_unit_test_setup_teardown(test_delivery_as_buffers_come, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_bound_and_reset, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_status_queue, setup_keyboard, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup_keyboard, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
