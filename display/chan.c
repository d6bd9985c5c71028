/* chan.c — the server's end of vdi's private channel for one connection: a queue of messages for the client,
 * the client's hello, and the schedule of reconnect tickets (chan.h). */
#include "chan.h"

#include "../common/channel.h"
#include "../common/fd.h"
#include "../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define CHAN_QUEUE_MAX (4 * 1024 * 1024) /* bytes waiting for a client that does not read: then it is dropped */

struct chan_item {
	struct chan_item *next;
	size_t len;
	uint8_t data[];
};

struct display_chan {
	pthread_mutex_t lock;
	pthread_cond_t taken;
	unsigned refs;
	char address[64];
	int wake_fd; /* an eventfd, written when the queue or state changes; read when drained */
	struct chan_item *head, **tail;
	size_t queued;
	bool open, ended, bye_sent, hello_seen, wants_session;
	int64_t ticket_at; /* CLOCK_MONOTONIC ms when a ticket is due; 0: not scheduled */
	struct channel_reader reader;
};

static int64_t chan_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct display_chan *display_chan_new(const char *address)
{
	struct display_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->wake_fd = fd_move_high(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (ch->wake_fd < 0) {
		free(ch);
		return NULL;
	}
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->taken, NULL);
	ch->refs = 1;
	ch->tail = &ch->head;
	snprintf(ch->address, sizeof(ch->address), "%s", address ? address : "");
	return ch;
}

struct display_chan *display_chan_ref(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->refs++;
	pthread_mutex_unlock(&ch->lock);
	return ch;
}

void display_chan_unref(struct display_chan *ch)
{
	if (!ch)
		return;
	pthread_mutex_lock(&ch->lock);
	bool last = --ch->refs == 0;
	pthread_mutex_unlock(&ch->lock);
	if (!last)
		return;
	for (struct chan_item *it = ch->head, *next; it; it = next) {
		next = it->next;
		free(it);
	}
	channel_reader_free(&ch->reader);
	close(ch->wake_fd);
	pthread_cond_destroy(&ch->taken);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
}

static void chan_wake(struct display_chan *ch)
{
	uint64_t one = 1;
	ssize_t n = write(ch->wake_fd, &one, sizeof(one));
	(void)n; /* only a full counter fails, and then it is readable anyway */
}

/* Under the lock: a message to send. */
static void chan_queue(struct display_chan *ch, const uint8_t *data, int len)
{
	if (len <= 0 || ch->ended)
		return;
	if (ch->queued + (size_t)len > CHAN_QUEUE_MAX) {
		log_warn("display: %s: the channel's client does not read; a message is dropped", ch->address);
		return;
	}
	struct chan_item *it = malloc(sizeof(*it) + (size_t)len);
	if (!it)
		return;
	it->next = NULL;
	it->len = (size_t)len;
	memcpy(it->data, data, (size_t)len);
	*ch->tail = it;
	ch->tail = &it->next;
	ch->queued += (size_t)len;
	chan_wake(ch);
}

void display_chan_opened(struct display_chan *ch, const char *transport)
{
	uint8_t msg[64];
	int n = channel_encode_hello(msg, sizeof(msg), CHANNEL_CAP_SESSION | CHANNEL_CAP_BYE, "vdi-server");
	pthread_mutex_lock(&ch->lock);
	ch->open = true;
	chan_queue(ch, msg, n);
	pthread_mutex_unlock(&ch->lock);
	log_info("display: %s: private channel open over %s", ch->address, transport);
}

bool display_chan_is_open(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	bool open = ch->open && !ch->ended;
	pthread_mutex_unlock(&ch->lock);
	return open;
}

int display_chan_input(struct display_chan *ch, const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&ch->lock);
	int rc = channel_reader_feed(&ch->reader, data, len);
	struct channel_msg m;
	while (rc == 0 && (rc = channel_reader_next(&ch->reader, &m)) == 1) {
		rc = 0;
		if (m.type == CHANNEL_HELLO && !ch->hello_seen) {
			ch->hello_seen = true;
			ch->wants_session = m.u.hello.caps & CHANNEL_CAP_SESSION;
			if (ch->wants_session)
				ch->ticket_at = chan_now_ms();
			log_info("display: %s: the channel's client is '%.*s', protocol version %u, capabilities 0x%x",
				 ch->address, (int)m.u.hello.name.len, m.u.hello.name.s, m.u.hello.version,
				 m.u.hello.caps);
		}
		/* USB and audio (reserved ranges) have no consumer yet: passed over. */
	}
	pthread_mutex_unlock(&ch->lock);
	if (rc < 0)
		log_warn("display: %s: a malformed message on the private channel (%s); closing it", ch->address,
			 strerror(-rc));
	return rc < 0 ? rc : 0;
}

