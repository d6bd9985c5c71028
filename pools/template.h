/* template.h — a pool's template for instant clones: a desktop booted once
 * and snapshotted when its screen is up. Private to pools/. */
#ifndef VDI_POOLS_TEMPLATE_H
#define VDI_POOLS_TEMPLATE_H

#include "pools.h"

#include <sys/types.h>

/* What a template is made from: the settings that shape its VM and the
 * files it boots (the VMM itself for the in-tree desktop, whose guest it
 * carries). A template whose source changed is made again. */
struct template_source {
	enum pool_template template;
	char kernel[POOL_PATH_MAX], initrd[POOL_PATH_MAX], disk[POOL_PATH_MAX];
	char cmdline[POOL_CMDLINE_MAX];
	unsigned vcpus, memory_mib;
	uint32_t width, height;
	struct template_file {
		dev_t dev;
		ino_t ino;
		off_t size;
		int64_t mtime_ns;
	} files[3];
};
/* Fills `out` (every byte, so sources compare with memcmp). */
void pool_template_source(const char *vmm_path, const struct pool_spec *spec, struct template_source *out);

/* Boots `spec`'s desktop (a VMM named template-POOL in run_dir), waits until
 * the guest shows a screen (then sets *booted) and has settled, snapshots it
 * into `dir` and powers it off. Blocks for seconds: call it on a thread of
 * its own. 0 or a negative errno (logged). */
int pool_template_prepare(const char *vmm_path, const char *run_dir, const struct pool_spec *spec, const char *dir,
			  int *booted);

#endif
