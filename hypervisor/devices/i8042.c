/* i8042.c — the PC keyboard controller: enough for a guest to find it, talk
 * to a keyboard that answers its set-up commands, and reset the machine
 * through it (the usual way PC guests reboot). No interrupts are raised. */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define I8042_STATUS_OBF      0x01 /* output buffer full: a byte waits at port 0x60 */
#define I8042_STATUS_SYS      0x04 /* copy of command byte bit 2 */
#define I8042_STATUS_CMD      0x08 /* last write went to port 0x64 */
#define I8042_STATUS_UNLOCKED 0x10 /* keyboard not inhibited by the key lock */
#define I8042_STATUS_AUXDATA  0x20 /* the waiting byte is from the aux (mouse) port */

#define I8042_CTR_SYS     0x04
#define I8042_CTR_KBDDIS  0x10
#define I8042_CTR_AUXDIS  0x20
#define I8042_CTR_XLATE   0x40
/* What firmware leaves behind: keyboard interrupt on, system flag, aux
 * disabled, scancode translation on. */
#define I8042_CTR_DEFAULT (0x01 | I8042_CTR_SYS | I8042_CTR_AUXDIS | I8042_CTR_XLATE)

#define I8042_OUT_RESET   0x01 /* active low: 0 holds the CPU in reset */
#define I8042_OUT_A20     0x02
#define I8042_OUT_DEFAULT (I8042_OUT_RESET | I8042_OUT_A20)

#define I8042_KBD_ACK    0xfa
#define I8042_KBD_RESEND 0xfe
#define I8042_KBD_BAT_OK 0xaa

#define I8042_QUEUE_SIZE 16
#define I8042_QUEUE_AUX  0x100 /* queue entry flag: byte came from the aux port */
#define I8042_RAM_SIZE   32    /* controller RAM; byte 0 is the command byte */

struct i8042 {
	pthread_mutex_t lock;
	struct bus *pio;
	void (*reset)(void *opaque);
	void *opaque;

	uint8_t ram[I8042_RAM_SIZE];
	uint8_t outport;
	bool last_write_cmd;
	uint8_t await_cmd; /* controller command waiting for its data byte; 0 = none */
	uint8_t await_kbd; /* keyboard command waiting for its parameter; 0 = none */
	uint8_t last_read; /* re-read when the buffer is empty, as on hardware */

	uint16_t queue[I8042_QUEUE_SIZE];
	unsigned head, count;
};

/* A full queue drops: a guest that never reads must not grow our memory. */
static void i8042_push(struct i8042 *k, uint16_t entry)
{
	if (k->count == I8042_QUEUE_SIZE)
		return;
	k->queue[(k->head + k->count) % I8042_QUEUE_SIZE] = entry;
	k->count++;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = I8042_STATUS_UNLOCKED;
	if (k->count) {
		s |= I8042_STATUS_OBF;
		if (k->queue[k->head] & I8042_QUEUE_AUX)
			s |= I8042_STATUS_AUXDATA;
	}
	if (k->ram[0] & I8042_CTR_SYS)
		s |= I8042_STATUS_SYS;
	if (k->last_write_cmd)
		s |= I8042_STATUS_CMD;
	return s;
}

static uint8_t i8042_read_data(struct i8042 *k)
{
	if (k->count) {
		k->last_read = (uint8_t)k->queue[k->head];
		k->head = (k->head + 1) % I8042_QUEUE_SIZE;
		k->count--;
	}
	return k->last_read;
}

/* Returns true when the command pulses the reset line. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	/* A new command abandons one still waiting for its data byte. */
	k->await_cmd = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) { /* read controller RAM */
		i8042_push(k, k->ram[cmd & (I8042_RAM_SIZE - 1)]);
		return false;
	}
	if (cmd >= 0x60 && cmd <= 0x7f) { /* write controller RAM: data follows */
		k->await_cmd = cmd;
		return false;
	}
	/* 0xf0-0xff pulse output lines 0-3 low for each clear bit; line 0 is reset. */
	if (cmd >= 0xf0)
		return !(cmd & 0x01);
	switch (cmd) {
	case 0xa7:
		k->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case 0xa8:
		k->ram[0] &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: 0 = no fault */
	case 0xab: /* keyboard interface test */
		i8042_push(k, 0x00);
		break;
	case 0xaa: /* controller self-test */
		i8042_push(k, 0x55);
		break;
	case 0xad:
		k->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case 0xae:
		k->ram[0] &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case 0xd0: /* read output port */
		i8042_push(k, k->outport);
		break;
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer */
	case 0xd4: /* write to aux device */
		k->await_cmd = cmd;
		break;
	default: /* unknown commands are ignored, as by most controllers */
		break;
	}
	return false;
}

/* The keyboard behind the controller: acknowledges its set-up commands. */
static void i8042_keyboard(struct i8042 *k, uint8_t byte)
{
	if (k->await_kbd) {
		k->await_kbd = 0;
		i8042_push(k, I8042_KBD_ACK);
		return;
	}
	switch (byte) {
	case 0xff: /* reset: acknowledge, then the self-test passed */
		i8042_push(k, I8042_KBD_ACK);
		i8042_push(k, I8042_KBD_BAT_OK);
		break;
	case 0xf2: /* identify: an MF2 keyboard, as the controller translates it */
		i8042_push(k, I8042_KBD_ACK);
		i8042_push(k, 0xab);
		i8042_push(k, k->ram[0] & I8042_CTR_XLATE ? 0x41 : 0x83);
		break;
	case 0xee: /* echo */
		i8042_push(k, 0xee);
		break;
	case 0xed: /* set LEDs */
	case 0xf0: /* scancode set */
	case 0xf3: /* typematic rate */
		k->await_kbd = byte;
		i8042_push(k, I8042_KBD_ACK);
		break;
	default:
		i8042_push(k, byte >= 0xf4 ? I8042_KBD_ACK : I8042_KBD_RESEND);
		break;
	}
}

