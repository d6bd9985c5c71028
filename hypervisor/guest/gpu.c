/* gpu.c — the virtio-gpu driver (drivers.h), 2D only, scanout 0: the
 * display size, a framebuffer in guest RAM made the scanout, flushes, and
 * the hardware cursor. Commands go one at a time on the control queue and
 * are answered during the notify, so each is a synchronous request. */
#include "drivers.h"
#include "guest.h"
#include "virtio.h"
#include "virtio_gpu.h"

#define EIO    5
#define ENOMEM 12
#define ENODEV 19

#define GPU_QUEUE_SIZE     64
#define GPU_CURSOR_SIZE    64
#define GPU_CURSOR_BYTES   (GPU_CURSOR_SIZE * GPU_CURSOR_SIZE * 4)
#define GPU_CURSOR_ID      1
#define GPU_FIRST_FB_ID    2
#define GPU_DEFAULT_WIDTH  1024 /* if the host enables no scanout */
#define GPU_DEFAULT_HEIGHT 768
#define GPU_MAX_DIMENSION  16384

static struct virtio_dev gpu_dev;
static bool gpu_ready;
static void *gpu_req; /* one page each: a command and its response */
static void *gpu_resp;
static uint32_t gpu_width, gpu_height; /* what the host asks for */
static uint32_t *gpu_fb;               /* reused while big enough: page_alloc never frees */
static size_t gpu_fb_bytes;
static uint32_t gpu_fb_id, gpu_fb_width, gpu_fb_height;
static uint32_t gpu_next_id = GPU_FIRST_FB_ID;
static uint32_t *gpu_cursor_pixels;
static struct virtio_gpu_update_cursor *gpu_cursor_cmd; /* its own page: the cursor queue's request */

/* Sends the command already built in gpu_req; 0 if the answer is `want`. */
static int gpu_command(uint32_t req_len, uint32_t resp_len, uint32_t want)
{
	struct virtio_gpu_ctrl_hdr *resp = gpu_resp;
	resp->type = 0;
	int r =
	    virtq_request(&gpu_dev, &gpu_dev.queues[VIRTIO_GPU_QUEUE_CONTROL], gpu_req, req_len, gpu_resp, resp_len);
	if (r < 0)
		return r;
	if ((size_t)r < sizeof(*resp) || resp->type != want) {
		guest_log("gpu: command 0x%x answered 0x%x", ((struct virtio_gpu_ctrl_hdr *)gpu_req)->type, resp->type);
		return -EIO;
	}
	return 0;
}

static void *gpu_begin(uint32_t type, size_t size)
{
	memset(gpu_req, 0, size);
	((struct virtio_gpu_ctrl_hdr *)gpu_req)->type = type;
	return gpu_req;
}

static int gpu_get_display_info(void)
{
	gpu_begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, sizeof(struct virtio_gpu_ctrl_hdr));
	int r = gpu_command(sizeof(struct virtio_gpu_ctrl_hdr), sizeof(struct virtio_gpu_resp_display_info),
			    VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	if (r < 0)
		return r;
	const struct virtio_gpu_resp_display_info *info = gpu_resp;
	const struct virtio_gpu_display_one *mode = &info->pmodes[0];
	bool usable = mode->enabled && mode->r.width && mode->r.height && mode->r.width <= GPU_MAX_DIMENSION &&
		      mode->r.height <= GPU_MAX_DIMENSION;
	gpu_width = usable ? mode->r.width : GPU_DEFAULT_WIDTH;
	gpu_height = usable ? mode->r.height : GPU_DEFAULT_HEIGHT;
	return 0;
}

