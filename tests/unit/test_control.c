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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_count_touched_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_never_overflows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poweroff, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
