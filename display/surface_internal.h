/* surface_internal.h — what display/ files other than surface.c need of a
 * surface: pixels owned by someone else (a VMM's read-only mapping) and a
 * hook that tears that owner down with the surface. Not part of display.h. */
#ifndef VDI_DISPLAY_SURFACE_INTERNAL_H
#define VDI_DISPLAY_SURFACE_INTERNAL_H

#include "display.h"

/* A 0x0 surface whose pixels come from surface_set_external(). */
struct surface *surface_create_external(void);
/* Points the surface at `pixels` (width x height, stride bytes a row; NULL
 * and 0x0 for none) and gives every viewer the whole new frame. Once this
 * returns no viewer reads the previous pixels any more, so the caller may
 * unmap them. */
void surface_set_external(struct surface *s, const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride);
/* Called first by surface_destroy(), while the surface is still whole. */
void surface_set_owner(struct surface *s, void (*destroy)(void *opaque), void *opaque);

#endif
