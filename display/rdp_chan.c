/* rdp_chan.c — vdi's private channel over RDP: a dynamic virtual channel
 * on the peer's channel manager, carrying chan.c's messages both ways on the
 * peer's own thread. */
#include "rdp_chan.h"
#include "chan.h"
#include "conn.h"

#include "../common/channel.h"
#include "../common/log.h"

#include <stdlib.h>

#include <freerdp/channels/wtsvc.h>
#include <winpr/synch.h>
#include <winpr/wtsapi.h>

#define RDP_CHAN_READ 65536

struct rdp_chan {
	HANDLE vcm;
	struct display_conn *conn;
	struct display_chan *chan;
	HANDLE wake;    /* the queue's eventfd */
	HANDLE channel; /* the dynamic channel, once asked for */
	bool asked, ready, failed;
	uint8_t *buf;
};

struct rdp_chan *rdp_chan_new(HANDLE vcm, struct display_conn *conn)
{
	struct rdp_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->vcm = vcm;
	ch->conn = conn;
	ch->chan = display_conn_chan(conn);
	ch->buf = malloc(RDP_CHAN_READ);
	ch->wake = CreateFileDescriptorEvent(NULL, FALSE, FALSE, display_chan_wake_fd(ch->chan), WINPR_FD_READ);
	if (!ch->buf || !ch->wake) {
		rdp_chan_free(ch);
		return NULL;
	}
	return ch;
}

void rdp_chan_free(struct rdp_chan *ch)
{
	if (!ch)
		return;
	if (ch->channel)
		WTSVirtualChannelClose(ch->channel);
	if (ch->wake)
		CloseHandle(ch->wake);
	free(ch->buf);
	free(ch);
}

DWORD rdp_chan_handles(struct rdp_chan *ch, HANDLE *handles)
{
	/* Only once open: before, messages wait in the queue without waking anyone. */
	if (!ch->ready || ch->failed)
		return 0;
	handles[0] = ch->wake;
	return 1;
}

static void rdp_chan_open(struct rdp_chan *ch)
{
	if (!ch->asked) {
		if (!WTSVirtualChannelManagerIsChannelJoined(ch->vcm, "drdynvc") ||
		    WTSVirtualChannelManagerGetDrdynvcState(ch->vcm) != DRDYNVC_STATE_READY)
			return;
		ch->asked = true;
		DWORD *session = NULL, bytes = 0;
		DWORD id = 0;
		if (WTSQuerySessionInformationA(ch->vcm, WTS_CURRENT_SESSION, WTSSessionId, (LPSTR *)&session,
						&bytes) &&
		    session) {
			id = *session;
			WTSFreeMemory(session);
		}
		ch->channel = WTSVirtualChannelOpenEx(id, CHANNEL_DVC_NAME, WTS_CHANNEL_OPTION_DYNAMIC);
		if (!ch->channel) {
			ch->failed = true;
			log_debug("rdp: cannot ask for the private channel");
		}
		return;
	}
	/* The client answers the create request: yes (vdi-client) or no (stock clients). */
	void *buffer = NULL;
	DWORD bytes = 0;
	if (!WTSVirtualChannelQuery(ch->channel, WTSVirtualChannelReady, &buffer, &bytes) || !buffer) {
		ch->failed = true;
		log_debug("rdp: %s has no private channel", display_conn_address(ch->conn));
		return;
	}
	ch->ready = *(BOOL *)buffer;
	WTSFreeMemory(buffer);
	if (ch->ready)
		display_chan_opened(ch->chan, "rdp");
}

void rdp_chan_flush(struct rdp_chan *ch)
{
	if (!ch->ready || ch->failed)
		return;
	size_t len;
	uint8_t *msg;
	bool any = false;
	while ((msg = display_chan_take(ch->chan, &len))) {
		ULONG written = 0;
		if (!WTSVirtualChannelWrite(ch->channel, (PCHAR)msg, (ULONG)len, &written)) {
			log_warn("rdp: %s: cannot write to the private channel; closing it",
				 display_conn_address(ch->conn));
			ch->failed = true;
		}
		free(msg);
		any = true;
		if (ch->failed)
			break;
	}
	/* Dynamic channel writes wait in the manager's queue until it runs. */
	if (any)
		WTSVirtualChannelManagerCheckFileDescriptor(ch->vcm);
}

void rdp_chan_check(struct rdp_chan *ch)
{
	if (ch->failed)
		return;
	if (!ch->ready) {
		rdp_chan_open(ch);
		if (!ch->ready)
			return;
	}
	ULONG got = 0;
	while (!ch->failed && WTSVirtualChannelRead(ch->channel, 0, (PCHAR)ch->buf, RDP_CHAN_READ, &got) && got) {
		if (display_chan_input(ch->chan, ch->buf, got) < 0)
			ch->failed = true;
		got = 0;
	}
	display_conn_chan_tick(ch->conn);
	rdp_chan_flush(ch);
}
