/* edid.c — the EDID 1.4 base block of vdi's virtual monitor, whose preferred
 * mode is the display size the host asks for. */
#include "virtio.h"

#include <string.h>

/* Detailed timing descriptors hold active and blanking sizes in 12 bits and
 * the pixel clock in 16 bits of 10 kHz. */
#define EDID_DTD_ACTIVE_MAX 4095u
#define EDID_DTD_CLOCK_MAX  65535u
#define EDID_REFRESH_HZ     60u

/* Reduced blanking (CVT-RB v1): a fixed 160-pixel horizontal blank, and a
 * vertical blank of at least 460 us with a 3-line front porch and at least
 * 6 lines of back porch. Monitors and guests know these timings, and they
 * keep the pixel clock low enough for large displays. */
#define CVT_RB_H_FRONT    48u
#define CVT_RB_H_SYNC     32u
#define CVT_RB_H_BLANK    160u
#define CVT_RB_V_FRONT    3u
#define CVT_RB_V_BACK_MIN 6u
#define CVT_RB_MIN_VBI_NS 460000u
#define EDID_FRAME_NS     (1000000000u / EDID_REFRESH_HZ)
#define EDID_DPI          96u /* screen size in cm/mm as a 96 DPI monitor, so guests scale 1:1 */
#define EDID_YEAR         2024u
#define EDID_PRODUCT      0x0001u
#define EDID_SERIAL       0x00000001u
#define EDID_DESC_TIMING  54u
#define EDID_DESC_RANGE   72u
#define EDID_DESC_NAME    90u
#define EDID_DESC_DUMMY   108u
#define EDID_TAG_NAME     0xfc
#define EDID_TAG_RANGE    0xfd
#define EDID_TAG_DUMMY    0x10

struct edid_timing {
	uint32_t hactive, hblank, hfront, hsync;
	uint32_t vactive, vblank, vfront, vsync;
	uint32_t clock_10khz;
};

/* CVT encodes the aspect ratio in the vertical sync width, which is how
 * some sinks recognise a CVT mode. */
static uint32_t edid_cvt_vsync(uint32_t w, uint32_t h)
{
	uint64_t w64 = w, h64 = h;
	if (w64 * 3 == h64 * 4)
		return 4;
	if (w64 * 9 == h64 * 16)
		return 5;
	if (w64 * 10 == h64 * 16)
		return 6;
	if (w64 * 4 == h64 * 5 || w64 * 9 == h64 * 15)
		return 7;
	return 10;
}

static void edid_cvt_rb(struct edid_timing *t, uint32_t width, uint32_t height)
{
	t->hactive = width < EDID_DTD_ACTIVE_MAX ? width : EDID_DTD_ACTIVE_MAX;
	t->vactive = height < EDID_DTD_ACTIVE_MAX ? height : EDID_DTD_ACTIVE_MAX;
	t->hblank = CVT_RB_H_BLANK;
	t->hfront = CVT_RB_H_FRONT;
	t->hsync = CVT_RB_H_SYNC;
	t->vfront = CVT_RB_V_FRONT;
	t->vsync = edid_cvt_vsync(t->hactive, t->vactive);
	/* Lines in 460 us, from the line period the active lines leave. */
	uint64_t vbi = (uint64_t)CVT_RB_MIN_VBI_NS * t->vactive / (EDID_FRAME_NS - CVT_RB_MIN_VBI_NS) + 1;
	uint64_t vmin = CVT_RB_V_FRONT + t->vsync + CVT_RB_V_BACK_MIN;
	t->vblank = (uint32_t)(vbi > vmin ? vbi : vmin);
	uint64_t total = (uint64_t)(t->hactive + t->hblank) * (t->vactive + t->vblank);
	/* Rounded to the field's 10 kHz; beyond its 655.35 MHz the mode keeps
	 * its size and the refresh rate drops below 60 Hz. */
	uint64_t clock = (total * EDID_REFRESH_HZ + 5000) / 10000;
	if (clock < 1)
		clock = 1;
	if (clock > EDID_DTD_CLOCK_MAX)
		clock = EDID_DTD_CLOCK_MAX;
	t->clock_10khz = (uint32_t)clock;
}

static void edid_put_timing(uint8_t *d, const struct edid_timing *t, uint32_t width_mm, uint32_t height_mm)
{
	d[0] = (uint8_t)t->clock_10khz;
	d[1] = (uint8_t)(t->clock_10khz >> 8);
	d[2] = (uint8_t)t->hactive;
	d[3] = (uint8_t)t->hblank;
	d[4] = (uint8_t)((t->hactive >> 8) << 4 | (t->hblank >> 8));
	d[5] = (uint8_t)t->vactive;
	d[6] = (uint8_t)t->vblank;
	d[7] = (uint8_t)((t->vactive >> 8) << 4 | (t->vblank >> 8));
	d[8] = (uint8_t)t->hfront;
	d[9] = (uint8_t)t->hsync;
	d[10] = (uint8_t)((t->vfront & 0xf) << 4 | (t->vsync & 0xf));
	d[11] = (uint8_t)((t->hfront >> 8) << 6 | (t->hsync >> 8) << 4 | (t->vfront >> 4) << 2 | (t->vsync >> 4));
	d[12] = (uint8_t)width_mm;
	d[13] = (uint8_t)height_mm;
	d[14] = (uint8_t)((width_mm >> 8) << 4 | (height_mm >> 8));
	d[15] = 0; /* no borders */
	d[16] = 0;
	/* Progressive, digital separate sync; CVT-RB has +hsync, -vsync. */
	d[17] = 0x1a;
}

