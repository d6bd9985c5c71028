/* virtio_gpu.c — virtio-gpu 2D (virtio 1.x section 5.7), one scanout: guest
 * resources in host memory, copied from guest backing on TRANSFER_TO_HOST_2D
 * and into the display surface (XRGB8888) on RESOURCE_FLUSH; a hardware
 * cursor on the cursor queue; EDID and display-size events.
 *
 * A chain too short for its command or its response breaks the transport
 * contract and marks the device broken; everything else a guest gets wrong
 * is answered with an error response and the device carries on. */
#include "../guest/virtio_gpu.h"
#include "virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Commands and responses are read and written in place: their fields are
 * little-endian, and so is every host vdi-vmm runs on (x86-64 KVM). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio-gpu structures are used in place");

#define GPU_MAX_BACKING_ENTRIES 16384u
#define GPU_RESOURCE_MEMORY_MAX (256u << 20) /* all resources' pixels and bookkeeping */
#define GPU_MAX_RESOURCES       16384u
#define GPU_RESOURCE_BUCKETS    256u
#define GPU_CURSOR_MAX          256u /* guests use 64x64 */
#define GPU_BYTES_PER_PIXEL     4u

union virtio_gpu_cmd {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_get_edid get_edid;
	struct virtio_gpu_resource_create_2d create_2d;
	struct virtio_gpu_resource_unref unref;
	struct virtio_gpu_resource_detach_backing detach;
	struct virtio_gpu_set_scanout set_scanout;
	struct virtio_gpu_resource_flush flush;
	struct virtio_gpu_transfer_to_host_2d transfer;
	struct virtio_gpu_resource_attach_backing attach;
	struct virtio_gpu_update_cursor cursor;
};

union virtio_gpu_resp {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_resp_display_info display_info;
	struct virtio_gpu_resp_edid edid;
};

/* One piece of a resource's backing: guest RAM at `gpa`, as a host
 * pointer, at `start` bytes into the backing seen as one buffer. */
struct gpu_backing {
	uint8_t *host;
	size_t len;
	size_t start;
	uint64_t gpa; /* what a snapshot keeps: host pointers do not survive it */
};

struct gpu_resource {
	struct gpu_resource *next; /* in its hash bucket */
	uint32_t id;
	uint32_t format;
	uint32_t width, height;
	uint8_t *pixels; /* width * 4 bytes a row, in the resource's format */
	size_t pixel_bytes;
	struct gpu_backing *backing; /* NULL: none attached */
	uint32_t nbacking;
	size_t backing_bytes;
};

struct virtio_gpu {
	struct virtio_device vdev;
	struct gpu_scanout_ops scanout_ops;

	/* Under vdev.lock, like everything below. */
	uint32_t display_width, display_height; /* what GET_DISPLAY_INFO reports */
	uint32_t events_read;

	struct gpu_resource *buckets[GPU_RESOURCE_BUCKETS];
	uint32_t nresources;
	size_t resource_memory; /* against GPU_RESOURCE_MEMORY_MAX */

	/* Scanout 0: the resource rectangle shown, and the surface it is
	 * copied into (NULL while disabled). */
	uint32_t scanout_resource;
	struct virtio_gpu_rect scanout_rect;
	uint8_t *surface;
	uint32_t surface_width, surface_height;
	bool cursor_visible;
	/* The cursor as last set, for snapshots: image size and hotspot (0 x 0:
	 * never set) in cursor_argb, and the position. */
	uint32_t cursor_width, cursor_height, cursor_hot_x, cursor_hot_y;
	int32_t cursor_x, cursor_y;

	struct virtq_chain chain;
	uint8_t cursor_argb[GPU_CURSOR_MAX * GPU_CURSOR_MAX * GPU_BYTES_PER_PIXEL];
};

static struct gpu_resource **gpu_resource_slot(struct virtio_gpu *gpu, uint32_t id)
{
	struct gpu_resource **p = &gpu->buckets[id % GPU_RESOURCE_BUCKETS];
	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

static struct gpu_resource *gpu_resource_find(struct virtio_gpu *gpu, uint32_t id)
{
	return id ? *gpu_resource_slot(gpu, id) : NULL;
}

static size_t gpu_resource_cost(const struct gpu_resource *res)
{
	return sizeof(*res) + res->pixel_bytes + (size_t)res->nbacking * sizeof(struct gpu_backing);
}

static void gpu_backing_free(struct virtio_gpu *gpu, struct gpu_resource *res)
{
	gpu->resource_memory -= (size_t)res->nbacking * sizeof(struct gpu_backing);
	free(res->backing);
	res->backing = NULL;
	res->nbacking = 0;
	res->backing_bytes = 0;
}

static void gpu_resource_free(struct virtio_gpu *gpu, struct gpu_resource *res)
{
	gpu->resource_memory -= gpu_resource_cost(res);
	gpu->nresources--;
	free(res->backing);
	free(res->pixels);
	free(res);
}

static void gpu_resources_free_all(struct virtio_gpu *gpu)
{
	for (uint32_t b = 0; b < GPU_RESOURCE_BUCKETS; b++) {
		while (gpu->buckets[b]) {
			struct gpu_resource *res = gpu->buckets[b];
			gpu->buckets[b] = res->next;
			gpu_resource_free(gpu, res);
		}
	}
}

/* Whether `r` lies inside a width x height image; overflow-safe. */
static bool gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t width, uint32_t height)
{
	return r->x <= width && r->width <= width - r->x && r->y <= height && r->height <= height - r->y;
}