uint8_t *display_chan_take(struct display_chan *ch, size_t *len)
{
	pthread_mutex_lock(&ch->lock);
	struct chan_item *it = ch->head;
	if (it) {
		ch->head = it->next;
		if (!ch->head)
			ch->tail = &ch->head;
		ch->queued -= it->len;
	}
	if (!ch->head && !ch->ended) {
		uint64_t count;
		ssize_t n = read(ch->wake_fd, &count, sizeof(count));
		(void)n;
	}
	pthread_cond_broadcast(&ch->taken);
	pthread_mutex_unlock(&ch->lock);
	if (!it)
		return NULL;
	*len = it->len;
	/* The item's bytes move to its start so the caller frees one pointer. */
	memmove(it, it->data, it->len);
	return (uint8_t *)it;
}

int display_chan_wake_fd(struct display_chan *ch)
{
	return ch->wake_fd;
}

void display_chan_end(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->ended = true;
	chan_wake(ch);
	pthread_cond_broadcast(&ch->taken);
	pthread_mutex_unlock(&ch->lock);
}

bool display_chan_ended(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	bool ended = ch->ended;
	pthread_mutex_unlock(&ch->lock);
	return ended;
}

void display_chan_closed(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->open = false;
	for (struct chan_item *it = ch->head, *next; it; it = next) {
		next = it->next;
		free(it);
	}
	ch->head = NULL;
	ch->tail = &ch->head;
	ch->queued = 0;
	pthread_cond_broadcast(&ch->taken);
	pthread_mutex_unlock(&ch->lock);
}

void display_chan_drain(struct display_chan *ch, int wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ch->lock);
	while (wait_ms > 0 && ch->open && ch->head && !ch->ended)
		if (pthread_cond_timedwait(&ch->taken, &ch->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&ch->lock);
}

void display_chan_bye(struct display_chan *ch, uint32_t reason, const char *text)
{
	uint8_t msg[CHANNEL_HEADER + 8 + CHANNEL_TEXT_MAX];
	char cut[CHANNEL_TEXT_MAX + 1];
	snprintf(cut, sizeof(cut), "%s", text ? text : "");
	int n = channel_encode_bye(msg, sizeof(msg), reason, cut);
	pthread_mutex_lock(&ch->lock);
	if (!ch->open || ch->bye_sent) {
		pthread_mutex_unlock(&ch->lock);
		return;
	}
	ch->bye_sent = true;
	chan_queue(ch, msg, n);
	pthread_mutex_unlock(&ch->lock);
	log_info("display: %s: telling the client why it is disconnected: %s (%s)", ch->address,
		 channel_bye_name(reason), cut);
}

bool display_chan_ticket_due(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	bool due = ch->open && !ch->ended && ch->wants_session && ch->ticket_at && chan_now_ms() >= ch->ticket_at;
	if (due)
		ch->ticket_at = 0; /* until display_chan_session() or display_chan_ticket_soon() */
	pthread_mutex_unlock(&ch->lock);
	return due;
}

void display_chan_ticket_soon(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	if (ch->wants_session)
		ch->ticket_at = chan_now_ms();
	pthread_mutex_unlock(&ch->lock);
}

void display_chan_session(struct display_chan *ch, uint32_t ttl_s, const char *ticket, const char *user,
			  const char *pool)
{
	uint8_t msg[CHANNEL_HEADER + 4 + 3 * (1 + CHANNEL_TEXT_MAX)];
	int n = channel_encode_session(msg, sizeof(msg), ttl_s, ticket, user, pool);
	pthread_mutex_lock(&ch->lock);
	chan_queue(ch, msg, n);
	/* The next one well before this one expires. */
	ch->ticket_at = chan_now_ms() + (int64_t)ttl_s * 1000 / 2;
	pthread_mutex_unlock(&ch->lock);
	explicit_bzero(msg, sizeof(msg));
}

int display_chan_due_ms(struct display_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	int64_t at = ch->open && !ch->ended && ch->wants_session ? ch->ticket_at : 0;
	pthread_mutex_unlock(&ch->lock);
	if (!at)
		return -1;
	int64_t left = at - chan_now_ms();
	return left < 0 ? 0 : left > 600000 ? 600000 : (int)left;
}