static void edid_put_text(uint8_t *d, uint8_t tag, const char *text)
{
	d[3] = tag;
	size_t n = strlen(text);
	memset(d + 5, ' ', 13);
	memcpy(d + 5, text, n);
	d[5 + n] = '\n';
}

/* Millimetres, rounded: 25.4 mm per inch. */
static uint32_t edid_mm(uint32_t pixels)
{
	return (pixels * 254u + EDID_DPI * 5) / (EDID_DPI * 10);
}

void edid_build(uint8_t edid[EDID_BLOCK_SIZE], uint32_t width, uint32_t height)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	memset(edid, 0, EDID_BLOCK_SIZE);
	memcpy(edid, header, sizeof(header));

	/* "VDI": three letters of five bits each, 'A' = 1, big-endian. */
	uint16_t vendor = (uint16_t)(('V' - '@') << 10 | ('D' - '@') << 5 | ('I' - '@'));
	edid[8] = (uint8_t)(vendor >> 8);
	edid[9] = (uint8_t)vendor;
	edid[10] = (uint8_t)EDID_PRODUCT;
	edid[11] = (uint8_t)(EDID_PRODUCT >> 8);
	for (int i = 0; i < 4; i++)
		edid[12 + i] = (uint8_t)(EDID_SERIAL >> (8 * i));
	edid[16] = 0; /* week unspecified */
	edid[17] = (uint8_t)(EDID_YEAR - 1990);
	edid[18] = 1; /* EDID 1.4 */
	edid[19] = 4;
	edid[20] = 0xa5; /* digital, 8 bits per colour, DisplayPort */

	struct edid_timing t;
	edid_cvt_rb(&t, width, height);
	uint32_t width_mm = edid_mm(t.hactive), height_mm = edid_mm(t.vactive);
	uint32_t width_cm = (width_mm + 5) / 10, height_cm = (height_mm + 5) / 10;
	edid[21] = (uint8_t)(width_cm < 1 ? 1 : width_cm > 255 ? 255 : width_cm);
	edid[22] = (uint8_t)(height_cm < 1 ? 1 : height_cm > 255 ? 255 : height_cm);
	edid[23] = 120; /* gamma 2.2, stored as gamma * 100 - 100 */
	/* No DPMS, RGB 4:4:4, sRGB is the default colour space, the preferred
	 * timing is the native mode (required in 1.4). */
	edid[24] = 0x06;

	/* sRGB primaries and D65 white as 10-bit binary fractions: red, green,
	 * blue, white, each x then y. */
	static const uint16_t chroma[8] = {655, 338, 307, 614, 154, 61, 320, 337};
	edid[25] = (uint8_t)((chroma[0] & 3) << 6 | (chroma[1] & 3) << 4 | (chroma[2] & 3) << 2 | (chroma[3] & 3));
	edid[26] = (uint8_t)((chroma[4] & 3) << 6 | (chroma[5] & 3) << 4 | (chroma[6] & 3) << 2 | (chroma[7] & 3));
	for (int i = 0; i < 8; i++)
		edid[27 + i] = (uint8_t)(chroma[i] >> 2);
	/* No established timings (35-37); standard timings all unused. */
	for (int i = 38; i < 54; i++)
		edid[i] = 0x01;

	edid_put_timing(edid + EDID_DESC_TIMING, &t, width_mm, height_mm);

	/* Range limits wide enough for any mode a virtual monitor is asked
	 * for: 24-75 Hz, 1-255 kHz, pixel clock up to what a DTD holds. */
	uint8_t *range = edid + EDID_DESC_RANGE;
	range[3] = EDID_TAG_RANGE;
	range[5] = 24;
	range[6] = 75;
	range[7] = 1;
	range[8] = 255;
	range[9] = (uint8_t)((EDID_DTD_CLOCK_MAX + 999) / 1000); /* 10 MHz units */
	range[10] = 0x01;                                        /* range limits only, no formula */
	range[11] = '\n';
	memset(range + 12, ' ', 6);

	edid_put_text(edid + EDID_DESC_NAME, EDID_TAG_NAME, "vdi");
	edid[EDID_DESC_DUMMY + 3] = EDID_TAG_DUMMY;

	edid[126] = 0; /* no extension blocks */
	uint8_t sum = 0;
	for (int i = 0; i < EDID_BLOCK_SIZE - 1; i++)
		sum = (uint8_t)(sum + edid[i]);
	edid[127] = (uint8_t)(0x100 - sum);
}