/* Returns true when the byte drives the reset line low. */
static bool i8042_write_data(struct i8042 *k, uint8_t byte)
{
	uint8_t cmd = k->await_cmd;
	k->await_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd & (I8042_RAM_SIZE - 1)] = byte;
		return false;
	}
	switch (cmd) {
	case 0xd1:
		k->outport = byte;
		return !(byte & I8042_OUT_RESET);
	case 0xd2:
		i8042_push(k, byte);
		break;
	case 0xd3:
		i8042_push(k, byte | I8042_QUEUE_AUX);
		break;
	case 0xd4:
		break; /* no mouse on the aux port */
	default:
		i8042_keyboard(k, byte);
		break;
	}
	return false;
}

/* Both ports are one byte wide; the bus turns away wider accesses, but any
 * extra byte would still read as an empty bus. */
static void i8042_data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct i8042 *k = opaque;
	(void)offset;
	pthread_mutex_lock(&k->lock);
	data[0] = i8042_read_data(k);
	pthread_mutex_unlock(&k->lock);
	for (uint32_t i = 1; i < size; i++)
		data[i] = 0xff;
}

static void i8042_cmd_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t size)
{
	struct i8042 *k = opaque;
	(void)offset;
	pthread_mutex_lock(&k->lock);
	data[0] = i8042_status(k);
	pthread_mutex_unlock(&k->lock);
	for (uint32_t i = 1; i < size; i++)
		data[i] = 0xff;
}

/* The reset callback runs outside the lock: it stops the VM, and it may
 * tear devices down. */
static void i8042_data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct i8042 *k = opaque;
	(void)offset;
	(void)size;
	pthread_mutex_lock(&k->lock);
	k->last_write_cmd = false;
	bool reset = i8042_write_data(k, data[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->opaque);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t size)
{
	struct i8042 *k = opaque;
	(void)offset;
	(void)size;
	pthread_mutex_lock(&k->lock);
	k->last_write_cmd = true;
	bool reset = i8042_command(k, data[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->opaque);
}

static const struct bus_ops i8042_data_ops = {
    .read = i8042_data_read,
    .write = i8042_data_write,
};

static const struct bus_ops i8042_cmd_ops = {
    .read = i8042_cmd_read,
    .write = i8042_cmd_write,
};

struct i8042 *i8042_create(struct bus *pio, void (*reset)(void *opaque), void *opaque)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->pio = pio;
	k->reset = reset;
	k->opaque = opaque;
	k->ram[0] = I8042_CTR_DEFAULT;
	k->outport = I8042_OUT_DEFAULT;
	int err = bus_register(pio, I8042_PORT_DATA, 1, &i8042_data_ops, k, "i8042 data");
	if (!err) {
		err = bus_register(pio, I8042_PORT_CMD, 1, &i8042_cmd_ops, k, "i8042 command");
		if (err)
			bus_unregister(pio, I8042_PORT_DATA);
	}
	if (err) {
		pthread_mutex_destroy(&k->lock);
		free(k);
		errno = -err;
		return NULL;
	}
	return k;
}

void i8042_destroy(struct i8042 *kbc)
{
	if (!kbc)
		return;
	bus_unregister(kbc->pio, I8042_PORT_DATA);
	bus_unregister(kbc->pio, I8042_PORT_CMD);
	pthread_mutex_destroy(&kbc->lock);
	free(kbc);
}

void i8042_save(struct i8042 *kbc, struct snap_buf *out)
{
	pthread_mutex_lock(&kbc->lock);
	snap_put_bytes(out, kbc->ram, sizeof(kbc->ram));
	const uint8_t regs[] = {kbc->outport,   kbc->last_write_cmd, kbc->await_cmd,     kbc->await_kbd,
				kbc->last_read, (uint8_t)kbc->head,  (uint8_t)kbc->count};
	snap_put_bytes(out, regs, sizeof(regs));
	for (unsigned i = 0; i < I8042_QUEUE_SIZE; i++)
		snap_put_u16(out, kbc->queue[i]);
	pthread_mutex_unlock(&kbc->lock);
}

int i8042_load(struct i8042 *kbc, struct snap_cursor *in)
{
	uint8_t ram[I8042_RAM_SIZE], regs[7];
	uint16_t queue[I8042_QUEUE_SIZE];
	snap_get_bytes(in, ram, sizeof(ram));
	snap_get_bytes(in, regs, sizeof(regs));
	bool entries_ok = true;
	for (unsigned i = 0; i < I8042_QUEUE_SIZE; i++) {
		queue[i] = snap_get_u16(in);
		entries_ok &= !(queue[i] & ~(I8042_QUEUE_AUX | 0xff));
	}
	if (!snap_cursor_done(in) || !entries_ok || regs[1] > 1 || regs[5] >= I8042_QUEUE_SIZE ||
	    regs[6] > I8042_QUEUE_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&kbc->lock);
	memcpy(kbc->ram, ram, sizeof(ram));
	kbc->outport = regs[0];
	kbc->last_write_cmd = regs[1];
	kbc->await_cmd = regs[2];
	kbc->await_kbd = regs[3];
	kbc->last_read = regs[4];
	kbc->head = regs[5];
	kbc->count = regs[6];
	memcpy(kbc->queue, queue, sizeof(queue));
	pthread_mutex_unlock(&kbc->lock);
	return 0;
}
