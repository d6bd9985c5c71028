/* test_control.c — the control protocol's request handling, without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../hypervisor/control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM (4u << 20)

static int setup(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->mem = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	vm->mem_bytes = vm->low_bytes = RAM;
	vm->ncpus = 2; /* threads not started: they count as parked */
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*state = vm;
	return 0;
}

static int teardown(void **state)
{
	struct vm *vm = *state;
	munmap(vm->mem, RAM);
	close(vm->stop_eventfd);
	free(vm);
	return 0;
}

/* Sends a request with `payload_len` bytes of payload; returns the reply header. */
static struct vmm_msg request(struct vm *vm, uint16_t version, uint16_t type, uint32_t claimed_len, size_t payload_len,
			      void *payload_out, size_t payload_cap)
{
	uint8_t in[256] = {0}, out[VMM_MSG_MAX];
	struct vmm_msg h = {.version = version, .type = type, .id = 42, .length = claimed_len};
	memcpy(in, &h, sizeof(h));
	size_t n = control_handle_request(vm, NULL, in, sizeof(h) + payload_len, out, sizeof(out));
	struct vmm_msg rep;
	assert_true(n >= sizeof(rep));
	memcpy(&rep, out, sizeof(rep));
	assert_int_equal(rep.type, VMM_REPLY);
	assert_int_equal(rep.length, n - sizeof(rep));
	if (payload_out) {
		assert_int_equal(rep.length, payload_cap);
		memcpy(payload_out, out + sizeof(rep), payload_cap);
	}
	return rep;
}

static uint32_t state_of(struct vm *vm)
{
	struct vmm_status s;
	struct vmm_msg rep = request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_STATUS, 0, 0, &s, sizeof(s));
	assert_int_equal(rep.result, 0);
	return s.state;
}

static void test_status(void **state)
{
	struct vm *vm = *state;
	struct vmm_status s;
	struct vmm_msg rep = request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_STATUS, 0, 0, &s, sizeof(s));
	assert_int_equal(rep.id, 42);
	assert_int_equal(rep.result, 0);
	assert_int_equal(s.state, VMM_STATE_RUNNING);
	assert_int_equal(s.vcpus, 2);
	assert_int_equal(s.mem_bytes, RAM);
	assert_int_equal(s.pid, getpid());
}

static void test_pause_resume(void **state)
{
	struct vm *vm = *state;
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_PAUSE, 0, 0, NULL, 0).result, 0);
	assert_int_equal(state_of(vm), VMM_STATE_PAUSED);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_PAUSE, 0, 0, NULL, 0).result, 0);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_RESUME, 0, 0, NULL, 0).result, 0);
	assert_int_equal(state_of(vm), VMM_STATE_RUNNING);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_RESUME, 0, 0, NULL, 0).result, 0);
}

static void test_stats_count_touched_ram(void **state)
{
	struct vm *vm = *state;
	memset(vm->mem + 8192, 1, 3 * 4096);
	atomic_store(&vm->exits[VMM_EXIT_IO], 7);
	atomic_store(&vm->unhandled_mmio, 3);
	struct vmm_stats s;
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_STATS, 0, 0, &s, sizeof(s)).result, 0);
	assert_int_equal(s.guest_ram_touched_bytes, 3 * 4096);
	assert_int_equal(s.guest_ram_bytes, RAM);
	assert_int_equal(s.exits[VMM_EXIT_IO], 7);
	assert_int_equal(s.unhandled_mmio, 3);
	assert_true(s.vmm_rss_bytes > s.guest_ram_touched_bytes);
}

static void test_malformed_requests(void **state)
{
	struct vm *vm = *state;
	uint8_t out[VMM_MSG_MAX];
	struct vmm_msg rep;
	/* Shorter than a header. */
	size_t n = control_handle_request(vm, NULL, (const uint8_t *)"\x01\x00", 2, out, sizeof(out));
	assert_int_equal(n, sizeof(rep));
	memcpy(&rep, out, sizeof(rep));
	assert_int_equal(rep.result, -EINVAL);
	assert_int_equal(request(vm, 7, VMM_REQ_STATUS, 0, 0, NULL, 0).result, -EPROTO);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, 999, 0, 0, NULL, 0).result, -EINVAL);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_STATUS, 100, 0, NULL, 0).result, -EINVAL);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_STATUS, 0, 16, NULL, 0).result, -EINVAL);
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REPLY, 0, 0, NULL, 0).result, -EINVAL);
	assert_false(vm_stopped(vm));
}

