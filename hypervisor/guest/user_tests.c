/* user_tests.c — the command line's CPL3 words: test=cpl3 (the timer
 * interrupts user code and wakes a halted sys_wait), test=gpu, test=input,
 * test=hostile, and the desktop shell's start. */
#include "arch.h"
#include "drivers.h"
#include "guest.h"

#define RTC_SECONDS     0x00
#define GPU_TEST_PIXEL  0x00336699u
#define CURSOR_SIZE     64
#define CPL3_WAIT_TICKS 2
#define PAGE_TEST_BYTES (1024 * 1024)

static bool (*user_test_body)(void);
static bool user_test_verdict;

static void user_test_entry(void)
{
	lapic_start();
	user_test_verdict = user_test_body();
}

static bool user_test_run(bool (*body)(void))
{
	user_test_body = body;
	user_test_verdict = false;
	user_call(user_test_entry);
	return user_test_verdict;
}

static bool cpl3_body(void)
{
	unsigned cpl = cpu_read_cs() & 3;
	uint32_t hz = lapic_start();
	/* The timer was started by this call or just before: its first tick
	 * arrives while this loop runs in CPL3. */
	uint64_t spins = 0;
	while (!(__atomic_load_n(&sys_pending, __ATOMIC_ACQUIRE) & EVENT_TIMER))
		spins++;
	uint32_t first = sys_wait();
	unsigned ticks = 0;
	uint8_t rtc_before = rtc_read_register(RTC_SECONDS);
	while (ticks < CPL3_WAIT_TICKS) {
		if (sys_wait() & EVENT_TIMER)
			ticks++;
	}
	uint8_t rtc_after = rtc_read_register(RTC_SECONDS);
	bool ok = cpl == 3 && (first & EVENT_TIMER);
	guest_log("cpl3 %s: cpl %u, lapic timer %u Hz/16, tick seen in CPL3 after %lu spins, %u ticks through "
		  "sys_wait, rtc seconds %x -> %x",
		  ok ? "ok" : "FAILED", cpl, hz, spins, ticks, rtc_before, rtc_after);
	if (!ok)
		return false;

	/* The other drivers.h services that need no device. */
	char label[LABEL_MAX + 1];
	uint32_t generation = label_read(label, sizeof(label));
	struct wall_time now;
	time_now(&now);
	uint8_t *a = page_alloc(1), *b = page_alloc(PAGE_TEST_BYTES);
	bool pages_ok = a && b && !((uintptr_t)a & 4095) && b >= a + 4096 && !b[PAGE_TEST_BYTES - 1];
	guest_log("cpl3 services: label \"%s\" generation %u, time %02u:%02u:%02u, page_alloc %s", label, generation,
		  now.hour, now.minute, now.second, pages_ok ? "ok" : "FAILED");
	return pages_ok;
}

bool user_test_cpl3(void)
{
	return user_test_run(cpl3_body);
}

static bool gpu_body(void)
{
	if (gpu_init() < 0) {
		guest_log("gpu FAILED: init");
		return false;
	}
	uint32_t width, height;
	gpu_display_size(&width, &height);
	uint32_t *fb = gpu_set_mode(width, height);
	if (!fb) {
		guest_log("gpu FAILED: set mode %ux%u", width, height);
		return false;
	}
	for (uint32_t y = 0; y < height; y++) {
		for (uint32_t x = 0; x < width; x++)
			fb[(size_t)y * width + x] = ((x / 32 + y / 32) & 1) ? GPU_TEST_PIXEL : 0x00ffffffu;
	}
	if (gpu_flush(0, 0, width, height) < 0) {
		guest_log("gpu FAILED: flush");
		return false;
	}
	static uint32_t cursor[CURSOR_SIZE * CURSOR_SIZE];
	for (size_t i = 0; i < CURSOR_SIZE * CURSOR_SIZE; i++)
		cursor[i] = 0xff000000u | (uint32_t)i;
	if (gpu_cursor_set(cursor, 1, 1, width / 2, height / 2) < 0 || gpu_cursor_move(width / 4, height / 4) < 0) {
		guest_log("gpu FAILED: cursor");
		return false;
	}
	guest_log("gpu ok %ux%u", width, height);
	return true;
}

bool user_test_gpu(void)
{
	return user_test_run(gpu_body);
}

static bool input_body(void)
{
	if (input_init() < 0) {
		guest_log("input FAILED: init");
		return false;
	}
	struct input_event ev;
	unsigned drained = 0;
	while (input_next(&ev))
		drained++;
	guest_log("input ok (%u events waiting)", drained);
	return true;
}

bool user_test_input(void)
{
	return user_test_run(input_body);
}

bool user_test_hostile(void)
{
	return user_test_run(hostile_run);
}

static void desktop_entry(void)
{
	lapic_start();
	desktop_main();
}

_Noreturn void user_desktop(void)
{
	user_call(desktop_entry);
	guest_log("desktop returned");
	power_off(GUEST_EXIT_TEST_FAILED);
}