int gpu_init(void)
{
	if (gpu_ready)
		return 0;
	int r = virtio_find(&gpu_dev, VIRTIO_ID_GPU, 0);
	if (r < 0) {
		guest_log(r == -ENODEV ? "no virtio-gpu found" : "virtio-gpu: capabilities missing");
		return r;
	}
	if (!gpu_req) {
		gpu_req = page_alloc(4096);
		gpu_resp = page_alloc(4096);
		gpu_cursor_cmd = page_alloc(4096);
		gpu_cursor_pixels = page_alloc(GPU_CURSOR_BYTES);
		if (!gpu_req || !gpu_resp || !gpu_cursor_cmd || !gpu_cursor_pixels)
			return -ENOMEM;
	}
	if ((r = virtio_start(&gpu_dev, 1ull << VIRTIO_GPU_F_EDID, VECTOR_GPU)) < 0 ||
	    (r = virtio_queue_setup(&gpu_dev, VIRTIO_GPU_QUEUE_CONTROL, GPU_QUEUE_SIZE)) < 0 ||
	    (r = virtio_queue_setup(&gpu_dev, VIRTIO_GPU_QUEUE_CURSOR, GPU_QUEUE_SIZE)) < 0) {
		guest_log("virtio-gpu: setup failed, status 0x%x", virtio_status(&gpu_dev));
		return r;
	}
	virtio_driver_ok(&gpu_dev);
	/* A display event from before we were listening is stale: the display
	 * info read now is current. */
	virtio_config_write32(&gpu_dev, VIRTIO_GPU_CONFIG_EVENTS_CLEAR,
			      virtio_config_read32(&gpu_dev, VIRTIO_GPU_CONFIG_EVENTS_READ));
	if ((r = gpu_get_display_info()) < 0)
		return r;
	gpu_fb_id = 0;
	gpu_ready = true;
	return 0;
}

void gpu_display_size(uint32_t *width, uint32_t *height)
{
	*width = gpu_width;
	*height = gpu_height;
}

bool gpu_poll_resize(uint32_t *width, uint32_t *height)
{
	if (!gpu_ready)
		return false;
	uint32_t events = virtio_config_read32(&gpu_dev, VIRTIO_GPU_CONFIG_EVENTS_READ);
	if (!(events & VIRTIO_GPU_EVENT_DISPLAY))
		return false;
	virtio_config_write32(&gpu_dev, VIRTIO_GPU_CONFIG_EVENTS_CLEAR, VIRTIO_GPU_EVENT_DISPLAY);
	if (gpu_get_display_info() < 0)
		return false;
	gpu_display_size(width, height);
	return true;
}

static int gpu_resource_create(uint32_t id, uint32_t format, uint32_t width, uint32_t height, void *backing,
			       size_t bytes)
{
	struct virtio_gpu_resource_create_2d *create = gpu_begin(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, sizeof(*create));
	*create = (struct virtio_gpu_resource_create_2d){
	    .hdr = create->hdr, .resource_id = id, .format = format, .width = width, .height = height};
	int r = gpu_command(sizeof(*create), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA);
	if (r < 0)
		return r;
	/* The backing is one contiguous buffer: one entry after the command. */
	struct gpu_attach_one {
		struct virtio_gpu_resource_attach_backing cmd;
		struct virtio_gpu_mem_entry entry;
	} *attach = gpu_begin(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, sizeof(*attach));
	attach->cmd.resource_id = id;
	attach->cmd.nr_entries = 1;
	attach->entry = (struct virtio_gpu_mem_entry){.addr = (uintptr_t)backing, .length = (uint32_t)bytes};
	return gpu_command(sizeof(*attach), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA);
}

static int gpu_resource_unref(uint32_t id)
{
	struct virtio_gpu_resource_unref *unref = gpu_begin(VIRTIO_GPU_CMD_RESOURCE_UNREF, sizeof(*unref));
	unref->resource_id = id;
	return gpu_command(sizeof(*unref), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA);
}

static int gpu_transfer(uint32_t id, uint32_t stride, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
	struct virtio_gpu_transfer_to_host_2d *t = gpu_begin(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, sizeof(*t));
	t->r = (struct virtio_gpu_rect){x, y, width, height};
	t->offset = (uint64_t)y * stride + (uint64_t)x * 4;
	t->resource_id = id;
	return gpu_command(sizeof(*t), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA);
}

