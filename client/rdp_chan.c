/* rdp_chan.c — the client side of vdi's private channel over RDP: a dynamic virtual channel plugin, built in and
 * handed to FreeRDP's drdynvc through an addin provider in front of FreeRDP's own static table. Its callbacks
 * run on drdynvc's thread and feed the session's client_chan. One RDP session at a time uses it. */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#include <freerdp/addin.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/dvc.h>
#include <freerdp/settings.h>
#include <winpr/stream.h>

#define RDP_CHAN_ADDIN "vdi"

static struct client_chan *active; /* the session's, set before connecting */

struct chan_callback {
	IWTSVirtualChannelCallback iface;
	IWTSVirtualChannel *channel;
};

struct chan_listener {
	IWTSListenerCallback iface;
};

struct chan_plugin {
	IWTSPlugin iface;
	struct chan_listener listener;
};

static UINT chan_on_data(IWTSVirtualChannelCallback *cb, wStream *s)
{
	struct chan_callback *c = (struct chan_callback *)cb;
	if (active && client_chan_input(active, Stream_Pointer(s), Stream_GetRemainingLength(s)) < 0)
		c->channel->Close(c->channel);
	return CHANNEL_RC_OK;
}

static UINT chan_on_open(IWTSVirtualChannelCallback *cb)
{
	struct chan_callback *c = (struct chan_callback *)cb;
	uint8_t hello[64];
	int n = client_chan_hello(hello, sizeof(hello));
	if (n > 0)
		return c->channel->Write(c->channel, (ULONG)n, hello, NULL);
	return CHANNEL_RC_OK;
}

static UINT chan_on_close(IWTSVirtualChannelCallback *cb)
{
	free(cb);
	return CHANNEL_RC_OK;
}

static UINT chan_on_new(IWTSListenerCallback *listener, IWTSVirtualChannel *channel, BYTE *data, BOOL *accept,
			IWTSVirtualChannelCallback **out)
{
	(void)listener, (void)data;
	struct chan_callback *c = calloc(1, sizeof(*c));
	if (!c)
		return CHANNEL_RC_NO_MEMORY;
	c->iface.OnDataReceived = chan_on_data;
	c->iface.OnOpen = chan_on_open;
	c->iface.OnClose = chan_on_close;
	c->channel = channel;
	*accept = TRUE;
	*out = &c->iface;
	return CHANNEL_RC_OK;
}

static UINT chan_initialize(IWTSPlugin *plugin, IWTSVirtualChannelManager *mgr)
{
	struct chan_plugin *p = (struct chan_plugin *)plugin;
	p->listener.iface.OnNewChannelConnection = chan_on_new;
	return mgr->CreateListener(mgr, CHANNEL_DVC_NAME, 0, &p->listener.iface, NULL);
}

static UINT chan_terminated(IWTSPlugin *plugin)
{
	free(plugin);
	return CHANNEL_RC_OK;
}

static UINT chan_plugin_entry(IDRDYNVC_ENTRY_POINTS *ep)
{
	if (ep->GetPlugin(ep, RDP_CHAN_ADDIN))
		return CHANNEL_RC_OK;
	struct chan_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return CHANNEL_RC_NO_MEMORY;
	p->iface.Initialize = chan_initialize;
	p->iface.Terminated = chan_terminated;
	UINT rc = ep->RegisterPlugin(ep, RDP_CHAN_ADDIN, &p->iface);
	if (rc != CHANNEL_RC_OK)
		free(p);
	return rc;
}

/* Ours by name; everything else from FreeRDP's built-in table. */
static PVIRTUALCHANNELENTRY chan_provider(LPCSTR name, LPCSTR subsystem, LPCSTR type, DWORD flags)
{
	if (name && !strcmp(name, RDP_CHAN_ADDIN) && (flags & FREERDP_ADDIN_CHANNEL_DYNAMIC))
		return (PVIRTUALCHANNELENTRY)(void *)chan_plugin_entry;
	return freerdp_channels_load_static_addin_entry(name, subsystem, type, flags);
}

int rdp_chan_register(void *settings, struct client_chan *ch)
{
	active = ch;
	freerdp_register_addin_provider(chan_provider, 0);
	char *params[] = {RDP_CHAN_ADDIN};
	return freerdp_client_add_dynamic_channel(settings, 1, params) ? 0 : -1;
}