static void test_reply_never_overflows(void **state)
{
	struct vm *vm = *state;
	uint8_t in[sizeof(struct vmm_msg)], out[sizeof(struct vmm_msg) + 4];
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = VMM_REQ_STATS, .id = 1};
	memcpy(in, &h, sizeof(h));
	size_t n = control_handle_request(vm, NULL, in, sizeof(in), out, sizeof(out));
	struct vmm_msg rep;
	memcpy(&rep, out, sizeof(rep));
	assert_int_equal(n, sizeof(rep));
	assert_int_equal(rep.result, -EMSGSIZE);
}

static void test_poweroff(void **state)
{
	struct vm *vm = *state;
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_POWEROFF, 0, 0, NULL, 0).result, 0);
	assert_true(vm_stopped(vm));
	assert_int_equal(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
	uint64_t v = 0;
	assert_int_equal(read(vm->stop_eventfd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(state_of(vm), VMM_STATE_STOPPING);
	/* A stopped VM cannot be paused. */
	assert_int_equal(request(vm, VMM_PROTOCOL_VERSION, VMM_REQ_PAUSE, 0, 0, NULL, 0).result, -ESHUTDOWN);
}

/* A request with a payload, to `devices`; returns the reply's result. */
static int32_t call(struct vm *vm, struct control_devices *devices, uint16_t type, const void *payload, uint32_t len)
{
	static uint8_t in[VMM_MSG_MAX], out[VMM_MSG_MAX];
	struct vmm_msg h = {.version = VMM_PROTOCOL_VERSION, .type = type, .id = 9, .length = len};
	memcpy(in, &h, sizeof(h));
	if (len)
		memcpy(in + sizeof(h), payload, len);
	size_t n = control_handle_request(vm, devices, in, sizeof(h) + len, out, sizeof(out));
	struct vmm_msg rep;
	assert_int_equal(n, sizeof(rep));
	memcpy(&rep, out, sizeof(rep));
	assert_int_equal(rep.id, 9);
	return rep.result;
}

static void test_device_requests_without_devices(void **state)
{
	struct vm *vm = *state;
	struct vmm_display_size size = {800, 600};
	struct vmm_input key = {VMM_INPUT_KEY, 30, 1, 0};
	struct control_devices none = {0};
	assert_int_equal(call(vm, NULL, VMM_REQ_DISPLAY_SIZE, &size, sizeof(size)), -ENODEV);
	assert_int_equal(call(vm, &none, VMM_REQ_DISPLAY_SIZE, &size, sizeof(size)), -ENODEV);
	assert_int_equal(call(vm, NULL, VMM_REQ_INPUT, &key, sizeof(key)), -ENODEV);
	assert_int_equal(call(vm, &none, VMM_REQ_INPUT, &key, sizeof(key)), -ENODEV);
	assert_int_equal(call(vm, &none, VMM_REQ_SET_LABEL, "x", 1), -ENODEV);
	/* Subscribing needs a connection: not something a bare request can do. */
	assert_int_equal(call(vm, &none, VMM_REQ_DISPLAY_SUBSCRIBE, NULL, 0), -EINVAL);
	/* Wrong payload sizes. */
	assert_int_equal(call(vm, &none, VMM_REQ_DISPLAY_SIZE, &size, 4), -EINVAL);
	assert_int_equal(call(vm, &none, VMM_REQ_INPUT, &key, 0), -EINVAL);
	assert_int_equal(call(vm, &none, VMM_REQ_INPUT, &key, sizeof(key) - 1), -EINVAL);
}

static void test_label_request(void **state)
{
	struct vm *vm = *state;
	struct bus pio;
	bus_init(&pio, "pio");
	struct control_devices d = {.label = label_create(&pio, (struct msi_line){0})};
	assert_non_null(d.label);
	char text[VMM_LABEL_MAX + 1];
	memset(text, 'a', sizeof(text));
	assert_int_equal(call(vm, &d, VMM_REQ_SET_LABEL, "alice", 5), 0);
	assert_int_equal(call(vm, &d, VMM_REQ_SET_LABEL, text, VMM_LABEL_MAX), 0);
	assert_int_equal(call(vm, &d, VMM_REQ_SET_LABEL, text, VMM_LABEL_MAX + 1), -EINVAL);
	assert_int_equal(call(vm, &d, VMM_REQ_SET_LABEL, "a\0b", 3), -EINVAL);
	assert_int_equal(call(vm, &d, VMM_REQ_SET_LABEL, "", 0), 0);
	label_destroy(d.label);
	bus_destroy(&pio);
}

static void *guest_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	return gpa < RAM && len <= RAM - gpa ? vm->mem + gpa : NULL;
}

static int no_irq(void *opaque, uint32_t gsi, int level)
{
	(void)opaque, (void)gsi, (void)level;
	return 0;
}

static int no_msi(void *opaque, uint64_t address, uint32_t data)
{
	(void)opaque, (void)address, (void)data;
	return 0;
}

/* Input is checked whole before any of it reaches a device; the pointer's
 * buttons are remembered only when a request succeeds. */
static void test_input_requests(void **state)
{
	struct vm *vm = *state;
	struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	struct pci_bus *pci = pci_create(&pio);
	struct virtio_pci_config cfg = {.pci = pci,
					.mmio = &mmio,
					.memory = {guest_ram, vm},
					.irq = {no_irq, NULL},
					.msi = {no_msi, NULL},
					.gsi = 10,
					.bar_address = 0xc0000000};
	struct control_devices d = {0};
	d.tablet = virtio_input_create(&cfg, VIRTIO_INPUT_TABLET);
	assert_non_null(d.tablet);
	cfg.bar_address += VIRTIO_PCI_BAR_SIZE;
	struct vmm_input key = {VMM_INPUT_KEY, 30, 1, 0};
	/* No keyboard yet: keys cannot go anywhere, buttons can. */
	assert_int_equal(call(vm, &d, VMM_REQ_INPUT, &key, sizeof(key)), -ENODEV);
	struct vmm_input click[2] = {{VMM_INPUT_POINTER, VMM_BUTTON_LEFT, 10, 10}, {VMM_INPUT_WHEEL, 0, 0, -2}};
	assert_int_equal(call(vm, &d, VMM_REQ_INPUT, click, sizeof(click)), 0);
	assert_int_equal(d.pointer_buttons, VMM_BUTTON_LEFT);
	d.keyboard = virtio_input_create(&cfg, VIRTIO_INPUT_KEYBOARD);
	assert_non_null(d.keyboard);
	assert_int_equal(call(vm, &d, VMM_REQ_INPUT, &key, sizeof(key)), 0);

	static const struct vmm_input bad[] = {
	    {0, 30, 1, 0},                    /* no such kind */
	    {VMM_INPUT_KEY, 30, 2, 0},        /* neither up nor down */
	    {VMM_INPUT_KEY, 0, 1, 0},         /* KEY_RESERVED */
	    {VMM_INPUT_KEY, 300, 1, 0},       /* neither a key nor a button */
	    {VMM_INPUT_POINTER, 0x100, 1, 1}, /* an unknown button bit */
	    {VMM_INPUT_WHEEL, 0, 0, 1000},    /* an absurd scroll */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A good event first: the bad one must sink the whole request. */
		struct vmm_input pair[2] = {{VMM_INPUT_POINTER, 0, 5, 5}, bad[i]};
		assert_int_equal(call(vm, &d, VMM_REQ_INPUT, pair, sizeof(pair)), -EINVAL);
		assert_int_equal(d.pointer_buttons, VMM_BUTTON_LEFT);
	}
	struct vmm_input release = {VMM_INPUT_POINTER, 0, 20, 20};
	assert_int_equal(call(vm, &d, VMM_REQ_INPUT, &release, sizeof(release)), 0);
	assert_int_equal(d.pointer_buttons, 0);
	virtio_input_destroy(d.keyboard);
	virtio_input_destroy(d.tablet);
	pci_destroy(pci);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_count_touched_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_never_overflows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poweroff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_requests_without_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_requests, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