/* The three swizzles to XRGB8888 (bytes B, G, R, X); the fourth byte
 * carries the source's alpha or padding. */
static inline uint32_t gpu_from_argb(uint32_t p) /* bytes A R G B */
{
	return __builtin_bswap32(p);
}

static inline uint32_t gpu_from_abgr(uint32_t p) /* bytes A B G R */
{
	return p >> 8 | p << 24;
}

static inline uint32_t gpu_from_rgba(uint32_t p) /* bytes R G B A */
{
	return (p & 0xff00ff00u) | (p >> 16 & 0xffu) | (p & 0xffu) << 16;
}

/* Blocks of a fixed 8 pixels let the compiler vectorize the swizzle at
 * -O2; always inlined, so `fn` is a constant there. */
static inline __attribute__((always_inline)) void gpu_swizzle(uint8_t *dst, const uint8_t *src, size_t n,
							      uint32_t (*fn)(uint32_t))
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint32_t block[8];
		memcpy(block, src + i * GPU_BYTES_PER_PIXEL, sizeof(block));
		for (int k = 0; k < 8; k++)
			block[k] = fn(block[k]);
		memcpy(dst + i * GPU_BYTES_PER_PIXEL, block, sizeof(block));
	}
	for (; i < n; i++) {
		uint32_t p;
		memcpy(&p, src + i * GPU_BYTES_PER_PIXEL, sizeof(p));
		p = fn(p);
		memcpy(dst + i * GPU_BYTES_PER_PIXEL, &p, sizeof(p));
	}
}

/* Converts `n` pixels of `format` to XRGB8888. */
static void gpu_convert_pixels(uint8_t *dst, const uint8_t *src, size_t n, uint32_t format)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
		memcpy(dst, src, n * GPU_BYTES_PER_PIXEL);
		break;
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
		gpu_swizzle(dst, src, n, gpu_from_argb);
		break;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
		gpu_swizzle(dst, src, n, gpu_from_abgr);
		break;
	default: /* R8G8B8A8, R8G8B8X8 */
		gpu_swizzle(dst, src, n, gpu_from_rgba);
		break;
	}
}

static bool gpu_format_supported(uint32_t format)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM:
		return true;
	default:
		return false;
	}
}

static bool gpu_format_has_alpha(uint32_t format)
{
	return format == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM || format == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM ||
	       format == VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM || format == VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM;
}

/* The scanout is off: the display has no surface. */
static void gpu_scanout_disable(struct virtio_gpu *gpu)
{
	if (gpu->surface || gpu->surface_width || gpu->surface_height)
		gpu->scanout_ops.resize(gpu->scanout_ops.opaque, 0, 0);
	gpu->surface = NULL;
	gpu->surface_width = gpu->surface_height = 0;
	gpu->scanout_resource = 0;
	memset(&gpu->scanout_rect, 0, sizeof(gpu->scanout_rect));
}

/* Copies the part of the scanout's resource at resource coordinates
 * (x, y, width, height), already inside the scanout rectangle, into the
 * surface and reports it as damage in scanout coordinates. */
static void gpu_scanout_update(struct virtio_gpu *gpu, const struct gpu_resource *res, uint32_t x, uint32_t y,
			       uint32_t width, uint32_t height)
{
	size_t src_stride = (size_t)res->width * GPU_BYTES_PER_PIXEL;
	size_t dst_stride = (size_t)gpu->surface_width * GPU_BYTES_PER_PIXEL;
	uint32_t sx = x - gpu->scanout_rect.x, sy = y - gpu->scanout_rect.y;
	const uint8_t *src = res->pixels + (size_t)y * src_stride + (size_t)x * GPU_BYTES_PER_PIXEL;
	uint8_t *dst = gpu->surface + (size_t)sy * dst_stride + (size_t)sx * GPU_BYTES_PER_PIXEL;
	if (width == res->width && width == gpu->surface_width)
		gpu_convert_pixels(dst, src, (size_t)width * height, res->format);
	else
		for (uint32_t row = 0; row < height; row++)
			gpu_convert_pixels(dst + row * dst_stride, src + row * src_stride, width, res->format);
	gpu->scanout_ops.damage(gpu->scanout_ops.opaque, sx, sy, width, height);
}

