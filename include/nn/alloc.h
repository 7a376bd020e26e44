/* nn/alloc.h - the allocator nn uses for everything it allocates.
 *
 * By default nn calls malloc/calloc/free. An application (or a test counting
 * allocations, or one injecting failures) can install its own functions. This is
 * a process-wide setting: install it before creating any nn object and do not
 * change it while objects exist, since memory is freed with the allocator that is
 * current at the time of the free.
 */
#ifndef NN_ALLOC_H
#define NN_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_allocator {
    /* Returns size bytes aligned for any type, or NULL on failure. Never called with 0. */
    void *(*alloc)(size_t size, void *ctx);
    /* Releases a block returned by alloc. Never called with NULL. */
    void (*free)(void *ptr, void *ctx);
    void *ctx; /* passed through unchanged */
} nn_allocator;

/* Installs allocator (copied). NULL restores malloc/free. */
void nn_set_allocator(const nn_allocator *allocator);

#ifdef __cplusplus
}
#endif

#endif /* NN_ALLOC_H */
