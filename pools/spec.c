/* spec.c — pool specifications: defaults and the checks every spec passes
 * before a desktop starts from it, whichever way it came (config file, API,
 * the state store). */
#include "pools.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void pool_spec_defaults(struct pool_spec *spec, const char *name)
{
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->name, sizeof(spec->name), "%s", name ? name : "");
	spec->template = POOL_TEMPLATE_DESKTOP;
	spec->vcpus = 1;
	spec->memory_mib = 256;
	spec->width = 1024;
	spec->height = 768;
	spec->size = 2;
	spec->assignment = POOL_FLOATING;
	spec->on_logoff = POOL_LOGOFF_KEEP;
	snprintf(spec->entitlement, sizeof(spec->entitlement), "*");
	spec->disconnect_timeout_s = 3600;
	spec->spare = spec->size;
	spec->on_disconnect_after_s = 600;
	spec->serial = POOL_SERIAL_OFF;
	spec->serial_max = POOL_SERIAL_MAX_DEF;
}

bool pool_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || n > POOL_NAME_MAX || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool desktop_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || n > DESKTOP_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

int pool_spec_check(const struct pool_spec *spec, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!pool_name_valid(spec->name))
		why = "a pool name is 1 to 32 letters, digits, '_' or '-', not starting with '-'";
	else if (spec->vcpus < 1 || spec->vcpus > 64)
		why = "vcpus must be from 1 to 64";
	else if (spec->memory_mib < 16 || spec->memory_mib > 65536)
		why = "memory must be from 16 MiB to 64 GiB";
	else if (spec->width < 64 || spec->height < 64 || spec->width > 8192 || spec->height > 8192 ||
		 (uint64_t)spec->width * spec->height > 8192ull * 4096)
		why = "display must be from 64x64 to 8192x8192 and at most 8192x4096 pixels";
	else if (spec->size < 1 || spec->size > 1000)
		why = "size must be from 1 to 1000 desktops";
	else if (spec->spare > spec->size || spec->min > spec->size)
		why = "min and spare must be at most the pool's size";
	else if (spec->nwindows > POWER_WINDOWS_MAX)
		why = "too many schedule windows";
	else if (spec->serial_max < POOL_SERIAL_MAX_MIN || spec->serial_max > POOL_SERIAL_MAX_MAX)
		why = "serial_max must be from 4 KiB to 1 GiB";
	else if (spec->template == POOL_TEMPLATE_LINUX && !spec->kernel[0])
		why = "a linux template needs a kernel";
	else if (spec->template == POOL_TEMPLATE_DESKTOP && (spec->kernel[0] || spec->initrd[0] || spec->disk[0]))
		why = "the desktop template takes no kernel, initrd or disk";
	if (!why)
		return 0;
	snprintf(err, errlen, "pool '%s': %s", spec->name, why);
	return -EINVAL;
}

const char *desktop_state_name(enum desktop_state state)
{
	static const char *const names[] = {"provisioning", "stopped", "starting", "running",
					    "stopping",     "failed",  "suspended"};
	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