uint32_t *gpu_set_mode(uint32_t width, uint32_t height)
{
	if (!gpu_ready || !width || !height || width > GPU_MAX_DIMENSION || height > GPU_MAX_DIMENSION)
		return NULL;
	size_t bytes = (size_t)width * height * 4;
	if (bytes > gpu_fb_bytes) {
		uint32_t *fb = page_alloc(bytes);
		if (!fb) {
			guest_log("gpu: no RAM for a %ux%u framebuffer", width, height);
			return NULL;
		}
		gpu_fb = fb;
		gpu_fb_bytes = bytes;
	}
	uint32_t id = gpu_next_id++;
	if (gpu_resource_create(id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, width, height, gpu_fb, bytes) < 0)
		return NULL;
	struct virtio_gpu_set_scanout *scanout = gpu_begin(VIRTIO_GPU_CMD_SET_SCANOUT, sizeof(*scanout));
	scanout->r = (struct virtio_gpu_rect){0, 0, width, height};
	scanout->scanout_id = 0;
	scanout->resource_id = id;
	if (gpu_command(sizeof(*scanout), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA) < 0) {
		gpu_resource_unref(id);
		return NULL;
	}
	if (gpu_fb_id)
		gpu_resource_unref(gpu_fb_id);
	gpu_fb_id = id;
	gpu_fb_width = width;
	gpu_fb_height = height;
	return gpu_fb;
}

int gpu_flush(uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
	if (!gpu_fb_id || x >= gpu_fb_width || y >= gpu_fb_height)
		return -EIO;
	if (width > gpu_fb_width - x)
		width = gpu_fb_width - x;
	if (height > gpu_fb_height - y)
		height = gpu_fb_height - y;
	int r = gpu_transfer(gpu_fb_id, gpu_fb_width * 4, x, y, width, height);
	if (r < 0)
		return r;
	struct virtio_gpu_resource_flush *flush = gpu_begin(VIRTIO_GPU_CMD_RESOURCE_FLUSH, sizeof(*flush));
	flush->r = (struct virtio_gpu_rect){x, y, width, height};
	flush->resource_id = gpu_fb_id;
	return gpu_command(sizeof(*flush), sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_OK_NODATA);
}

/* The cursor queue takes the command alone: no response buffer. */
static int gpu_cursor_command(uint32_t type, uint32_t x, uint32_t y, uint32_t hot_x, uint32_t hot_y)
{
	*gpu_cursor_cmd = (struct virtio_gpu_update_cursor){
	    .hdr = {.type = type},
	    .pos = {.scanout_id = 0, .x = x, .y = y},
	    .resource_id = GPU_CURSOR_ID,
	    .hot_x = hot_x,
	    .hot_y = hot_y,
	};
	int r = virtq_request(&gpu_dev, &gpu_dev.queues[VIRTIO_GPU_QUEUE_CURSOR], gpu_cursor_cmd,
			      sizeof(*gpu_cursor_cmd), NULL, 0);
	return r < 0 ? r : 0;
}

int gpu_cursor_set(const uint32_t *argb, uint32_t hot_x, uint32_t hot_y, uint32_t x, uint32_t y)
{
	if (!gpu_ready)
		return -ENODEV;
	static bool created;
	memcpy(gpu_cursor_pixels, argb, GPU_CURSOR_BYTES);
	if (!created) {
		int r = gpu_resource_create(GPU_CURSOR_ID, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, GPU_CURSOR_SIZE,
					    GPU_CURSOR_SIZE, gpu_cursor_pixels, GPU_CURSOR_BYTES);
		if (r < 0)
			return r;
		created = true;
	}
	int r = gpu_transfer(GPU_CURSOR_ID, GPU_CURSOR_SIZE * 4, 0, 0, GPU_CURSOR_SIZE, GPU_CURSOR_SIZE);
	if (r < 0)
		return r;
	return gpu_cursor_command(VIRTIO_GPU_CMD_UPDATE_CURSOR, x, y, hot_x, hot_y);
}

int gpu_cursor_move(uint32_t x, uint32_t y)
{
	if (!gpu_ready)
		return -ENODEV;
	return gpu_cursor_command(VIRTIO_GPU_CMD_MOVE_CURSOR, x, y, 0, 0);
}
