/* template.h — a pool's template for instant clones: a desktop booted once
 * and snapshotted when its screen is up. Private to pools/. */
#ifndef VDI_POOLS_TEMPLATE_H
#define VDI_POOLS_TEMPLATE_H

#include "pools.h"

/* Boots `spec`'s desktop (a VMM named template-POOL in run_dir), waits until
 * the guest shows a screen and has settled, snapshots it into `dir` and
 * powers it off. Blocks for seconds: call it on a thread of its own. 0 or a
 * negative errno (logged). */
int pool_template_prepare(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *dir);

#endif