static uint32_t gpu_get_display_info(struct virtio_gpu *gpu, union virtio_gpu_resp *resp)
{
	struct virtio_gpu_display_one *mode = &resp->display_info.pmodes[0];
	mode->r = (struct virtio_gpu_rect){0, 0, gpu->display_width, gpu->display_height};
	mode->enabled = 1;
	return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t gpu_get_edid(struct virtio_gpu *gpu, const struct virtio_gpu_get_edid *cmd, union virtio_gpu_resp *resp)
{
	if (cmd->scanout != 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	resp->edid.size = EDID_BLOCK_SIZE;
	edid_build(resp->edid.edid, gpu->display_width, gpu->display_height);
	return VIRTIO_GPU_RESP_OK_EDID;
}

static uint32_t gpu_resource_create_2d(struct virtio_gpu *gpu, const struct virtio_gpu_resource_create_2d *cmd)
{
	if (cmd->resource_id == 0 || gpu_resource_find(gpu, cmd->resource_id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!gpu_format_supported(cmd->format) || cmd->width == 0 || cmd->height == 0 ||
	    cmd->width > VIRTIO_GPU_MAX_WIDTH || cmd->height > VIRTIO_GPU_MAX_HEIGHT)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	size_t pixel_bytes = (size_t)cmd->width * cmd->height * GPU_BYTES_PER_PIXEL;
	size_t cost = sizeof(struct gpu_resource) + pixel_bytes;
	if (gpu->nresources >= GPU_MAX_RESOURCES || cost > GPU_RESOURCE_MEMORY_MAX - gpu->resource_memory)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	struct gpu_resource *res = calloc(1, sizeof(*res));
	uint8_t *pixels = calloc(1, pixel_bytes);
	if (!res || !pixels) {
		free(res);
		free(pixels);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	res->id = cmd->resource_id;
	res->format = cmd->format;
	res->width = cmd->width;
	res->height = cmd->height;
	res->pixels = pixels;
	res->pixel_bytes = pixel_bytes;
	struct gpu_resource **slot = gpu_resource_slot(gpu, res->id);
	*slot = res;
	gpu->nresources++;
	gpu->resource_memory += cost;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t gpu_resource_unref(struct virtio_gpu *gpu, const struct virtio_gpu_resource_unref *cmd)
{
	if (cmd->resource_id == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	struct gpu_resource **slot = gpu_resource_slot(gpu, cmd->resource_id);
	struct gpu_resource *res = *slot;
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	/* The surface keeps the last picture; nothing flushes into it until
	 * the guest sets a scanout again. */
	if (gpu->scanout_resource == res->id)
		gpu->scanout_resource = 0;
	*slot = res->next;
	gpu_resource_free(gpu, res);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Reads the entries that follow the command. Returns a response type, or
 * 0 when the chain is too short for them (the device is then broken). */
static uint32_t gpu_resource_attach_backing(struct virtio_gpu *gpu, const struct virtq_chain *chain,
					    const struct virtio_gpu_resource_attach_backing *cmd)
{
	uint32_t n = cmd->nr_entries;
	if (n > GPU_MAX_BACKING_ENTRIES)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	size_t need = sizeof(*cmd) + (size_t)n * sizeof(struct virtio_gpu_mem_entry);
	if (chain->readable_bytes < need) {
		virtio_mark_broken(&gpu->vdev, "RESOURCE_ATTACH_BACKING: %u entries in a %zu-byte command", n,
				   chain->readable_bytes);
		return 0;
	}
	struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (res->backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (n == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	size_t cost = (size_t)n * sizeof(struct gpu_backing);
	if (cost > GPU_RESOURCE_MEMORY_MAX - gpu->resource_memory)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	struct virtio_gpu_mem_entry *entries = malloc((size_t)n * sizeof(*entries));
	struct gpu_backing *backing = malloc(cost);
	if (!entries || !backing) {
		free(entries);
		free(backing);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	virtq_chain_read(chain, sizeof(*cmd), entries, (size_t)n * sizeof(*entries));
	/* Entries that continue each other in host memory become one, so a
	 * backing the guest allocated contiguously takes the fast path. */
	uint32_t count = 0;
	size_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *host =
		    entries[i].length ? virtio_guest_memory(&gpu->vdev, entries[i].addr, entries[i].length) : NULL;
		if (!host) {
			free(entries);
			free(backing);
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		}
		if (count && backing[count - 1].host + backing[count - 1].len == host &&
		    backing[count - 1].gpa + backing[count - 1].len == entries[i].addr) {
			backing[count - 1].len += entries[i].length;
		} else {
			backing[count] = (struct gpu_backing){host, entries[i].length, total, entries[i].addr};
			count++;
		}
		total += entries[i].length;
	}
	free(entries);
	if (count < n) {
		struct gpu_backing *shrunk = realloc(backing, (size_t)count * sizeof(*backing));
		if (shrunk)
			backing = shrunk;
	}
	res->backing = backing;
	res->nbacking = count;
	res->backing_bytes = total;
	gpu->resource_memory += (size_t)count * sizeof(struct gpu_backing);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t gpu_resource_detach_backing(struct virtio_gpu *gpu,
					    const struct virtio_gpu_resource_detach_backing *cmd)
{
	struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!res->backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	gpu_backing_free(gpu, res);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Copies `len` bytes at `offset` of the resource's backing, which the
 * caller has checked lie inside it. */
static void gpu_backing_read(const struct gpu_resource *res, size_t offset, uint8_t *dst, size_t len)
{
	const struct gpu_backing *b = res->backing;
	if (res->nbacking == 1) {
		memcpy(dst, b[0].host + offset, len);
		return;
	}
	/* The last piece starting at or before `offset`. */
	size_t lo = 0, hi = res->nbacking;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (b[mid].start <= offset)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t i = lo; len; i++) {
		size_t in = offset - b[i].start;
		size_t n = b[i].len - in < len ? b[i].len - in : len;
		memcpy(dst, b[i].host + in, n);
		dst += n;
		offset += n;
		len -= n;
	}
}

static uint32_t gpu_transfer_to_host_2d(struct virtio_gpu *gpu, const struct virtio_gpu_transfer_to_host_2d *cmd)
{
	struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	const struct virtio_gpu_rect *r = &cmd->r;
	if (!gpu_rect_inside(r, res->width, res->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (r->width == 0 || r->height == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	/* The backing has the resource's layout: (r.x, r.y) is at `offset`,
	 * each next row a resource stride further. */
	size_t stride = (size_t)res->width * GPU_BYTES_PER_PIXEL;
	size_t row_bytes = (size_t)r->width * GPU_BYTES_PER_PIXEL;
	size_t span = (size_t)(r->height - 1) * stride + row_bytes;
	if (cmd->offset > res->backing_bytes || span > res->backing_bytes - cmd->offset)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	size_t offset = (size_t)cmd->offset;
	uint8_t *dst = res->pixels + (size_t)r->y * stride + (size_t)r->x * GPU_BYTES_PER_PIXEL;
	if (r->width == res->width) {
		gpu_backing_read(res, offset, dst, span);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	for (uint32_t row = 0; row < r->height; row++)
		gpu_backing_read(res, offset + row * stride, dst + row * stride, row_bytes);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t gpu_set_scanout(struct virtio_gpu *gpu, const struct virtio_gpu_set_scanout *cmd)
{
	if (cmd->scanout_id != 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	if (cmd->resource_id == 0) {
		gpu_scanout_disable(gpu);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	const struct virtio_gpu_rect *r = &cmd->r;
	if (r->width == 0 || r->height == 0 || !gpu_rect_inside(r, res->width, res->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (!gpu->surface || r->width != gpu->surface_width || r->height != gpu->surface_height) {
		gpu->surface = gpu->scanout_ops.resize(gpu->scanout_ops.opaque, r->width, r->height);
		gpu->surface_width = r->width;
		gpu->surface_height = r->height;
		if (!gpu->surface) {
			gpu_scanout_disable(gpu);
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		}
	}
	gpu->scanout_resource = res->id;
	gpu->scanout_rect = *r;
	gpu_scanout_update(gpu, res, r->x, r->y, r->width, r->height);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t gpu_resource_flush(struct virtio_gpu *gpu, const struct virtio_gpu_resource_flush *cmd)
{
	struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!gpu_rect_inside(&cmd->r, res->width, res->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (res->id != gpu->scanout_resource || !gpu->surface)
		return VIRTIO_GPU_RESP_OK_NODATA;
	/* Both rectangles lie inside the resource, so no sum overflows. */
	const struct virtio_gpu_rect *f = &cmd->r, *s = &gpu->scanout_rect;
	uint32_t x0 = f->x > s->x ? f->x : s->x, y0 = f->y > s->y ? f->y : s->y;
	uint32_t x1 = f->x + f->width < s->x + s->width ? f->x + f->width : s->x + s->width;
	uint32_t y1 = f->y + f->height < s->y + s->height ? f->y + f->height : s->y + s->height;
	if (x0 < x1 && y0 < y1)
		gpu_scanout_update(gpu, res, x0, y0, x1 - x0, y1 - y0);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* The command structure each type needs, and the response it gets. */
static void gpu_ctrl_sizes(uint32_t type, size_t *cmd_size, size_t *resp_size)
{
	*resp_size = sizeof(struct virtio_gpu_ctrl_hdr);
	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		*cmd_size = sizeof(struct virtio_gpu_ctrl_hdr);
		*resp_size = sizeof(struct virtio_gpu_resp_display_info);
		break;
	case VIRTIO_GPU_CMD_GET_EDID:
		*cmd_size = sizeof(struct virtio_gpu_get_edid);
		*resp_size = sizeof(struct virtio_gpu_resp_edid);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		*cmd_size = sizeof(struct virtio_gpu_resource_create_2d);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		*cmd_size = sizeof(struct virtio_gpu_resource_unref);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		*cmd_size = sizeof(struct virtio_gpu_resource_detach_backing);
		break;
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		*cmd_size = sizeof(struct virtio_gpu_set_scanout);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		*cmd_size = sizeof(struct virtio_gpu_resource_flush);
		break;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		*cmd_size = sizeof(struct virtio_gpu_transfer_to_host_2d);
		break;
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		*cmd_size = sizeof(struct virtio_gpu_resource_attach_backing);
		break;
	default:
		*cmd_size = sizeof(struct virtio_gpu_ctrl_hdr);
		break;
	}
}

static uint32_t gpu_ctrl_dispatch(struct virtio_gpu *gpu, const struct virtq_chain *chain,
				  const union virtio_gpu_cmd *cmd, union virtio_gpu_resp *resp)
{
	switch (cmd->hdr.type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		return gpu_get_display_info(gpu, resp);
	case VIRTIO_GPU_CMD_GET_EDID:
		return gpu_get_edid(gpu, &cmd->get_edid, resp);
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		return gpu_resource_create_2d(gpu, &cmd->create_2d);
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		return gpu_resource_unref(gpu, &cmd->unref);
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		return gpu_resource_attach_backing(gpu, chain, &cmd->attach);
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		return gpu_resource_detach_backing(gpu, &cmd->detach);
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		return gpu_set_scanout(gpu, &cmd->set_scanout);
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
		return gpu_transfer_to_host_2d(gpu, &cmd->transfer);
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
		return gpu_resource_flush(gpu, &cmd->flush);
	default:
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
}

/* The response header: its type, and the fence echoed (every command
 * completes before its response, so a fence is signalled at once). */
static void gpu_resp_header(struct virtio_gpu_ctrl_hdr *resp, const struct virtio_gpu_ctrl_hdr *cmd, uint32_t type)
{
	resp->type = type;
	if (cmd->flags & VIRTIO_GPU_FLAG_FENCE) {
		resp->flags = VIRTIO_GPU_FLAG_FENCE;
		resp->fence_id = cmd->fence_id;
	}
}

/* Processes one controlq chain. Returns the bytes written, or -1 when the
 * chain broke the transport contract (the device is then broken). */
static int64_t gpu_process_ctrl(struct virtio_gpu *gpu, const struct virtq_chain *chain)
{
	union virtio_gpu_cmd cmd;
	union virtio_gpu_resp resp;
	memset(&cmd, 0, sizeof(cmd));
	if (chain->readable_bytes < sizeof(cmd.hdr)) {
		virtio_mark_broken(&gpu->vdev, "controlq: %zu-byte command", chain->readable_bytes);
		return -1;
	}
	virtq_chain_read(chain, 0, &cmd.hdr, sizeof(cmd.hdr));
	size_t cmd_size, resp_size;
	gpu_ctrl_sizes(cmd.hdr.type, &cmd_size, &resp_size);
	if (chain->readable_bytes < cmd_size || chain->writable_bytes < resp_size) {
		virtio_mark_broken(&gpu->vdev, "command %#x: %zu readable bytes for %zu, %zu writable for %zu",
				   cmd.hdr.type, chain->readable_bytes, cmd_size, chain->writable_bytes, resp_size);
		return -1;
	}
	virtq_chain_read(chain, 0, &cmd, cmd_size);
	memset(&resp, 0, resp_size);
	uint32_t type = gpu_ctrl_dispatch(gpu, chain, &cmd, &resp);
	if (type == 0)
		return -1;
	/* Errors carry only the header. */
	size_t len = type >= VIRTIO_GPU_RESP_ERR_UNSPEC ? sizeof(resp.hdr) : resp_size;
	gpu_resp_header(&resp.hdr, &cmd.hdr, type);
	return (int64_t)virtq_chain_write(chain, 0, &resp, len);
}

static void gpu_update_cursor(struct virtio_gpu *gpu, const struct virtio_gpu_update_cursor *cmd)
{
	const struct gpu_scanout_ops *ops = &gpu->scanout_ops;
	int32_t x = (int32_t)cmd->pos.x, y = (int32_t)cmd->pos.y;
	if (cmd->resource_id == 0) {
		gpu->cursor_visible = false;
		gpu->cursor_x = x;
		gpu->cursor_y = y;
		ops->cursor_move(ops->opaque, x, y, false);
		return;
	}
	const struct gpu_resource *res = gpu_resource_find(gpu, cmd->resource_id);
	if (!res || res->width > GPU_CURSOR_MAX || res->height > GPU_CURSOR_MAX)
		return;
	size_t n = (size_t)res->width * res->height;
	gpu_convert_pixels(gpu->cursor_argb, res->pixels, n, res->format);
	if (!gpu_format_has_alpha(res->format))
		for (size_t i = 0; i < n; i++)
			gpu->cursor_argb[i * GPU_BYTES_PER_PIXEL + 3] = 0xff;
	uint32_t hot_x = cmd->hot_x < res->width ? cmd->hot_x : res->width - 1;
	uint32_t hot_y = cmd->hot_y < res->height ? cmd->hot_y : res->height - 1;
	ops->cursor_image(ops->opaque, gpu->cursor_argb, res->width, res->height, hot_x, hot_y);
	gpu->cursor_width = res->width;
	gpu->cursor_height = res->height;
	gpu->cursor_hot_x = hot_x;
	gpu->cursor_hot_y = hot_y;
	gpu->cursor_visible = true;
	gpu->cursor_x = x;
	gpu->cursor_y = y;
	ops->cursor_move(ops->opaque, x, y, true);
}

/* Processes one cursorq chain: the spec answers cursor commands with
 * OK_NODATA, but drivers give them no response buffer (Linux), so one is
 * written only where there is room. Returns bytes written, or -1. */
static int64_t gpu_process_cursor(struct virtio_gpu *gpu, const struct virtq_chain *chain)
{
	struct virtio_gpu_update_cursor cmd;
	if (chain->readable_bytes < sizeof(cmd)) {
		virtio_mark_broken(&gpu->vdev, "cursorq: %zu-byte command", chain->readable_bytes);
		return -1;
	}
	virtq_chain_read(chain, 0, &cmd, sizeof(cmd));
	uint32_t type = VIRTIO_GPU_RESP_OK_NODATA;
	if (cmd.hdr.type != VIRTIO_GPU_CMD_UPDATE_CURSOR && cmd.hdr.type != VIRTIO_GPU_CMD_MOVE_CURSOR)
		type = VIRTIO_GPU_RESP_ERR_UNSPEC;
	else if (cmd.pos.scanout_id != 0)
		type = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	else if (cmd.hdr.type == VIRTIO_GPU_CMD_UPDATE_CURSOR)
		gpu_update_cursor(gpu, &cmd);
	else { /* a hidden cursor stays hidden where it moves */
		gpu->cursor_x = (int32_t)cmd.pos.x;
		gpu->cursor_y = (int32_t)cmd.pos.y;
		gpu->scanout_ops.cursor_move(gpu->scanout_ops.opaque, gpu->cursor_x, gpu->cursor_y,
					     gpu->cursor_visible);
	}
	if (chain->writable_bytes < sizeof(struct virtio_gpu_ctrl_hdr))
		return 0;
	struct virtio_gpu_ctrl_hdr resp = {0};
	gpu_resp_header(&resp, &cmd.hdr, type);
	return (int64_t)virtq_chain_write(chain, 0, &resp, sizeof(resp));
}

static void gpu_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_gpu *gpu = vdev->opaque;
	bool pushed = false;
	while (virtq_pop(vq, &gpu->chain) == 1) {
		int64_t written = vq->index == VIRTIO_GPU_QUEUE_CONTROL ? gpu_process_ctrl(gpu, &gpu->chain)
									: gpu_process_cursor(gpu, &gpu->chain);
		if (written < 0)
			break;
		virtq_push(vq, &gpu->chain, (uint32_t)written);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(vdev, vq);
}

/* virtio_gpu_config: events_read, events_clear, num_scanouts, num_capsets. */
static void gpu_config_read(struct virtio_device *vdev, uint32_t offset, uint8_t *data, uint32_t size)
{
	struct virtio_gpu *gpu = vdev->opaque;
	uint32_t config[VIRTIO_GPU_CONFIG_SIZE / 4] = {gpu->events_read, 0, 1, 0};
	memset(data, 0, size);
	if (offset < sizeof(config))
		memcpy(data, (uint8_t *)config + offset,
		       size < sizeof(config) - offset ? size : sizeof(config) - offset);
}

static void gpu_config_write(struct virtio_device *vdev, uint32_t offset, const uint8_t *data, uint32_t size)
{
	struct virtio_gpu *gpu = vdev->opaque;
	/* events_clear (bytes 4-7): each 1 written clears that event bit. */
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = (uint64_t)offset + i;
		if (at >= 4 && at < 8)
			gpu->events_read &= ~((uint32_t)data[i] << (8 * (at - 4)));
	}
}

/* The guest reset the device: its resources are gone, so the display and
 * the cursor go dark until the driver sets them up again. */
static void gpu_reset(struct virtio_device *vdev)
{
	struct virtio_gpu *gpu = vdev->opaque;
	gpu_resources_free_all(gpu);
	gpu_scanout_disable(gpu);
	if (gpu->cursor_visible)
		gpu->scanout_ops.cursor_move(gpu->scanout_ops.opaque, 0, 0, false);
	gpu->cursor_visible = false;
	gpu->cursor_width = gpu->cursor_height = 0;
	gpu->events_read = 0;
}

static const struct virtio_device_ops gpu_ops = {
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .queue_notify = gpu_queue_notify,
    .reset = gpu_reset,
};

static bool gpu_size_valid(uint32_t width, uint32_t height)
{
	return width >= 1 && width <= VIRTIO_GPU_MAX_WIDTH && height >= 1 && height <= VIRTIO_GPU_MAX_HEIGHT &&
	       (uint64_t)width * height <= VIRTIO_GPU_MAX_DISPLAY_PIXELS;
}

struct virtio_gpu *virtio_gpu_create(const struct virtio_pci_config *cfg, uint32_t width, uint32_t height,
				     const struct gpu_scanout_ops *scanout)
{
	if (!gpu_size_valid(width, height) || !scanout || !scanout->resize || !scanout->damage ||
	    !scanout->cursor_image || !scanout->cursor_move) {
		errno = EINVAL;
		return NULL;
	}
	struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
	if (!gpu)
		return NULL;
	gpu->scanout_ops = *scanout;
	gpu->display_width = width;
	gpu->display_height = height;
	gpu->vdev.name = "virtio-gpu";
	gpu->vdev.device_id = VIRTIO_ID_GPU;
	gpu->vdev.device_features = 1ull << VIRTIO_GPU_F_EDID;
	gpu->vdev.config_size = VIRTIO_GPU_CONFIG_SIZE;
	gpu->vdev.num_queues = 2;
	gpu->vdev.ops = &gpu_ops;
	gpu->vdev.opaque = gpu;
	int err = virtio_pci_init(&gpu->vdev, cfg);
	if (err < 0) {
		free(gpu);
		errno = -err;
		return NULL;
	}
	return gpu;
}

int virtio_gpu_set_display_size(struct virtio_gpu *gpu, uint32_t width, uint32_t height)
{
	if (!gpu_size_valid(width, height))
		return -EINVAL;
	virtio_lock(&gpu->vdev);
	gpu->display_width = width;
	gpu->display_height = height;
	gpu->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
	/* Before DRIVER_OK there is no driver to tell: it reads the size with
	 * GET_DISPLAY_INFO when it starts. */
	if (gpu->vdev.status & VIRTIO_STATUS_DRIVER_OK)
		virtio_notify_config(&gpu->vdev);
	virtio_unlock(&gpu->vdev);
	return 0;
}

void virtio_gpu_destroy(struct virtio_gpu *gpu)
{
	if (!gpu)
		return;
	virtio_pci_destroy(&gpu->vdev);
	gpu_resources_free_all(gpu);
	free(gpu);
}

void virtio_gpu_save(struct virtio_gpu *gpu, struct snap_buf *out)
{
	virtio_lock(&gpu->vdev);
	virtio_device_save(&gpu->vdev, out);
	snap_put_u32(out, gpu->display_width);
	snap_put_u32(out, gpu->display_height);
	snap_put_u32(out, gpu->events_read);
	snap_put_u32(out, gpu->nresources);
	for (uint32_t b = 0; b < GPU_RESOURCE_BUCKETS; b++) {
		for (const struct gpu_resource *res = gpu->buckets[b]; res; res = res->next) {
			snap_put_u32(out, res->id);
			snap_put_u32(out, res->format);
			snap_put_u32(out, res->width);
			snap_put_u32(out, res->height);
			snap_put_bytes(out, res->pixels, res->pixel_bytes);
			snap_put_u32(out, res->nbacking);
			for (uint32_t i = 0; i < res->nbacking; i++) {
				snap_put_u64(out, res->backing[i].gpa);
				snap_put_u64(out, res->backing[i].len);
			}
		}
	}
	snap_put_u32(out, gpu->scanout_resource);
	snap_put_bytes(out, &gpu->scanout_rect, sizeof(gpu->scanout_rect));
	snap_put_u32(out, gpu->surface_width);
	snap_put_u32(out, gpu->surface_height);
	snap_put_u8(out, gpu->surface != NULL);
	snap_put_u8(out, gpu->cursor_visible);
	snap_put_u32(out, gpu->cursor_width);
	snap_put_u32(out, gpu->cursor_height);
	snap_put_u32(out, gpu->cursor_hot_x);
	snap_put_u32(out, gpu->cursor_hot_y);
	snap_put_u32(out, (uint32_t)gpu->cursor_x);
	snap_put_u32(out, (uint32_t)gpu->cursor_y);
	snap_put_bytes(out, gpu->cursor_argb, (size_t)gpu->cursor_width * gpu->cursor_height * GPU_BYTES_PER_PIXEL);
	virtio_unlock(&gpu->vdev);
}

/* One saved resource, checked as RESOURCE_CREATE_2D and ATTACH_BACKING
 * check a guest's commands; 0 or -EINVAL. */
static int gpu_load_resource(struct virtio_gpu *gpu, struct snap_cursor *in)
{
	uint32_t id = snap_get_u32(in), format = snap_get_u32(in), width = snap_get_u32(in), height = snap_get_u32(in);
	if (in->failed || id == 0 || gpu_resource_find(gpu, id) || !gpu_format_supported(format) || width == 0 ||
	    height == 0 || width > VIRTIO_GPU_MAX_WIDTH || height > VIRTIO_GPU_MAX_HEIGHT)
		return -EINVAL;
	size_t pixel_bytes = (size_t)width * height * GPU_BYTES_PER_PIXEL;
	const uint8_t *pixels = snap_get_view(in, pixel_bytes);
	uint32_t nbacking = snap_get_u32(in);
	if (in->failed || nbacking > GPU_MAX_BACKING_ENTRIES)
		return -EINVAL;
	size_t cost = sizeof(struct gpu_resource) + pixel_bytes + (size_t)nbacking * sizeof(struct gpu_backing);
	if (gpu->nresources >= GPU_MAX_RESOURCES || cost > GPU_RESOURCE_MEMORY_MAX - gpu->resource_memory)
		return -EINVAL;
	struct gpu_resource *res = calloc(1, sizeof(*res));
	uint8_t *copy = malloc(pixel_bytes);
	struct gpu_backing *backing = nbacking ? calloc(nbacking, sizeof(*backing)) : NULL;
	if (!res || !copy || (nbacking && !backing)) {
		free(res);
		free(copy);
		free(backing);
		return -ENOMEM;
	}
	memcpy(copy, pixels, pixel_bytes);
	size_t total = 0;
	for (uint32_t i = 0; i < nbacking; i++) {
		uint64_t gpa = snap_get_u64(in), len = snap_get_u64(in);
		uint8_t *host = len && len <= UINT32_MAX ? virtio_guest_memory(&gpu->vdev, gpa, len) : NULL;
		if (!host || in->failed) {
			free(res);
			free(copy);
			free(backing);
			return -EINVAL;
		}
		backing[i] = (struct gpu_backing){host, (size_t)len, total, gpa};
		total += (size_t)len;
	}
	*res = (struct gpu_resource){.id = id,
				     .format = format,
				     .width = width,
				     .height = height,
				     .pixels = copy,
				     .pixel_bytes = pixel_bytes,
				     .backing = backing,
				     .nbacking = nbacking,
				     .backing_bytes = total};
	*gpu_resource_slot(gpu, id) = res;
	gpu->nresources++;
	gpu->resource_memory += cost;
	return 0;
}

/* The scanout and the cursor go back to the display: a new surface filled
 * from the scanned-out resource, the cursor image and position. */
static int gpu_load_scanout(struct virtio_gpu *gpu, struct snap_cursor *in)
{
	uint32_t resource = snap_get_u32(in);
	struct virtio_gpu_rect rect;
	snap_get_bytes(in, &rect, sizeof(rect));
	uint32_t width = snap_get_u32(in), height = snap_get_u32(in);
	uint8_t has_surface = snap_get_u8(in), visible = snap_get_u8(in);
	uint32_t cw = snap_get_u32(in), ch = snap_get_u32(in), hot_x = snap_get_u32(in), hot_y = snap_get_u32(in);
	int32_t x = (int32_t)snap_get_u32(in), y = snap_get_u32(in);
	if (in->failed || has_surface > 1 || visible > 1 || cw > GPU_CURSOR_MAX || ch > GPU_CURSOR_MAX ||
	    (cw && (hot_x >= cw || hot_y >= ch)) || (!cw && ch) || (has_surface && !gpu_size_valid(width, height)))
		return -EINVAL;
	const uint8_t *argb = snap_get_view(in, (size_t)cw * ch * GPU_BYTES_PER_PIXEL);
	if (!snap_cursor_done(in))
		return -EINVAL;
	const struct gpu_resource *res = NULL;
	if (resource) {
		res = gpu_resource_find(gpu, resource);
		if (!res || !has_surface || rect.width != width || rect.height != height ||
		    !gpu_rect_inside(&rect, res->width, res->height))
			return -EINVAL;
	}
	if (has_surface) {
		gpu->surface = gpu->scanout_ops.resize(gpu->scanout_ops.opaque, width, height);
		if (!gpu->surface)
			return -ENOMEM;
		gpu->surface_width = width;
		gpu->surface_height = height;
		gpu->scanout_resource = resource;
		gpu->scanout_rect = rect;
		if (res)
			gpu_scanout_update(gpu, res, rect.x, rect.y, rect.width, rect.height);
	}
	const struct gpu_scanout_ops *ops = &gpu->scanout_ops;
	if (cw) {
		memcpy(gpu->cursor_argb, argb, (size_t)cw * ch * GPU_BYTES_PER_PIXEL);
		gpu->cursor_width = cw;
		gpu->cursor_height = ch;
		gpu->cursor_hot_x = hot_x;
		gpu->cursor_hot_y = hot_y;
		ops->cursor_image(ops->opaque, gpu->cursor_argb, cw, ch, hot_x, hot_y);
	}
	gpu->cursor_visible = visible;
	gpu->cursor_x = x;
	gpu->cursor_y = y;
	if (cw || visible)
		ops->cursor_move(ops->opaque, x, y, visible);
	return 0;
}

int virtio_gpu_load(struct virtio_gpu *gpu, struct snap_cursor *in)
{
	virtio_lock(&gpu->vdev);
	gpu_resources_free_all(gpu);
	gpu_scanout_disable(gpu);
	int r = virtio_device_load(&gpu->vdev, in);
	uint32_t width = snap_get_u32(in), height = snap_get_u32(in), events = snap_get_u32(in);
	uint32_t count = snap_get_u32(in);
	if (r == 0 && (in->failed || !gpu_size_valid(width, height) || events & ~VIRTIO_GPU_EVENT_DISPLAY ||
		       count > GPU_MAX_RESOURCES))
		r = -EINVAL;
	if (r == 0) {
		gpu->display_width = width;
		gpu->display_height = height;
		gpu->events_read = events;
	}
	for (uint32_t i = 0; r == 0 && i < count; i++)
		r = gpu_load_resource(gpu, in);
	if (r == 0)
		r = gpu_load_scanout(gpu, in);
	virtio_unlock(&gpu->vdev);
	return r;
}
