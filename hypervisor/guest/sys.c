/* sys.c — the CPL3 services of drivers.h that need no driver: the wait
 * call, page allocation, wall-clock time and the host-set label. */
#include "arch.h"
#include "drivers.h"
#include "guest.h"
#include "vdi_boot.h"
#include "virtio.h"

#define PAGE_SIZE 4096u
#define LOW_4G    0x100000000ull

#define RTC_SECONDS      0x00
#define RTC_MINUTES      0x02
#define RTC_HOURS        0x04
#define RTC_STATUS_A     0x0a
#define RTC_STATUS_B     0x0b
#define STATUS_A_UPDATE  0x80
#define STATUS_B_24H     0x02
#define STATUS_B_BINARY  0x04
#define HOURS_PM         0x80
#define RTC_READ_TRIES   10
#define RTC_UPDATE_POLLS 100000u
#define LABEL_READ_TRIES 8

_Static_assert(EVENT_TIMER == PENDING_TIMER && EVENT_GPU == PENDING_GPU && EVENT_INPUT == PENDING_INPUT &&
		   EVENT_LABEL == PENDING_LABEL && EVENT_SOUND == PENDING_SOUND,
	       "entry.S's interrupt handlers set drivers.h's event bits");

uint32_t sys_pending;
/* Events a driver's wait took from the kernel on the shell's behalf. */
static uint32_t sys_kept;

/* Pending events are taken here in CPL3 when there are any; only an empty
 * hand costs the trip into the kernel to halt. */
uint32_t sys_wait(void)
{
	uint32_t events = sys_kept | __atomic_exchange_n(&sys_pending, 0, __ATOMIC_ACQ_REL);
	sys_kept = 0;
	return events ? events : user_syscall(SYS_WAIT);
}

uint32_t sys_wait_keep(void)
{
	uint32_t events = user_syscall(SYS_WAIT);
	sys_kept |= events;
	return events;
}

extern uint8_t _end[]; /* guest.ld: the end of the image */
static uintptr_t page_next, page_limit;

/* CPL0, before CPL3 starts: the free RAM is from the image's end to the end
 * of the RAM region holding it (the boot info is below 1 MiB). */
void page_alloc_init(const struct vdi_boot_info *info)
{
	uintptr_t start = ((uintptr_t)_end + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1);
	for (uint32_t i = 0; i < info->region_count; i++) {
		const struct vdi_mem_region *r = &info->regions[i];
		if (r->type != VDI_MEM_RAM || r->base > start || r->length > LOW_4G || r->base + r->length <= start)
			continue;
		page_next = start;
		page_limit = (uintptr_t)(r->base + r->length < LOW_4G ? r->base + r->length : LOW_4G);
		return;
	}
}

void *page_alloc(size_t bytes)
{
	if (bytes == 0 || bytes > page_limit - page_next)
		return NULL;
	size_t rounded = (bytes + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	if (rounded > page_limit - page_next)
		return NULL;
	void *p = (void *)page_next;
	page_next += rounded;
	memset(p, 0, rounded);
	return p;
}

static uint8_t rtc_value(uint8_t raw, bool binary)
{
	return binary ? raw : (uint8_t)((raw >> 4) * 10 + (raw & 0x0f));
}

void time_now(struct wall_time *t)
{
	uint8_t sec = 0, min = 0, hour = 0;
	for (int i = 0; i < RTC_READ_TRIES; i++) {
		/* An update lasts under 2 ms; the bound only guards a broken clock. */
		for (uint32_t polls = 0;
		     polls < RTC_UPDATE_POLLS && (rtc_read_register(RTC_STATUS_A) & STATUS_A_UPDATE); polls++)
			cpu_relax();
		sec = rtc_read_register(RTC_SECONDS);
		min = rtc_read_register(RTC_MINUTES);
		hour = rtc_read_register(RTC_HOURS);
		if (sec == rtc_read_register(RTC_SECONDS) && min == rtc_read_register(RTC_MINUTES))
			break;
	}
	uint8_t status_b = rtc_read_register(RTC_STATUS_B);
	bool binary = status_b & STATUS_B_BINARY;
	bool pm = !(status_b & STATUS_B_24H) && (hour & HOURS_PM);
	hour = rtc_value(hour & (uint8_t)~HOURS_PM, binary);
	if (!(status_b & STATUS_B_24H))
		hour = (uint8_t)(hour % 12 + (pm ? 12 : 0));
	t->hour = hour;
	t->minute = rtc_value(min, binary);
	t->second = rtc_value(sec, binary);
}

void label_notify(uint8_t vector)
{
	outl(LABEL_PORT_NOTIFY, vector);
}

/* The host may set a new label between our reads; the generation read
 * before and after tells, and we read again. */
uint32_t label_read(char *buf, size_t cap)
{
	if (cap == 0)
		return 0;
	uint32_t generation = 0;
	for (int attempt = 0; attempt < LABEL_READ_TRIES; attempt++) {
		generation = inl(LABEL_PORT_GENERATION);
		uint32_t length = inl(LABEL_PORT_LENGTH);
		/* Beyond LABEL_MAX is no label device (ports read all ones). */
		if (length > LABEL_MAX) {
			buf[0] = '\0';
			return 0;
		}
		size_t n = length < cap - 1 ? length : cap - 1;
		outl(LABEL_PORT_OFFSET, 0);
		for (size_t i = 0; i < n; i += 4) {
			uint32_t word = inl(LABEL_PORT_DATA);
			for (size_t j = 0; j < 4 && i + j < n; j++)
				buf[i + j] = (char)(word >> (8 * j));
		}
		buf[n] = '\0';
		if (inl(LABEL_PORT_GENERATION) == generation)
			break;
	}
	return generation;
}
