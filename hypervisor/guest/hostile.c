/* hostile.c — test=hostile: the guest as an attacker of its own devices.
 * Each case hands a host device a descriptor chain that breaks the virtio
 * rules, checks that the device says NEEDS_RESET (the VMM survived and
 * refused it), then resets it and checks it works again. Runs in CPL3. */
#include "drivers.h"
#include "guest.h"
#include "virtio.h"
#include "virtio_gpu.h"

#define ENODEV 19

#define HOSTILE_POLLS      100000u
#define OUTSIDE_RAM        0x10000000000ull /* 1 TiB: far above any guest's RAM */
#define HOSTILE_QUEUE_SIZE 8
#define RNG_QUEUE          0
#define RNG_BYTES          16

enum hostile_chain { CHAIN_LOOP, CHAIN_OUTSIDE_RAM, CHAIN_HUGE_LENGTH, CHAIN_SHORT_COMMAND, CHAIN_SMALL_RESPONSE };

struct hostile_case {
	const char *name;
	enum hostile_chain chain;
};

static const struct hostile_case gpu_cases[] = {
    {"descriptor-loop", CHAIN_LOOP},          {"address-outside-ram", CHAIN_OUTSIDE_RAM},
    {"huge-length", CHAIN_HUGE_LENGTH},       {"short-command", CHAIN_SHORT_COMMAND},
    {"small-response", CHAIN_SMALL_RESPONSE},
};
#define GPU_CASES (sizeof(gpu_cases) / sizeof(gpu_cases[0]))

static struct virtio_gpu_ctrl_hdr *hostile_req;
static struct virtio_gpu_resp_display_info *hostile_resp;

static bool hostile_gpu_start(struct virtio_dev *dev)
{
	if (virtio_start(dev, 0, 0) < 0 || virtio_queue_setup(dev, VIRTIO_GPU_QUEUE_CONTROL, HOSTILE_QUEUE_SIZE) < 0 ||
	    virtio_queue_setup(dev, VIRTIO_GPU_QUEUE_CURSOR, HOSTILE_QUEUE_SIZE) < 0)
		return false;
	virtio_driver_ok(dev);
	return true;
}

