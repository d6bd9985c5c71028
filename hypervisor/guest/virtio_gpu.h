/* virtio_gpu.h — the virtio-gpu wire format (virtio 1.2 section 5.7), shared
 * by the device model in vdi-vmm (hypervisor/devices/virtio_gpu.c includes
 * "../guest/virtio_gpu.h") and the in-tree guest's driver (gpu.c speaks it,
 * hostile.c abuses it). Freestanding: it needs only <stdint.h>, as the guest
 * is built without libc. Fields are little-endian, as is x86. */
#ifndef VDI_GUEST_VIRTIO_GPU_H
#define VDI_GUEST_VIRTIO_GPU_H

#include <stdint.h>

/* Feature bits. */
#define VIRTIO_GPU_F_EDID 1

/* Virtqueues. */
#define VIRTIO_GPU_QUEUE_CONTROL 0
#define VIRTIO_GPU_QUEUE_CURSOR  1

/* The device configuration (struct virtio_gpu_config): byte offsets of its
 * 32-bit fields, and its size. */
#define VIRTIO_GPU_CONFIG_EVENTS_READ  0
#define VIRTIO_GPU_CONFIG_EVENTS_CLEAR 4
#define VIRTIO_GPU_CONFIG_NUM_SCANOUTS 8
#define VIRTIO_GPU_CONFIG_NUM_CAPSETS  12
#define VIRTIO_GPU_CONFIG_SIZE         16

/* Bits of events_read / events_clear. */
#define VIRTIO_GPU_EVENT_DISPLAY 1u

/* virtio_gpu_ctrl_hdr.flags */
#define VIRTIO_GPU_FLAG_FENCE 1u

#define VIRTIO_GPU_MAX_SCANOUTS 16
#define VIRTIO_GPU_EDID_MAX     1024

enum virtio_gpu_ctrl_type {
	VIRTIO_GPU_CMD_GET_DISPLAY_INFO = 0x0100,
	VIRTIO_GPU_CMD_RESOURCE_CREATE_2D = 0x0101,
	VIRTIO_GPU_CMD_RESOURCE_UNREF = 0x0102,
	VIRTIO_GPU_CMD_SET_SCANOUT = 0x0103,
	VIRTIO_GPU_CMD_RESOURCE_FLUSH = 0x0104,
	VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D = 0x0105,
	VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING = 0x0106,
	VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING = 0x0107,
	VIRTIO_GPU_CMD_GET_EDID = 0x010a,
	VIRTIO_GPU_CMD_UPDATE_CURSOR = 0x0300,
	VIRTIO_GPU_CMD_MOVE_CURSOR = 0x0301,
	VIRTIO_GPU_RESP_OK_NODATA = 0x1100,
	VIRTIO_GPU_RESP_OK_DISPLAY_INFO = 0x1101,
	VIRTIO_GPU_RESP_OK_EDID = 0x1104,
	VIRTIO_GPU_RESP_ERR_UNSPEC = 0x1200,
	VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY = 0x1201,
	VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID = 0x1202,
	VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID = 0x1203,
	VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER = 0x1205,
};

enum virtio_gpu_formats {
	VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM = 1,
	VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM = 2,
	VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM = 3,
	VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM = 4,
	VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM = 67,
	VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM = 68,
	VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM = 121,
	VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM = 134,
};

struct virtio_gpu_ctrl_hdr {
	uint32_t type;
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
	uint8_t padding[3];
};

struct virtio_gpu_rect {
	uint32_t x, y, width, height;
};

struct virtio_gpu_resp_display_info {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_display_one {
		struct virtio_gpu_rect r;
		uint32_t enabled;
		uint32_t flags;
	} pmodes[VIRTIO_GPU_MAX_SCANOUTS];
};

struct virtio_gpu_get_edid {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t scanout;
	uint32_t padding;
};

struct virtio_gpu_resp_edid {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t size;
	uint32_t padding;
	uint8_t edid[VIRTIO_GPU_EDID_MAX];
};

struct virtio_gpu_resource_create_2d {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t format;
	uint32_t width;
	uint32_t height;
};

struct virtio_gpu_resource_unref {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_set_scanout {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint32_t scanout_id;
	uint32_t resource_id;
};

struct virtio_gpu_resource_flush {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_transfer_to_host_2d {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_rect r;
	uint64_t offset;
	uint32_t resource_id;
	uint32_t padding;
};

/* Followed by nr_entries struct virtio_gpu_mem_entry. */
struct virtio_gpu_resource_attach_backing {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t nr_entries;
};

struct virtio_gpu_mem_entry {
	uint64_t addr;
	uint32_t length;
	uint32_t padding;
};

struct virtio_gpu_resource_detach_backing {
	struct virtio_gpu_ctrl_hdr hdr;
	uint32_t resource_id;
	uint32_t padding;
};

struct virtio_gpu_cursor_pos {
	uint32_t scanout_id;
	uint32_t x;
	uint32_t y;
	uint32_t padding;
};

/* UPDATE_CURSOR and MOVE_CURSOR share it. */
struct virtio_gpu_update_cursor {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_cursor_pos pos;
	uint32_t resource_id;
	uint32_t hot_x;
	uint32_t hot_y;
	uint32_t padding;
};

_Static_assert(sizeof(struct virtio_gpu_ctrl_hdr) == 24, "ctrl_hdr");
_Static_assert(sizeof(struct virtio_gpu_resp_display_info) == 408, "resp_display_info");
_Static_assert(sizeof(struct virtio_gpu_get_edid) == 32, "get_edid");
_Static_assert(sizeof(struct virtio_gpu_resp_edid) == 1056, "resp_edid");
_Static_assert(sizeof(struct virtio_gpu_resource_create_2d) == 40, "resource_create_2d");
_Static_assert(sizeof(struct virtio_gpu_resource_unref) == 32, "resource_unref");
_Static_assert(sizeof(struct virtio_gpu_set_scanout) == 48, "set_scanout");
_Static_assert(sizeof(struct virtio_gpu_resource_flush) == 48, "resource_flush");
_Static_assert(sizeof(struct virtio_gpu_transfer_to_host_2d) == 56, "transfer_to_host_2d");
_Static_assert(sizeof(struct virtio_gpu_resource_attach_backing) == 32, "attach_backing");
_Static_assert(sizeof(struct virtio_gpu_mem_entry) == 16, "mem_entry");
_Static_assert(sizeof(struct virtio_gpu_resource_detach_backing) == 32, "resource_detach_backing");
_Static_assert(sizeof(struct virtio_gpu_cursor_pos) == 16, "cursor_pos");
_Static_assert(sizeof(struct virtio_gpu_update_cursor) == 56, "update_cursor");

#endif
