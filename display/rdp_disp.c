/* rdp_disp.c — the display control channel for one RDP client: a resized
 * client window (its primary monitor) asks the surface shown for that size. */
#include "rdp_disp.h"
#include "conn.h"

#include "../common/log.h"

#include <stdlib.h>

#include <freerdp/channels/wtsvc.h>
#include <freerdp/server/disp.h>

struct rdp_disp {
	DispServerContext *ctx;
	HANDLE vcm;
	struct display_conn *conn;
	bool opened;
};

/* disp's own thread: the layout is the client's, so its sizes are checked
 * against the protocol's bounds before the surface sees them. */
static UINT rdp_disp_on_layout(DispServerContext *ctx, const DISPLAY_CONTROL_MONITOR_LAYOUT_PDU *pdu)
{
	struct rdp_disp *d = ctx->custom;
	const DISPLAY_CONTROL_MONITOR_LAYOUT *m = NULL;
	for (UINT32 i = 0; i < pdu->NumMonitors; i++) {
		if (!m || (pdu->Monitors[i].Flags & DISPLAY_CONTROL_MONITOR_PRIMARY))
			m = &pdu->Monitors[i];
	}
	if (!m || m->Width < DISPLAY_CONTROL_MIN_MONITOR_WIDTH || m->Width > DISPLAY_CONTROL_MAX_MONITOR_WIDTH ||
	    m->Height < DISPLAY_CONTROL_MIN_MONITOR_HEIGHT || m->Height > DISPLAY_CONTROL_MAX_MONITOR_HEIGHT) {
		log_warn("rdp: ignoring a monitor layout without a usable primary monitor");
		return CHANNEL_RC_OK;
	}
	log_info("rdp: the client's monitor is now %ux%u", m->Width, m->Height);
	display_conn_request_size(d->conn, m->Width, m->Height);
	return CHANNEL_RC_OK;
}

struct rdp_disp *rdp_disp_new(freerdp_peer *client, HANDLE vcm, struct display_conn *conn)
{
	struct rdp_disp *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->vcm = vcm;
	d->conn = conn;
	d->ctx = disp_server_context_new(vcm);
	if (!d->ctx) {
		free(d);
		return NULL;
	}
	d->ctx->custom = d;
	d->ctx->rdpcontext = client->context;
	/* One monitor, as large as the protocol allows. */
	d->ctx->MaxNumMonitors = 1;
	d->ctx->MaxMonitorAreaFactorA = DISPLAY_CONTROL_MAX_MONITOR_WIDTH;
	d->ctx->MaxMonitorAreaFactorB = DISPLAY_CONTROL_MAX_MONITOR_HEIGHT;
	d->ctx->DispMonitorLayout = rdp_disp_on_layout;
	return d;
}

void rdp_disp_free(struct rdp_disp *d)
{
	if (!d)
		return;
	if (d->opened)
		d->ctx->Close(d->ctx);
	disp_server_context_free(d->ctx);
	free(d);
}

void rdp_disp_check(struct rdp_disp *d)
{
	if (d->opened || !WTSVirtualChannelManagerIsChannelJoined(d->vcm, "drdynvc") ||
	    WTSVirtualChannelManagerGetDrdynvcState(d->vcm) != DRDYNVC_STATE_READY)
		return;
	d->opened = true;
	if (d->ctx->Open(d->ctx) != CHANNEL_RC_OK || d->ctx->DisplayControlCaps(d->ctx) != CHANNEL_RC_OK) {
		log_debug("rdp: the client has no display control channel");
		return;
	}
	log_debug("rdp: display control channel opened");
}