/* A well-formed GET_DISPLAY_INFO must come back OK: the device works. */
static bool hostile_gpu_works(struct virtio_dev *dev)
{
	*hostile_req = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	hostile_resp->hdr.type = 0;
	int r = virtq_request(dev, &dev->queues[VIRTIO_GPU_QUEUE_CONTROL], hostile_req, sizeof(*hostile_req),
			      hostile_resp, sizeof(*hostile_resp));
	return r == (int)sizeof(*hostile_resp) && hostile_resp->hdr.type == VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static void hostile_gpu_post(struct virtio_dev *dev, enum hostile_chain chain)
{
	struct virtq *vq = &dev->queues[VIRTIO_GPU_QUEUE_CONTROL];
	*hostile_req = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtq_desc req = {
	    .addr = (uintptr_t)hostile_req, .len = sizeof(*hostile_req), .flags = VIRTQ_DESC_F_NEXT, .next = 1};
	struct virtq_desc resp = {
	    .addr = (uintptr_t)hostile_resp, .len = sizeof(*hostile_resp), .flags = VIRTQ_DESC_F_WRITE};
	switch (chain) {
	case CHAIN_LOOP: /* both readable, so the loop is the only broken rule */
		resp.flags = VIRTQ_DESC_F_NEXT;
		resp.next = 0;
		break;
	case CHAIN_OUTSIDE_RAM:
		req.addr = OUTSIDE_RAM;
		break;
	case CHAIN_HUGE_LENGTH:
		req.len = 0xffffffffu;
		break;
	case CHAIN_SHORT_COMMAND:
		req.len = sizeof(*hostile_req) / 2;
		break;
	case CHAIN_SMALL_RESPONSE:
		resp.len = sizeof(struct virtio_gpu_ctrl_hdr) / 3;
		break;
	}
	vq->desc[0] = req;
	vq->desc[1] = resp;
	virtq_publish(vq, 0);
}

/* The VMM decides during the notify; a few polls cover a slower one. */
static bool hostile_broken(const struct virtio_dev *dev)
{
	for (uint32_t i = 0; i < HOSTILE_POLLS; i++) {
		if (virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
	}
	return false;
}

static bool hostile_gpu_case(struct virtio_dev *dev, const struct hostile_case *c)
{
	if (!hostile_gpu_start(dev) || !hostile_gpu_works(dev)) {
		guest_log("hostile FAILED %s: the gpu does not work before the case, status 0x%x", c->name,
			  virtio_status(dev));
		return false;
	}
	hostile_gpu_post(dev, c->chain);
	if (!hostile_broken(dev)) {
		guest_log("hostile FAILED %s: device status 0x%x, NEEDS_RESET not set", c->name, virtio_status(dev));
		return false;
	}
	guest_log("hostile %s ok: device marked broken", c->name);
	virtio_reset(dev);
	if (!hostile_gpu_start(dev) || !hostile_gpu_works(dev)) {
		guest_log("hostile FAILED %s: no recovery after reset, status 0x%x", c->name, virtio_status(dev));
		return false;
	}
	guest_log("hostile %s: recovered after reset", c->name);
	return true;
}

static bool hostile_rng_start(struct virtio_dev *dev)
{
	if (virtio_start(dev, 0, 0) < 0 || virtio_queue_setup(dev, RNG_QUEUE, HOSTILE_QUEUE_SIZE) < 0)
		return false;
	virtio_driver_ok(dev);
	return true;
}

/* virtio-rng writes into the buffers it is given: a device-readable one is
 * a broken rule. Recovery: a writable buffer gets filled. */
static bool hostile_rng_case(struct virtio_dev *dev, uint8_t *buf)
{
	const char *name = "rng-readable-buffer";
	struct virtq *vq = &dev->queues[RNG_QUEUE];
	if (!hostile_rng_start(dev)) {
		guest_log("hostile FAILED %s: setup, status 0x%x", name, virtio_status(dev));
		return false;
	}
	vq->desc[0] = (struct virtq_desc){.addr = (uintptr_t)buf, .len = RNG_BYTES};
	virtq_publish(vq, 0);
	if (!hostile_broken(dev)) {
		guest_log("hostile FAILED %s: device status 0x%x, NEEDS_RESET not set", name, virtio_status(dev));
		return false;
	}
	guest_log("hostile %s ok: device marked broken", name);
	virtio_reset(dev);
	struct virtq_used_elem elem;
	bool recovered = hostile_rng_start(dev);
	if (recovered) {
		vq->desc[0] =
		    (struct virtq_desc){.addr = (uintptr_t)buf, .len = RNG_BYTES, .flags = VIRTQ_DESC_F_WRITE};
		virtq_publish(vq, 0);
		recovered = virtq_wait_used(dev, vq, &elem) == 0 && elem.len > 0;
	}
	if (!recovered) {
		guest_log("hostile FAILED %s: no recovery after reset, status 0x%x", name, virtio_status(dev));
		return false;
	}
	guest_log("hostile %s: recovered after reset", name);
	return true;
}

bool hostile_run(void)
{
	struct virtio_dev dev;
	if (virtio_find(&dev, VIRTIO_ID_GPU, 0) < 0) {
		guest_log("hostile FAILED: no virtio-gpu found");
		return false;
	}
	hostile_req = page_alloc(4096);
	hostile_resp = page_alloc(4096);
	uint8_t *rng_buf = page_alloc(4096);
	if (!hostile_req || !hostile_resp || !rng_buf) {
		guest_log("hostile FAILED: out of memory");
		return false;
	}
	unsigned passed = 0;
	for (size_t i = 0; i < GPU_CASES; i++) {
		if (!hostile_gpu_case(&dev, &gpu_cases[i]))
			return false;
		passed++;
	}
	virtio_reset(&dev);
	int r = virtio_find(&dev, VIRTIO_ID_RNG, 0);
	if (r == 0) {
		if (!hostile_rng_case(&dev, rng_buf))
			return false;
		passed++;
	} else if (r == -ENODEV) {
		guest_log("hostile: no virtio-rng, its case skipped");
	} else {
		guest_log("hostile FAILED: virtio-rng capabilities missing");
		return false;
	}
	guest_log("hostile ok %u cases", passed);
	return true;
}
